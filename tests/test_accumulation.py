"""The engine sums a tensor's gradients in place only in arrays it made itself."""
import numpy as np

import tinygraph as tg


class _Shared(tg.Op):
    """out = x; backward hands back one stored array every time (as a rule may legitimately do)."""

    shared = np.full(3, 2.0)

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad_out):
        return (_Shared.shared,)


def test_four_uses_sum_right_and_leave_every_rule_output_untouched():
    tg.register_op("shared_grad_op")(_Shared)
    try:
        x = tg.tensor(np.ones(3), requires_grad=True)
        uses = [tg.shared_grad_op(x) for _ in range(4)]          # four contributions of the same array
        total = uses[0] + uses[1] + uses[2] + uses[3]
        total.sum().backward()
        np.testing.assert_array_equal(x.grad, np.full(3, 8.0))
        np.testing.assert_array_equal(_Shared.shared, np.full(3, 2.0))   # the rule's array was not added into
    finally:
        tg.unregister_op("shared_grad_op")


def test_read_only_broadcast_gradient_is_summed_into_a_new_array():
    x = tg.tensor(np.arange(3.0), requires_grad=True)
    (x.sum() + x.sum() + (x * 2.0).sum()).backward()             # sum's gradient is a read-only view
    np.testing.assert_array_equal(x.grad, np.full(3, 4.0))
