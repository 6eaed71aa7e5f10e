"""`tg.trace(L)`: the recorded graph as plain text, one op per line, like a jaxpr.

    >>> print(tg.trace(L))
    trace of L: 8 ops
      in   X  (1, 1, 8, 8) float32   input
      ...
       1  Z  (1, 16, 6, 6) float32 = conv2d(X, W, b)   Z = W ⋆ X + b   [conv] stride=(1, 1)
             ↳ ∂L/∂W = Σ_uv δZ · X-window (eq. 2)

Ops come in the order they ran (each after its inputs, first inputs first), with the same names
and formulas as the drawing, so two traces can be diffed and a trace grepped. Each op also lists
the rule that makes each input's gradient; the rules are known from the ops before backward has
run, and until it has (no `.grad` anywhere, no `recording`) each says so: `(not run yet)`.
"""
from __future__ import annotations

from tinygraph.drawing import style as S
from tinygraph.drawing.graph import INPUT, LOSS, OUTPUT, PARAMETER, build_graph, formula
from tinygraph.drawing.record import BackwardRecording
from tinygraph.tensor import Tensor


class Trace:
    """The text of a recorded graph; print it, compare it, or search it (`str(trace)`)."""

    def __init__(self, root: Tensor, recording: BackwardRecording | None = None,
                 rules: bool | None = None):
        self.graph = build_graph(root)
        self.ran = recording is not None or any(item.tensor.grad is not None for item in self.graph.tensors.values())
        self.lines = self._lines(rules is not False)

    def _lines(self, rules: bool) -> list[str]:
        g = self.graph
        root = g.tensors[g.root]
        lines = [f"trace of {root.symbol}: {len(g.ops)} op{'s' if len(g.ops) != 1 else ''}"]
        width = max((len(t.symbol) for t in g.tensors.values()), default=1)
        type_width = max((len(_type(t.tensor)) for t in g.tensors.values()), default=1)
        leaves = [t for t in g.tensors.values() if t.producer is None]
        for kind, word in ((INPUT, "input"), (PARAMETER, "parameter"), (LOSS, "input"), (OUTPUT, "input")):
            for item in (t for t in leaves if t.kind == kind):
                lines.append(f"  in  {item.symbol:<{width}}  {_type(item.tensor):<{type_width}}   {word}")
        for number, op in enumerate(g.ops.values(), start=1):
            out = g.tensors[op.output]
            args = ", ".join(op.symbols[name] for name, t in zip(op.node.op.arg_names, op.node.inputs)
                             if t is not None)
            text = f"  {number:>2}  {out.symbol:<{width}}  {_type(out.tensor):<{type_width}} = {op.name}({args})"
            if not out.symbol_is_formula:       # "Uᵀ = Uᵀ" says nothing
                text += f"   {formula(op.node.op.forward_formula, op.symbols)}"
            if op.module:
                text += f"   [{op.module}]"
            settings = ", ".join(f"{k}={v}" for k, v in op.node.attrs.items())
            if settings:
                text += f" {settings}"
            lines.append(text)
            if rules:
                for index, parent in enumerate(op.inputs):
                    if parent is None or not g.tensors[parent].tensor.requires_grad:
                        continue
                    rule = formula(op.node.op.backward_formulas[index], op.symbols)
                    lines.append(f"  {'':>2}  {'':<{width}}  ↳ {rule}" + ("" if self.ran else "   (not run yet)"))
        lines.append(f"  out {root.symbol}")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        from html import escape
        return f"<pre>{escape(str(self))}</pre>"


def _type(t: Tensor) -> str:
    return f"{S.shape_text(t.shape)} {t.dtype}"


def trace(root: Tensor, recording: BackwardRecording | None = None, rules: bool | None = None) -> Trace:
    """The graph that produced `root` as text: its inputs, then one line per op in the order they
    ran (name, shape, dtype, op and arguments, formula, module, settings) and the rule for each
    input's gradient, marked `(not run yet)` before backward. rules=False leaves the rules out."""
    return Trace(root, recording, rules)
