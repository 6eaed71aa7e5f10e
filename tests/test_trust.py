"""Defects found off the seed path (issue: trust), one test each; every one failed before its fix."""
import gc
import threading
import tracemalloc

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import nn, optim
from tinygraph.models import TwoLayerCNN


# ------------------------------------------------------------------ 1. 0-d gradients keep every contribution

def test_cube_of_a_0d_tensor_has_gradient_3x_squared_as_an_array():
    x = tg.tensor(0.5, requires_grad=True)
    (x * x * x).backward()
    assert type(x.grad) is tg.Tensor and type(x.grad.data) is np.ndarray and x.grad.shape == () and x.grad == pytest.approx(0.75)


def test_four_uses_of_a_0d_tensor_sum_to_four():
    x = tg.tensor(0.5, requires_grad=True)
    (x + x + x + x).backward()
    assert type(x.grad.data) is np.ndarray and x.grad.shape == () and x.grad == 4.0


def test_0d_leaf_accumulates_across_backward_calls_as_an_array():
    x = tg.tensor(np.float32(2.0), requires_grad=True)
    for _ in range(3):
        (x * x).backward()
    assert type(x.grad.data) is np.ndarray and x.grad.dtype == np.float32 and x.grad == 12.0


# ------------------------------------------------------------------ 2. mixed dtypes: gradients in each input's dtype

def test_float32_linear_on_float64_input_trains():
    layer = nn.Linear(3, 2, rng=np.random.default_rng(0))
    out = layer(np.random.default_rng(1).random((4, 3)))            # float64 data, float32 weights
    out.sum().backward()
    assert layer.weight.grad.dtype == np.float32 and layer.bias.grad.dtype == np.float32


def test_float32_cnn_on_float64_images_trains():
    model = TwoLayerCNN(rng=np.random.default_rng(0))
    loss = model.loss(np.random.default_rng(1).random((2, 1, 8, 8)), np.array([1, 2]))
    loss.backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_float32_times_an_integer_array_gives_a_float32_gradient():
    w = tg.tensor(np.ones(3, np.float32), requires_grad=True)
    (w * np.array([1, 2, 3])).sum().backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, [1, 2, 3])


# ------------------------------------------------------------------ 4. in-place changes are detected

def test_optimizer_step_before_backward_raises_naming_the_op_and_tensor():
    w = tg.tensor(np.ones((2, 2)), requires_grad=True, name="w")
    loss = (w * w).sum()
    w.grad = np.ones((2, 2))
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match=r"op 'mul' saved its input 'a' \(tensor 'w' of shape \(2, 2\)\).*modified in place"):
        loss.backward()


def test_a_view_shares_the_version_of_its_base():
    """x @ W.T saves the transpose, a view of W: stepping W must still be caught."""
    W = tg.tensor(np.ones((3, 2)), requires_grad=True, name="W")
    loss = (tg.tensor(np.ones((4, 2))) @ W.T).sum()
    W.grad = np.ones((3, 2))
    optim.Adam([W]).step()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_load_state_dict_before_backward_raises():
    layer = nn.Linear(2, 2, rng=np.random.default_rng(0))
    x = tg.tensor(np.ones((1, 2), np.float32), requires_grad=True)   # so δx needs W: linear saves it
    loss = layer(x).sum()
    layer.load_state_dict({k: v + 1 for k, v in layer.state_dict().items()})
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_in_place_update_of_a_saved_output_raises():
    z = tg.tensor(np.array([-1.0, 2.0]), requires_grad=True)
    a = z.exp()                                  # exp saves its output
    with tg.no_grad():
        a += 1
    with pytest.raises(RuntimeError, match="saved its output"):
        a.sum().backward()


def test_in_place_update_of_a_leaf_that_requires_grad_raises_while_recording():
    w = tg.tensor(np.ones(2), requires_grad=True, name="w")
    with pytest.raises(RuntimeError, match=r"'-=': a leaf tensor that requires grad \(tensor 'w'"):
        w -= 1
    with tg.no_grad():
        w -= 1                                   # the PyTorch idiom for a hand-written SGD step
    assert w.requires_grad and w.is_leaf and w._version == 1
    np.testing.assert_array_equal(w.data, [0, 0])


