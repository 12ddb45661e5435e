"""The edge node (mechanics.md §1.11), sans-IO.

It handshakes, heartbeats (request/reply: a missing reply counts as a miss), runs what a
``RunExecutionRequest`` asks for, and keeps a local store that survives a restart with the same
identity (the named volume), so a restarted edge resumes what it already had — without asking
the orchestrator. With the ``edge-reconcile`` fix it asks for its assignments on (re)connect.

With ``sequence-replay`` (fix C, docs/fix-c-sequence-replay.md §4, §7.3) it keeps upstream's incoming
sequence tracker (Bacalhau ``e28960c``, paths under ``pkg/``): set from the handshake reply
(``transport/nclprotocol/compute/manager.go:327-329``), moved to each message's seq by a plain store, with no
gap or order check (``transport/nclprotocol/tracker.go:43-49``, called by ``lib/ncl/subscriber.go:147-148``),
reported in every heartbeat (``compute/controlplane.go:141-146``), which the orchestrator stores as the node's
cursor (``orchestrator/nodes/manager.go:617, 922-923``) — so a message the orchestrator's ack rule skipped
(model/dataplane.py) is behind the cursor for good. A duplicate run request or a cancel of an unknown or
finished execution is logged ``Error handling message`` and acked anyway (``compute/message_handler.go:52-66``).
[I] The tracker is not reloaded from the 30 s checkpoint at a restart (``compute/manager.go:103-108``): the
handshake overwrites it before any heartbeat reads it, and the orchestrator ignores the handshake's value.
Its own state reports are acked too; one that fails is sent again after a back-off and at the next handshake
(the compute's outgoing plane, [I]: modelled as a re-send of every unacked report).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from repro_lib.logfmt import LogRecord
from repro_lib.model.transport import ORCHESTRATOR_SUBJECT
from repro_lib.model.types import ComputeState, Outbox, Publish, Timer
from repro_lib.timings import Timings

__all__ = ["Edge", "LocalExecution"]


@dataclass
class LocalExecution:
    id: str
    job: str
    state: ComputeState = ComputeState.PENDING
    run_for: float | None = None
    reported: ComputeState | None = None
    unacked: bool = False   # fix C: the last report's ack has not come back


@dataclass
class _Persisted:
    """What lives in the edge's data dir: its identity and its executions."""

    node_id: str
    executions: dict[str, LocalExecution] = field(default_factory=dict)


