"""Peak memory of one framework's training step, each measurement in a fresh process.

    python tools/bench_memory.py ROW FRAMEWORK [--threads N] [--keep-freed-memory]

ROW is a config (A, B, C, D, T) or a model row (lenet5-64, smallcnn-64, smallcnn-128); FRAMEWORK
is tinygraph, compiled (tinygraph's step under tg.compile) or torch. With the data and model built,
the child notes its resident set (VmRSS), takes 2 warm-up steps, resets the kernel's high-water mark
of the resident set, takes 3 steps, and prints (as JSON) how far the high-water mark (VmHWM) of
those steps rose above the resident set it had before the first step, in MB. glibc's malloc is left
as it is (unless --keep-freed-memory), so this is the growth a user of that framework sees once
training runs. Also printed, for reference: the rise above the resident set just before the 3 steps,
which with default malloc is often 0, because memory freed in the warm-up stays resident and is reused.

The compiled step is built unrecorded, so the resident set before the first step is taken before
tg.compile's recording call: that call is the first warm-up step, the second is a replay, and the 3
measured steps are replays (checked). The peak is therefore that of replayed steps, and what the
schedule keeps resident between steps (its buffers) counts in it, as the eager step's gradients do.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys

FRAMEWORKS = ("tinygraph", "compiled", "torch")
WARMUP_STEPS = 2
MEASURED_STEPS = 3


def peak_memory(row: str, frameworks: list[str], runs: int, child_flags: list[str]) -> dict[str, dict]:
    """Median, min and max of the growth over `runs` fresh processes per framework; the frameworks take turns."""
    samples: dict[str, list[dict]] = {framework: [] for framework in frameworks}
    for _ in range(runs):
        for framework in frameworks:
            command = [sys.executable, __file__, row, framework, *child_flags]
            output = subprocess.run(command, capture_output=True, text=True)
            if output.returncode != 0:
                raise RuntimeError(f"peak memory of {row} in {framework} failed:\n{output.stderr}")
            samples[framework].append(json.loads(output.stdout.splitlines()[-1]))
    summary = {}
    for framework, measured in samples.items():
        growth = [m["growth_mb"] for m in measured]
        summary[framework] = {"median_mb": statistics.median(growth), "min_mb": min(growth), "max_mb": max(growth),
                              "runs_mb": growth,
                              "over_warm_median_mb": statistics.median(m["growth_over_warm_mb"] for m in measured),
                              "runs": measured}
    return summary


def make_step(row: str, framework: str):
    """The runner of `row`; a compiled one unrecorded, so that its first step is the recording call."""
    from bench_models import TinygraphCompiledModelStep, TinygraphModelStep, TorchModelStep
    from bench_rows import CONFIGS, MODEL_ROWS
    from bench_steps import TinygraphCompiledStep, TinygraphStep, TorchStep, make_problem

    if row in CONFIGS:
        problem = make_problem(CONFIGS[row])
        if framework == "compiled":
            return TinygraphCompiledStep(problem, record_now=False)
        return {"tinygraph": TinygraphStep, "torch": TorchStep}[framework](problem)
    if row in MODEL_ROWS:
        if framework == "compiled":
            return TinygraphCompiledModelStep(row, record_now=False)
        return {"tinygraph": TinygraphModelStep, "torch": TorchModelStep}[framework](row)
    raise ValueError(f"bench_memory: unknown row {row!r}")


def measure_in_this_process(row: str, framework: str) -> dict:
    from bench_steps import check_recorded

    runner = make_step(row, framework)
    gc.collect()
    at_start = status_kb("VmRSS")
    for _ in range(WARMUP_STEPS):      # the first steps allocate one-time things (thread pools, caches)
        runner.step()                  # compiled: the first of them is the recording call
    if framework == "compiled":
        check_recorded(runner.step)
        recordings = runner.step.records
    gc.collect()
    # The kernel's high-water mark, reset here ("5" > clear_refs), so imports and warm-up do not
    # count. Not getrusage: on Linux ru_maxrss survives exec and would report the parent's peak.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status_kb("VmRSS")
    for _ in range(MEASURED_STEPS):
        runner.step()
    peak = status_kb("VmHWM")
    if framework == "compiled" and (runner.step.records != recordings or runner.step.eager_calls):
        raise RuntimeError(f"bench_memory: a measured step of {row} under tg.compile was not a replay "
                           f"({runner.step.records} recordings, {runner.step.eager_calls} eager calls)")
    return {"growth_mb": max(peak - at_start, 0) / 1024, "growth_over_warm_mb": max(peak - before, 0) / 1024,
            "rss_start_mb": at_start / 1024, "rss_warm_mb": before / 1024, "rss_peak_mb": peak / 1024}


def status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("row")
    parser.add_argument("framework", choices=FRAMEWORKS)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--keep-freed-memory", action="store_true")
    args = parser.parse_args(argv)
    if args.framework != "torch":
        # `import torch` (in bench_steps) now finds nothing: the child starts in a fraction of a
        # second instead of two, and holds nothing of PyTorch.
        sys.modules["torch"] = None
    import tinygraph as tg
    from bench_steps import limit_threads

    limiter = limit_threads(args.threads) if args.threads else None    # noqa: F841 (kept alive for the run)
    if args.keep_freed_memory:
        tg.keep_freed_memory()
    print(json.dumps(measure_in_this_process(args.row, args.framework)))


if __name__ == "__main__":
    main()
