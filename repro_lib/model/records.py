"""Compact log records for the model's hottest lines (issue 20: 10,000 edges x 100 jobs = 4 M records).

A :class:`~repro_lib.logfmt.LogRecord` costs a named tuple, a tuple of ``(key, value)`` pairs and a
string per enum value — about 700 bytes a line. The four lines written once per execution (the
execution's state change, the dispatch attempt, the transport's connection check, the NATS outcome)
are kept instead as one slotted object holding only the values (~80 bytes), shared strings by
reference. Each reads like the ``LogRecord`` it stands for — ``t``, ``source``, ``level``, ``msg``,
``fields``, iteration, indexing, equality, ``repr`` — built on demand from the same values, so a
consumer (the events table, a log file, a test) sees exactly what the eager record held. Pickled,
it becomes that ``LogRecord``.
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from repro_lib.logfmt import LogRecord

__all__ = ["LazyRecord", "ExecutionChanged", "DispatchAttempt", "ConnectionCheck", "NatsOutcome", "record_of",
           "RecordBlock", "ChangedBlock", "DispatchBlock", "LostBlock", "RecordLog", "BLOCK_MIN"]


class LazyRecord:
    """A log line kept as its values; every ``LogRecord`` reading is built from them on demand."""

    __slots__ = ()
    _fields = LogRecord._fields
    source: str
    level: str
    msg: str
    t: float

    def pairs(self) -> tuple[tuple[str, object], ...]:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    @property
    def fields(self) -> tuple[tuple[str, object], ...]:
        return self.pairs()

    def record(self) -> LogRecord:
        """The eager record this line stands for."""
        return LogRecord(self.t, self.source, self.level, self.msg, self.pairs())

    # -- the tuple / named-tuple protocol, through the eager record --------------------------------
    def __iter__(self) -> Any:
        return iter(self.record())

    def __len__(self) -> int:
        return 5

    def __getitem__(self, i: Any) -> Any:
        return self.record()[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyRecord):
            other = other.record()
        return self.record() == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.record())

    def __repr__(self) -> str:
        return repr(self.record())

    def __reduce__(self) -> tuple[Any, ...]:
        return LogRecord, tuple(self.record())

    def __getattr__(self, name: str) -> Any:  # _asdict, _replace, count, index
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.record(), name)


def record_of(rec: Any) -> LogRecord:
    """``rec`` as a plain :class:`LogRecord` (a lazy one built, an eager one as it is)."""
    return rec.record() if isinstance(rec, LazyRecord) else rec


class ExecutionChanged(LazyRecord):
    """orchestrator INFO ``EXECUTION: state changed``. Holds the execution itself for its id, job, node and
    version (none of which ever changes) and the state and desired state it logged."""

    __slots__ = ("t", "execution", "state", "desired")
    source, level, msg = "orchestrator", "INFO", "EXECUTION: state changed"

    def __init__(self, t: float, execution: Any, state: Any, desired: Any) -> None:
        self.t, self.execution, self.state, self.desired = t, execution, state, desired

    def pairs(self) -> tuple[tuple[str, object], ...]:
        ex = self.execution
        return (("execution_id", ex.id), ("job_id", ex.job), ("node_id", ex.node_id),
                ("state", str(self.state)), ("desired", str(self.desired)), ("version", ex.version))


class DispatchAttempt(LazyRecord):
    """orchestrator DEBUG ``DISPATCH: Attempting to send message`` (the global watcher's), for an execution."""

    __slots__ = ("t", "execution", "event_type")
    source, level, msg = "orchestrator", "DEBUG", "DISPATCH: Attempting to send message"

    def __init__(self, t: float, execution: Any, event_type: Any) -> None:
        self.t, self.execution, self.event_type = t, execution, event_type

    def pairs(self) -> tuple[tuple[str, object], ...]:
        ex = self.execution
        return (("execution_id", ex.id), ("target_node", ex.node_id), ("event_type", self.event_type),
                ("job_id", ex.job))


_CONNECTION = ((False, False), (False, True), (True, False), (True, True))


class ConnectionCheck(LazyRecord):
    """orchestrator DEBUG ``PUBLISH: Checking node connection``."""

    __slots__ = ("t", "node_id", "execution_id", "connection")
    source, level, msg = "orchestrator", "DEBUG", "PUBLISH: Checking node connection"

    def __init__(self, t: float, node_id: str, exists: bool, alive: bool, execution_id: Any) -> None:
        self.t, self.node_id, self.execution_id = t, node_id, execution_id
        self.connection = (2 if exists else 0) + (1 if alive else 0)  # its index in _CONNECTION

    def pairs(self) -> tuple[tuple[str, object], ...]:
        exists, alive = _CONNECTION[self.connection]
        return (("node_id", self.node_id), ("connection_exists", exists), ("connection_alive", alive),
                ("execution_id", self.execution_id))


_NATS_MSG = {"delivered": "NATS: message delivered", "lost": "NATS: no subscriber - message dropped",
             "dropped": "NATS: partitioned - message dropped",
             "held": "NATS: partitioned - message held in the connection",
             "stale": "NATS: stale connection closed - held message lost",
             "gone": "NATS: the edge's client closed its connection as stale - message lost",
             "slow": "NATS: slow consumer - connection closed, message lost"}
_NATS_KEY: dict[tuple[str, Any], tuple[str, Any]] = {}


class NatsOutcome(LazyRecord):
    """nats DEBUG/WARN: what became of a tracked message (the sim's bus)."""

    __slots__ = ("t", "key", "subject", "execution_id", "node_id")
    source = "nats"

    def __init__(self, t: float, outcome: str, subject: str, kind: Any, execution_id: Any, node_id: Any) -> None:
        key = _NATS_KEY.get((outcome, kind))
        if key is None:
            if outcome not in _NATS_MSG:
                raise KeyError(outcome)
            key = _NATS_KEY.setdefault((outcome, kind), (outcome, kind))
        self.t, self.key, self.subject = t, key, subject  # (outcome, type): one tuple for them all
        self.execution_id, self.node_id = execution_id, node_id   # node_id None: the subject's

    @property
    def level(self) -> str:  # type: ignore[override]
        return "DEBUG" if self.key[0] == "delivered" else "WARN"

    @property
    def msg(self) -> str:  # type: ignore[override]
        return _NATS_MSG[self.key[0]]

    def pairs(self) -> tuple[tuple[str, object], ...]:
        node = self.node_id or self.subject.split(".")[2]
        return (("subject", self.subject), ("type", self.key[1]), ("execution_id", self.execution_id),
                ("node_id", node))


# -- runs of lines held whole (issue 20: a commit's or a dispatch's 10,000 lines as one object) ----------
BLOCK_MIN = 32  # shorter runs stay a line an object: a block's bookkeeping would cost more than it saves


class RecordBlock:
    """Lines of one shape in a row, held as one object in a :class:`RecordLog`: ``len`` lines, each the
    :class:`LazyRecord` that would have been appended in its place, built when read."""

    __slots__ = ()

    def __len__(self) -> int:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def __iter__(self) -> Any:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def __getitem__(self, i: int) -> LazyRecord:  # pragma: no cover - every subclass has its own
        raise NotImplementedError


class ChangedBlock(RecordBlock):
    """``EXECUTION: state changed`` for executions created in one commit, in order."""

    __slots__ = ("t", "executions", "state", "desired")

    def __init__(self, t: float, executions: list[Any], state: Any, desired: Any) -> None:
        self.t, self.executions, self.state, self.desired = t, executions, state, desired

    def __len__(self) -> int:
        return len(self.executions)

    def __iter__(self) -> Any:
        t, state, desired = self.t, self.state, self.desired
        return (ExecutionChanged(t, ex, state, desired) for ex in self.executions)

    def __getitem__(self, i: int) -> LazyRecord:
        return ExecutionChanged(self.t, self.executions[i], self.state, self.desired)


class DispatchBlock(RecordBlock):
    """The watcher's run requests for executions in a row, each to a live connection: per execution its
    ``DISPATCH: Attempting to send message`` and the transport's ``PUBLISH: Checking node connection``."""

    __slots__ = ("t", "executions")

    def __init__(self, t: float, executions: list[Any]) -> None:
        self.t, self.executions = t, executions

    def __len__(self) -> int:
        return 2 * len(self.executions)

    def __iter__(self) -> Any:
        t = self.t
        for ex in self.executions:
            yield DispatchAttempt(t, ex, "RunExecutionRequest")
            yield ConnectionCheck(t, ex.node_id, True, True, ex.id)

    def __getitem__(self, i: int) -> LazyRecord:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        ex = self.executions[i >> 1]
        if i & 1 == 0:
            return DispatchAttempt(self.t, ex, "RunExecutionRequest")
        return ConnectionCheck(self.t, ex.node_id, True, True, ex.id)


class LostBlock(RecordBlock):
    """``NATS: no subscriber - message dropped`` for run requests in a row (``subjects[i]`` the subject of
    ``executions[i]``'s node)."""

    __slots__ = ("t", "executions", "subjects")

    def __init__(self, t: float, executions: list[Any], subjects: list[str]) -> None:
        self.t, self.executions, self.subjects = t, executions, subjects

    def __len__(self) -> int:
        return len(self.executions)

    def __iter__(self) -> Any:
        t = self.t
        return (NatsOutcome(t, "lost", subject, "RunExecutionRequest", ex.id, None)
                for ex, subject in zip(self.executions, self.subjects, strict=True))

    def __getitem__(self, i: int) -> LazyRecord:
        return NatsOutcome(self.t, "lost", self.subjects[i], "RunExecutionRequest", self.executions[i].id, None)


class RecordLog(Sequence):  # type: ignore[type-arg]
    """The sim's log: a list of records in which a :class:`RecordBlock` stands for its lines.

    Reads as the plain list it replaces — ``len``, iteration (both ways), indexing and slicing count lines,
    not blocks; ``append``, ``extend``, ``+=`` and ``clear`` take records or blocks; equal to a list of the
    same lines; ``copy()`` and ``+`` give plain lists. Not supported: changing a line in place (``insert``,
    ``pop``, ``del``, item assignment) — the sim only ever appends. A line inside a block is built anew at
    each read (equal, not identical). Pickled, it is that list."""

    __slots__ = ("_items", "_n", "_starts", "_at")

    def __init__(self, records: Iterable[Any] = ()) -> None:
        self._items: list[Any] = []
        self._n = 0
        self._starts: list[int] = []   # per block: the index of its first line
        self._at: list[int] = []       # per block: its index in _items
        self.extend(records)

    def append(self, rec: Any) -> None:
        if isinstance(rec, RecordBlock):
            self._block(rec)
            return
        self._items.append(rec)
        self._n += 1

    def _block(self, block: RecordBlock) -> None:
        n = len(block)
        if n:
            self._starts.append(self._n)
            self._at.append(len(self._items))
            self._items.append(block)
            self._n += n

    def extend(self, records: Iterable[Any]) -> None:
        if records is self:  # log += log: what it held before, once more
            records = list(self._items)
        items = self._items
        for rec in records:
            if isinstance(rec, RecordBlock):
                self._block(rec)
            else:
                items.append(rec)
                self._n += 1

    def extend_lines(self, lines: list[Any]) -> None:
        """:meth:`extend` with lines only, none a :class:`RecordBlock` (what an edge logs): one list splice."""
        self._items += lines
        self._n += len(lines)

    def __iadd__(self, records: Iterable[Any]) -> RecordLog:
        self.extend(records)
        return self

    def clear(self) -> None:
        self._items, self._n, self._starts, self._at = [], 0, [], []

    def copy(self) -> list[Any]:
        return list(self)

    def __add__(self, other: Any) -> list[Any]:
        if not isinstance(other, RecordLog | list):
            return NotImplemented
        return list(self) + list(other)

    def __radd__(self, other: Any) -> list[Any]:
        if not isinstance(other, list):
            return NotImplemented
        return other + list(self)

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[Any]:
        if not self._starts:
            return iter(self._items)
        return self._walk()

    def _walk(self) -> Iterator[Any]:
        for item in self._items:
            if isinstance(item, RecordBlock):
                yield from item
            else:
                yield item

    def __reversed__(self) -> Iterator[Any]:
        for item in reversed(self._items):
            if isinstance(item, RecordBlock):
                for k in range(len(item) - 1, -1, -1):
                    yield item[k]
            else:
                yield item

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            if not self._starts:
                return self._items[i]
            return [self[k] for k in range(*i.indices(self._n))]
        if not self._starts:
            return self._items[i]
        i = operator.index(i)
        n = self._n
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("record index out of range")
        b = bisect_right(self._starts, i) - 1
        if b < 0:
            return self._items[i]
        start, block = self._starts[b], self._items[self._at[b]]
        if i < start + len(block):
            return block[i - start]
        return self._items[self._at[b] + 1 + (i - start - len(block))]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecordLog | list):  # as a list: never equal to a tuple
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]  # mutable, like the list

    def __repr__(self) -> str:
        return f"RecordLog({list(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return RecordLog, (list(self),)
