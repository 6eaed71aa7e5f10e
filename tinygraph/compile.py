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
import sys
import warnings
from typing import Any, Callable

import numpy as np

from tinygraph.grad_mode import STATE
from tinygraph.parallel import run_backward, run_forward
from tinygraph import metadata
from tinygraph.tensor import Tensor

tensor_module = sys.modules["tinygraph.tensor"]      # (tinygraph.tensor is also the name of a function)

MAX_SCHEDULES = 8


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

    def __init__(self, kind: str, name: str, inputs: list, outputs: list, run: Callable, shapes=(), note: str = ""):
        self.kind, self.name, self.inputs, self.outputs, self.run = kind, name, inputs, outputs, run
        self.shapes, self.note, self.context = shapes, note, None


class Recorder:
    """Notes the kernel calls of one eager run of a step (installed as STATE.recorder meanwhile)."""

    def __init__(self, flat_args: list):
        self.instructions: list[Instruction] = []
        self.slot_of: dict[int, int] = {}          # id(array) -> slot
        self.kept: list = []                       # every array given a slot, alive so ids stay unique
        self.slots = 0
        self.arg_slots: dict[int, int] = {}        # id(Tensor or ndarray argument) -> slot
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
                self.arg_slots[id(value)] = slot
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
            if value._version_counter is _constant_version():
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

    def add(self, kind: str, name: str, inputs: list, outputs: list, run: Callable, shapes=(), note: str = "") -> None:
        if self.problem is None:
            self.instructions.append(Instruction(kind, name, inputs, outputs, run, shapes, note))

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
        out = self._output_slot(data)

        def run(vals, op=op, ctx=ctx, fetch=fetch, attrs=attrs, out=out, half=half_with_number):
            result = run_forward(op, ctx, [f(vals) for f in fetch], attrs)
            if type(result) is not np.ndarray:
                result = np.asarray(result)
            if half and result.dtype == np.float32:
                with np.errstate(over="ignore"):
                    result = result.astype(np.float16)
            vals[out] = result
        self.add("forward", op.name, refs, [out], run, (data.shape, data.dtype))
        self.instructions[-1].context = ctx

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

        def run(vals, fetch=fetch, out=out, root=root):
            value, given = fetch[0](vals), fetch[1](vals)
            vals[out] = np.ones_like(value) if given is None else np.asarray(given, dtype=value.dtype)
        self.add("seed", "δ" + (root.name or "out"), refs, [out], run, (seeded.shape, seeded.dtype))

    def backward(self, node, grad_out: np.ndarray, rule_grads: tuple, release: bool) -> None:
        if self.problem is not None:
            return
        refs = [self.slot_of.get(id(grad_out))]
        if refs[0] is None:
            self.refuse(f"{node.op.name}'s backward received a gradient the schedule did not make")
        outs = [None if g is None or type(g) is not np.ndarray else self._output_slot(g) for g in rule_grads]
        if any(g is not None and type(g) is not np.ndarray for g in rule_grads):
            # A scalar or list the contract converts: kept as an output the conversion reads.
            outs = [self._keep_any(g) if g is not None and type(g) is not np.ndarray else o
                    for g, o in zip(rule_grads, outs)]
        op, ctx = node.op, node.ctx
        pairs = [(i, s) for i, s in enumerate(outs) if s is not None]

        def run(vals, op=op, ctx=ctx, g=refs[0], pairs=pairs, release=release):
            grads = run_backward(op, ctx, vals[g])
            for i, s in pairs:
                vals[s] = grads[i]
            if release:
                ctx.release()
        self.add("backward", op.name, refs, outs, run, note="δ of each input")
        if self.instructions:
            self.instructions[-1].context = ctx

    def _keep_any(self, value) -> int:
        slot = self.slots
        self.slots += 1
        self.slot_of[id(value)] = slot
        self.kept.append(value)
        return slot

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
        if self.paused or t._version_counter is _constant_version():
            return
        self.refuse(f"the step reads a tensor's values into Python ({how} on {t._label()}), and a replay "
                    "would reuse what it read at recording; return the tensor and read it after the call")

    def module_called(self, module) -> None:
        if id(module) not in self.modules:
            self.modules[id(module)] = (module, module.training, _module_state(module))