def test_tensor_copies_and_from_numpy_shares():
    buffer = np.ones((2, 2))
    copied, shared = tg.tensor(buffer), tg.from_numpy(buffer)
    buffer[0, 0] = 5
    assert copied.data[0, 0] == 1 and shared.data[0, 0] == 5


def test_refilling_a_data_buffer_before_backward_does_not_change_the_gradient():
    rng = np.random.default_rng(0)
    W = tg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    buffer = rng.standard_normal((4, 3))
    expected = buffer.T @ np.ones((4, 2))
    for x in (tg.tensor(buffer), buffer):        # a copied tensor, and the raw array handed to the op
        W.grad = None
        loss = (x @ W).sum()
        saved = buffer.copy()
        buffer[:] = 7.0                          # the loader refills its buffer with the next batch
        loss.backward()
        buffer[:] = saved
        np.testing.assert_allclose(W.grad, expected)


# ------------------------------------------------------------------ 5. grad mode belongs to the thread

def test_no_grad_in_one_thread_does_not_stop_recording_in_another():
    inside, release = threading.Event(), threading.Event()

    def other():
        with tg.no_grad():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(10)
    try:
        x = tg.tensor(1.0, requires_grad=True)
        assert (x * 2).requires_grad and tg.is_grad_enabled()
    finally:
        release.set()
        thread.join()


def test_overlapping_no_grad_blocks_in_two_threads_leave_recording_on():
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with tg.no_grad():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second():
        first_in.wait(10)
        with tg.no_grad():
            second_in.set()
            first_out.wait(10)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tg.is_grad_enabled()
    assert (tg.tensor(1.0, requires_grad=True) * 2).requires_grad


def _train(seed: int, steps: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(8, 16, rng=rng), nn.ReLU(), nn.Linear(16, 3, rng=rng))
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = rng.standard_normal((32, 8)), rng.integers(0, 3, size=32)
    for _ in range(steps):
        loss = tg.softmax_xent(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.data.copy() for p in model.parameters()]


