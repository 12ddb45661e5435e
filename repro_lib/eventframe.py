"""The events table of structured log records, built by columns (no Python call per record).

:func:`records_columns` reads the sim's :class:`~repro_lib.model.records.RecordLog` (or any list of
:class:`~repro_lib.logfmt.LogRecord`) the way :func:`repro_lib.events.event_from_fields` reads one
record, but a shape at a time: records are grouped by message and field names (a few dozen groups
for millions of lines), the blocks and compact records of :mod:`repro_lib.model.records` are read
from their own arrays without building a line, and every column of a group is computed with C
loops (``map`` over builtins, numpy object arithmetic). A record kind this module does not know is
read through its ``record()`` (correct, one call per line), and a group it cannot read by columns
(a field named twice in one record) goes through :func:`~repro_lib.events.event_from_fields`.
"""

from __future__ import annotations

import functools
import gc
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import chain, repeat
from typing import Any

import numpy as np
import pandas as pd

from repro_lib.events import COLUMNS, LOG_MESSAGES, _kind_state, event_from_fields
from repro_lib.logfmt import LogRecord
from repro_lib.model import records as mr

__all__ = ["records_columns", "records_frame", "collector_paused", "paused"]

_COLUMNS = ("t_s", "source", "kind", "node", "job", "execution", "state", "detail", "level", "msg")
_PUBLISH_CHECK = "PUBLISH: Checking node connection"
_key = operator.itemgetter(0)
_value = operator.itemgetter(1)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic collector paused while a table is built (as the sim pauses it while its engine runs):
    a column of 10^5 fresh objects on top of a run's millions of live ones sets off young collections that
    walk them all — 0.55 s of a 0.04 s transposition — and none of it is garbage in a cycle."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def paused(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run under :func:`collector_paused`."""
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with collector_paused():
            return fn(*args, **kwargs)
    return run


@dataclass
class _Group:
    """Records of one shape: the same message and field names; ``values[k]`` the k-th field's values."""

    pos: np.ndarray               # their line positions
    t: np.ndarray
    source: Any                   # one value, or an array
    level: Any
    msg: str
    keys: tuple[str, ...]
    values: list[np.ndarray]


def _objects(values: Any, n: int | None = None) -> np.ndarray:
    """A 1-d object array of ``values`` (tuples stay elements: ``np.fromiter``, not ``np.array``)."""
    return np.fromiter(values, dtype=object, count=len(values) if n is None else n)


def _text(values: np.ndarray) -> np.ndarray:
    """:func:`repro_lib.events._text` of each value: ``true``/``false`` for a bool, else ``str``."""
    out = _objects(map(str, values), len(values))
    bools = np.fromiter(map(isinstance, values, repeat(bool)), dtype=bool, count=len(values))
    if bools.any():
        out[bools] = np.where(values[bools].astype(bool), "true", "false")
    return out


def _truthy(values: np.ndarray) -> np.ndarray:
    return np.fromiter(map(bool, values), dtype=bool, count=len(values))


def _join(pieces: list[np.ndarray], n: int) -> np.ndarray:
    """Row by row, the non-empty pieces joined by a space ("" where none)."""
    acc = np.full(n, "", dtype=object)
    for p in pieces:
        empty_acc, empty_p = acc == "", p == ""
        acc = np.where(empty_acc, p, np.where(empty_p, acc, acc + " " + p))
    return acc


