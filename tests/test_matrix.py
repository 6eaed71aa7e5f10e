"""The differential matrix: every registered op against PyTorch on cases generated from its table entry.

Cases are the product, pruned, of (tests/op_references.py says what each op takes):
    op x call x dtype x value class   (contiguous inputs)
    op x call x float dtype x layout (fortran, broadcast (zero stride), read-only), ordinary values
    op x first call x dtype x extra shape
Value classes: ordinary values, zeros (+0 and -0), negatives, ties (repeated values at the kinks), large
(an eighth of the dtype's maximum: float16 sums overflow), tiny (squares underflow to 0), ±inf, NaN,
an empty dimension, 0-d.

Each case checks, against PyTorch on the same values: the output (values NaN-equal, dtype, shape);
where PyTorch raises, that tinygraph raises an error naming the op; the gradient of every
differentiable input (values and dtype) after backward of the fixed weighted sum Σ w·out (seeded with
w; in the inf and NaN classes some weights are ±inf/NaN, so a rule that multiplies a 0/1 mask into
the incoming gradient leaks NaN where PyTorch routes 0); and that the caller's arrays are unchanged.
Deterministic: every value comes from default_rng(a hash of the case id).
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from torch_required import require_torch

torch = require_torch(__file__)

import tinygraph as tg  # noqa: E402
from op_references import (FLOATS, IN_PLACE, IN_PLACE_VALUES, INTS, LABEL_CLASSES, LAYOUTS,  # noqa: E402
                           REFERENCES, TIE_VALUES, VALUE_CLASSES, Reference, tolerance)
from torch_compare import NUMPY_DTYPES, TORCH_DTYPES, assert_close, assert_gradient_contract, laid_out  # noqa: E402

torch.set_num_threads(1)
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

# "large" values are in [1/2, 1] · max / LARGE_DIVISOR, all positive: a dozen of them overflow the dtype when
# summed in it (float16 means and variances must accumulate wider, as PyTorch's do), one of them does not.
LARGE_DIVISOR = 8
INDEX_KINDS = ("labels", "index", "mask")      # handed to tinygraph as NumPy arrays, overwritten after forward


# ----------------------------------------------------------------------------- the cases
class Case:
    def __init__(self, op: str, call: str, dtype: str, shape_label: str, values: str, layout: str,
                 table: dict[str, Reference] = REFERENCES):
        self.op, self.call, self.dtype, self.shape_label = op, call, dtype, shape_label
        self.values, self.layout = values, layout
        self.reference: Reference = table[op]

    @property
    def parts(self) -> set[str]:
        kind = "int" if self.dtype in INTS else "float"
        return {self.call, self.dtype, kind, self.shape_label, self.values, self.layout}

    @property
    def id(self) -> str:
        call = "" if self.call == self.op else f"-{self.call}"
        return f"{self.op}{call}-{self.dtype}-{self.shape_label}-{self.values}-{self.layout}"

    def shapes(self) -> list[tuple]:
        label = self.values if self.values in ("empty", "0-d") else self.shape_label
        return self.reference.shapes[label]


def matches(selector: str, case: Case) -> bool:
    """Whether every part of the selector is a part of the case ("!part": is not)."""
    return all((part[1:] not in case.parts) if part.startswith("!") else (part in case.parts)
               for part in selector.split("/"))


def applicable(case: Case) -> bool:
    ref = case.reference
    if case.values in ("empty", "0-d") and case.values not in ref.shapes:
        return False
    if case.dtype in INTS and case.values in ("inf", "nan", "large", "tiny"):
        return False                  # integers have no inf or NaN; "large" and "tiny" are about float range
    return not any(matches(selector, case) for selector in ref.skip)


def generate() -> list[Case]:
    """The registry's cases: every call x dtype x value class and x layout, and the first call in every shape."""
    cases = []
    for op, ref in REFERENCES.items():
        calls = list(ref.calls)
        for index, call in enumerate(calls):
            for dtype in ref.dtypes:
                cases += [Case(op, call, dtype, "main", values, "contiguous") for values in VALUE_CLASSES]
                if dtype in FLOATS:     # every call: a fast path (a 2x2 pool, a wide conv) may assume a layout
                    cases += [Case(op, call, dtype, "main", "normal", layout) for layout in LAYOUTS[1:]]
                if index == 0:
                    cases += [Case(op, call, dtype, label, "normal", "contiguous")
                              for label in ref.shapes if label not in ("main", "empty", "0-d")]
    return [case for case in cases if applicable(case)]


