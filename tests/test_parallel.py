"""Ops split over the batch and run on several threads give the results of one thread."""
import os
import signal
import time

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import parallel as _parallel


def cnn_step(rng_seed=0, odd=False):
    """Forward and backward of the derivation's layers; returns the output and every gradient."""
    rng = np.random.default_rng(rng_seed)
    size = 11 if odd else 12
    x = tg.tensor(rng.standard_normal((7, 3, size, size)).astype(np.float32), requires_grad=True)
    w = tg.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    b = tg.tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    pooled = tg.maxpool(tg.conv2d(x, w, b, padding=1).relu(), 2)
    pooled.backward(rng.standard_normal(pooled.shape).astype(np.float32))
    return pooled.data, x.grad, w.grad, b.grad


@pytest.fixture
def split_everything(monkeypatch):
    """Make every op split its batch into 3 parts, however small the arrays."""
    monkeypatch.setattr(_parallel, "MIN_ELEMENTS_TO_SPLIT", 1)
    monkeypatch.setattr(_parallel, "MIN_ELEMENTS_ONE_BLAS_THREAD", 1)
    monkeypatch.setattr(_parallel, "workers", lambda: 3)
    calls = []
    original = _parallel._pool

    def counting_pool():
        calls.append(1)
        return original()

    monkeypatch.setattr(_parallel, "_pool", counting_pool)
    return calls


class Rows(tg.Op):
    """A stand-in op with one batched input, to drive the machinery's planning directly."""

    name, arg_names, split = "rows", ("x",), _parallel.Split(over="x")


def in_parts(work, batch):
    """work(rows) for each part the machinery makes of `batch` (_split_plan, then _in_parallel)."""
    plan = _parallel._split_plan(Rows, [batch])
    if not isinstance(plan, tuple):
        return [work(slice(None))]
    _, bounds = plan
    return _parallel._in_parallel(lambda i: work(slice(bounds[i], bounds[i + 1])), len(bounds) - 1)


def test_each_part_writes_its_rows_of_the_joined_result(split_everything):
    """A rule's output_array / gradient_array are its part's rows: no part's result is copied."""
    returned = []

    class Doubling(Rows):
        name = "doubling"

        @staticmethod
        def forward(ctx, x):
            out = np.multiply(x, 2, out=_parallel.output_array(x.shape, x.dtype))
            returned.append(out)
            return out

        @staticmethod
        def backward(ctx, grad_out):
            grad = np.multiply(grad_out, 2, out=_parallel.gradient_array(0, grad_out.shape, grad_out.dtype))
            returned.append(grad)
            return (grad,)

    x = np.arange(12.0).reshape(6, 2)
    ctx = tg.Context((True,))
    out = _parallel.run_forward(Doubling, ctx, [x], {})
    assert ctx.parts is not None and len(returned) == 3
    assert all(np.shares_memory(part, out) for part in returned)
    returned.clear()
    (grad,) = _parallel.run_backward(Doubling, ctx, np.ones_like(x))
    assert len(returned) == 3 and all(np.shares_memory(part, grad) for part in returned)
    np.testing.assert_array_equal(out, 2 * x)
    np.testing.assert_array_equal(grad, np.full_like(x, 2))


@pytest.mark.parametrize("odd", [False, True])
def test_split_batch_matches_one_thread(split_everything, odd):
    split = cnn_step(odd=odd)
    assert split_everything, "the parallel path did not run"
    _parallel.MIN_ELEMENTS_TO_SPLIT = 1 << 62           # now one part: the serial path
    serial = cnn_step(odd=odd)
    for a, b in zip(split, serial):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(split[0], serial[0])  # the forward values are the same numbers


def test_split_matmul_matches_one_thread(split_everything):
    rng = np.random.default_rng(1)
    a = tg.tensor(rng.standard_normal((7, 5)).astype(np.float32), requires_grad=True)
    b = tg.tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    grad = rng.standard_normal((7, 3)).astype(np.float32)
    out = a @ b
    out.backward(grad)
    assert split_everything, "the parallel path did not run"
    np.testing.assert_allclose(out.data, a.data @ b.data, rtol=1e-6)
    np.testing.assert_allclose(a.grad, grad @ b.data.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.grad, a.data.T @ grad, rtol=1e-5, atol=1e-6)


def test_parts_cover_the_batch_once_in_order(split_everything):
    seen = in_parts(lambda rows: np.arange(10)[rows].tolist(), np.zeros((10, 4)))
    assert seen == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    assert in_parts(lambda rows: rows, np.zeros(())) == [slice(None)]      # 0-d: no batch axis, one piece


def test_a_second_thread_mid_section_runs_its_parts_in_the_calling_thread(split_everything):
    import threading
    with _parallel._section:        # as if another thread were inside a parallel op
        parts = in_parts(lambda rows: (rows, threading.get_ident()), np.zeros((6, 2)))
    assert [rows for rows, _ in parts] == [slice(0, 2), slice(2, 4), slice(4, 6)]
    assert {thread for _, thread in parts} == {threading.get_ident()}
    assert not split_everything      # no pool was asked for


