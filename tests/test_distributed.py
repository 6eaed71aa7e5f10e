"""tinygraph.distributed under real MPI: `mpiexec -n N` runs tests/distributed_worker.py as subprocesses
(this suite stays one process). Skipped where mpi4py or mpiexec is missing, except under CI=true."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import distributed as dist

HERE = Path(__file__).parent
WORKER = HERE / "distributed_worker.py"
BIN = Path(sys.executable).parent
MPIEXEC = shutil.which("mpiexec", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
MISSING = ("mpi4py is not installed" if importlib.util.find_spec("mpi4py") is None
           else "mpiexec is not on PATH" if MPIEXEC is None else None)
if MISSING and os.environ.get("CI") == "true":
    raise RuntimeError(f"CI=true but {MISSING}: install the dist extra (pip install -e '.[dist]')")
needs_mpi = pytest.mark.skipif(MISSING is not None, reason=f"{MISSING} (pip install 'tinygraph[dist]')")
WORLD_SIZES = (1, 2, 4)
TIMEOUT = 60


def mpiexec(n: int, *args: str) -> subprocess.CompletedProcess:
    """`mpiexec -n n python args...` with one BLAS thread per process (4 processes share 2 cores here)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *args], capture_output=True, text=True,
                          timeout=TIMEOUT, env=env, cwd=HERE.parent)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, list[dict]]:
    """Each world size's check run: what every rank wrote."""
    results = {}
    for n in WORLD_SIZES:
        out = tmp_path_factory.mktemp(f"world{n}")
        done = mpiexec(n, str(WORKER), "check", str(out))
        assert done.returncode == 0, done.stderr[-3000:]
        results[n] = [json.loads((out / f"rank{r}.json").read_text()) for r in range(n)]
    return results


@needs_mpi
@pytest.mark.parametrize("n", WORLD_SIZES)
def test_averaged_gradients_are_the_whole_batch_gradient(runs, n):
    for result in runs[n]:
        assert result["world_size"] == n
        assert result["grad_diff_tiny"] <= 1e-12
        assert result["grad_diff_huge"] <= 1e-12
        assert result["no_sync_diff"] <= 1e-12              # two micro-batches, the first under no_sync()
        assert result["events_inside_no_sync"] == 0


@needs_mpi
@pytest.mark.parametrize("n", WORLD_SIZES)
def test_tiny_and_huge_buckets_give_the_same_gradients(runs, n):
    for result in runs[n]:
        assert len(result["buckets_tiny"]) == 6 and len(result["buckets_huge"]) == 1
        for name, tiny in result["grads_tiny"].items():
            np.testing.assert_allclose(tiny, result["grads_huge"][name], rtol=0, atol=1e-12)


@needs_mpi
@pytest.mark.parametrize("n", WORLD_SIZES)
def test_replicas_stay_bitwise_identical_for_20_steps(runs, n):
    assert len({result["weights_sha256"] for result in runs[n]}) == 1
    assert all(result["weights_diff_to_single_process"] <= 1e-12 for result in runs[n])


@needs_mpi
@pytest.mark.parametrize("n", WORLD_SIZES)
def test_an_allreduce_starts_while_backward_still_runs_rules(runs, n):
    for result in runs[n]:
        # one bucket per parameter: the last layer's allreduce starts before the layers below run backward
        assert result["rules_after_first_launch_tiny"] > 0
        assert result["rules_after_first_launch_huge"] == 0     # one bucket: nothing left to overlap
        kinds = [kind for kind, _, _ in result["events_tiny"]]
        launched = [bucket for kind, bucket, _ in result["events_tiny"] if kind == "allreduce launched"]
        assert launched == sorted(launched) == list(range(6))   # index order on every rank
        assert kinds.index("allreduce launched") < max(i for i, k in enumerate(kinds) if k == "grad ready")
        assert "allreduce launched" in result["timeline_tiny"]
    assert len({json.dumps([e[:2] for e in r["events_tiny"]]) for r in runs[n]}) == 1


@needs_mpi
@pytest.mark.parametrize("n", WORLD_SIZES)
def test_collectives_and_a_parameter_without_gradient(runs, n):
    for result in runs[n]:
        assert result["all_reduce_mean"] == [(n + 1) / 2] * 3
        assert result["broadcast_from_last"] == [n - 1]
        assert "spare.weight" in result["unused_error"] and "spare.bias" in result["unused_error"]


