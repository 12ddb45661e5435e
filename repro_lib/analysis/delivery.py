"""Each pending execution's delivery history and the class it ends in (issue 8 §1–2).

One table, built with group-bys over the events table (no per-execution scan of the frame), so it
costs the same for a sim run, a live run and a million lines of someone else's logs:

=================  ===========================================================================
class              meaning (for an execution desired=running, state=pending at the end)
=================  ===========================================================================
``lost``           its last run request will never arrive — published with no subscriber,
                   dropped by a partition, published while its edge logged no receipt, or never
                   sent at all — and nothing in flight or scheduled would re-send it (issue 395)
``refused``        its last run request was refused (``ErrNodeNotConnected``) and dropped
                   (RetryStrategySkip, or a fix's one-shot re-dispatch): the transport race
``blocked``        not dispatched yet: the one dispatcher watcher is stuck retrying another
                   event (RetryStrategyBlock's head-of-line blocking) — not issue 395
``retrying``       refused, and RetryStrategyBlock will try again (at ``due_s``)
``scheduled``      a fix's re-dispatch is due (at ``due_s``): the run needs a longer settle
``in_flight``      sent or created moments ago: too early to tell
``delivered``      the edge received it; its ``running`` report has not reached the orchestrator
``awaiting_node``  its node is not back: not believed connected, or actually down/cut off
``unknown``        the evidence needed to tell is missing (``missing`` says what to pass)
=================  ===========================================================================

An execution is **stuck** when it is ``lost`` or ``refused``, its node is believed connected (and
not known to be down), and that has held for longer than :func:`stuck_after` since the later of
its creation, its last send and its node's (re)join — long enough for a node-join evaluation.

What each source can prove: the sim logs NATS's drops (``lost`` is certain) and knows the model's
timers (``scheduled`` is exact: the snapshot's ``remedy``/``remedy_at``); a live run knows its fix
and timings, so remedies are bounded from the events (``scheduled`` by ``due_s`` at the latest)
and a loss is proven by the absence of a receipt in an edge log that kept logging; a bare
orchestrator log proves ``refused``, ``retrying`` and ``blocked``, but a publish without edge logs
is ``unknown`` (probably lost, delivery not checked).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from repro_lib.analysis import _columns as C
from repro_lib.analysis.timeline import bus_rows
from repro_lib.capture._common import EDGE_MESSAGES, RELEVANT_KINDS
from repro_lib.eventframe import paused
from repro_lib.snapshot import Snapshot
from repro_lib.timings import Timings

__all__ = ["CLASSES", "STUCK_CLASSES", "IN_FLIGHT_S", "stuck_after", "delivery_table", "edge_nodes",
           "relevant", "source_roles", "NOT_EDGE_SOURCES", "reconciler_stuck"]

CLASSES = ("lost", "refused", "blocked", "retrying", "scheduled", "in_flight", "delivered",
           "awaiting_node", "unknown")
STUCK_CLASSES = ("lost", "refused")
IN_FLIGHT_S = 2.0  # a send younger than this may still arrive (NATS and edge logging latency)
# the kit's own non-node sources: only to keep them out of "cannot show what an edge received" notes
NOT_EDGE_SOURCES = frozenset({"orchestrator", "nats", "sim", "docker", "cli", "stack"})
_TAGS = ("send", "retry", "skipped", "refused", "published", "nats_lost", "nats_ok", "edge_rx")
_DESIRED_RX = re.compile(r"desired=([^\s]+)")
_BACKOFF_RX = re.compile(r"backoff=([0-9.]+)(ms|s|m)?")
_ALIVE = {"kill": False, "partition": False, "start": True, "join": True, "heal": True}
_UNIT = {"ms": 1e-3, "s": 1.0, "m": 60.0, None: 1.0, "": 1.0}


def stuck_after(timings: Timings | None) -> float:
    """How long a lost request must have stayed so — after creation, last send and node (re)join —
    before it is called stuck: one node-join batch and its evaluation."""
    return (timings.reeval_batch_delay if timings is not None else 15.0) + 1.0


_RELEVANT = RELEVANT_KINDS
_READ = ("t_s", "source", "kind", "node", "job", "execution", "state", "detail", "msg")


def relevant(events: pd.DataFrame) -> pd.DataFrame:
    """The rows that can bear on a verdict (every kind but ``log`` and ``raw``), original labels and
    order kept: one pass over a big table, so that everything after it works on a few percent of it."""
    if events.empty:
        return events
    cols = [c for c in events.columns if c in _READ]
    plain = C.bare(events)  # its columns read without the attrs pandas would deep-copy into each
    keep = plain["kind"].isin(_RELEVANT).to_numpy()
    if keep.all():  # already the relevant rows (the diagnosis passes them on): no copy of every row again
        return events if len(cols) == events.shape[1] else events[cols]
    # a text column's chunks where every row of one is relevant are the table's own (a condensed reading's are
    # nearly all relevant: a copy would cost as much as the columns); the rows are then read with C.rows
    return C.rows(plain, keep, cols, join=False)


_ORCHESTRATOR_KINDS = ("dispatch", "publish", "eval", "node", "reconcile")
_EDGE_MESSAGES = EDGE_MESSAGES


def _edge_side(msgs: np.ndarray | pa.Array) -> np.ndarray:
    """:func:`~repro_lib.capture._common.edge_side` of each message, by columns: our edge's first words, or any
    upstream compute-side pattern (one RE2 alternation over the column; Python's ``re`` per distinct message
    where RE2 does not take a pattern)."""
    from repro_lib.capture._common import EDGE_SIDE_PATTERNS, edge_side

    global _EDGE_SIDE_RX
    if _EDGE_SIDE_RX is None:
        _EDGE_SIDE_RX = "|".join(f"(?:{rx.pattern})" for rx in EDGE_SIDE_PATTERNS) or "(?!)"
    arr = C.arrow(msgs)
    if arr is not None:
        try:
            return C.startswith(msgs, _EDGE_MESSAGES) | C.as_bool(pc.match_substring_regex(arr, _EDGE_SIDE_RX))
        except pa.ArrowInvalid:
            pass
    return C.per_value(msgs, edge_side, bool, False)


_EDGE_SIDE_RX: str | None = None


def _source_in(src: pd.Series, sources: list[str]) -> np.ndarray:
    """Rows whose source is one of ``sources`` — judged per distinct source (a fleet has 10^4 of them)."""
    codes, uniq = pd.factorize(src, use_na_sentinel=True)
    hit = np.append(C.isin(C.obj(pd.Index(uniq)), sources), False)
    return hit[codes]


def source_roles(events: pd.DataFrame, rel: pd.DataFrame | None = None) -> dict[str, str]:
    """Each source's role, judged from what its parsed lines say — never from its name:
    ``orchestrator`` (it logs dispatches, publishes, evaluations or node states), ``edge`` (it logs
    what an edge does: receipts, ``EDGE:`` lines, its connection) or ``other``."""
    if events.empty:
        return {}
    events = C.bare(events)
    src = events["source"]
    roles = {str(x): "other" for x in C.obj(src.dropna().unique())}  # per source (an array, not Arrow's iterator)
    rel = relevant(events) if rel is None else rel
    kinds, sources = _Coded(rel["kind"], len(rel)), _Coded(rel["source"], len(rel))  # tests per distinct value
    orch = kinds.eq(*_ORCHESTRATOR_KINDS)
    if orch.any() and "msg" in rel.columns:  # an edge's own node lines (connecting, heartbeat failed) are not
        node_rows = np.flatnonzero(orch & kinds.eq("node"))
        msgs = _arrow_of(rel["msg"])  # Arrow's own array where there is one: only the node rows are read
        orch[node_rows] = ~_edge_side(C.obj(rel["msg"])[node_rows] if msgs is None else
                                      C.take_rows(msgs, node_rows))
    said_by = np.unique(sources.codes[orch])  # the sources of those rows (-1: a row with none, str(None))
    for x in np.append(sources.uniq, None)[said_by]:
        roles[str(x)] = "orchestrator"
    maybe = [x for x, role in roles.items() if role == "other"]
    if not maybe:
        return roles
    cols = [c for c in ("source", "kind", "state", "msg") if c in events.columns]  # what is read below
    sub = events.loc[_source_in(src, maybe), cols]
    said = ((sub["kind"] == "deliver") & (sub["state"] == "delivered") & ~bus_rows(sub)).to_numpy(dtype=bool)
    if "msg" in sub.columns:
        arr = _arrow_of(sub["msg"])  # Arrow's own array where there is one (no Python string per row)
        msgs = C.obj(sub["msg"]) if arr is None else arr
        said = said | C.startswith(msgs, _EDGE_MESSAGES)
        if not said.any():  # upstream compute-side messages: only where nothing else said it
            said = _edge_side(msgs)
    for x in C.unique(C.obj(sub["source"])[said]):
        roles[str(x)] = "edge"
    return roles


def edge_nodes(events: pd.DataFrame, roles: dict[str, str] | None = None) -> pd.DataFrame:
    """Per node id, the edge log that speaks for it: ``node``, ``source``, ``rows`` (the source's
    parsed rows), ``first_s``/``last_s`` (its first and last parsed row) and ``replaced_by`` — the node id that source
    logged later, when the edge came back with a new identity (the old id is then a ghost).
    Decided from parsed rows that name the node, never from file names."""
    cols = ["node", "source", "rows", "first_s", "last_s", "replaced_by"]
    edge_sources = [x for x, role in (source_roles(events) if roles is None else roles).items() if role == "edge"]
    if not edge_sources:
        return pd.DataFrame(columns=cols)
    from repro_lib.capture.condense import totals_of

    tot = totals_of(events)
    events = C.bare(events)
    parsed = _source_in(events["source"], edge_sources) & (events["kind"] != "raw").to_numpy(dtype=bool)
    sub = events.loc[parsed, ["source", "node", "t_s"]]
    code, uniq = pd.factorize(C.obj(sub["source"]))
    node = C.obj(sub["node"])
    t = sub["t_s"].to_numpy(dtype=float)
    # every parsed row of the source counts as evidence that it was logging, not just the ones
    # that name the node (an edge's state lines carry no node id)
    rows = np.bincount(code, minlength=len(uniq))
    if tot is not None:  # a condensed table: the parsed rows of every line read
        rows = np.array([tot.parsed.get(str(u), 0) for u in uniq], dtype=np.int64)
    last_s, first_s = np.full(len(uniq), -np.inf), np.full(len(uniq), np.inf)
    np.maximum.at(last_s, code, t)
    np.minimum.at(first_s, code, t)
    named = np.flatnonzero(~C.isnull(node))
    # each node's home: the last source that named it, the nodes in order of first naming
    homes, at = C.last_by_key(node[named])
    home_code = code[named][at]
    # each source's latest node: the last it named
    codes_named = code[named]
    latest = np.empty(len(uniq), dtype=object)
    last_row = np.flatnonzero(~pd.Series(codes_named).duplicated(keep="last").to_numpy())
    latest[codes_named[last_row]] = node[named][last_row]
    newer = latest[home_code]
    replaced = np.where(newer != homes, newer, None)
    names = np.array([str(u) for u in uniq], dtype=object)  # per source
    out = zip(homes, names[home_code], rows[home_code].tolist(), first_s[home_code].tolist(),
              last_s[home_code].tolist(), replaced, strict=True)
    return pd.DataFrame(list(out), columns=cols)


def _arrow_codes(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of an Arrow text column by Arrow's dictionary encoding, chunk by chunk: int32 codes (half
    of pandas' int64 ones, and no copy between the two) in order of first appearance, -1 where missing, and the
    distinct values as an object array."""
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    if not chunks or not len(arr):
        return np.full(len(arr), -1, dtype=np.int32), np.empty(0, dtype=object)
    # the chunks' dictionaries unified: the first chunk's values, then each later chunk's new ones, in order
    enc = pc.dictionary_encode(pa.chunked_array(chunks, type=arr.type)).unify_dictionaries()
    codes = pa.chunked_array([c.indices for c in enc.chunks]).fill_null(-1).to_numpy()
    uniq = np.empty(len(enc.chunk(0).dictionary), dtype=object)
    uniq[:] = enc.chunk(0).dictionary.to_numpy(zero_copy_only=False)
    return codes.astype(np.int32, copy=False), uniq


