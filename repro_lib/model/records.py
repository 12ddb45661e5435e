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

from typing import Any

from repro_lib.logfmt import LogRecord

__all__ = ["LazyRecord", "ExecutionChanged", "DispatchAttempt", "ConnectionCheck", "NatsOutcome", "record_of"]


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
             "dropped": "NATS: partitioned - message dropped"}
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
