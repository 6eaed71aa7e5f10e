"""`draw`: turn a recorded graph (and optionally a backward recording) into a graphviz.Digraph.

Layout always runs forward, left to right: inputs on the left, the loss on the right. Gradient
edges are laid out along the forward edges and drawn with their arrow reversed (`dir=back`), so
the forward and the backward view of one graph put every node in the same place.
"""
from __future__ import annotations

import re
from contextlib import nullcontext
from html import escape
from pathlib import Path

import graphviz

from tinygraph.drawing import images as I
from tinygraph.drawing import style as S
from tinygraph.drawing.browser import has_dot, notebook_html
from tinygraph.drawing.graph import Graph, TensorItem, build_graph
from tinygraph.drawing.graph import collapse as collapse_graph
from tinygraph.drawing.layout import assign_rows
from tinygraph.drawing.labels import Labels
from tinygraph.drawing.record import BackwardRecording, Frame, GradStat
from tinygraph.tensor import Tensor

WRAP = 4                  # columns (tensors and ops) per row before a long drawing wraps to the next
ONE_ROW = 16              # wrap="auto" keeps a drawing of at most this many columns in one row...
AUTO_WRAP = 6             # ...and wraps a longer one every this many columns
LECTURE_SCALE = 1.5       # lecture=True: every font this much larger, to read from the back of a room
AUTO_COLLAPSE = 300       # graphs with more ops than this are collapsed by module unless told otherwise
VIEWS = ("forward", "backward", "both")


class Drawing(graphviz.Digraph):
    """A graphviz.Digraph whose SVG carries its heatmaps inside (base64 data URIs), so an SVG it
    writes, pipes or shows inline in Jupyter is one self-contained file. In a notebook on a
    machine without Graphviz's `dot`, it shows as HTML that lays the same DOT out in the browser
    (Graphviz in WebAssembly, see tinygraph/drawing/browser.py) instead of raising."""

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        if has_dot():
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        return {"text/html": notebook_html(self.source)}

    def _repr_html_(self) -> str | None:
        return None if has_dot() else notebook_html(self.source)    # with dot, the SVG of the bundle

    def pipe(self, format=None, *args, **kwargs):
        out = super().pipe(format, *args, **kwargs)
        if (format or self.format) != "svg":
            return out
        if isinstance(out, bytes):
            return I.inline_images(out.decode("utf-8")).encode("utf-8")
        return I.inline_images(out)

    def render(self, *args, **kwargs):
        path = super().render(*args, **kwargs)
        if str(path).endswith(".svg"):
            file = Path(path)
            file.write_text(I.inline_images(file.read_text(encoding="utf-8")), encoding="utf-8")
        return path


def draw(root: Tensor, *, view: str = "both", values: bool = True, grads: bool = True,
         formulas: bool = True, collapse: str | bool | None = None, rankdir: str = "LR",
         recording: BackwardRecording | None = None, wrap: int | str | None = "auto",
         images: bool = True, lecture: bool = False) -> Drawing:
    """Draw the graph that produced `root`: tensors, ops with their formulas, and gradient flow.

    view: "forward" (values only), "backward" (gradient flow) or "both". values: min/mean/max of
    each tensor. grads: gradient norms and health, from `recording` (see `record_backward`) or,
    without one, from the `.grad` the tensors kept. formulas: forward formula on each op, backward
    rule on each gradient edge. collapse: "module" draws each module (and each run of unnamed
    single-use ops) as one box; None does so only above AUTO_COLLAPSE ops; False never.
    Tensors of at most 16 entries show each entry, signed (and so does their gradient); larger ones
    min/mean/max, ‖δ‖ and the gradient's min and max.
    wrap: with rankdir LR or RL, start a new row after this many columns (tensors and ops), like
    lines of text, so a long network fits a screen; None keeps one row; "auto" keeps up to
    ONE_ROW columns in one row (the loss at the right end) and wraps longer drawings.
    images: feature maps (N, C, H, W) and filters as heatmaps, of the values and (after a
    recorded backward) of the gradients; they need the arrays, so draw inside
    `tg.record_backward()` or after `backward(retain_graph=True)`. lecture: larger type.
    A pure function of the graph: the same graph gives the same DOT text, before or after backward.
    """
    return render(build_graph(root), view=view, values=values, grads=grads, formulas=formulas,
                  collapse=collapse, rankdir=rankdir, recording=recording, wrap=wrap, images=images,
                  lecture=lecture)


def column_count(graph: Graph) -> int:
    """How many columns (tensors and ops) a left-to-right drawing of `graph` has in one row."""
    nodes = list(graph.tensors) + list(graph.ops)
    edges = sorted({(t, oid) for oid, op in graph.ops.items() for t in op.inputs if t is not None}
                   | {(oid, op.output) for oid, op in graph.ops.items()})
    return max(assign_rows(nodes, edges, 1).values(), default=0) + 1