def as_param(case: Case):
    ref, marks = case.reference, []
    for selector, reason in ref.xfail.items():
        if matches(selector, case):
            marks.append(pytest.mark.xfail(strict=True, reason=reason))
    return pytest.param(case, id=case.id, marks=marks)


def generate_in_place() -> list[Case]:
    """The in-place idioms: every float dtype x IN_PLACE_VALUES, contiguous."""
    cases = [Case(name, name, dtype, "main", values, "contiguous", IN_PLACE)
             for name in IN_PLACE for dtype in FLOATS for values in IN_PLACE_VALUES]
    return [case for case in cases if applicable(case)]


CASES = generate()
IN_PLACE_CASES = generate_in_place()


# ----------------------------------------------------------------------------- inputs
def seed_of(text: str) -> int:
    return zlib.crc32(text.encode())


def value_array(rng: np.random.Generator, shape: tuple, dtype: np.dtype, values: str) -> np.ndarray:
    """Values of one class, in float64 before the cast (integers: whole numbers in [-3, 3])."""
    v = rng.uniform(-2.0, 2.0, shape)
    if dtype.kind in "iu":
        v = rng.integers(-3, 4, shape).astype(np.float64)
    if values == "zeros":                     # +0 and -0 (1/x, log and sqrt tell them apart)
        v = np.where(rng.uniform(size=shape) < 0.5, rng.choice([0.0, -0.0], shape), v)
    elif values == "negatives":
        v = -np.abs(v) - (dtype.kind in "iu")
    elif values == "ties":
        v = rng.choice(TIE_VALUES, shape)
    elif values == "large":
        v = rng.uniform(0.5, 1.0, shape) * float(np.finfo(dtype).max) / LARGE_DIVISOR
    elif values == "tiny" and dtype.kind == "f":     # squares underflow to 0, quotients stay moderate
        v = v * float(np.sqrt(np.finfo(dtype).tiny)) / 256
    elif values in ("inf", "nan"):
        special = (np.inf, -np.inf) if values == "inf" else (np.nan,)
        v = np.where(rng.uniform(size=shape) < 0.3, rng.choice(special, shape), v)
    return np.asarray(v).astype(dtype)


def make_inputs(case: Case, rng: np.random.Generator) -> list[np.ndarray]:
    dtype = np.dtype(case.dtype)
    arrays = []
    for spec, shape in zip(case.reference.inputs, case.shapes()):
        if spec.kind == "value":
            array = value_array(rng, shape, dtype, case.values)
        elif spec.kind == "plain":
            array = value_array(rng, shape, dtype, "normal")
        elif spec.kind == "labels":
            array = rng.integers(0, LABEL_CLASSES, shape).astype(np.int64)
        elif spec.kind == "index":               # rows of the first input, some twice, some counted from the end
            rows = arrays[0].shape[0] if arrays[0].ndim else 0
            array = (rng.integers(-rows, rows, shape) if rows else np.arange(int(np.prod(shape))).reshape(shape))
            array = array.astype(np.int64)
        elif spec.kind == "mask":
            array = np.asarray(rng.uniform(size=shape) < 0.5)
        elif spec.kind == "probabilities":
            rows = rng.uniform(0.1, 1.0, shape)
            array = (rows / rows.sum(axis=-1, keepdims=True)).astype(dtype)
        else:
            raise ValueError(f"unknown input kind {spec.kind!r}")
        if case.layout == "broadcast" and spec.kind in ("value", "plain") and array.ndim and array.shape[0] > 1:
            array[...] = array[:1]                # a zero-stride view repeats its first row
        arrays.append(array)
    return arrays


def differentiable(case: Case) -> list[bool]:
    return [spec.grad and spec.kind in ("value", "plain") and case.dtype in FLOATS for spec in case.reference.inputs]


# ----------------------------------------------------------------------------- one case, both frameworks
def torch_reference(case: Case, arrays: list[np.ndarray], grads: list[bool], weights_for):
    """PyTorch's output and input gradients; float32 rounded to float16 where PyTorch's CPU has no float16 kernel."""
    torch_fn = case.reference.calls[case.call][1]
    try:
        return _run_torch(torch_fn, arrays, grads, weights_for)
    except (RuntimeError, NotImplementedError) as error:
        if "Half" not in str(error):
            raise
    wider = [a.astype(np.float32) if a.dtype == np.float16 else a for a in arrays]
    out, input_grads = _run_torch(torch_fn, wider, grads, weights_for)
    narrow = (lambda t: None if t is None else t.to(torch.float16) if t.dtype == torch.float32 else t)
    return narrow(out), [narrow(g) for g in input_grads]


