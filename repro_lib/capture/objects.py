"""A generic object reader: printed objects → rows naming the nodes, jobs and executions they hold.

Whatever printed it — ``--output json|yaml``, a 2022 ``describe``, the Python SDK's ``pprint`` of API objects or
their repr (``Job(id='j-…', state=…)``), a ``Key: value`` or ``key = value`` describe block — an object is read
into one tree (:func:`tree_of`: JSON, a Python literal or repr, YAML within bounds, else the text's indentation),
and :func:`object_rows` walks it and maps the known keys wherever they nest, case- and separator-insensitively
(``NodeID``, ``node_id``, ``nodeId``, ``Node ID`` are one key):

- a key naming an id (``NodeID``, ``JobID``, ``ExecutionID``, ``ComputeReference``, ``RequesterNodeID`` …),
  or ``ID`` under a parent that says its kind (``Job``, ``Nodes``, ``Info``, a ``Job(…)`` repr);
- a key that is itself an id (``QmWxA6…:`` above a node's ``State``, ``e-…:`` under ``Executions``);
- a state (``State``, ``StateType`` — a number under ``ComputeState`` is upstream's enum —, ``ConnectionState``,
  ``JobState``), kept with the nearest id.

Every id is checked against its kind's grammar (:mod:`repro_lib.capture.ids`): prose and elisions are none.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from repro_lib.capture import upstream as up
from repro_lib.capture.ids import id_of, kind_by_shape

__all__ = ["tree_of", "object_rows", "indent_tree", "norm_key", "KV_LINE"]

#: one ``Key: value`` / ``key = value`` line (YAML, describe text), a list item's ``- `` allowed
KV_LINE = re.compile(r"^(?P<ind>\s*)(?P<dash>- )?(?P<key>[A-Za-z0-9_'\"][\w .'\"/-]{0,60}?)\s*(?P<sep>:|\s=)"
                     r"(?:\s+(?P<val>.*?))?\s*$")


def norm_key(key: object) -> str:
    """A key without case or separators: ``Node ID``, ``node_id``, ``nodeId`` and ``NodeID`` are ``nodeid``."""
    return re.sub(r"[\s_.\-'\"]+", "", str(key).rsplit("/", 1)[-1]).lower()


_ID_KEYS = {"nodeid": "node", "requesternodeid": "node", "sourcenodeid": "node", "targetnodeid": "node",
            "computenodeid": "node", "nodename": "node", "node": "node", "requesterid": "node", "peerid": "node",
            "jobid": "job", "job": "job", "executionid": "execution", "computereference": "execution",
            "execid": "execution", "execution": "execution", "shardid": "job"}
_PARENT_KIND = {"job": "job", "jobs": "job", "jobspec": "job", "metadata": "job", "node": "node", "nodes": "node",
                "info": "node", "nodeinfo": "node", "noderesponse": "node", "execution": "execution",
                "executions": "execution", "items": None}
_STATE_KEYS = ("state", "statetype", "connectionstate", "computestate", "jobstate", "connection", "executionstate",
               "status")  # `status` last: in a 2022 describe it is a message unless it is one word
_KIND_WORD = re.compile(r"(?i)(node|job|execution|exec|shard)\s+(\S+)")
_STATE_NAMES = {k.lower(): v for k, v in up.COMPUTE_STATE_OURS.items()}


def _from_repr(node: ast.AST) -> Any:
    """A Python literal or repr expression → plain data; ``Job(id='x')`` → ``{"__type__": "Job", "id": "x"}``.
    Names (enums, ``None``) become their text; nothing is evaluated."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Dict):
        return {str(_from_repr(k)) if k is not None else "**": _from_repr(v) for k, v in zip(node.keys, node.values,
                                                                                             strict=True)}
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [_from_repr(e) for e in node.elts]
    if isinstance(node, ast.Call):
        out: dict[str, Any] = {"__type__": ast.unparse(node.func)}
        for i, a in enumerate(node.args):
            out[f"_{i}"] = _from_repr(a)
        for kw in node.keywords:
            out[kw.arg or "**"] = _from_repr(kw.value)
        return out
    if isinstance(node, ast.Name | ast.Attribute):
        return ast.unparse(node)
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return ast.unparse(node)
    return None