def test_two_threads_training_beside_no_grad_match_serial_training():
    serial = [_train(seed, 60) for seed in (1, 2)]
    results: dict[int, list] = {}
    stop = threading.Event()

    def evaluator():                            # keeps entering and leaving no_grad()
        while not stop.is_set():
            with tg.no_grad():
                tg.tensor(np.ones(3), requires_grad=True) * 2

    def trainer(seed):
        results[seed] = _train(seed, 60)

    side = threading.Thread(target=evaluator)
    side.start()
    workers = [threading.Thread(target=trainer, args=(seed,)) for seed in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    side.join()
    for seed, expected in zip((1, 2), serial):
        for got, want in zip(results[seed], expected):
            np.testing.assert_array_equal(got, want)


def test_module_path_and_profiler_are_per_thread():
    inside, release = threading.Event(), threading.Event()

    class Waits(nn.Module):
        def forward(self, x):
            inside.set()
            release.wait(10)
            return x + 1

    model = nn.Sequential(Waits())
    thread = threading.Thread(target=lambda: model(tg.tensor(np.ones(2), requires_grad=True)))
    with tg.profile(print_table=False) as prof:
        thread.start()
        inside.wait(10)
        try:
            mine = tg.tensor(np.ones(2), requires_grad=True) * 2    # made while the other thread is inside "0"
        finally:
            release.set()
            thread.join()
    assert tg.nn.module_path(mine) is None
    assert set(prof.stats) == {"mul"}         # the other thread's add was not timed here


# ------------------------------------------------------------------ 6. gradcheck cannot be fooled

def _register_square(name, backward):
    @tg.register_op(name)
    class Square(tg.Op):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved
            return (backward(x, grad_out),)
    return getattr(tg, name)


def test_gradcheck_fails_on_nan_in_the_numeric_slope():
    """log near 0: the nudge leaves the domain, the slope is NaN; a 100× wrong rule must not pass."""
    @tg.register_op("log_wrong")
    class LogWrong(tg.Op):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return np.log(x)

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved
            return (100 * grad_out / x,)
    try:
        x = tg.tensor(np.array([1e-7, 1.0]), requires_grad=True)
        with np.errstate(invalid="ignore"):
            with pytest.raises(tg.GradcheckError, match=r"numeric gradient is nan at index \(0,\)"):
                tg.gradcheck(tg.log_wrong, x, eps=1e-6)
    finally:
        tg.unregister_op("log_wrong")


@pytest.mark.parametrize("eps", [float("nan"), 0.0, -1e-6, float("inf")])
def test_gradcheck_rejects_a_bad_eps(eps):
    with pytest.raises(ValueError, match="gradcheck: eps"):
        tg.gradcheck(lambda x: x * 2, tg.tensor(np.ones(2), requires_grad=True), eps=eps)


def test_gradcheck_passes_a_right_rule_on_a_transposed_input():
    x = tg.tensor(np.arange(6.0).reshape(2, 3).T, requires_grad=True)      # F-ordered
    assert not x.data.flags.c_contiguous
    assert tg.gradcheck(lambda x: x * 2, x)


def test_gradcheck_catches_a_rule_wrong_only_in_float32():
    square = _register_square("square32", lambda x, g: g * 2 * x * (1.5 if x.dtype == np.float32 else 1.0))
    try:
        tg.gradcheck(square, tg.tensor(np.arange(1.0, 4.0), requires_grad=True))          # float64 is right
        with pytest.raises(tg.GradcheckError, match="in float32"):
            tg.gradcheck(square, tg.tensor(np.arange(1.0, 4.0, dtype=np.float32), requires_grad=True))
    finally:
        tg.unregister_op("square32")


# ------------------------------------------------------------------ 7. PyTorch's semantics at the edges

def test_gradient_of_x_to_the_zero_at_zero_is_zero():
    x = tg.tensor(np.array([0.0, 2.0]), requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.mark.parametrize("position", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_maxpool_2x2_sends_a_nan_windows_gradient_to_the_nan(position):
    data = np.arange(16.0).reshape(1, 1, 4, 4)
    data[(0, 0) + position] = np.nan
    for size, stride in ((2, None), (2, 1)):          # the fast 2×2 path and the general one
        x = tg.tensor(data, requires_grad=True)
        out = tg.maxpool(x, size=size, stride=stride)
        assert np.isnan(out.data[0, 0, 0, 0])
        out.sum().backward()
        assert x.grad[(0, 0) + position] >= 1, (size, stride)


def test_float16_mean_of_many_ones_is_one():
    assert tg.tensor(np.ones(100_000, np.float16)).mean().item() == 1.0


def test_sum_and_mean_over_axis_0_of_a_0d_tensor():
    x = tg.tensor(3.0, requires_grad=True)
    (x.sum(0) + x.mean(-1)).backward()
    assert x.grad == 2.0


def test_mean_over_an_empty_axis_is_nan_with_an_empty_gradient():
    x = tg.tensor(np.ones((0, 3)), requires_grad=True)
    m = x.mean(axis=0)
    assert np.isnan(m.data).all()
    m.sum().backward()
    assert x.grad.shape == (0, 3)


@pytest.mark.parametrize("labels", [np.array([0.0, 1.0]), np.array([True, False])])
def test_softmax_xent_rejects_float_and_bool_class_labels(labels):
    with pytest.raises(tg.OpError, match="softmax_xent: target labels must be integer class indices"):
        tg.softmax_xent(tg.tensor(np.zeros((2, 3))), labels)


def test_bool_of_a_multi_element_tensor_raises():
    assert bool(tg.tensor([2.0])) and not bool(tg.tensor(0.0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(tg.tensor([1.0, 2.0]))


def test_reshape_rejects_negative_sizes_other_than_minus_one():
    with pytest.raises(tg.OpError, match=r"reshape: shape \(-2, 3\)"):
        tg.tensor(np.ones(6)).reshape(-2, 3)


def test_integer_and_bool_tensors_exist_and_scalars_are_weak():
    labels = tg.tensor([1, 0, 2])
    assert labels.dtype == np.int64 and (labels + 1).dtype == np.int64
    assert (labels * 0.5).dtype == np.float64
    assert (tg.tensor(np.ones(2, np.int8)) + 1).dtype == np.int8
    assert (tg.tensor(np.ones(2, np.float32)) * np.float64(2)).dtype == np.float32
    loss = tg.softmax_xent(tg.tensor(np.zeros((3, 3)), requires_grad=True), labels)
    assert loss.item() == pytest.approx(np.log(3))


# ------------------------------------------------------------------ 8. the BLAS thread count is restored

def _blas_threads(threadpoolctl) -> list[int]:
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
            if lib["user_api"] == "blas" and "numpy" in lib["filepath"]]


def test_overlapping_large_ops_in_two_threads_restore_the_blas_thread_count():
    """A enters, B enters, A leaves, B leaves: the order that used to leave BLAS at one thread."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from tinygraph.parallel import _one_blas_thread
    before = _blas_threads(threadpoolctl)
    if not before or max(before) < 2:
        pytest.skip("this BLAS runs one thread only")
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with _one_blas_thread():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def second():
        a_in.wait(10)
        with _one_blas_thread():
            b_in.set()
            a_out.wait(10)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _blas_threads(threadpoolctl) == before


def test_concurrent_large_ops_restore_the_blas_thread_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = _blas_threads(threadpoolctl)
    a = tg.tensor(np.ones((512, 256), np.float32))
    b = tg.tensor(np.ones((256, 256), np.float32))

    def work():
        for _ in range(5):
            a @ b

    for _ in range(10):
        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert _blas_threads(threadpoolctl) == before


# ------------------------------------------------------------------ 9. a kept loss keeps the graph's structure, not its arrays

def _digits_step(model, x, y):
    loss = model.loss(x, y)
    model.zero_grad()
    loss.backward()
    return loss


def test_a_kept_loss_costs_bytes_per_node_not_the_activations():
    rng = np.random.default_rng(0)
    model = TwoLayerCNN(rng=rng)
    x, y = rng.random((32, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, size=32)
    _digits_step(model, x, y)                   # warm-up: caches, first-call allocations
    kept = []
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(5):
            kept.append(_digits_step(model, x, y))
        gc.collect()
        per_step = (tracemalloc.get_traced_memory()[0] - start) / 5
    finally:
        tracemalloc.stop()
    assert per_step <= 64 * 1024, f"{per_step / 1024:.0f} kB kept per loss"
    assert kept[-1].item() > 0                  # the loss itself is still there


def test_tensors_the_user_holds_stay_in_the_graph_with_their_values():
    x = tg.tensor(np.random.default_rng(0).standard_normal((8, 64)), requires_grad=True)
    hidden = (x * 2).relu()
    loss = (hidden * 3).sum()
    loss.backward()
    assert loss._node.inputs[0] is not None
    mul = loss._node.inputs[0]._node          # (hidden * 3)'s node: its input is the held tensor
    assert mul.inputs[0] is hidden and hidden.data.shape == (8, 64)
    relu_input = hidden._node.inputs[0]        # x * 2: nobody holds it, so only its structure is kept
    assert not relu_input.values_available and relu_input.shape == (8, 64)
    with pytest.raises(RuntimeError, match="freed after backward"):
        relu_input.data
    with pytest.raises(RuntimeError, match="already backpropagated"):
        loss.backward()


def test_drawing_after_a_plain_backward_says_which_values_were_freed():
    model = TwoLayerCNN(rng=np.random.default_rng(0))
    image = np.random.default_rng(1).random((1, 1, 8, 8), dtype=np.float32)
    loss = model.loss(image, np.array([3]))
    loss.backward()
    source = tg.draw(loss).source                      # no error: the structure is all there
    assert "values freed by backward()" in source and "(1, 16, 6, 6)" in source
    loss = model.loss(image, np.array([3]))
    with tg.record_backward() as recording:            # a recording keeps what it draws
        loss.backward()
    assert "values freed" not in tg.draw(loss, recording=recording).source
