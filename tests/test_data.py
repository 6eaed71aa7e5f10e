"""Data: the digits split, IDX files (written here byte by byte), and the seeded batch iterator."""
import gzip
import hashlib
import sys
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinygraph import data


# ------------------------------------------------------------------ digits

def test_digits_are_scaled_float32_images_split_stratified():
    split = data.load_digits(test_size=0.25, seed=0)
    assert split.x_train.shape[1:] == (1, 8, 8) and split.x_train.dtype == np.float32
    assert split.y_train.dtype == np.int64
    assert len(split.x_train) + len(split.x_test) == 1797 and len(split.x_test) == 450
    assert split.x_train.min() == 0.0 and split.x_train.max() == 1.0        # 0..16 scaled by 1/16
    assert set(np.unique(split.x_train * 16)) <= set(range(17))
    # Stratified: every class has the same share of the test set as of the whole (to one image).
    all_labels = np.concatenate([split.y_train, split.y_test])
    expected = np.bincount(all_labels) * 0.25
    assert np.all(np.abs(np.bincount(split.y_test) - expected) <= 1)


def test_digits_split_is_fixed_by_its_seed():
    a, b, c = data.load_digits(seed=0), data.load_digits(seed=0), data.load_digits(seed=1)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.y_test, c.y_test)
    with pytest.raises(ValueError, match="load_digits: test_size"):
        data.load_digits(test_size=1.5)


# sha256 of x_train, y_train, x_test, y_test as tinygraph made them through scikit-learn 1.9.1
# (load_digits + train_test_split(stratify=labels, random_state=0)) before it shipped the data.
SPLIT_BEFORE = "df28d677843d0623c392d16707dd34a4b7f26fc877f879ed3d0d0e973af58bb1"


def test_the_shipped_digits_give_the_same_split_as_before_byte_for_byte():
    digest = hashlib.sha256()
    for array in data.load_digits():
        digest.update(array.tobytes())
    assert digest.hexdigest() == SPLIT_BEFORE


def test_the_split_matches_scikit_learn_for_other_seeds_and_sizes():
    sklearn = pytest.importorskip("sklearn.model_selection")
    labels = np.concatenate([data.load_digits().y_train, data.load_digits().y_test])
    for seed in (0, 1, 7):
        for test_size in (0.1, 0.25, 0.5):
            expected = sklearn.train_test_split(np.arange(len(labels)), test_size=test_size,
                                                random_state=seed, stratify=labels)
            for ours, theirs in zip(data.stratified_split(labels, test_size, seed), expected):
                np.testing.assert_array_equal(ours, theirs)


def test_digits_load_in_milliseconds_without_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)          # any import of it would fail
    started = time.perf_counter()
    split = data.load_digits()
    assert time.perf_counter() - started < 0.25                # ~5 ms; scikit-learn took 1.3 s
    assert len(split.x_train) == 1347 and len(split.x_test) == 450


# ------------------------------------------------------------------ IDX

def idx_bytes(type_code, shape, payload):
    header = bytes([0, 0, type_code, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
    return header + payload


def test_read_idx_decodes_a_handwritten_file(tmp_path):
    path = tmp_path / "tiny-images-idx3-ubyte"
    path.write_bytes(idx_bytes(0x08, (2, 2, 3), bytes(range(12))))
    array = data.read_idx(path)
    assert array.dtype == np.uint8
    np.testing.assert_array_equal(array, np.arange(12).reshape(2, 2, 3))
    # Big-endian int32: 0x00000102 = 258, 0xFFFFFFFF = -1.
    path = tmp_path / "ints-idx1-ubyte"
    path.write_bytes(idx_bytes(0x0C, (2,), bytes([0, 0, 1, 2, 255, 255, 255, 255])))
    np.testing.assert_array_equal(data.read_idx(path), [258, -1])


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, name, dtype):
    array = (np.random.default_rng(0).normal(size=(3, 4, 5)) * 50).astype(dtype)
    data.write_idx(tmp_path / name, array)
    back = data.read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, array)


