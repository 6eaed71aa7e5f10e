"""Step times of every row of tools/bench.py at one thread setting, run as its own process.

    python tools/bench_timing.py --out RESULTS.json [--threads N] [--configs A,T] [--models none] ...

tools/bench.py runs this once per thread setting, so each setting starts from a fresh process and
a limit set for one never leaks into the other. Each framework of a row then steps in a process
of its own (`--serve`), and the frameworks take turns in blocks after a warm-up, with a pause at
each handover; a row's time is the median of its per-step (or per-epoch) times.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import tinygraph as tg
from bench_models import (TinygraphCompiledEpoch, TinygraphCompiledModelStep, TinygraphEpoch, TinygraphModelStep,
                          TorchEpoch, TorchModelStep, epoch_runners, model_steps)
from bench_rows import BLOCK_SECONDS, CONFIGS, HANDOVER_PAUSE, MODEL_ROWS, describe, thread_setting_name, with_batch
from bench_steps import (TinygraphCompiledStep, TinygraphStep, check_agreement, frameworks, limit_threads, make_problem,
                         same_losses, torch)

SCALING_NS = (32, 64, 128, 256, 512)
SECONDS_PER_MEDIAN = 0.3     # a fast row takes more steps, so its median rests on about this much time
MIN_STEPS, MAX_STEPS = 60, 1000


# ------------------------------------------------------------------------- measuring
# Each framework runs in a process of its own, and the frameworks take turns in blocks, one process
# stepping while the others wait on a pipe: in one shared process, threads one framework left
# spinning (OpenBLAS's, PyTorch's OpenMP pool) slowed the next one's steps up to eightfold, which no
# user of either sees. After each block the next process waits HANDOVER_PAUSE (bench_rows.py), long
# enough for the previous one's spinning threads to go to sleep (OpenBLAS spins ~2^28 cycles first).


class StepProcess:
    """One framework's runner for one row, in a child process that runs blocks of steps when asked."""

    def __init__(self, kind: str, row: str, framework: str, threads: int | None, keep_freed_memory: bool):
        command = [sys.executable, os.path.abspath(__file__), "--serve", kind, row, framework, "--out", "-"]
        if threads:
            command += ["--threads", str(threads)]
        if keep_freed_memory:
            command.append("--keep-freed-memory")
        self.name = framework
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._read()                                   # "ready": built, imports done

    def steps(self, count: int) -> list[float]:
        """Seconds of each of `count` steps."""
        self.process.stdin.write(f"{count}\n")
        self.process.stdin.flush()
        return self._read()

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"bench_timing: the {self.name} process stopped (exit {self.process.wait()})")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def serve(kind: str, row: str, framework: str) -> None:
    """The child's side: build the runner, then run the blocks of steps the parent asks for."""
    runner = build_runner(kind, row, framework)
    print(json.dumps("ready"), flush=True)
    for line in sys.stdin:
        print(json.dumps(timed(runner.step, int(line))), flush=True)


def build_runner(kind: str, row: str, framework: str):
    if kind == "config":
        return {cls.name: cls for cls in frameworks(True)}[framework](make_problem(CONFIGS[row]))
    if kind == "model":
        return {"tinygraph": TinygraphModelStep, "compiled": TinygraphCompiledModelStep,
                "torch": TorchModelStep}[framework](row)
    if kind == "scaling":
        return {cls.name: cls for cls in frameworks(True)}[framework](make_problem(with_batch(CONFIGS["B"], int(row))))
    return {"tinygraph": TinygraphEpoch, "compiled": TinygraphCompiledEpoch, "torch": TorchEpoch}[framework]()