def render(graph: Graph, *, view: str, values: bool, grads: bool, formulas: bool, collapse,
           rankdir: str, recording: BackwardRecording | None, wrap: int | str | None = "auto",
           frame: Frame | None = None, images: bool = True, lecture: bool = False,
           only: set[str] | None = None, grow: float = 1.0, floor: int = 0, compact: bool = False) -> Drawing:
    """The drawing of `graph` (see `draw`). only: draw just these tensor and op ids and the edges
    between them, without the legend (the step page's close-up); grow: every font this much larger;
    floor: and none smaller than this many points; compact: tensors show name, shape and ‖δ‖ only,
    and, drawing the whole graph, ops their formula and edges no label, with no legend (the step
    page's whole-graph view, and its lecture close-up, to fit a screen)."""
    if view not in VIEWS:
        raise ValueError(f"draw: view must be one of {VIEWS}, got {view!r}")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"draw: rankdir must be LR, RL, TB or BT, got {rankdir!r}")
    if collapse not in (None, False, "module", "none"):
        raise ValueError(f"draw: collapse must be None, False or 'module', got {collapse!r}")
    if collapse == "module" or (collapse is None and len(graph.ops) > AUTO_COLLAPSE):
        graph = collapse_graph(graph, by_module=True)
    if wrap is not None and wrap != "auto" and (not isinstance(wrap, int) or wrap < 2):
        raise ValueError(f"draw: wrap must be None, 'auto' or an int >= 2 (columns per row), got {wrap!r}")
    if rankdir not in ("LR", "RL"):
        wrap = None
    if only is not None:
        wrap = None
    renderer = _Renderer(graph, view, values, grads, formulas, rankdir, recording, frame, wrap)
    renderer.images, renderer.only, renderer.compact, renderer.floor = images, only, compact, floor
    renderer.grow = grow * (LECTURE_SCALE if lecture else 1.0)
    return renderer.digraph()