def test_errors_inside_a_part_reach_the_caller(split_everything):
    def fail(rows):
        raise ValueError(f"bad rows {rows}")

    with pytest.raises(ValueError, match="bad rows"):
        in_parts(fail, np.zeros((6, 2)))
    assert not _parallel._section.locked()


def test_when_the_calling_threads_part_fails_the_other_parts_still_finish_first(split_everything):
    finished = []

    def work(rows):
        if rows.start == 0:
            raise ValueError("first part failed")
        time.sleep(0.05)
        finished.append(rows.start)

    with pytest.raises(ValueError, match="first part failed"):
        in_parts(work, np.zeros((6, 2)))
    assert sorted(finished) == [2, 4]


def test_blas_runs_one_thread_inside_parts_and_is_restored_after(split_everything):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = [lib for lib in threadpoolctl.ThreadpoolController().lib_controllers
            if lib.user_api == "blas" and "numpy" in lib.filepath]         # not torch's copy, if loaded
    if not blas:
        pytest.skip("no BLAS library visible to threadpoolctl")
    before = blas[0].get_num_threads()
    inside = in_parts(lambda rows: blas[0].get_num_threads(), np.zeros((6, 2)))
    assert inside == [1, 1, 1]
    with pytest.raises(ZeroDivisionError):
        in_parts(lambda rows: 1 / 0, np.zeros((6, 2)))
    assert blas[0].get_num_threads() == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_threads(split_everything):
    cnn_step()                                   # the parent's pool now has threads
    pid = os.fork()
    if pid == 0:                                 # child: without a fresh pool this would hang
        signal.alarm(30)
        try:
            cnn_step()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_set_num_threads_bounds_the_parts(monkeypatch):
    monkeypatch.setattr(_parallel, "_workers", None)          # restored after the test
    monkeypatch.setattr(_parallel, "MIN_ELEMENTS_TO_SPLIT", 1)
    monkeypatch.setattr(_parallel, "MIN_ELEMENTS_ONE_BLAS_THREAD", 1)
    tg.set_num_threads(1)
    assert tg.get_num_threads() == 1
    assert in_parts(lambda rows: rows, np.zeros((6, 2))) == [slice(None)]
    tg.set_num_threads(4)
    parts = in_parts(lambda rows: (rows.start, rows.stop), np.zeros((8, 2)))
    assert parts == [(0, 2), (2, 4), (4, 6), (6, 8)]
    with pytest.raises(ValueError, match="set_num_threads: count must be an int >= 1, got 0"):
        tg.set_num_threads(0)


@pytest.mark.parametrize("call,shapes", [
    (lambda x, w: tg.conv2d(x, w, padding=1), [(6, 2, 5, 5), (3, 2, 3, 3)]),
    (lambda x: tg.maxpool(x, 2), [(6, 2, 4, 4)]),
    (lambda x: tg.maxpool(x, 3, stride=2, padding=1), [(6, 2, 5, 5)]),
    (lambda x: tg.avg_pool2d(x, 2), [(6, 2, 4, 4)]),
    (lambda x: tg.avg_pool2d(x, 3, stride=2, padding=1), [(6, 2, 5, 5)]),
    (lambda x: x.relu(), [(6, 5)]),
    (lambda x, w: tg.linear(x, w), [(6, 4), (3, 4)]),
    (lambda a, b: a @ b, [(6, 4), (4, 3)]),
    (lambda x: tg.linear(x, np.linspace(-1, 1, 12).reshape(3, 4)), [(6, 4)]),   # a caller's array, copied once
], ids=["conv2d", "maxpool 2x2", "maxpool windows", "avg_pool2d tiles", "avg_pool2d windows", "relu", "linear",
        "matmul", "linear, constant weight"])
def test_a_split_forward_can_be_differentiated_twice(split_everything, call, shapes):
    """backward(create_graph=True) runs the whole-batch rule on an op whose forward ran in parts."""
    def second_order(parts_expected: bool):
        rng = np.random.default_rng(13)
        inputs = [tg.tensor(rng.standard_normal(shape), requires_grad=True) for shape in shapes]
        out = call(*inputs)
        assert (out.grad_fn.ctx.parts is not None) == parts_expected
        grads = tg.autograd.grad((out * out).sum(), inputs, create_graph=True)
        sum(g.sum() for g in grads).backward()
        return [g.data for g in grads] + [t.grad for t in inputs]

    split = second_order(parts_expected=True)
    _parallel.MIN_ELEMENTS_TO_SPLIT = 1 << 62           # now one part: the serial path
    for a, b in zip(split, second_order(parts_expected=False)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
