"""Fix C, ``sequence-replay``: upstream Bacalhau's per-node data plane (docs/fix-c-sequence-replay.md §7).

Instead of the one global dispatcher that publishes into core NATS and forgets, each connected node
gets its own *plane*: a watcher over the orchestrator's persistent event log, filtered to that node,
whose publishes are requests that the edge acks. What upstream does, with its sources (Bacalhau
``e28960c``; [F] = read in the source, [I] = our reading):

- the event log persists; the per-node planes, their cursors and backoff are memory only [F]
  (``jobstore/boltdb/store.go:160-173``, ``orchestrator/dataplane.go:27-41``);
- a handshake starts a fresh plane at the node's stored ``LastOrchestratorSeqNum`` (known node) or the
  latest event (new node); what the edge reports in the handshake is ignored [F]
  (``nodes/manager.go:881-908``); the stored value is what the edge last reported in a heartbeat [F]
  (``nodes/manager.go:617, 922-923``), persisted at handshake and every 5 min [F]
  (``nodes/manager.go:28, 366-417, 523``) — only the persisted value survives a restart;
- a publish nobody is subscribed to fails at once (NATS 503, ``nats: no responders available for
  request``); one that reaches a subscriber that never answers fails after ``ack_wait`` (30 s) [F]
  (``ncl/result.go:95-101``, ``publisher_config.go:113``); the first failure stops the plane, clears its
  pending messages and retries after 5 s doubling to 5 min, **rewinding to the handshake cursor**, so
  everything since the handshake is sent again [F] (``dispatcher/recovery.go:46-135``,
  ``dispatcher/config.go:24-25``, ``watcher.go:176``); the backoff resets on an ack [F]
  (``dispatcher.go:198-199``);
- heartbeats only store the reported seq; they never trigger a resend [F];
- the node's disconnect tears its plane down [F] (``orchestrator/manager.go:320-345``).

Model choices the source does not settle [I]: one RUN message per execution created desired=running
and one CANCEL per desired→stopped (Expanso's vocabulary, not AskForBid/BidAccepted); results are
applied at once (upstream batches them every 10 ms, so the recovery-reset race of §6.2(d) is not
modelled); a partitioned edge's subscription stays on the server, so its requests time out after
``ack_wait`` instead of failing at once; the persisted cursor is refreshed on the first heartbeat at
least ``node_persist_interval`` after the last persist (upstream: a 5-minute ticker); no event garbage
collection (24 h upstream), no node-record deletion.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from repro_lib.logfmt import LogRecord
from repro_lib.model.dispatcher import ExecutionUpsert, message_for
from repro_lib.model.transport import node_subject
from repro_lib.model.types import Outbox, Publish, Timer
from repro_lib.timings import Timings

__all__ = ["DataPlanes", "Plane", "NO_RESPONDERS", "ACK_TIMEOUT"]

NO_RESPONDERS = "nats: no responders available for request"  # nats.go ErrNoResponders
ACK_TIMEOUT = "publish ack timeout"                            # ncl/publisher_ordered.go:272


@dataclass(slots=True)
class Plane:
    """One node's data plane (memory only)."""

    id: int                 # distinguishes a replaced plane's late results
    start_seq: int          # the handshake cursor: recovery rewinds here
    cursor: int             # the last event seq handled
    running: bool = True
    recovering: bool = False
    failures: int = 0
    retry_at: float | None = None
    awaiting_until: float | None = None  # the latest ack-timeout of a request still unanswered