class _Coded:
    """A text column as codes into its distinct values (``-1``: missing) and as one Python object per distinct
    value spread over the rows (:func:`._columns.obj_few`): a test of the column against a few words is an
    integer comparison, not a string comparison per row."""

    def __init__(self, col: pd.Series | None, n: int) -> None:
        if col is None:
            self.codes, uniq = np.full(n, -1, dtype=np.int64), np.empty(0, dtype=object)
        elif isinstance(col.array, pd.arrays.ArrowStringArray):
            self.codes, uniq = _arrow_codes(pa.array(col))
        else:
            codes, index = pd.factorize(col, use_na_sentinel=True)
            self.codes, uniq = np.asarray(codes, dtype=np.int64), C.obj(pd.Index(index))
        self.uniq = uniq

    @cached_property
    def spread(self) -> np.ndarray:
        """The distinct values, then ``None`` (what code -1, missing, picks)."""
        spread = np.empty(len(self.uniq) + 1, dtype=object)  # the last slot: missing
        spread[:-1] = self.uniq
        return spread

    @cached_property
    def values(self) -> np.ndarray:
        """The value of each row (``None`` where missing), one object per distinct value."""
        return self.spread[self.codes]

    def at(self, rows: np.ndarray) -> np.ndarray:
        """The values of the rows at ``rows`` (``values[rows]`` without an object array of every row)."""
        return self.spread[self.codes[rows]]

    @cached_property
    def _at(self) -> dict[Any, int]:
        return {u: i for i, u in enumerate(self.uniq.tolist())}

    def eq(self, *words: str) -> np.ndarray:
        """Rows whose value is one of ``words``."""
        at = [self._at[w] for w in words if w in self._at]
        if not at:
            return np.zeros(len(self.codes), dtype=bool)
        if len(at) == 1:
            return self.codes == at[0]
        return np.isin(self.codes, at)

    def eq_at(self, rows: np.ndarray, *words: str) -> np.ndarray:
        """:meth:`eq` of the rows at ``rows``."""
        at = [self._at[w] for w in words if w in self._at]
        codes = self.codes[rows]
        if not at:
            return np.zeros(len(codes), dtype=bool)
        return codes == at[0] if len(at) == 1 else np.isin(codes, at)

    def known(self) -> np.ndarray:
        """Rows with a value."""
        return self.codes >= 0


