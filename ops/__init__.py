"""Built-in ops, one per file; importing this package registers them all."""
from tinygraph.ops import (  # noqa: F401
    add, conv2d, div, exp, log, matmul, maxpool, mean, mul, neg, pow, relu, reshape, softmax_xent, sub, sum, transpose,
)
from tinygraph.ops import (  # noqa: F401  PyTorch's tensor vocabulary (issue 11)
    abs, amax, amin, cat, clamp, expand, getitem, log_softmax, logsumexp, maximum, minimum, sigmoid, softmax, sqrt,
    std, tanh, var, where,
)
from tinygraph.ops import (  # noqa: F401  the layers behind tinygraph.functional (issues 11, 13)
    avg_pool2d, batch_norm, dropout, linear, mse_loss, nll_loss, pad,
)
from tinygraph.ops import (  # noqa: F401  the rest of PyTorch's vocabulary (issue 20)
    acos, asin, atan, cast, clone, conv_transpose2d, cos, cosh, cumsum, erf, exp2, expm1, floor_divide, frac, log1p,
    log2, log10, max_unpool2d, reciprocal, remainder, rounding, rsqrt, scatter_add_along_dim, sin, sinh, square,
    take_along_dim, tan,
)
from tinygraph.ops import add_at, setitem  # noqa: F401  x[i] = v recorded (issue 18); indexing's adjoint (19)
from tinygraph.ops._tensor_methods import install_tensor_methods  # noqa: E402
from tinygraph.ops._in_place import install_in_place_methods  # noqa: E402

install_tensor_methods()      # x + y, x @ w, x[i], x.sum(dim), x.reshape(2, 3), x.T, ...
install_in_place_methods()    # x += y, x[i] = v, x.add_(y), x.copy_(y), x.zero_(), ... (recorded as ops)