def _run_torch(torch_fn, arrays, grads, weights_for):
    inputs = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    out = torch_fn(*inputs)
    if out.requires_grad:
        out.backward(torch.from_numpy(weights_for(out.shape, NUMPY_DTYPES[out.dtype])))
    return out.detach(), [t.grad if g else None for t, g in zip(inputs, grads)]


def tinygraph_inputs(case: Case, arrays: list[np.ndarray], grads: list[bool]) -> list:
    """Float inputs as tensors sharing the case's layout; index-like inputs as the caller's own NumPy arrays."""
    inputs = []
    for spec, array, grad in zip(case.reference.inputs, arrays, grads):
        if spec.kind in INDEX_KINDS:
            inputs.append(array.copy())
            continue
        if spec.kind not in ("value", "plain"):
            inputs.append(tg.tensor(array))
            continue
        layout = case.layout if case.layout in ("fortran", "broadcast") else "contiguous"
        inputs.append(tg.from_numpy(laid_out(array, layout, readonly=case.layout == "readonly"), requires_grad=grad))
    return inputs


def expected_dtype(case: Case, torch_dtype: torch.dtype) -> np.dtype:
    """PyTorch's output dtype, except integer inputs to a floating result: NumPy's float64 (README "Dtypes")."""
    dtype = NUMPY_DTYPES[torch_dtype]
    if case.dtype in INTS and dtype.kind == "f":
        return np.dtype(np.float64)
    return dtype


def run_case(case: Case) -> None:
    ref = case.reference
    for selector, reason in ref.differences.items():
        if matches(selector, case):
            pytest.skip(f"intentional difference: {reason}")
    rng = np.random.default_rng(seed_of(case.id))
    arrays = make_inputs(case, rng)
    grads = differentiable(case)
    weight_rng_seed = seed_of(case.id + "/weights")

    def weights_for(shape, dtype):
        """The fixed weights w of Σ w·out, in the output's dtype; ±inf/NaN among them in those classes."""
        w_rng = np.random.default_rng(weight_rng_seed)
        w = w_rng.uniform(-1.0, 1.0, shape)
        if case.values in ("inf", "nan"):
            special = np.inf if case.values == "inf" else np.nan
            w = np.where(w_rng.uniform(size=shape) < 0.2, special, w)
        return np.asarray(w).astype(dtype)

    try:
        torch_out, torch_grads = torch_reference(case, arrays, grads, weights_for)
    except Exception as torch_error:          # PyTorch rejects the input: tinygraph must too, naming the op
        with pytest.raises(Exception) as caught:
            tg_out = ref.calls[case.call][0](*tinygraph_inputs(case, arrays, grads))
            if any(grads):
                tg_out.backward(weights_for(tg_out.shape, tg_out.dtype))
        error = caught.value
        mentions = ref.error_mentions or (case.op,)
        named = getattr(error, "op", None) == case.op or any(word in str(error) for word in mentions)
        assert named, (f"PyTorch raises ({type(torch_error).__name__}: {torch_error}); tinygraph raises "
                       f"{type(error).__name__} without naming {' or '.join(map(repr, mentions))}: {error}")
        return

    originals = [a.copy() for a in arrays]
    tg_inputs = tinygraph_inputs(case, arrays, grads)
    tg_out = ref.calls[case.call][0](*tg_inputs)
    assert isinstance(tg_out, tg.Tensor), f"output is a {type(tg_out).__name__}, not a tg.Tensor"
    dtype = expected_dtype(case, torch_out.dtype)
    expected = torch_out.numpy()
    assert tg_out.dtype == dtype, f"output dtype {tg_out.dtype}, PyTorch {expected.dtype} (expected {dtype})"
    rtol, atol = tolerance(expected.dtype)
    assert_close(tg_out.data, expected.astype(dtype), rtol, atol, "output")
    forward_value = tg_out.data.copy()

    for spec, array in zip(ref.inputs, tg_inputs):       # the caller reuses its index arrays
        if spec.kind in INDEX_KINDS:
            array[...] = np.zeros_like(array) if array.dtype != bool else ~array

    if any(grads):
        tg_out.backward(weights_for(tg_out.shape, tg_out.dtype))
        np.testing.assert_array_equal(tg_out.data, forward_value, err_msg="output changed during backward()")
    for i, (spec, grad, tg_in) in enumerate(zip(ref.inputs, grads, tg_inputs)):
        what = f"gradient of input {i} {spec.name!r} {arrays[i].shape} {case.dtype}"
        if spec.kind not in INDEX_KINDS:
            np.testing.assert_array_equal(tg_in.data, originals[i], err_msg=f"input {spec.name!r} was changed")
        if not grad:
            continue
        if torch_grads[i] is None:
            assert tg_in.grad is None, f"{what}: PyTorch has none"
            continue
        assert tg_in.grad is not None, f"{what}: missing (PyTorch has one)"
        assert_gradient_contract(tg_in.grad, arrays[i].shape, np.dtype(case.dtype), what)
        rtol, atol = tolerance(case.dtype)
        assert_close(tg_in.grad, torch_grads[i].numpy(), rtol, atol, what)