class _Values:
    """A coded column's values as :class:`_Rows` reads them, ``col[rows]``: an object array of the rows asked (one
    object per distinct value), never one of every row (five of them: 35 MB on a condensed million lines)."""

    dtype = np.dtype(object)

    def __init__(self, coded: _Coded) -> None:
        self._coded = coded

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        return self._coded.at(rows)

    def __len__(self) -> int:
        return len(self._coded.codes)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._coded.values)


class _Rows:
    """The relevant rows as plain arrays — one conversion per column — so that grouping them costs
    the same few passes for the 60 rows of a sim run and the 50,000 of a million-line log."""

    def __init__(self, rel: pd.DataFrame) -> None:
        self.n = len(rel)
        self.t = rel["t_s"].to_numpy(dtype=float)

        def coded(name: str) -> _Coded:
            return _Coded(rel[name] if name in rel.columns else None, self.n)

        # kind, state and the ids as codes (tests are integer comparisons) and as objects, one per distinct value
        self.k, self.s = coded("kind"), coded("state")
        self.nd, self.jb, self.ex = coded("node"), coded("job"), coded("execution")
        self.kind, self.state = _Values(self.k), _Values(self.s)
        self.node, self.job, self.execution = _Values(self.nd), _Values(self.jb), _Values(self.ex)
        # the text columns as Arrow holds them, for Arrow's kernels (no object array converted back); detail
        # becomes Python strings only where it is Arrow's no more, and then once (:meth:`text`)
        self._text = {name: _arrow_of(rel[name]) for name in ("detail", "msg") if name in rel.columns}
        self._detail: np.ndarray | None = None if self._text.get("detail") is not None else (
            C.obj(rel["detail"]) if "detail" in rel.columns else np.full(self.n, None, dtype=object))
        msg = self._text.get("msg")
        if msg is None:
            msg = C.obj_few(rel["msg"]) if "msg" in rel.columns else np.full(self.n, None, dtype=object)
            no_msg = C.isnull(msg)
        else:
            no_msg = msg.is_null().to_numpy(zero_copy_only=False)
        # what NATS itself logged, told from an edge's receipt by the line (the source where no message)
        # (the source is coded only where a row has no message: the usual table has one on every row)
        nats = coded("source").eq("nats") if no_msg.any() else np.zeros(self.n, dtype=bool)
        self.bus = np.where(no_msg, nats, C.startswith(msg, "NATS:"))
        self.has_execution = self.ex.known()

    def where(self, mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero(mask)

    def text(self, rows: np.ndarray) -> np.ndarray | pa.Array:
        """``detail`` at ``rows`` for the text kernels (:mod:`._columns` takes either): Arrow's array where
        the table holds one, else the object column."""
        arr = self._text.get("detail")
        if arr is None:
            assert self._detail is not None
            return self._detail[rows]
        return C.take_rows(arr, rows)


def _arrow_of(col: pd.Series) -> pa.Array | pa.ChunkedArray | None:
    """A text column's own Arrow array, in its chunks (None where it is not Arrow-backed text): rows are taken
    from it with :func:`._columns.take_rows`, chunk by chunk."""
    if getattr(col.dtype, "storage", None) != "pyarrow":
        return None
    return pa.array(col)


def _tags(r: _Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row positions, tag codes into :data:`_TAGS`, executions) of the rows about a run request;
    publish lines without an execution id (the real build names only the node) take the execution
    of the node's last dispatch."""
    rows = r.where(r.k.eq("dispatch", "publish", "deliver"))
    k, d = r.kind[rows], r.text(rows)
    ex = r.execution[rows].copy()
    missing = ~r.has_execution[rows]
    if missing.any():  # the node's last execution named by a dispatch or publish line before it
        told = np.flatnonzero(k != "deliver")
        filled = pd.Series(ex[told], dtype=object).groupby(pd.Series(r.node[rows][told], dtype=object),
                                                           dropna=False, sort=False).ffill()
        filled_ex = C.obj(filled)
        fill = missing[told] & (k[told] == "publish")
        ex[told[fill]] = filled_ex[fill]
    code = np.full(len(rows), -1)
    disp, pub, dlv = r.k.eq("dispatch")[rows], r.k.eq("publish")[rows], r.k.eq("deliver")[rows]

    def state(*words: str) -> np.ndarray:  # integer tests of the state, on these rows
        return r.s.eq_at(rows, *words)

    # the text tests only on the rows they decide (a cancel among the attempts, a run request among NATS's)
    attempt = np.flatnonzero(disp & state("attempt"))
    cancel = np.zeros(len(rows), dtype=bool)
    if len(attempt):
        sub = d.take(pa.array(attempt, type=pa.int64())) if isinstance(d, pa.Array) else d[attempt]
        cancel[attempt] = C.contains(sub, "event_type=Cancel") | C.contains(sub, "event_type=Stop")
    code[disp & state("attempt") & ~cancel] = 0
    code[disp & state("redispatch")] = 0
    code[disp & state("retry")] = 1
    code[disp & state("skipped")] = 2
    code[pub & state("refused")] = 3
    code[pub & state("published")] = 4
    bus = r.bus[rows]
    on_bus = np.flatnonzero(dlv & bus)
    run_request = np.zeros(len(rows), dtype=bool)
    if len(on_bus):
        sub = d.take(pa.array(on_bus, type=pa.int64())) if isinstance(d, pa.Array) else d[on_bus]
        run_request[on_bus] = ~C.contains(sub, "type=") | C.contains(sub, "type=RunExecutionRequest")
    code[dlv & bus & run_request & state("lost", "dropped")] = 5
    code[dlv & bus & run_request & state("delivered")] = 6
    code[dlv & ~bus & state("delivered")] = 7
    keep = (code >= 0) & ~C.isnull(ex)
    return rows[keep], code[keep], ex[keep]


class _Finals:
    """execution -> (state, desired, job, node) at the end, as columns: ``ids`` in order of first
    appearance, each with the values of its last appearance."""

    def __init__(self, ids: np.ndarray, state: np.ndarray, desired: np.ndarray, job: np.ndarray,
                 node: np.ndarray) -> None:
        self.ids, self.state, self.desired, self.job, self.node = ids, state, desired, job, node

    @classmethod
    def of(cls, ids: np.ndarray, *cols: np.ndarray) -> _Finals:
        order, at = C.last_by_key(ids)
        return cls(order, *(c[at] for c in cols))

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, other: _Finals) -> _Finals:
        """``setdefault`` of each of ``other``'s executions: only those not already here, at the end."""
        new = ~C.isin(other.ids, self.ids) if len(self.ids) else np.ones(len(other.ids), dtype=bool)
        return _Finals(*(np.concatenate([a, b[new]]) for a, b in zip(
            (self.ids, self.state, self.desired, self.job, self.node),
            (other.ids, other.state, other.desired, other.job, other.node), strict=True)))


