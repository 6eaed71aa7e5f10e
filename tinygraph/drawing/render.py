"""`draw`: turn a recorded graph (and optionally a backward recording) into a graphviz.Digraph.

Layout always runs forward, left to right: inputs on the left, the loss on the right. Gradient
edges are laid out along the forward edges and drawn with their arrow reversed (`dir=back`), so
the forward and the backward view of one graph put every node in the same place.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import graphviz

from tinygraph.drawing import style as S
from tinygraph.drawing.graph import INPUT, Graph, TensorItem, build_graph, formula, summarize_values
from tinygraph.drawing.graph import collapse as collapse_graph
from tinygraph.drawing.layout import assign_rows
from tinygraph.drawing.record import BackwardRecording, GradStat
from tinygraph.tensor import Tensor

WRAP = 4                  # columns (tensors and ops) per row before a long drawing wraps to the next
AUTO_COLLAPSE = 300       # graphs with more ops than this are collapsed by module unless told otherwise
VIEWS = ("forward", "backward", "both")
DEAD_UNIT_OPS = {"relu"}  # ops whose input ≤ 0 means a unit passes no gradient


class _Same:
    """Stands in for a row subgraph when not wrapping: `with _Same(d) as r` yields d itself."""

    def __init__(self, d):
        self.d = d

    def __enter__(self):
        return self.d

    def __exit__(self, *exc):
        return False


@dataclass
class Frame:
    """Step-through state: which rule runs now and how far every tensor's gradient has got."""

    current: str                                        # op item id whose rule runs
    ran: set[str]                                       # op item ids whose rule has run (current included)
    state: dict[str, tuple[str, GradStat | None, int]]  # tensor id -> ("done"|"partial", stat, contributions)
    added: dict[tuple[str, int], GradStat] = field(default_factory=dict)   # (op id, input) -> what it added


def draw(root: Tensor, *, view: str = "both", values: bool = True, grads: bool = True,
         formulas: bool = True, collapse: str | bool | None = None, rankdir: str = "LR",
         recording: BackwardRecording | None = None, wrap: int | None = WRAP) -> graphviz.Digraph:
    """Draw the graph that produced `root`: tensors, ops with their formulas, and gradient flow.

    view: "forward" (values only), "backward" (gradient flow) or "both". values: min/mean/max of
    each tensor. grads: gradient norms and health, from `recording` (see `record_backward`) or,
    without one, from the `.grad` the tensors kept. formulas: forward formula on each op, backward
    rule on each gradient edge. collapse: "module" draws each module (and each run of unnamed
    single-use ops) as one box; None does so only above AUTO_COLLAPSE ops; False never.
    wrap: with rankdir LR or RL, start a new row after this many columns (tensors and ops), like
    lines of text, so a long network fits a screen; None keeps one row.
    A pure function of the graph: the same graph gives the same DOT text, before or after backward.
    """
    return render(build_graph(root), view=view, values=values, grads=grads, formulas=formulas,
                  collapse=collapse, rankdir=rankdir, recording=recording, wrap=wrap)


def render(graph: Graph, *, view: str, values: bool, grads: bool, formulas: bool, collapse,
           rankdir: str, recording: BackwardRecording | None, wrap: int | None = WRAP,
           frame: Frame | None = None) -> graphviz.Digraph:
    if view not in VIEWS:
        raise ValueError(f"draw: view must be one of {VIEWS}, got {view!r}")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"draw: rankdir must be LR, RL, TB or BT, got {rankdir!r}")
    if collapse not in (None, False, "module", "none"):
        raise ValueError(f"draw: collapse must be None, False or 'module', got {collapse!r}")
    if collapse == "module" or (collapse is None and len(graph.ops) > AUTO_COLLAPSE):
        graph = collapse_graph(graph, by_module=True)
    if wrap is not None and (not isinstance(wrap, int) or wrap < 2):
        raise ValueError(f"draw: wrap must be None or an int >= 2 (columns per row), got {wrap!r}")
    if rankdir not in ("LR", "RL"):
        wrap = None
    return _Renderer(graph, view, values, grads, formulas, rankdir, recording, frame, wrap).digraph()


