"""tg.profile(): per-op forward/backward call counts and times, printed as a table."""
import io
import time

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.grad_mode import STATE


def small_step():
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    w = tg.tensor(rng.standard_normal((3, 5)).astype(np.float32), requires_grad=True)
    hidden = (x @ w).relu()
    loss = (hidden * hidden).sum()   # matmul, relu, mul, sum: one call each, forward and backward
    loss.backward()
    return w


def test_counts_every_forward_and_backward_call_per_op():
    with tg.profile(print_table=False) as prof:
        small_step()
    assert set(prof.stats) == {"matmul", "relu", "mul", "sum"}
    for name, stats in prof.stats.items():
        assert (stats.forward_calls, stats.backward_calls) == (1, 1), name
        assert stats.forward_seconds > 0 and stats.backward_seconds > 0
    assert 0 < prof.op_seconds <= prof.wall_seconds


def test_forward_only_ops_and_no_grad_have_no_backward_calls():
    x = tg.tensor(np.ones(3), requires_grad=True)
    with tg.profile(print_table=False) as prof:
        with tg.no_grad():
            x * 2.0
        (x + 1.0).exp()
    assert prof.stats["mul"].backward_calls == 0 and prof.stats["mul"].forward_calls == 1
    assert prof.stats["exp"].forward_calls == 1 and prof.stats["exp"].backward_calls == 0


def test_slow_op_is_attributed_to_its_own_row_and_direction():
    class Sleepy(tg.Op):
        @staticmethod
        def forward(ctx, x):
            time.sleep(0.02)
            return x * 1.0

        @staticmethod
        def backward(ctx, grad_out):
            time.sleep(0.04)
            return (grad_out,)

    tg.register_op("sleepy_profiled")(Sleepy)
    try:
        x = tg.tensor(np.ones(2), requires_grad=True)
        with tg.profile(print_table=False) as prof:
            tg.sleepy_profiled(x).sum().backward()
    finally:
        tg.unregister_op("sleepy_profiled")
    sleepy = prof.stats["sleepy_profiled"]
    assert 0.02 <= sleepy.forward_seconds < 0.2
    assert 0.04 <= sleepy.backward_seconds < 0.2
    assert prof.stats["sum"].total_seconds < 0.02          # the sleep is not charged to its neighbour
    table = prof.table()
    first_row = table.splitlines()[2]
    assert first_row.startswith("sleepy_profiled")          # slowest op first


def test_table_is_printed_on_exit_with_one_row_per_op():
    out = io.StringIO()
    with tg.profile(file=out):
        small_step()
    text = out.getvalue()
    lines = text.splitlines()
    assert "fwd calls" in lines[0] and "bwd µs/call" in lines[0]
    rows = [line.split()[0] for line in lines[2:-2]]
    assert sorted(rows) == ["matmul", "mul", "relu", "sum"]
    assert lines[-1].startswith("wall ")


def test_hooks_are_removed_on_exit_even_after_an_error_and_profiles_nest():
    with pytest.raises(ValueError):
        with tg.profile(print_table=False):
            raise ValueError("boom")
    assert STATE.forward_timer is None and STATE.backward_timer is None
    with tg.profile(print_table=False) as outer:
        small_step()
        with tg.profile(print_table=False) as inner:
            small_step()
    assert inner.stats["relu"].forward_calls == 1
    assert outer.stats["relu"].forward_calls == 2 and outer.stats["relu"].backward_calls == 2
    assert STATE.forward_timer is None and STATE.backward_timer is None


def test_gradients_are_unchanged_by_profiling():
    plain = small_step().grad
    with tg.profile(print_table=False):
        profiled = small_step().grad
    np.testing.assert_array_equal(plain, profiled)


def test_errors_inside_a_profile_name_the_op_as_they_do_outside():
    with tg.profile(print_table=False):
        with pytest.raises(tg.OpError, match=r"add: cannot broadcast a of shape \(2, 3\) and b of shape \(2, 4\)"):
            tg.tensor(np.ones((2, 3))) + np.ones((2, 4))
