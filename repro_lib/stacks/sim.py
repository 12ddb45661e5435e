"""The sim driver: the model in virtual time over an in-process core-NATS bus.

Deterministic: one heap ordered by (time, insertion order), one seeded RNG for ids and jitter.
Same seed + same steps => the identical event log.

Quiet edges cost nothing: once an edge's heartbeat is answered ``HeartbeatAck`` on a node the
orchestrator holds ``connected`` (alive, not cut off, subscribed), its later heartbeats change nothing
but two timestamps, so they are *settled lazily*: no heap event per heartbeat, the timestamps brought
up to date (with the same float additions the events would have made) whenever something reads them
or could change the picture — a fault on the edge, the orchestrator going down, a snapshot. The
node manager skips such nodes in its health check (a heartbeat at least every ``heartbeat_interval``
< ``disconnect_timeout`` can never time out). ``lazy_heartbeats=False`` runs every heartbeat as an
event; the two give the same log (tests/test_sim_lazy.py). Not used with fix C, whose heartbeats
carry a cursor the orchestrator stores.

Big runs (issue 20: 10,000 edges x 100 jobs, a million executions): the four log lines written per
execution are kept as compact records, built into ``LogRecord`` when read (model/records.py); the
publishes of one step are one heap event (handled in order, or one by one under ``wait_for``); node
counts per state are kept as states change; the cyclic collector is paused while the engine runs and
what a big step leaves is promoted without the young collections walking it. A batch's messages that
nobody subscribes to (a deploy to a killed fleet: a million run requests) are counted and logged lost
without a call each (:meth:`SimStack._deliveries`); the model's own per-execution path is inlined likewise
(dispatcher, orchestrator commit), and an evaluation that finds nothing changed reuses its job's last plan.
Runs of 32 or more are held whole (``Orchestrator.use_blocks``): a commit's new executions log one
``ChangedBlock``, the watcher's run of dispatches one ``DispatchBlock`` and one ``RunRequests`` output, and
the run requests lost to a killed fleet one ``LostBlock``; :attr:`SimStack.records` is a ``RecordLog``
that reads as the list of their lines. The log, snapshots and counts are those of before, digest for digest
(tests/test_sim_scale.py), and those of a line an object (tests/test_sim_blocks.py).
"""

from __future__ import annotations

import functools
import gc
import heapq
import itertools
import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from repro_lib.errors import StackError
from repro_lib.jobs import JobSpec
from repro_lib.logfmt import LogRecord
from repro_lib.model.dispatcher import RunRequests, run_request
from repro_lib.model.edge import Edge
from repro_lib.model.orchestrator import _HEARTBEAT_ACK, Orchestrator
from repro_lib.model.records import LostBlock, NatsOutcome, RecordLog
from repro_lib.model.transport import ORCHESTRATOR_SUBJECT, node_subject
from repro_lib.model.types import ComputeState, DesiredState, NodeState, Policies, Publish, Timer
from repro_lib.snapshot import Snapshot
from repro_lib.stacks import StackGuards, simnats
from repro_lib.stacks.simbus import Bus
from repro_lib.timings import Timings

__all__ = ["SimStack", "make_sim_stack"]

_ORCH = "orchestrator"
_TRACKED = frozenset({"RunExecutionRequest", "CancelExecution", "Assignments", "ExecutionState"})
_STEADY_REPLY = _HEARTBEAT_ACK
_COUNT_KEY = {(k, o): f"{k}:{o}" for k in _TRACKED for o in ("delivered", "lost", "dropped")}
_LOST_KEY = {k: _COUNT_KEY[k, "lost"] for k in _TRACKED}
_NODE_ID = attrgetter("node_id")


def _pause_gc() -> bool:
    """Pause Python's cyclic garbage collector while the engine runs (re-enabled by the caller).

    A big run keeps millions of live objects (10,000 edges x 100 jobs: a million executions, four million
    log lines), and every full collection walks them all — half the wall time, for nothing: the model
    makes no reference cycles as it runs (the objects it drops are freed by reference counting). The
    collector's own thresholds apply again once the step returns. Returns whether it was running."""
    if not gc.isenabled():
        return False
    gc.disable()
    return True


_PROMOTE_AFTER = 200_000  # objects left by one engine run beyond which they skip the young collections


def _resume_gc() -> None:
    """Re-enable the collector after :func:`_pause_gc`. When the run left many new objects (a fleet's
    executions and log lines: they live as long as the stack), move them straight to the oldest generation
    (``freeze`` + ``unfreeze``: two list splices) instead of letting the young collections walk them all
    twice on their way there; the next full collection sees them as usual. Not when someone else keeps
    objects frozen (``unfreeze`` would thaw theirs)."""
    if gc.get_count()[0] > _PROMOTE_AFTER and gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()
    gc.enable()


def _collector_paused(method: Callable[..., Any]) -> Callable[..., Any]:
    """A bulk step (10,000 edges booted or killed at once) runs with the collector paused, like the engine."""
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        paused = _pause_gc()
        try:
            return method(*args, **kwargs)
        finally:
            if paused:
                _resume_gc()
    return run


def _spread(batch: list[Any], i: int, end: int) -> None:
    """Cut every :class:`RunRequests` in ``batch[i:end]``, in place, into its messages."""
    for k in range(end - 1, i - 1, -1):
        item = batch[k]
        if type(item) is RunRequests:
            batch[k:k + 1] = list(item)


def _cut(run: RunRequests, subjects: list[str], subscribers: Any) -> list[Any]:
    """``run`` as the runs of its messages with no subscriber (each a :class:`RunRequests`) and, between
    them, the messages to a subscriber (each a ``Publish``), in order."""
    out: list[Any] = []
    lost: list[Any] = []
    specs = run.specs
    for ex, subject in zip(run.executions, subjects, strict=True):
        if subject in subscribers:
            if lost:
                out.append(RunRequests(lost, specs))
                lost = []
            out.append(Publish(subject, run_request(ex, specs[ex.job])))
        else:
            lost.append(ex)
    if lost:
        out.append(RunRequests(lost, specs))
    return out


