"""The printed side of tools/bench.py: the header, the table (plain and Markdown) and the verdicts.

Every function here reads the combined results (a dict, as written to docs/bench.json) and
returns text; nothing is measured here.
"""
from __future__ import annotations

from bench_rows import BLOCK_SECONDS, CONFIGS, HANDOVER_PAUSE, describe

# Issue 21's targets.
CONFIG_RATIO_TARGET = 1.0        # eager tinygraph ≤ 1.0 × PyTorch on every config, at every thread setting
MODEL_RATIO_TARGET = 1.0         # ... and on the models and the epoch
COMPILED_TARGETS = {"T": 0.6, "D": 0.6, "smallcnn-64": 0.6, "lenet5-64": 0.9, "epoch": 0.9}   # tg.compile / PyTorch
GC_TARGET = 0.10                 # the cyclic GC's share of building the 100,000-op chain
MEMORY_RATIO_TARGET = 1.0        # peak memory ≤ 1.0 × PyTorch's, eager and compiled ...
MEMORY_TARGET_ROWS = ("C", "smallcnn-128")   # ... on these rows
ENGINE_TARGET = 0.15             # tinygraph / direct NumPy − 1 ≤ 15 % ...
ENGINE_TARGET_ROWS = ("T", "D")  # ... on these configs
CONFIG_LOSS_BAR = 1e-5           # step-0 losses agree within this, configs (hand-written steps)
MODEL_LOSS_BAR = 1e-4            # ... models and epoch (layers composed differently)
DASH = "—"


# ------------------------------------------------------------------------- the header
def describe_environment(results: dict) -> str:
    env = results["environment"]
    blas = env["blas"]
    blas_text = (f"{blas['internal_api']} {blas['version']} ({blas['architecture']}, {blas['threading_layer']})"
                 if isinstance(blas, dict) else str(blas))
    blas_env = " ".join(f"{k}={v}" for k, v in env["blas_env"].items()) or "none set"
    torch_text = f"torch {env['torch']}" if env["torch"] else "torch not installed"
    if env["torch"] and not env["torch_used"]:
        torch_text += " (not used: --no-torch)"
    malloc = "tg.keep_freed_memory() (opt-in, process-wide)" if env["keep_freed_memory"] else "glibc default"
    lines = [f"{env['date']} · {env['machine']} · {env['cpus']} CPUs · Python {env['python']} · NumPy {env['numpy']} · "
             f"tinygraph {env['tinygraph']} · {torch_text}",
             f"BLAS {blas_text} · env {blas_env} · malloc: {malloc}",
             "threads — " + " · ".join(f"{s['setting']}: {thread_counts(s['environment'])}" for s in results["settings"])]
    return "\n".join(lines)


def thread_counts(env: dict) -> str:
    blas = env["blas"]["num_threads"] if isinstance(env["blas"], dict) else "?"
    torch_threads = f", torch {env['torch_threads']}" if env["torch"] else ""
    return f"tinygraph {env['tinygraph_threads']}, BLAS {blas}{torch_threads}"


def describe_method(results: dict) -> str:
    method = results["method"]
    lines = [f"time: median per training step (forward + mean cross-entropy + backward + SGD lr 0.01), float32, same "
             f"weights and data; each framework in its own process, taking turns in blocks of at least "
             f"{method['block']} steps (and ≥ {BLOCK_SECONDS} s) with a {HANDOVER_PAUSE} s pause at each handover, after "
             f"{count(method['warmup'], 'warm-up step')}, {method['steps']} steps each",
             "engine: tinygraph / direct NumPy − 1, direct NumPy being the same op rules called by hand (no Tensors, "
             "graph or engine); configs only"]
    if compiled_used(results):
        lines.append("compiled: the tinygraph step under tg.compile (configs: its update through optim.SGD, the same "
                     "arithmetic, since a compiled step may not write .data), recorded before timing, so every timed "
                     "step is a replay; the epoch is tinygraph-train --compile's, recorded in its warm-up epoch")
    if any(row["kind"] == "epoch" for row in row_order(results)):
        lines.insert(1, f"epoch: one epoch of tinygraph-train's defaults (its own train_epoch) against the same "
                        f"PyTorch loop, median of {count(method['epochs'], 'epoch')} taken in turns after 1 warm-up epoch")
    if results["memory"]:
        lines.append(f"peak MB: a fresh process per framework and run, {method['memory_warmup']} warm-up steps, then the "
                     f"kernel's high-water mark is reset (/proc/self/clear_refs 5) and {method['memory_steps']} steps "
                     f"run; peak = VmHWM over those steps − VmRSS before the first step (data and model built), malloc "
                     f"as above; median of {count(method['memory_runs'], 'run')}")
    if "compiled" in memory_frameworks(results):
        lines.append("peak MB, compiled: the same, with the step built unrecorded, so VmRSS is taken before "
                     "tg.compile's recording call; that call is the first warm-up step and every measured step is a "
                     "replay: the peak is over replayed steps, the schedule's buffers count in it, the recording's "
                     "own peak does not")
    return "\n".join(lines)