class DataPlanes:
    """The orchestrator's per-node planes over the dispatcher's event store (``seq`` = index + 1)."""

    def __init__(self, timings: Timings, out: Outbox, store: list[ExecutionUpsert],
                 specs: dict[str, Any]) -> None:
        self.t = timings
        self.out = out
        self.store = store
        self.specs = specs
        self.by_node: dict[str, list[int]] = {}        # node -> seqs of its events (persistent, with the log)
        self.persisted: dict[str, tuple[int, float]] = {}  # node -> (seq, when): the node store [persistent]
        self.live_seq: dict[str, int] = {}             # node -> last heartbeat-reported seq [memory]
        self.planes: dict[str, Plane] = {}             # [memory]
        self._ids = 0

    # -- the event log ---------------------------------------------------------------------------
    def appended(self, ev: ExecutionUpsert) -> None:
        """The job store committed an event (its seq is ``ev.seq + 1``)."""
        self.by_node.setdefault(ev.execution.node_id, []).append(ev.seq + 1)

    @property
    def latest(self) -> int:
        return len(self.store)

    # -- the node manager's side -------------------------------------------------------------------
    def handshake(self, now: float, node_id: str, known: bool) -> int:
        """A fresh plane for the node; returns its start cursor (``StartingOrchestratorSeqNum``)."""
        if known:
            start = self.live_seq.get(node_id, self.persisted.get(node_id, (0, now))[0])
        else:
            start = self.latest
        start = min(start, self.latest)  # watcher.go:109-117 clamps a cursor beyond the latest
        self.live_seq[node_id] = start
        self.persisted[node_id] = (start, now)
        self._ids += 1
        self.planes[node_id] = Plane(self._ids, start, start)
        self._log(now, "DEBUG", "Data plane started", node_id, startSeqNum=start,
                  outgoingSubject=node_subject(node_id), reason="node reconnected" if known else "node registered")
        self.pump(now, node_id)
        return start

    def heartbeat(self, now: float, node_id: str, seq: Any) -> None:
        """Store the reported seq (unconditionally, even backwards: ``nodes/manager.go:915-923``); no resend."""
        try:
            value = int(seq)
        except (TypeError, ValueError):
            return
        self.live_seq[node_id] = value
        stored = self.persisted.get(node_id)
        if stored is None or (stored[0] != value and now - stored[1] >= self.t.node_persist_interval):
            self.persisted[node_id] = (value, now)

    def drop(self, now: float, node_id: str) -> None:
        """The node was marked disconnected: its plane is torn down (its retry with it)."""
        if self.planes.pop(node_id, None) is not None:
            self._log(now, "DEBUG", "Data plane stopped", node_id, reason="node disconnected")

    def reset(self) -> None:
        """Orchestrator restart: live state and planes were memory; the log and node store persist."""
        self.live_seq.clear()
        self.planes.clear()

    # -- dispatch -------------------------------------------------------------------------------
    def pump_all(self, now: float) -> None:
        for node_id in list(self.planes):
            self.pump(now, node_id)

    def pump(self, now: float, node_id: str) -> None:
        """Publish the node's events after the cursor, in order, while the plane runs."""
        plane = self.planes.get(node_id)
        if plane is None or not plane.running:
            return
        seqs = self.by_node.get(node_id, [])
        for seq in seqs[bisect_right(seqs, plane.cursor):]:
            plane.cursor = seq
            ev = self.store[seq - 1]
            msg = message_for(ev, self.specs[ev.execution.job])
            if msg is None:
                continue
            ex = ev.execution
            ex.dispatches += 1
            self.out.logs.append(LogRecord(now, "orchestrator", "DEBUG", "DISPATCH: Attempting to send message", (
                ("execution_id", ex.id), ("target_node", node_id), ("event_type", msg["type"]),
                ("job_id", ex.job), ("seq", seq), ("plane", f"orchestrator-dispatcher-{node_id}"))))
            self.out.publishes.append(Publish(node_subject(node_id),
                                              {**msg, "node_id": node_id, "seq": seq, "plane": plane.id}))
        plane.cursor = max(plane.cursor, self.latest)

    def on_result(self, now: float, node_id: str, plane_id: Any, seq: int, outcome: str,
                  msg_type: str = "", execution_id: str = "") -> None:
        """A publish's outcome: ``ack``, ``no_responders`` (at once) or ``timeout`` (after ``ack_wait``)."""
        plane = self.planes.get(node_id)
        if plane is None or plane.id != plane_id:
            return  # a replaced or torn-down plane: "received response for unknown request"
        if outcome == "ack":
            plane.failures = 0
            return
        if plane.recovering:
            return  # "Additional failure while already recovering" (trace)
        err = NO_RESPONDERS if outcome == "no_responders" else ACK_TIMEOUT
        self._log(now, "ERROR", "Failed to publish message", node_id, error=err, eventSeq=seq,
                  subject=node_subject(node_id), messageType=msg_type, failures=plane.failures,
                  execution_id=execution_id)
        plane.failures += 1
        plane.recovering = True
        plane.running = False
        self._log(now, "INFO", "publisher reset - clearing pending messages", node_id,
                  publisher=f"orchestrator-{node_id}")
        backoff = min(self.t.plane_retry_base * 2 ** min(plane.failures - 1, 30), self.t.plane_retry_max)
        plane.retry_at = now + backoff
        self._log(now, "DEBUG", "Performing backoff", node_id, failures=plane.failures, backoff=f"{backoff:g}s")
        self.out.timers.append(Timer(plane.retry_at, ("plane_retry", node_id, plane.id)))

    def awaiting(self, node_id: str, plane_id: Any, until: float) -> None:
        """A request reached a subscriber that will not answer: its timeout falls at ``until``."""
        plane = self.planes.get(node_id)
        if plane is not None and plane.id == plane_id:
            plane.awaiting_until = max(plane.awaiting_until or until, until)

    def on_timer(self, now: float, node_id: str, plane_id: Any) -> None:
        plane = self.planes.get(node_id)
        if plane is None or plane.id != plane_id or plane.retry_at != now:
            return
        plane.retry_at = None
        plane.recovering = False
        plane.running = True
        plane.cursor = plane.start_seq  # rewind to the handshake cursor (watcher.go:176): replays since then
        self._log(now, "DEBUG", "Successfully restarted watcher after backoff", node_id, starting_at=plane.start_seq,
                  watcher_id=f"orchestrator-dispatcher-{node_id}")
        self.pump(now, node_id)

    # -- what the plane will do unasked ----------------------------------------------------------
    def due(self, now: float, node_id: str) -> tuple[str, float] | None:
        """When this node's plane will next send its events again, if it will: a recovery retry, or the
        retry after a request still waiting for its ack times out."""
        plane = self.planes.get(node_id)
        if plane is None:
            return None
        if plane.retry_at is not None:
            return "sequence-replay retry", plane.retry_at
        if plane.awaiting_until is not None and plane.awaiting_until >= now:
            backoff = min(self.t.plane_retry_base * 2 ** min(plane.failures, 30), self.t.plane_retry_max)
            return "sequence-replay retry (after the ack timeout)", plane.awaiting_until + backoff
        return None

    def _log(self, now: float, level: str, msg: str, node_id: str, **kv: object) -> None:
        self.out.logs.append(LogRecord(now, "orchestrator", level, msg, (("target_node", node_id), *kv.items())))