def _python(text: str) -> Any:
    body = text.strip()
    if len(body) > 2_000_000:
        return None
    try:
        tree = ast.parse(body, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if not isinstance(tree.body, ast.Dict | ast.List | ast.Tuple | ast.Call):
        return None
    try:
        return _from_repr(tree.body)
    except RecursionError:
        return None


def indent_tree(lines: list[str]) -> dict[str, Any] | None:
    """``Key: value`` / ``key = value`` lines → a tree by their indentation (text that is often not valid
    YAML: ``...`` elisions, wrapped values, trailing spaces). Lines of no such shape are skipped."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, Any]] = [(-1, root)]
    seen = 0
    for ln in lines:
        m = KV_LINE.match(ln.rstrip())
        if m is None:
            continue
        seen += 1
        ind = len(m["ind"]) + (2 if m["dash"] else 0)
        key = m["key"].strip().strip("'\"")
        val = (m["val"] or "").strip()
        if len(val) > 1 and val[0] == val[-1] and val[0] in "'\"":
            val = val[1:-1]
        while len(stack) > 1 and stack[-1][0] >= ind and not (m["dash"] and stack[-1][0] == ind
                                                                 and isinstance(stack[-1][1], list)):
            stack.pop()
        parent = stack[-1][1]
        if m["dash"]:  # a list item: a new dict in the list at this indentation
            if not isinstance(parent, list):
                lst: list[Any] = []
                holder = stack[-1][1]
                if isinstance(holder, dict):
                    holder[f"_list{len(holder)}"] = lst
                stack.append((ind - 2, lst))
                parent = lst
            item: dict[str, Any] = {}
            parent.append(item)
            stack.append((ind - 1, item))
            parent = item
        if isinstance(parent, list):
            item = {}
            parent.append(item)
            parent = item
        if val:
            parent.setdefault(key, val)
        else:
            child: dict[str, Any] = {}
            parent[key] = child
            stack.append((ind, child))
    return root if seen else None


def tree_of(text: str) -> Any:
    """The printed object in ``text`` as a tree: JSON, a Python literal or repr, else ``Key: value`` lines
    by indentation; None when the text is none of these."""
    body = text.strip()
    if not body:
        return None
    if body[0] in "[{":
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            pass
    if body[0] in "[{(" or re.match(r"[A-Z]\w*\(", body):
        if (obj := _python(body)) is not None:
            return obj
    return indent_tree(body.splitlines())


def _state_of(key: str, v: Any) -> str | None:
    if isinstance(v, dict):
        for k2, v2 in v.items():
            if norm_key(k2) in ("statetype", "state", "new"):  # `ExecutionState: {Previous: 1, New: 2}`
                return _state_of("computestate" if key == "executionstate" else key, v2)
        return None
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int) or (isinstance(v, str) and v.isdigit()):  # upstream's enum: only where its orders agree
        return up.compute_state_of_number(int(v)) if key in ("computestate", "statetype") else None
    s = str(v).strip()
    if not re.fullmatch(r"[A-Za-z][\w -]{0,30}", s):
        return None
    s = re.sub(r"^(?:NodeStates?|JobStateType|ExecutionStateType)\.", "", s)
    return _STATE_NAMES.get(s.replace(" ", "").lower(), s.lower())


def object_rows(tree: Any) -> list[dict[str, Any]]:
    """Rows ``{node, job, execution, state, detail}`` for every object in ``tree`` that names an id (its own
    or its parents'), wherever it nests."""
    rows: list[dict[str, Any]] = []
    _walk(tree, None, {}, rows, 0)
    return rows


def _walk(obj: Any, parent: str | None, ctx: dict[str, str], rows: list[dict[str, Any]], depth: int) -> None:
    if depth > 64:
        return
    if isinstance(obj, list):
        for v in obj:
            _walk(v, parent, ctx, rows, depth + 1)
        return
    if not isinstance(obj, dict):
        return
    own: dict[str, str] = {}
    state = state_key = None
    typ = obj.get("__type__")
    here = _PARENT_KIND.get(norm_key(typ)) if isinstance(typ, str) else None
    here = here or (_PARENT_KIND.get(parent) if parent else None)
    for k, v in obj.items():
        nk = norm_key(k)
        if isinstance(v, str | int) and not isinstance(v, bool):
            col = _ID_KEYS.get(nk)
            if col is None and nk == "id":
                col = here or _top_id_kind(str(v), parent)
            if nk == "shardid":
                v = re.sub(r"[:_]\d+$", "", str(v))  # a 2022 shard: `uuid:0`
            if col is not None and (got := id_of(str(v), col)) is not None:
                own.setdefault(col, got)
        if nk in _STATE_KEYS and (state is None or (state_key == "status" and nk != "status")):
            if (got_state := _state_of(nk, v)) is not None and (nk != "status" or " " not in got_state):
                state, state_key = got_state, nk
    inherited = {**ctx, **own}
    if own or (state is not None and ctx):
        rows.append({**inherited, "state": state, "detail": ", ".join(f"{k}={v}" for k, v in own.items())})
    for k, v in obj.items():
        nk = norm_key(k)
        if not isinstance(v, dict | list) or nk in _STATE_KEYS:
            continue  # a state's own object (`JobState(state_type=…)`) was read with its parent
        sub = dict(inherited)
        shape = kind_by_shape(str(k))
        col = None
        if shape is None and (kw := _KIND_WORD.fullmatch(str(k).strip())) is not None:  # `Node QmXaXu9N:`
            word = kw.group(1).lower()
            if word != "shard" and kind_by_shape(kw.group(2)) is not None:
                shape = {"exec": "execution"}.get(word, word)
                k = kw.group(2)
        if shape is not None:  # a key that is an id: the object under it is that node, job or execution
            col = shape if shape != "uuid" else (here if here else "job" if parent is None else None)
            if col is not None and id_of(str(k), col):
                sub[col] = str(k)
            else:
                col = None
        before = len(rows)
        _walk(v, nk if shape is None else parent, sub, rows, depth + 1)
        if col is not None and not any(r.get(col) == str(k) for r in rows[before:]):
            rows.append({**sub, "state": None, "detail": f"{col}={k}"})


def _top_id_kind(v: str, parent: str | None) -> str | None:
    """The kind of an ``ID`` whose parent says none: its shape's, else a top-level describe's job."""
    shape = kind_by_shape(v)
    if shape in ("job", "execution", "node"):
        return shape
    return "job" if shape == "uuid" and parent is None else None
