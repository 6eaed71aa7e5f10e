"""PyTorch names that tinygraph spells differently, or leaves out on purpose, and what to write instead.

`tinygraph.__getattr__` consults this table when a name is missing, so `tg.mm` raises
AttributeError: module 'tinygraph' has no attribute 'mm'; in tinygraph write tg.matmul(a, b) or a @ b
A name that tinygraph gains later (an op registered under it, say) is found first and never reaches here.
"""
from __future__ import annotations

_MATMUL = "tg.matmul(a, b) or a @ b"
_CPU_ONLY = ("tinygraph runs on the CPU only: drop the accelerator lines (.cuda(), device='cuda'); "
             "tg.device('cpu') is the one device")

# name -> what to write in tinygraph
TINYGRAPH_SPELLING: dict[str, str] = {
    "as_tensor": "tg.tensor(data) (a copy) or tg.from_numpy(array) (shares memory)",
    "FloatTensor": "tg.tensor(data).float()",
    "LongTensor": "tg.tensor(data).long()",
    "Size": "a plain tuple: t.shape",
    "mm": _MATMUL, "bmm": _MATMUL, "mv": _MATMUL, "dot": _MATMUL,
    "clip": "tg.clamp(x, min, max)",
    "absolute": "tg.abs(x)",
    "negative": "tg.neg(x) or -x",
    "multiply": "tg.mul(a, b) or a * b",
    "divide": "tg.div(a, b) or a / b", "true_divide": "tg.div(a, b) or a / b",
    "subtract": "tg.sub(a, b) or a - b",
    "concat": "tg.cat(tensors, dim)", "concatenate": "tg.cat(tensors, dim)",
    "masked_fill": "tg.where(mask, value, x)",
    "max_pool2d": "tg.maxpool(x, kernel_size) or tinygraph.functional.max_pool2d",
    "cross_entropy": "tinygraph.functional.cross_entropy(logits, labels) or tg.softmax_xent(logits, labels)",
    "inference_mode": "tg.no_grad()",
    "utils": "tinygraph.data (from torch.utils.data import DataLoader → from tinygraph.data import DataLoader)",
    "allclose": "np.allclose(a.numpy(), b.numpy())",
}

# name -> why tinygraph has nothing of that name
LEFT_OUT: dict[str, str] = {
    "cuda": _CPU_ONLY, "backends": _CPU_ONLY, "mps": _CPU_ONLY,
    "jit": "tinygraph has no TorchScript; call the model directly",
}


def missing_name_error(module: str, name: str) -> AttributeError:
    """The AttributeError for a missing name, with the tinygraph spelling when PyTorch users would look for one."""
    message = f"module {module!r} has no attribute {name!r}"
    if name in TINYGRAPH_SPELLING:
        message += f"; in tinygraph write {TINYGRAPH_SPELLING[name]}"
    elif name in LEFT_OUT:
        message += f": {LEFT_OUT[name]}"
    return AttributeError(message)
