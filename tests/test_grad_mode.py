"""Grad-mode objects behave as PyTorch's (issue 18, item 7): re-entrant, bare and called decorators,
generator functions switched for every step of their body, for no_grad, enable_grad and detect_anomaly."""
import numpy as np
import pytest
from torch_required import require_torch

import tinygraph as tg
from tinygraph.grad_mode import STATE

torch = require_torch(__file__)

def observed(switch, read):
    """What the switch does, seen the same way in either framework: sequential re-entry of one
    object, bare and called decorators, and a decorated generator stepped from outside."""
    seen = []

    def observe():
        seen.append(bool(read()))

    same = switch()
    for _ in range(2):               # the same object entered again, after it was left
        with same:
            observe()
        observe()

    @switch
    def bare():
        observe()

    @switch()
    def called():
        observe()

    @switch()
    def steps():
        observe()
        sent = yield 1
        observe()
        yield sent
        return "done"

    bare()
    called()
    generator = steps()
    observe()                        # creating the generator switches nothing yet
    first = next(generator)
    observe()                        # between steps, the caller's mode is back
    second = generator.send(7)
    observe()
    with pytest.raises(StopIteration) as stop:
        next(generator)
    return seen, (first, second, stop.value.value)


@pytest.mark.parametrize("mine, theirs", [(tg.no_grad, torch.no_grad), (tg.enable_grad, torch.enable_grad)],
                         ids=["no_grad", "enable_grad"])
@pytest.mark.parametrize("outer", [True, False], ids=["recording", "not recording"])
def test_grad_switches_behave_as_pytorchs(mine, theirs, outer):
    with torch.set_grad_enabled(outer):
        expected = observed(theirs, torch.is_grad_enabled)
    with tg.set_grad_enabled(outer):
        assert observed(mine, tg.is_grad_enabled) == expected
    assert tg.is_grad_enabled()


def test_detect_anomaly_is_a_reusable_block_and_a_decorator():
    seen, results = observed(tg.detect_anomaly, lambda: STATE.detect_anomaly)
    # on, off, on, off; bare, called; generator: not yet, on in its body, off between steps
    assert seen == [True, False, True, False, True, True, False, True, False, True, False]
    assert results == (1, 7, "done") and not STATE.detect_anomaly


@pytest.mark.parametrize("switch, inside", [(tg.no_grad, False), (tg.enable_grad, True)])
def test_the_same_object_nested_restores_what_each_entry_found(switch, inside):
    """PyTorch keeps one saved mode per object, so its nested re-entry leaves the inner mode on
    after both exits; tinygraph restores what each entry found (a stack)."""
    outside = not inside
    with tg.set_grad_enabled(outside):
        same = switch()
        with same:
            with same:
                assert tg.is_grad_enabled() is inside
            assert tg.is_grad_enabled() is inside
        assert tg.is_grad_enabled() is outside
    assert tg.is_grad_enabled()


def test_no_grad_decorated_generator_records_nothing_in_its_body():
    w = tg.tensor([1.0, 2.0], requires_grad=True)

    @tg.no_grad()
    def products():
        for k in range(2):
            yield w * k

    assert all(not t.requires_grad for t in products())
    assert (w * 2).requires_grad


def test_set_grad_enabled_as_a_call_and_as_a_block():
    with tg.set_grad_enabled(False):
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    tg.set_grad_enabled(False)
    try:
        assert not (tg.tensor([1.0], requires_grad=True) * 2).requires_grad
    finally:
        tg.set_grad_enabled(True)
    assert tg.is_grad_enabled()


def test_a_switch_restores_the_mode_when_its_body_raises():
    with pytest.raises(ValueError):
        with tg.no_grad():
            raise ValueError("inside")
    assert tg.is_grad_enabled()
    values = np.array([1.0])
    assert tg.no_grad()(lambda: (tg.tensor(values, requires_grad=True) * 2).requires_grad)() is False
