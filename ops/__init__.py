"""Built-in ops, one per file; importing this package registers them all."""
from tinygraph.ops import (  # noqa: F401
    add, conv2d, div, exp, log, matmul, maxpool, mean, mul, neg, pow, relu, reshape, softmax_xent, sub, sum, transpose,
)
