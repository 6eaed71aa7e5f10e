"""tg.draw: node and edge counts per view, formulas, determinism, fan-out, broadcasting, collapsing.

These tests read the DOT text only (no Graphviz executable needed); test_draw_render.py runs `dot`.
"""
import html
import re

import numpy as np
import pytest

import tinygraph as tg
from drawing_cases import derivation_network, derivation_tensors, recorded
from tinygraph.models import TwoLayerCNN

NODE = re.compile(r"^\s*([TOG]\d+) \[", re.M)           # drawn tensors (T), ops (O), groups (G)
EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$", re.M)


def counts(dot: str) -> tuple[int, int]:
    """(drawn nodes, drawn edges) among tensors, ops and groups (the legend and styling excluded)."""
    edges = [m for m in EDGE.finditer(dot) if "invis" not in (m.group(3) or "")]
    return len(NODE.findall(dot)), len(edges)


def text(dot: str) -> str:
    """The DOT source's label text as a reader sees it: line breaks become spaces, entities decoded."""
    words = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<BR[^>]*/>", " ", dot)))
    return words.replace("\u00a0", " ").replace("  ", " ")


# The derivation's network, counted from its structure above:
#   tensors: X, W, b, Z, A, P, p, U, Uᵀ, p Uᵀ, c, s, y, L                        = 14
#   ops:     conv2d, relu, maxpool, reshape, transpose, matmul, add, softmax_xent = 8
#   forward edges: one per op input (conv2d 3, relu 1, maxpool 1, reshape 1, transpose 1,
#                  matmul 2, add 2, softmax_xent 2 = 13) + one per op output (8)    = 21
#   rule edges (op -> each input that needs a gradient; X and y need none):
#                  conv2d 2 (W, b), relu 1, maxpool 1, reshape 1, transpose 1, matmul 2, add 2,
#                  softmax_xent 1                                                  = 11
#   δ-in edges (each op's output hands its gradient to the op's rule): one per op  = 8
# forward view:  22 nodes, 21 edges
# backward view: 12 nodes that need gradients (all but X, y) + 8 ops = 20; 11 + 8 = 19 edges
# both:          22 nodes, 21 + 11 + 8 = 40 edges
@pytest.mark.parametrize("view, nodes, edges", [("forward", 22, 21), ("backward", 20, 19), ("both", 22, 40)])
def test_derivation_network_has_the_counted_nodes_and_edges_in_each_view(view, nodes, edges):
    L = derivation_network()
    dot = tg.draw(L, view=view, recording=recorded(L), wrap=None).source
    assert counts(dot) == (nodes, edges)


def test_every_op_carries_its_formula_and_every_gradient_edge_its_rule_in_the_documents_symbols():
    parts = derivation_tensors()
    L = parts["L"]
    recording = recorded(L)
    words = text(tg.draw(L, recording=recording, wrap=None).source)
    for formula in ["Z = W ⋆ X + b", "A = max(0, Z)", "P = max over each window of A", "p = reshape(P)",
                    "L = −Σ_i y_i log softmax(s)_i", "s = (p Uᵀ) + c",
                    "δZ = δA ⊙ 1[Z > 0]", "∂L/∂W = Σ_uv δZ · X-window (eq. 2)",
                    "∂L/∂b = Σ_uv δZ (eq. 1)",
                    "δs = softmax(s) − y", "δp = δ(p Uᵀ) U", "δUᵀ = pᵀ δ(p Uᵀ)"]:
        assert formula in words, formula
    # Saved arrays with their size in bytes, as the recording saw them before backward released
    # them (relu's rule may keep a mask or its output; either way, shape, dtype and bytes are shown).
    saved = recording.saved_of(parts["A"].grad_fn)
    parts = ", ".join(f"{dtype} {shape}" for shape, dtype, _ in saved)
    assert f"saves {parts}: {sum(n for _, _, n in saved)} B" in words


def test_gradient_norms_match_the_gradients_backward_computed():
    parts = derivation_tensors()
    L, U = parts["L"], parts["U"]
    recording = recorded(L)
    words = text(tg.draw(L, recording=recording).source)
    expected = float(np.linalg.norm(U.grad))
    assert f"‖δU‖ = {expected:.3g}" in words
    assert "δL = 1" in words          # one entry: shown itself, signed


def test_same_graph_gives_identical_dot_text_and_drawing_works_before_backward():
    first, second = derivation_network(seed=3), derivation_network(seed=3)
    before = tg.draw(first).source
    assert before == tg.draw(second).source            # two separately built copies of one graph
    assert tg.draw(first, recording=recorded(first)).source == tg.draw(second, recording=recorded(second)).source
    assert tg.draw(first).source != before              # after backward, W, b, U, c have .grad to show


