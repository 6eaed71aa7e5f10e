"""The Recorder: what the library tells tg.compile while a step is recorded, noted as Instructions.

apply() reports each forward rule it runs, the engine each backward rule, conversion, sum and
leaf accumulation, in-place updates under no_grad their writes, optimizers and gradient clipping
their whole calls. Each report becomes an Instruction: a closure over the op, its context and the
slots it reads and writes. Where an input comes from is a reference: a slot (made by an earlier
instruction or filled from an argument), a live tensor (a parameter, read as it is at replay), or
a constant kept from recording. What a schedule could not replay is refused (`Recorder.refuse`):
recording stops, and the step finishes eagerly.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from tinygraph import metadata
from tinygraph.grad_mode import STATE
from tinygraph.op import _CONSTANT_VERSION, finished_output
from tinygraph.parallel import run_backward, run_forward
from tinygraph.tensor import Tensor

tensor_module = sys.modules["tinygraph.tensor"]      # its hooks (tinygraph.tensor is also a function's name)

# ----------------------------------------------------------------------------- references to arrays
# Where an instruction finds an input array at replay: a slot of the schedule (made by an earlier
# instruction or filled from an argument), a tensor read live (a parameter: `.data` as it is then),
# or a constant kept from recording (a number, or an array made before the step).
class _Live:
    __slots__ = ("tensor",)

    def __init__(self, tensor: Tensor):
        self.tensor = tensor


class _Const:
    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array


def _fetcher(ref) -> Callable:
    if type(ref) is int:
        return lambda vals, s=ref: vals[s]
    if type(ref) is _Live:
        return lambda vals, t=ref.tensor: t.data
    if ref is None:
        return lambda vals: None
    return lambda vals, a=ref.array: a


class Instruction:
    """One kernel call of a schedule: `run(vals)` does it; the rest says what it is, for printing."""
    __slots__ = ("kind", "name", "inputs", "outputs", "run", "shapes", "note", "context")

    def __init__(self, kind: str, name: str, inputs: list, outputs: list, run: Callable, shapes=(), note: str = "",
                 context=None):
        self.kind, self.name, self.inputs, self.outputs, self.run = kind, name, inputs, outputs, run
        self.shapes, self.note, self.context = shapes, note, context


class Recorder:
    """Notes the kernel calls of one eager run of a step (installed as STATE.recorder meanwhile)."""

    def __init__(self, flat_args: list):
        self.instructions: list[Instruction] = []
        self.slot_of: dict[int, int] = {}          # id(array) -> slot
        self.kept: list = []                       # every array given a slot, alive so ids stay unique
        self.slots = 0
        self.arg_fill: list[tuple[int, int, bool]] = []   # (argument position, slot, is a Tensor)
        self.arg_tensors: dict[int, int] = {}      # id(Tensor argument) -> argument position
        self.live: dict[int, tuple[Tensor, np.ndarray]] = {}   # id -> (tensor, its values when first read)
        self.modules: dict[int, tuple[Any, bool]] = {}
        self.made_unknown: dict[int, str] = {}     # id(array) of tensors made in the step outside ops
        self.problem: str | None = None
        self.paused = 0
        for position, value in enumerate(flat_args):
            if isinstance(value, Tensor):
                slot = self._new_slot(value.data)
                self.arg_tensors[id(value)] = position
                self.arg_fill.append((position, slot, True))
            elif isinstance(value, np.ndarray):
                slot = self._new_slot(value)
                self.arg_fill.append((position, slot, False))

    # ------------------------------------------------------------------ slots and references
    def _new_slot(self, array) -> int:
        slot = self.slots
        self.slots += 1
        if array is not None:
            self.slot_of[id(array)] = slot
            self.kept.append(array)
        return slot

    def _output_slot(self, array) -> int | None:
        if array is None:
            return None
        slot = self.slot_of.get(id(array))
        return self._new_slot(array) if slot is None else slot

    def ref(self, value: Any):
        """The reference an instruction will read `value` (a Tensor, array, number or None) through."""
        if value is None:
            return None
        if isinstance(value, Tensor):
            array = value.data
            slot = self.slot_of.get(id(array))
            if slot is not None:
                return slot
            if id(array) in self.made_unknown:
                self.refuse(f"a tensor made inside the step by {self.made_unknown[id(array)]} (not an op) "
                            "is used by an op; make it outside the step, or pass it as an argument")
                return _Const(array)
            if value._version_counter is _CONSTANT_VERSION:
                return _Const(array)
            if id(value) not in self.live:
                self.live[id(value)] = (value, np.array(array, copy=True))
            return _Live(value)
        if isinstance(value, np.ndarray):
            slot = self.slot_of.get(id(value))
            return slot if slot is not None else _Const(np.array(value, copy=True))
        return _Const(value)

    def refuse(self, reason: str) -> None:
        """The step does something a schedule cannot replay: stop recording, and let it finish eagerly."""
        if self.problem is None:
            self.problem = reason
        _stop_recording()

    def add(self, kind: str, name: str, inputs: list, outputs: list, run: Callable, shapes=(), note: str = "",
            context=None) -> None:
        if self.problem is None:
            self.instructions.append(Instruction(kind, name, inputs, outputs, run, shapes, note, context))

    def _known_value(self, t: Tensor) -> None:
        """Before a recorded write to a live tensor: its values must be those the schedule knows of."""
        entry = self.live.get(id(t))
        if entry is not None and not _same_values(t.data, entry[1]):
            self._untracked(t)

    def _untracked(self, t: Tensor) -> None:
        self.refuse(f"{_tensor_name(t)} changed during the step without an op or optimizer doing it (through "
                    ".data or NumPy), which a replay would not repeat; update it with an in-place op under "
                    "tg.no_grad() or an optimizer")

    def _written(self, t: Tensor) -> None:
        """After a recorded write to a live tensor: what it holds now is what the schedule knows of."""
        if id(t) in self.live:
            self.live[id(t)] = (t, np.array(t.data, copy=True))

    # ------------------------------------------------------------------ what the library reports
    def forward(self, op, ctx, inputs, arrays: list, attrs: dict, data: np.ndarray, half_with_number: bool) -> None:
        """apply() ran `op`'s forward rule (inputs as apply saw them; `data` its final output)."""
        if self.problem is not None:
            return
        refs = [None if a is None else self.ref(t if isinstance(t, Tensor) else a) for t, a in zip(inputs, arrays)]
        fetch = [_fetcher(r) for r in refs]
        attrs_of, attr_slots = self._attributes(op, attrs)
        out = self._output_slot(data)

        def run(vals, op=op, ctx=ctx, fetch=fetch, attrs_of=attrs_of, out=out, half=half_with_number):
            vals[out] = finished_output(run_forward(op, ctx, [f(vals) for f in fetch], attrs_of(vals)), half)
        self.add("forward", op.name, refs + attr_slots, [out], run, (data.shape, data.dtype), context=ctx)

    def _attributes(self, op, attrs: dict) -> tuple[Callable, list]:
        """How a replay finds an op's hyperparameters: as recorded, except the arrays among them that
        the step computed (an index from argmax), which are read from their slots at each replay.
        Returns that function and the slots it reads."""
        dynamic = {}
        for name, value in attrs.items():
            slots = _slot_paths(value, self.slot_of)
            if slots:
                dynamic[name] = slots
            if isinstance(value, np.random.Generator) and not any(
                    value is v for module, _, _ in self.modules.values() for v in vars(module).values()):
                self.refuse(f"{op.name} draws from a generator that is no attribute of a module the step called "
                            "(made in the step, or passed in); a replay would go on drawing from the one it "
                            "recorded with. Give the generator to a module (nn.Dropout(rng=...))")
        if not dynamic:
            return (lambda vals, attrs=attrs: attrs), []

        def current(vals, attrs=attrs, dynamic=dynamic):
            fresh = dict(attrs)
            for name, slots in dynamic.items():
                fresh[name] = _rebuilt(fresh[name], slots, vals)
            return fresh
        return current, sorted(_all_slots(dynamic))

    def pure(self, name: str, fn: Callable, inputs: list, result: Tensor) -> None:
        """A library function computed `result` from `inputs` outside the ops (a comparison, argmax)."""
        if self.problem is not None:
            return
        if self.paused:
            return
        refs = [self.ref(v) for v in inputs]
        fetch = [_fetcher(r) for r in refs]
        out = self._output_slot(result.data)

        def run(vals, fn=fn, fetch=fetch, out=out):
            vals[out] = fn(*[f(vals) for f in fetch])
        self.add("forward", name, refs, [out], run, (result.data.shape, result.data.dtype))

    def seed(self, root: Tensor, grad: Any, seeded: np.ndarray, initial_grad: Callable) -> None:
        if self.problem is not None:
            return
        refs = [self.ref(root), None if grad is None else self.ref(grad)]
        fetch = [_fetcher(r) for r in refs]
        out = self._output_slot(seeded)

        def run(vals, fetch=fetch, out=out):
            vals[out] = initial_grad(Tensor._wrap(fetch[0](vals)), fetch[1](vals))
        self.add("seed", "δ" + (root.name or "out"), refs, [out], run, (seeded.shape, seeded.dtype))

    def backward(self, node, grad_out: np.ndarray, rule_grads: tuple, release: bool) -> None:
        if self.problem is not None:
            return
        refs = [self.slot_of.get(id(grad_out))]
        if refs[0] is None:
            self.refuse(f"{node.op.name}'s backward received a gradient the schedule did not make")
        # A scalar or list the contract converts gets a slot of its own, which the conversion reads.
        outs = [None if g is None else self._output_slot(g) if type(g) is np.ndarray else self._new_slot(g)
                for g in rule_grads]
        op, ctx = node.op, node.ctx
        pairs = [(i, s) for i, s in enumerate(outs) if s is not None]

        def run(vals, op=op, ctx=ctx, g=refs[0], pairs=pairs, release=release):
            grads = run_backward(op, ctx, vals[g])
            for i, s in pairs:
                vals[s] = grads[i]
            if release:
                ctx.release()
        self.add("backward", op.name, refs, outs, run, note="δ of each input", context=ctx)

    def convert(self, node, i: int, before, after: np.ndarray, shape, dtype, check: Callable) -> None:
        if self.problem is not None:
            return
        src = self.slot_of.get(id(before))
        if src is None:
            self.refuse(f"{node.op.name}'s gradient for input {i} was not made by the schedule")
        out = self._output_slot(after)

        def run(vals, src=src, out=out, node=node, i=i, shape=shape, dtype=dtype):
            vals[out] = check(node, i, vals[src], shape, dtype, False)
        self.add("convert", f"{node.op.name} δ{node.op.arg_names[i]}", [src], [out], run, (shape, dtype),
                 "the contract: unbroadcast, cast or make an array")

    def sum_into(self, earlier: np.ndarray, new: np.ndarray) -> None:
        if self.problem is not None:
            return
        a, b = self.slot_of.get(id(earlier)), self.slot_of.get(id(new))
        if a is None or b is None:
            self.refuse("a gradient sum the schedule did not make")

        def run(vals, a=a, b=b):
            np.add(vals[a], vals[b], out=vals[a])
        self.add("add", "+=", [a, b], [a], run, (earlier.shape, earlier.dtype), "in place: a sum this backward made")

    def sum_new(self, earlier: np.ndarray, new: np.ndarray, total: np.ndarray, add: Callable) -> None:
        if self.problem is not None:
            return
        a, b = self.slot_of.get(id(earlier)), self.slot_of.get(id(new))
        if a is None or b is None:
            self.refuse("a gradient sum the schedule did not make")
        out = self._output_slot(total)

        def run(vals, a=a, b=b, out=out):
            vals[out] = add(vals[a], vals[b])
        self.add("add", "+", [a, b], [out], run, (total.shape, total.dtype))

    def leaf(self, leaf: Tensor, grad: np.ndarray, accumulate: Callable) -> None:
        """The engine accumulated `grad` into `leaf.grad` (`leaf._grad = accumulate(leaf._grad, grad)`)."""
        if self.problem is not None:
            return
        src = self.slot_of.get(id(grad))
        if src is None:
            self.refuse(f"the gradient of {leaf._label()} was not made by the schedule")
        position = self.arg_tensors.get(id(leaf))
        out = self._output_slot(leaf._grad_array())
        if position is None:
            target = leaf

            def run(vals, src=src, out=out, target=target):
                target._grad = accumulate(target._grad, vals[src])
                vals[out] = target._grad_array()
        else:
            def run(vals, src=src, out=out, position=position):
                target = vals.args[position]
                target._grad = accumulate(target._grad, vals[src])
                vals[out] = target._grad_array()
        self.add("leaf", f"{_tensor_name(leaf)}.grad", [src], [out], run, (grad.shape, grad.dtype),
                 "accumulates into .grad")

    def write(self, x: Tensor, values: np.ndarray, write: Callable, symbol: str) -> None:
        """An in-place update with no gradient (under no_grad): writes `values` into x's memory, now
        and at every replay."""
        if self.problem is not None:
            write(x, values, symbol)
            return
        self._known_value(x)
        write(x, values, symbol)
        self._written(x)
        src = self.slot_of.get(id(values))
        if src is None:
            src = self.ref(values)
        position = self.arg_tensors.get(id(x))
        slot = self.slot_of.get(id(x.data))
        fetch = _fetcher(src)
        if slot is not None and position is None:
            def run(vals, slot=slot, fetch=fetch, x=x, symbol=symbol):
                np.copyto(vals[slot], fetch(vals), casting="same_kind")
        else:
            if position is None and id(x) not in self.live:
                self.ref(x)                        # a live tensor: its shape and dtype are guarded
                self._written(x)

            def run(vals, fetch=fetch, x=x, position=position, symbol=symbol):
                target = x if position is None else vals.args[position]
                write(target, fetch(vals), symbol)
                target._bump_version()
        self.add("write", symbol, [src], [slot], run, (values.shape, values.dtype), f"into {x._label()}")

    def around(self, name: str, fn: Callable, args: tuple = (), kwargs: dict | None = None, writes=()) -> Any:
        """Run a whole library call now, unrecorded inside, and replay it as it is (optimizer.step(),
        zero_grad(), clip_grad_norm_): it works on arrays the schedule does not hold."""
        kwargs = kwargs or {}
        for t in writes:
            if isinstance(t, Tensor):
                if id(t) in self.arg_tensors:
                    self.refuse(f"{name} updates an argument of the step")
                self.ref(t)
                self._known_value(t)
        self.paused += 1
        STATE.recorder = None
        try:
            result = fn(*args, **kwargs)
        finally:
            self.paused -= 1
            if self.problem is None:
                STATE.recorder = self
        for t in writes:
            if isinstance(t, Tensor):
                self._written(t)
        self._call(name, fn, args, kwargs, result)
        return result

    def replays_call(self, name: str, fn: Callable) -> None:
        """`fn()` ran just now (by the library itself); a replay calls it at this point too."""
        self._call(name, fn, (), {}, None)

    def _call(self, name: str, fn: Callable, args: tuple, kwargs: dict, result: Any) -> None:
        out = None
        if isinstance(result, Tensor):
            out = self._output_slot(result.data)
        elif result is not None:
            self.refuse(f"{name} returns {type(result).__name__}, which a replay cannot give back")

        def run(vals, fn=fn, args=args, kwargs=kwargs, out=out):
            value = fn(*args, **kwargs)
            if out is not None:
                vals[out] = value.data
        self.add("call", name, [], [] if out is None else [out], run)

    def set_grad(self, t: Tensor, value) -> None:
        """The step set `t.grad = value` (None, or a gradient of the schedule's or a constant)."""
        if self.paused:
            return
        ref = None if value is None else self.ref(value)
        fetch = _fetcher(ref)
        position = self.arg_tensors.get(id(t))
        if position is None:
            self.ref(t)

        def run(vals, fetch=fetch, t=t, position=position):
            target = t if position is None else vals.args[position]
            value = fetch(vals)
            target._grad = value if value is None or type(value) is np.ndarray else np.asarray(value)
        self.add("grad", f"{_tensor_name(t)}.grad =", [ref], [], run)

    def read(self, t: Tensor, how: str) -> None:
        """Python read the values of `t` (item(), float(), bool(), numpy()): the step is data-dependent."""
        if self.paused or t._version_counter is _CONSTANT_VERSION:
            return
        self.refuse(f"the step reads a tensor's values into Python ({how} on {t._label()}), and a replay "
                    "would reuse what it read at recording; return the tensor and read it after the call")

    def module_called(self, module) -> None:
        if id(module) not in self.modules:
            self.modules[id(module)] = (module, module.training, _module_state(module))


