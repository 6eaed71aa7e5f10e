"""Expression specs that once failed (or that the suite must always cover), replayed by test_differential.py.

Plain data in the format torch_compare.py describes. When the generator in test_differential.py finds
a failing case, Hypothesis prints the shrunk spec: paste it here with an id and a one-line reason, so
it runs every time, whatever the generator draws.
"""

# 0.0, 0.1, ..., 11.9 laid out as a (2, 3, 4, 5) nest
ARANGE_2345 = [[[[(((a * 3 + b) * 4 + c) * 5 + d) / 10 for d in range(5)] for c in range(4)]
                for b in range(3)] for a in range(2)]

REGRESSIONS = [
    {
        "id": "cube-0d",
        "why": "x*x*x on a 0-d float64 tensor: the gradient was 0.5 (a NumPy scalar accumulated in place), not 0.75",
        "leaves": {"x": {"shape": (), "dtype": "float64", "values": 0.5}},
        "nodes": [
            {"name": "x2", "op": "mul", "args": ["x", "x"]},
            {"name": "x3", "op": "mul", "args": ["x2", "x"]},
        ],
        "backward": "plain",
    },
    {
        "id": "fourfold-sum-0d",
        "why": "x+x+x+x on a 0-d float64 tensor: reuse of one tensor by several ops, gradient 4",
        "leaves": {"x": {"shape": (), "dtype": "float64", "values": 0.5}},
        "nodes": [
            {"name": "s2", "op": "add", "args": ["x", "x"]},
            {"name": "s3", "op": "add", "args": ["s2", "x"]},
            {"name": "s4", "op": "add", "args": ["s3", "x"]},
        ],
        "backward": "plain",
    },
    {
        "id": "softmax-xent-probabilities-not-summing-to-exactly-1",
        "why": "softmax_xent accepts probability rows summing to 1 within 1e-6 and its forward is -sum y log p, "
               "but backward returns p - y (exact only when sum y == 1); the derivative is p * sum(y) - y, "
               "as PyTorch computes: gradient off by 5e-7 here",
        "leaves": {"s": {"shape": (1, 3), "dtype": "float64", "values": [[0.3, -0.2, 1.0]]}},
        "nodes": [
            {"name": "loss", "op": "softmax_xent",
             "args": ["s", {"array": [[0.2, 0.3, 0.5000009]], "dtype": "float64", "shape": [1, 3]}],
             "attrs": {"reduction": "sum"}},
        ],
        "backward": "plain",
    },
    {
        "id": "repeated-index-scatter-add",
        "why": "x[[0, 2, 0, 0]] then cat with itself and a row max: backward must add the three copies of row 0 "
               "(np.add.at), not assign them, and max(dim) must route to the index it returns",
        "leaves": {"x": {"shape": (3, 2), "dtype": "float32", "values": [[0.5, -1.25], [2.0, 0.75], [-0.3, 1.5]]}},
        "nodes": [
            {"name": "rows", "op": "getitem", "args": ["x"], "attrs": {"index": [{"take": [0, 2, 0, 0]}]}},
            {"name": "both", "op": "cat", "args": ["rows", "x"], "attrs": {"dim": 0}},
            {"name": "top", "op": "max_dim", "args": ["both"], "attrs": {"dim": 1}},
        ],
        "backward": {"weights": [1.0, -0.5, 0.25, 2.0, 0.75, -1.0, 0.5]},
    },
    {
        "id": "integer-and-index-array-placement",
        "why": "x[0:1, 0, None, :, [0, 2]]: NumPy counts the 0 as an index array, moving "
               "the array axes to the front; PyTorch selects with the 0 first, keeping them in place (found by the generator)",
        "leaves": {"x": {"shape": (2, 3, 4, 5), "dtype": "float64", "values": ARANGE_2345}},
        "nodes": [
            {"name": "y", "op": "getitem", "args": ["x"],
             "attrs": {"index": [{"slice": [0, 1, None]}, 0, "None", {"slice": [None, None, None]}, {"take": [0, 2]}]}},
        ],
        "backward": {"weights": [1.0, -2.0, 0.5, 3.0, -1.0, 0.25, 2.0, -0.5]},
    },
]