class _Renderer:
    def __init__(self, graph, view, values, grads, formulas, rankdir, recording, frame, wrap):
        self.g, self.view, self.values, self.grads, self.wrap = graph, view, values, grads, wrap
        self.formulas, self.rankdir, self.recording, self.frame = formulas, rankdir, recording, frame
        self.forward = view in ("forward", "both")
        self.backward = view in ("backward", "both")
        self.stats = {tid: self._stat(t.tensor) for tid, t in graph.tensors.items()}
        self.scale = S.NormScale([s.norm for s in self.stats.values() if s is not None])
        # Gradient-receiving uses of each tensor, to show `+=` where several ops add into one δ.
        self.grad_uses: dict[str, list[tuple[str, int]]] = {}
        for tid, item in graph.tensors.items():
            if item.tensor.requires_grad:
                self.grad_uses[tid] = [use for use in item.consumers if self._gives_grad(*use)]

    # ------------------------------------------------------------------ facts
    def _stat(self, t: Tensor) -> GradStat | None:
        if not self.grads:
            return None
        if self.recording is not None:
            return self.recording.grad_of(t)
        return GradStat.of(t.grad) if t.grad is not None else None

    def _gives_grad(self, op_id: str, index: int) -> bool:
        """Does this op's rule send a gradient into its input `index`?"""
        parent = self.g.tensors[self.g.ops[op_id].inputs[index]].tensor
        if not parent.requires_grad:
            return False
        if self.recording is not None and self.recording.steps:
            return self.recording.contribution(self.g.ops[op_id].node, index) is not None
        return True

    def _visible(self, item: TensorItem) -> bool:
        return self.forward or item.tensor.requires_grad

    # ------------------------------------------------------------------ output
    def digraph(self) -> graphviz.Digraph:
        d = graphviz.Digraph("tinygraph", graph_attr={
            "rankdir": self.rankdir, "fontname": S.FONT, "nodesep": "0.3", "ranksep": "0.45",
            "bgcolor": "white", "pad": "0.3", "newrank": "true"},
            node_attr={"fontname": S.FONT, "fontsize": "12", "color": S.INK, "margin": "0.12,0.06"},
            edge_attr={"fontname": S.FONT, "fontsize": "10", "arrowsize": "0.8"})
        self.rows, self.ghosts = self._layout(), {}
        self.defs: dict[str, tuple[str, dict]] = {}
        self.edge_list: list[tuple[str, str, dict]] = []
        members: dict[int, list[str]] = {}   # row -> drawn ids
        for tid, item in self.g.tensors.items():
            if tid in self.g.group_of or not self._visible(item):
                continue
            members.setdefault(self.rows.get(tid, 0), []).append(tid)
            self._define(tid, self._tensor_label(item), **self._tensor_attrs(item))
        for oid, op in self.g.ops.items():
            if oid in self.g.group_of:
                continue
            members.setdefault(self.rows.get(oid, 0), []).append(oid)
            self._define(oid, self._op_label(op), **self._op_attrs(op))
        for gid, group in self.g.groups.items():
            members.setdefault(self.rows.get(gid, 0), []).append(gid)
            self._define(gid, self._group_label(group), shape="box", style="rounded,filled", fillcolor=S.OP_FILL,
                   color=S.OP_BORDER, peripheries="2", penwidth="1.4")
        self._edges(d)
        for ghost, row in self.ghosts.items():
            members.setdefault(row, []).insert(0, ghost)
        kinds = {t.kind for tid, t in self.g.tensors.items() if tid not in self.g.group_of and self._visible(t)}
        scale = self.scale if self.backward and any(self.stats.values()) else None
        self._define("legend", S.legend_label(kinds, scale, self.forward, self.backward, self._legend_notes(),
                                              stepping=self.frame is not None),
                     shape="plaintext")
        members[max(members) + 1] = ["legend"]      # below every row
        self._clusters(d, members)
        for tail, head, attrs in self.edge_list:   # after every node, so each is made in its cluster
            d.edge(tail, head, **attrs)
        return d

    def _define(self, item_id: str, label: str, **attrs: str) -> None:
        self.defs[item_id] = (label, attrs)

    def _clusters(self, d: graphviz.Digraph, members: dict[int, list[str]]) -> None:
        """Emit every node; with wrapping, inside an invisible box per row so rows cannot interleave."""
        # Graphviz stacks same-rank clusters of a left-to-right drawing bottom-up in the order it
        # meets them, so the last row is declared first.
        for row in sorted(members, reverse=True):
            with (d.subgraph(name=f"cluster_row{row}") if self.rows else _Same(d)) as r:
                if self.rows:
                    r.attr(style="invis", label="")
                for item_id in members[row]:
                    label, attrs = self.defs[item_id]
                    r.node(item_id, label, **attrs)

    def _layout(self) -> dict[str, int]:
        """Row of every drawn node when wrapping (empty when the drawing fits one row).

        An op's output stays in the op's row; a leaf joins the row of its first user.
        """
        if not self.wrap:
            return {}
        where = self.g.where
        nodes = [where(tid) for tid, t in self.g.tensors.items() if self._visible(t)]
        nodes = list(dict.fromkeys(nodes + [where(oid) for oid in self.g.ops]))
        drawn = set(nodes)
        edges = set()
        for oid, op in self.g.ops.items():
            here = where(oid)
            for tid in [*op.inputs, op.output]:
                if tid is None or where(tid) not in drawn or where(tid) == here:
                    continue
                edges.add((here, where(tid)) if tid == op.output else (where(tid), here))
        rows = assign_rows(nodes, sorted(edges), self.wrap)
        for tid, item in self.g.tensors.items():
            if where(tid) != tid or tid not in drawn:
                continue
            if item.producer is not None:
                rows[tid] = rows[where(item.producer)]
            elif item.consumers:
                rows[tid] = rows[where(item.consumers[0][0])]
        return rows if len(set(rows.values())) > 1 else {}

    def _legend_notes(self) -> list[str]:
        notes = []
        if self.grads and self.backward and not any(self.stats.values()):
            notes.append("no gradients recorded yet: run backward inside tg.record_backward() to see ‖δ‖")
        if self.g.groups:
            notes.append("double border: a module, or a chain of unnamed ops, drawn as one box")
        return notes

    # ------------------------------------------------------------------ nodes
    def _tensor_label(self, item: TensorItem) -> str:
        t = item.tensor
        rows = [f"<B>{escape(item.symbol)}</B>  " + S.small(f"{S.shape_text(t.shape)} {t.dtype}")]
        summary = summarize_values(t) if self.values else None
        if summary is not None:
            lo, mean, hi = summary
            rows.append(S.small(f"min {S.num(lo)} · mean {S.num(mean)} · max {S.num(hi)}", S.INK))
        if self.backward and self.grads and t.requires_grad:
            rows.extend(self._grad_rows(item))
        return S.table(rows)

    def _grad_rows(self, item: TensorItem) -> list[str]:
        delta = f"δ{item.symbol}"
        stat, uses = self.stats[item.id], len(self.grad_uses.get(item.id, ()))
        if self.frame is not None:
            state, stat, count = self.frame.state.get(item.id, (None, None, 0))
            if state is None:
                return [S.small(f"{delta}: not reached yet", S.FADED)]
            if state == "partial" and count < uses:
                return [S.small(f"{delta} so far: ‖·‖ = {S.num(stat.norm)} ({count} of {uses} added)", S.GRADIENT)]
        if stat is None:
            return [S.small(f"{delta}: not recorded", S.MUTED)] if self.recording is not None else []
        rows = [f'<FONT COLOR="{S.GRADIENT}">‖{escape(delta)}‖ = {S.num(stat.norm)}</FONT>']
        if uses > 1:
            rows.append(S.small(f"{delta} = sum of {uses} contributions (+=)", S.GRADIENT))
        if stat.health:
            rows.append(f'<FONT COLOR="{S.UNHEALTHY}"><B>⚠ {stat.health} gradient</B></FONT>')
        return rows

    def _tensor_attrs(self, item: TensorItem) -> dict[str, str]:
        border, width = S.KIND_BORDER[item.kind]
        stat = self.stats[item.id]
        fill = S.INPUT_FILL if item.kind == INPUT else "#ffffff"
        if self.frame is not None:
            state = self.frame.state.get(item.id)
            stat = state[1] if state else None
        if stat is not None and self.backward:
            fill = self.scale.colour(stat.norm)
            if stat.health:
                border, width = S.UNHEALTHY, 3.0
        attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": fill, "color": border,
                 "penwidth": str(width)}
        if item.kind in ("loss", "output"):
            attrs["peripheries"] = "2"
        return attrs

    def _op_label(self, op) -> str:
        rows = [f"<B>{escape(op.name)}</B>" + (f"  {S.small('in ' + op.module)}" if op.module else "")]
        if self.formulas:
            rows.append(S.wrapped(self._forward_formula(op), 36))
        attrs = ", ".join(f"{k}={v}" for k, v in op.node.attrs.items())
        if attrs:
            rows.append(S.small(attrs))
        if self.backward:
            if op.name in DEAD_UNIT_OPS and op.inputs[0] is not None:
                x = self.g.tensors[op.inputs[0]]
                dead = float((x.tensor.data <= 0).mean()) if x.tensor.data.size else 0.0
                rows.append(S.small(f"dead units: {dead:.0%} of {x.symbol} ≤ 0 pass no gradient", S.INK))
            saved = op.node.summarize_saved()
            if saved:
                total = sum(n for _, _, n in saved)
                parts = [f"{dtype} {S.shape_text(shape)}" for shape, dtype, _ in saved[:3]]
                more = f" +{len(saved) - 3} more" if len(saved) > 3 else ""
                rows.append(S.small(f"saves {', '.join(parts)}{more}: {S.size_text(total)}"))
        return S.table(rows)

    def _forward_formula(self, op) -> str:
        text = formula(op.node.op.forward_formula, op.symbols)
        if self.g.tensors[op.output].symbol_is_formula:      # "Uᵀ = Uᵀ" says nothing: show "Uᵀ"
            text = text.split(" = ", 1)[-1]
        return text

    def _op_attrs(self, op) -> dict[str, str]:
        attrs = {"shape": "box", "style": "filled", "fillcolor": S.OP_FILL, "color": S.OP_BORDER,
                 "penwidth": "1.2"}
        if self.frame is not None and op.id == self.frame.current:
            attrs.update(fillcolor="#fff3c4", color=S.HIGHLIGHT, penwidth="4")
        return attrs

    def _group_label(self, group) -> str:
        counts: dict[str, int] = {}
        for oid in group.ops:
            counts[self.g.ops[oid].name] = counts.get(self.g.ops[oid].name, 0) + 1
        ops_text = ", ".join(name if n == 1 else f"{name} ×{n}" for name, n in counts.items())
        rows = [f"<B>{escape(group.title)}</B>"]
        if self.formulas and len(group.ops) <= 4:     # a few ops: each with its formula
            for oid in group.ops:
                op = self.g.ops[oid]
                rows.append(S.small(f"{op.name}: ", S.MUTED) + S.wrapped(self._forward_formula(op), 36))
        else:
            rows.append(S.small(f"{len(group.ops)} ops: {ops_text}", S.INK))
        for tid in group.tensors:
            item = self.g.tensors[tid]
            if item.tensor.name is None:
                continue
            text = f"{item.symbol} {S.shape_text(item.tensor.shape)}"
            stat = self.stats[tid]
            if stat is not None and self.backward:
                text += f"  ‖δ{item.symbol}‖ = {S.num(stat.norm)}"
            rows.append(S.small(text))
        hidden = sum(1 for tid in group.tensors if self.g.tensors[tid].tensor.name is None)
        if hidden:
            rows.append(S.small(f"+ {hidden} unnamed intermediate tensors"))
        return S.table(rows)

    # ------------------------------------------------------------------ edges
    def _edges(self, d: graphviz.Digraph) -> None:
        seen: set[tuple[str, str, str]] = set()

        def edge(tail: str, head: str, kind: str, **attrs) -> None:
            if tail == head or (tail, head, kind) in seen:
                return
            seen.add((tail, head, kind))
            if self.rows and self.rows[tail] != self.rows[head]:
                tail = self._ghost(d, tail, self.rows[head])
            self.edge_list.append((tail, head, attrs))

        for oid, op in self.g.ops.items():
            here, out = self.g.where(oid), self.g.where(op.output)
            out_item = self.g.tensors[op.output]
            for index, tid in enumerate(op.inputs):
                if tid is None:
                    continue
                src = self.g.where(tid)
                grouped = src != tid or here != oid
                if self.forward:    # one edge per input, so x * x shows two; into a group, one per tensor
                    edge(src, here, "forward" if grouped else f"forward{index}", color=S.FORWARD, penwidth="1.3")
                if self.backward and self._gives_grad(oid, index):
                    edge(src, here, f"grad{index}", dir="back", style="dashed",
                         label=self._grad_label(op, index, grouped), **self._grad_style(oid, index))
            if self.forward:
                edge(here, out, "forward", color=S.FORWARD, penwidth="1.3")
            if self.backward and out_item.tensor.requires_grad:
                ran = self.frame is None or oid in self.frame.ran
                edge(here, out, "delta", dir="back", style="dashed", color=S.GRADIENT if ran else S.FADED,
                     penwidth="2.5" if self.frame and oid == self.frame.current else "1.2",
                     label="" if self.forward else S.table([S.small(f"δ{out_item.symbol}", S.GRADIENT)]))

    def _ghost(self, d: graphviz.Digraph, tid: str, row: int) -> str:
        """A small copy of tensor `tid` at the start of another row, where an op there uses it."""
        ghost = f"{tid}_row{row}"
        if ghost not in self.ghosts:
            self.ghosts[ghost] = row
            item = self.g.tensors[tid]
            label = S.table([f"<B>{escape(item.symbol)}</B>", S.small("from the row above" if row > self.rows[tid]
                                                                        else "from the row below")])
            self._define(ghost, label, shape="box", style="rounded,filled,dashed", fillcolor="#ffffff", color="#999999")
        return ghost

    def _grad_style(self, oid: str, index: int) -> dict[str, str]:
        if self.frame is None:
            return {"color": S.GRADIENT, "fontcolor": S.GRADIENT, "penwidth": "1.4"}
        if oid == self.frame.current:
            return {"color": S.HIGHLIGHT, "fontcolor": S.GRADIENT, "penwidth": "3.5"}
        if oid in self.frame.ran:
            return {"color": S.GRADIENT, "fontcolor": S.GRADIENT, "penwidth": "1.4"}
        return {"color": S.FADED, "fontcolor": "#a0a0a0", "penwidth": "1.0"}

    def _grad_label(self, op, index: int, grouped: bool) -> str:
        parent = self.g.tensors[op.inputs[index]]
        delta = f"δ{parent.symbol}"
        rows = []
        if self.formulas and not grouped:
            rows.append(S.wrapped(formula(op.node.op.backward_formulas[index], op.symbols)))
        contribution = self.recording.contribution(op.node, index) if self.recording else None
        shape = S.shape_text(parent.tensor.shape)
        detail = f"{delta} {shape}" if grouped or not self.formulas else shape
        if self.frame is not None and op.id not in self.frame.ran:
            contribution = None                    # a step-through frame shows no future gradient
        if contribution is not None and self.grads:
            detail += f"  ‖·‖ = {S.num(contribution.added.norm)}"
        rows.append(S.small(detail, S.INK))
        uses = self.grad_uses.get(parent.id, [])
        if len(uses) > 1 and (op.id, index) in uses:
            rows.append(S.small(f"{delta} += this ({uses.index((op.id, index)) + 1} of {len(uses)})", S.GRADIENT))
        axes = contribution.summed_axes if contribution is not None else (op.node.summed_axes or {}).get(index)
        if axes:
            rows.append(S.small(f"summed over broadcast axes {tuple(axes)}", S.GRADIENT))
        if self.frame is not None and op.id == self.frame.current and (op.id, index) in self.frame.added:
            rows.insert(0, f'<FONT COLOR="{S.HIGHLIGHT}"><B>now: {escape(delta)} += a term of norm '
                           f'{S.num(self.frame.added[(op.id, index)].norm)}</B></FONT>')
        return S.table(rows)
