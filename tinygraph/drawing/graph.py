"""The drawing's model of a recorded graph: tensor items, op items and their edges, with stable ids.

`build_graph(root)` walks from `root` through `tensor.grad_fn.inputs` with an explicit stack (no
recursion, so a chain of any depth works) and numbers what it finds in the walk's order, inputs
before the ops that consume them. The numbering depends only on the graph's structure, never on
`id()`, so the same graph always gives the same ids and the same DOT text.

`collapse(graph, by_module)` then merges parts of a large graph into group items: each module's
ops (by the module path that nn notes in tinygraph/metadata.py) into one box, and runs of unnamed
single-use intermediates into one chain.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinygraph.broadcast import unbroadcast_axes
from tinygraph.metadata import fact, tensor_fact
from tinygraph.tensor import Tensor

SHORT_FORMULA = 6     # an unnamed result whose formula is at most this long is called by it: Uᵀ, (p Uᵀ)
# An unnamed constant is called by the role of the argument it fills: labels passed as `target` are y.
ROLE_SYMBOLS = {"target": "y", "condition": "mask"}
INPUT, PARAMETER, INTERMEDIATE, LOSS, OUTPUT = "input", "parameter", "intermediate", "loss", "output"


@dataclass
class TensorItem:
    """One tensor of the graph, as drawn."""

    id: str
    tensor: Tensor
    symbol: str                     # its name, or a generated one (t3) when it has none
    kind: str                       # INPUT, PARAMETER, INTERMEDIATE, LOSS or OUTPUT
    producer: str | None = None     # id of the op item that made it
    symbol_is_formula: bool = False  # unnamed, so called by what it computes (Uᵀ)
    consumers: list[tuple[str, int]] = field(default_factory=list)   # (op id, input index)


@dataclass
class OpItem:
    """One recorded op application (a Node), as drawn."""

    id: str
    node: object
    output: str                     # id of the tensor item it made
    inputs: list[str | None]        # tensor item id per input; None for absent or inlined constants
    symbols: dict[str, str]         # formula placeholder -> symbol ("x" -> "Z", "out" -> "A")
    module: str | None = None       # the module that ran it, as the drawing calls it (fc1, linear2)

    @property
    def name(self) -> str:
        return self.node.op.name


@dataclass
class GroupItem:
    """Several ops (and the tensors only they use) drawn as one box."""

    id: str
    title: str                      # the module path, or "chain"
    ops: list[str]
    tensors: list[str]              # tensors hidden inside the box


@dataclass
class Graph:
    root: str
    tensors: dict[str, TensorItem]
    ops: dict[str, OpItem]
    groups: dict[str, GroupItem] = field(default_factory=dict)
    group_of: dict[str, str] = field(default_factory=dict)   # op or hidden tensor id -> group id

    def where(self, item_id: str) -> str:
        """The id that is drawn for an item: its group's when it was collapsed into one."""
        return self.group_of.get(item_id, item_id)


def is_inlined_constant(t: Tensor, argument: str | None = None) -> bool:
    """Unnamed one-element constants (the 0.5 of `x * 0.5`) appear inside formulas, not as nodes;
    not when they fill a role (one label as `target`), which is shown by its name: y."""
    return (t.grad_fn is None and not t.requires_grad and t.name is None and t.size == 1
            and argument not in ROLE_SYMBOLS)


def constant_symbol(t: Tensor) -> str:
    value = t.data.item()
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def build_graph(root: Tensor) -> Graph:
    """Walk the recorded graph from `root` (iteratively) into numbered tensor and op items."""
    if not isinstance(root, Tensor):
        raise TypeError(f"draw: root must be a tinygraph Tensor, got {type(root).__name__}")
    order = _forward_order(root)
    layers = layer_names(t.grad_fn for t in order)
    module_names = _module_names(order, root, layers)
    tensors: dict[str, TensorItem] = {}
    ops: dict[str, OpItem] = {}
    item_of: dict[int, str] = {}     # id(tensor) -> item id, only while building
    used_symbols: dict[str, int] = {}
    unnamed = 0
    for t in order:
        tid = f"T{len(tensors)}"
        item_of[id(t)] = tid
        node = t.grad_fn
        inputs, symbols = [], {}
        if node is not None:
            oid = f"O{len(ops)}"
            for index, (arg, parent) in enumerate(zip(node.op.arg_names, node.inputs)):
                if parent is None:
                    inputs.append(None)
                    symbols[arg] = "∅"
                elif is_inlined_constant(parent, arg):
                    inputs.append(None)
                    symbols[arg] = constant_symbol(parent)
                else:
                    pid = item_of[id(parent)]
                    inputs.append(pid)
                    symbols[arg] = tensors[pid].symbol
                    tensors[pid].consumers.append((oid, index))
        short = None
        if t.name:
            symbol = _unique(t.name, used_symbols)
        elif id(t) in module_names and module_names[id(t)][1]:      # a module's output (fc1), labels (y), L
            symbol = _unique(module_names[id(t)][0], used_symbols)
        else:
            unnamed += 1
            short = _short_formula(node, symbols)
            fallback = module_names[id(t)][0] if id(t) in module_names else f"t{unnamed}"
            symbol = _unique(short or fallback, used_symbols)
        tensors[tid] = TensorItem(tid, t, symbol, _kind(t, t is root), symbol_is_formula=not t.name and bool(short))
        if node is not None:
            symbols["out"] = symbol
            path = _module_path(node)
            ops[oid] = OpItem(oid, node, tid, inputs, symbols, layers.get(path, path))
            tensors[tid].producer = oid
    return Graph(item_of[id(root)], tensors, ops)


