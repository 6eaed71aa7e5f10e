"""Time one training step of the derivation's CNN in tinygraph, in direct NumPy, and in PyTorch.

    python tools/bench.py                   # configs A-D and T, table + docs/bench.json
    python tools/bench.py --scaling         # also config B at N = 32 ... 512
    python tools/bench.py --configs T,D --steps 200 --json /tmp/bench.json

One step = forward, mean softmax cross-entropy, backward, SGD update of the network
Conv(W, b) → ReLU → MaxPool 2×2 → Flatten → Linear(U, c) → softmax-xent, float32, stride 1, no
padding. Every framework starts from the same weights and data (the step-0 losses are checked to
agree to 1e-5), frameworks are interleaved in blocks after a warm-up, and each reported time is the
median of the per-step times. Ratios are taken within this one run, never against numbers from
another machine or day.

"direct NumPy" runs the same step by calling the registered ops' forward/backward rules by hand,
with no Tensors, graph or engine: tinygraph / direct NumPy − 1 is the engine's overhead.
PyTorch is optional (`pip install -e '.[bench]'`); without it the PyTorch columns are left out.
Peak memory is the growth of the resident set (its high-water mark) over 3 steps of a fresh
process, after 2 warm-up steps, with malloc set to give every freed large array back at once.
"""
from __future__ import annotations

import argparse
import ctypes
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import tinygraph as tg
from bench_steps import TinygraphStep, frameworks, make_problem, torch  # the step, three ways

# name: (N, C, H=W, F, K), from issue 6
CONFIGS = {
    "A": (64, 1, 28, 8, 3),
    "B": (64, 1, 28, 32, 5),
    "C": (128, 3, 32, 32, 5),
    "D": (64, 1, 8, 16, 3),
    "T": (1, 1, 8, 2, 3),
}
TARGET_RATIO = 1.5           # tinygraph ≤ 1.5 × PyTorch
ENGINE_BUDGET = 0.10         # direct NumPy at most 10 % faster than tinygraph on A-C
SCALING_NS = (32, 64, 128, 256, 512)


# ------------------------------------------------------------------------- measuring
def check_agreement(problem) -> dict:
    """Step-0 loss and gradients of each framework against tinygraph, and float32 against float64."""
    reference_loss, reference_grads = TinygraphStep(problem).loss_and_grads()
    loss64, grads64 = TinygraphStep(problem, np.float64).loss_and_grads()
    result = {"loss": reference_loss,
              "float64_loss_diff": abs(reference_loss - loss64),
              "float64_grad_rel_diff": _max_rel_diff(reference_grads, grads64)}
    for cls in frameworks(torch is not None)[1:]:
        loss, grads = cls(problem).loss_and_grads()
        result[f"{cls.name}_loss_diff"] = abs(float(loss) - reference_loss)
        result[f"{cls.name}_grad_rel_diff"] = _max_rel_diff(reference_grads, grads)
    return result


def _max_rel_diff(grads, others) -> float:
    return max(float(np.max(np.abs(g - o)) / max(np.max(np.abs(o)), 1e-30)) for g, o in zip(grads, others))


