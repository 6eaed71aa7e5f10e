"""Wrapping a long left-to-right drawing into rows, like lines of text.

Graphviz puts a chain of 15 tensors and ops in one row several screens wide. `assign_rows` cuts
it into rows of `width` columns: each node's column is the latest one it can take (a parameter
sits just before the op that uses it, not at the far left), and its row is column // width.
The renderer then lets edges between rows not constrain the layout, so each row starts again
at the left, and stacks the rows top to bottom.
"""
from __future__ import annotations


def assign_rows(nodes: list[str], edges: list[tuple[str, str]], width: int) -> dict[str, int]:
    """Row number of every node, from the forward edges between them."""
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    indegree = {n: 0 for n in nodes}
    for tail, head in edges:
        successors[tail].append(head)
        indegree[head] += 1
    # Kahn's algorithm, ready nodes taken in the given order so the result is deterministic.
    order, ready = [], [n for n in nodes if indegree[n] == 0]
    position = {n: i for i, n in enumerate(nodes)}
    while ready:
        ready.sort(key=position.__getitem__, reverse=True)
        n = ready.pop()
        order.append(n)
        for m in successors[n]:
            indegree[m] -= 1
            if indegree[m] == 0:
                ready.append(m)
    # A module called twice around other ops makes a cycle once collapsed into one box; its
    # nodes never become ready, so they are appended in the given order and ranked as they come.
    order += [n for n in nodes if indegree[n] > 0]
    earliest = {n: 0 for n in nodes}
    for n in order:
        for m in successors[n]:
            if indegree[m] == 0:
                earliest[m] = max(earliest[m], earliest[n] + 1)
    latest: dict[str, int] = {}
    for n in reversed(order):
        latest[n] = min((latest[m] - 1 for m in successors[n] if m in latest), default=earliest[n])
        latest[n] = max(latest[n], 0)
    return {n: latest[n] // width for n in nodes}
