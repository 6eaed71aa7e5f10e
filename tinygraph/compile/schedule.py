"""A Schedule: the instructions one recording made, replayed over numbered slots; printed and drawn."""
from __future__ import annotations

from typing import Callable

import numpy as np

from tinygraph.compile.recorder import Recorder, _Live, _tensor_name
from tinygraph.tensor import Tensor

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