def time_steps(problem, use_torch: bool, steps: int, warmup: int, block: int) -> dict[str, list[float]]:
    """Per-step seconds of each framework; frameworks take turns in blocks of `block` steps."""
    runners = [cls(problem) for cls in frameworks(use_torch)]
    for runner in runners:
        for _ in range(warmup):
            runner.step()
    times: dict[str, list[float]] = {r.name: [] for r in runners}
    rounds = -(-steps // block)
    clock = time.perf_counter
    for r in range(rounds):
        for runner in runners[r % len(runners):] + runners[:r % len(runners)]:   # rotate who goes first
            record = times[runner.name].append
            step = runner.step
            for _ in range(block):
                start = clock()
                step()
                record(clock() - start)
    return times


def steps_for(config, requested: int | None) -> int:
    """At least 60 timed steps; more for the fast configs so each median rests on ~0.3 s of steps."""
    if requested:
        return requested
    n, channels, size, filters, k = config
    rough_seconds = 2e-4 + 4e-9 * n * filters * channels * size * size * k * k
    return int(min(1000, max(60, 0.3 / rough_seconds)))


def peak_memory_mb(config_name: str, n: int | None, framework: str) -> float:
    """Resident-set growth (MB) over 3 steps of one framework in a fresh process, after 2 warm-up steps."""
    command = [sys.executable, __file__, "--_memory", f"{config_name}:{n or 0}:{framework}"]
    if _THREAD_LIMIT:
        command += ["--threads", str(_THREAD_LIMIT[0])]

    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(output.strip().splitlines()[-1])


def _memory_child(spec: str) -> None:
    # Every array above 64 kB gets its own mapping, returned to the OS when freed, so the resident
    # set follows the live arrays of every framework alike (all allocate through glibc's malloc).
    mallopt = ctypes.CDLL(None).mallopt
    mallopt(-3, 64 * 1024)          # M_MMAP_THRESHOLD
    mallopt(-1, 0)                  # M_TRIM_THRESHOLD
    config_name, n, framework = spec.split(":")
    config = _with_n(CONFIGS[config_name], int(n) or None)
    problem = make_problem(config)
    runner = {cls.name: cls for cls in frameworks(torch is not None)}[framework](problem)
    for _ in range(2):              # first steps allocate one-time things (thread pools, caches)
        runner.step()
    gc.collect()
    # The kernel's high-water mark, reset here ("5" > clear_refs), so imports do not count. Not
    # getrusage: on Linux ru_maxrss survives exec and would report the parent's peak.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kb("VmRSS")
    for _ in range(3):
        runner.step()
    print(f"{max(_status_kb('VmHWM') - before, 0) / 1024:.2f}")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _with_n(config, n):
    return config if n is None else (n,) + tuple(config[1:])


def chain_backward_seconds(length: int) -> tuple[float, float]:
    """(seconds to build, seconds to backpropagate) a chain of `length` multiplications."""
    x = tg.tensor(np.ones(1, dtype=np.float32), requires_grad=True)
    start = time.perf_counter()
    y = x
    for _ in range(length):
        y = y * 1.0
    built = time.perf_counter()
    y.backward(np.ones(1, dtype=np.float32))
    done = time.perf_counter()
    assert x.grad is not None and x.grad[0] == 1.0
    return built - start, done - built


# ------------------------------------------------------------------------- reporting
def environment() -> dict:
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": _cpu_name(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "tinygraph": tg.__version__,
            "torch": torch.__version__ if torch is not None else None,
            "torch_threads": torch.get_num_threads() if torch is not None else None,
            "tinygraph_threads": tg.get_num_threads(),
            "blas": None,
            "blas_env": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP_", "MKL_"))}}
    try:
        from threadpoolctl import threadpool_info
        blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if blas:
            info["blas"] = {k: blas[0].get(k) for k in ("internal_api", "version", "num_threads", "architecture",
                                                        "threading_layer")}
    except ImportError:
        info["blas"] = "unknown (pip install threadpoolctl)"
    return info


_THREAD_LIMIT: list = []     # [count, limiter] once --threads is given


def _limit_threads(count: int) -> None:
    from threadpoolctl import threadpool_limits
    _THREAD_LIMIT[:] = [count, threadpool_limits(limits=count)]    # the limiter stays alive for the run
    tg.set_num_threads(count)
    if torch is not None:
        torch.set_num_threads(count)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_environment(env: dict) -> str:
    blas = env["blas"]
    blas_text = (f"{blas['internal_api']} {blas['version']} ({blas['architecture']}, {blas['num_threads']} threads)"
                 if isinstance(blas, dict) else str(blas))
    torch_text = f"torch {env['torch']} ({env['torch_threads']} threads)" if env["torch"] else "torch not installed"
    return (f"{env['date']} · {env['machine']} · {env['cpus']} CPUs · Python {env['python']} · "
            f"tinygraph {env['tinygraph']} ({env['tinygraph_threads']} threads) · "
            f"NumPy {env['numpy']} · BLAS {blas_text} · {torch_text}"
            + (f" · env {env['blas_env']}" if env["blas_env"] else "")
            + (" · malloc: tg.keep_freed_memory()" if env.get("keep_freed_memory") else " · malloc: default"))


def run_configs(names, args, use_torch) -> list[dict]:
    rows = []
    for name in names:
        config = CONFIGS[name]
        problem = make_problem(config)
        agreement = check_agreement(problem)
        steps = steps_for(config, args.steps)
        times = time_steps(problem, use_torch, steps, args.warmup, args.block)
        medians = {k: statistics.median(v) for k, v in times.items()}
        row = {"config": name, "N": config[0], "C": config[1], "HW": config[2], "F": config[3], "K": config[4],
               "steps": steps, "median_ms": {k: v * 1e3 for k, v in medians.items()},
               "engine_overhead": medians["tinygraph"] / medians["numpy"] - 1, "agreement": agreement}
        if use_torch:
            row["ratio_to_torch"] = medians["tinygraph"] / medians["torch"]
            row["numpy_ratio_to_torch"] = medians["numpy"] / medians["torch"]
        if args.memory:
            row["peak_mb"] = {cls.name: peak_memory_mb(name, None, cls.name) for cls in frameworks(use_torch)}
        rows.append(row)
        print(format_row(row, use_torch), flush=True)
    return rows


def table_header(use_torch: bool) -> str:
    head = f"{'cfg':<4}{'N':>4}{'C':>3}{'H×W':>7}{'F':>4}{'K':>3}{'steps':>6} | {'tinygraph ms':>12}{'numpy ms':>10}"
    if use_torch:
        head += f"{'torch ms':>10} | {'tg/torch':>9}{'np/torch':>9}"
    head += f" | {'engine':>7} | {'loss Δ':>8} | peak MB (tg/np" + ("/torch)" if use_torch else ")")
    return head + "\n" + "-" * len(head)


def format_row(row: dict, use_torch: bool) -> str:
    ms = row["median_ms"]
    text = (f"{row['config']:<4}{row['N']:>4}{row['C']:>3}{row['HW']:>4}×{row['HW']:<2}{row['F']:>4}{row['K']:>3}"
            f"{row['steps']:>6} | {ms['tinygraph']:>12.3f}{ms['numpy']:>10.3f}")
    if use_torch:
        verdict = "ok" if row["ratio_to_torch"] <= TARGET_RATIO else "MISS"
        text += f"{ms['torch']:>10.3f} | {row['ratio_to_torch']:>6.2f}× {verdict:<2}{row['numpy_ratio_to_torch']:>6.2f}×"
    agreement = row["agreement"]
    worst = max(v for k, v in agreement.items() if k.endswith("_loss_diff") and not k.startswith("float64"))
    text += f" | {row['engine_overhead'] * 100:>+6.1f}% | {worst:>8.1e} |"
    if "peak_mb" in row:
        text += " " + "/".join(f"{v:.1f}" for v in row["peak_mb"].values())
    return text


def run_scaling(args, use_torch) -> list[dict]:
    print("\nScaling: config B, step time against N (proportional: time/N constant within ±25 %)")
    rows = []
    for n in SCALING_NS:
        problem = make_problem(_with_n(CONFIGS["B"], n))
        times = time_steps(problem, use_torch, args.steps or 30, args.warmup, args.block)
        rows.append({"N": n, "median_ms": {k: statistics.median(v) * 1e3 for k, v in times.items()}})
    names = list(rows[0]["median_ms"])
    for name in names:
        per_sample = [r["median_ms"][name] / r["N"] for r in rows]
        typical = float(np.exp(np.mean(np.log(per_sample))))     # the k of time ≈ k·N
        for r, value in zip(rows, per_sample):
            r.setdefault("deviation_from_linear", {})[name] = value / typical - 1
    print(f"{'N':>5} | " + " | ".join(f"{n + ' ms':>14}{'vs k·N':>8}" for n in names))
    for r in rows:
        print(f"{r['N']:>5} | " + " | ".join(
            f"{r['median_ms'][n]:>14.3f}{r['deviation_from_linear'][n] * 100:>+7.1f}%" for n in names))
    worst = max(abs(r["deviation_from_linear"]["tinygraph"]) for r in rows)
    print(f"tinygraph: largest deviation from proportional {worst * 100:.1f}% "
          f"({'within' if worst <= 0.25 else 'OUTSIDE'} ±25 %)")
    return rows


def run_chain() -> dict:
    print("\nChain of multiplications: build and backward time per op (linear time: constant per op)")
    result = {}
    chain_backward_seconds(1_000)                  # warm-up
    for length in (10_000, 100_000):
        gc.collect()
        built, backward_seconds = chain_backward_seconds(length)
        result[str(length)] = {"build_s": built, "backward_s": backward_seconds}
        print(f"{length:>7} ops: build {built:.3f} s ({built / length * 1e6:.2f} µs/op), "
              f"backward {backward_seconds:.3f} s ({backward_seconds / length * 1e6:.2f} µs/op)")
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="A,B,C,D,T", help="comma-separated subset of A,B,C,D,T")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per framework (default: ≥60, "
                        "more for fast configs)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per framework first")
    parser.add_argument("--block", type=int, default=5, help="steps a framework runs before the next takes over")
    parser.add_argument("--scaling", action="store_true", help="also time config B at N = 32 ... 512")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-memory runs")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    parser.add_argument("--threads", type=int, default=None, help="limit tinygraph, BLAS and PyTorch to "
                        "this many threads (tg.set_num_threads, threadpoolctl, torch.set_num_threads; default: as found)")
    parser.add_argument("--json", default=str(Path(__file__).resolve().parent.parent / "docs" / "bench.json"),
                        help="where to write the results (default docs/bench.json; '' to skip)")
    parser.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc as it is instead of "
                        "calling tg.keep_freed_memory() (which applies to every framework in the process)")
    parser.add_argument("--_memory", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        _limit_threads(args.threads)
    if args._memory:
        _memory_child(args._memory)
        return
    if args.memory and not sys.platform.startswith("linux"):
        print("peak memory needs Linux (/proc and glibc's mallopt); skipping it")
        args.memory = False
    kept = False if args.default_malloc else tg.keep_freed_memory()
    use_torch = torch is not None and not args.no_torch
    names = [c.strip().upper() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown config(s) {unknown}; choose from {sorted(CONFIGS)}")

    env = environment()
    env["keep_freed_memory"] = kept
    print(describe_environment(env))
    if not use_torch:
        print("PyTorch not used: pip install -e '.[bench]' for the PyTorch columns")
    print(f"median per training step (forward + loss + backward + SGD), float32; "
          f"engine = tinygraph / direct NumPy − 1; target tinygraph ≤ {TARGET_RATIO}× torch\n")
    print(table_header(use_torch))
    results = {"environment": env, "configs": run_configs(names, args, use_torch)}
    if args.scaling:
        results["scaling"] = run_scaling(args, use_torch)
    results["chain"] = run_chain()
    rows = results["configs"]
    agreements = [r["agreement"] for r in rows]
    loss_gap = max(v for a in agreements for k, v in a.items() if k.endswith("_loss_diff") and k != "float64_loss_diff")
    grad_gap = max(v for a in agreements for k, v in a.items() if k.endswith("_grad_rel_diff") and not k.startswith("float64"))
    print(f"\nstep 0, same weights and data: losses agree within {loss_gap:.1e} "
          f"({'ok' if loss_gap <= 1e-5 else 'ABOVE'} the 1e-5 bar), gradients within {grad_gap:.1e} (relative); "
          f"float32 against float64: loss {max(a['float64_loss_diff'] for a in agreements):.1e}, "
          f"gradients {max(a['float64_grad_rel_diff'] for a in agreements):.1e} (relative)")
    if use_torch:
        misses = [f"{r['config']} ({r['ratio_to_torch']:.2f}×)" for r in rows if r["ratio_to_torch"] > TARGET_RATIO]
        print("all configs within 1.5× PyTorch" if not misses else f"above 1.5× PyTorch: {', '.join(misses)}")
    heavy = [r for r in rows if r["config"] in "ABC"]
    over = [f"{r['config']} ({r['engine_overhead'] * 100:+.1f}%)" for r in heavy if r["engine_overhead"] > ENGINE_BUDGET]
    if heavy:
        print("engine overhead within 10% on A-C" if not over else f"engine overhead above 10%: {', '.join(over)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