def _module_state(module) -> tuple:
    """The objects a module's forward reads: its attributes (dropout's p and generator, batch norm's
    momentum), parameters and buffers. Replacing any of them records anew; they are compared by identity."""
    return (*(v for k, v in vars(module).items() if k not in _MODULE_TABLES),
            *module._parameters.values(), *module._buffers.values())


_MODULE_TABLES = ("_parameters", "_buffers", "_modules", "_non_persistent_buffers")


def _slot_paths(value, slot_of: dict):
    """Where the arrays the schedule made lie inside a hyperparameter (an array, or a tuple or list of
    them and other values): {position: slot}, or a slot for the value itself, or None for none."""
    if type(value) is np.ndarray:
        return slot_of.get(id(value))
    if isinstance(value, (tuple, list)):
        found = {i: _slot_paths(v, slot_of) for i, v in enumerate(value)}
        found = {i: s for i, s in found.items() if s is not None}
        return found or None
    return None


def _all_slots(paths) -> set:
    if type(paths) is int:
        return {paths}
    return set().union(*(_all_slots(p) for p in paths.values()))


def _rebuilt(value, slots, vals):
    if type(slots) is int:
        return vals[slots]
    items = list(value)
    for i, inner in slots.items():
        items[i] = _rebuilt(items[i], inner, vals)
    return type(value)(items)


