"""tg.profile(): where a training step spends its time, op by op, forward and backward.

    with tg.profile() as prof:
        loss = model(x).softmax_xent(y)
        loss.backward()
    # on exit a table is printed: one row per op, sorted by total time
    prof.stats["conv2d"].backward_seconds

Forward time is measured around each op's `forward` inside `apply`; backward time around each
rule the engine runs (the op's `backward`, its contract checks and any broadcasting it undoes).
Time outside both — building Tensors, ordering the graph, Python between ops — shows as "outside
op rules" in the footer. When no profile is active, the hooks cost one `is None` test per op.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable, TextIO

from tinygraph.grad_mode import STATE


@dataclass
class OpStats:
    """Call counts and accumulated seconds of one op inside a profile."""

    forward_calls: int = 0
    forward_seconds: float = 0.0
    backward_calls: int = 0
    backward_seconds: float = 0.0

    @property
    def total_seconds(self) -> float:
        return self.forward_seconds + self.backward_seconds


class Profile:
    """The result of a `profile()` block: `stats` by op name, `wall_seconds`, and `table()`."""

    def __init__(self) -> None:
        self.stats: dict[str, OpStats] = {}
        self.wall_seconds = 0.0

    def _entry(self, op) -> OpStats:
        entry = self.stats.get(op.name)
        if entry is None:
            entry = self.stats[op.name] = OpStats()
        return entry

    def record_forward(self, op, seconds: float) -> None:
        entry = self._entry(op)
        entry.forward_calls += 1
        entry.forward_seconds += seconds

    def record_backward(self, op, seconds: float) -> None:
        entry = self._entry(op)
        entry.backward_calls += 1
        entry.backward_seconds += seconds

    @property
    def op_seconds(self) -> float:
        """Time spent inside op rules, forward and backward, summed over every op."""
        return sum(s.total_seconds for s in self.stats.values())

    def table(self) -> str:
        """One row per op, slowest first: calls, total milliseconds and microseconds per call."""
        header = (f"{'op':<16}{'fwd calls':>10}{'fwd ms':>10}{'fwd µs/call':>13}"
                  f"{'bwd calls':>11}{'bwd ms':>10}{'bwd µs/call':>13}{'total ms':>10}{'%':>7}")
        lines = [header, "-" * len(header)]
        op_total = self.op_seconds
        for name, s in sorted(self.stats.items(), key=lambda item: -item[1].total_seconds):
            share = 100.0 * s.total_seconds / op_total if op_total else 0.0
            lines.append(f"{name:<16}{s.forward_calls:>10}{s.forward_seconds * 1e3:>10.3f}"
                         f"{_per_call(s.forward_seconds, s.forward_calls):>13}"
                         f"{s.backward_calls:>11}{s.backward_seconds * 1e3:>10.3f}"
                         f"{_per_call(s.backward_seconds, s.backward_calls):>13}"
                         f"{s.total_seconds * 1e3:>10.3f}{share:>7.1f}")
        lines.append("-" * len(header))
        outside = max(self.wall_seconds - op_total, 0.0)
        lines.append(f"wall {self.wall_seconds * 1e3:.3f} ms = op rules {op_total * 1e3:.3f} ms "
                     f"+ outside op rules {outside * 1e3:.3f} ms (engine bookkeeping, Python between ops)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


class profile:  # noqa: N801  (used as a function: `with tg.profile():`)
    """Context manager that times every op's forward and backward inside the block.

    On exit it prints `Profile.table()` to `file` (stdout by default) unless `print_table=False`.
    `as prof` gives the `Profile`, whose `stats` maps op name to `OpStats`. Profiles may nest:
    an inner block's ops are counted by the outer one too.
    """

    def __init__(self, print_table: bool = True, file: TextIO | None = None) -> None:
        self.result = Profile()
        self.print_table = print_table
        self.file = file
        self._previous: tuple[Callable | None, Callable | None] = (None, None)
        self._start = 0.0

    def __enter__(self) -> Profile:
        self._previous = (STATE.forward_timer, STATE.backward_timer)
        STATE.forward_timer = _chain(self.result.record_forward, STATE.forward_timer)
        STATE.backward_timer = _chain(self.result.record_backward, STATE.backward_timer)
        self._start = time.perf_counter()
        return self.result

    def __exit__(self, *exc_info) -> None:
        self.result.wall_seconds = time.perf_counter() - self._start
        STATE.forward_timer, STATE.backward_timer = self._previous
        if self.print_table and exc_info[0] is None:
            print(self.result.table(), file=self.file or sys.stdout)


def _chain(record: Callable, outer: Callable | None) -> Callable:
    """A timer that records into this profile and then into an enclosing one (profiles may nest)."""
    if outer is None:
        return record

    def both(op, seconds):
        record(op, seconds)
        outer(op, seconds)
    return both


def _per_call(seconds: float, calls: int) -> str:
    return f"{seconds / calls * 1e6:.1f}" if calls else "-"
