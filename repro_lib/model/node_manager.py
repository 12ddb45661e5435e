"""Node manager: handshakes, heartbeats and the health check (mechanics.md §1.2, §2.3).

Belief, not truth: a node is ``connected`` until ``disconnect_timeout`` passes without a
heartbeat, whatever happened to the edge. That window is where issue 395 lives.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from repro_lib.logfmt import LogRecord
from repro_lib.model.types import Node, NodeState, Outbox, Timer
from repro_lib.timings import Timings

__all__ = ["NodeManager", "NodeEvent", "NodeIndex", "Settled"]

# Virtual times are sums of float intervals (e.g. handshake + 15 s + 15 s), so "stable for
# connected_after" or "disconnected for lost_timeout" can come out as 29.999999999999986 s and
# miss the heartbeat/tick that should promote it. Compare ">=" thresholds with this slack.
_EPS = 1e-6


class NodeEvent(NamedTuple):
    """A connection-state change, as the reevaluator sees it (Previous -> Current)."""

    node_id: str
    previous: NodeState | None
    current: NodeState


class Settled(set):  # type: ignore[type-arg]
    """The node ids a driver settles lazily (see :class:`NodeManager`), with a revision bumped on every change
    (the health check keeps its list of nodes to look at while neither this nor the node table changes)."""

    rev = 0

    def add(self, node_id: str) -> None:
        if node_id not in self:
            super().add(node_id)
            self.rev += 1

    def discard(self, node_id: str) -> None:
        if node_id in self:
            super().discard(node_id)
            self.rev += 1

    def remove(self, node_id: str) -> None:
        super().remove(node_id)
        self.rev += 1

    def clear(self) -> None:
        super().clear()
        self.rev += 1


class NodeIndex:
    """One version of the node table, read for a reconcile: the connected nodes' ids (in the table's order)
    and, per set of unhealthy states, the ids of the nodes in none of them."""

    __slots__ = ("version", "size", "connected", "_states", "_healthy")

    def __init__(self, nodes: dict[str, Node], version: int) -> None:
        self.version, self.size = version, len(nodes)
        self._states = [(node_id, n.state) for node_id, n in nodes.items()]
        connected = NodeState.CONNECTED
        self.connected = [n.id for n in nodes.values() if n.state is connected]
        self._healthy: dict[tuple[NodeState, ...], frozenset[str]] = {}

    def healthy(self, unhealthy: tuple[NodeState, ...]) -> frozenset[str]:
        ids = self._healthy.get(unhealthy)
        if ids is None:
            ids = self._healthy[unhealthy] = frozenset(i for i, st in self._states if st not in unhealthy)
        return ids


class NodeManager:
    """Tracks every node's connection state; pure: inputs carry ``now``, outputs go to ``out``."""

    def __init__(self, timings: Timings, out: Outbox) -> None:
        self.t = timings
        self.out = out
        self.nodes: dict[str, Node] = {}
        self.checks_from = 0.0  # health checks are suspended before this (restart grace)
        # nodes whose steady heartbeats a driver settles lazily (each arrives within heartbeat_interval <
        # disconnect_timeout, so the health check cannot time them out); their last_heartbeat is brought
        # up to date by the driver whenever it is read (stacks/sim.py)
        self.settled: set[str] = Settled()
        self._watch: tuple[tuple[int, int, int], list[Node]] | None = None  # see health_check
        self.version = 0  # bumped on every node state change (drivers cache counts per state on it)
        self._counts: tuple[int, Counter[NodeState]] | None = None  # (version, nodes per state)

    # -- inputs -------------------------------------------------------------------------
    def start(self, now: float, phase: float | None = None) -> None:
        """Arm the periodic health check; the first one after ``phase`` s (default: one period)."""
        first = self.t.health_check if phase is None else phase
        self.out.timers.append(Timer(now + first, ("health_check",)))

    def handshake(self, now: float, node_id: str, name: str, labels: dict[str, str]) -> list[NodeEvent]:
        """A (re)connecting edge. Existing nodes reconnect; ``connected_after`` 0 = straight in."""
        node = self.nodes.get(node_id)
        previous = node.state if node else None
        if node is None:
            node = Node(id=node_id, name=name, labels=dict(labels))
            self.nodes[node_id] = node
            self._bump(None, node.state)
        node.last_heartbeat = now
        node.labels = dict(labels)
        self._log(now, "HANDSHAKE: Node handshake completed", node, previous=previous or "new")
        if self.t.connected_after > 0:
            node.connecting_since = now
            return self._set(now, node, NodeState.CONNECTING)
        node.connected_since = now
        if previous == NodeState.CONNECTED:
            # Reconnect inside the disconnect window: still a join for the reevaluator (B handshake).
            return [NodeEvent(node_id, previous, NodeState.CONNECTED)]
        return self._set(now, node, NodeState.CONNECTED)

    def heartbeat(self, now: float, node_id: str) -> tuple[bool, list[NodeEvent]]:
        """Refresh ``last_heartbeat``; ``False`` means handshake required (unknown/not connected)."""
        node = self.nodes.get(node_id)
        if node is None or node.state in (NodeState.DISCONNECTED, NodeState.LOST):
            return False, []
        node.last_heartbeat = now
        if node.state is NodeState.CONNECTING and now - node.connecting_since >= self.t.connected_after - _EPS:
            node.connected_since = now
            return True, self._set(now, node, NodeState.CONNECTED)
        return True, []

    def health_check(self, now: float) -> list[NodeEvent]:
        """Periodic: no heartbeat for ``disconnect_timeout`` -> disconnected; then lost."""
        self.out.timers.append(Timer(now + self.t.health_check, ("health_check",)))
        if now < self.checks_from:
            return []
        events: list[NodeEvent] = []
        timeout, lost = self.t.disconnect_timeout, self.t.lost_timeout
        for node in self._watched():
            st = node.state
            if st is NodeState.CONNECTED or st is NodeState.CONNECTING:
                if now - node.last_heartbeat > timeout:
                    node.disconnected_at = now
                    events += self._set(now, node, NodeState.DISCONNECTED, reason="heartbeat timeout")
            elif st is NodeState.DISCONNECTED and now - node.disconnected_at >= lost - _EPS:
                events += self._set(now, node, NodeState.LOST, reason="lost timeout")
        return events

    def _watched(self) -> list[Node]:
        """The nodes a health check looks at, in the table's order: all but the connected ones a driver
        settles. Kept while no node changes state and nothing is settled or woken — a quiet fleet's checks
        then cost nothing per node (a check changes only the state of the node it looks at, so the list made
        before it is the list it would make node by node)."""
        settled = self.settled
        rev = getattr(settled, "rev", None)  # a plain set: a manager unpickled from an older kit
        key = (self.version, -1 if rev is None else rev, len(self.nodes))
        watch = getattr(self, "_watch", None)
        if rev is not None and watch is not None and watch[0] == key:
            return watch[1]
        connected = NodeState.CONNECTED
        nodes = [n for n in self.nodes.values() if not (n.state is connected and n.id in settled)]
        self._watch = (key, nodes)
        return nodes

    def restart(self, now: float) -> None:
        """Orchestrator restart: persisted nodes load as connected; checks wait ``restart_grace``."""
        self.version += 1
        for node in self.nodes.values():
            if node.state is not NodeState.LOST:
                node.state = NodeState.CONNECTED
                node.last_heartbeat = now
        self.checks_from = now + self.t.restart_grace

    # -- queries ------------------------------------------------------------------------
    def connected(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.state is NodeState.CONNECTED]

    def count(self, state: NodeState) -> int:
        """How many nodes are in ``state``. Kept up to date as states change (a driver's ``wait_for``
        asks after every event: a recount each time would cost O(nodes) per node state change)."""
        counts = getattr(self, "_counts", None)  # absent on a manager unpickled from an older kit
        if counts is None or counts[0] != self.version:
            counts = (self.version, Counter(n.state for n in self.nodes.values()))
            self._counts = counts
        return counts[1][state]

    def index(self) -> NodeIndex:
        """The node table as the reconciler reads it, kept while no node changes state (at a fleet's
        node-join, 100 jobs reconcile against the same 10,000 nodes)."""
        index = getattr(self, "_index", None)  # absent on a manager unpickled from an older kit
        if index is None or index.version != self.version or index.size != len(self.nodes):
            index = self._index = NodeIndex(self.nodes, self.version)
        return index

    # -- internals ------------------------------------------------------------------------
    def _bump(self, previous: NodeState | None, state: NodeState) -> None:
        """A node changed state (``previous`` None: a new node): bump the version, carry the counts along."""
        counts = getattr(self, "_counts", None)
        self.version += 1
        if counts is not None and counts[0] == self.version - 1:
            by_state = counts[1]
            if previous is not None:
                by_state[previous] -= 1
            by_state[state] += 1
            self._counts = (self.version, by_state)

    def _set(self, now: float, node: Node, state: NodeState, reason: str = "") -> list[NodeEvent]:
        previous = node.state
        node.state = state
        self._bump(previous, state)
        fields: tuple[tuple[str, object], ...] = (
            ("node_id", node.id), ("name", node.name), ("state", str(state)),
        )
        if reason:
            fields += (("reason", reason),)
        self.out.logs.append(LogRecord(now, "orchestrator", "INFO", "NODE: state changed", fields))
        return [NodeEvent(node.id, previous, state)] if previous != state else []

    def _log(self, now: float, msg: str, node: Node, **kv: object) -> None:
        fields = (("node_id", node.id), ("name", node.name), *kv.items())
        self.out.logs.append(LogRecord(now, "orchestrator", "INFO", msg, tuple(fields)))