def _module_names(order: list[Tensor], root: Tensor, layers: dict[str, str]) -> dict[int, tuple[str, bool]]:
    """Names for unnamed tensors from the module that made them: (name, is the module's output).

    A module's output (used outside it, or the root) is called by the module (`fc1`); a tensor
    used only inside its module by module and op (`fc1.matmul`); a parameter by its name in the
    model (`fc1.weight`); the unnamed input that feeds the first module, `X`; an unnamed constant
    by the role of the argument it fills (ROLE_SYMBOLS: labels as `target` are `y`); an unnamed
    scalar root, `L`.
    A module that is a container's numbered entry (`layers.1`) is called by its class and its
    count among the model's layers of that class (`linear1`, `relu2`; see `layer_names`), as `1`
    would make formulas unreadable, and so are its parameters (`linear1.weight`).
    """
    users: dict[int, set] = {}
    roles: dict[int, str] = {}
    for t in order:
        if t.grad_fn is not None:
            arguments = t.grad_fn.op.arg_names
            for index, parent in enumerate(t.grad_fn.inputs):
                if parent is not None:
                    users.setdefault(id(parent), set()).add(_module_path(t.grad_fn))
                    if index < len(arguments):
                        roles.setdefault(id(parent), arguments[index])
    names: dict[int, tuple[str, bool]] = {}
    input_named = False
    for t in order:
        if t.name:
            continue
        if t.grad_fn is None:
            modules = users.get(id(t), set())
            if _parameter_name(t):                            # a model's parameter: fc.weight
                owner, _, attribute = _parameter_name(t).rpartition(".")
                names[id(t)] = (f"{layers[owner]}.{attribute}" if owner in layers else _parameter_name(t), True)
            elif not input_named and not t.requires_grad and t.ndim >= 2 and modules - {None}:
                names[id(t)], input_named = ("X", True), True
            elif not t.requires_grad and roles.get(id(t)) in ROLE_SYMBOLS:     # labels: y
                names[id(t)] = (ROLE_SYMBOLS[roles[id(t)]], True)
            continue
        path = _module_path(t.grad_fn)
        if path is None:
            if t is root and t.size == 1:
                names[id(t)] = ("L", True)
            continue
        is_output = t is root or not users.get(id(t)) or users[id(t)] != {path}
        name = layers.get(path, path)
        names[id(t)] = (name if is_output else f"{name}.{t.grad_fn.op.name}", is_output)
    return names


def layer_names(nodes) -> dict[str, str]:
    """Module path -> the name a drawing calls it by: the path itself (`conv1`, `blocks.0.fc`), or,
    for a container's numbered entry (`layers.1`), its class and count: `linear1`, `conv2d1`.

    Counted per class in the order the layers first ran, like the entries of a PyTorch model.
    """
    names: dict[str, str] = {}
    counts: dict[str, int] = {}
    for node in nodes:
        path = _module_path(node)
        if path is None or path in names:
            continue
        cls = _module_class(node)
        if not path.rsplit(".", 1)[-1].isdigit() or not cls:
            names[path] = path
            continue
        base = cls.lower()
        counts[base] = counts.get(base, 0) + 1
        names[path] = f"{base}{counts[base]}"
    return names


