"""tg.compile: record a training step once, then replay its kernels with no graph-building work.

    step = tg.compile(train_step)         # or @tg.compile above the def
    for x, y in batches:
        loss = step(x, y)                 # first call: eager and recorded; later calls: replayed

The first call runs `train_step` eagerly while a `Recorder` notes, in order, every kernel call it
makes: each op's forward rule (`run_forward`), each backward rule the engine runs, each gradient the
engine converts or adds, each leaf's accumulation into `.grad`, the end of the step's buffer
recycling, and the optimizer's `zero_grad()` / `step()` and gradient clipping as whole calls.
That list is a `Schedule`: numbered array slots and the instructions that fill them. A later call
whose guards hold (`Guards`: argument shapes, dtypes and requires_grad, grad mode, every module's
train/eval mode, the shapes, dtypes and requires_grad of the parameters the step read) replays the
schedule: the same functions on the same kinds of arrays in the same order, so its results are
bitwise those of the eager step, without a Tensor, Node, engine sweep or argument parsing. A call
that breaks a guard records a new schedule (kept beside the old ones, up to `MAX_SCHEDULES`).

What a schedule cannot see is refused at recording, and that step then always runs eagerly, with
one warning saying why: Python reading a value computed in the step (`loss.item()`, `float(t)`,
`if t > 0:`, `np.asarray(t)`), random numbers drawn in Python (`tg.randn`; dropout's own draws are
replayed), hooks and profiling, higher-order backward, recorded in-place updates of tensors that
need grad, a tensor whose values the step changed through NumPy (`p.data -= ...`), or a tensor
made inside the step by anything but an op. Python control flow runs once, at recording: a
branch on a Python value that changes between calls must be an argument (guarded by value).
"""
from __future__ import annotations

import functools
import warnings
from typing import Callable

from tinygraph.compile.recorder import _WATCH, Recorder, _check_untracked_writes, _module_state, _stop_recording
from tinygraph.compile.schedule import Schedule, _flatten, _guard_of, _result_template
from tinygraph.grad_mode import STATE

MAX_SCHEDULES = 8

