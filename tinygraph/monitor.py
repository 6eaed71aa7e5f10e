"""Gradient flow over training: per layer and epoch, how large the gradients are, how much each
step changes the weights, and how many ReLU units are dead.

    flow = GradientFlow(model)
    optimizer = flow.watch(optimizer)        # its step() now notes gradients and updates
    for epoch in range(epochs):
        ...train as usual...
        flow.end_epoch()
    flow.plot("flow.png")                    # needs matplotlib (the `tools` extra)
    print(flow.warnings())                   # vanishing / exploding layers, in words

A layer is a module that owns parameters directly (`conv`, `fc`, `layers.0`). Each epoch keeps the
mean over its steps of: the gradient norm ‖δθ‖ of the layer's parameters taken together; the
update-to-weight ratio ‖Δθ‖ / ‖θ‖ of one optimizer step (around 1e−3 is the usual rule of thumb:
much smaller learns slowly, much larger jumps around); and for each ReLU module, the fraction of
its outputs that are 0 in training forward passes (units that pass no gradient).
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from tinygraph.drawing.record import EXPLODING, VANISHING
from tinygraph.grad_mode import forward_hook
from tinygraph.nn import ReLU
from tinygraph.nn.module import current_module_path

RATIO_GUIDE = 1e-3       # the update-to-weight ratio drawn as a guide line
RELATIVE_VANISHING = 1e-4   # a layer whose ‖δ‖ is this far below the largest layer's is flagged too


class GradientFlow:
    """Records gradient norms, update ratios and dead-ReLU fractions per layer, epoch by epoch."""

    def __init__(self, model):
        self.model = model
        self.layers: dict[str, list] = defaultdict(list)       # layer -> its parameters
        for name, parameter in model.named_parameters():
            self.layers[name.rpartition(".")[0] or name].append(parameter)
        self.rectifiers = {path: module for path, module in model.named_modules() if isinstance(module, ReLU)}
        self.grad_norm: dict[str, list[float]] = {layer: [] for layer in self.layers}
        self.update_ratio: dict[str, list[float]] = {layer: [] for layer in self.layers}
        self.dead: dict[str, list[float]] = {path: [] for path in self.rectifiers}
        self._steps: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self._dead_now: dict[str, list[float]] = defaultdict(list)
        self._hook = None

    # ------------------------------------------------------------------ recording
    def watch(self, optimizer):
        """Make `optimizer.step()` note each layer's gradient and update; returns the optimizer.

        Also starts watching forward passes (in this thread) for dead ReLU units until `close()`.
        """
        original = optimizer.step

        def step(*args, **kwargs):
            before = {layer: ([p.data.copy() for p in ps], _norm([p._grad_array() for p in ps if p._grad is not None]))
                      for layer, ps in self.layers.items()}
            result = original(*args, **kwargs)
            for layer, (weights, grad_norm) in before.items():
                change = _norm([p.data - w for p, w in zip(self.layers[layer], weights)])
                size = _norm(weights)
                self._steps[layer].append((grad_norm, change / size if size > 0 else float("nan")))
            return result

        optimizer.step = step
        if self._hook is None:
            self._hook = forward_hook(self._on_forward)
            self._hook.__enter__()
        return optimizer

    def _on_forward(self, out) -> None:
        path = current_module_path()    # the module running now (the node is tagged just after this hook)
        if path in self.rectifiers and self.rectifiers[path].training and out.values_available and out.size:
            self._dead_now[path].append(float(np.mean(out.data <= 0)))

    def end_epoch(self) -> None:
        """Close the epoch: average what its steps noted."""
        for layer in self.layers:
            steps = self._steps.pop(layer, [])
            self.grad_norm[layer].append(float(np.mean([g for g, _ in steps])) if steps else float("nan"))
            self.update_ratio[layer].append(float(np.nanmean([r for _, r in steps])) if steps else float("nan"))
        for path in self.rectifiers:
            seen = self._dead_now.pop(path, [])
            self.dead[path].append(float(np.mean(seen)) if seen else float("nan"))

    def close(self) -> None:
        """Stop watching forward passes."""
        if self._hook is not None:
            self._hook.__exit__(None, None, None)
            self._hook = None

    # ------------------------------------------------------------------ reading
    @property
    def epochs(self) -> int:
        return len(next(iter(self.grad_norm.values()), []))

    def health(self, layer: str, epoch: int = -1) -> str | None:
        """'vanishing', 'exploding' or None for a layer's gradient norm in an epoch (the last by default)."""
        norm = self.grad_norm[layer][epoch]
        largest = max((norms[epoch] for norms in self.grad_norm.values() if math.isfinite(norms[epoch])), default=0)
        if not math.isfinite(norm) or norm > EXPLODING:
            return "exploding"
        if norm < VANISHING or norm < RELATIVE_VANISHING * largest:
            return "vanishing"
        return None

    def warnings(self) -> list[str]:
        """One line per layer whose gradient vanished or exploded in some epoch."""
        lines = []
        for layer in self.layers:
            bad = [(e + 1, self.health(layer, e)) for e in range(self.epochs) if self.health(layer, e)]
            if bad:
                epochs = ", ".join(str(e) for e, _ in bad[:5]) + (" …" if len(bad) > 5 else "")
                lines.append(f"{layer}: {bad[0][1]} gradient (‖δ‖ = {self.grad_norm[layer][bad[0][0] - 1]:.3g}) "
                             f"in epoch {epochs}")
        return lines

    def plot(self, path: str) -> None:
        """Three panels over epochs: ‖δ‖ per layer, ‖Δθ‖/‖θ‖ per layer, dead ReLU fraction."""
        self.close()
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        epochs = np.arange(1, self.epochs + 1)
        figure, (norms, ratios, dead) = plt.subplots(1, 3, figsize=(15, 4.2))
        for layer in self.layers:
            line, = norms.plot(epochs, self.grad_norm[layer], marker="o", ms=3, label=layer)
            flagged = [e for e in range(self.epochs) if self.health(layer, e)]
            if flagged:
                norms.scatter(epochs[flagged], np.nan_to_num(np.array(self.grad_norm[layer])[flagged], nan=EXPLODING),
                              s=90, facecolors="none", edgecolors="#be185d", linewidths=2, zorder=3,
                              label=f"{layer}: {self.health(layer, flagged[0])}")
            ratios.plot(epochs, self.update_ratio[layer], marker="o", ms=3, color=line.get_color(), label=layer)
        norms.set(yscale="log", xlabel="epoch", ylabel="‖δθ‖ (mean over the epoch's steps)",
                  title="Gradient norm per layer")
        ratios.axhline(RATIO_GUIDE, color="#888888", linestyle="--", linewidth=1)
        ratios.text(epochs[0] if len(epochs) else 1, RATIO_GUIDE, " 1e−3: rule of thumb", va="bottom",
                    color="#666666", fontsize=8)
        ratios.set(yscale="log", xlabel="epoch", ylabel="‖Δθ‖ / ‖θ‖ per step", title="Update-to-weight ratio")
        for name in self.rectifiers:
            dead.plot(epochs, [100 * d for d in self.dead[name]], marker="o", ms=3, label=name)
        dead.set(ylim=(0, 100), xlabel="epoch", ylabel="% of ReLU outputs that are 0",
                 title="Dead ReLU units (pass no gradient)")
        if not self.rectifiers:
            dead.text(0.5, 0.5, "no nn.ReLU module", ha="center", transform=dead.transAxes, color="#666666")
        warnings = self.warnings()
        figure.suptitle("⚠ " + "; ".join(warnings) if warnings else
                        "no layer's gradient vanished or exploded (a circled point would flag one)",
                        color="#be185d" if warnings else "#333333", fontsize=10)
        for axes in (norms, ratios, dead):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(alpha=0.3)
            if axes.get_legend_handles_labels()[0]:
                axes.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)


def _norm(arrays) -> float:
    return float(math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)))
