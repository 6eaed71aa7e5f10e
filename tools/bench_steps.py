"""The config rows of tools/bench.py: one training step written three ways from the same weights and data.

TinygraphStep is what a tinygraph user writes (and TinygraphCompiledStep the same step under
tg.compile); NumpyStep calls the same registered op rules by hand with no graph or engine (their
difference is the engine's overhead); TorchStep is what a PyTorch user writes. The network is the
derivation's: Conv(W, b) → ReLU → MaxPool 2×2 → Flatten → Linear(U, c) → mean softmax
cross-entropy, float32, then an SGD update.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

import tinygraph as tg
from tinygraph.broadcast import unbroadcast
from tinygraph.op import Context
from tinygraph.parallel import run_backward, run_forward

try:
    import torch
    import torch.nn.functional as F
except ImportError:          # PyTorch is only a yardstick
    torch = None

CLASSES = 10
LR = 0.01


def make_problem(config: tuple[int, int, int, int, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Data, labels and initial weights (PyTorch's default uniform init bounds), all float32."""
    n, channels, size, filters, k = config
    rng = np.random.default_rng(seed)
    pooled = (size - k + 1) // 2
    features = filters * pooled * pooled
    conv_bound = 1 / np.sqrt(channels * k * k)
    fc_bound = 1 / np.sqrt(features)
    f32 = np.float32
    return {
        "X": rng.standard_normal((n, channels, size, size)).astype(f32),
        "y": rng.integers(0, CLASSES, size=n).astype(np.int64),
        "W": rng.uniform(-conv_bound, conv_bound, (filters, channels, k, k)).astype(f32),
        "b": rng.uniform(-conv_bound, conv_bound, filters).astype(f32),
        "U": rng.uniform(-fc_bound, fc_bound, (features, CLASSES)).astype(f32),   # s = p U + c
        "c": rng.uniform(-fc_bound, fc_bound, CLASSES).astype(f32),
    }


class TinygraphStep:
    """The step as a tinygraph user writes it: ops on Tensors, loss.backward(), SGD on .data."""

    name = "tinygraph"

    def __init__(self, problem, dtype=np.float32):
        self.X = tg.tensor(problem["X"].astype(dtype))
        self.y = problem["y"]
        self.params = [tg.tensor(problem[k].astype(dtype), requires_grad=True, name=k) for k in "WbUc"]

    def loss(self):
        W, b, U, c = self.params
        return tg.softmax_xent(tg.maxpool(tg.conv2d(self.X, W, b).relu(), 2).flatten(1) @ U + c, self.y)

    def step(self):
        loss = self.loss()
        loss.backward()
        for p in self.params:
            p.data -= LR * p.grad.data
            p.grad = None
        return loss

    def loss_and_grads(self):
        loss = self.loss()
        loss.backward()
        grads = [p.grad.data for p in self.params]
        for p in self.params:
            p.grad = None
        return float(loss.data), grads


class TinygraphCompiledStep(TinygraphStep):
    """TinygraphStep under tg.compile. A compiled step may not write `.data`, so optim.SGD makes the
    same update (θ ← θ − lr·∇, the same float32 arithmetic); recorded when built (unless record_now
    is False: then the first step records), then replayed."""

    name = "compiled"

    def __init__(self, problem, dtype=np.float32, record_now: bool = True):
        super().__init__(problem, dtype)
        self.optimizer = tg.optim.SGD(self.params, lr=LR)
        self.step = compiled(self.sgd_step, record_now)

    def sgd_step(self):
        self.optimizer.zero_grad()
        loss = self.loss()
        loss.backward()
        self.optimizer.step()
        return loss


def compiled(step: Callable, record_now: bool = True):
    """`step` under tg.compile; with record_now its recording call is made now, so every later call is a replay."""
    compiled_step = tg.compile(step)
    if record_now:
        compiled_step()
        check_recorded(compiled_step)
    return compiled_step


def check_recorded(compiled_step) -> None:
    """Refuse a compiled step whose recording call found something a schedule cannot replay."""
    if not compiled_step.schedules:
        raise RuntimeError(f"tools/bench.py: tg.compile could not record {compiled_step.name} ({compiled_step!r}); "
                           "run with --no-compile")


def same_losses(eager, compiled_runner, steps: int = 2) -> bool:
    """Whether the compiled runner's next `steps` losses are bitwise the eager runner's. The compiled
    one took its first step (the recording) when built, so the eager one takes it first."""
    eager.step()
    return all(np.array_equal(eager.step().data, compiled_runner.step().data) for _ in range(steps))


