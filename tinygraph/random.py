"""The process's default random generator, as PyTorch's: `tg.manual_seed(s)` makes a script reproducible.

Everything random in tinygraph draws from `generator=` (or a layer's `rng=`) when given, and from
the default generator otherwise: random factories (`tg.rand`, `tg.randn`, ...), layers'
initialisation (nn.Linear, nn.Conv2d), dropout masks, and `DataLoader(shuffle=True)`.

    tg.manual_seed(0)             # the default generator restarts from seed 0
    g = tg.Generator().manual_seed(1)
    tg.randn(3, generator=g)      # its own stream, as torch.Generator

A `tg.Generator` is a `numpy.random.Generator` (PCG64) that can be reseeded in place, so every
function that takes a NumPy generator takes one. The default generator is one such object for the
life of the process: `manual_seed` reseeds it, so code holding it sees the new stream. Seeds give
NumPy's streams, not PyTorch's: `tg.manual_seed(0)` reproduces tinygraph runs, not torch's numbers.
"""
from __future__ import annotations

from typing import Any

import numpy as np


class Generator(np.random.Generator):
    """A NumPy generator with torch.Generator's methods: manual_seed, seed, initial_seed, get_state, set_state."""

    def __init__(self, device: Any = "cpu"):
        if device not in ("cpu", None) and str(device) != "cpu":
            raise ValueError(f"tg.Generator: tinygraph runs on the CPU only, got device={device!r}")
        super().__init__(np.random.PCG64())
        self._seed: int | None = None

    def manual_seed(self, seed: int) -> "Generator":
        """Restart the stream from `seed` (a non-negative integer); returns the generator, as PyTorch's."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"manual_seed: the seed must be an integer, got {type(seed).__name__}")
        seed = int(seed)
        if seed < 0:
            raise ValueError(f"manual_seed: the seed must be non-negative, got {seed}")
        self.bit_generator.state = np.random.PCG64(seed).state
        self._seed = seed
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the seed used."""
        new_seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self.manual_seed(new_seed)
        return new_seed

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with (seeded from the OS on first use)."""
        if self._seed is None:
            self.seed()
        return self._seed

    def get_state(self) -> dict:
        """The full state (a dict), to restore later with set_state."""
        return {"seed": self._seed, "bit_generator": self.bit_generator.state}

    def set_state(self, state: dict) -> "Generator":
        self.bit_generator.state = state["bit_generator"]
        self._seed = state["seed"]
        return self

    def __reduce__(self):
        return _restore, (self.get_state(),)


def _restore(state: dict) -> Generator:
    return Generator().set_state(state)


_DEFAULT = Generator()


def default_generator() -> Generator:
    """The generator everything random uses when given none (seeded from the OS until manual_seed)."""
    if _DEFAULT._seed is None:
        _DEFAULT.seed()
    return _DEFAULT


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (as torch.manual_seed); returns it."""
    return _DEFAULT.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from the OS's entropy and return the seed used (as torch.seed)."""
    return _DEFAULT.seed()


def initial_seed() -> int:
    """The seed the default generator was last seeded with (as torch.initial_seed)."""
    return default_generator().initial_seed()


def get_rng_state() -> dict:
    """The default generator's state (as torch.get_rng_state; a dict, not a byte tensor)."""
    return default_generator().get_state()


def set_rng_state(state: dict) -> None:
    """Restore the default generator's state from get_rng_state()."""
    _DEFAULT.set_state(state)


def numpy_generator(generator: Any, where: str) -> np.random.Generator:
    """The generator to draw from: `generator` itself (a tg.Generator or numpy Generator), else the default."""
    if generator is None:
        return default_generator()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"{where}: the generator must be a tg.Generator or a numpy.random.Generator "
                        f"(np.random.default_rng(seed)), got {type(generator).__name__}")
    return generator