# ----------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("case", [as_param(case) for case in CASES])
def test_matches_pytorch(case):
    run_case(case)


@pytest.mark.parametrize("case", [as_param(case) for case in IN_PLACE_CASES])
def test_in_place_idioms_match_pytorch(case):
    run_case(case)


def test_every_registered_op_has_a_reference():
    missing = sorted(set(tg.registry()) - set(REFERENCES))
    assert not missing, f"ops without an entry in tests/op_references.py: {missing} (see its docstring)"
    unknown = sorted(set(REFERENCES) - set(tg.registry()))
    assert not unknown, f"entries in tests/op_references.py for ops that are not registered: {unknown}"


def test_every_selector_names_generated_cases():
    """A skip, difference or xfail that selects nothing is stale (a typo, or a renamed call)."""
    every = [Case(op, call, dtype, label, values, layout, table)
             for table in (REFERENCES, IN_PLACE) for op, ref in table.items() for call in ref.calls
             for dtype in ref.dtypes for label in ref.shapes for values in VALUE_CLASSES for layout in LAYOUTS]
    for op, ref in [*REFERENCES.items(), *IN_PLACE.items()]:
        for table in ("skip", "differences", "xfail"):
            for selector in getattr(ref, table):
                assert any(c.op == op and matches(selector, c) for c in every), \
                    f"{op}: {table} selector {selector!r} matches no case"


def test_entries_are_complete():
    """Every entry's shapes fit its inputs; a missing empty or 0-d case has a reason in skip."""
    for op, ref in [*REFERENCES.items(), *IN_PLACE.items()]:
        assert "main" in ref.shapes, f"{op}: no 'main' shapes"
        for label, shapes in ref.shapes.items():
            assert len(shapes) == len(ref.inputs), f"{op}: shapes {label!r} has {len(shapes)} for {len(ref.inputs)} inputs"
        for values in ("empty", "0-d"):
            assert values in ref.shapes or values in ref.skip, f"{op}: no {values!r} shapes and no reason in skip"
        assert set(ref.dtypes) <= set(FLOATS + INTS), f"{op}: unknown dtypes {ref.dtypes}"


# ----------------------------------------------------------------------------- regressions the matrix found
def test_abs_gradient_at_nan_is_zero_as_in_pytorch():
    """sign(NaN) is 0 in PyTorch's abs backward (NumPy's np.sign gives NaN): a NaN input gets gradient 0."""
    x = tg.tensor(np.array([np.nan, -2.0, 0.0, 3.0]), requires_grad=True)
    x.abs().backward(np.array([1.0, 1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(x.grad, [0.0, -1.0, 0.0, 1.0])


def test_product_and_quotient_by_a_number_keep_no_input():
    """h * 2 and h / 4 save no h (PyTorch's neither), so updating h in place afterwards leaves them valid."""
    x = tg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    h = x * 1
    before = h * 2 + h / 4
    h += 1                      # would have made backward refuse: 'mul saved its input a ... modified in place'
    (before + h).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [3.25, 3.25, 3.25])


def test_quotient_gradient_for_a_tiny_divisor_is_finite():
    """δb = −δout · (a / b) / b: written as a / b², b² underflows to 0 and the gradient became NaN."""
    a = tg.tensor(np.array([1e-170, -2e-170]), requires_grad=True)
    b = tg.tensor(np.array([1e-170, 4e-170]), requires_grad=True)      # b² = 0 in float64
    (a / b).backward(np.ones(2))
    np.testing.assert_allclose(b.grad, [-1e170, 1.25e169], rtol=1e-12)
