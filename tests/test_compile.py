"""tg.compile: a replayed step gives bitwise the eager step's results, guards record anew, and what a
schedule cannot replay runs eagerly with a warning that says why."""
import warnings

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import nn
from tinygraph.models import LeNet5, SmallCNN, TwoLayerCNN
from tinygraph.node import Node


def _batches(n, batch=8, size=8, seed=1):
    rng = np.random.default_rng(seed)
    return [(tg.tensor(rng.normal(size=(batch, 1, size, size)).astype(np.float32)),
             tg.tensor(rng.integers(0, 10, batch))) for _ in range(n)]


def _train(make_model, optimizer, compiled, batches, step_body=None):
    """Train a fresh seeded model on `batches`; returns (weights, what each call returned, the step)."""
    tg.manual_seed(0)
    model = make_model()
    opt = optimizer(model.parameters())

    def step(x, y):
        opt.zero_grad()
        logits = model(x)
        loss = tg.softmax_xent(logits, y)
        loss.backward()
        opt.step()
        return loss, (logits.argmax(1) == y).sum()

    step = step_body(model, opt) if step_body else step
    if compiled:
        step = tg.compile(step)
    returned = []
    for x, y in batches:
        out = step(x, y)
        returned.append([np.array(t.data) for t in (out if isinstance(out, tuple) else (out,))])
    return [p.data.copy() for p in model.parameters()], returned, step


def _plain_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = model.loss(x, y)
        loss.backward()
        opt.step()
        return loss
    return step


def _assert_same(eager, compiled):
    (w_eager, r_eager, _), (w_compiled, r_compiled, step) = eager, compiled
    for a, b in zip(w_eager, w_compiled):
        assert a.dtype == b.dtype and np.array_equal(a, b), "weights differ from the eager run's"
    for a, b in zip(r_eager, r_compiled):
        for u, v in zip(a, b):
            assert np.array_equal(u, v), "a returned value differs from the eager run's"
    return step


MODELS = {
    "derivation CNN, SGD": (lambda: TwoLayerCNN(image_size=8), lambda ps: tg.optim.SGD(ps, lr=0.1, momentum=0.9), 8),
    "SmallCNN (batch norm, dropout), Adam": (lambda: SmallCNN(image_size=8), lambda ps: tg.optim.Adam(ps, lr=1e-3), 8),
    "LeNet-5, RMSprop": (lambda: LeNet5(image_size=32), lambda ps: tg.optim.RMSprop(ps, lr=1e-3), 32),
}


@pytest.mark.parametrize("name", MODELS)
def test_a_replayed_step_is_bitwise_the_eager_step(name):
    make_model, optimizer, size = MODELS[name]
    batches = _batches(6, size=size)
    step = _assert_same(_train(make_model, optimizer, False, batches), _train(make_model, optimizer, True, batches))
    assert step.records == 1 and step.schedule.replays == 5 and step.eager_calls == 0


def test_a_replay_builds_no_graph(monkeypatch):
    batches = _batches(3)
    tg.manual_seed(0)
    model = TwoLayerCNN(image_size=8)
    step = tg.compile(_plain_step(model, tg.optim.SGD(model.parameters(), lr=0.1)))
    step(*batches[0])
    made = []
    original = Node.__init__
    monkeypatch.setattr(Node, "__init__", lambda self, *a, **k: (made.append(1), original(self, *a, **k))[1])
    loss = step(*batches[1])
    assert made == [] and loss.grad_fn is None and step.schedule.replays == 1


def test_hand_written_sgd_under_no_grad_and_input_gradients_replay():
    """p -= lr * p.grad under no_grad is replayed as a write, and x.grad lands on the tensor passed in."""
    def body(model, opt):
        def step(x, y):
            for p in model.parameters():
                p.grad = None
            loss = tg.softmax_xent(model(x), y)
            loss.backward()
            with tg.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
            return loss, x.grad
        return step

    def batches():
        out = _batches(4)
        for x, _ in out:
            x.requires_grad_()
        return out

    eager = _train(lambda: TwoLayerCNN(image_size=8), lambda ps: None, False, batches(), body)
    compiled = _train(lambda: TwoLayerCNN(image_size=8), lambda ps: None, True, batches(), body)
    step = _assert_same(eager, compiled)
    assert step.schedule.replays == 3 and step.schedule.counts()["write"] == 4


def test_clipping_and_accumulating_without_zero_grad_replay():
    def body(model, opt):
        def step(x, y):
            loss = model.loss(x, y)
            loss.backward()                      # no zero_grad: .grad accumulates across calls
            total = tg.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            return loss, total
        return step
    batches = _batches(4)
    make, opt = (lambda: TwoLayerCNN(image_size=8)), (lambda ps: tg.optim.SGD(ps, lr=0.1))
    step = _assert_same(_train(make, opt, False, batches, body), _train(make, opt, True, batches, body))
    assert step.schedule.replays == 3


