"""``json.dumps(obj, indent=N)``, byte for byte, with the big parts through json's C encoder.

Python 3.11's C encoder runs only without ``indent``; with it, every value goes through the pure-Python
encoder (a 10,000-edge run's ``--json``, 920,000 tokens: 0.2 s). Here the shapes a run's JSON is made of —
a list of flat objects (nodes, executions, pending), an object or a list of scalars — are encoded by the C
encoder with a control character as the item separator, then indented by replacing it: a control character
inside a string is always escaped (``\\u001f``), so raw it can only be a separator, and ``}<sep>{`` only the
boundary of two flat objects (inside one there is no brace but its own). Anything else is indented here
container by container, and a part of no such shape goes to ``json.dumps`` itself.
"""

from __future__ import annotations

import json
from itertools import chain
from typing import Any

__all__ = ["dumps"]

_SEP = "\x1f"       # between items, as encoded by the C encoder
_ROWS = "\x1e"      # between two flat objects of a list (``}<_SEP>{``)
_SCALARS = frozenset({str, int, float, bool, type(None)})


def dumps(obj: Any, indent: int = 2) -> str:
    """``json.dumps(obj, indent=indent)``, the same text."""
    return _dumps(obj, " " * indent, 0)


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(_SEP, ": "))


def _dumps(obj: Any, pad: str, depth: int) -> str:
    inner = "\n" + pad * (depth + 1)
    if type(obj) is dict and obj and set(map(type, obj)) == {str}:
        if _SCALARS.issuperset(map(type, obj.values())):  # an object of scalars
            return "{" + inner + _compact(obj)[1:-1].replace(_SEP, "," + inner) + "\n" + pad * depth + "}"
        items = [json.dumps(k) + ": " + _dumps(v, pad, depth + 1) for k, v in obj.items()]
        return "{" + inner + ("," + inner).join(items) + "\n" + pad * depth + "}"
    if type(obj) is list and obj:
        kinds = set(map(type, obj))
        if _SCALARS.issuperset(kinds):  # a list of scalars
            return "[" + inner + _compact(obj)[1:-1].replace(_SEP, "," + inner) + "\n" + pad * depth + "]"
        if kinds == {dict} and all(obj) and set(map(type, chain.from_iterable(obj))) == {str} \
                and _SCALARS.issuperset(map(type, chain.from_iterable(map(dict.values, obj)))):
            return _rows(obj, pad, depth)
        items = [_dumps(v, pad, depth + 1) for v in obj]
        return "[" + inner + ("," + inner).join(items) + "\n" + pad * depth + "]"
    return json.dumps(obj, indent=len(pad)).replace("\n", "\n" + pad * depth)


def _rows(rows: list[dict[str, Any]], pad: str, depth: int) -> str:
    """A non-empty list of non-empty objects whose keys are strings and whose values are scalars."""
    row, field = "\n" + pad * (depth + 1), "\n" + pad * (depth + 2)
    text = _compact(rows)[2:-2].replace("}" + _SEP + "{", _ROWS).replace(_SEP, "," + field)
    text = text.replace(_ROWS, row + "}," + row + "{" + field)
    return "[" + row + "{" + field + text + row + "}\n" + pad * depth + "]"