def _forward_order(root: Tensor) -> list[Tensor]:
    """Every tensor `root` depends on (except inlined constants), each after all of its inputs."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        t, inputs_done = stack.pop()
        if inputs_done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t.grad_fn is not None:
            # Reversed, so that the first input is taken first and gets the smaller number.
            arguments = t.grad_fn.op.arg_names
            for index in reversed(range(len(t.grad_fn.inputs))):
                parent = t.grad_fn.inputs[index]
                argument = arguments[index] if index < len(arguments) else None
                if parent is not None and id(parent) not in seen and not is_inlined_constant(parent, argument):
                    stack.append((parent, False))
    return order


def formula(template: str, symbols: dict[str, str]) -> str:
    """A formula template filled with the drawing's symbols; (Uᵀ)ᵀ is written U; `+ ∅` left out.
    A placeholder with no symbol given shows its own name."""
    text = template.format_map(_SymbolDefaults(symbols)).replace("ᵀᵀ", "")
    return text.replace(" + ∅", "")     # an absent bias (conv2d with bias=False) is no term at all


def _short_formula(node, symbols: dict[str, str]) -> str | None:
    """An unnamed result is called by what it computes when that is short: Uᵀ, (p Uᵀ), (a + b)."""
    if node is None or not node.op.forward_formula.startswith("{out} = "):
        return None
    rhs = formula(node.op.forward_formula[len("{out} = "):], symbols)
    if len(rhs) > SHORT_FORMULA or "{" in rhs:
        return None
    return f"({rhs})" if " " in rhs else rhs


def _kind(t: Tensor, is_root: bool) -> str:
    if is_root:
        return LOSS if t.size == 1 else OUTPUT
    if t.grad_fn is not None:
        return INTERMEDIATE
    return PARAMETER if t.requires_grad else INPUT


def _unique(symbol: str, used: dict[str, int]) -> str:
    """Two tensors both named W would make formulas ambiguous: the second becomes W₂."""
    count = used.get(symbol, 0) + 1
    used[symbol] = count
    if count == 1:
        return symbol
    return symbol + str(count).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


# ----------------------------------------------------------------------------- collapsing
def collapse(graph: Graph, by_module: bool = True) -> Graph:
    """Group each module's ops, and runs of unnamed single-use intermediates, into one item each.

    A tensor is hidden inside a group when every op that uses it, and the op that made it, belong
    to that group: a module hides its parameters and intermediates, a chain its unnamed
    intermediates. Inputs (leaves needing no gradient) and the root always stay visible.
    """
    parent = {oid: oid for oid in graph.ops}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb, key=_number)] = min(ra, rb, key=_number)

    if by_module:
        first_of_module: dict[str, str] = {}
        for oid, op in graph.ops.items():
            if op.module is not None:
                union(first_of_module.setdefault(op.module, oid), oid)
    for tid, item in graph.tensors.items():
        # A chain link: an unnamed intermediate made by one module-less op and used by exactly one other.
        if (item.producer is not None and item.tensor.name is None and tid != graph.root
                and len(item.consumers) == 1):
            a, b = graph.ops[item.producer], graph.ops[item.consumers[0][0]]
            if (a.module is None and b.module is None) or not by_module:
                union(a.id, b.id)

    members: dict[str, list[str]] = {}
    for oid in graph.ops:
        members.setdefault(find(oid), []).append(oid)
    groups: dict[str, GroupItem] = {}
    group_of: dict[str, str] = {}
    for head, op_ids in members.items():
        if len(op_ids) < 2 and graph.ops[head].module is None:
            continue
        gid = "G" + head[1:]
        module = graph.ops[head].module
        title = module if (by_module and module is not None) else "chain"
        groups[gid] = GroupItem(gid, title, op_ids, [])
        for oid in op_ids:
            group_of[oid] = gid
    for tid, item in graph.tensors.items():
        if tid == graph.root:
            continue
        owners = {group_of.get(oid) for oid, _ in item.consumers}
        if item.producer is not None:
            owners.add(group_of.get(item.producer))
        if len(owners) != 1 or None in owners:
            continue
        gid = owners.pop()
        is_chain = groups[gid].title == "chain"
        if (item.kind == PARAMETER and not is_chain) or (
                item.kind == INTERMEDIATE and (item.tensor.name is None or not is_chain)):
            groups[gid].tensors.append(tid)
            group_of[tid] = gid
    return Graph(graph.root, graph.tensors, graph.ops, groups, group_of)


def _number(item_id: str) -> int:
    return int(item_id[1:])


def summarize_values(t: Tensor) -> tuple[float, float, float] | None:
    """(min, mean, max) of a floating tensor's data, or None when there is nothing to summarize
    (or when backward() freed the values: see `Tensor.values_available`)."""
    if not t.values_available:
        return None
    data = t.data
    if data.size == 0 or data.dtype.kind not in "fiu":
        return None
    return float(np.min(data)), float(np.mean(data)), float(np.max(data))


def broadcast_axes(graph: Graph, op: OpItem, index: int) -> tuple[int, ...] | None:
    """Axes the engine sums to undo broadcasting of input `index`, read from the shapes.

    For an elementwise broadcasting op the rule's gradient has the output's shape, so the axes
    follow from the output's and the input's shapes (a recording has the exact ones).
    """
    parent = op.inputs[index]
    if not op.node.op.broadcasting or parent is None:
        return None
    out_shape, in_shape = graph.tensors[op.output].tensor.shape, graph.tensors[parent].tensor.shape
    try:
        return unbroadcast_axes(out_shape, in_shape) or None
    except ValueError:
        return None


class _SymbolDefaults(dict):
    def __missing__(self, key: str) -> str:
        return key


def _module_path(node) -> str | None:
    return fact(node, "module_path")


def _module_class(node) -> str | None:
    return fact(node, "module_class")


def _parameter_name(t) -> str | None:
    return tensor_fact(t, "parameter_name")