def test_a_broken_guard_records_anew_and_the_results_stay_eager():
    """Batch size, train/eval mode and a frozen parameter each change what the step does."""
    def run(compiled):
        tg.manual_seed(0)
        model = SmallCNN(image_size=8)
        step = _plain_step(model, tg.optim.SGD(model.parameters(), lr=0.1))
        step = tg.compile(step) if compiled else step
        losses = []
        for i, (x, y) in enumerate(_batches(3, batch=8) + _batches(2, batch=5, seed=2) + _batches(2, seed=3)):
            if i == 5:
                model.eval()
            if i == 6:
                model.classifier[2].weight.requires_grad_(False)
            losses.append(step(x, y).data.copy())
        return losses, [p.data.copy() for p in model.parameters()], step

    eager, compiled = run(False), run(True)
    assert all(np.array_equal(a, b) for a, b in zip(eager[0], compiled[0]))
    assert all(np.array_equal(a, b) for a, b in zip(eager[1], compiled[1]))
    step = compiled[2]
    assert step.records == 4 and len(step.schedules) == 4
    assert "requires_grad" in step.last_miss


ARRAYS: dict = {}      # a parameter's array, taken outside the step


@pytest.mark.parametrize("what, body, reason", [
    ("loss.item()", lambda loss, p: loss.item(), r"reads a tensor's values into Python \(item\(\)"),
    ("if loss > 1", lambda loss, p: bool(loss > 1), r"bool\(\)"),
    ("tg.randn", lambda loss, p: loss * tg.randn(()), "draws random numbers in Python"),
    ("p.data -= ...", lambda loss, p: p.data.__isub__(0.1), r"\.data on tensor"),
    ("x > 0 through .data", lambda loss, p: p[p.data > 0], r"\.data on tensor"),
    ("NumPy on an array taken before", lambda loss, p: ARRAYS[id(p)].__isub__(0.1),
     "changed during the step without an op"),
    ("a hook", lambda loss, p: p.register_hook(lambda g: g), "hooks"),
    ("create_graph", lambda loss, p: tg.autograd.grad(loss, p, create_graph=True), "create_graph"),
])
def test_what_a_schedule_cannot_replay_runs_eagerly_and_says_why(what, body, reason):
    """Each of these, replayed, would silently differ from the eager step."""
    def run(compiled):
        tg.manual_seed(0)
        p = nn.Parameter(np.array([1.0, -2.0, 0.5]))
        ARRAYS[id(p)] = p.data

        def step(x):
            loss = ((p * x) ** 2).sum()
            body(loss, p)
            loss = ((p * x) ** 2).sum()
            loss.backward()
            with tg.no_grad():
                p.sub_(0.1 * p.grad)
            p.grad = None
            return loss
        step = tg.compile(step) if compiled else step
        out = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in range(3):
                out.append(step(tg.tensor([1.0, 2.0, 3.0]) * (i + 1)).data.copy())
        return out, p.data.copy(), step, caught

    eager_out, eager_p, _, _ = run(False)
    out, p, step, caught = run(True)
    assert np.array_equal(p, eager_p) and all(np.array_equal(a, b) for a, b in zip(out, eager_out))
    messages = [str(w.message) for w in caught if "tg.compile" in str(w.message)]
    assert len(messages) == 1, f"{what}: one warning, got {messages}"
    import re
    assert re.search(reason, messages[0]), messages[0]
    assert step.schedules == [] and step.eager_calls == 2


def test_returned_arguments_numbers_and_nested_results():
    w = nn.Parameter(np.ones(3))

    @tg.compile
    def step(x, scale):
        y = (w * x).sum() * scale
        return {"y": y, "x": x, "pair": (y, None, 7)}

    first = step(tg.tensor([1.0, 2.0, 3.0]), 2.0)
    x = tg.tensor([4.0, 5.0, 6.0])
    second = step(x, 2.0)
    assert second["x"] is x and second["pair"][1:] == (None, 7)
    assert float(second["y"].data) == 30.0 and float(first["y"].data) == 12.0
    third = step(x, 3.0)                   # a number argument is guarded by its value
    assert float(third["y"].data) == 45.0 and step.records == 2


def test_the_schedule_prints_and_draws(tmp_path):
    batches = _batches(2)
    _, _, step = _train(MODELS["derivation CNN, SGD"][0], MODELS["derivation CNN, SGD"][1], True, batches)
    text = str(step.schedule)
    for expected in ("forward  conv2d(%0, W", "backward conv2d", "leaf     W.grad", "call     optim.SGD.step",
                     "call     buffers.end_step", "free %0", "argument 0"):
        assert expected in text, expected
    counts = step.schedule.counts()
    assert (counts["forward"], counts["backward"], counts["seed"]) == (9, 6, 1)   # argmax, ==, sum: no backward
    dot = step.schedule.to_dot()
    assert dot.count("->") >= len(step.schedule) - 3
    path = step.schedule.draw(tmp_path / "schedule.svg")
    assert path.endswith(".svg") and "<svg" in open(path).read()