def test_a_tensor_used_by_several_ops_shows_its_contributions_being_summed():
    x = tg.tensor([1.0, 2.0], requires_grad=True, name="x")
    y = (x * x + x).sum().named("y")      # x feeds mul twice (as a and as b) and add once: 3 contributions
    words = text(tg.draw(y, recording=recorded(y)).source)
    for k in (1, 2, 3):
        assert f"δx += this ({k} of 3)" in words
    assert "δx = sum of 3 contributions (+=)" in words
    assert "δx = [3, 5]" in words          # δx = 2x + 1 = (3, 5): two entries, each shown


def test_broadcasting_edges_name_the_summed_axes():
    a = tg.tensor(np.ones((3, 4)), requires_grad=True, name="a")
    b = tg.tensor(np.ones(4), requires_grad=True, name="b")
    out = (a + b).sum()
    dot = tg.draw(out, recording=recorded(out)).source
    edges = [m.group(3) for m in EDGE.finditer(dot) if m.group(3) and "dir=back" in m.group(3)]
    into_b = [e for e in edges if "δb =" in text(e)]
    into_a = [e for e in edges if "δa =" in text(e)]
    assert len(into_b) == 1 and "summed over broadcast axes (0,)" in text(into_b[0])
    assert len(into_a) == 1 and "broadcast" not in text(into_a[0])
    # Without a recording, the shapes give the same label.
    assert "summed over broadcast axes (0,)" in text(tg.draw(out).source)


def test_health_flags_dead_relu_units_and_vanishing_gradients():
    x = tg.tensor(np.array([-1.0, -2.0, 3.0, -4.0]), requires_grad=True, name="x")
    dead = (x * 1e-9).relu().sum()         # δx = 1e-9 where x > 0: norm 1e-9 < 1e-8, vanishing
    words = text(tg.draw(dead, recording=recorded(dead)).source)
    assert "⚠ vanishing gradient" in words
    assert "dead units: 75% of" in words


def test_ten_thousand_node_chain_draws_collapsed_without_recursion():
    x = tg.tensor(np.ones(3), requires_grad=True, name="x")
    t = x
    for _ in range(10_000):
        t = t.relu()
    root = t.sum().named("total")
    dot = tg.draw(root).source              # above AUTO_COLLAPSE ops, so collapsed by default
    # x, the chain of 10,000 relu + sum as one box (the unnamed results are hidden), the root
    assert counts(dot)[0] == 3
    assert "10001 ops: relu ×10000, sum" in text(dot)


def test_collapse_module_draws_each_module_of_the_cnn_as_one_box():
    model = TwoLayerCNN(filters=2, classes=4, rng=np.random.default_rng(0))
    x = tg.tensor(np.random.default_rng(1).random((1, 1, 8, 8)).astype(np.float32), name="X")
    L = model.loss(x, tg.tensor([1], name="y"))
    dot = tg.draw(L, collapse="module", recording=recorded(L), wrap=None).source
    # Modules conv, relu, pool, flatten, fc become 5 boxes; softmax_xent (no module) stays an op.
    # Visible tensors: X, Z, A, P, p, s, y, L (W, b hide in conv; U, c, Uᵀ, p Uᵀ in fc) = 8 -> 14 nodes.
    # Edges: forward X→conv→Z→relu→A→pool→P→flatten→p→fc→s→xent←y, xent→L = 13;
    # rules into Z, A, P, p, s = 5; δ-in from Z, A, P, p, s, L = 6  -> 24.
    assert counts(dot) == (14, 24)
    assert "W (2, 1, 3, 3) ‖δW‖" in text(dot)


def test_bad_arguments_are_named():
    L = derivation_network()
    with pytest.raises(ValueError, match="view"):
        tg.draw(L, view="sideways")
    with pytest.raises(ValueError, match="collapse"):
        tg.draw(L, collapse="layer")
    with pytest.raises(TypeError, match="root"):
        tg.draw(np.ones(3))


def test_a_module_called_twice_collapses_into_one_box_even_though_that_makes_a_cycle():
    from tinygraph import nn

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3, rng=np.random.default_rng(0))

        def forward(self, x):
            return self.lin(self.lin(x).relu())      # lin → relu (outside lin) → lin again

    x = tg.tensor(np.ones((1, 3)), name="x")
    L = Twice()(x).sum().named("L")
    dot = tg.draw(L, collapse="module", wrap=2).source
    # One box for lin (2 × transpose, matmul, add), relu and sum stay ops, x, the relu's input and
    # output, lin's output and L stay tensors: 1 + 2 + 5 = 8 nodes.
    assert counts(dot)[0] == 8
    assert "lin" in text(dot)


