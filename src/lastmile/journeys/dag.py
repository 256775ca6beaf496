"""The step graph of a journey: pure functions, no ORM.

Steps name the steps they depend on by key; the graph must be a DAG. A cycle is reported
as the path that closes it (``a → b → a``), so whoever wrote the template sees which
dependency to remove.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

Graph = Mapping[str, Sequence[str]]  # step key -> keys it depends on, in template order


def find_cycle(graph: Graph) -> list[str] | None:
    """The first cycle met walking the steps in order, as keys ``[a, b, …, a]``; else None.

    Iterative depth-first search (a template may be long; no recursion limit to hit).
    Dependencies on unknown keys are ignored here: they are reported separately.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    for root in graph:
        if colour[root] != white:
            continue
        path: list[str] = [root]
        todo: list[Iterator[str]] = [iter(graph[root])]
        colour[root] = grey
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                todo.pop()
                continue
            if nxt not in colour:
                continue
            if colour[nxt] == grey:
                return path[path.index(nxt) :] + [nxt]
            if colour[nxt] == white:
                colour[nxt] = grey
                path.append(nxt)
                todo.append(iter(graph[nxt]))
    return None


def ready_steps(graph: Graph, *, done: set[str], started: set[str]) -> list[str]:
    """Steps not yet started whose every dependency is done, in template order."""
    return [
        key
        for key, deps in graph.items()
        if key not in started and key not in done and all(d in done for d in deps)
    ]


def dependents(graph: Graph, key: str) -> list[str]:
    """Steps that name ``key`` among their dependencies, in template order."""
    return [k for k, deps in graph.items() if key in deps]


def describe_cycle(cycle: Sequence[str]) -> str:
    return "cycle " + " → ".join(cycle)