def _constant_version():
    from tinygraph.op import _CONSTANT_VERSION
    return _CONSTANT_VERSION


# ----------------------------------------------------------------------------- the schedule
class _Values(list):
    """The slots of one replay, and the call's arguments (for leaves and writes that are arguments)."""
    __slots__ = ("args",)


class Schedule:
    """What one recording made: instructions over numbered slots, guards, and how to give back results."""

    def __init__(self, name: str, recorder: Recorder, guards: tuple, result_template, returned_slots: set):
        self.name = name
        self.instructions = recorder.instructions
        self.slots = recorder.slots
        self.arg_fill = recorder.arg_fill
        self.guards = guards
        self.result_template = result_template
        self.replays = 0
        # Free each slot after its last reader (not the returned ones), so a replay holds no more than eager.
        last: dict[int, int] = {}
        for k, ins in enumerate(self.instructions):
            for s in list(ins.inputs) + list(ins.outputs):
                if type(s) is int:
                    last[s] = k
        frees: list[list[int]] = [[] for _ in self.instructions]
        for s, k in last.items():
            if s not in returned_slots:
                frees[k].append(s)
        self.frees = [tuple(sorted(f)) for f in frees]
        # A forward rule whose saved values no backward rule of the schedule reads (no_grad, eval)
        # lets go of them at once, as eager mode drops the context with its unrecorded op.
        read_back = {id(ins.context) for ins in self.instructions if ins.kind == "backward"}
        self.program = [(_releasing(ins.run, ins.context) if ins.kind == "forward" and ins.context is not None
                         and id(ins.context) not in read_back else ins.run, f)
                        for ins, f in zip(self.instructions, self.frees)]

    def run(self, flat_args: list):
        vals = _Values([None] * self.slots)
        vals.args = flat_args
        for position, slot, is_tensor in self.arg_fill:
            value = flat_args[position]
            vals[slot] = value.data if is_tensor else value
        for run, frees in self.program:
            run(vals)
            for s in frees:
                vals[s] = None
        self.replays += 1
        return _rebuild(self.result_template, vals, flat_args)

    def __len__(self) -> int:
        return len(self.instructions)

    def __str__(self) -> str:
        lines = [f"schedule of {self.name}: {len(self.instructions)} kernel calls over {self.slots} slots, "
                 f"replayed {self.replays} times; nothing fused: each call is an op's own rule",
                 "arguments: " + (", ".join(f"%{slot} <- argument {position}" for position, slot, _ in self.arg_fill)
                                  or "none") + "; a slot is let go after its last reader ('free')"]
        for k, ins in enumerate(self.instructions):
            ins_text = ", ".join(_ref_text(r) for r in ins.inputs)
            outs = ", ".join(f"%{s}" for s in ins.outputs if s is not None)
            shape = ""
            if ins.shapes:
                shape = f"  {tuple(ins.shapes[0])} {ins.shapes[1]}"
            arrow = f" -> {outs}" if outs else ""
            note = f"   ({ins.note})" if ins.note else ""
            freed = f"   free {' '.join(f'%{s}' for s in self.frees[k])}" if self.frees[k] else ""
            lines.append(f"{k:4d}  {ins.kind:8s} {ins.name}({ins_text}){arrow}{shape}{note}{freed}")
        return "\n".join(lines)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for ins in self.instructions:
            out[ins.kind] = out.get(ins.kind, 0) + 1
        return out

    def to_dot(self) -> str:
        """The schedule as a Graphviz graph: one box per kernel call, an edge per slot it reads."""
        lines = ["digraph schedule {", '  rankdir=TB; node [shape=box, fontname="Helvetica", fontsize=10];']
        colors = {"forward": "#dbeafe", "backward": "#fde68a", "seed": "#fde68a", "convert": "#fef3c7",
                  "add": "#fef3c7", "leaf": "#bbf7d0", "call": "#e9d5ff", "write": "#fecaca"}
        writer: dict[int, str] = {}
        for position, slot, _ in self.arg_fill:
            writer[slot] = f"a{position}"
            lines.append(f'  a{position} [label="argument {position}", shape=ellipse];')
        live: dict[int, str] = {}
        for k, ins in enumerate(self.instructions):
            label = f"{k}: {ins.kind} {ins.name}".replace('"', "'")
            if ins.shapes:
                label += f"\\n{tuple(ins.shapes[0])} {ins.shapes[1]}"
            lines.append(f'  i{k} [label="{label}", style=filled, fillcolor="{colors.get(ins.kind, "white")}"];')
            for r in ins.inputs:
                if type(r) is int and r in writer:
                    lines.append(f'  {writer[r]} -> i{k} [label="%{r}", fontsize=8];')
                elif type(r) is _Live:
                    if id(r.tensor) not in live:
                        live[id(r.tensor)] = f"p{len(live)}"
                        lines.append(f'  {live[id(r.tensor)]} [label="{_tensor_name(r.tensor)}", shape=ellipse, '
                                     'style=filled, fillcolor="#f3f4f6"];')
                    lines.append(f"  {live[id(r.tensor)]} -> i{k};")
            for s in ins.outputs:
                if s is not None:
                    writer[s] = f"i{k}"
            if ins.kind in ("call", "grad", "write"):     # whole calls: drawn in their place in the order
                if k > 0:
                    lines.append(f'  i{k - 1} -> i{k} [style=dashed, color="#9ca3af"];')
                if k + 1 < len(self.instructions):
                    lines.append(f'  i{k} -> i{k + 1} [style=dashed, color="#9ca3af"];')
        lines.append("}")
        return "\n".join(lines)

    def draw(self, path: str, format: str | None = None) -> str:
        """Render `to_dot()` with Graphviz to `path` (svg, png or pdf, from the suffix); returns the path."""
        import graphviz
        import os
        stem, suffix = os.path.splitext(str(path))
        source = graphviz.Source(self.to_dot())
        source.render(stem, format=format or (suffix.lstrip(".") or "svg"), cleanup=True)
        return f"{stem}.{format or (suffix.lstrip('.') or 'svg')}"