def count(number, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


# ------------------------------------------------------------------------- the table
def format_ms(ms: float | None) -> str:
    if ms is None:
        return DASH
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}" if ms >= 1 else f"{ms:.3f}"


def row_order(results: dict) -> list[dict]:
    """The rows of the first thread setting, in the order they ran."""
    return results["settings"][0]["rows"]


def find_row(setting: dict, name: str) -> dict | None:
    return next((row for row in setting["rows"] if row["row"] == name), None)


def compiled_used(results: dict) -> bool:
    return any("compiled" in row["median_ms"] for setting in results["settings"] for row in setting["rows"])


def ratio_text(row: dict, key: str) -> str:
    return f"{row[key]:.2f}×" if key in row else DASH


def setting_cells(row: dict | None) -> list[str]:
    if row is None:
        return [DASH] * len(COLUMNS)
    ms = row["median_ms"]
    engine = f"{row['engine_overhead'] * 100:+.1f}%" if "engine_overhead" in row else DASH
    return [format_ms(ms["tinygraph"]), format_ms(ms.get("compiled")), format_ms(ms.get("numpy")),
            format_ms(ms.get("torch")), ratio_text(row, "ratio_to_torch"), ratio_text(row, "compiled_ratio_to_torch"),
            engine]


def memory_frameworks(results: dict) -> list[str]:
    """The peak-memory columns: the compiled one only where the compiled step's memory was measured."""
    compiled = any("compiled" in peaks for peaks in results["memory"].values())
    return ["tinygraph", "compiled", "torch"] if compiled else ["tinygraph", "torch"]


def memory_cells(results: dict, name: str) -> list[str]:
    peaks = results["memory"].get(name) or {}
    return [f"{peaks[f]['median_mb']:.1f}" if f in peaks else DASH for f in memory_frameworks(results)]


# Each thread setting's columns in the plain table, and their widths; then the peak-memory columns'.
COLUMNS = ["tinygraph", "compiled", "numpy", "torch", "tg/torch", "comp/torch", "engine"]
COLUMN_WIDTHS = [10, 9, 9, 9, 9, 11, 9]
MEMORY_WIDTHS = {"tinygraph": 10, "compiled": 9, "torch": 8}
MEMORY_NAMES = {"tinygraph": "tinygraph", "compiled": "compiled", "torch": "PyTorch"}   # the Markdown head


def table(results: dict) -> str:
    per_setting = sum(COLUMN_WIDTHS)
    widths = [18, 30]
    memory_columns = memory_frameworks(results)
    memory_widths = [MEMORY_WIDTHS[f] for f in memory_columns]
    settings_head = "".join(f" | {s['setting']:<{per_setting - 1}}" for s in results["settings"])
    head1 = f"{'':<{widths[0]}}{'':<{widths[1]}}{settings_head} | peak MB"
    head2 = f"{'row':<{widths[0]}}{'shape':<{widths[1]}}"
    head2 += "".join(" | " + "".join(f"{c:>{w}}" for c, w in zip(COLUMNS, COLUMN_WIDTHS)) for _ in results["settings"])
    head2 += " | " + "".join(f"{f:>{w}}" for f, w in zip(memory_columns, memory_widths))
    lines = [head1, head2, "-" * len(head2)]
    for row in row_order(results):
        text = f"{row['label']:<{widths[0]}}{row['shape']:<{widths[1]}}"
        for setting in results["settings"]:
            cells = setting_cells(find_row(setting, row["row"]))
            text += " | " + "".join(f"{c:>{w}}" for c, w in zip(cells, COLUMN_WIDTHS))
        text += " | " + "".join(f"{c:>{w}}" for c, w in zip(memory_cells(results, row["row"]), memory_widths))
        lines.append(text)
    lines.append("times in ms (the epoch row: ms per epoch); compiled: the tinygraph step under tg.compile, "
                 "comp/torch its ratio to PyTorch's (eager) step")
    return "\n".join(lines)