def _event_columns(g: _Group) -> dict[str, np.ndarray] | None:
    """The event columns of a group, as :func:`~repro_lib.events.event_from_fields` gives them row by row;
    None where the group repeats a field name (a dict of its fields would differ from its pairs)."""
    n = len(g.pos)
    if len(set(g.keys)) != len(g.keys):
        return None
    col = dict(zip(g.keys, g.values, strict=True))
    none = np.full(n, None, dtype=object)

    def first_truthy(*names: str) -> np.ndarray:
        out, done = none.copy(), np.zeros(n, dtype=bool)
        for name in names:
            if name in col:
                v = col[name]
                truthy = _truthy(v)
                if truthy.all() and not done.any():  # the usual case: the first field named is set in every row
                    return _objects(map(str, v), n)
                take = ~done & truthy
                out[take] = v[take]
                done |= take
        out[done] = _objects(map(str, out[done]), int(done.sum()))  # a truthy value taken: never None
        return out

    hit = LOG_MESSAGES.get(g.msg)
    kind, state_word = _kind_state(g.msg, {}) if hit is None else hit
    if hit is not None and g.msg == _PUBLISH_CHECK:
        ok = np.ones(n, dtype=bool)
        for name in ("connection_exists", "connection_alive"):
            v = col.get(name, none)
            ok &= _objects(map(str.lower, map(str, v)), n) == "true"
        state = np.where(ok, "published", "refused").astype(object)
    elif hit is not None and not state_word:
        state = _objects(map(str, col["state"]), n) if "state" in col else np.full(n, "", dtype=object)
    else:
        state = np.full(n, state_word, dtype=object)
    state[state == ""] = None
    if "target" in col:
        pieces = []
        has_node_id = _truthy(col["node_id"]) if "node_id" in col else np.zeros(n, dtype=bool)
        for name, v in col.items():
            if name in _COLUMN_FIELDS and name != "target":
                continue
            text = name + "=" + _text(v)
            if name == "target":
                text = np.where(has_node_id, text, "")
            pieces.append(text)
        if kind == "log":
            pieces.insert(0, np.full(n, f"msg={g.msg}", dtype=object))
        detail = _join(pieces, n)
        detail[detail == ""] = None
    else:
        detail = _detail(g.msg if kind == "log" else None, [(k, v) for k, v in col.items() if k not in _COLUMN_FIELDS],
                         n)
    return {"t_s": g.t, "source": _spread(g.source, n), "kind": np.full(n, kind, dtype=object),
            "node": first_truthy("node_id", "target_node", "target"), "job": first_truthy("job_id", "job"),
            "execution": first_truthy("execution_id"), "state": state, "detail": detail,
            "level": _spread(g.level, n), "msg": np.full(n, g.msg, dtype=object)}


_COLUMN_FIELDS = {"node_id", "target_node", "job_id", "job", "execution_id", "state", "target"}


def _literal(text: str) -> str:
    """``text`` as it stands in a ``str.format`` pattern."""
    return text.replace("{", "{{").replace("}", "}}")


def _detail(msg: str | None, fields: list[tuple[str, np.ndarray]], n: int) -> np.ndarray:
    """The ``detail`` column where no piece can be empty (no ``target``): ``msg=M`` (a plain log line's) and
    ``name=value`` for each field, joined by spaces — one ``str.format`` per row (a C call) instead of two
    array additions per piece; None where there is no piece."""
    if not fields and msg is None:
        return np.full(n, None, dtype=object)
    heads = ([_literal(f"msg={msg}")] if msg is not None else []) + [_literal(name) + "={}" for name, _ in fields]
    pattern = " ".join(heads)
    if not fields:
        return np.full(n, f"msg={msg}", dtype=object)
    return _objects(map(pattern.format, *(_text(v) for _, v in fields)), n)


def _spread(value: Any, n: int) -> np.ndarray:
    return value if isinstance(value, np.ndarray) else np.full(n, value, dtype=object)


def _by_code(codes: np.ndarray) -> list[np.ndarray]:
    """Row positions per code (0..max), each in row order."""
    if not len(codes):
        return []
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return np.split(order, bounds)