def time_interleaved(kind: str, row: str, names: list[str], args, steps: int | None, warmup: int,
                     block: int) -> dict[str, list[float]]:
    """Per-step seconds of each framework, each in its own process; they take turns in blocks.

    steps=None picks the count from the warm-up: at least MIN_STEPS, more for fast rows.
    """
    runners = [StepProcess(kind, row, name, args.threads, args.keep_freed_memory) for name in names]
    try:
        warmup_times = []
        for runner in runners:
            warmup_times += runner.steps(warmup)
            time.sleep(HANDOVER_PAUSE)
        typical = statistics.median(warmup_times) if warmup_times else 1.0
        if steps is None:
            steps = int(min(MAX_STEPS, max(MIN_STEPS, SECONDS_PER_MEDIAN / typical)))
        block = max(block, int(BLOCK_SECONDS / typical))
        times: dict[str, list[float]] = {runner.name: [] for runner in runners}
        for turn in range(-(-steps // block)):
            first = turn % len(runners)                  # rotate who goes first
            for runner in runners[first:] + runners[:first]:
                times[runner.name] += runner.steps(min(block, steps - len(times[runner.name])))
                time.sleep(HANDOVER_PAUSE)
        return times
    finally:
        for runner in runners:
            runner.close()


def timed(step, count: int) -> list[float]:
    clock = time.perf_counter
    seconds = []
    for _ in range(count):
        start = clock()
        step()
        seconds.append(clock() - start)
    return seconds


def summarize(times: dict[str, list[float]]) -> dict:
    medians = {name: statistics.median(values) for name, values in times.items()}
    row = {"steps": len(times["tinygraph"]), "median_ms": {name: value * 1e3 for name, value in medians.items()}}
    if "torch" in medians:
        row["ratio_to_torch"] = medians["tinygraph"] / medians["torch"]
    if "compiled" in medians and "torch" in medians:
        row["compiled_ratio_to_torch"] = medians["compiled"] / medians["torch"]
    if "numpy" in medians:
        row["engine_overhead"] = medians["tinygraph"] / medians["numpy"] - 1
    return row


def run_config(name: str, args, use_torch: bool) -> dict:
    problem = make_problem(CONFIGS[name])
    agreement = check_agreement(problem, use_torch)
    if args.compile:
        agreement["compiled_same_losses"] = same_losses(TinygraphStep(problem), TinygraphCompiledStep(problem))
    times = time_interleaved("config", name, [cls.name for cls in frameworks(use_torch, args.compile)], args,
                             args.steps, args.warmup, args.block)
    label, shape = describe(name)
    row = {"row": name, "kind": "config", "label": label, "shape": shape, **summarize(times), "agreement": agreement}
    if "ratio_to_torch" in row:
        row["numpy_ratio_to_torch"] = row["median_ms"]["numpy"] / row["median_ms"]["torch"]
    return row


def run_model(name: str, args, use_torch: bool) -> dict:
    label, shape = describe(name)
    agreement = {}
    if use_torch:
        first_losses = [runner.first_loss() for runner in model_steps(name, use_torch)]
        agreement = {"loss": first_losses[0], "torch_loss_diff": abs(first_losses[0] - first_losses[1])}
    if args.compile:
        agreement["compiled_same_losses"] = same_losses(TinygraphModelStep(name), TinygraphCompiledModelStep(name))
    names = ["tinygraph"] + (["compiled"] if args.compile else []) + (["torch"] if use_torch else [])
    times = time_interleaved("model", name, names, args, args.steps, args.warmup, args.block)
    return {"row": name, "kind": "model", "label": label, "shape": shape, **summarize(times), "agreement": agreement}


def run_epoch(args, use_torch: bool) -> dict:
    label, shape = describe("epoch")
    agreement = {}
    if use_torch:
        tinygraph_loss, torch_loss = TinygraphEpoch().first_loss(), TorchEpoch().first_loss()
        agreement = {"loss": tinygraph_loss, "torch_loss_diff": abs(tinygraph_loss - torch_loss)}
    runners = epoch_runners(use_torch)
    if use_torch:
        # Same weights, batches and Adam: the mean loss of the first epoch agrees to float32 drift.
        for runner in runners:
            runner.step()
        agreement["first_epoch_loss_diff"] = abs(runners[0].losses[0] - runners[1].losses[0])
    names = [runner.name for runner in runners]
    if args.compile:                            # all but the first and the last of an epoch's steps are replays
        eager, compiled = TinygraphEpoch(), TinygraphCompiledEpoch()
        eager.step()
        compiled.step()
        agreement["compiled_same_losses"] = eager.losses == compiled.losses
        names.insert(1, "compiled")
    # Whole epochs take turns one at a time; the first epoch of each is its warm-up (the compiled one's recording).
    times = time_interleaved("epoch", "epoch", names, args, args.epochs, 1, 1)
    row = {"row": "epoch", "kind": "epoch", "label": label, "shape": shape, **summarize(times), "agreement": agreement}
    row["epochs"] = row.pop("steps")
    return row


def run_scaling(args, use_torch: bool) -> list[dict]:
    """Config B at growing N: time per sample should stay about constant."""
    rows = []
    for n in SCALING_NS:
        times = time_interleaved("scaling", str(n), [cls.name for cls in frameworks(use_torch, args.compile)], args,
                                 args.steps or 30, args.warmup, args.block)
        rows.append({"N": n, "median_ms": {k: statistics.median(v) * 1e3 for k, v in times.items()}})
    for name in rows[0]["median_ms"]:
        per_sample = [r["median_ms"][name] / r["N"] for r in rows]
        typical = float(np.exp(np.mean(np.log(per_sample))))     # the k of time ≈ k·N
        for r, value in zip(rows, per_sample):
            r.setdefault("deviation_from_linear", {})[name] = value / typical - 1
    return rows


# ------------------------------------------------------------------------- the machine
def environment() -> dict:
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": cpu_name(), "cpus": os.cpu_count(), "python": platform.python_version(),
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


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ------------------------------------------------------------------------- the process
def progress(setting: str, row: dict) -> None:
    """One line per finished row, so a long run shows where it is."""
    times = ", ".join(f"{name} {ms:.3f} ms" for name, ms in row["median_ms"].items())
    ratio = f" ({row['ratio_to_torch']:.2f}× torch)" if "ratio_to_torch" in row else ""
    if "compiled_ratio_to_torch" in row:
        ratio += f" (compiled {row['compiled_ratio_to_torch']:.2f}× torch)"
    print(f"  [{setting}] {row['label']} {row['shape']}: {times}{ratio}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="where to write this setting's results (JSON)")
    parser.add_argument("--serve", nargs=3, metavar=("KIND", "ROW", "FRAMEWORK"), help="internal: be one "
                        "framework's step process for the parent (see StepProcess)")
    parser.add_argument("--threads", type=int, default=None, help="limit every framework to this many threads")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--models", default=",".join(MODEL_ROWS))
    parser.add_argument("--no-epoch", dest="epoch", action="store_false")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--block", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--keep-freed-memory", action="store_true")
    args = parser.parse_args(argv)
    limiter = limit_threads(args.threads) if args.threads else None    # noqa: F841 (kept alive for the run)
    kept = tg.keep_freed_memory() if args.keep_freed_memory else False
    if args.serve:
        serve(*args.serve)
        return
    use_torch = torch is not None and not args.no_torch
    setting = thread_setting_name(args.threads)
    env = {**environment(), "keep_freed_memory": kept, "torch_used": use_torch, "compile_used": args.compile}
    rows = []
    for name in filter(None, args.configs.split(",")):
        rows.append(run_config(name, args, use_torch))
        progress(setting, rows[-1])
    for name in filter(None, args.models.split(",")):
        rows.append(run_model(name, args, use_torch))
        progress(setting, rows[-1])
    if args.epoch:
        rows.append(run_epoch(args, use_torch))
        progress(setting, rows[-1])
    results = {"setting": setting, "threads": args.threads, "environment": env, "rows": rows}
    if args.scaling:
        results["scaling"] = run_scaling(args, use_torch)
    with open(args.out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
