"""torch is a test-only dependency (the `crosscheck` extra): the comparisons with PyTorch skip without it,
except under CI=true, where a missing torch must fail the run instead of skipping it silently."""
from __future__ import annotations

import os

import pytest


def require_torch(test_file: str):
    """The torch module for `test_file` (pass __file__): skipped without torch, an error under CI=true."""
    if os.environ.get("CI") != "true":
        return pytest.importorskip("torch")
    try:
        import torch
    except ImportError as error:
        raise RuntimeError(f"CI=true but PyTorch is not installed: {os.path.basename(test_file)} needs torch "
                           "(pip install -e '.[crosscheck]')") from error
    return torch