def _plain_groups(pos: np.ndarray, recs: list[Any]) -> list[_Group]:
    """Plain records (``LogRecord`` or anything with its five fields), grouped by message and field names."""
    if not recs:
        return []
    n = len(recs)
    t, source, level, msg, fields = (_objects(map(operator.itemgetter(k), recs), n) for k in range(5))
    codes, _ = pd.factorize(msg)
    out = []
    for rows in _by_code(codes):  # per message
        f = fields[rows]
        lens = np.fromiter(map(len, f), dtype=np.int64, count=len(rows))
        width = int(lens[0])
        if (lens == width).all():  # the usual case: one shape per message, read as one flat array
            flat = _objects(chain.from_iterable(f), len(rows) * width)
            keys = _objects(map(_key, flat), len(flat)).reshape(len(rows), width)
            if width == 0 or (keys == keys[0]).all():
                vals = _objects(map(_value, flat), len(flat)).reshape(len(rows), width)
                out.append(_Group(pos[rows], t[rows].astype(float), source[rows], level[rows], str(msg[rows[0]]),
                                  tuple(keys[0]) if width else (), [vals[:, k].copy() for k in range(width)]))
                continue
        shapes = _objects(map(tuple, map(partial(map, _key), f)), len(rows))
        sub, _ = pd.factorize(shapes)
        for part in _by_code(sub):  # per shape within the message
            at = rows[part]
            g = fields[at]
            keys = shapes[part[0]]
            values = [_objects(map(_value, map(operator.itemgetter(k), g)), len(at)) for k in range(len(keys))]
            out.append(_Group(pos[at], t[at].astype(float), source[at], level[at], str(msg[at[0]]), keys, values))
    return out