def _releasing(run: Callable, ctx) -> Callable:
    def run_and_release(vals):
        run(vals)
        ctx.release()
    return run_and_release


def _tensor_name(t: Tensor) -> str:
    """A tensor's name, or the name nn noted for a parameter, or its shape."""
    name = t.name or metadata.tensor_fact(t, "parameter_name")
    return name if name else f"tensor {tuple(t.shape)}"


def _ref_text(ref) -> str:
    if type(ref) is int:
        return f"%{ref}"
    if type(ref) is _Live:
        return _tensor_name(ref.tensor)
    if ref is None:
        return "None"
    a = ref.array
    return repr(a.item()) if isinstance(a, np.ndarray) and a.size == 1 else f"const {np.shape(a)}"


# ----------------------------------------------------------------------------- arguments and results
def _flatten(value, out: list):
    """The leaves of nested tuples, lists and dicts of a call's arguments, and a template to rebuild."""
    if isinstance(value, (tuple, list)):
        return (type(value), [_flatten(v, out) for v in value])
    if isinstance(value, dict):
        return (dict, [(k, _flatten(v, out)) for k, v in value.items()])
    out.append(value)
    return len(out) - 1


def _guard_of(value) -> tuple:
    if isinstance(value, Tensor):
        return ("tensor", value.data.shape, value.data.dtype.str, value.requires_grad)
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str)
    if value is None or isinstance(value, (bool, int, float, str, complex, np.generic)):
        return ("value", type(value).__name__, value)
    return ("object", id(value))


