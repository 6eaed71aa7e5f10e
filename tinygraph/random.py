"""The process's default random generator, as PyTorch's: `tg.manual_seed(s)` makes a script reproducible.

Random factories (`tg.rand`, `tg.randn`, ...) draw from `generator=` when given (a
`numpy.random.Generator`) and from `default_generator()` otherwise. `manual_seed` replaces the
default generator by one seeded with `s`; `seed()` reseeds it from the OS and returns the seed.
"""
from __future__ import annotations

import numpy as np

_state = {"seed": None, "generator": None}


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the default generator (as torch.manual_seed); returns it."""
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"manual_seed: the seed must be non-negative, got {seed}")
    _state["seed"] = seed
    _state["generator"] = np.random.default_rng(seed)
    return _state["generator"]


def seed() -> int:
    """Seed the default generator from the OS's entropy and return the seed used (as torch.seed)."""
    new_seed = int(np.random.SeedSequence().entropy % (2 ** 63))
    manual_seed(new_seed)
    return new_seed


def initial_seed() -> int:
    """The seed the default generator was last seeded with (seeded from the OS on first use)."""
    if _state["seed"] is None:
        seed()
    return _state["seed"]


def default_generator() -> np.random.Generator:
    """The generator random factories use when given none."""
    if _state["generator"] is None:
        seed()
    return _state["generator"]
