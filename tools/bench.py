"""Time training steps in tinygraph against PyTorch, at the default thread count and at one thread.

    python tools/bench.py                    # every row at both thread settings, table + docs/bench.json
    python tools/bench.py --quick --json ''  # a few steps of every row: does the script work?
    python tools/bench.py --markdown         # also the table for README's Performance section
    python tools/bench.py --threads 1 --configs C,T --models none --no-epoch

Rows:
  configs A-D, T   one step of the derivation's CNN Conv → ReLU → MaxPool 2×2 → Flatten → Linear,
                   in tinygraph, in direct NumPy (the same op rules called by hand, no engine) and in
                   PyTorch; tinygraph / direct NumPy − 1 is the engine's overhead
  models           LeNet5 (batch 64, 1×32×32) and SmallCNN (batch 64 on 1×8×8, batch 128 on 3×32×32,
                   dropout 0), one SGD step (lr 0.01) against the same network in PyTorch
  epoch            one epoch of `tinygraph-train` with its defaults against the same PyTorch loop
Each row also times tinygraph's step under tg.compile (the epoch: `tinygraph-train --compile`),
recorded before timing so only replays are timed, beside eager tinygraph and PyTorch, with the
ratio compiled / PyTorch; the compiled losses are checked bit for bit against eager. Its peak memory
is measured too, over replayed steps, with the recording call as the first warm-up step (--no-compile
leaves the column and these memory runs out).

Every framework starts from the same weights and data (step-0 losses are checked to agree);
each framework steps in a process of its own, and they take turns in blocks after a warm-up, with
a pause at each handover so no thread left spinning by one slows the next; each time is a median.
Each thread setting runs in a process of its own (tools/bench_timing.py); peak memory is measured in a fresh process
per framework and run (tools/bench_memory.py), with malloc as it is; this process, which never
imports PyTorch, times a chain of 100,000 ops with the garbage collector on and off. Ratios are
taken within one run, never against numbers from another machine or day. PyTorch is optional
(`pip install -e '.[bench]'`); without it only the tinygraph and NumPy columns are filled.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import tinygraph as tg
import bench_memory
import bench_report
from bench_rows import CONFIGS, MODEL_ROWS, thread_setting_name

TOOLS = Path(__file__).resolve().parent
QUICK = {"steps": 5, "warmup": 1, "epochs": 2, "memory_runs": 1}
CHAIN_LENGTHS = (10_000, 100_000)
QUICK_CHAIN_LENGTHS = (10_000,)


# ------------------------------------------------------------------------- the child processes
def run_timing(args, threads: int | None, scaling: bool) -> dict:
    """One thread setting's rows, timed in a fresh process (threads=None: as the process finds them)."""
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "timing.json"
        command = [sys.executable, str(TOOLS / "bench_timing.py"), "--out", str(out),
                   "--configs", ",".join(args.config_names), "--models", ",".join(args.model_names),
                   "--warmup", str(args.warmup), "--block", str(args.block), "--epochs", str(args.epochs)]
        command += ["--threads", str(threads)] if threads else []
        command += ["--steps", str(args.steps)] if args.steps else []
        command += [] if args.epoch else ["--no-epoch"]
        command += ["--scaling"] if scaling else []
        command += ["--no-torch"] if not args.use_torch else []
        command += ["--no-compile"] if not args.compile else []
        command += ["--keep-freed-memory"] if args.keep_freed_memory else []
        # stderr through a pipe, not the terminal: tinygraph-train's progress bar then stays off, as in a log.
        finished = subprocess.run(command, stderr=subprocess.PIPE, text=True)
        sys.stderr.write(finished.stderr)
        if finished.returncode != 0:
            raise SystemExit(f"tools/bench.py: the timing run {' '.join(command[1:])} failed "
                             f"(exit {finished.returncode})")
        return json.loads(out.read_text())


def run_memory(args) -> dict:
    rows = [*args.config_names, *args.model_names]
    if args.quick:             # the rows with a memory target only, so a quick run stays quick
        rows = [row for row in rows if row in bench_report.MEMORY_TARGET_ROWS]
    frameworks = ["tinygraph"] + (["compiled"] if args.compile else []) + (["torch"] if args.use_torch else [])
    child_flags = (["--threads", str(args.threads)] if args.threads else []) + (
        ["--keep-freed-memory"] if args.keep_freed_memory else [])
    memory = {}
    for row in rows:
        memory[row] = bench_memory.peak_memory(row, frameworks, args.memory_runs, child_flags)
        peaks = ", ".join(f"{framework} {value['median_mb']:.1f} MB" for framework, value in memory[row].items())
        print(f"  [memory] {row:<17} {peaks} (median of {args.memory_runs})", flush=True)
    return memory


# ------------------------------------------------------------------------- the chain, in this process
def chain_seconds(length: int) -> tuple[float, float]:
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


