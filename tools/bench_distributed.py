"""One epoch of SmallCNN on the digits, on 1 process and on 2 under mpiexec: the README's numbers.

    python tools/bench_distributed.py            # needs tinygraph[dist]; prints one row per world size

Each process runs with one BLAS thread and one tinygraph thread, so 2 processes use 2 cores.
The batch (32) is global: with P processes each takes 32/P samples, and DistributedDataParallel
averages the gradients. The allreduce's share of a step is read from each backward's bucket
events: the time between an event and the next "allreduce launched" (starting MPI_Iallreduce)
or "allreduce done" (waiting for it) is time spent in MPI, not overlapped by backward's rules.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BATCH = 32
WORLD_SIZES = (1, 2)
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def communication_seconds(events) -> float:
    """Time inside MPI calls during one backward, from DistributedDataParallel's events."""
    return sum(event.seconds - before.seconds for before, event in zip(events, events[1:])
               if event.kind in ("allreduce launched", "allreduce done"))


def worker(distributed: bool) -> None:
    import tinygraph as tg
    from tinygraph import data, models, optim
    from tinygraph import distributed as dist
    from tinygraph.cli.train import Processes, model_config, shards

    tg.set_num_threads(1)
    processes = Processes(dist.rank(), dist.world_size()) if distributed else Processes(0, 1)
    split = data.load_digits(seed=0)
    model = models.build("smallcnn", rng=np.random.default_rng(0), **model_config("smallcnn", split))
    trained = dist.DistributedDataParallel(model) if distributed else model
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    model.train()

    def step(xb, yb, batch_size) -> float:
        optimizer.zero_grad()
        loss = tg.softmax_xent(trained(xb), yb) * (len(xb) * processes.size / batch_size)
        loss.backward()
        optimizer.step()
        return communication_seconds(trained.last_backward_events) if distributed else 0.0

    warm_up = data.batches(split.x_train, split.y_train, BATCH, seed=0, epoch=99)
    for _, (xb, yb, n) in zip(range(3), shards(warm_up, processes)):
        step(xb, yb, n)
    if distributed:
        dist.barrier()
    started, communication, steps = time.perf_counter(), 0.0, 0
    for xb, yb, n in shards(data.batches(split.x_train, split.y_train, BATCH, seed=0, epoch=0), processes):
        communication += step(xb, yb, n)
        steps += 1
    seconds = time.perf_counter() - started
    if processes.primary:
        print(json.dumps({"processes": processes.size, "epoch_seconds": seconds, "steps": steps,
                          "communication_seconds": communication,
                          "parameters": model.num_parameters(),
                          "buckets": len(trained.buckets) if distributed else 0}))


def main() -> None:
    here, python = Path(__file__).resolve(), sys.executable
    env = dict(os.environ, **ONE_THREAD, PATH=f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    rows = []
    for n in WORLD_SIZES:
        command = [python, str(here), "--worker"] if n == 1 else ["mpiexec", "-n", str(n), python, str(here),
                                                                  "--worker", "--distributed"]
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True, timeout=600)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"SmallCNN ({rows[0]['parameters']:,} parameters) on the digits, one epoch, batch {BATCH} "
          f"(global), one BLAS thread per process")
    print("| processes | epoch | steps | step | allreduce (in MPI, not overlapped) | share of the step |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        step_ms = 1e3 * row["epoch_seconds"] / row["steps"]
        comm_ms = 1e3 * row["communication_seconds"] / row["steps"]
        share = f"{100 * comm_ms / step_ms:.0f}%" if row["processes"] > 1 else "-"
        print(f"| {row['processes']} | {row['epoch_seconds']:.2f} s | {row['steps']} | {step_ms:.1f} ms | "
              f"{comm_ms:.2f} ms | {share} |")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker("--distributed" in sys.argv)
    else:
        main()