def ratio_target(row: dict) -> float:
    return CONFIG_RATIO_TARGET if row["kind"] == "config" else MODEL_RATIO_TARGET


def markdown(results: dict) -> str:
    """The table for README's Performance section; ratios above their target in bold."""
    first = results["settings"][0]
    compiled = compiled_used(results)
    ratio_heads = [f"tinygraph / PyTorch, {s['setting']}" for s in results["settings"]]
    if compiled:
        ratio_heads += [f"tg.compile / PyTorch, {s['setting']}" for s in results["settings"]]
    compiled_head = [f"tg.compile ({first['setting']})"] if compiled else []
    heads = ["config / model", "shape", f"tinygraph ({first['setting']})", *compiled_head,
             f"PyTorch ({first['setting']})", *ratio_heads, f"engine overhead ({first['setting']})",
             "peak MB " + " / ".join(MEMORY_NAMES[f] for f in memory_frameworks(results))]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for row in row_order(results):
        ms = row["median_ms"]
        unit = " ms/epoch" if row["kind"] == "epoch" else " ms"
        cells = [row["label"], row["shape"], format_ms(ms["tinygraph"]) + unit]
        if compiled:
            cells.append(format_ms(ms["compiled"]) + unit if "compiled" in ms else DASH)
        cells.append(format_ms(ms["torch"]) + unit if "torch" in ms else DASH)
        for key in ("ratio_to_torch", "compiled_ratio_to_torch") if compiled else ("ratio_to_torch",):
            for setting in results["settings"]:
                same_row = find_row(setting, row["row"])
                ratio = same_row.get(key) if same_row else None
                text = DASH if ratio is None else f"{ratio:.2f}×"
                limit = ratio_target(row) if key == "ratio_to_torch" else COMPILED_TARGETS.get(row["row"])
                cells.append(f"**{text}**" if ratio is not None and limit is not None and ratio > limit else text)
        cells.append(f"{row['engine_overhead'] * 100:+.0f}%" if "engine_overhead" in row else DASH)
        peaks = memory_cells(results, row["row"])
        cells.append(DASH if peaks[0] == DASH else " / ".join(peaks))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------- checks and verdicts
def agreement_summary(results: dict) -> str:
    rows = [row for setting in results["settings"] for row in setting["rows"] if "torch_loss_diff" in row["agreement"]]
    if not rows:
        return "step 0: no PyTorch to compare with"
    configs = [row["agreement"] for row in rows if row["kind"] == "config"]
    others = [row["agreement"] for row in rows if row["kind"] != "config"]
    parts = []
    if configs:
        loss = max(a["torch_loss_diff"] for a in configs)
        grads = max(a["torch_grad_rel_diff"] for a in configs)
        parts.append(f"configs: losses within {loss:.1e} ({'ok, ≤' if loss <= CONFIG_LOSS_BAR else 'ABOVE'} "
                     f"{CONFIG_LOSS_BAR:.0e}), gradients within {grads:.1e} relative; float32 against float64 "
                     f"{max(a['float64_loss_diff'] for a in configs):.1e}")
    if others:
        loss = max(a["torch_loss_diff"] for a in others)
        parts.append(f"models and epoch: losses within {loss:.1e} ({'ok, ≤' if loss <= MODEL_LOSS_BAR else 'ABOVE'} "
                     f"{MODEL_LOSS_BAR:.0e})")
    first_epochs = [a["first_epoch_loss_diff"] for a in others if "first_epoch_loss_diff" in a]
    if first_epochs:
        parts.append(f"mean loss of the first epoch within {max(first_epochs):.1e}")
    return "step 0, same weights and data, tinygraph against PyTorch: " + "; ".join(parts)