def test_compile_refuses_what_is_not_a_function():
    with pytest.raises(TypeError, match="expected a function"):
        tg.compile(3)
    step = tg.compile(lambda x: x * 2)
    assert tg.compile(step) is step


def test_replacing_a_parameter_or_evaluating_under_no_grad_records_anew():
    tg.manual_seed(0)
    model = TwoLayerCNN(image_size=8)
    step = tg.compile(lambda x: model(x))
    x = _batches(1)[0][0]
    with tg.no_grad():
        first = step(x)
        again = step(x)
    assert np.array_equal(first.data, again.data) and step.schedule.replays == 1
    assert step.schedule.counts() == {"forward": 5}
    model.conv.weight = nn.Parameter(model.conv.weight.data * 2)   # a new object, not the one recorded
    with tg.no_grad():
        doubled = step(x)
        expected = model(x)
    assert np.array_equal(doubled.data, expected.data) and step.records == 2
    assert "other attributes, parameters" in step.last_miss


def test_an_array_argument_made_a_tensor_inside_the_step_is_read_at_every_replay():
    w = tg.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = tg.optim.SGD([w], lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (tg.tensor(x) * w).sum()        # a copy of the argument: made again at each replay
        loss.backward()
        opt.step()
        return loss
    compiled = tg.compile(step)
    compiled(np.ones(3, np.float32))
    assert compiled(np.full(3, 5, np.float32)).item() == pytest.approx(5 * 3 * 0.9)
    assert compiled.schedule.replays == 1


def test_a_replaced_dropout_generator_records_anew():
    drop = nn.Dropout(0.5, rng=np.random.default_rng(0))
    w = tg.tensor(np.ones(8, np.float32), requires_grad=True)

    def step(x):
        loss = drop(x * w).sum()
        loss.backward()
        return loss
    compiled, x = tg.compile(step), tg.tensor(np.ones(8, np.float32))
    compiled(x)
    drop.rng = np.random.default_rng(123)
    got = compiled(x).item()
    drop.rng = np.random.default_rng(123)
    assert got == step(x).item() and compiled.records == 2 and "Dropout" in compiled.last_miss


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_counts_its_batches_at_every_replay(momentum):
    x = tg.tensor(np.random.default_rng(0).standard_normal((4, 2, 3, 3)).astype(np.float32))
    eager, replayed = nn.BatchNorm2d(2, momentum=momentum), nn.BatchNorm2d(2, momentum=momentum)
    step = tg.compile(lambda x, bn: bn(x).sum())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(4):
            eager(x * (k + 1))
            step(x * (k + 1), replayed)
    assert eager.num_batches_tracked == replayed.num_batches_tracked == 4
    assert np.array_equal(eager.running_mean, replayed.running_mean)
    assert np.array_equal(eager.running_var, replayed.running_var)
    if momentum is None:      # its factor 1/n is computed in Python: eager, with a warning
        assert step.schedules == [] and "momentum=None" in str(caught[0].message)
    else:
        assert step.schedule.replays == 3 and not caught


def test_one_tensor_passed_twice_then_two_tensors_records_anew():
    step = tg.compile(lambda a, b: (a * 2 + b * 3).sum())
    x, y = tg.tensor([1.0, 2.0]), tg.tensor([10.0, 20.0])
    assert float(step(x, x).data) == 15.0
    assert float(step(x, y).data) == 96.0 and step.records == 2 and "twice" in step.last_miss
    assert float(step(y, x).data) == 69.0 and step.schedule.replays == 1


def test_in_forward_mode_a_compiled_function_runs_eagerly_and_carries_tangents():
    fwad = tg.autograd.forward_ad
    step = tg.compile(lambda x: (x * x).sum())
    x = tg.tensor([1.0, 2.0])
    step(x)
    step(x)                                        # recorded, then replayed
    with fwad.dual_level():
        dual = fwad.make_dual(x, np.array([1.0, 0.0]))
        out = step(dual)
        assert float(fwad.unpack_dual(out).tangent.data) == 2.0      # d/dx₀ Σx² = 2x₀
    assert step.schedule.replays == 1 and step.eager_calls == 1


def test_while_profiling_a_compiled_step_runs_eagerly_so_the_profile_sees_its_ops():
    tg.manual_seed(0)
    model = TwoLayerCNN(image_size=8)
    step = tg.compile(_plain_step(model, tg.optim.SGD(model.parameters(), lr=0.1)))
    x, y = _batches(1)[0]
    step(x, y)
    step(x, y)
    with tg.profile(print_table=False) as prof:
        step(x, y)
    assert "conv2d" in {op for op in prof.stats} and step.eager_calls == 1 and step.schedule.replays == 1
