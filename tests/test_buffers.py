"""The buffer pool (tinygraph/buffers.py): a large array's memory is reused only once nothing uses it.

What a caller relies on: an array it holds is never overwritten by a later step, the pool does not
grow step after step, it lets go of what a step no longer needs, and training gives the same numbers
with and without reuse. How many page faults that saves is the benchmark's business.
"""
import threading

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import buffers

LARGE = (256, 512)            # 512 kB in float32: above buffers.MIN_BYTES


@pytest.fixture(autouse=True)
def fresh_pool():
    buffers.clear()
    buffers.set_reuse(True)
    yield
    buffers.set_reuse(True)
    buffers.clear()


def test_a_buffer_is_handed_out_again_only_once_no_array_uses_it():
    first = buffers.empty(LARGE, np.float32)
    view = first[3:, ::2]                     # a view keeps the memory in use
    del first
    second = buffers.empty(LARGE, np.float32)
    assert not np.shares_memory(second, view)
    address = view.base.ctypes.data
    del view
    third = buffers.empty(LARGE, np.float32)
    assert third.ctypes.data == address       # now free: reused


def test_small_arrays_are_plain_numpy_arrays():
    small = buffers.empty((4, 4), np.float64)
    assert small.base is None and small.shape == (4, 4) and small.dtype == np.float64
    assert buffers.pooled_bytes() == (0, 0)


def test_shapes_and_dtypes_of_one_size_share_buffers_and_come_out_right():
    a = buffers.empty(LARGE, np.float32)
    address = a.ctypes.data
    del a
    b = buffers.empty((LARGE[0] * LARGE[1] * 4,), np.bool_)
    assert b.ctypes.data == address and b.shape == (LARGE[0] * LARGE[1] * 4,) and b.dtype == np.bool_
    assert b.flags.c_contiguous and b.flags.writeable


def test_zeros_is_cleared_even_when_reused():
    a = buffers.empty(LARGE, np.float32)
    a.fill(7)
    del a
    assert not buffers.zeros(LARGE, np.float32).any()


def test_end_step_lets_go_of_free_buffers_the_step_did_not_use():
    kept = buffers.empty(LARGE, np.float32)
    dropped = buffers.empty((512, 512), np.float32)
    del dropped
    buffers.end_step()                        # both were handed out in this step: both stay
    assert buffers.pooled_bytes() == (LARGE[0] * LARGE[1] * 4, 512 * 512 * 4)
    buffers.end_step()                        # the free one was not used in the step that ended
    assert buffers.pooled_bytes() == (LARGE[0] * LARGE[1] * 4, 0)
    del kept
    buffers.end_step()
    assert buffers.pooled_bytes() == (0, 0)


def test_threads_never_share_a_buffer():
    results = [None] * 8

    def take(i):
        results[i] = buffers.empty(LARGE, np.float32)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    addresses = {r.ctypes.data for r in results}
    assert len(addresses) == 8


def cnn_step(params, x, y):
    w, b, u = params
    hidden = tg.maxpool(tg.conv2d(x, w, b).relu(), 2).flatten(1)
    loss = tg.softmax_xent(hidden @ u, y)
    loss.backward()
    return loss, hidden


def make_cnn(seed=0):
    rng = np.random.default_rng(seed)
    x = tg.tensor(rng.standard_normal((64, 3, 20, 20)).astype(np.float32))
    y = rng.integers(0, 10, 64)
    params = [tg.tensor(rng.standard_normal(shape).astype(np.float32) * 0.1, requires_grad=True)
              for shape in ((16, 3, 5, 5), (16,), (16 * 8 * 8, 10))]
    return params, x, y


def train(steps, reuse):
    buffers.set_reuse(reuse)
    params, x, y = make_cnn()
    losses, hiddens = [], []
    for _ in range(steps):
        loss, hidden = cnn_step(params, x, y)
        losses.append(loss)
        hiddens.append((hidden, hidden.data.copy()))
        with tg.no_grad():
            for p in params:
                p -= 0.1 * p.grad
                p.grad = None
    return losses, hiddens, params


def test_training_gives_the_same_numbers_with_and_without_reuse_and_held_arrays_stay_intact():
    losses, hiddens, params = train(4, reuse=True)
    plain_losses, _, plain_params = train(4, reuse=False)
    assert [loss.item() for loss in losses] == [loss.item() for loss in plain_losses]
    for p, q in zip(params, plain_params):
        np.testing.assert_array_equal(p.data, q.data)
    for hidden, values in hiddens:            # activations the caller kept were never written over
        np.testing.assert_array_equal(hidden.data, values)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_pool_does_not_grow_step_after_step(threads):
    # With two threads, which part of a split op writes into the joined output and which copies its
    # rows depends on timing, so a step may hold one buffer more or less than the last.
    before = tg.get_num_threads()
    tg.set_num_threads(threads)
    try:
        params, x, y = make_cnn()
        sizes = []
        for _ in range(12):
            cnn_step(params, x, y)
            for p in params:
                p.grad = None
            sizes.append(sum(buffers.pooled_bytes()))
    finally:
        tg.set_num_threads(before)
    assert sizes[2] > 0
    if threads == 1:
        assert sizes[-1] == sizes[2]
    else:
        assert max(sizes[6:]) <= 2 * max(sizes[:6])


def test_a_loop_that_never_calls_backward_and_keeps_changing_shapes_stays_bounded(monkeypatch):
    monkeypatch.setattr(buffers, "MAX_FREE_BYTES", 4 << 20)
    for rows in range(128, 128 + 40 * 32, 32):    # 40 sizes from 256 kB up, 64 kB apart: none reused
        buffers.empty((rows, 512), np.float32)
    used, free = buffers.pooled_bytes()
    assert used == 0 and free <= (4 << 20) + (3 << 20)   # the cap, and the last buffer made past it