# ----------------------------------------------------------------------------- tg.compile
class CompiledStep:
    """A step function with its schedules: call it as the function. See the module docstring."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.name = getattr(fn, "__qualname__", repr(fn))
        functools.update_wrapper(self, fn)
        self.schedules: list[Schedule] = []
        self.eager_keys: dict[tuple, str] = {}     # guard key -> why that call shape runs eagerly
        self.schedule: Schedule | None = None      # the one the last call replayed or recorded
        self.records = 0
        self.eager_calls = 0
        self.last_miss: str | None = None

    def __call__(self, *args, **kwargs):
        flat: list = []
        _flatten((args, kwargs), flat)
        key = (STATE.grad_enabled, tuple(_guard_of(v) for v in flat), _aliases(flat))
        # Inside another recording, in forward mode (a replay would carry no tangents), or while
        # something watches the ops (profile, hooks, a trace, detect_anomaly): eagerly.
        if key in self.eager_keys or STATE.recorder is not None or _watched():
            self.eager_calls += 1
            return self.fn(*args, **kwargs)
        for schedule in self.schedules:
            if schedule.guards[0] == key and _broken_state(schedule.guards[1]) is None:
                self.schedule = schedule
                return schedule.run(flat)
        if self.schedules:
            self.last_miss = _why_missed(self.schedules[-1].guards, key)
        if len(self.schedules) >= MAX_SCHEDULES:
            self.eager_keys[key] = f"more than {MAX_SCHEDULES} schedules"
            warnings.warn(f"tg.compile: {self.name} has {MAX_SCHEDULES} schedules already; calls of new shapes "
                          "run eagerly", stacklevel=2)
            self.eager_calls += 1
            return self.fn(*args, **kwargs)
        return self._record(args, kwargs, flat, key)

    def _record(self, args, kwargs, flat, key):
        recorder = Recorder(flat)
        _WATCH.start(recorder)
        try:
            result = self.fn(*args, **kwargs)
            returned: set = set()
            if recorder.problem is None:
                template = _result_template(result, recorder, flat, returned)
            if recorder.problem is None:
                _check_untracked_writes(recorder)
        finally:
            _stop_recording()
        self.records += 1
        if recorder.problem is not None:
            self.eager_keys[key] = recorder.problem
            warnings.warn(f"tg.compile: {self.name} runs eagerly: {recorder.problem}", stacklevel=3)
            return result
        guards = (key, _state_guards(recorder))
        schedule = Schedule(self.name, recorder, guards, template, returned)
        self.schedules.append(schedule)
        self.schedule = schedule
        return result

    def reset(self) -> None:
        """Forget every schedule: the next call records anew."""
        self.schedules.clear()
        self.eager_keys.clear()
        self.schedule = None

    def __repr__(self) -> str:
        return (f"<tg.compile of {self.name}: {len(self.schedules)} schedules, {self.records} recordings, "
                f"{sum(s.replays for s in self.schedules)} replays, {self.eager_calls} eager calls>")


def compile(fn: Callable | None = None):
    """Record `fn` (a training step: forward, backward, optimizer update) once, replay it afterwards.

    Usable as `step = tg.compile(train_step)` or as `@tg.compile`. See tinygraph/compile/__init__.py's docstring
    for what is guarded and what makes a step run eagerly instead.
    """
    if fn is None:
        return compile
    if isinstance(fn, CompiledStep):
        return fn
    if not callable(fn):
        raise TypeError(f"tg.compile: expected a function, got {type(fn).__name__}")
    return CompiledStep(fn)


# ----------------------------------------------------------------------------- guards
def _state_guards(recorder: Recorder) -> tuple:
    """What the schedule assumed beyond its arguments: every module's mode, every live tensor's kind."""
    modules = tuple(recorder.modules.values())
    tensors = tuple((t, t.data.shape, t.data.dtype, t.requires_grad) for t, _ in recorder.live.values())
    return modules, tensors


def _broken_state(guards: tuple) -> str | None:
    """What no longer holds of `_state_guards`' assumptions (None: every one does)."""
    modules, tensors = guards
    for module, training, state in modules:
        if module.training is not training:
            return f"{type(module).__name__} switched to {'train' if module.training else 'eval'} mode"
        if not _same_objects(_module_state(module), state):
            return f"{type(module).__name__} has other attributes, parameters or buffers than at recording (replaced since)"
    for t, shape, dtype, requires_grad in tensors:
        data = t.data
        if data.shape != shape or data.dtype != dtype or t.requires_grad is not requires_grad:
            return f"{t._label()} changed shape, dtype or requires_grad"
    return None


def _same_objects(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _watched() -> bool:
    """Whether anything would miss the ops a replay runs without apply() or the engine."""
    return (STATE.dual is not None or STATE.forward_timer is not None or STATE.backward_timer is not None
            or bool(STATE.forward_hooks) or bool(STATE.backward_hooks) or STATE.detect_anomaly)


def _aliases(flat: list) -> tuple:
    """For each tensor or array argument passed twice (step(x, x)), the position it was first passed at:
    a schedule recorded with one object in two places reads both from one slot."""
    seen: dict[int, int] = {}
    found = []
    for position, value in enumerate(flat):
        if hasattr(value, "shape"):
            first = seen.setdefault(id(value), position)
            if first != position:
                found.append((position, first))
    return tuple(found)


def _why_missed(guards: tuple, key: tuple) -> str:
    old_key = guards[0]
    if old_key[0] != key[0]:
        return "grad mode changed"
    for i, (a, b) in enumerate(zip(old_key[1], key[1])):
        if a != b:
            return f"argument {i}: {a} -> {b}"
    if len(old_key[1]) != len(key[1]):
        return "a different number of arguments"
    if old_key[2] != key[2]:
        return "an argument passed twice then, not now (or the other way round)"
    return _broken_state(guards[1]) or "unknown"
