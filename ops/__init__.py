"""Built-in ops, one per file; importing this package registers them all."""
from tinygraph.ops import add, div, exp, log, matmul, mul, neg, pow, relu, reshape, sub, sum, transpose  # noqa: F401
