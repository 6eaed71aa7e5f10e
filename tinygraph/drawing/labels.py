"""What each node and edge of a drawing says: tensor, op and group labels, gradient-edge labels.

`Labels` is mixed into the renderer and reads its state: the graph `g`, the options (`values`,
`grads`, `formulas`, `backward`), the gradient `stats` and `scale`, and the step-through `frame`.
"""
from __future__ import annotations

from html import escape

import numpy as np

from tinygraph.drawing import images as I
from tinygraph.drawing import style as S
from tinygraph.drawing.graph import INPUT, PARAMETER, TensorItem, broadcast_axes, formula, summarize_values
from tinygraph.drawing.record import SMALL, saved_arrays
from tinygraph.metadata import fact

EDGE_ENTRIES = 4     # a gradient edge writes out what it adds when that has at most this many entries


class Labels:
    """Label and style of every tensor, op, group and gradient edge (methods of the renderer)."""

    _items_by_node = None            # id(node) -> its op item, made on first use by _made_by

    def _tensor_label(self, item: TensorItem) -> str:
        t = item.tensor
        if self.compact:
            return self._compact_tensor_label(item)
        rows = [f"<B>{escape(item.symbol)}</B>  " + S.small(f"{S.shape_text(t.shape)} {t.dtype}")]
        if self.values and t.values_available and t.size <= SMALL and t.dtype.kind in "fiub":
            rows.extend(S.small(line, S.INK, 11) for line in S.entries(item.symbol, t.data))
        elif self.values and t.values_available:
            summary = summarize_values(t)
            if summary is not None:
                lo, mean, hi = summary
                rows.append(S.small(f"min {S.num(lo)} · mean {S.num(mean)} · max {S.num(hi)}", S.INK))
            if self.images and I.is_image_shaped(t.shape):
                rows.extend(self._image_rows(item, t.data, item.symbol))
        elif self.values and not t.values_available:
            rows.append(S.small("values freed by backward(); draw inside tg.record_backward()"))
        if self.backward and self.grads and t.requires_grad:
            rows.extend(self._grad_rows(item))
        return S.table(rows)

    def _compact_tensor_label(self, item: TensorItem) -> str:
        """Name, shape and ‖δ‖ (or how far δ has got): the whole-graph view on one screen."""
        rows = [f"<B>{escape(item.symbol)}</B>  " + S.small(S.shape_text(item.tensor.shape))]
        if self.backward and self.grads and item.tensor.requires_grad:
            stat = self.stats[item.id]
            if self.frame is not None:
                state, stat, _ = self.frame.state.get(item.id, (None, None, 0))
            delta = f"δ{item.symbol}"
            if stat is None:
                rows.append(S.small(f"{delta}: not reached yet", S.FADED))
            else:
                rows.append(f'<FONT COLOR="{S.GRADIENT_TEXT}">‖{escape(delta)}‖ = {S.num(stat.norm)}</FONT>')
        return S.table(rows)

    def _image_rows(self, item: TensorItem, array: np.ndarray, what: str) -> list[str]:
        """Heatmaps of `array`'s channels (or filters), and the colour bar giving their scale."""
        maps, more, unit = I.tiles(array, item.kind == PARAMETER)
        scale = float(np.max(np.abs(array))) if array.size and np.isfinite(array).all() else 0.0
        files = [I.image_file(I.enlarge(I.heatmap_rgb(m, scale))) for m in maps]
        shown = f"{unit}s 1–{len(maps)}" if len(maps) > 1 else f"{unit} 1"
        sample = "" if item.kind == PARAMETER or array.shape[0] == 1 else f" of sample 1 of {array.shape[0]}"
        rows = [S.small(f"{what}: {shown}{sample}" + (f" (+{more} more)" if more else ""), S.MUTED, 9),
                S.image_grid(files, maps[0].shape, more, side=64 if len(maps) <= 2 else 34)]
        rows.append(S.colour_bar(I.image_file(I.colour_bar_rgb()), scale))
        return rows

    def _grad_rows(self, item: TensorItem) -> list[str]:
        delta = f"δ{item.symbol}"
        stat, uses = self.stats[item.id], len(self.grad_uses.get(item.id, ()))
        final = True
        if self.frame is not None:
            state, stat, count = self.frame.state.get(item.id, (None, None, 0))
            if state is None:
                return [S.small(f"{delta}: not reached yet", S.FADED)]
            final = state == "done" or count >= uses
            if state == "partial" and count < uses:
                if stat.values is not None:
                    return [S.small(f"{delta} so far: {S.entries_inline(stat)} ({count} of {uses} added)", S.GRADIENT)]
                return [S.small(f"{delta} so far: ‖·‖ = {S.num(stat.norm)} ({count} of {uses} added)", S.GRADIENT)]
        if stat is None:
            return [S.small(f"{delta}: not recorded", S.MUTED)] if self.recording is not None else []
        if stat.values is not None:           # a few entries: each one, with its sign
            rows = [f'<FONT COLOR="{S.GRADIENT_TEXT}"><B>{escape(line)}</B></FONT>'
                    for line in S.entries(delta, np.array(stat.values).reshape(stat.shape))]
        else:
            rows = [f'<FONT COLOR="{S.GRADIENT_TEXT}"><B>‖{escape(delta)}‖ = {S.num(stat.norm)}</B></FONT>'
                    + "  " + S.small(f"min {S.num(stat.lo)} · max {S.num(stat.hi)}", S.GRADIENT_TEXT)]
        if uses > 1:
            rows.append(S.small(f"{delta} = sum of {uses} contributions (+=)", S.GRADIENT))
        if stat.health:
            rows.append(f'<FONT COLOR="{S.UNHEALTHY}"><B>⚠ {stat.health} gradient</B></FONT>')
        if self.images and final and I.is_image_shaped(item.tensor.shape):
            array = self._grad_array(item)
            if array is not None:
                rows.extend(self._image_rows(item, array, delta))
        return rows

    def _grad_array(self, item: TensorItem) -> np.ndarray | None:
        if self.recording is not None:
            return self.recording.grad_array(item.tensor)
        return None if item.tensor.grad is None else np.asarray(item.tensor.grad)

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
        maker = fact(op.node, "made_by")           # an op a backward rule made (backward(create_graph=True))
        if maker is not None:
            rows.append(S.small(self._made_by(maker), S.MUTED))
        if self.compact and self.only is None:     # the whole-graph view on a screen: name and formula only
            return S.table(rows)
        attrs = ", ".join(f"{k}={v}" for k, v in op.node.attrs.items())
        if attrs:
            rows.append(S.small(attrs))
        if self.backward:
            note = self._backward_note(op)
            if note:
                rows.append(S.small(note, S.INK))
            saved = saved_arrays(op.node) or (self.recording.saved_of(op.node) if self.recording else None)
            if saved:
                total = sum(n for _, _, n in saved)
                parts = [f"{dtype} {S.shape_text(shape)}" for shape, dtype, _ in saved[:3]]
                more = f" +{len(saved) - 3} more" if len(saved) > 3 else ""
                rows.append(S.small(f"saves {', '.join(parts)}{more}: {S.size_text(total)}"))
        return S.table(rows)

    def _backward_note(self, op) -> str | None:
        """The op's own remark on how its backward routes gradients, for these input values."""
        items = [self.g.tensors[i] if i is not None else None for i in op.inputs]
        if any(item is not None and not item.tensor.values_available for item in items):
            return None
        node = op.node
        arrays = [None if t is None else t.data for t in node.inputs]
        write_note = getattr(node.op, "backward_note", None)      # an op may declare one beside its rules
        note = write_note(*arrays) if write_note is not None else None
        return formula(note, op.symbols) if note else None

    def _made_by(self, maker) -> str:
        """"made by relu: δZ = δA ⊙ 1[Z > 0]": the rule whose work this op is, in the drawing's symbols
        when the maker's own op is drawn too."""
        if self._items_by_node is None:
            self._items_by_node = {id(o.node): o for o in self.g.ops.values()}
        item = self._items_by_node.get(id(maker))
        symbols = item.symbols if item is not None else {}
        rules = "; ".join(formula(template, symbols) for template in maker.op.backward_formulas)
        return f"made by {maker.op.name}: {rules}"

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
            added = contribution.added
            few = added.values is not None and len(added.values) <= EDGE_ENTRIES
            detail += f"  adds {S.entries_inline(added)}" if few else f"  ‖·‖ = {S.num(added.norm)}"
        detail = detail.replace(" () ", " ").removeprefix("() ").strip()    # a scalar's shape says nothing
        rows.append(S.small(detail, S.INK))
        uses = self.grad_uses.get(parent.id, [])
        if len(uses) > 1 and (op.id, index) in uses:
            rows.append(S.small(f"{delta} += this ({uses.index((op.id, index)) + 1} of {len(uses)})", S.GRADIENT))
        axes = contribution.summed_axes if contribution is not None else broadcast_axes(self.g, op, index)
        if axes:
            rows.append(S.small(f"summed over broadcast axes {tuple(axes)}", S.GRADIENT))
        if self.frame is not None and op.id == self.frame.current and (op.id, index) in self.frame.added:
            added = self.frame.added[(op.id, index)]
            few = added.values is not None and len(added.values) <= EDGE_ENTRIES
            term = S.entries_inline(added) if few else f"a term of norm {S.num(added.norm)}"
            rows.insert(0, f'<FONT COLOR="{S.HIGHLIGHT}"><B>now: {escape(delta)} += {escape(term)}</B></FONT>')
        return S.table(rows)