@needs_mpi
@pytest.mark.parametrize("n", (2, 4))
def test_a_rank_that_raises_stops_every_rank(n):
    started = time.perf_counter()
    done = mpiexec(n, str(WORKER), "fail")              # a hang would raise TimeoutExpired after 60 s
    assert done.returncode != 0
    assert "fails on purpose" in done.stderr
    assert time.perf_counter() - started < 30


@needs_mpi
def test_tinygraph_train_under_mpiexec_logs_and_saves_on_rank_0_only(tmp_path):
    checkpoint = tmp_path / "mlp.npz"
    done = mpiexec(2, "-m", "tinygraph.train", "--model", "mlp", "--epochs", "1", "--out", str(checkpoint))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test accuracy:") == 1 and done.stdout.count("epoch   1/1") == 1
    assert "2 processes" in done.stdout
    assert tg.load(str(checkpoint))["epoch"] == 1


@needs_mpi
def test_tinygraph_train_stops_every_rank_when_rank_0_fails(tmp_path):
    # rank 0 cannot write its checkpoint; the other rank would wait for it in the first allreduce
    done = mpiexec(2, "-m", "tinygraph.train", "--model", "mlp", "--epochs", "1", "--out", "/proc/none/mlp.npz")
    assert done.returncode != 0
    assert done.stderr.count("tinygraph-train: error:") == 1 and "cannot be written" in done.stderr


def test_importing_tinygraph_does_not_import_mpi4py():
    code = "import sys, tinygraph, tinygraph.distributed; assert 'mpi4py' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=TIMEOUT)


def test_missing_mpi4py_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setattr(dist.comm, "_mpi_module", None)
    monkeypatch.setitem(sys.modules, "mpi4py", None)        # import mpi4py now raises ImportError
    assert not dist.is_available()
    with pytest.raises(dist.DistributedUnavailableError, match=r"pip install 'tinygraph\[dist\]'") as error:
        dist.init()
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("n, drop_last", [(1, False), (3, False), (3, True), (4, False)])
def test_sampler_shards_are_disjoint_and_cover_the_data(n, drop_last):
    dataset = list(range(10))
    shards = [dist.DistributedSampler(dataset, num_replicas=n, rank=r, seed=3, drop_last=drop_last) for r in range(n)]
    for sampler in shards:
        sampler.set_epoch(2)
    drawn = [list(sampler) for sampler in shards]
    assert all(len(d) == len(s) for d, s in zip(drawn, shards))
    assert len({len(d) for d in drawn}) == 1                 # every rank the same number of batches
    flat = sum(drawn, [])
    if drop_last:
        assert len(set(flat)) == len(flat) == 9
    else:
        assert set(flat) == set(dataset) and len(flat) == n * -(-10 // n)
    shards[0].set_epoch(3)
    assert list(shards[0]) != drawn[0]                       # a new order each epoch


def test_sampler_feeds_a_dataloader():
    dataset = tg.data.TensorDataset(np.arange(12.0)[:, None], np.arange(12))
    sampler = dist.DistributedSampler(dataset, num_replicas=2, rank=1, shuffle=False)
    batches = [labels.data.tolist() for _, labels in tg.data.DataLoader(dataset, batch_size=4, sampler=sampler)]
    assert batches == [[1, 3, 5, 7], [9, 11]]


@needs_mpi
def test_the_timeline_drawing_shows_allreduces_launched_while_backward_runs():
    """Seeing it (issue 22): one box per moment; with a bucket per layer, the first allreduces are
    launched before the first layer's gradients are final."""
    model = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.ReLU(), tg.nn.Linear(8, 8), tg.nn.ReLU(), tg.nn.Linear(8, 2))
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.00005)
    ddp(tg.tensor(np.random.default_rng(0).random((5, 4)).astype(np.float32))).sum().backward()
    source = ddp.draw_timeline().source
    kinds = [e.kind for e in ddp.last_backward_events]
    assert source.count("\ngrad ready\n") == kinds.count("grad ready") == 6
    assert source.count("allreduce launched (backward still running)") >= 1
    assert source.count("->") == len(kinds) - 1
