"""Run under `mpiexec -n N python distributed_worker.py MODE OUT_DIR` by tests/test_distributed.py.

check: every rank checks DistributedDataParallel against the single-process gradient of the
       whole batch (which it computes itself) and writes what it found to OUT_DIR/rank<r>.json.
fail:  the last rank raises at step 3 while the others go on into backward's allreduce.
"""
import hashlib
import json
import os
import sys

import numpy as np

import tinygraph as tg
from tinygraph import distributed as dist
from tinygraph import nn, optim

BATCH = 16          # divisible by 1, 2 and 4: every shard's mean weighs the same


def build(seed: int) -> nn.Module:
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Conv2d(1, 3, 3, rng=rng, dtype=np.float64), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 8, rng=rng, dtype=np.float64), nn.Tanh(),
                         nn.Linear(8, 3, rng=rng, dtype=np.float64))


class WithSpareLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body, self.spare = build(1), nn.Linear(2, 2, dtype=np.float64)

    def forward(self, x):
        return self.body(x)             # spare takes no part


def batch(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([7, step])
    return rng.standard_normal((BATCH, 1, 6, 6)), rng.integers(0, 3, BATCH)


def shard(array: np.ndarray) -> np.ndarray:
    size = BATCH // dist.world_size()
    return array[dist.rank() * size:(dist.rank() + 1) * size]


def loss_of(model, x, y):
    return tg.softmax_xent(model(tg.tensor(x)), y)


def gradients(model) -> dict:
    return {name: p.grad.numpy().copy() for name, p in model.named_parameters()}


def largest_difference(a: dict, b: dict) -> float:
    return max(float(np.abs(a[name] - b[name]).max()) for name in a)


def check(out_dir: str) -> None:
    results = {"rank": dist.rank(), "world_size": dist.world_size()}
    reference = build(1)                        # rank 0 builds from seed 1: what every replica must start from
    x, y = batch(0)
    loss_of(reference, x, y).backward()
    whole_batch = gradients(reference)

    for label, cap in (("tiny", 1e-6), ("huge", 1e3)):
        ddp = dist.DistributedDataParallel(build(dist.rank() + 1), bucket_cap_mb=cap)
        steps = []                              # per backward step: how many DDP events had happened
        with tg.backward_hook(lambda step: steps.append((step.node is not None, len(ddp.last_backward_events)))):
            loss_of(ddp, shard(x), shard(y)).backward()
        results[f"grad_diff_{label}"] = largest_difference(gradients(ddp.module), whole_batch)
        results[f"grads_{label}"] = {k: v.tolist() for k, v in gradients(ddp.module).items()}
        results[f"buckets_{label}"] = [list(b.names) for b in ddp.buckets]
        kinds = [event.kind for event in ddp.last_backward_events]
        first_launch = kinds.index("allreduce launched")
        results[f"rules_after_first_launch_{label}"] = sum(1 for is_rule, seen in steps if is_rule and seen > first_launch)
        results[f"events_{label}"] = [[e.kind, e.bucket, list(e.names)] for e in ddp.last_backward_events]
        results[f"timeline_{label}"] = ddp.timeline()

    # no_sync: the first micro-batch accumulates locally, the second backward averages the sum
    ddp = dist.DistributedDataParallel(build(dist.rank() + 1), bucket_cap_mb=1e-6)
    x2, y2 = batch(1)
    with ddp.no_sync():
        loss_of(ddp, shard(x), shard(y)).backward()
    results["events_inside_no_sync"] = len(ddp.last_backward_events)
    loss_of(ddp, shard(x2), shard(y2)).backward()
    reference = build(1)
    loss_of(reference, x, y).backward()
    loss_of(reference, x2, y2).backward()
    results["no_sync_diff"] = largest_difference(gradients(ddp.module), gradients(reference))

    # 20 steps: replicas stay bitwise identical and follow the single-process run
    ddp, reference = dist.DistributedDataParallel(build(dist.rank() + 1), bucket_cap_mb=1e-3), build(1)
    replica_optimizer = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    reference_optimizer = optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for step in range(20):
        xs, ys = batch(100 + step)
        for model, optimizer, (xb, yb) in ((ddp, replica_optimizer, (shard(xs), shard(ys))),
                                           (reference, reference_optimizer, (xs, ys))):
            optimizer.zero_grad()
            loss_of(model, xb, yb).backward()
            optimizer.step()
    weights = b"".join(np.ascontiguousarray(p.data).tobytes() for p in ddp.module.parameters())
    results["weights_sha256"] = hashlib.sha256(weights).hexdigest()
    results["weights_diff_to_single_process"] = max(
        float(np.abs(a.data - b.data).max()) for a, b in zip(ddp.module.parameters(), reference.parameters()))
    # the collectives on their own
    values = np.full(3, float(dist.rank() + 1))
    dist.all_reduce(values, op="mean")
    results["all_reduce_mean"] = values.tolist()
    root = np.array([float(dist.rank())])
    dist.broadcast(root, root=dist.world_size() - 1)
    results["broadcast_from_last"] = root.tolist()

    # a parameter that receives no gradient leaves the reduction open: the next forward names it
    ddp = dist.DistributedDataParallel(WithSpareLayer())
    loss_of(ddp, shard(x), shard(y)).backward()
    try:
        ddp(tg.tensor(shard(x)))
        results["unused_error"] = None
    except RuntimeError as error:
        results["unused_error"] = str(error)
    with open(os.path.join(out_dir, f"rank{dist.rank()}.json"), "w") as f:
        json.dump(results, f)


def fail() -> None:
    ddp = dist.DistributedDataParallel(build(dist.rank() + 1))
    for step in range(10):
        if step == 3 and dist.rank() == dist.world_size() - 1:
            raise RuntimeError(f"rank {dist.rank()} fails on purpose at step {step}")
        xs, ys = batch(step)
        loss_of(ddp, shard(xs), shard(ys)).backward()      # the others wait here for the failed rank


if __name__ == "__main__":
    mode = sys.argv[1]
    dist.init()
    check(sys.argv[2]) if mode == "check" else fail()