class NumpyStep:
    """The same step calling the registered ops' forward/backward rules directly: no graph, no engine."""

    name = "numpy"

    def __init__(self, problem):
        self.X, self.y = problem["X"], problem["y"]
        self.params = [problem[k].copy() for k in "WbUc"]
        registry = tg.registry()
        self.conv, self.relu, self.pool = registry["conv2d"], registry["relu"], registry["maxpool"]
        self.reshape, self.matmul, self.add = registry["reshape"], registry["matmul"], registry["add"]
        self.xent = registry["softmax_xent"]

    def loss_and_grads(self):
        W, b, U, c = self.params
        conv_ctx, relu_ctx, pool_ctx = Context((False, True, True)), Context((True,)), Context((True,))
        flat_ctx, mm_ctx, add_ctx, xent_ctx = (Context((True,)), Context((True, True)),
                                               Context((True, True)), Context((True, False, False)))
        # The rules through the op machinery (run_forward/run_backward split declared ops over the
        # batch, as apply and the engine do), without Tensors, Nodes or the engine's walk.
        Z = run_forward(self.conv, conv_ctx, [self.X, W, b], {})
        A = run_forward(self.relu, relu_ctx, [Z], {})
        P = run_forward(self.pool, pool_ctx, [A], {"size": 2})
        p = run_forward(self.reshape, flat_ctx, [P], {"shape": (P.shape[0], -1)})
        pU = run_forward(self.matmul, mm_ctx, [p, U], {})
        s = run_forward(self.add, add_ctx, [pU, c], {})
        loss = run_forward(self.xent, xent_ctx, [s, self.y], {})
        grad_s = run_backward(self.xent, xent_ctx, np.ones_like(loss))[0]   # δs; the target and weight get none
        grad_pU, grad_c = run_backward(self.add, add_ctx, grad_s)
        grad_c = unbroadcast(grad_c, c.shape)[0]
        grad_p, grad_U = run_backward(self.matmul, mm_ctx, grad_pU)
        (grad_P,) = run_backward(self.reshape, flat_ctx, grad_p)
        (grad_A,) = run_backward(self.pool, pool_ctx, grad_P)
        (grad_Z,) = run_backward(self.relu, relu_ctx, grad_A)
        _, grad_W, grad_b = run_backward(self.conv, conv_ctx, grad_Z)
        return loss, [grad_W, grad_b, grad_U, grad_c]

    def step(self):
        loss, grads = self.loss_and_grads()
        for p, g in zip(self.params, grads):
            p -= LR * g
        return loss


class TorchStep:
    """The step as a PyTorch user writes it (F.linear takes U transposed, as nn.Linear stores it)."""

    name = "torch"

    def __init__(self, problem):
        self.X = torch.from_numpy(problem["X"].copy())
        self.y = torch.from_numpy(problem["y"].copy())
        W, b, U, c = (problem[k] for k in "WbUc")
        self.params = [torch.tensor(a, requires_grad=True) for a in (W, b, np.ascontiguousarray(U.T), c)]

    def _loss(self):
        W, b, Ut, c = self.params
        hidden = F.max_pool2d(F.relu(F.conv2d(self.X, W, b)), 2).flatten(1)
        return F.cross_entropy(F.linear(hidden, Ut, c), self.y)

    def step(self):
        loss = self._loss()
        loss.backward()
        with torch.no_grad():
            for p in self.params:
                p -= LR * p.grad
                p.grad = None
        return loss

    def loss_and_grads(self):
        loss = self._loss()
        loss.backward()
        W, b, Ut, c = (p.grad.numpy().copy() for p in self.params)
        for p in self.params:
            p.grad = None
        return float(loss.detach()), [W, b, Ut.T, c]


def frameworks(use_torch: bool, use_compile: bool = True) -> list[type]:
    compiled_steps = [TinygraphCompiledStep] if use_compile else []
    return [TinygraphStep, *compiled_steps, NumpyStep] + ([TorchStep] if use_torch else [])


def check_agreement(problem, use_torch: bool) -> dict:
    """Step-0 loss and gradients of each framework against tinygraph, and float32 against float64."""
    reference_loss, reference_grads = TinygraphStep(problem).loss_and_grads()
    loss64, grads64 = TinygraphStep(problem, np.float64).loss_and_grads()
    result = {"loss": reference_loss,
              "float64_loss_diff": abs(reference_loss - loss64),
              "float64_grad_rel_diff": max_relative_difference(reference_grads, grads64)}
    for cls in frameworks(use_torch, use_compile=False)[1:]:
        loss, grads = cls(problem).loss_and_grads()
        result[f"{cls.name}_loss_diff"] = abs(float(loss) - reference_loss)
        result[f"{cls.name}_grad_rel_diff"] = max_relative_difference(reference_grads, grads)
    return result


def max_relative_difference(grads, others) -> float:
    """The largest |g − o| of any pair, relative to the largest |o| of that pair."""
    return max(float(np.max(np.abs(g - o)) / max(np.max(np.abs(o)), 1e-30)) for g, o in zip(grads, others))


def limit_threads(count: int):
    """Hold tinygraph, BLAS (and OpenMP) and PyTorch to `count` threads; keep the returned limiter alive."""
    from threadpoolctl import threadpool_limits
    limiter = threadpool_limits(limits=count)
    tg.set_num_threads(count)
    if torch is not None:
        torch.set_num_threads(count)
    return limiter