def run_chain(lengths: tuple[int, ...], rounds: int = 3) -> dict:
    """Median build and backward times of each chain, with Python's cyclic garbage collector on and off.

    The two modes alternate, `rounds` times each, so a slow moment of the machine hits both alike.
    """
    chain_seconds(1_000)                          # warm-up
    result = {}
    for length in lengths:
        samples: dict[str, list[tuple[float, float]]] = {"gc_enabled": [], "gc_disabled": []}
        for _ in range(rounds):
            for mode, times in samples.items():
                times.append(chain_seconds_with_gc(length, mode == "gc_enabled"))
        result[str(length)] = {mode: {"build_s": statistics.median(build for build, _ in times),
                                      "backward_s": statistics.median(backward for _, backward in times)}
                               for mode, times in samples.items()}
    return result


def chain_seconds_with_gc(length: int, collector_on: bool) -> tuple[float, float]:
    gc.collect()
    if not collector_on:
        gc.disable()
    try:
        return chain_seconds(length)
    finally:
        gc.enable()


# ------------------------------------------------------------------------- the command
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset of A,B,C,D,T, or 'none'")
    parser.add_argument("--models", default=",".join(MODEL_ROWS),
                        help=f"comma-separated subset of {','.join(MODEL_ROWS)}, or 'none'")
    parser.add_argument("--no-epoch", dest="epoch", action="store_false", help="skip the tinygraph-train epoch")
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs per framework (default 20)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per framework (default: ≥ 60, "
                        "more for fast rows)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps per framework first (default 5)")
    parser.add_argument("--block", type=int, default=5, help="steps a framework runs before the next takes over")
    parser.add_argument("--threads", type=int, default=None, help="run only this thread setting: tinygraph, BLAS "
                        "and PyTorch limited to N threads (default: the process's default and 1, both)")
    parser.add_argument("--keep-freed-memory", action="store_true", help="opt in to tg.keep_freed_memory() in "
                        "every benchmark process; it is process-wide, so it changes PyTorch's allocations too")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-memory runs")
    parser.add_argument("--memory-runs", type=int, default=None, help="fresh processes per framework and row for "
                        "peak memory; the median is reported (default 5)")
    parser.add_argument("--scaling", action="store_true", help="also time config B at N = 32 ... 512")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="leave out the tg.compile column")
    parser.add_argument("--markdown", action="store_true", help="also print the table in Markdown, for README")
    parser.add_argument("--quick", action="store_true", help="a few steps of every row, memory on C and "
                        "SmallCNN-128 once, chain of 10,000: checks the script works, measures nothing")
    parser.add_argument("--json", default=str(TOOLS.parent / "docs" / "bench.json"),
                        help="where to write the results (default docs/bench.json; '' to skip)")
    args = parser.parse_args(argv)
    for name, quick_value in QUICK.items():
        if getattr(args, name) is None and args.quick:
            setattr(args, name, quick_value)
    args.warmup = 5 if args.warmup is None else args.warmup
    args.epochs = 20 if args.epochs is None else args.epochs
    args.memory_runs = 5 if args.memory_runs is None else args.memory_runs
    args.config_names = names_from(parser, "--configs", args.configs.upper(), CONFIGS)
    args.model_names = names_from(parser, "--models", args.models.lower(), MODEL_ROWS)
    if not (args.config_names or args.model_names or args.epoch):
        parser.error("nothing to time: --configs none, --models none and --no-epoch together leave no row")
    args.use_torch = importlib.util.find_spec("torch") is not None and not args.no_torch
    if args.memory and not sys.platform.startswith("linux"):
        print("peak memory needs Linux (/proc/self/status and clear_refs); skipping it")
        args.memory = False
    return args


def names_from(parser, flag: str, text: str, known) -> list[str]:
    if text.strip() in ("", "NONE", "none"):
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"{flag}: unknown {unknown}; choose from {', '.join(known)} or 'none'")
    return names


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.use_torch:
        print("PyTorch not used: pip install -e '.[bench]' for the PyTorch columns")
    thread_settings = [args.threads] if args.threads else [None, 1]
    print(f"timing at {' and at '.join(thread_setting_name(t) for t in thread_settings)}, each in a process of its "
          "own", flush=True)
    settings = [run_timing(args, threads, args.scaling and index == 0) for index, threads in enumerate(thread_settings)]
    results = {"environment": settings[0]["environment"],
               "method": {"steps": args.steps or "≥ 60 (more for fast rows)", "warmup": args.warmup, "block": args.block,
                          "epochs": args.epochs, "memory_runs": args.memory_runs,
                          "memory_warmup": bench_memory.WARMUP_STEPS, "memory_steps": bench_memory.MEASURED_STEPS},
               "settings": settings, "memory": run_memory(args) if args.memory else {},
               "chain": run_chain(QUICK_CHAIN_LENGTHS if args.quick else CHAIN_LENGTHS)}
    results["verdicts"] = bench_report.verdicts(results)
    print()
    print(bench_report.describe_environment(results))
    print(bench_report.describe_method(results) + "\n")
    print(bench_report.table(results))
    print(bench_report.agreement_summary(results))
    print(bench_report.compiled_summary(results))
    if "scaling" in settings[0]:
        print("\n" + bench_report.scaling_table(settings[0]["scaling"]))
    print("\n" + bench_report.chain_table(results))
    print("\n" + bench_report.verdict_lines(results))
    if args.markdown:
        print("\n" + bench_report.markdown(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