# ----------------------------------------------------------------------------- issue 13
def test_small_tensors_show_their_values_and_gradients_signed():
    from drawing_cases import micrograd_example

    parts = micrograd_example()
    L = parts["L"]
    words = text(tg.draw(L, recording=recorded(L)).source)
    for shown in ["b = −3", "δb = −4", "a = 2", "δa = 6", "δf = 4", "L = −8", "δL = 1", "δe = −2"]:
        assert shown in words, shown
    assert "‖δb‖" not in words and "min −3" not in words
    # A larger tensor keeps min/mean/max and the norm, plus the gradient's min and max.
    parts = derivation_tensors()
    words = text(tg.draw(parts["L"], recording=recorded(parts["L"])).source)
    lo, hi = parts["U"].grad.min(), parts["U"].grad.max()
    expected = f"‖δU‖ = {np.linalg.norm(parts['U'].grad):.3g} +min {lo:.3g} · max {hi:.3g}".replace("-", "−")
    assert re.search(expected, words), expected


def test_image_shaped_tensors_carry_heatmaps_of_values_and_gradients_unless_turned_off():
    parts = derivation_tensors()
    L = parts["L"]
    recording = recorded(L)
    dot = tg.draw(L, recording=recording).source
    images = re.findall(r'<IMG SRC="([^"]+)"', dot)
    # X 1 channel, W 2 filters, Z, A, P 2 channels each: values 9 maps; gradients of W, Z, A, P: 8;
    # and a colour bar under each of those 9 rows of maps.
    assert len(images) == 9 + 8 + 9
    assert "δZ: channels 1–2" in text(dot) and "W: filters 1–2" in text(dot)
    assert "<IMG" not in tg.draw(L, recording=recording, images=False).source
    assert "δZ: channels" not in text(tg.draw(L, recording=recording, grads=False).source)
    assert not re.search(r"(?<!δ)Z: channels", text(tg.draw(L, recording=recording, values=False).source))


def test_a_released_graph_says_in_one_line_how_to_get_images():
    rng = np.random.default_rng(0)
    X = tg.tensor(rng.standard_normal((1, 1, 16, 16)), name="X")
    W = tg.tensor(rng.standard_normal((4, 1, 3, 3)), requires_grad=True, name="W")
    L = tg.conv2d(X, W, None).relu().sum().named("L")
    L.backward()                              # plain backward: the 4×14×14 maps (held by nobody) are freed
    words = text(tg.draw(L).source)
    assert "feature maps not shown: backward() freed them; draw inside tg.record_backward() " \
           "or after backward(retain_graph=True)" in words


def test_many_channels_show_up_to_the_limit_then_how_many_more():
    X = tg.tensor(np.random.default_rng(0).standard_normal((2, 11, 5, 5)), name="X")
    dot = tg.draw(X.relu().named("A")).source
    assert "A: channels 1–8 of sample 1 of 2 (+3 more)" in text(dot)


def test_trace_lists_the_ops_in_order_with_names_shapes_formulas_and_rules():
    parts = derivation_tensors()
    L = parts["L"]
    before = str(tg.trace(L))
    lines = [line for line in before.splitlines() if re.match(r"\s+\d+ ", line)]
    assert [re.search(r"= (\w+)\(", line).group(1) for line in lines] == [
        "conv2d", "relu", "maxpool", "reshape", "transpose", "matmul", "add", "softmax_xent"]
    assert re.search(r"1  Z +\(1, 2, 6, 6\) float64 += conv2d\(X, W, b\) +Z = W ⋆ X \+ b", before)
    # Before backward the rules are known from the ops, and marked as not run (issue 23.3).
    assert "↳ δZ = δA ⊙ 1[Z > 0]   (not run yet)" in before
    assert "↳ ∂L/∂W = Σ_uv δZ · X-window (eq. 2)   (not run yet)" in before
    assert before.count("(not run yet)") == before.count("↳") == 11      # one per input needing δ
    after = repr(tg.trace(L, recording=recorded(L)))
    assert "↳ δZ = δA ⊙ 1[Z > 0]" in after and "↳ ∂L/∂W = Σ_uv δZ · X-window (eq. 2)" in after
    assert "not run yet" not in after and len(re.findall("↳", after)) == 11
    assert "↳" not in str(tg.trace(L, rules=False))
    assert str(tg.trace(L)) == str(tg.trace(L))                # diffable: the same graph, the same text