class Edge:
    """One edge process. ``gen`` changes on every (re)start so stale timers are ignored."""

    def __init__(self, name: str, node_id: str, timings: Timings, *, labels: dict[str, str] | None = None,
                 reconcile_on_connect: bool = False, sequence_replay: bool = False) -> None:
        self.name = name
        self.t = timings
        self.labels = dict(labels or {})
        self.reconcile_on_connect = reconcile_on_connect
        self.sequence_replay = sequence_replay
        self.tracker = 0          # fix C: last orchestrator seq processed (memory; the handshake resets it)
        self.report_failures = 0
        self.report_retry_at: float | None = None
        self.disk = _Persisted(node_id)  # also sets node_id and subject
        self.out = Outbox()
        self.gen = 0
        self.connected = False
        self.last_ack = 0.0

    @property
    def disk(self) -> _Persisted:
        """The edge's data dir. Setting it (a new identity, the emulator's store read back) sets ``node_id``
        and ``subject`` too: plain attributes, read at every event (a 10,000-edge run: 300,000 reads)."""
        return self._disk

    @disk.setter
    def disk(self, disk: _Persisted) -> None:
        self._disk = disk
        self.node_id: str = disk.node_id
        self.subject: str = f"expanso.node.{disk.node_id}.in"

    # -- lifecycle ------------------------------------------------------------------------
    def boot(self, now: float) -> None:
        """The process starts: resume local executions, then handshake after boot delay."""
        self.gen += 1
        self.connected = False
        self.report_failures, self.report_retry_at = 0, None
        resumable = self._resumable()
        self._log(now, "INFO", "EDGE: starting", node_id=self.node_id, resumed=len(resumable))
        for ex in resumable:
            self.out.timers.append(Timer(now + self.t.execution_start_delay, ("exec_start", ex.id)))
        self.out.timers.append(Timer(now + self.t.edge_boot_delay, ("heartbeat",)))

    def new_identity(self, node_id: str) -> None:
        """Container recreated without its volume: a fresh node id and an empty store."""
        self.disk = _Persisted(node_id)

    def _resumable(self) -> list[LocalExecution]:
        return [e for e in self._disk.executions.values()
                if e.state in (ComputeState.PENDING, ComputeState.STARTING, ComputeState.RUNNING)]

    def drain(self) -> tuple[list[Publish], list[Timer], list[LogRecord]]:
        return self.out.drain()

    # -- the connection -----------------------------------------------------------------
    def handshake_payload(self) -> dict[str, Any]:
        msg = {"type": "Handshake", "node_id": self.node_id, "name": self.name, "labels": self.labels}
        if self.sequence_replay:  # sent, and ignored by the orchestrator ("for reference only")
            msg["last_orch_seq"] = self.tracker
        return msg

    def heartbeat_payload(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "Heartbeat", "node_id": self.node_id}
        if self.sequence_replay:  # LastOrchestratorSeqNum = the tracker (compute/controlplane.go:141-146)
            msg["last_orch_seq"] = self.tracker
        return msg

    def on_timer(self, now: float, key: tuple[Any, ...]) -> dict[str, Any] | None:
        """Timers; for ``heartbeat`` returns the request to send (handshake or heartbeat)."""
        name = key[0]
        if name == "heartbeat":
            patience = self.t.edge_heartbeat_miss_factor * self.t.heartbeat_interval
            if self.connected and now - self.last_ack > patience:
                self.connected = False
                self._log(now, "WARN", "EDGE: connection lost, reconnecting", node_id=self.node_id)
            return self.heartbeat_payload() if self.connected else self.handshake_payload()
        if name == "report_retry":
            if self.report_retry_at == now:
                self.report_retry_at = None
                self._resend_unacked()
        elif name == "exec_start":
            self._start(now, key[1])
        elif name == "exec_done":
            ex = self._disk.executions.get(key[1])
            if ex is not None and ex.state is ComputeState.RUNNING:
                self._set(now, ex, ComputeState.COMPLETED)
        return None

    def on_reply(self, now: float, reply: dict[str, Any] | None) -> None:
        """The answer to a handshake/heartbeat request (``None`` = no responder or lost);
        then arm the next one: ``heartbeat_interval`` when connected, else the reconnect interval."""
        if reply is not None:
            self._on_answer(now, reply)
        interval = self.t.heartbeat_interval if self.connected else self.t.edge_reconnect_interval
        self.out.timers.append(Timer(now + interval, ("heartbeat",)))

    def _on_answer(self, now: float, reply: dict[str, Any]) -> None:
        kind = reply.get("type")
        if kind == "HandshakeAck":
            self.connected = True
            self.last_ack = now
            self._log(now, "INFO", "Edge connected to orchestrator", node_id=self.node_id)
            if self.sequence_replay and "start_seq" in reply:
                # "Always trust the orchestrator's starting sequence number" (compute/manager.go:327-329)
                self.tracker = int(reply["start_seq"])
                self._resend_unacked()
            if self.reconcile_on_connect:
                self.out.publishes.append(Publish(ORCHESTRATOR_SUBJECT,
                                                  {"type": "AssignmentsRequest", "node_id": self.node_id}))
                for ex in self._disk.executions.values():
                    ex.reported = None
                    self._report(ex)
        elif kind == "HeartbeatAck":
            self.last_ack = now
        elif kind == "HandshakeRequired":
            self.connected = False

    def on_message(self, now: float, payload: dict[str, Any]) -> None:
        """A message on our subject (orchestrator -> edge). A plane's message (``seq``, fix C) is acked
        whatever its handling did (the driver answers the request once this returns)."""
        kind = payload.get("type")
        if "seq" in payload and self.sequence_replay:
            self._on_sequenced(now, payload)
            return
        if kind == "RunExecutionRequest":
            self._run(now, payload, via="dispatch")
        elif kind == "Assignments":
            for msg in payload.get("executions", []):
                self._run(now, msg, via="assignments")
        elif kind == "CancelExecution":
            ex = self._disk.executions.get(str(payload.get("execution_id")))
            if ex is not None and ex.state not in (ComputeState.COMPLETED, ComputeState.FAILED):
                self._set(now, ex, ComputeState.STOPPED)

    def _on_sequenced(self, now: float, payload: dict[str, Any]) -> None:
        seq, kind = int(payload["seq"]), payload.get("type")
        ex_id = str(payload.get("execution_id"))
        known = self._disk.executions.get(ex_id)
        error = ""
        if kind == "RunExecutionRequest":
            if known is not None:
                error = f"execution already exists: {ex_id}"
            else:
                self._run(now, payload, via="dispatch")
        elif kind == "CancelExecution":
            if known is None:
                error = f"execution not found: {ex_id}"
            elif known.state in (ComputeState.COMPLETED, ComputeState.FAILED, ComputeState.STOPPED,
                                 ComputeState.CANCELLED):
                error = f"execution {ex_id} is already in a terminal state"
            else:
                self._set(now, known, ComputeState.STOPPED)
        if error:
            self._log(now, "ERROR", "Error handling message", node_id=self.node_id, execution_id=ex_id,
                      error=error, **{"Bacalhau-SeqNum": seq, "Bacalhau-Type": str(kind)})
        # OnProcessed: a plain store, even after an error (the handler returned nil) and even past a seq that never
        # arrived (tracker.go:43-49); the next heartbeat reports it and the orchestrator stores it as the cursor
        self.tracker = seq

    def on_report_result(self, now: float, execution_id: str, state: str, ok: bool) -> None:
        """Fix C: the orchestrator acked a state report, or the request failed (no responders, timeout)."""
        ex = self._disk.executions.get(execution_id)
        if ex is None or str(ex.reported) != state:
            return
        if ok:
            ex.unacked = False
            self.report_failures = 0
            return
        ex.unacked = True
        if self.report_retry_at is None:
            self.report_failures += 1
            backoff = min(self.t.plane_retry_base * 2 ** min(self.report_failures - 1, 30), self.t.plane_retry_max)
            self.report_retry_at = now + backoff
            self.out.timers.append(Timer(self.report_retry_at, ("report_retry",)))

    def _resend_unacked(self) -> None:
        for ex in self._disk.executions.values():
            if ex.unacked:
                ex.reported = None
                self._report(ex)

    # -- executions -------------------------------------------------------------------------
    def _run(self, now: float, msg: dict[str, Any], via: str) -> None:
        ex_id = str(msg["execution_id"])
        self.out.logs.append(LogRecord(now, self.name, "INFO", "EDGE: Received RunExecutionRequest", (
            ("execution_id", ex_id), ("job_id", msg.get("job", "")), ("node_id", self.node_id), ("via", via))))
        known = self._disk.executions.get(ex_id)
        if known is not None:  # idempotent on execution id: just report again
            known.reported = None
            self._report(known)
            return
        ex = LocalExecution(ex_id, str(msg.get("job", "")), run_for=msg.get("run_for"))
        self._disk.executions[ex_id] = ex
        self.out.timers.append(Timer(now + self.t.execution_start_delay, ("exec_start", ex_id)))

    def _start(self, now: float, ex_id: str) -> None:
        ex = self._disk.executions.get(ex_id)
        if ex is None or ex.state not in (ComputeState.PENDING, ComputeState.STARTING, ComputeState.RUNNING):
            return
        if ex.state is not ComputeState.RUNNING:
            self._set(now, ex, ComputeState.RUNNING)
        if ex.run_for:
            self.out.timers.append(Timer(now + ex.run_for, ("exec_done", ex_id)))

    def _set(self, now: float, ex: LocalExecution, state: ComputeState) -> None:
        ex.state = state
        self.out.logs.append(LogRecord(now, self.name, "INFO", "EDGE: execution state", (
            ("execution_id", ex.id), ("job_id", ex.job), ("state", str(state)))))  # _log's record, without its **kv
        self._report(ex)

    def _report(self, ex: LocalExecution) -> None:
        if ex.reported is ex.state:
            return
        ex.reported = ex.state
        ex.unacked = self.sequence_replay
        self.out.publishes.append(Publish(ORCHESTRATOR_SUBJECT, {
            "type": "ExecutionState", "node_id": self.node_id, "execution_id": ex.id, "state": str(ex.state),
        }))

    def _log(self, now: float, level: str, msg: str, **kv: object) -> None:
        self.out.logs.append(LogRecord(now, self.name, level, msg, tuple(kv.items())))