def test_gz_files_are_really_compressed(tmp_path):
    data.write_idx(tmp_path / "a-ubyte.gz", np.zeros((10, 10), np.uint8))
    assert gzip.decompress((tmp_path / "a-ubyte.gz").read_bytes())[:4] == bytes([0, 0, 8, 2])


@pytest.mark.parametrize("content, message", [
    (idx_bytes(0x08, (2, 3), bytes(5)), r"truncated: header says shape \(2, 3\)"),
    (idx_bytes(0x08, (2, 3), bytes(7)), "longer than its header says"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated inside its header"),
    (b"PK\x03\x04" + bytes(20), "does not start with an IDX magic number"),
    (idx_bytes(0x07, (1,), bytes(1)), "does not start with an IDX magic number"),
    (b"\x00\x00", "too short for an IDX header"),
])
def test_corrupt_idx_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        data.read_idx(path)


def test_truncated_and_fake_gzip_give_clear_errors(tmp_path):
    good = gzip.compress(idx_bytes(0x08, (100,), bytes(100)))
    (tmp_path / "cut-ubyte.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="read_idx: .*cut-ubyte.gz"):
        data.read_idx(tmp_path / "cut-ubyte.gz")
    (tmp_path / "plain-ubyte.gz").write_bytes(idx_bytes(0x08, (1,), bytes(1)))
    with pytest.raises(ValueError, match="not a readable gzip/IDX file"):
        data.read_idx(tmp_path / "plain-ubyte.gz")


def write_mnist(directory, n_train=6, n_test=4, side=5, gz=False, labels_train=None):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        data.write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}",
                       rng.integers(0, 256, (n, side, side)).astype(np.uint8))
        labels = labels_train if (prefix == "train" and labels_train is not None) else np.arange(n) % 10
        data.write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", np.asarray(labels, np.uint8))


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_reads_the_four_files(tmp_path, gz):
    write_mnist(tmp_path, gz=gz)
    split = data.load_mnist(tmp_path)
    assert split.x_train.shape == (6, 1, 5, 5) and split.x_test.shape == (4, 1, 5, 5)
    assert split.x_train.dtype == np.float32 and 0 <= split.x_train.min() and split.x_train.max() <= 1
    raw = data.read_idx(tmp_path / f"train-images-idx3-ubyte{'.gz' if gz else ''}")
    np.testing.assert_allclose(split.x_train[:, 0], raw / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(split.y_test, [0, 1, 2, 3])


def test_load_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load_mnist(tmp_path)
    write_mnist(tmp_path, labels_train=[1, 2, 3])
    with pytest.raises(ValueError, match="has 6 images but .* has 3 labels"):
        data.load_mnist(tmp_path)


def test_labels_are_checked_against_the_class_count(tmp_path):
    write_mnist(tmp_path, labels_train=[0, 1, 2, 255, 4, 5])
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte has label 255 at index 3; labels must be 0..9"):
        data.load_mnist(tmp_path)
    assert data.load_mnist(tmp_path, classes=256).y_train[3] == 255


def test_train_and_test_images_must_have_one_size(tmp_path):
    write_mnist(tmp_path)
    data.write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((4, 7, 7), np.uint8))
    with pytest.raises(ValueError, match="holds 7×7 images but the training images are 5×5"):
        data.load_mnist(tmp_path)


# ------------------------------------------------------------------ hostile IDX files (issue 12)
def test_a_gz_file_is_inflated_only_as_far_as_its_header_declares(tmp_path):
    path = tmp_path / "bomb-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (1,), bytes(30_000_001))))
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="bomb-ubyte.gz is longer than its header says"):
            data.read_idx(path)
        assert tracemalloc.get_traced_memory()[1] < 2_000_000        # not the 30 MB it inflates to
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", ["huge-ubyte", "huge-ubyte.gz"])
def test_a_header_declaring_too_much_is_refused_before_reading(tmp_path, name):
    content = idx_bytes(0x0E, (60000, 60000, 60000), bytes(64))        # 1.7 PB of float64
    (tmp_path / name).write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    match = "declares shape .* over the limit" if name.endswith(".gz") else "truncated: header says"
    with pytest.raises(ValueError, match=match):
        data.read_idx(tmp_path / name)
    data.write_idx(tmp_path / "ok-ubyte.gz", np.zeros((100, 100), np.uint8))
    with pytest.raises(ValueError, match=r"10,000 bytes, over the limit of 1,000 \(pass max_bytes="):
        data.read_idx(tmp_path / "ok-ubyte.gz", max_bytes=1000)