def _result_template(value, recorder: Recorder, flat_args: list, returned: set):
    if isinstance(value, (tuple, list)):
        return (type(value), [_result_template(v, recorder, flat_args, returned) for v in value])
    if isinstance(value, dict):
        return (dict, [(k, _result_template(v, recorder, flat_args, returned)) for k, v in value.items()])
    if isinstance(value, Tensor):
        for position, arg in enumerate(flat_args):
            if arg is value:
                return ("arg", position)
        slot = recorder.slot_of.get(id(value.data))
        if slot is not None:
            returned.add(slot)
            return ("slot", slot)
        if id(value.data) in recorder.made_unknown:
            recorder.refuse(f"the step returns a tensor made by {recorder.made_unknown[id(value.data)]}, not by an op")
        return ("object", value)
    if value is None or isinstance(value, (bool, int, float, str, complex)):
        return ("object", value)
    recorder.refuse(f"the step returns a {type(value).__name__}; a compiled step returns tensors, "
                    "numbers fixed at recording, or tuples, lists and dicts of them")


def _rebuild(template, vals, flat_args):
    kind = template[0]
    if kind == "slot":
        return Tensor._wrap(vals[template[1]])
    if kind == "arg":
        return flat_args[template[1]]
    if kind == "object":
        return template[1]
    if kind is dict:
        return {k: _rebuild(v, vals, flat_args) for k, v in template[1]}
    return kind(_rebuild(v, vals, flat_args) for v in template[1])


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
        key = (STATE.grad_enabled, tuple(_guard_of(v) for v in flat))
        if key in self.eager_keys or STATE.recorder is not None:
            self.eager_calls += 1
            return self.fn(*args, **kwargs)
        for schedule in self.schedules:
            if schedule.guards[0] == key and _state_holds(schedule.guards[1]):
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

    Usable as `step = tg.compile(train_step)` or as `@tg.compile`. See tinygraph/compile.py's docstring
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


def _state_holds(guards: tuple) -> bool:
    modules, tensors = guards
    for module, training, state in modules:
        if module.training is not training or not _same_objects(_module_state(module), state):
            return False
    for t, shape, dtype, requires_grad in tensors:
        data = t.data
        if data.shape != shape or data.dtype != dtype or t.requires_grad is not requires_grad:
            return False
    return True


def _module_state(module) -> tuple:
    """The objects a module's forward reads its parameters and buffers from (replacing one records anew)."""
    return (*module._parameters.values(), *module._buffers.values())


def _same_objects(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _why_missed(guards: tuple, key: tuple) -> str:
    old_key = guards[0]
    if old_key[0] != key[0]:
        return "grad mode changed"
    for i, (a, b) in enumerate(zip(old_key[1], key[1])):
        if a != b:
            return f"argument {i}: {a} -> {b}"
    if len(old_key[1]) != len(key[1]):
        return "a different number of arguments"
    modules, tensors = guards[1]
    for module, training, state in modules:
        if module.training is not training:
            return f"{type(module).__name__} switched to {'train' if module.training else 'eval'} mode"
        if not _same_objects(_module_state(module), state):
            return f"{type(module).__name__} has other parameters or buffers than at recording"
    for t, shape, dtype, requires_grad in tensors:
        if t.data.shape != shape or t.data.dtype != dtype or t.requires_grad is not requires_grad:
            return f"{t._label()} changed shape, dtype or requires_grad"
    return "unknown"


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

    Besides STATE.recorder and tensor.py's hooks, Tensor._wrap is replaced while recording, to note
    tensors made by library code outside the ops: the factories' are constants a replay may keep,
    anything else (found unknown if an op uses it) makes the step run eagerly."""

    def __init__(self):
        self.original = Tensor.__dict__["_wrap"]
        self.recorder: Recorder | None = None

    def start(self, recorder: Recorder) -> None:
        self.recorder = recorder
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

    def stop(self) -> None:
        Tensor._wrap = self.original
        STATE.recorder = None
        tensor_module.value_read = tensor_module.computed = tensor_module.grad_assigned = None
        self.recorder = None


_WATCH = _Watch()


def _stop_recording() -> None:
    _WATCH.stop()


# Modules whose Tensor._wrap calls make either op outputs (slots) or constants a replay may keep.
_TRUSTED_MAKERS = {"tinygraph.op", "tinygraph.engine", "tinygraph.recorded_backward", "tinygraph.factories",
                   "tinygraph.tensor", "tinygraph.compile", "tinygraph.ops._in_place"}
