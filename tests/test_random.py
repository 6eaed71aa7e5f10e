"""Reproducibility: tg.manual_seed seeds every random draw that is given no generator, as torch.manual_seed."""
import pickle

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import data, nn, optim


def train_briefly(seed: int) -> list[np.ndarray]:
    """A small script with every unseeded random draw: initialisation, dropout, shuffling."""
    tg.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 10))
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = data.DataLoader(data.Digits(train=True), batch_size=64, shuffle=True)
    for step, (x, y) in enumerate(loader):
        loss = tg.softmax_xent(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == 5:
            break
    return [p.data.copy() for p in model.parameters()]


def test_two_runs_under_one_seed_are_bitwise_identical_and_other_seeds_differ():
    first, second, other = train_briefly(0), train_briefly(0), train_briefly(1)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, second))
    assert all(not np.array_equal(a, c) for a, c in zip(first, other))


def test_each_source_of_randomness_follows_the_default_generator():
    def draws():
        layer = nn.Conv2d(1, 2, 3)
        mask = nn.Dropout(0.5)(tg.tensor(np.ones(20)))
        order = np.concatenate([b[0].numpy() for b in data.DataLoader(data.TensorDataset(np.arange(20)), 4, shuffle=True)])
        return layer.weight.data.copy(), mask.data.copy(), order
    tg.manual_seed(11)
    first = draws()
    tg.manual_seed(11)
    second = draws()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_seed_initial_seed_and_the_rng_state_as_in_torch():
    tg.manual_seed(5)
    assert tg.initial_seed() == 5
    drawn = tg.seed()
    assert tg.initial_seed() == drawn and drawn >= 0
    state = tg.get_rng_state()
    a = nn.Linear(4, 4).weight.data.copy()
    tg.set_rng_state(state)
    np.testing.assert_array_equal(nn.Linear(4, 4).weight.data, a)
    with pytest.raises(ValueError, match="non-negative"):
        tg.manual_seed(-1)


def test_a_generator_is_its_own_stream_and_a_numpy_generator():
    g = tg.Generator()
    assert g.manual_seed(3) is g and isinstance(g, np.random.Generator)
    tg.manual_seed(0)
    first = nn.Linear(3, 3, rng=g).weight.data.copy()
    tg.manual_seed(99)                                   # the default generator does not touch g's stream
    g.manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(3, 3, rng=g).weight.data, first)
    copy = pickle.loads(pickle.dumps(g))
    assert copy.random() == g.random() and copy.initial_seed() == 3
    with pytest.raises(TypeError, match="generator must be"):
        nn.Linear(2, 2, rng=3)
    with pytest.raises(ValueError, match="CPU only"):
        tg.Generator(device="cuda")