def test_a_corrupt_deflate_stream_is_a_value_error(tmp_path):
    broken = bytearray(gzip.compress(idx_bytes(0x08, (5000,), bytes(5000))))
    broken[10] = 0xFF                                  # first deflate block after the 10-byte gzip header: type 3, invalid
    (tmp_path / "broken-ubyte.gz").write_bytes(bytes(broken))
    with pytest.raises(ValueError, match="broken-ubyte.gz is not a readable gzip/IDX file .error: .*invalid block type"):
        data.read_idx(tmp_path / "broken-ubyte.gz")


IDX_FUZZ = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def read_fuzzed(tmp_path, raw, gz):
    """Read arbitrary bytes as IDX: an array, or a ValueError naming the file; nothing else."""
    path = tmp_path / ("fuzzed-ubyte.gz" if gz else "fuzzed-ubyte")
    path.write_bytes(raw)
    try:
        array = data.read_idx(path, max_bytes=1_000_000)
    except ValueError as error:
        assert path.name in str(error)
        return None
    assert array.nbytes <= 1_000_000
    return array


def good_idx(gz):
    raw = idx_bytes(0x0B, (3, 4, 5), np.arange(60, dtype=">i2").tobytes())
    return gzip.compress(raw) if gz else raw


@IDX_FUZZ
@given(raw=st.binary(max_size=600), gz=st.booleans())
def test_fuzz_idx_random_bytes(tmp_path, raw, gz):
    read_fuzzed(tmp_path, raw, gz)
    read_fuzzed(tmp_path, b"\x1f\x8b\x08\x00" + raw, gz)


@IDX_FUZZ
@given(gz=st.booleans(), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), min_size=1, max_size=6))
def test_fuzz_idx_bit_flips(tmp_path, gz, flips):
    raw = bytearray(good_idx(gz))
    for position, bit in flips:
        raw[position % len(raw)] ^= 1 << bit
    read_fuzzed(tmp_path, bytes(raw), gz)


@IDX_FUZZ
@given(gz=st.booleans(), cut=st.floats(0, 1, exclude_max=True))
def test_fuzz_idx_truncations(tmp_path, gz, cut):
    raw = good_idx(gz)
    assert read_fuzzed(tmp_path, raw[:int(cut * len(raw))], gz) is None


@IDX_FUZZ
@given(code=st.integers(0, 255), shape=st.lists(st.integers(0, 2**32 - 1), max_size=6),
       payload=st.binary(max_size=200), gz=st.booleans(), ndim_lie=st.integers(-2, 2))
def test_fuzz_idx_hostile_headers(tmp_path, code, shape, payload, gz, ndim_lie):
    ndim = max(0, min(255, len(shape) + ndim_lie))
    raw = bytes([0, 0, code, ndim]) + b"".join(d.to_bytes(4, "big") for d in shape) + payload
    array = read_fuzzed(tmp_path, gzip.compress(raw) if gz else raw, gz)
    if array is not None:
        assert array.ndim == ndim


# ------------------------------------------------------------------ batches

def test_batches_cover_every_sample_once_per_epoch():
    x, y = np.arange(10)[:, None] * 10, np.arange(10)
    chunks = list(data.batches(x, y, 4, seed=3, epoch=0))
    assert [len(b) for b, _ in chunks] == [4, 4, 2]
    seen = np.concatenate([yb for _, yb in chunks])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))
    for xb, yb in chunks:
        np.testing.assert_array_equal(xb[:, 0], yb * 10)       # x and y stay paired
    assert data.num_batches(10, 4) == 3


