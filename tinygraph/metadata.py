"""Facts the layers above the core note about the graph, for tools to read: a side table.

The core records ops and never reads this. nn notes which module's call recorded each Node
(its dotted path and class) and what each parameter is called in its model; the drawing tools
read those facts from here, so they need not know nn. Entries go when their Node or tensor does.
"""
from __future__ import annotations

import weakref
from typing import Any

# Node -> {fact: value}
_NODE_FACTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
# id(tensor) -> (weak reference, {fact: value}); keyed by identity, since a tensor's == compares elements
_TENSOR_FACTS: dict[int, tuple] = {}


def note(node, **facts: Any) -> None:
    """Record facts about a Node (for example module_path="conv", module_class="Conv2d")."""
    _NODE_FACTS.setdefault(node, {}).update(facts)


def fact(node, key: str) -> Any:
    """A fact noted about `node` (None for a leaf, or when nothing was noted)."""
    if node is None:
        return None
    facts = _NODE_FACTS.get(node)
    return None if facts is None else facts.get(key)


def note_tensor(t, **facts: Any) -> None:
    """Record facts about a tensor (for example parameter_name="fc.weight")."""
    key = id(t)
    entry = _TENSOR_FACTS.get(key)
    if entry is None or entry[0]() is not t:
        entry = _TENSOR_FACTS[key] = (weakref.ref(t, lambda _, key=key: _TENSOR_FACTS.pop(key, None)), {})
    entry[1].update(facts)


def tensor_fact(t, key: str) -> Any:
    """A fact noted about tensor `t`, or None."""
    entry = _TENSOR_FACTS.get(id(t))
    return entry[1].get(key) if entry is not None and entry[0]() is t else None
