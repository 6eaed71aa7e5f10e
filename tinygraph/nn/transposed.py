"""The layers that undo a conv or a pool: ConvTranspose2d (conv2d's adjoint) and MaxUnpool2d, as torch.nn's."""
from __future__ import annotations

from typing import Any

import numpy as np

from tinygraph import functional as F
from tinygraph.nn.layers import _pair, _positive_int, _uniform, as_tensor
from tinygraph.nn.module import Module, Parameter
from tinygraph.tensor import Tensor


class ConvTranspose2d(Module):
    """Y = Wᵀ ⋆ X + b, W of shape (in_channels, out_channels / groups, kh, kw): F.conv_transpose2d as a layer.

    The output is (H − 1)·stride − 2·padding + dilation·(kh − 1) + output_padding + 1 per side;
    forward(x, output_size=(h, w)) picks output_padding to reach that size, as PyTorch.
    Initialised uniform in ±1/√(out_channels / groups · kh · kw), PyTorch's fan-in for this weight.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 output_padding: int | tuple[int, int] = 0, groups: int = 1, bias: bool = True,
                 dilation: int | tuple[int, int] = 1, padding_mode: str = "zeros", *,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        name = "nn.ConvTranspose2d"
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.kernel_size = _pair(name, "kernel_size", kernel_size, minimum=1)
        self.stride = _pair(name, "stride", stride, minimum=1)
        self.padding = _pair(name, "padding", padding, minimum=0)
        self.output_padding = _pair(name, "output_padding", output_padding, minimum=0)
        self.dilation = _pair(name, "dilation", dilation, minimum=1)
        self.groups = _positive_int(name, "groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                             f"divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        kh, kw = self.kernel_size
        bound = 1.0 / np.sqrt(out_channels // groups * kh * kw)
        self.weight = Parameter(_uniform(rng, bound, (in_channels, out_channels // groups, kh, kw), dtype))
        self.bias = Parameter(_uniform(rng, bound, (out_channels,), dtype)) if bias else None

    def forward(self, x: Tensor, output_size: Any = None) -> Tensor:
        x = as_tensor(x)
        output_padding = self.output_padding if output_size is None else self._output_padding(x, output_size)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)

    def _output_padding(self, x: Tensor, output_size: Any) -> tuple[int, int]:
        """The output_padding that makes the output output_size[-2:] (each at most stride − 1 more than the least)."""
        wanted = tuple(int(n) for n in tuple(output_size)[-2:])
        least = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                 zip(x.shape[-2:], self.stride, self.padding, self.dilation, self.kernel_size)]
        extra = tuple(w - m for w, m in zip(wanted, least))
        if any(e < 0 or e >= max(s, d) for e, s, d in zip(extra, self.stride, self.dilation)):
            raise ValueError(f"nn.ConvTranspose2d: output_size {wanted} is not reachable from input of shape "
                             f"{x.shape}: each side must be between {least} and that plus stride − 1")
        return extra

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}")


class MaxUnpool2d(Module):
    """Put max_pool2d's values back at its indices, zeros elsewhere: F.max_unpool2d as a layer."""

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0):
        super().__init__()
        name = "nn.MaxUnpool2d"
        self.kernel_size = _pair(name, "kernel_size", kernel_size, minimum=1)
        self.stride = self.kernel_size if stride is None else _pair(name, "stride", stride, minimum=1)
        self.padding = _pair(name, "padding", padding, minimum=0)

    def forward(self, input: Tensor, indices: Any, output_size: Any = None) -> Tensor:
        return F.max_unpool2d(as_tensor(input), indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