class _Renderer(Labels):
    """Decides what is drawn and where; `Labels` says what each node and edge reads."""

    images, only, grow, floor, compact = True, None, 1.0, 0, False       # set by render()

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
        return (self.forward or item.tensor.requires_grad) and (self.only is None or item.id in self.only)

    # ------------------------------------------------------------------ output
    def digraph(self) -> graphviz.Digraph:
        grow = self.grow
        d = Drawing("tinygraph", graph_attr={
            "rankdir": self.rankdir, "fontname": S.FONT, "nodesep": "0.3", "ranksep": "0.45",
            "bgcolor": "white", "pad": "0.3", "newrank": "true"},
            node_attr={"fontname": S.FONT, "fontsize": f"{max(self.floor, 12 * grow):g}", "color": S.INK,
                       "margin": "0.12,0.06"},
            edge_attr={"fontname": S.FONT, "fontsize": f"{max(self.floor, 10 * grow):g}", "arrowsize": "0.8"})
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
            if oid in self.g.group_of or (self.only is not None and oid not in self.only):
                continue
            members.setdefault(self.rows.get(oid, 0), []).append(oid)
            self._define(oid, self._op_label(op), **self._op_attrs(op))
        for gid, group in self.g.groups.items():
            members.setdefault(self.rows.get(gid, 0), []).append(gid)
            self._define(gid, self._group_label(group), shape="box", style="rounded,filled",
                         fillcolor=S.OP_FILL, color=S.OP_BORDER, peripheries="2", penwidth="1.4")
        self._edges()
        for ghost, row in self.ghosts.items():
            members.setdefault(row, []).insert(0, ghost)
        kinds = {t.kind for tid, t in self.g.tensors.items() if tid not in self.g.group_of and self._visible(t)}
        scale = self.scale if self.backward and any(self.stats.values()) else None
        if self.only is None and not self.compact:
            self._define("legend", S.legend_label(kinds, scale, self.forward, self.backward, self._legend_notes(),
                                                  stepping=self.frame is not None, wrapped=bool(self.ghosts)),
                         shape="plaintext")
            members[max(members) + 1] = ["legend"]      # below every row
        self._clusters(d, members)
        for tail, head, attrs in self.edge_list:   # after every node, so each is made in its cluster
            if "label" in attrs:
                attrs = dict(attrs, label=self._larger(attrs["label"]))
            d.edge(tail, head, **attrs)
        return d

    def _define(self, item_id: str, label: str, **attrs: str) -> None:
        self.defs[item_id] = (self._larger(label), attrs)

    def _larger(self, label: str) -> str:
        """Every POINT-SIZE of a label grows by `grow` (LECTURE_SCALE in lecture mode), to at least `floor`."""
        if self.grow == 1.0 and not self.floor:
            return label
        return re.sub(r'POINT-SIZE="(\d+)"',
                      lambda m: f'POINT-SIZE="{max(self.floor, round(int(m.group(1)) * self.grow))}"', label)

    def _clusters(self, d: graphviz.Digraph, members: dict[int, list[str]]) -> None:
        """Emit every node; with wrapping, inside an invisible box per row so rows cannot interleave."""
        # Graphviz stacks same-rank clusters of a left-to-right drawing bottom-up in the order it
        # meets them, so the last row is declared first.
        for row in sorted(members, reverse=True):
            with (d.subgraph(name=f"cluster_row{row}") if self.rows else nullcontext(d)) as r:
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
        width = self.wrap
        if width == "auto":
            columns = max(assign_rows(nodes, sorted(edges), 1).values(), default=0) + 1
            if columns <= ONE_ROW:
                return {}
            width = AUTO_WRAP
        rows = assign_rows(nodes, sorted(edges), width)
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
        if self.grads and self.backward and self.recording is None:
            if not any(self.stats.values()):
                notes.append("no gradients recorded yet: run backward inside tg.record_backward() to see ‖δ‖")
            elif any(s is None for tid, s in self.stats.items() if self.g.tensors[tid].producer is not None):
                notes.append("‖δ‖ shown where .grad was kept (leaves); record backward with "
                             "tg.record_backward() to see it on every tensor")
        if self.g.groups:
            notes.append("double border: a module, or a chain of unnamed ops, drawn as one box")
        if self.images and any(I.is_image_shaped(t.tensor.shape) and not t.tensor.values_available
                               for t in self.g.tensors.values()):
            notes.append("feature maps not shown: backward() freed them; draw inside tg.record_backward() "
                         "or after backward(retain_graph=True) to see them as images")
        elif self.images and any(I.is_image_shaped(t.tensor.shape) for t in self.g.tensors.values()):
            notes.append("heatmaps: blue below 0, white at 0, red above; each tensor on its own scale ±m "
                         "(its colour bar), channels of the first sample, filters' first input channel")
        return notes

    # ------------------------------------------------------------------ edges
    def _edges(self) -> None:
        seen: set[tuple[str, str, str]] = set()

        def edge(tail: str, head: str, kind: str, **attrs) -> None:
            if tail == head or (tail, head, kind) in seen:
                return
            seen.add((tail, head, kind))
            if self.rows and self.rows[tail] != self.rows[head]:
                tail = self._ghost(tail, self.rows[head])
            self.edge_list.append((tail, head, attrs))

        for oid, op in self.g.ops.items():
            here, out = self.g.where(oid), self.g.where(op.output)
            out_item = self.g.tensors[op.output]
            if self.only is not None and oid not in self.only:
                continue
            for index, tid in enumerate(op.inputs):
                if tid is None or (self.only is not None and tid not in self.only):
                    continue
                src = self.g.where(tid)
                grouped = src != tid or here != oid
                if self.forward:    # one edge per input, so x * x shows two; into a group, one per tensor
                    edge(src, here, "forward" if grouped else f"forward{index}", color=S.FORWARD, penwidth="1.3")
                if self.backward and self._gives_grad(oid, index):
                    label = "" if self.compact and self.only is None else self._grad_label(op, index, grouped)
                    edge(src, here, "grad" if grouped else f"grad{index}", dir="back", style="dashed",
                         label=label, **self._grad_style(oid, index))
            if self.forward:
                edge(here, out, "forward", color=S.FORWARD, penwidth="1.3")
            if self.backward and out_item.tensor.requires_grad:
                ran = self.frame is None or oid in self.frame.ran
                edge(here, out, "delta", dir="back", style="dashed", color=S.GRADIENT if ran else S.FADED,
                     penwidth="2.5" if self.frame and oid == self.frame.current else "1.2",
                     label="" if self.forward else S.table([S.small(f"δ{out_item.symbol}", S.GRADIENT)]))

    def _ghost(self, tid: str, row: int) -> str:
        """A small copy of tensor `tid` at the start of another row, where an op there uses it."""
        ghost = f"{tid}_row{row}"
        if ghost not in self.ghosts:
            self.ghosts[ghost] = row
            item = self.g.tensors[tid]
            where = "from the row above" if row > self.rows[tid] else "from the row below"
            label = S.table([f"<B>{escape(item.symbol)}</B>", S.small(where)])
            self._define(ghost, label, shape="box", style="rounded,filled,dashed", fillcolor="#ffffff",
                         color="#999999")
        return ghost