def _tensor_name(t: Tensor) -> str:
    """A tensor's name, or the name nn noted for a parameter, or its shape."""
    name = t.name or metadata.tensor_fact(t, "parameter_name")
    return name if name else f"tensor {tuple(t.shape)}"


def _check_untracked_writes(recorder: Recorder) -> None:
    """A tensor the step read that changed since the schedule last knew its values was changed through NumPy."""
    for t, known in list(recorder.live.values()):
        if not _same_values(t.data, known):
            recorder._untracked(t)
            return


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


# ----------------------------------------------------------------------------- recording on and off
class _Watch:
    """Installs a Recorder where the library tells it what runs, and takes it out again.

    Besides STATE.recorder and tensor.py's hooks, three of Tensor's attributes are replaced while
    recording (and only then, so eager mode pays nothing): `_wrap`, to note tensors made by library
    code outside the ops (the factories' are constants a replay may keep; anything else, found
    unknown if an op uses it, makes the step run eagerly); `__init__`, so that tg.tensor(x) of a
    value of the step is made again at each replay; and `data`, so that Python reading a tensor's
    array outside tinygraph (`x.data > 0`) is seen."""

    def __init__(self):
        self.original = Tensor.__dict__["_wrap"]
        self.original_init = Tensor.__dict__["__init__"]
        self.original_data = Tensor.__dict__["data"]      # the slot's own descriptor

    def start(self, recorder: Recorder) -> None:
        STATE.recorder = recorder
        tensor_module.value_read = recorder.read
        tensor_module.computed = recorder.pure
        tensor_module.grad_assigned = recorder.set_grad
        original_wrap = self.original.__func__

        def _wrap(cls, array, version_counter=None):
            t = original_wrap(cls, array, version_counter)
            if not recorder.paused and id(array) not in recorder.slot_of:
                module = sys._getframe(1).f_globals.get("__name__", "")
                if module not in _TRUSTED_MAKERS:
                    recorder.made_unknown[id(array)] = f"{module}.{sys._getframe(1).f_code.co_name}"
                    recorder.kept.append(array)
            return t
        Tensor._wrap = classmethod(_wrap)
        original_init = self.original_init

        def __init__(t, data, *args, **kwargs):
            original_init(t, data, *args, **kwargs)
            # tg.tensor(x) of a tensor, of an argument or of a value the step computed: a copy, made at
            # each replay from what x holds then (of a Python value or another array: a constant)
            if not recorder.paused and (isinstance(data, Tensor) or
                                        (type(data) is np.ndarray and id(data) in recorder.slot_of)):
                recorder.pure("tensor", lambda a, dtype=t.data.dtype: np.array(a, dtype=dtype, copy=True), [data], t)
        Tensor.__init__ = __init__
        slot = self.original_data

        def read_data(t):
            # `.data` read by code outside tinygraph (the step, the user's own module): values that
            # leave the graph for Python, which a replay would not read again
            value = slot.__get__(t, Tensor)
            if not recorder.paused:
                module = sys._getframe(1).f_globals.get("__name__", "")
                if not module.startswith("tinygraph") or module in _COMPUTE_IN_PYTHON:
                    recorder.read(t, ".data" if not module.startswith("tinygraph") else f".data, read by {module}")
            return value
        Tensor.data = property(read_data, slot.__set__, doc=slot.__doc__)

    def stop(self) -> None:
        Tensor.data = self.original_data
        Tensor._wrap = self.original
        Tensor.__init__ = self.original_init
        STATE.recorder = None
        tensor_module.value_read = tensor_module.computed = tensor_module.grad_assigned = None


_WATCH = _Watch()


def _stop_recording() -> None:
    _WATCH.stop()


# Modules whose Tensor._wrap calls make either op outputs (slots) or constants a replay may keep.
# Library modules that compute some results in Python from a tensor's values (integer casts, masks of
# the smooth losses, max_pool's indices): a step that runs such a path runs eagerly.
_COMPUTE_IN_PYTHON = {"tinygraph.functional", "tinygraph.tensor_api"}
_TRUSTED_MAKERS = {"tinygraph.op", "tinygraph.engine", "tinygraph.recorded_backward", "tinygraph.factories",
                   "tinygraph.tensor", "tinygraph.compile.recorder", "tinygraph.compile.schedule",
                   "tinygraph.ops._in_place"}
