"""Wrong values at every path of the scenario schema: the places a value can be written (read off the schema
itself, so a new key, step op or timing is fuzzed without an edit) and a way to write one into a scenario."""

from __future__ import annotations

import dataclasses
from typing import Any

from repro_lib.scenario import language
from repro_lib.schema import ListOf, MapOf, OneOf, step_spec
from repro_lib.timings import Timings

#: values of every wrong kind: numbers out of range, text, lists, mappings, booleans, null, NaN, ±inf, long text
WRONG: tuple[Any, ...] = (5, -1, 10**30, "abc", "", [1], [[]], {"x": 1}, True, None, float("nan"), float("inf"),
                          float("-inf"), 1.5, "x" * 300)
#: every ``--set`` key: each timing, the core scenario's params, fix, edges, name, description
SET_KEYS: tuple[str, ...] = (*(f"timings.{f.name}" for f in dataclasses.fields(Timings)),
                             "params.settle", "params.downtime", "fix", "edges", "name", "description")
#: --set values that are not YAML, not finite, of the wrong kind, or out of range
SET_VALUES: tuple[str, ...] = ("[", ",,", ".nan", "-.inf", "abc", "{a: 1}", "-5", "1e999", "", "[1, 2]", "0",
                               "10001", "~", "*x", "&a [*a]", "[" * 2000 + "]" * 2000)


def schema_paths(spec: object, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], object]]:
    """Every place a value can be written, with its spec: map keys, list items (as index 0), step arguments."""
    out: list[tuple[tuple[Any, ...], object]] = [(path, spec)]
    if isinstance(spec, MapOf):
        for k, s in spec.keys.items():
            out += schema_paths(s, (*path, k))
    elif isinstance(spec, ListOf):
        out += schema_paths(spec.item, (*path, 0))
    elif isinstance(spec, OneOf):
        for alt in spec.alts:
            if isinstance(alt, MapOf | ListOf):
                out += schema_paths(alt, path)[1:]
    elif hasattr(spec, "ops"):
        for op in spec.ops:  # type: ignore[attr-defined]
            out += schema_paths(step_spec(op), (*path, op))
    return out


PATHS: tuple[tuple[Any, ...], ...] = tuple(dict.fromkeys(p for p, _ in schema_paths(language()) if p))


def put(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Write ``value`` at ``path`` in a scenario document, making the containers on the way (a step path
    inserts a new step in front)."""
    node: Any = doc
    for i, p in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(p, int):
            if p >= len(node) or not isinstance(node[p], dict | list) or isinstance(nxt, str) and path[0] == "steps":
                node.insert(p, [] if isinstance(nxt, int) else {})
            node = node[p]
        else:
            if not isinstance(node.get(p), dict | list) or isinstance(nxt, int) != isinstance(node[p], list):
                node[p] = [] if isinstance(nxt, int) else {}
            node = node[p]
    if isinstance(node, list):
        node.insert(0, value)
    else:
        node[path[-1]] = value