def test_batch_order_depends_only_on_seed_and_epoch():
    x = y = np.arange(50)
    order = lambda **kw: np.concatenate([b for _, b in data.batches(x, y, 7, **kw)])
    np.testing.assert_array_equal(order(seed=1, epoch=4), order(seed=1, epoch=4))
    assert not np.array_equal(order(seed=1, epoch=4), order(seed=1, epoch=5))
    assert not np.array_equal(order(seed=1, epoch=4), order(seed=2, epoch=4))
    np.testing.assert_array_equal(order(shuffle=False), np.arange(50))
    assert [len(b) for _, b in data.batches(x, y, 7, drop_last=True)] == [7] * 7


def test_batches_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"batches: x has 3 samples .* y has 2"):
        list(data.batches(np.zeros(3), np.zeros(2), 1))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        list(data.batches(np.zeros(3), np.zeros(3), 0))


# ------------------------------------------------------------------ image sizes (LeNet-5's 32×32)

def test_digits_resized_to_32_keep_split_and_labels():
    small, large = data.load_digits(seed=0), data.load_digits(seed=0, size=32)
    assert large.x_train.shape == (len(small.x_train), 1, 32, 32) and large.x_train.dtype == np.float32
    np.testing.assert_array_equal(large.y_test, small.y_test)
    assert 0.0 <= large.x_train.min() and large.x_train.max() <= 1.0
    # bilinear from 8 to 32: the mean of an image is kept to a few percent, each digit fills the frame
    np.testing.assert_allclose(large.x_test.mean(axis=(2, 3)), small.x_test.mean(axis=(2, 3)), atol=0.02)


def test_digits_padded_to_32_sit_in_the_centre():
    small, padded = data.load_digits(seed=0), data.load_digits(seed=0, size=32, fit="pad")
    np.testing.assert_array_equal(padded.x_train[:, :, 12:20, 12:20], small.x_train)
    assert padded.x_train.sum() == small.x_train.sum()
    with pytest.raises(ValueError, match="load_digits: fit"):
        data.load_digits(size=32, fit="crop")
    with pytest.raises(ValueError, match="load_digits: size"):
        data.load_digits(size=0)