def compiled_summary(results: dict) -> str:
    """Whether each compiled step gave bitwise the losses of the eager one (two replayed steps; the epoch's
    first epoch)."""
    checks = {short_name(row["row"]): row["agreement"]["compiled_same_losses"] for setting in results["settings"]
              for row in setting["rows"] if "compiled_same_losses" in row["agreement"]}
    if not checks:
        return "tg.compile: not timed (--no-compile)"
    differ = sorted({name for name, same in checks.items() if not same})
    if differ:
        return f"tg.compile: losses DIFFER from the eager step's on {', '.join(differ)}"
    return "tg.compile: the same losses as the eager step, bit for bit, on every row"


def ratio_verdicts(results: dict) -> list[dict]:
    verdicts = []
    for kinds, target, what in ((("config",), CONFIG_RATIO_TARGET, "configs"),
                                (("model", "epoch"), MODEL_RATIO_TARGET, "models and epoch")):
        for setting in results["settings"]:
            values = {short_name(row["row"]): row["ratio_to_torch"]
                      for row in setting["rows"] if row["kind"] in kinds and "ratio_to_torch" in row}
            if values:
                verdicts.append(verdict(f"tinygraph ≤ {target:.1f}× PyTorch, {what}, {setting['setting']}",
                                        values, target, "{:.2f}×"))
    return verdicts


def compiled_verdicts(results: dict) -> list[dict]:
    verdicts = []
    for limit in sorted(set(COMPILED_TARGETS.values())):
        for setting in results["settings"]:
            values = {short_name(row["row"]): row["compiled_ratio_to_torch"] for row in setting["rows"]
                      if COMPILED_TARGETS.get(row["row"]) == limit and "compiled_ratio_to_torch" in row}
            if values:
                verdicts.append(verdict(f"tg.compile ≤ {limit:.1f}× PyTorch, {setting['setting']}", values, limit,
                                        "{:.2f}×"))
    return verdicts


def gc_verdicts(results: dict) -> list[dict]:
    chain = results.get("chain")
    if not chain:
        return []
    length = max(chain, key=int)
    share = gc_share(chain[length]["gc_enabled"]["build_s"], chain[length]["gc_disabled"]["build_s"])
    return [verdict(f"GC's share of building a {int(length):,}-op chain ≤ {GC_TARGET * 100:.0f}%",
                    {"build": share}, GC_TARGET * 100, "{:.0f}%")]


def engine_verdicts(results: dict) -> list[dict]:
    verdicts = []
    for setting in results["settings"]:
        values = {row["label"]: row["engine_overhead"] for row in setting["rows"] if row["row"] in ENGINE_TARGET_ROWS}
        if values:
            verdicts.append(verdict(f"engine overhead ≤ {ENGINE_TARGET * 100:.0f}% on {' and '.join(ENGINE_TARGET_ROWS)}, "
                                    f"{setting['setting']}", {k: v * 100 for k, v in values.items()},
                                    ENGINE_TARGET * 100, "{:+.1f}%"))
    return verdicts


def memory_verdicts(results: dict) -> list[dict]:
    """Eager and compiled peak memory against PyTorch's on the target rows: "C 0.65× (compiled 0.60×)"; a
    MISS if either is above the target."""
    values, shown, texts, compiled = {}, [], [], False
    for name in MEMORY_TARGET_ROWS:
        peaks = results["memory"].get(name, {})
        if "tinygraph" not in peaks or "torch" not in peaks:
            continue
        label = short_name(name)
        ours = [f for f in ("tinygraph", "compiled") if f in peaks]
        ratios = {f: memory_ratio(peaks[f]["median_mb"], peaks["torch"]["median_mb"]) for f in ours}
        values[label] = ratios["tinygraph"]
        text = ratio_mark(ratios["tinygraph"])
        if "compiled" in ratios:
            compiled = True
            values[f"{label} compiled"] = ratios["compiled"]
            text += f" (compiled {ratio_mark(ratios['compiled'])})"
        shown.append(f"{label} {text}")
        frameworks = [*ours, "torch"]
        megabytes = " / ".join(f"{peaks[f]['median_mb']:.1f}" for f in frameworks)
        texts.append(f"{label} {megabytes} MB, runs {' / '.join(span(peaks[f]) for f in frameworks)}")
    if not values:
        return []
    target = f"peak memory ≤ {MEMORY_RATIO_TARGET:.1f}× PyTorch" + (", eager and compiled" if compiled else "")
    result = verdict(target, values, MEMORY_RATIO_TARGET, "{:.2f}×")
    order = "tinygraph / compiled / PyTorch" if compiled else "tinygraph / PyTorch"
    result["text"] = f"{result['target']}: {', '.join(shown)} ({order}: {'; '.join(texts)})"
    return [result]