def _final_states(r: _Rows, snapshot: Snapshot | None) -> _Finals:
    """execution -> (state, desired, job, node) at the end: the snapshot's, else its last state row."""
    if snapshot is not None:
        ex = snapshot.executions
        return _Finals.of(C.dict_column(ex, "id"), *(C.dict_column(ex, k) for k in ("state", "desired", "job", "node")))
    rows = r.where(r.k.eq("state") & r.has_execution)
    desired = C.extract(r.text(rows), r"desired=(?P<d>[^\s]+)", ["d"])["d"]
    desired[C.isnull(desired)] = "running"
    return _Finals.of(r.execution[rows], r.state[rows], desired, r.job[rows], r.node[rows])


_EXEC_IDS_RX = re.compile(r"(?:^| )execution_ids=(\S+)")


def reconciler_stuck(r: _Rows | pd.DataFrame) -> dict[Any, float]:
    """job -> when the reconciler last warned that it is stuck (a ``reconcile`` row, state ``stuck``)."""
    if isinstance(r, pd.DataFrame):
        r = _Rows(relevant(r))
    rows = r.where(r.k.eq("reconcile") & r.s.eq("stuck") & r.jb.known())
    if not len(rows):
        return {}
    return dict(zip(*_max_by(r.job[rows], r.t[rows]), strict=True))