def test_bilinear_resize_reads_each_pixel_where_it_falls():
    # align_corners=False (PyTorch's F.interpolate): 2 -> 4 reads rows at -¼ (clamped), ¼, ¾, 1¼ (clamped)
    image = np.array([[0.0, 1.0], [2.0, 3.0]], dtype=np.float32)[np.newaxis, np.newaxis]
    steps = np.array([0.0, 0.25, 0.75, 1.0], dtype=np.float32)
    expected = 2 * steps[:, np.newaxis] + steps[np.newaxis, :]
    resized = data.fit_images(image, 4, "resize")
    assert resized.dtype == np.float32
    np.testing.assert_allclose(resized[0, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(data.fit_images(np.full((1, 1, 8, 8), 0.5, np.float32), 32)[0, 0], 0.5)


def test_mnist_sized_images_pad_28_to_32_as_lenet5s_paper(tmp_path):
    images = np.ones((3, 1, 28, 28), dtype=np.float32)
    padded = data.fit_images(images, 32, "pad")
    assert padded.shape == (3, 1, 32, 32)
    assert padded[:, :, 2:30, 2:30].all() and padded.sum() == images.sum()
    with pytest.raises(ValueError, match="cannot pad 28×28 images to 16×16"):
        data.fit_images(images, 16, "pad")
    write_mnist(tmp_path, side=28)
    plain, framed = data.load_mnist(tmp_path), data.load_mnist(tmp_path, size=32)
    assert framed.x_train.shape == (6, 1, 32, 32) and framed.x_test.shape == (4, 1, 32, 32)
    np.testing.assert_array_equal(framed.x_test[:, :, 2:30, 2:30], plain.x_test)


def test_a_margin_frames_the_resized_digit_in_zeros():
    framed = data.load_digits(seed=0, size=32, margin=4)
    inner = data.fit_images(data.load_digits(seed=0).x_test, 24)
    np.testing.assert_array_equal(framed.x_test[:, :, 4:28, 4:28], inner)
    assert framed.x_test.sum() == pytest.approx(inner.sum(), rel=1e-6)
    with pytest.raises(ValueError, match="load_digits: margin"):
        data.load_digits(size=8, margin=4)


# ------------------------------------------------------------------ Dataset, DataLoader (torch.utils.data's behaviour)

def _torch():
    from torch_required import require_torch
    return require_torch(__file__)


@pytest.mark.parametrize("n", [1, 7, 10, 64])
@pytest.mark.parametrize("batch_size", [1, 3, 10, 32])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_count_and_sizes_match_torch(n, batch_size, drop_last):
    torch = _torch()
    ours = data.DataLoader(data.TensorDataset(np.arange(n, dtype=np.float32)), batch_size, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(n, dtype=torch.float32)),
                                         batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    assert [len(b[0]) for b in ours] == [len(b[0]) for b in theirs]


def test_unshuffled_batches_equal_torchs_in_values_dtypes_and_structure():
    torch = _torch()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 2, 3)).astype(np.float32), rng.integers(0, 5, size=10)
    ours = list(data.DataLoader(data.TensorDataset(x, y), batch_size=4))
    theirs = list(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                              batch_size=4))
    assert len(ours) == len(theirs) == 3
    for ours_batch, theirs_batch in zip(ours, theirs):
        assert type(ours_batch) is type(theirs_batch) is list
        for a, b in zip(ours_batch, theirs_batch):
            assert a.dtype == b.numpy().dtype and a.shape == tuple(b.shape)
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_default_collate_stacks_like_torchs():
    torch = _torch()
    from collections import namedtuple
    Pair = namedtuple("Pair", "a b")
    samples = [(1, 2.0, np.float32(3), np.ones((2,), np.int32), "s", {"k": 1.5}, Pair(1, 2), [1, 2])] * 3
    samples = [tuple(list(s)) for s in samples]
    ours = data.default_collate(samples)
    theirs = torch.utils.data.default_collate(samples)

    def same(a, b, where):
        if isinstance(b, torch.Tensor):
            assert a.dtype == b.numpy().dtype and a.shape == tuple(b.shape), where
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=where)
        elif isinstance(b, dict):
            assert set(a) == set(b), where
            for key in b:
                same(a[key], b[key], f"{where}[{key!r}]")
        elif isinstance(b, (list, tuple)) and not isinstance(b[0], str):
            assert type(a) is type(b) and len(a) == len(b), where
            for i, (p, q) in enumerate(zip(a, b)):
                same(p, q, f"{where}[{i}]")
        else:
            assert list(a) == list(b), where
    same(ours, theirs, "batch")


def test_shuffled_order_is_reproducible_under_a_seeded_generator_and_new_each_epoch():
    import tinygraph as tg
    dataset = data.TensorDataset(np.arange(50))

    def epochs(loader, count=2):
        return [np.concatenate([b[0].numpy() for b in loader]) for _ in range(count)]
    first = epochs(data.DataLoader(dataset, 8, shuffle=True, generator=tg.Generator().manual_seed(3)))
    again = epochs(data.DataLoader(dataset, 8, shuffle=True, generator=tg.Generator().manual_seed(3)))
    other = epochs(data.DataLoader(dataset, 8, shuffle=True, generator=tg.Generator().manual_seed(4)))
    for order in first:
        assert sorted(order) == list(range(50))              # every sample once per epoch
    assert all((a == b).all() for a, b in zip(first, again))
    assert not (first[0] == first[1]).all()                  # a new order each pass, as torch's RandomSampler
    assert not (first[0] == other[0]).all()
    tg.manual_seed(7)
    seeded = epochs(data.DataLoader(dataset, 8, shuffle=True))
    tg.manual_seed(7)
    assert all((a == b).all() for a, b in zip(seeded, epochs(data.DataLoader(dataset, 8, shuffle=True))))


