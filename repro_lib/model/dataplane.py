"""Fix C, ``sequence-replay``: upstream Bacalhau's per-node data plane (docs/fix-c-sequence-replay.md §7).

Instead of the one global dispatcher that publishes into core NATS and forgets, each connected node
gets its own *plane*: a watcher over the orchestrator's persistent event log, filtered to that node,
whose publishes are requests that the edge acks. Every rule below is cited at the line that models it
(Bacalhau ``e28960c``, paths under ``pkg/``; [F] = read in the source, [I] = our reading, where the
source does not settle it). The table "behaviour -> source -> model -> test" is in docs/mechanics.md §6.1.

- the event log persists; the per-node planes, their cursors and backoff are memory only [F]
  (``jobstore/boltdb/store.go:160-173``, ``transport/nclprotocol/orchestrator/dataplane.go:27-41``);
- a handshake starts a fresh plane at the node's stored ``LastOrchestratorSeqNum`` (known node) or the
  latest event (new node); what the edge reports in the handshake is ignored [F]
  (``orchestrator/nodes/manager.go:893-908``); the stored value is what the edge last reported in a
  heartbeat, stored unconditionally, even backwards [F] (``nodes/manager.go:617, 922-923``), persisted
  at handshake and every 5 min [F] (``nodes/manager.go:28, 366-417, 523``) — only the persisted value
  survives a restart;
- every publish is tracked as *pending* until its result is read; results are read every 10 ms, in
  pending order [F] (``dispatcher/dispatcher.go:154-183``, ``dispatcher/config.go:20``);
- **an ack removes every pending message up to its seq** (``RemoveUpTo``), raises ``lastAcked`` and resets
  the recovery [F] (``dispatcher.go:185-200``, ``dispatcher/state.go:136-149``): an earlier message lost
  *without* an error (its subscriber still registered) is never timed out and never replayed — the edge's
  tracker and the heartbeat's cursor move past it (``transport/nclprotocol/tracker.go:43-49``), so not even
  the next handshake sends it;
- a publish nobody is subscribed to fails at once (NATS 503, ``nats: no responders available for
  request``); one that reaches a subscriber that never answers fails after ``ack_wait`` (30 s); a NACK
  fails it with the edge's error [F] (``lib/ncl/result.go:95-101``, ``publisher_config.go:113``,
  ``publisher_ordered.go:253-278, 389-392``); the first failure read stops the plane, resets the publisher
  and clears the pending list, and retries after 5 s doubling to 5 min, **rewinding to the handshake
  cursor** (checkpointing is off for these planes), so everything since the handshake is sent again [F]
  (``dispatcher/recovery.go:45-136``, ``dispatcher/config.go:24-25``, ``orchestrator/dataplane.go:192-194``,
  ``lib/watcher/watcher.go:176``);
- an ack read in the same 10 ms pass as a failure, after it, resets the recovery and cancels its pending
  restart: the plane stays stopped until the next handshake [F] (``dispatcher.go:166-176, 193-199``,
  ``recovery.go:99-114, 139-148``) — the recovery-reset race, §6.2(d);
- heartbeats only store the reported seq; they never trigger a resend [F];
- the node's disconnect tears its plane down [F] (``transport/nclprotocol/orchestrator/manager.go:347-368``).

Model choices the source does not settle [I]: one RUN message per execution created desired=running
and one CANCEL per desired→stopped (Expanso's vocabulary, not AskForBid/BidAccepted); a partitioned edge's
subscription stays on the server, so its requests time out after exactly ``ack_wait`` (upstream's scan
every ``AckWait/2`` makes it 30-45 s); the persisted cursor is refreshed on the first heartbeat at least
``node_persist_interval`` after the last persist (upstream: a 5-minute ticker); no event garbage collection
(upstream's deletes nothing at ``e28960c``: no orchestrator watcher writes a checkpoint, so the minimum stays
0 — ``lib/watcher/boltdb/boltdb.go:428-471``), no node-record deletion, no full publisher queue (64 /
1000 pending), no stall warning (a pending message always gets a result here within ``ack_wait``).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from repro_lib.logfmt import LogRecord
from repro_lib.model.dispatcher import ExecutionUpsert, message_for
from repro_lib.model.transport import node_subject
from repro_lib.model.types import Outbox, Publish, Timer
from repro_lib.timings import Timings

__all__ = ["DataPlanes", "Plane", "Pending", "NO_RESPONDERS", "ACK_TIMEOUT", "PROCESS_INTERVAL",
           "M_ACK_REMOVED", "M_REMOVED_IGNORED", "M_RESET_RACE"]

NO_RESPONDERS = "nats: no responders available for request"  # nats.go ErrNoResponders
ACK_TIMEOUT = "publish ack timeout"                            # lib/ncl/publisher_ordered.go:272
#: the dispatcher reads publish results every 10 ms (dispatcher/config.go:20 defaultProcessInterval)
PROCESS_INTERVAL = 0.01

# the model's own lines (upstream logs nothing at these points; its ack logs only
# "Message published successfully" at debug, dispatcher.go:188): they trace why a message was never replayed
M_ACK_REMOVED = "dispatcher: ack removed pending up to"   # + seq=N dropped=<seqs>
M_REMOVED_IGNORED = "dispatcher: failure of a message no longer pending ignored"
M_RESET_RACE = "dispatcher: ack reset the recovery, watcher stays stopped"


@dataclass(slots=True)
class Pending:
    """One published message the dispatcher tracks (``dispatcher/state.go:106-110``)."""

    seq: int
    pub: int                      # one per publish: a replayed seq is a new publish with a new future
    msg_type: str
    execution_id: str
    result: str | None = None     # the future once done: "ack", or the error's text
    timeout_at: float | None = None  # the driver said no answer will come: it fails at this time


@dataclass(slots=True)
class Plane:
    """One node's data plane (memory only)."""

    id: int                 # distinguishes a replaced plane's late results
    start_seq: int          # the handshake cursor: recovery rewinds here
    cursor: int             # the last event seq handled
    started_at: float = 0.0  # Dispatcher.Start: the phase of its 10 ms result ticker
    running: bool = True    # the watcher runs (publishes what the log holds)
    recovering: bool = False
    failures: int = 0
    retry_at: float | None = None
    last_acked: int = 0
    pending: list[Pending] = field(default_factory=list)
    tick_at: float | None = None     # the next pass over the results, when one is due
    removed: dict[int, int] = field(default_factory=dict)  # pub -> the seq whose ack removed it, still undone
    stranded: bool = False  # the recovery-reset race left the watcher stopped (until a handshake)
    awaiting_until: float | None = None  # unused: an older kit's field, kept so its pickled planes still load


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
        self._pubs = 0

    def upgrade(self) -> None:
        """Planes unpickled from an older kit (no pending list): dropped, as a restart would (they are
        memory upstream); the edges' next heartbeats are answered HandshakeRequired and they re-handshake."""
        if not hasattr(self, "_pubs"):
            self._pubs = 0
        for node_id, plane in list(self.planes.items()):
            try:
                plane.pending, plane.tick_at, plane.removed, plane.stranded  # noqa: B018 - a probe
            except AttributeError:
                del self.planes[node_id]

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
            # nodes/manager.go:475 n.Get -> enrichState (l.943-949): the live cursor (last heartbeat's) when the
            # node has live state, else the stored one; l.895-897 trusts it over what the edge reports
            start = self.live_seq.get(node_id, self.persisted.get(node_id, (0, now))[0])
        else:
            start = self.latest  # l.900-907: a new node starts at the latest event
        start = min(start, self.latest)  # lib/watcher/watcher.go:109-117 clamps a cursor beyond the latest
        self.live_seq[node_id] = start   # l.518, 528-532: the live state holds the start cursor ...
        self.persisted[node_id] = (start, now)  # ... and l.523 persists it at once
        self._ids += 1
        # orchestrator/manager.go:255-265 swaps in the new plane and stops the old one (its results are unknown
        # requests now); dispatcher.go:96-98 Start resets the state and the recovery (failures 0)
        self.planes[node_id] = Plane(self._ids, start, start, started_at=now)
        self._log(now, "DEBUG", "Data plane started", node_id, startSeqNum=start,
                  outgoingSubject=node_subject(node_id), reason="node reconnected" if known else "node registered")
        self.pump(now, node_id)
        return start

    def heartbeat(self, now: float, node_id: str, seq: Any) -> None:
        """Store the reported seq: ``updateSequenceNumbers`` sets it unconditionally, even backwards
        (``nodes/manager.go:617, 915-923``); no resend. The edge reports its tracker, which moved to the
        seq of the last message it processed (``tracker.go:43-49``), skipped ones included."""
        try:
            value = int(seq)
        except (TypeError, ValueError):
            return
        self.live_seq[node_id] = value
        stored = self.persisted.get(node_id)
        # nodes/manager.go:366-417: a 5-minute ticker persists the live state if a seq or the status changed
        # [I: refreshed at the first heartbeat that long after the last persist]
        if stored is None or (stored[0] != value and now - stored[1] >= self.t.node_persist_interval):
            self.persisted[node_id] = (value, now)

    def drop(self, now: float, node_id: str) -> None:
        """The node was marked disconnected: its plane is torn down, its retry with it
        (``orchestrator/manager.go:347-368``). The live cursor stays (``nodes/manager.go:341-352``)."""
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
                continue  # ncl_message_creator.go:83-112 returns nil: only lastObserved moves (handler.go:37-40)
            ex = ev.execution
            ex.dispatches += 1
            self.out.logs.append(LogRecord(now, "orchestrator", "DEBUG", "DISPATCH: Attempting to send message", (
                ("execution_id", ex.id), ("target_node", node_id), ("event_type", msg["type"]),
                ("job_id", ex.job), ("seq", seq), ("plane", f"orchestrator-dispatcher-{node_id}"))))
            self._pubs += 1
            # dispatcher/handler.go:61-72: PublishAsync, then the message is tracked as pending
            plane.pending.append(Pending(seq, self._pubs, str(msg["type"]), ex.id))
            self.out.publishes.append(Publish(node_subject(node_id), {
                **msg, "node_id": node_id, "seq": seq, "plane": plane.id, "pub": self._pubs}))
        plane.cursor = max(plane.cursor, self.latest)

    def on_result(self, now: float, node_id: str, plane_id: Any, seq: int, outcome: str,
                  msg_type: str = "", execution_id: str = "", pub: Any = None, error: str = "") -> None:
        """A publish's future is done: ``ack``, ``no_responders`` (at once), ``timeout`` (after ``ack_wait``)
        or ``nack`` (the edge's handler failed; ``error`` its text). It is read at the dispatcher's next
        10 ms pass (``dispatcher.go:154-183``), not here."""
        plane = self.planes.get(node_id)
        if plane is None or plane.id != plane_id:
            return  # a replaced or torn-down plane: "received response for unknown request"
        if outcome == "ack":
            text = "ack"
        elif outcome == "no_responders":
            text = NO_RESPONDERS
        elif outcome == "nack":
            # the subscriber nacks when its handler returns an error (lib/ncl/subscriber.go:99-109); the publisher
            # fails the future with the result's error (publisher_ordered.go:389-392), read like any failure [F].
            # The compute's handler never returns one (compute/message_handler.go:52-66): no driver sends it [I]
            text = error or "nack"
        else:
            text = ACK_TIMEOUT
        entry = self._find(plane, pub, seq)
        if entry is None:
            ack_seq = plane.removed.pop(pub, None) if pub is not None else None
            if ack_seq is not None and text != "ack":
                # the future fails later (publisher_ordered.go:268-274), but no pending entry holds it any more:
                # nothing reads it, no recovery, no replay
                self._log(now, "DEBUG", M_REMOVED_IGNORED, node_id, seq=seq, error=text, removed_by_ack=ack_seq,
                          execution_id=execution_id, messageType=msg_type)
            # else: cleared by a recovery (state.go:96-103; the publisher reset failed its future, recovery.go:78)
            return
        if entry.result is None:  # the first result wins (publisher_future.go:52-64, sync.Once)
            entry.result = text
        self._arm_tick(now, node_id, plane)

    def awaiting(self, node_id: str, plane_id: Any, until: float) -> None:
        """The driver says a request reached a subscriber that will not answer: it fails at ``until``.
        [I] The driver names no message: it is the first pending one not yet answered nor known to wait
        (the driver reports messages in publish order). Only :meth:`due` reads it."""
        plane = self.planes.get(node_id)
        if plane is None or plane.id != plane_id:
            return
        for entry in plane.pending:
            if entry.result is None and entry.timeout_at is None:
                entry.timeout_at = until
                return

    def on_tick(self, now: float, node_id: str, plane_id: Any) -> None:
        """``processPublishResults`` (``dispatcher.go:166-180``): every done future of a *copy* of the pending
        list, in order — a failure starts a recovery, an ack removes what is up to it."""
        plane = self.planes.get(node_id)
        if plane is None or plane.id != plane_id or plane.tick_at != now:
            return
        plane.tick_at = None
        for entry in list(plane.pending):  # state.go:151-158 GetAll: a copy; what a recovery clears is still read
            if entry.result is None:
                continue
            if entry.result == "ack":
                self._ack(now, node_id, plane, entry)
            else:
                self._fail(now, node_id, plane, entry)

    def _ack(self, now: float, node_id: str, plane: Plane, entry: Pending) -> None:
        """``handlePublishSuccess`` (``dispatcher.go:186-200``)."""
        # RemoveUpTo (state.go:136-149): drop every pending message with seq <= this one. Upstream's comment
        # (dispatcher.go:190-192): "a successful publish ... guarantees that all previous sequences must have
        # also succeeded" — not so on core NATS, where a message can vanish without an error while the next one
        # is delivered (a partition: the subscription stays registered on the server) [I]
        cut = 0
        while cut < len(plane.pending) and plane.pending[cut].seq <= entry.seq:
            cut += 1
        gone, plane.pending = plane.pending[:cut], plane.pending[cut:]
        dropped = [e for e in gone if e.result is None]
        if dropped:
            for e in dropped:
                plane.removed[e.pub] = entry.seq
            self.out.logs.append(LogRecord(now, "orchestrator", "DEBUG", M_ACK_REMOVED, (
                ("seq", entry.seq), ("dropped", ",".join(str(e.seq) for e in dropped)),
                ("dropped_executions", ",".join(e.execution_id for e in dropped)),
                ("target_node", node_id), ("execution_id", entry.execution_id), ("messageType", entry.msg_type))))
        plane.last_acked = max(plane.last_acked, entry.seq)  # state.go:51-55 updateLastAcked
        # recovery.reset() (recovery.go:139-148): failures 0; stop() ends a running recoveryLoop before it restarts
        # the watcher (l.106-110) — read in the same pass after a failure, the plane stays stopped (§6.2(d))
        if plane.recovering:
            plane.recovering, plane.retry_at, plane.stranded = False, None, True
            self._log(now, "WARN", M_RESET_RACE, node_id, seq=entry.seq, failures=plane.failures,
                      execution_id=entry.execution_id)
        plane.failures = 0

    def _fail(self, now: float, node_id: str, plane: Plane, entry: Pending) -> None:
        """``recovery.handleError`` (``recovery.go:45-88``)."""
        if plane.recovering:
            return  # l.51-57: "Additional failure while already recovering" (trace)
        self._log(now, "ERROR", "Failed to publish message", node_id, error=entry.result, eventSeq=entry.seq,
                  subject=node_subject(node_id), messageType=entry.msg_type, failures=plane.failures,
                  execution_id=entry.execution_id)
        plane.failures += 1              # l.67
        plane.recovering = True          # l.71
        plane.running = False            # l.74 the watcher stops
        self._log(now, "INFO", "publisher reset - clearing pending messages", node_id,
                  publisher=f"orchestrator-{node_id}")  # l.78 -> publisher_ordered.go:182-194
        plane.pending = []               # l.82 state.reset (state.go:96-103): pending cleared, lastAcked 0
        plane.last_acked = 0
        plane.removed.clear()
        # l.101 backoff.BackoffDuration(failures): 5 s doubling to 5 min (dispatcher/config.go:24-25)
        backoff = min(self.t.plane_retry_base * 2 ** min(plane.failures - 1, 30), self.t.plane_retry_max)
        plane.retry_at = now + backoff
        self._log(now, "DEBUG", "Performing backoff", node_id, failures=plane.failures, backoff=f"{backoff:g}s")
        self.out.timers.append(Timer(plane.retry_at, ("plane_retry", node_id, plane.id)))

    def on_timer(self, now: float, node_id: str, plane_id: Any) -> None:
        """The recovery loop's backoff ended (``recovery.go:104-133``): restart the watcher."""
        plane = self.planes.get(node_id)
        if plane is None or plane.id != plane_id or plane.retry_at != now:
            return  # torn down, replaced, or reset by an ack (the race): no restart
        plane.retry_at = None
        plane.recovering = False  # l.93-97, deferred when the loop returns
        plane.running = True
        # watcher.Start resumes at its checkpoint iterator (watcher.go:176); these planes never checkpoint
        # (orchestrator/dataplane.go:192-194, watcher.go:326-329), so it is AfterSequenceNumber(StartSeqNum)
        # (watcher.go:57-63): everything since the handshake is sent again. failures is not reset here (only an
        # ack resets it), so the next failure backs off longer
        plane.cursor = plane.start_seq
        self._log(now, "DEBUG", "Successfully restarted watcher after backoff", node_id, starting_at=plane.start_seq,
                  watcher_id=f"orchestrator-dispatcher-{node_id}")
        self.pump(now, node_id)

    # -- what the plane will do unasked ----------------------------------------------------------
    def due(self, now: float, node_id: str) -> tuple[str, float] | None:
        """When this node's plane will next send its events again, if it will: a recovery retry, or the
        retry after the first request still waiting for its ack times out — unless a later message's ack
        removes it first, which this cannot foresee."""
        plane = self.planes.get(node_id)
        if plane is None:
            return None
        if plane.retry_at is not None:
            return "sequence-replay retry", plane.retry_at
        waiting = [e.timeout_at for e in plane.pending if e.result is None and e.timeout_at is not None]
        if waiting:
            first = min(waiting)
            if first >= now:
                backoff = min(self.t.plane_retry_base * 2 ** min(plane.failures, 30), self.t.plane_retry_max)
                return "sequence-replay retry (after the ack timeout)", first + PROCESS_INTERVAL + backoff
        return None

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _find(plane: Plane, pub: Any, seq: int) -> Pending | None:
        for entry in plane.pending:
            if (entry.pub == pub) if pub is not None else (entry.seq == seq):
                return entry
        return None

    def _arm_tick(self, now: float, node_id: str, plane: Plane) -> None:
        """The dispatcher's next pass: its ticker runs every 10 ms from ``Start`` (``dispatcher.go:105, 156``)."""
        if plane.tick_at is not None:
            return
        n = int((now - plane.started_at) / PROCESS_INTERVAL + 1e-9) + 1
        plane.tick_at = plane.started_at + n * PROCESS_INTERVAL
        self.out.timers.append(Timer(plane.tick_at, ("plane_tick", node_id, plane.id)))

    def _log(self, now: float, level: str, msg: str, node_id: str, **kv: object) -> None:
        self.out.logs.append(LogRecord(now, "orchestrator", level, msg, (("target_node", node_id), *kv.items())))