def _max_by(keys: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct keys in order of first appearance, the largest time of each; -inf where all are NaN)."""
    uniq = C.unique(keys)
    out = np.full(len(uniq), -np.inf)
    np.fmax.at(out, C.positions(uniq, keys), t)
    return uniq, out


def _reconciled(r: _Rows, received: np.ndarray) -> _Finals:
    """[I] execution -> (pending, running, job, node) for the executions a reconciler warning calls stuck:
    those it lists (``execution_ids=``), else every execution of its job dispatched before it whose receipt
    no edge logged. A warning that a job is stuck in deploying with pending executions is the final-state
    evidence a log without execution state lines has (docs/seed-style-logs.md). The first warning that
    names an execution decides. By columns: a log of 10^4 warnings costs a few sorts, not 10^4 passes."""
    empty = np.empty(0, dtype=object)
    out = _Finals(empty, empty, empty, empty, empty)
    warn = r.where(r.k.eq("reconcile") & r.s.eq("stuck"))
    if not len(warn):
        return out
    disp = r.where(r.k.eq("dispatch") & r.has_execution)
    d_ex, d_node, d_job, d_t = r.execution[disp], r.node[disp], r.job[disp], r.t[disp]
    first = C.first_in_order(d_ex)  # an execution's node: the one its first dispatch names
    w_job, w_t, w_ex = r.job[warn], r.t[warn], r.execution[warn]
    # -- the warnings that list executions: their ids, then their own execution ------------------------
    found = C.extract(r.text(warn), r"(?:^| )execution_ids=(?P<ids>\S+)", ["ids"])["ids"]
    lists = pc.split_pattern(pa.array(found, type=pa.string()), ",")
    ids = C.obj(pd.Series(pc.list_flatten(lists).to_numpy(zero_copy_only=False), dtype=object))
    parent = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
    keep = ids != ""
    own = np.flatnonzero(~C.isnull(w_ex))
    l_w = np.concatenate([parent[keep], own])
    l_x = np.concatenate([ids[keep], w_ex[own]])
    l_k = np.concatenate([np.flatnonzero(keep), np.full(len(own), len(ids))])  # in the line's order, own last
    listing = np.zeros(len(warn), dtype=bool)
    listing[l_w] = True
    l_node = C.take(d_node[first], C.positions(d_ex[first], l_x))
    parts = [(l_w, l_k, l_x, w_job[l_w], l_node)]
    # -- the others: per dispatch not received, the first warning of its job at or after it -------------
    by_job = ~listing & ~C.isnull(w_job)
    if by_job.any():
        cand = np.flatnonzero(~C.isin(d_ex, received) & ~C.isnull(d_job))
        warns = np.flatnonzero(by_job)
        w_groups = pd.Series(warns).groupby(pd.Series(w_job[warns], dtype=object), sort=False).indices
        d_groups = pd.Series(cand).groupby(pd.Series(d_job[cand], dtype=object), sort=False).indices
        for job, wi in w_groups.items():  # per job
            di = cand[d_groups.get(job, np.zeros(0, dtype=np.int64))]
            if not len(di):
                continue
            wpos = warns[wi]
            reach = np.fmax.accumulate(w_t[wpos])  # how far back the warnings so far reach
            reach = np.where(np.isnan(reach), -np.inf, reach)
            k = np.searchsorted(reach, d_t[di], side="left")
            ok = (k < len(wpos)) & ~np.isnan(d_t[di])
            parts.append((wpos[k[ok]], di[ok], d_ex[di[ok]], np.full(int(ok.sum()), job, dtype=object),
                          d_node[di[ok]]))
    w, k, xs, jobs, nodes = (np.concatenate(c) for c in zip(*parts, strict=True))
    order = np.lexsort((k, w))  # warning by warning, each in its own order
    xs, jobs, nodes = xs[order], jobs[order], nodes[order]
    keep_first = C.first_in_order(xs)
    n = len(keep_first)
    return _Finals(xs[keep_first], np.full(n, "pending", dtype=object), np.full(n, "running", dtype=object),
                   jobs[keep_first], nodes[keep_first])


_BELIEFS = ("connecting", "connected", "disconnected", "lost", "handshake")


def _last_per_node(nodes: np.ndarray, node: np.ndarray, values: np.ndarray, default: Any) -> np.ndarray:
    """Per node of ``nodes``: the value of its last row (``node``/``values``), else ``default``."""
    keys, at = C.last_by_key(node)
    out = C.take(values[at], C.positions(keys, nodes), default)
    return out.astype(values.dtype) if values.dtype != object else out


def _node_facts(r: _Rows, snapshot: Snapshot | None, nodes: np.ndarray) -> dict[str, np.ndarray]:
    """Per node of ``nodes`` (distinct, no ``None``): ``belief`` at the end, when it last (re)joined
    (``rejoined_s``) and (re)started (``restarted_s``), whether ``alive`` (True/False/None)."""
    mine = r.where(r.k.eq("node", "fault") & r.nd.eq(*nodes))
    st, node, t = r.state[mine], r.node[mine], r.t[mine]
    is_node, is_fault = r.k.eq_at(mine, "node"), r.k.eq_at(mine, "fault")  # integer tests, not text
    said = is_node & r.s.eq_at(mine, *_BELIEFS)
    belief_of = np.where(r.s.eq_at(mine, "handshake"), "connected", st).astype(object)
    belief = _last_per_node(nodes, node[said], belief_of[said], "unknown")
    joined = is_node & r.s.eq_at(mine, "handshake", "connected")
    rejoined = _last_per_node(nodes, node[joined], t[joined], np.nan)
    fault = is_fault & r.s.eq_at(mine, *_ALIVE)
    alive_of = np.full(len(mine), None, dtype=object)
    alive_of[fault] = list(map(_ALIVE.get, st[fault]))  # per fault row: they are few
    alive = _last_per_node(nodes, node[fault], alive_of[fault], None)
    started = is_fault & r.s.eq_at(mine, "start", "join")
    restarted = _last_per_node(nodes, node[started], t[started], np.nan)
    if bool(r.k.eq("fault").any()):  # faults were captured: a node none of them touched stayed up
        alive[C.isnull(alive)] = True
    if snapshot is not None:
        snap = snapshot.nodes
        ids = C.dict_column(snap, "id")
        pos = C.positions(C.unique(ids), nodes) if len(ids) else np.full(len(nodes), -1)
        state = C.dict_column(snap, "state")
        state[~np.fromiter(map(bool, state), dtype=bool, count=len(state))] = "unknown"
        belief = np.where(pos >= 0, _last_per_node(nodes, ids, state, "unknown"), "unknown").astype(object)
        since = C.dict_column(snap, "connected_since")
        has = ~C.isnull(since)
        if has.any():
            got = _last_per_node(nodes, ids[has], since[has].astype(float), np.nan)
            rejoined = np.where(np.isnan(got), rejoined, got)
        said_alive = C.dict_column(snap, "alive")
        has = ~C.isnull(said_alive)
        if has.any():
            got = _last_per_node(nodes, ids[has], said_alive[has], None)
            alive = np.where(C.isnull(got), alive, got).astype(object)
    return {"belief": belief, "rejoined_s": rejoined.astype(float), "restarted_s": restarted.astype(float),
            "alive": alive}


def _fix_names(fix: Iterable[str] | str | None) -> set[str]:
    if fix is None:
        return set()
    return {fix} if isinstance(fix, str) else set(fix)


@paused
def delivery_table(events: pd.DataFrame, *, snapshot: Snapshot | None = None, timings: Timings | None = None,
                   fix: Iterable[str] | str | None = None, t_end: float | None = None,
                   edges: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per pending execution (desired=running, state=pending at the end) with its history
    and class. Columns: ``execution job node state desired created_s sends retries last_send_s
    outcome outcome_s due_s remedy belief alive rejoined_s edge_log since_s age_s class stuck
    missing replaced_by reconciler_s final_known`` (``reconciler_s``: when a reconciler warning last called its
    job stuck; ``final_known``: its final state is in the evidence, not only its sends). ``fix`` (the run's
    fixes, when known) bounds the remedies of live runs. Every step is over columns (no per-row Python)."""
    cols = ["execution", "job", "node", "state", "desired", "created_s", "sends", "retries", "last_send_s",
            "outcome", "outcome_s", "due_s", "remedy", "belief", "alive", "rejoined_s", "edge_log",
            "since_s", "age_s", "class", "stuck", "missing", "replaced_by", "reconciler_s", "final_known"]
    end = float(snapshot.t_s if snapshot is not None else
                (t_end if t_end is not None else (events["t_s"].max() if len(events) else 0.0)))
    rel = relevant(events)
    if edges is None:
        edges = edge_nodes(events, source_roles(events, rel))
    r = _Rows(rel)
    rows, code, ex = _tags(r)
    finals = _final_states(r, snapshot)
    have_states = bool(len(finals))
    got = C.unique(ex[code == 7])
    if snapshot is None:  # executions with no state line that a reconciler warning calls stuck: pending
        finals = finals.add(_reconciled(r, got))
    sent = ex[code == 0]
    sent_not_got = sent[~C.isin(sent, got)]
    if have_states:
        ids = finals.ids[(finals.desired == "running") & (finals.state == "pending")]
        if snapshot is None:  # and the executions sent to, never received, with no state line at all
            ids = C.unique(np.concatenate([ids, sent_not_got[~C.isin(sent_not_got, finals.ids)]]))
    else:  # logs with no execution states: every execution sent to and never received
        ids = C.unique(np.concatenate([sent_not_got, finals.ids]))
    if not len(ids):
        return pd.DataFrame(columns=cols)
    n = len(ids)
    fpos = C.positions(finals.ids, ids)
    in_finals = fpos >= 0

    # -- who, when created (the first row naming it) -----------------------------------------------
    job, node = C.take(finals.job, fpos), C.take(finals.node, fpos)
    # each row's execution as its position in ids (-1: none, or not pending): per distinct execution, by codes
    row_id = np.append(C.positions(ids, r.ex.uniq), -1)[r.ex.codes]
    mine = np.flatnonzero(row_id >= 0)

    def first_of(values: np.ndarray | _Values, known: np.ndarray, default: Any) -> np.ndarray:
        """Per execution of ``ids``: its first row's value among the rows where it is ``known``."""
        rows_ = mine[known]
        at = row_id[rows_]
        first = ~pd.Series(at).duplicated().to_numpy()
        out = np.empty(n, dtype=values.dtype)
        out[:] = default
        out[at[first]] = values[rows_][first]
        return out

    created = first_of(r.t, ~np.isnan(r.t[mine]), np.nan).astype(float)
    job = np.where(C.isnull(job), first_of(r.job, r.jb.codes[mine] >= 0, None), job)
    node = np.where(C.isnull(node), first_of(r.node, r.nd.codes[mine] >= 0, None), node)
    if snapshot is not None and np.isnan(created).any():
        keys, at = C.last_by_key(C.dict_column(snapshot.executions, "id"))
        made_at = C.take(C.dict_column(snapshot.executions, "created_at")[at], C.positions(keys, ids))
        fill = np.isnan(created) & ~C.isnull(made_at)
        created[fill] = made_at[fill].astype(float)
    created = np.where(np.isnan(created), end, created)

    # -- the last send and what happened after it ----------------------------------------------------
    ci = C.positions(ids, ex)
    mine = ci >= 0
    last = np.full((n, len(_TAGS)), -1.0)
    np.maximum.at(last, (ci[mine], code[mine]), rows[mine].astype(float))
    counts = np.zeros((n, len(_TAGS)), dtype=np.int64)
    np.add.at(counts, (ci[mine], code[mine]), 1)
    last[last < 0] = np.nan
    ls = last[:, 0].copy()
    # a refusal or skip logged without its "Attempting" line still follows a send
    no_send = np.isnan(ls) & ~np.all(np.isnan(last[:, 1:5]), axis=1)
    ls[no_send] = np.nanmin(last[no_send, 1:5], axis=1) - 0.5 if no_send.any() else ls[no_send]

    def _t(pos: np.ndarray) -> np.ndarray:
        out = np.full(len(pos), np.nan)
        ok = ~np.isnan(pos)
        out[ok] = r.t[np.ceil(pos[ok]).astype(np.int64)]
        return out

    with np.errstate(invalid="ignore"):
        after = {t: last[:, j] > ls for j, t in enumerate(_TAGS) if t != "send"}
    has_send = ~np.isnan(ls)
    rx_any = ~np.isnan(last[:, 7])
    refused_after = after["skipped"] | after["refused"]
    outcome = np.select(
        [rx_any, ~has_send, after["retry"], refused_after, after["nats_lost"], after["nats_ok"], after["published"]],
        ["delivered", "none", "retrying", "refused", "lost", "delivered", "published"], default="sent")
    opos = np.select([rx_any, after["retry"], refused_after, after["nats_lost"], after["nats_ok"], after["published"]],
                     [last[:, 7], last[:, 1], np.fmax(last[:, 2], last[:, 3]), last[:, 5], last[:, 6], last[:, 4]],
                     default=np.nan)
    last_send_s = _t(ls)

    # Block's next attempt: the last retry line's time + its backoff
    due = np.full(n, np.nan)
    retrying = np.flatnonzero(outcome == "retrying")
    if len(retrying):
        at_row = last[retrying, 1].astype(np.int64)
        wait = _backoff(r.text(at_row))
        ok = ~np.isnan(wait)
        due[retrying[ok]] = r.t[at_row[ok]] + wait[ok]
    remedy = np.where(outcome == "retrying", "RetryStrategyBlock retry", None).astype(object)

    # -- the node --------------------------------------------------------------------------------
    known_nodes = C.unique(node[~C.isnull(node)])
    nf = _node_facts(r, snapshot, known_nodes)
    npos = C.positions(known_nodes, node)
    belief = C.take(nf["belief"], npos, "unknown")
    alive = C.take(nf["alive"], npos, None)
    rejoined = C.take(nf["rejoined_s"], npos, np.nan).astype(float)
    # an edge (re)started after the node's last (re)join has not handshaked yet: its node is not back
    restarted = C.take(nf["restarted_s"], npos, np.nan).astype(float)
    with np.errstate(invalid="ignore"):
        booting = restarted > np.nan_to_num(rejoined, nan=-np.inf)
    belief[booting & (belief == "connected")] = "restarting"
    # no line about the node's state, but its last publish found the connection alive: the
    # orchestrator believed it connected then ("PUBLISH: connection_exists=true connection_alive=true")
    belief[(belief == "unknown") & after["published"] & ~C.isnull(node)] = "connected"
    # does an edge log speak for the node around the send? "covers": it logged before and after it, so
    # a receipt would be there; "ends_before": it stopped logging first (the edge was down, or the log
    # is cut); "starts_after": it begins later, so it cannot tell; "": no edge log names the node
    sent_at = np.where(has_send, last_send_s, created)
    epos = C.positions(C.obj(edges["node"]), node)
    has_log = epos >= 0
    e_first = C.take(edges["first_s"].to_numpy(dtype=float), epos, np.nan).astype(float)
    e_last = C.take(edges["last_s"].to_numpy(dtype=float), epos, np.nan).astype(float)
    with np.errstate(invalid="ignore"):
        edge_log = np.select([~has_log, e_first > sent_at, e_last >= sent_at], ["", "starts_after", "covers"],
                             default="ends_before").astype(object)
    rb = C.take(C.obj(edges["replaced_by"]), epos)
    replaced_by = np.where(C.is_str(rb), rb, None)
    if snapshot is None:  # an edge that logs a newer node id has left the old one behind
        alive[~C.isnull(replaced_by)] = False
    since = np.fmax(np.fmax(created, np.nan_to_num(last_send_s, nan=-np.inf)), np.nan_to_num(rejoined, nan=-np.inf))
    send_age = end - np.where(has_send, last_send_s, created)
    cand = pd.DataFrame({"execution": ids, "job": job, "node": node,
                         "state": np.where(in_finals, C.take(finals.state, fpos), "unknown").astype(object),
                         "desired": np.where(in_finals, C.take(finals.desired, fpos), "running").astype(object),
                         "created_s": created, "sends": counts[:, 0], "retries": counts[:, 1],
                         "last_send_s": last_send_s, "outcome": outcome, "outcome_s": _t(opos),
                         "belief": belief, "alive": alive, "rejoined_s": rejoined, "edge_log": edge_log,
                         "replaced_by": replaced_by, "since_s": since, "age_s": end - since})

    # -- remedies that are due: the model's own (sim), else bounded from the fix and timings -----
    connected = belief == "connected"
    if snapshot is not None and any("remedy_at" in e for e in snapshot.executions):
        snap_ex = snapshot.executions
        when = C.dict_column(snap_ex, "remedy_at")
        keys, at = C.last_by_key(C.dict_column(snap_ex, "id"))
        spos = C.positions(keys, ids)
        when_of, what_of = C.take(when[at], spos), C.take(C.dict_column(snap_ex, "remedy")[at], spos)
        m = ~C.isnull(when_of) & (outcome != "retrying")
        due[m] = when_of[m].astype(float)
        remedy[m] = what_of[m]
    else:
        fixes = _fix_names(fix)
        t = timings or Timings()
        if "pending-timeout" in fixes:
            bound = np.fmax(created, np.nan_to_num(last_send_s, nan=-np.inf)) + t.pending_timeout + \
                t.housekeeping_interval
            m = connected & (outcome != "retrying") & (bound > end)
            due = np.where(m, bound, due)
            remedy = np.where(m, "pending-timeout re-dispatch (at the latest)", remedy)
        if "sequence-replay" in fixes:  # a node's plane failed a request: it replays everything at its retry
            backoff = r.where(r.k.eq("dispatch") & r.s.eq("backoff"))
            wait = _backoff(r.text(backoff))
            told = backoff[~np.isnan(wait) & ~C.isnull(r.node[backoff])]
            keys, at = C.last_by_key(r.node[told])  # per node: its last backoff line
            failed_at = r.t[told][at]
            kpos = C.positions(keys, node)
            failed = C.take(failed_at, kpos, np.nan).astype(float)
            retry_at = C.take(failed_at + wait[~np.isnan(wait) & ~C.isnull(r.node[backoff])][at], kpos,
                              np.nan).astype(float)
            sent_s = np.where(np.isnan(last_send_s), created, last_send_s)
            with np.errstate(invalid="ignore"):
                m = (retry_at > end) & (failed >= sent_s - IN_FLIGHT_S) & np.isnan(due) & (outcome != "retrying")
            due = np.where(m, retry_at, due)
            remedy = np.where(m, "sequence-replay retry", remedy)
        if "redispatch-on-join" in fixes:
            bound = rejoined + t.reeval_batch_delay + 1.0
            with np.errstate(invalid="ignore"):
                m = connected & (outcome != "retrying") & ~np.isnan(rejoined) & (bound > end) & np.isnan(due) & \
                    ~(np.nan_to_num(last_send_s, nan=-np.inf) > rejoined)
            due = np.where(m, bound, due)
            remedy = np.where(m, "node-join re-dispatch (redispatch-on-join)", remedy)

    # -- the class ---------------------------------------------------------------------------------
    any_dispatch_logs = bool(r.k.eq("dispatch", "publish").any())
    head_of_line = bool((outcome == "retrying").any())
    node_back = connected | (belief == "unknown")
    down = ~C.isnull(alive) & ~alive.astype(bool)
    recent = send_age < IN_FLIGHT_S
    published = np.isin(outcome, ["published", "sent"])
    none = outcome == "none"
    classes = np.select(
        [outcome == "delivered", ~node_back | down, ~np.isnan(due) & (outcome != "retrying"),
         outcome == "retrying", none & head_of_line, none & (not any_dispatch_logs), none & recent, none,
         outcome == "refused", outcome == "lost", published & recent,
         published & np.isin(edge_log.astype(str), ["covers", "ends_before"]), published],
        ["delivered", "awaiting_node", "scheduled", "retrying", "blocked", "unknown", "in_flight", "lost",
         "refused", "lost", "in_flight", "lost", "unknown"], default="unknown")
    unknown = classes == "unknown"
    # the words by a code per row: a numpy text array of them would hold 90 characters (360 bytes) per row
    missing = np.array(["no dispatch lines: pass the orchestrator's log at --log-level=debug (instrumented build)",
                        "its edge's log starts after the send: pass the edge log from before it",
                        "delivery not checked: pass the edge logs",
                        "the execution's node is not in these logs", ""], dtype=object)[np.select(
        [unknown & none, unknown & published & (edge_log == "starts_after"),
         unknown & published & ~C.isnull(node), unknown], [0, 1, 2, 3], default=4)]
    # a node-join evaluation of its job that finished after the later of creation, last send and
    # rejoin already had its chance to act: no need to wait out the threshold
    evals = r.where(r.k.eq("eval") & r.s.eq("processed") & r.jb.known())
    evals = evals[C.contains(r.text(evals), "trigger=node-join")]
    eval_jobs, eval_t = _max_by(r.job[evals], r.t[evals])
    judged = C.take(eval_t, C.positions(eval_jobs, job), -np.inf).astype(float)
    with np.errstate(invalid="ignore"):
        judged = judged > since
    # a reconciler warning that the job is stuck, after the later of creation, last send and rejoin, judged it too
    warned = reconciler_stuck(r)
    warned_s = C.take(np.array(list(warned.values()), dtype=float), C.positions(C.obj(list(warned)), job),
                      np.nan).astype(float)
    with np.errstate(invalid="ignore"):
        judged |= warned_s > since
    # stuck needs the execution's final state: a state line, the snapshot, or a reconciler warning naming it
    final_known = in_finals | (snapshot is not None)
    stuck = np.isin(classes, STUCK_CLASSES) & ((end - since >= stuck_after(timings)) | judged) & connected & \
        final_known
    cand["due_s"] = due
    cand["remedy"] = remedy
    cand["class"] = classes
    cand["stuck"] = stuck
    cand["missing"] = missing
    cand["reconciler_s"] = warned_s
    cand["final_known"] = final_known
    return cand[cols]


def _backoff(details: np.ndarray | pa.Array) -> np.ndarray:
    """Seconds of each line's ``backoff=`` (NaN where it has none)."""
    found = C.extract(details, r"backoff=(?P<v>[0-9.]+)(?P<u>ms|s|m)?", ["v", "u"])
    ok = ~C.isnull(found["v"])
    out = np.full(len(details), np.nan)
    if ok.any():
        unit = np.array([_UNIT[u] for u in C.unique(found["u"][ok])], dtype=float)
        codes = C.positions(C.unique(found["u"][ok]), found["u"][ok])
        out[ok] = found["v"][ok].astype(float) * unit[codes]
    return out