def test_random_split_lengths_match_torchs_and_the_parts_partition_the_data():
    torch = _torch()
    import tinygraph as tg
    for n, lengths in [(10, [0.3, 0.7]), (11, [0.5, 0.5]), (7, [0.2, 0.2, 0.6]), (10, [3, 7]), (5, [5, 0])]:
        ours = data.random_split(range(n), lengths, generator=tg.Generator().manual_seed(0))
        theirs = torch.utils.data.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
        assert [len(s) for s in ours] == [len(s) for s in theirs], (n, lengths)
        assert sorted(i for s in ours for i in s) == list(range(n))
    with pytest.raises(ValueError, match="sum to 9"):
        data.random_split(range(10), [4, 5])


def test_subset_and_the_digits_dataset():
    split = data.load_digits()
    train, test = data.Digits(train=True), data.Digits(train=False)
    assert (len(train), len(test)) == (1347, 450)
    np.testing.assert_array_equal(train.tensors[0].numpy(), split.x_train)
    np.testing.assert_array_equal(test.tensors[1].numpy(), split.y_test)
    image, label = train[5]
    assert image.shape == (1, 8, 8) and int(label) == split.y_train[5]
    part = data.Subset(train, [5, 0, 9])
    assert len(part) == 3 and int(part[0][1]) == split.y_train[5]
    xb, yb = next(iter(data.DataLoader(part, batch_size=3)))          # through default_collate
    np.testing.assert_array_equal(yb.numpy(), split.y_train[[5, 0, 9]])
    assert xb.shape == (3, 1, 8, 8) and xb.dtype == np.float32


def test_loader_refusals_match_torchs():
    torch = _torch()
    ours_set, theirs_set = data.TensorDataset(np.arange(4)), torch.utils.data.TensorDataset(torch.arange(4))
    for kwargs in [{"batch_size": 0}, {"sampler": [0, 1], "shuffle": True}, {"num_workers": -1},
                   {"batch_sampler": [[0, 1]], "batch_size": 2}]:
        with pytest.raises(ValueError):
            torch.utils.data.DataLoader(theirs_set, **kwargs)
        with pytest.raises(ValueError, match="DataLoader: "):
            data.DataLoader(ours_set, **kwargs)
    with pytest.raises(ValueError, match="same length along axis 0"):
        data.TensorDataset(np.zeros(3), np.zeros(4))


def test_samplers_batch_samplers_and_unbatched_loading_as_torch():
    torch = _torch()
    ours_set, theirs_set = data.TensorDataset(np.arange(6)), torch.utils.data.TensorDataset(torch.arange(6))
    for kwargs in [{"sampler": [5, 0, 3], "batch_size": 2}, {"batch_sampler": [[1, 2], [0]]}]:
        ours, theirs = data.DataLoader(ours_set, **kwargs), torch.utils.data.DataLoader(theirs_set, **kwargs)
        assert len(ours) == len(theirs)
        assert [b[0].numpy().tolist() for b in ours] == [b[0].numpy().tolist() for b in theirs]
    unbatched = list(data.DataLoader([1.5, 2.5], batch_size=None))
    assert unbatched == list(torch.utils.data.DataLoader([1.5, 2.5], batch_size=None)) == [1.5, 2.5]


def test_mnist_files_as_a_dataset_like_torchvisions(tmp_path):
    raw = tmp_path / "MNIST" / "raw"          # torchvision's layout under root
    raw.mkdir(parents=True)
    write_mnist(raw)
    train, test = data.MNIST(tmp_path, train=True), data.MNIST(tmp_path, train=False)
    split = data.load_mnist(tmp_path / "MNIST" / "raw")
    assert (len(train), len(test)) == (6, 4)
    np.testing.assert_array_equal(train.tensors[0].numpy(), split.x_train)
    xb, yb = next(iter(data.DataLoader(test, batch_size=4)))
    np.testing.assert_array_equal(yb.numpy(), [0, 1, 2, 3])
    with pytest.raises(ValueError, match="downloads nothing"):
        data.MNIST(tmp_path, download=True)
