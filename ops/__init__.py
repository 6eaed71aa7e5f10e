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
from tinygraph.ops._tensor_methods import install_tensor_methods  # noqa: E402

install_tensor_methods()      # x + y, x @ w, x[i], x.sum(dim), x.reshape(2, 3), x.T, ...