def memory_ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs > 0 else float("inf") if ours > 0 else 1.0


def ratio_mark(ratio: float) -> str:
    """A memory ratio as the verdict shows it, marked ✗ above the target."""
    return f"{ratio:.2f}×" + (" ✗" if ratio > MEMORY_RATIO_TARGET else "")


def short_name(row: str) -> str:
    """A config by its letter, a model by its label and shape (two SmallCNN rows differ only there)."""
    label, shape = describe(row)
    return label if row in CONFIGS or row == "epoch" else f"{label} {shape}"


def span(peak: dict) -> str:
    return f"{peak['min_mb']:.1f}–{peak['max_mb']:.1f}"


def verdict(target: str, values: dict[str, float], limit: float, value_format: str) -> dict:
    misses = [name for name, value in values.items() if value > limit]
    shown = ", ".join(f"{name} {value_format.format(value)}" + (" ✗" if name in misses else "")
                      for name, value in values.items())
    return {"target": target, "ok": not misses, "values": values, "misses": misses, "text": f"{target}: {shown}"}


def chain_line(results: dict) -> str:
    chain = results["chain"]
    length = max(chain, key=int)
    on, off = chain[length]["gc_enabled"], chain[length]["gc_disabled"]
    return (f"chain of {int(length):,} multiplications (GC's share of each): "
            f"build {on['build_s']:.2f} s with GC, {off['build_s']:.2f} s with gc.disable() "
            f"(GC {gc_share(on['build_s'], off['build_s']):.0f}%); backward {on['backward_s']:.2f} s with GC, "
            f"{off['backward_s']:.2f} s without (GC {gc_share(on['backward_s'], off['backward_s']):.0f}%)")


def gc_share(with_gc: float, without_gc: float) -> float:
    return max(0.0, 1 - without_gc / with_gc) * 100 if with_gc > 0 else 0.0


def verdicts(results: dict) -> list[dict]:
    return (ratio_verdicts(results) + compiled_verdicts(results) + memory_verdicts(results)
            + engine_verdicts(results) + gc_verdicts(results))


def verdict_lines(results: dict) -> str:
    lines = ["issue 21's targets:"]
    lines += [f"  {'ok  ' if v['ok'] else 'MISS'}  {v['text']}" for v in results["verdicts"]]
    lines.append(f"  info  {chain_line(results)}")
    return "\n".join(lines)


def chain_table(results: dict) -> str:
    lines = ["chain of multiplications, per op (linear time: constant per op)"]
    for length, modes in results["chain"].items():
        count = int(length)
        for mode, seconds in modes.items():
            lines.append(f"{count:>9,} ops, {mode.replace('_', ' '):<12}: build {seconds['build_s']:.3f} s "
                         f"({seconds['build_s'] / count * 1e6:.2f} µs/op), backward {seconds['backward_s']:.3f} s "
                         f"({seconds['backward_s'] / count * 1e6:.2f} µs/op)")
    return "\n".join(lines)


def scaling_table(scaling: list[dict]) -> str:
    names = list(scaling[0]["median_ms"])
    lines = ["scaling: config B, step time against N (proportional: time/N constant within ±25 %)",
             f"{'N':>5} | " + " | ".join(f"{n + ' ms':>14}{'vs k·N':>8}" for n in names)]
    for r in scaling:
        lines.append(f"{r['N']:>5} | " + " | ".join(
            f"{r['median_ms'][n]:>14.3f}{r['deviation_from_linear'][n] * 100:>+7.1f}%" for n in names))
    worst = max(abs(r["deviation_from_linear"]["tinygraph"]) for r in scaling)
    lines.append(f"tinygraph: largest deviation from proportional {worst * 100:.1f}% "
                 f"({'within' if worst <= 0.25 else 'OUTSIDE'} ±25 %)")
    return "\n".join(lines)