def _message_size(subject: str, payload: dict[str, Any]) -> int:
    """A message's bytes on the wire: ``MSG subject sid size``, the JSON body, CRLFs."""
    return len(subject) + 24 + len(json.dumps(payload, default=str))


class _Ids:
    """The orchestrator's ids: the stack's (seeded), one at a time or ``many`` in a row (a commit's 10,000)."""

    __slots__ = ("stack",)

    def __init__(self, stack: SimStack) -> None:
        self.stack = stack

    def __call__(self, prefix: str) -> str:
        return self.stack._id(prefix)

    def many(self, prefix: str, n: int) -> list[str]:
        return self.stack._ids(prefix, n)


class SimStack(StackGuards):
    """A :class:`repro_lib.stacks.Stack` in virtual time. ``now`` is seconds since ``up``."""

    backend = "sim"

    def __init__(self, timings: Timings, policies: Policies, edges: list[str], *, seed: int = 0,
                 labels: dict[str, dict[str, str]] | None = None, lazy_heartbeats: bool = True) -> None:
        self.timings = timings
        self.policies = policies
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = 0.0
        self.records: RecordLog = RecordLog()  # runs of lines held whole (model/records.py)
        self.counts: Counter[str] = Counter()
        self.bus = Bus()
        self._heap: list[tuple[Any, ...]] = []
        self._seq = itertools.count()
        self._labels = labels or {}
        self.orch = Orchestrator(timings, policies, _Ids(self))
        self.orch.use_blocks()  # a deploy's 10,000 run requests and their lines as one output each
        self.orch_up = False
        self._orch_gen = 0
        self.edges: dict[str, Edge] = {}
        self.alive: set[str] = set()
        self.is_up = False
        self._last_t, self._same_t = -1.0, 0
        self.lazy_heartbeats = (lazy_heartbeats and not policies.sequence_replay
                                and 0 < timings.heartbeat_interval < timings.disconnect_timeout
                                and timings.edge_heartbeat_miss_factor >= 2)
        self._lazy: dict[str, float] = {}  # edge name -> its next heartbeat (settled lazily)
        # the NATS transport (simnats.py): nats_semantics "nats" = as nats-server 2.14.5 and nats.go behave,
        # "drop" = the kit's earlier reading [I] (a message to a cut-off edge dropped at once)
        self.real_nats = timings.nats_semantics == "nats"
        self.nats = simnats.settings_for(timings.nats_timings)
        self._conn: dict[str, tuple[float, int]] = {}  # edge -> (its NATS connection's start, its number)
        self._nconn = 0
        self._last_in: dict[str, float] = {}  # edge -> the last data it sent the server (the server's ping rule)
        self._held: dict[str, list[tuple[str, dict[str, Any], str, float]]] = {}  # to a cut-off edge, in TCP
        self._held_bytes: dict[str, int] = {}
        self._held_out: dict[str, list[tuple[str, dict[str, Any], float]]] = {}  # from it, in its socket
        self._rbuf: dict[str, list[tuple[str, dict[str, Any]]]] = {}  # from it after it gave up: reconnect buffer
        self._cut: dict[str, int] = {}       # edge -> the number of its current cut (a close names it)
        self._cut_at: dict[str, float] = {}
        self._stale: set[str] = set()        # edges whose connection the server closed (until they reconnect)
        self._stale_at: dict[str, float] = {}
        self._gone: dict[str, float] = {}    # edges whose client gave up on its connection -> when
        self._draining: set[str] = set()     # healed, what their connection held not yet retransmitted
        for name in edges:
            self._new_edge(name)

    # -- Stack protocol --------------------------------------------------------------------
    @_collector_paused
    def up(self) -> None:
        self._fault("ACTION", "up")
        self.is_up = True
        self._start_orchestrator(restart=False)
        for name in self.edges:
            self._boot(name)

    def down(self) -> None:
        self._fault("ACTION", "down")
        self._wake_all()
        for name in list(self.alive):
            self._stop_edge(name)
        self.orch_up = False
        self._orch_gen += 1
        self.bus.unsubscribe_owner(_ORCH)
        self.is_up = False

    def deploy(self, spec: JobSpec, *, force: bool = False) -> str:
        self._need_up()
        self._fault("ACTION", "deploy", job=spec.name)
        result = self.orch.deploy(self.now, spec, force=force)
        self._flush_orch()
        return result

    def stop_job(self, name: str) -> bool:
        self._need_up()
        self._fault("ACTION", "stop_job", job=name)
        ok = self.orch.stop_job(self.now, name)
        self._flush_orch()
        return ok

    @_collector_paused
    def kill(self, names: list[str]) -> None:
        """``docker rm -f``: the edge stops at once; nobody tells the orchestrator."""
        for name in names:
            self._need_edge(name)
        for name in names:
            if name in self.alive:
                self._fault("FAULT", "kill", target=name, node_id=self.edges[name].node_id)
                self._stop_edge(name)

    @_collector_paused
    def start(self, names: list[str], *, new_identity: bool = False) -> None:
        """``compose up -d EDGE``: same identity via the volume, or a new node id without it."""
        for name in names:
            self._need_edge(name)
        for name in names:
            if name in self.alive:
                continue  # up -d on a running service is a no-op
            edge = self.edges[name]
            if new_identity:
                edge.new_identity(self._id("n"))
            self._fault("FAULT", "start", target=name, node_id=edge.node_id, new_identity=new_identity)
            self._boot(name)

    def join(self, name: str, labels: dict[str, str] | None = None) -> None:
        if name in self.edges:
            raise StackError(f"edge {name!r} already exists", hint="use start to bring it back")
        if labels:
            self._labels[name] = dict(labels)
        self._new_edge(name)
        self._fault("FAULT", "join", target=name, node_id=self.edges[name].node_id)
        self._boot(name)

    def partition(self, names: list[str]) -> None:
        for name in names:
            self._need_edge(name)
            self._wake(name)
            self.bus.partitioned.add(name)
            self._fault("FAULT", "partition", target=name, node_id=self.edges[name].node_id)
            if self.real_nats and name not in self._cut:
                self._cut[name] = cut = next(self._seq)
                self._cut_at[name] = self.now
                conn = self._conn.get(name)
                if name in self.alive and conn is not None and name not in self._gone:
                    self._ping_rules(name, cut, conn)

    def _ping_rules(self, name: str, cut: int, conn: tuple[float, int]) -> None:
        """Push when each end's ping rule closes the cut-off connection (simnats.py)."""
        s, (at, number) = self.nats, conn
        edge = self.edges[name]
        last_in = max(self._last_in.get(name, at), edge.last_ack if edge.last_ack is not None else at,
                      simnats.last_client_ping(at, self.now, s) or at)
        first = simnats.first_ping_delay(self.seed, name, number, s.server_ping_interval)
        self._push(simnats.client_gives_up(at, self.now, s), ("nats_client_stale", name, cut, number))
        self._push(simnats.server_closes(at, self.now, last_in, first, s), ("stale_close", name, cut, "stale"))

    def heal(self, names: list[str]) -> None:
        for name in names:
            self._need_edge(name)
            was_cut = name in self.bus.partitioned
            self.bus.partitioned.discard(name)
            self._fault("FAULT", "heal", target=name, node_id=self.edges[name].node_id)
            cut = self._cut.pop(name, None)
            self._cut_at.pop(name, None)
            if not self.real_nats or not was_cut or cut is None:
                continue
            if name in self._gone:  # the client gave up: it reconnects at its next attempt after the heal
                at = simnats.reconnect_after_heal(self._gone[name], self.now, self.nats)
                self._push(at, ("nats_reconnect", name, self.edges[name].gen))
                continue
            # still connected at the client's end: what the cut held arrives at TCP's next retransmission
            # (the server's side even when it has closed since: the orphaned socket; docs/nats-transport.md row 9)
            held, out = self._held.get(name), self._held_out.get(name)
            firsts = [q[0][-1] for q in (held, out) if q]
            if name in self._stale:
                firsts.append(self._stale_at.get(name, self.now))
            if firsts:
                self._draining.add(name)
                self._push(simnats.next_retransmit(min(firsts), self.now), ("nats_drain", name, self.edges[name].gen))

    def _nats_client_stale(self, name: str, cut: int, number: int | None = None) -> None:
        """The edge's client closed its cut-off connection as stale (nats.go:5908-5914): what the server wrote
        to it, and what it had written itself, is lost; it publishes into its reconnect buffer from now on."""
        if self._cut.get(name) != cut or name not in self.alive or name in self._gone \
                or (number is not None and self._conn.get(name, (0.0, None))[1] != number):
            return
        self._gone[name] = self.now
        self._lose(self._held.pop(name, []), "gone")
        self._held_bytes.pop(name, None)
        self._lose([(sub, p, name, t) for sub, p, t in self._held_out.pop(name, [])], "gone")
        self.records.append(LogRecord(self.now, "nats", "WARN", "NATS: client connection stale - reconnecting", (
            ("client", name), ("node_id", self.edges[name].node_id), ("source", "nats.go:5908-5914"))))

    def _stale_close(self, name: str, cut: int, why: str = "stale") -> None:
        """The server closed a cut-off edge's connection, as stale (no PONG; client.go:5861-5866) or as a slow
        consumer (its write deadline passed; client.go:1947-1997): its subscription is gone, so every later
        message to the edge finds no subscriber until the edge reconnects. What it had written stays in TCP
        for a client that still holds its socket; what it had not (past the kernel's buffers) is lost."""
        if self._cut.get(name) != cut or name not in self.bus.partitioned or name in self._stale:
            return
        self._stale.add(name)
        self._stale_at[name] = self.now
        self.bus.unsubscribe_owner(name)
        held = self._held.get(name, [])
        if why == "slow":
            kept, size = 0, 0
            for sub, p, _snd, _t in held:
                size += _message_size(sub, p)
                if size > simnats.SOCKET_BUFFER:
                    break
                kept += 1
            self._lose(held[kept:], "slow")
            del held[kept:]
        text = ("NATS: Slow Consumer Detected - connection closed" if why == "slow"
                else "NATS: Stale Client Connection - Closing")
        self.records.append(LogRecord(self.now, "nats", "WARN", text, (
            ("client", name), ("node_id", self.edges[name].node_id), ("held", len(held)),
            ("source", "client.go:1947-1997" if why == "slow" else "client.go:5861-5866"))))

    def _lose(self, items: list[tuple[str, dict[str, Any], str, float]], outcome: str) -> None:
        for subject, payload, _sender, _t in items:
            kind = payload.get("type")
            if kind in _TRACKED:
                self.counts[_COUNT_KEY[kind, "dropped"]] += 1
                self.records.append(NatsOutcome(self.now, outcome, subject, kind, payload.get("execution_id", ""),
                                                payload.get("node_id")))

    def _nats_drain(self, name: str, gen: int) -> None:
        """The heal's first retransmission: what the cut held arrives, in order, once; then, if the server
        closed the connection meanwhile, the client reads the close and reconnects at once."""
        self._draining.discard(name)
        if name not in self.alive or self.edges[name].gen != gen:
            return
        for subject, payload, _t in self._held_out.pop(name, []):
            self._deliver(subject, payload, name)
        for subject, payload, sender, _t in self._held.pop(name, []):
            self._deliver_held(subject, payload, sender, name)
        self._held_bytes.pop(name, None)
        if name in self._stale:  # then it reads the close, waits, and reconnects
            self._reconnect_later(name)

    def _deliver_held(self, subject: str, payload: dict[str, Any], sender: str, owner: str) -> None:
        """A held message reaches its edge (whatever the subscription table says now: it was written before)."""
        kind = payload.get("type")
        if kind in _TRACKED:
            self.counts[_COUNT_KEY[kind, "delivered"]] += 1
            if kind != "ExecutionState":
                self.records.append(NatsOutcome(self.now, "delivered", subject, kind, payload.get("execution_id", ""),
                                                payload.get("node_id")))
        self.edges[owner].on_message(self.now, payload)
        self._flush_edge(owner)
        if self.policies.sequence_replay:
            self._request_answered(payload, sender, owner)

    def _nats_reconnect(self, name: str, gen: int) -> None:
        """The edge's client is connected again: it subscribes again, then sends its reconnect buffer
        (nats.go:3504-3507, 4593-4596; docs/nats-transport.md rows 6, 20)."""
        if name not in self.alive or self.edges[name].gen != gen or name in self.bus.partitioned:
            return
        self._gone.pop(name, None)
        self._stale.discard(name)
        self._stale_at.pop(name, None)
        self._connected(name)
        self.records.append(LogRecord(self.now, "nats", "INFO", "NATS: client reconnected - subscriptions resent", (
            ("client", name), ("node_id", self.edges[name].node_id))))
        for subject, payload in self._rbuf.pop(name, []):
            self._deliver(subject, payload, name)

    def _connected(self, name: str) -> None:
        """A new NATS connection for the edge: its subscription, and the ping timers' phase."""
        self.bus.subscribe(self.edges[name].subject, name)
        self._nconn += 1
        self._conn[name] = (self.now, self._nconn)

    # -- transport faults a search can draw (sim only): the server or the client ends a connection ----------
    def stale_close(self, names: list[str]) -> None:
        """The server closes the edges' connections as stale (its ping rule, fired now)."""
        self._transport_fault(names, "stale_close", "stale")

    def slow_consumer(self, names: list[str]) -> None:
        """The server closes the edges' connections as slow consumers (a write deadline passed, now)."""
        self._transport_fault(names, "slow_consumer", "slow")

    def reconnect(self, names: list[str]) -> None:
        """The edges' clients drop their connections and reconnect (a read error, their own ping rule)."""
        self._transport_fault(names, "reconnect", "client")

    def _transport_fault(self, names: list[str], op: str, why: str) -> None:
        for name in names:
            self._need_edge(name)
        for name in names:
            if name not in self.alive:
                continue
            self._wake(name)
            edge = self.edges[name]
            self._fault("FAULT", op, target=name, node_id=edge.node_id)
            if name in self.bus.partitioned:
                if not self.real_nats:
                    continue
                if why == "client":
                    self._nats_client_stale(name, self._cut[name])
                else:
                    self._stale_close(name, self._cut[name], why)
                continue
            # connected: the close reaches the other end at once; a closed subscription loses what is in
            # flight to it (slow consumer: accepted, not written; the client's own close: unread), a stale close
            # keeps what was written (docs/nats-transport.md rows 4, 15, 21)
            self.bus.unsubscribe_owner(name)
            self.records.append(LogRecord(self.now, "nats", "WARN", {
                "stale": "NATS: Stale Client Connection - Closing",
                "slow": "NATS: Slow Consumer Detected - connection closed",
                "client": "NATS: client connection closed - reconnecting"}[why], (
                ("client", name), ("node_id", edge.node_id))))
            self._in_flight(name, why)
            if why == "client":
                self._gone[name] = self.now  # it publishes into its reconnect buffer until it is back
            else:
                self._stale.add(name)
            self._reconnect_later(name)

    def _reconnect_later(self, name: str) -> None:
        """The edge's client lost its connection just now: it sleeps ``ReconnectWait`` (+ jitter), then connects."""
        self._nconn += 1
        delay = simnats.reconnect_delay(self.seed, name, self._nconn, self.nats)
        self._push(self.now + delay, ("nats_reconnect", name, self.edges[name].gen))

    def _in_flight(self, name: str, why: str) -> None:
        """Messages published to the edge and not yet delivered when its connection ends: written (a stale
        close) they still arrive; otherwise they are lost with it."""
        subject = self.edges[name].subject
        outcome = "slow" if why == "slow" else "gone"
        keep, written = [], []
        for entry in self._heap:
            item = entry[2]
            if item[0] == "deliver" and item[1] == subject:
                written.append((entry[0], item[1], item[2], item[3]))
                continue
            if item[0] == "deliveries":
                batch, i = item[1], item[2]
                _spread(batch, i, len(batch))
                mine = [m for m in batch[i:] if m[0] == subject]
                if mine:
                    written += [(entry[0], sub, p, item[3]) for sub, p in mine]
                    batch[i:] = [m for m in batch[i:] if m[0] != subject]
                    if len(batch) == i:
                        continue
            keep.append(entry)
        if not written:
            return
        self._heap[:] = keep
        heapq.heapify(self._heap)
        for at, sub, payload, sender in written:
            if why == "stale":
                self._push(at, ("deliver_written", sub, payload, sender, name, self.edges[name].gen))
            else:
                self._lose([(sub, payload, sender, at)], outcome)

    def restart_orchestrator(self, downtime: float = 5.0) -> None:
        self._need_up()
        self._fault("FAULT", "restart", target=_ORCH, downtime=f"{downtime:g}s")
        self._wake_all()
        self.orch_up = False
        self._orch_gen += 1
        self.bus.unsubscribe_owner(_ORCH)
        self._push(self.now + downtime, ("orch_up",))
        # like the live stacks (stop, wait out the downtime, start): the step returns with the
        # orchestrator up again, so no later step talks to an orchestrator that is not there
        self.run_until(self.now + downtime)

    def advance(self, seconds: float) -> None:
        """``sleep``: let virtual time pass."""
        self.run_until(self.now + seconds)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Process events until ``predicate()`` holds or ``timeout`` virtual seconds pass."""
        deadline = self.now + timeout
        if predicate():
            return True
        heap = self._heap
        paused = _pause_gc()
        try:
            while heap and heap[0][0] <= deadline:
                self._step(single=True)
                if predicate():
                    return True
        finally:
            if paused:
                _resume_gc()
        self.now = deadline
        return predicate()

    def snapshot(self, label: str = "") -> Snapshot:
        self._fault("ACTION", "snapshot", label=label)
        self._settle_all(self.now)
        nodes = self.orch.nodes.nodes
        names = {n.id: n.name for n in nodes.values()}
        live_ids = {self.edges[n].node_id: n for n in self.alive}
        due = self.orch.remedies(self.now) if self.orch_up else {}
        none, partitioned = (None, None), self.bus.partitioned
        return Snapshot(
            t_s=self.now,
            label=label,
            nodes=[{"id": n.id, "name": n.name, "state": n.state._value_,
                    "alive": n.id in live_ids and live_ids[n.id] not in partitioned,
                    "connected_since": n.connected_since, "last_heartbeat": n.last_heartbeat}
                   for n in nodes.values()],
            jobs=[{"name": j.name, "id": j.id, "type": j.type, "state": str(j.state),
                   "version": j.version} for j in self.orch.jobs.values()],
            # a state's text is its member's _value_ (what str() of the StrEnum copies)
            executions=[{"id": e.id, "job": e.job, "node": e.node_id,
                         "node_name": names.get(e.node_id, ""), "state": e.state._value_,
                         "desired": e.desired._value_, "version": e.version,
                         "created_at": e.created_at, "updated_at": e.updated_at,
                         "dispatches": e.dispatches,
                         # the model's own timers: which fix re-sends it, and when (None: nothing will)
                         "remedy": (r := due.get(e.id, none))[0], "remedy_at": r[1]}
                        for e in self.orch.executions.values()],
        )

    # -- conditions for wait_for -----------------------------------------------------------
    def count_nodes(self, state: str) -> int:
        return self.orch.nodes.count(NodeState(state))  # kept as states change: a wait_for asks after every event

    def job_state(self, name: str) -> str | None:
        job = self.orch.jobs.get(name)
        return str(job.state) if job else None

    def count_executions(self, job: str, state: str) -> int:
        st = ComputeState(state)
        return sum(1 for e in self.orch.by_job.get(job, ())
                   if e.state is st and e.desired is not DesiredState.STOPPED)

    # -- the engine --------------------------------------------------------------------------
    def run_until(self, t: float) -> None:
        heap = self._heap
        if heap and heap[0][0] <= t:
            paused = _pause_gc()
            try:
                while heap and heap[0][0] <= t:
                    self._step()
            finally:
                if paused:
                    _resume_gc()
        self.now = t

    _SAME_TIME_LIMIT = 1_000_000  # events at one instant before we call it a livelock

    def _guard(self, at: float) -> None:
        if at == self._last_t:
            self._same_t += 1
            if self._same_t > self._SAME_TIME_LIMIT:
                raise StackError(f"the model is not advancing time (over {self._SAME_TIME_LIMIT:,} events at "
                                 f"t={at:g}s)", hint="check for a zero interval in the timings")
        else:
            self._last_t, self._same_t = at, 0

    def _push(self, at: float, item: tuple[Any, ...]) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), item))

    def _step(self, single: bool = False) -> None:
        """Pop the next event and handle it. A batch of deliveries (the publishes of one step, all due at
        the same instant with consecutive sequence numbers, so nothing can come between them) is
        handled whole, or — ``single``, for ``wait_for``, whose predicate is asked after every message —
        one message at a time, the rest pushed back under the same key."""
        heap = self._heap
        at, seq, item = heapq.heappop(heap)
        if at == self.now:
            self._guard(at)
        self.now = at
        op = item[0]
        if op == "deliveries":
            self._deliveries(at, seq, item[1], item[2], item[3], single)
        elif op == "timer":
            _, target, gen, key = item
            if target == _ORCH:
                # a re-armed debounce (every node event re-arms the reevaluator's batch timer: 10^4 in a fleet's
                # boot) fires as a no-op at every deadline but the last: not handed to the model at all
                if self.orch_up and gen == self._orch_gen and (key[0] != "reeval_batch"
                                                                or self.orch.reevaluator.deadline == at):
                    self.orch.on_timer(at, key)
                    self._flush_orch()
            elif target in self.alive and self.edges[target].gen == gen:
                self._edge_timer(target, key)
        elif op == "deliver":
            self._deliver(item[1], item[2], item[3])
        elif op == "plane_result":
            if self.orch_up and item[1] == self._orch_gen:
                self.orch.on_publish_result(at, item[2], item[3])
                self._flush_orch()
        elif op == "report_result":
            self._report_result(item[1], item[2], item[3], item[4])
        elif op == "orch_up":
            self._start_orchestrator(restart=True)
        elif op == "stale_close":
            self._stale_close(item[1], item[2], item[3])
        elif op == "nats_client_stale":
            self._nats_client_stale(item[1], item[2], item[3])
        elif op == "nats_drain":
            self._nats_drain(item[1], item[2])
        elif op == "nats_reconnect":
            self._nats_reconnect(item[1], item[2])
        elif op == "deliver_written":
            if item[4] in self.alive and self.edges[item[4]].gen == item[5]:
                self._deliver_held(item[1], item[2], item[3], item[4])

    def _deliveries(self, at: float, seq: int, batch: list[Any], i: int, sender: str, single: bool) -> None:
        """The publishes of one step (``batch[i:]``, all from ``sender``), in order; see :meth:`_step`.

        A message to a subject nobody subscribes to (every run request to a killed fleet: a million at
        scale) is counted and logged ``lost`` right here — what :meth:`Bus.route` and :meth:`_deliver`
        do for it, without their calls; any other message goes through :meth:`_deliver`. A
        :class:`RunRequests` (a deploy's run requests, held whole) none of whose subjects has a subscriber
        is lost whole, as one :class:`LostBlock`; any other is first cut, in place, into such runs and the
        messages between them. (Who is partitioned and the fix C requests cannot change while the engine
        runs; subscriptions are looked up message by message, a run's as the run is reached.)"""
        fast = not self.policies.sequence_replay and sender not in self.bus.partitioned
        if single or not fast:
            _spread(batch, i, i + 1 if single else len(batch))
        end = i + 1 if single else len(batch)
        deliver, guard = self._deliver, self._guard
        subscribers, counts, records = self.bus.subscribers, self.counts, self.records
        try:
            while True:
                item = batch[i]
                if type(item) is RunRequests:  # fast, and more messages than one event
                    subjects = list(map(node_subject, map(_NODE_ID, item.executions)))
                    if not subscribers.keys().isdisjoint(subjects):  # some subject has a subscriber
                        batch[i:i + 1] = _cut(item, subjects, subscribers)
                        end = len(batch)
                        continue
                    n = len(subjects)
                    # its first message was guarded (by _step, or below as "the next message"); the rest
                    if not self._guard_many(at, n - 1):
                        _spread(batch, i, i + 1)  # message by message: the error comes at the one it names
                        end = len(batch)
                        continue
                    counts[_LOST_KEY["RunExecutionRequest"]] += n
                    records.append(LostBlock(at, item.executions, subjects))
                    i += 1
                else:
                    subject, payload = item
                    i += 1
                    if fast and subject not in subscribers:
                        kind = payload.get("type")
                        key = _LOST_KEY.get(kind)
                        if key is not None:  # kind in _TRACKED
                            counts[key] += 1
                            records.append(NatsOutcome(at, "lost", subject, kind, payload.get("execution_id", ""),
                                                       payload.get("node_id")))
                    else:
                        deliver(subject, payload, sender)
                if i == end:
                    break
                guard(at)  # the next message, at the same instant
        finally:
            if i < len(batch):  # single, or a message raised: the rest stay due
                heapq.heappush(self._heap, (at, seq, ("deliveries", batch, i, sender)))

    def _guard_many(self, at: float, n: int) -> bool:
        """:meth:`_guard` ``n`` times; or, when that would pass the limit, nothing and False."""
        if n <= 0:
            return True
        same = self._same_t + n if at == self._last_t else n - 1
        if same > self._SAME_TIME_LIMIT:
            return False
        self._last_t, self._same_t = at, same
        return True

    def _edge_timer(self, name: str, key: tuple[Any, ...]) -> None:
        edge = self.edges[name]
        now = self.now
        if key[0] in ("subscribe", "heartbeat") and self.bus.subscribers.get(edge.subject) != name:
            # the process is up and connected to NATS: it subscribes to its subject (the live edge does so
            # ~0.1 s after its start, before it handshakes); a dispatch published before that found no
            # subscriber and was lost. Under the real transport a cut-off edge cannot reach the server, and
            # one whose connection was closed subscribes again when its client reconnects (_nats_reconnect).
            if not self.real_nats:
                self.bus.subscribe(edge.subject, name)
            elif name not in self.bus.partitioned and name not in self._gone and name not in self._stale \
                    and name not in self._draining:
                self._connected(name)
        if key[0] == "subscribe":
            return
        request = edge.on_timer(now, key)
        if request is not None:  # handshake / heartbeat: NATS request-reply, answered in place
            if name not in self.bus.partitioned:
                self._last_in[name] = now
            reply = None
            if self.orch_up and name not in self.bus.partitioned:
                reply = self.orch.on_message(now, request)
                out = self.orch.out
                if out.publishes or out.timers or out.logs:
                    self._flush_orch()
            edge.on_reply(now, reply)
            # steady from the handshake on: its first heartbeat would be answered HeartbeatAck like the rest
            if (reply is _STEADY_REPLY or (reply is not None and reply.get("type") == "HandshakeAck")) \
                    and self.lazy_heartbeats and self._steady(name):
                timers = edge.out.timers
                if timers and timers[-1].key == ("heartbeat",):
                    self._lazy[name] = timers.pop().at
                    self.orch.nodes.settled.add(edge.node_id)
        self._flush_edge(name)

    # -- quiet edges, settled lazily -------------------------------------------------------------
    def _steady(self, name: str) -> bool:
        """The edge's next heartbeats can only be answered HeartbeatAck and change nothing else."""
        edge = self.edges[name]
        node = self.orch.nodes.nodes.get(edge.node_id)
        return (node is not None and node.state is NodeState.CONNECTED and edge.connected
                and edge.node_id in self.orch.transport.connections and self.bus.subscribers.get(edge.subject) == name)

    def _settle(self, name: str, until: float) -> float:
        """Apply the lazily settled heartbeats up to ``until``: the edge's last ack and the node's last
        heartbeat, by the same float additions the timer events make. Returns the next heartbeat time."""
        nxt = self._lazy[name]
        if nxt > until:
            return nxt
        interval = self.timings.heartbeat_interval
        last = nxt
        while nxt <= until:
            last, nxt = nxt, nxt + interval
        edge = self.edges[name]
        edge.last_ack = last
        node = self.orch.nodes.nodes.get(edge.node_id)
        if node is not None:
            node.last_heartbeat = last
        self._lazy[name] = nxt
        return nxt

    def _settle_all(self, until: float) -> None:
        """:meth:`_settle` of every lazily settled edge: the same float additions (numpy's float64 addition is
        Python's), made for all the edges at once, one array addition per heartbeat interval passed instead of
        one Python step per edge per heartbeat (a snapshot after an hour of 10,000 quiet edges: 2.4 million)."""
        lazy = self._lazy
        if len(lazy) < 64:
            for name in list(lazy):
                self._settle(name, until)
            return
        names = list(lazy)
        nxt = np.fromiter(lazy.values(), dtype=np.float64, count=len(names))
        behind = np.flatnonzero(nxt <= until)
        if not len(behind):
            return
        interval = self.timings.heartbeat_interval
        last = nxt.copy()
        moving = nxt <= until
        while moving.any():
            np.copyto(last, nxt, where=moving)
            np.add(nxt, interval, out=nxt, where=moving)
            np.less_equal(nxt, until, out=moving)
        lasts, nexts = last.tolist(), nxt.tolist()  # Python floats again
        nodes = self.orch.nodes.nodes
        for k in behind.tolist():
            name = names[k]
            edge = self.edges[name]
            edge.last_ack = lasts[k]
            node = nodes.get(edge.node_id)
            if node is not None:
                node.last_heartbeat = lasts[k]
            lazy[name] = nexts[k]

    def _wake(self, name: str, *, resume: bool = True) -> None:
        """The edge's heartbeats become events again (a fault, the orchestrator going away)."""
        if name not in self._lazy:
            return
        nxt = self._settle(name, self.now)
        del self._lazy[name]
        edge = self.edges[name]
        self.orch.nodes.settled.discard(edge.node_id)
        if resume:
            self._push(nxt, ("timer", name, edge.gen, ("heartbeat",)))

    def _wake_all(self) -> None:
        self._settle_all(self.now)
        for name in list(self._lazy):
            self._wake(name)

    def _deliver(self, subject: str, payload: dict[str, Any], sender: str) -> None:
        owner, outcome = self.bus.route(subject, sender)
        kind = payload.get("type")
        if self.real_nats and (outcome == "dropped" or self._gone or self._draining) \
                and self._nats_route(subject, payload, sender, kind):
            return
        if kind in _TRACKED:
            self.counts[_COUNT_KEY[kind, outcome]] += 1
            if outcome != "delivered" or kind != "ExecutionState":
                # kept as its values; the line is built when read (model/records.py)
                self.records.append(NatsOutcome(self.now, outcome, subject, kind, payload.get("execution_id", ""),
                                                payload.get("node_id")))
        if self.policies.sequence_replay:
            self._request_outcome(payload, sender, outcome)
        if owner is None:
            return
        if owner == _ORCH:
            reply = self.orch.on_message(self.now, payload)
            self._flush_orch()
            if reply is not None:
                self._publish(f"expanso.node.{payload['node_id']}.in", reply, _ORCH)
        else:
            self.edges[owner].on_message(self.now, payload)
            self._flush_edge(owner)
        if self.policies.sequence_replay:
            self._request_answered(payload, sender, owner)

    def _nats_route(self, subject: str, payload: dict[str, Any], sender: str, kind: Any) -> bool:
        """A message a cut, a closed or a draining connection holds or loses (simnats.py); False: the bus's."""
        now = self.now
        if sender != _ORCH and sender in self.edges:
            if sender in self._gone:  # its client is reconnecting: the reconnect buffer (8 MiB, nats.go:63)
                self._rbuf.setdefault(sender, []).append((subject, payload))
            elif sender in self.bus.partitioned or sender in self._draining:  # in its socket, till the heal
                self._held_out.setdefault(sender, []).append((subject, payload, now))
                if kind in _TRACKED:
                    self.records.append(NatsOutcome(now, "held", subject, kind, payload.get("execution_id", ""),
                                                    payload.get("node_id")))
            else:
                return False
            if self.policies.sequence_replay:  # no ack can come back through the cut [I]
                self._request_outcome(payload, sender, "dropped")
            return True
        sub = self.bus.subscribers.get(subject)
        if sub is None or sub == _ORCH:
            return False
        if sub in self._gone:  # written into a connection its client has given up: lost
            self._lose([(subject, payload, sender, now)], "gone")
        elif sub in self.bus.partitioned or sub in self._draining:  # held in TCP (behind what is held)
            self._held.setdefault(sub, []).append((subject, payload, sender, now))
            size = self._held_bytes.get(sub, 0) + _message_size(subject, payload)
            self._held_bytes[sub] = size
            if kind in _TRACKED:
                self.records.append(NatsOutcome(now, "held", subject, kind, payload.get("execution_id", ""),
                                                payload.get("node_id")))
            if sub in self._cut and size > simnats.SOCKET_BUFFER >= size - _message_size(subject, payload):
                # the kernel's buffers are full: the server's flush blocks, and its write deadline runs
                self._push(now + self.nats.write_deadline, ("stale_close", sub, self._cut[sub], "slow"))
        else:
            return False
        if self.policies.sequence_replay:
            self._request_outcome(payload, sender, "dropped")
        return True

    # fix C: a plane's message and an edge's state report are requests the receiver acks. No subscriber
    # = NATS's 503 at once; a subscriber cut off by a partition is still registered on the server, so the
    # request times out after ack_wait [I]; delivered = acked once handled (the reply's latency ignored).
    def _request_outcome(self, payload: dict[str, Any], sender: str, outcome: str) -> None:
        if outcome == "delivered":
            return
        late = self.now + self.timings.ack_wait if outcome == "dropped" else self.now
        result = "timeout" if outcome == "dropped" else "no_responders"
        if sender == _ORCH and "seq" in payload:
            if late > self.now:
                self.orch.planes.awaiting(str(payload.get("node_id")), payload.get("plane"), late)
            self._push(late, ("plane_result", self._orch_gen, payload, result))
        elif sender != _ORCH and payload.get("type") == "ExecutionState" and sender in self.edges:
            self._push(late, ("report_result", sender, self.edges[sender].gen, payload, False))

    def _request_answered(self, payload: dict[str, Any], sender: str, owner: str) -> None:
        if sender == _ORCH and "seq" in payload:
            self.orch.on_publish_result(self.now, payload, "ack")
            self._flush_orch()
        elif owner == _ORCH and payload.get("type") == "ExecutionState" and sender in self.alive:
            self._report_result(sender, self.edges[sender].gen, payload, True)

    def _report_result(self, name: str, gen: int, payload: dict[str, Any], ok: bool) -> None:
        edge = self.edges[name]
        if name in self.alive and edge.gen == gen:
            edge.on_report_result(self.now, str(payload.get("execution_id")), str(payload.get("state")), ok)
            self._flush_edge(name)

    def _publish(self, subject: str, payload: dict[str, Any], sender: str) -> None:
        self._push(self.now + self.timings.nats_latency, ("deliver", subject, payload, sender))

    def _flush_orch(self) -> None:
        pubs, timers, logs = self.orch.drain()
        self._emit(pubs, timers, logs, _ORCH, self._orch_gen)

    def _flush_edge(self, name: str) -> None:
        edge = self.edges[name]
        pubs, timers, logs = edge.drain()
        if logs:  # an edge logs lines only, never a block
            self.records.extend_lines(logs)
        if pubs or timers:
            self._emit(pubs, timers, (), name, edge.gen)

    def _emit(self, pubs: list[Publish], timers: list[Timer], logs: Sequence[LogRecord], owner: str,
              gen: int) -> None:
        if len(pubs) == 1 and type(pubs[0]) is RunRequests and len(pubs[0]) == 1:
            pubs = list(pubs[0])  # one message: as one
        if len(pubs) > 1 or (pubs and type(pubs[0]) is RunRequests):
            # one heap event for them all, in order (see _step); the drained list itself
            self._push(self.now + self.timings.nats_latency, ("deliveries", pubs, 0, owner))
        elif pubs:
            self._publish(pubs[0].subject, pubs[0].payload, owner)
        if timers:  # what _push does, for each
            heap, seq = self._heap, self._seq
            for tm in timers:
                heapq.heappush(heap, (tm.at, next(seq), ("timer", owner, gen, tm.key)))
        if logs:
            self.records.extend(logs)

    # -- helpers ------------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        return f"{prefix}-{self.rng.getrandbits(32):08x}"

    def _ids(self, prefix: str, n: int) -> list[str]:
        """``n`` ids in a row: the same as ``n`` calls of :meth:`_id`. One draw of ``32 n`` bits is those ``n``
        draws of 32, the first in the lowest word (CPython fills a long draw a 32-bit word at a time, from the
        least significant; ``tests/test_sim_blocks.py`` checks it)."""
        if n <= 0:
            return []
        words = self.rng.getrandbits(32 * n).to_bytes(4 * n, "big")  # the last draw first
        head = prefix + "-"
        if " " in head:
            hexed = words.hex()
            return [head + hexed[k:k + 8] for k in range(8 * (n - 1), -8, -8)]
        ids = (head + words.hex(" ", 4).replace(" ", " " + head)).split(" ")  # C loops, not one per id
        ids.reverse()
        return ids

    def _new_edge(self, name: str) -> None:
        self.edges[name] = Edge(name, self._id("n"), self.timings, labels=self._labels.get(name),
                                reconcile_on_connect=self.policies.edge_reconcile,
                                sequence_replay=self.policies.sequence_replay)

    def _boot(self, name: str) -> None:
        edge = self.edges[name]
        self.alive.add(name)
        edge.boot(self.now)
        pubs, timers, logs = edge.drain()
        jitter = self.rng.uniform(0.0, 0.5)  # container start-up varies; moves the heartbeat phase
        timers = [Timer(t.at + jitter, t.key) if t.key == ("heartbeat",) else t for t in timers]
        # subscribed once connected to NATS (see _edge_timer); a kill before that cancels it with the process
        timers.append(Timer(self.now + min(self.timings.edge_connect_delay, self.timings.edge_boot_delay),
                            ("subscribe",)))
        self._emit(pubs, timers, logs, name, edge.gen)

    def _stop_edge(self, name: str) -> None:
        self._wake(name, resume=False)
        edge = self.edges[name]
        self.alive.discard(name)
        self.bus.unsubscribe_owner(name)
        # its connection dies with it: what it held is lost (to it: no reader; from it: unsent)
        self._lose(self._held.pop(name, []), "gone")
        self._held_out.pop(name, None)
        self._rbuf.pop(name, None)
        self._held_bytes.pop(name, None)
        self._gone.pop(name, None)
        self._stale.discard(name)
        self._stale_at.pop(name, None)
        self._draining.discard(name)
        self._conn.pop(name, None)
        edge.gen += 1  # its pending timers die with the process

    def _start_orchestrator(self, *, restart: bool) -> None:
        self.orch_up = True
        self._orch_gen += 1
        self.bus.subscribe(ORCHESTRATOR_SUBJECT, _ORCH)
        # the health check's phase against the edges' heartbeats varies from run to run
        phase = self.rng.uniform(0.0, self.timings.health_check)
        if restart:
            self.orch.restart(self.now, check_phase=phase)
        else:
            # the banner the live orchestrator logs at start (repro_lib/emulator/orchestrator.py): its settings
            t = self.timings
            self.records.append(LogRecord(self.now, _ORCH, "INFO", "ORCHESTRATOR: started", (
                ("restart", False), ("heartbeat_interval", f"{t.heartbeat_interval:g}s"),
                ("disconnect_timeout", f"{t.disconnect_timeout:g}s"),
                ("reeval_batch_delay", f"{t.reeval_batch_delay:g}s"),
                ("fix", "+".join(self.policies.names)), ("preset", t.preset),
                # the drop reading is the kit's, not NATS's: said where it runs (reconstruct reads it back)
                *((("nats", "drop"),) if not self.real_nats else ()))))
            self.orch.start(self.now, check_phase=phase)
        self._flush_orch()

    def _fault(self, kind: str, what: str, **kv: object) -> None:
        self.records.append(LogRecord(self.now, "sim", "INFO", f"{kind}: {what}", tuple(kv.items())))


#: the default for ``lazy_heartbeats`` (a benchmark switches it off to measure the old way beside the new)
LAZY_HEARTBEATS = True


def make_sim_stack(sc: Any, seed: int = 0, **options: Any) -> SimStack:
    """``STACKS["sim"]``: the scenario's timings, fixes, edges and labels in virtual time."""
    return SimStack(sc.timings, sc.policies, sc.edges, seed=seed, labels=sc.labels,
                    lazy_heartbeats=bool(options.get("lazy_heartbeats", LAZY_HEARTBEATS)))