def _execution_values(executions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(executions)
    return tuple(_objects(map(operator.attrgetter(a), executions), n)  # type: ignore[return-value]
                 for a in ("id", "job", "node_id", "version"))


def _changed(pos: np.ndarray, t: np.ndarray, executions: np.ndarray, state: np.ndarray,
             desired: np.ndarray) -> _Group:
    ids, job, node, version = _execution_values(executions)
    n = len(pos)
    return _Group(pos, t, "orchestrator", "INFO", mr.ExecutionChanged.msg,
                  ("execution_id", "job_id", "node_id", "state", "desired", "version"),
                  [ids, job, node, _objects(map(str, state), n), _objects(map(str, desired), n), version])


def _attempt(pos: np.ndarray, t: np.ndarray, executions: np.ndarray, event_type: np.ndarray) -> _Group:
    ids, job, node, _ = _execution_values(executions)
    return _Group(pos, t, "orchestrator", "DEBUG", mr.DispatchAttempt.msg,
                  ("execution_id", "target_node", "event_type", "job_id"), [ids, node, event_type, job])


def _check(pos: np.ndarray, t: np.ndarray, node: np.ndarray, exists: np.ndarray, alive: np.ndarray,
           execution: np.ndarray) -> _Group:
    return _Group(pos, t, "orchestrator", "DEBUG", mr.ConnectionCheck.msg,
                  ("node_id", "connection_exists", "connection_alive", "execution_id"),
                  [node, exists, alive, execution])


def _nats(pos: np.ndarray, t: np.ndarray, outcome: str, kind: np.ndarray, subject: np.ndarray,
          execution: np.ndarray, node: np.ndarray) -> _Group:
    n = len(pos)
    missing = ~_truthy(node)
    if missing.any():  # the subject's node: "...<kind>.<node>..." (per distinct subject)
        subj = subject[missing]
        codes, uniq = pd.factorize(subj)
        third = _objects(map(operator.itemgetter(2), map(operator.methodcaller("split", "."), uniq)), len(uniq))
        node = node.copy()
        node[missing] = third[codes]
    rec = mr.NatsOutcome(0.0, outcome, "x.x.x", None, None, "x")  # its level and message
    return _Group(pos, t, "nats", rec.level, rec.msg, ("subject", "type", "execution_id", "node_id"),
                  [subject, kind, execution, _objects(node, n)])


def _attrs(items: list[Any], *names: str) -> list[np.ndarray]:
    return [_objects(map(operator.attrgetter(a), items), len(items)) for a in names]


def _lazy_groups(cls: type, pos: np.ndarray, items: list[Any]) -> list[_Group] | None:
    """The compact records of one class (None: a class read here through ``record()``)."""
    if cls is mr.ExecutionChanged:
        t, ex, state, desired = _attrs(items, "t", "execution", "state", "desired")
        return [_changed(pos, t.astype(float), ex, state, desired)]
    if cls is mr.DispatchAttempt:
        t, ex, event_type = _attrs(items, "t", "execution", "event_type")
        return [_attempt(pos, t.astype(float), ex, event_type)]
    if cls is mr.ConnectionCheck:
        t, node, conn, ex = _attrs(items, "t", "node_id", "connection", "execution_id")
        flags = np.array(mr._CONNECTION, dtype=bool)[conn.astype(np.int64)]
        return [_check(pos, t.astype(float), node, _objects(flags[:, 0].tolist()), _objects(flags[:, 1].tolist()), ex)]
    if cls is mr.NatsOutcome:
        t, key, subject, ex, node = _attrs(items, "t", "key", "subject", "execution_id", "node_id")
        codes, uniq = pd.factorize(key)
        out = []
        for c, rows in enumerate(_by_code(codes)):
            outcome, kind = uniq[c]
            out.append(_nats(pos[rows], t[rows].astype(float), outcome, np.full(len(rows), kind, dtype=object),
                             subject[rows], ex[rows], node[rows]))
        return out
    return None


class _Blocks:
    """The blocks of a log gathered by kind (their line starts, sizes, times and values), read as one group
    per kind: a log of thousands of blocks (a deploy's run requests cut into runs of two or three lost ones)
    costs a few array operations per kind, not a few per block."""

    def __init__(self) -> None:
        self.parts: dict[str, list[Any]] = {"changed": [], "dispatch": [], "lost": []}

    def add(self, block: Any, start: int) -> bool:
        """Take ``block`` (its first line at ``start``); False for a kind read here line by line."""
        if isinstance(block, mr.ChangedBlock):
            self.parts["changed"].append((start, len(block), float(block.t), block.executions, block.state,
                                          block.desired))
        elif isinstance(block, mr.DispatchBlock):
            self.parts["dispatch"].append((start, len(block) // 2, float(block.t), block.executions))
        elif isinstance(block, mr.LostBlock):
            self.parts["lost"].append((start, len(block), float(block.t), block.executions, block.subjects))
        else:
            return False
        return True

    def groups(self) -> list[_Group]:
        out: list[_Group] = []
        for kind, parts in self.parts.items():
            if not parts:
                continue
            cols = list(zip(*parts, strict=True))
            starts, sizes = np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype=np.int64)
            n = int(sizes.sum())
            step = 2 if kind == "dispatch" else 1  # a dispatch block's lines: attempt, check, attempt, check …
            first = np.repeat(starts - step * (np.cumsum(sizes) - sizes), sizes)
            pos = first + step * np.arange(n)
            t = np.repeat(np.array(cols[2], dtype=float), sizes)
            ex = _objects(chain.from_iterable(cols[3]), n)
            if kind == "changed":
                out.append(_changed(pos, t, ex, np.repeat(_objects(cols[4]), sizes),
                                    np.repeat(_objects(cols[5]), sizes)))
            elif kind == "dispatch":
                ids, _, node, _ = _execution_values(ex)
                yes = np.full(n, True, dtype=object)
                out += [_attempt(pos, t, ex, np.full(n, "RunExecutionRequest", dtype=object)),
                        _check(pos + 1, t, node, yes, yes, ids)]
            else:
                out.append(_nats(pos, t, "lost", np.full(n, "RunExecutionRequest", dtype=object),
                                 _objects(chain.from_iterable(cols[4]), n), _execution_values(ex)[0],
                                 np.full(n, None, dtype=object)))
        return out


def _groups(records: Sequence[Any]) -> tuple[int, list[_Group]]:
    """(lines, groups) for a record list or a :class:`~repro_lib.model.records.RecordLog`."""
    items = list(records._items) if isinstance(records, mr.RecordLog) else list(records)
    types = _objects(map(type, items), len(items))
    is_block = np.fromiter(map(isinstance, items, repeat(mr.RecordBlock)), dtype=bool, count=len(items))
    lens = np.ones(len(items), dtype=np.int64)
    blocks = np.flatnonzero(is_block)
    if len(blocks):
        lens[blocks] = np.fromiter(map(len, (items[i] for i in blocks)), dtype=np.int64, count=len(blocks))
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]) if len(items) else np.zeros(0, dtype=np.int64)
    groups: list[_Group] = []
    plain_pos: list[np.ndarray] = []
    plain: list[Any] = []
    gathered = _Blocks()
    for i in blocks:  # per block
        if not gathered.add(items[i], int(starts[i])):
            lines = list(items[i])
            plain_pos.append(np.arange(starts[i], starts[i] + len(lines)))
            plain += list(map(mr.record_of, lines))
    groups += gathered.groups()
    singles = np.flatnonzero(~is_block)
    codes, kinds = pd.factorize(types[singles]) if len(singles) else (np.zeros(0, dtype=np.int64), [])
    for c, rows in enumerate(_by_code(codes)):  # per class of record
        at = singles[rows]
        these = [items[i] for i in at] if len(at) < 64 else list(operator.itemgetter(*at)(items))
        cls = kinds[c]
        got = _lazy_groups(cls, starts[at], these) if issubclass(cls, mr.LazyRecord) else None
        if got is not None:
            groups += got
            continue
        plain_pos.append(starts[at])
        plain += these if not issubclass(cls, mr.LazyRecord) else list(map(mr.record_of, these))
    if plain:
        groups += _plain_groups(np.concatenate(plain_pos), plain)
    return int(lens.sum()), groups