def test_a_bias_free_conv_has_no_bias_term_in_its_formula():
    X = tg.tensor(np.ones((1, 1, 5, 5)), name="X")
    W = tg.tensor(np.ones((2, 1, 3, 3)), requires_grad=True, name="W")
    Z = tg.conv2d(X, W, None).named("Z")
    assert "Z = W ⋆ X" in text(tg.draw(Z).source) and "∅" not in text(tg.draw(Z).source)
    assert "∅" not in str(tg.trace(Z))


def test_unnamed_tensors_are_named_after_the_module_that_made_them_and_the_input_x():
    model = tg.nn.Sequential(tg.nn.Linear(4, 3, rng=np.random.default_rng(0)), tg.nn.ReLU())
    out = model(tg.tensor(np.ones((2, 4), np.float32))).sum()
    symbols = {item.symbol for item in tg.drawing.graph.build_graph(out).tensors.values()}
    assert symbols == {"X", "linear1", "linear1.weight", "linear1.bias", "relu1", "L"}, symbols


def test_a_sequentials_layers_are_called_by_class_and_count_and_labels_by_their_role():
    """Issue 23: not `2 = ½1(1 + tanh(...))` nor `δ1 = softmax(1) − 7`."""
    rng = np.random.default_rng(0)
    model = tg.nn.Sequential(tg.nn.Conv2d(1, 2, 3, rng=rng), tg.nn.ReLU(), tg.nn.MaxPool2d(2), tg.nn.Flatten(),
                             tg.nn.Linear(8, 6, rng=rng), tg.nn.Tanh(), tg.nn.Linear(6, 10, rng=rng), tg.nn.ReLU())
    L = tg.softmax_xent(model(np.ones((1, 1, 6, 6), np.float32)), np.array([7]))
    graph = tg.drawing.graph.build_graph(L)
    made = [graph.tensors[op.output].symbol for op in graph.ops.values()]
    assert made == ["conv2d1", "relu1", "maxpool2d1", "flatten1", "linear1", "tanh1", "linear2", "relu2", "L"]
    words = str(tg.trace(L, rules=True))
    assert "δrelu2 = softmax(relu2) − y" in words and "− 7" not in words
    assert "linear2 = linear2.weight tanh1 + linear2.bias" in words and "[linear2]" in words
    assert all(not item.symbol[0].isdigit() for item in graph.tensors.values())
    x = tg.tensor(np.ones(3), requires_grad=True, name="x")    # a constant with no role keeps a plain name
    symbols = {i.symbol for i in tg.drawing.graph.build_graph((tg.tensor(np.full(3, 2.0)) * x).sum()).tensors.values()}
    assert "a" not in symbols and "t1" in symbols, symbols
    named = tg.nn.Sequential(tg.nn.Linear(4, 3, rng=rng))        # a name given is kept
    out = named(tg.tensor(np.ones((1, 4)), name="inputs")).named("scores")
    assert {i.symbol for i in tg.drawing.graph.build_graph(out).tensors.values()} == {
        "inputs", "scores", "linear1.weight", "linear1.bias"}


def test_the_fused_linear_op_is_one_node_with_its_formula_and_rules():
    from tinygraph import functional as F

    p = tg.tensor(np.ones((1, 3)), requires_grad=True, name="p")
    U = tg.tensor(np.ones((2, 3)), requires_grad=True, name="U")
    c = tg.tensor(np.zeros(2), requires_grad=True, name="c")
    L = F.linear(p, U, c).named("s").sum().named("L")
    dot = tg.draw(L, recording=recorded(L)).source
    assert counts(tg.draw(L, view="forward").source)[0] == 2 + 5       # linear, sum; p, U, c, s, L
    words = text(dot)
    for shown in ["s = U p + c", "δp = Uᵀ δs (§3.2)", "∂L/∂U = δs pᵀ (§3.2)", "∂L/∂c = δs (§3.2)"]:
        assert shown in words, shown


def test_unnamed_parameters_are_called_by_their_name_in_the_model():
    from tinygraph.models import MLP
    model = MLP(in_features=4, hidden=[3], classes=2, rng=np.random.default_rng(0))
    text = str(tg.trace(model(np.zeros((1, 4), np.float32))))
    for name in ("linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"):   # layers.1, layers.3
        assert name in text, name
    assert tg.nn.parameter_name(model.layers[1].weight) == "layers.1.weight"
    assert tg.nn.parameter_name(tg.tensor(np.ones(2), requires_grad=True)) is None
