"""torch.nn.functional's place: `import tinygraph.nn.functional as F` is `tinygraph.functional`.

PyTorch scripts import F from here; tinygraph's functions live in tinygraph/functional.py, and
every name is looked up there, so the two can never differ.
"""
from tinygraph import functional as _functional


def __getattr__(name: str):
    return getattr(_functional, name)


def __dir__() -> list[str]:
    return dir(_functional)