@paused
def records_columns(records: Sequence[Any]) -> dict[str, np.ndarray]:
    """The event columns (``t_s source kind node job execution state detail level msg``) of ``records``,
    in their order, each a numpy array (object, ``t_s`` float)."""
    n, groups = _groups(records)
    out = {c: np.full(n, None, dtype=object) for c in _COLUMNS}
    out["t_s"] = np.zeros(n, dtype=float)
    for g in groups:  # per shape
        cols = _event_columns(g)
        if cols is None:  # a field named twice: the record's own reading, row by row
            recs = [LogRecord(float(t), s, lv, g.msg, tuple(zip(g.keys, vals, strict=True)))
                    for t, s, lv, *vals in zip(g.t, _spread(g.source, len(g.pos)), _spread(g.level, len(g.pos)),
                                               *g.values, strict=True)]
            ev = [event_from_fields(r.t, r.source, r.msg, dict(r.fields)) for r in recs]
            cols = {c: _objects([getattr(e, c) for e in ev], len(ev)) for c in _COLUMNS[:8]}
            cols["t_s"] = cols["t_s"].astype(float)
            cols["level"], cols["msg"] = _spread(g.level, len(g.pos)), np.full(len(g.pos), g.msg, dtype=object)
        for c in _COLUMNS:
            out[c][g.pos] = cols[c]
    return out



@paused
def records_frame(records: Sequence[Any], epoch: datetime) -> pd.DataFrame:
    """The events table (:data:`repro_lib.events.COLUMNS` + ``level``, ``msg``) of structured records."""
    cols = records_columns(records)
    n = len(cols["t_s"])
    df = pd.DataFrame({c: cols[c] for c in _COLUMNS[:8]} | {"line": np.full(n, None, dtype=object)})
    df["level"] = cols["level"]
    df["msg"] = cols["msg"]
    df.insert(0, "t", pd.Timestamp(epoch) + pd.to_timedelta(df["t_s"], unit="s"))
    return df[list(COLUMNS) + ["level", "msg"]]
