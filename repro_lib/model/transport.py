"""Transport manager: the orchestrator's registry of edge connections (mechanics.md §1.3).

``publish_async`` refuses (``ErrNodeNotConnected``) only when no live connection is
registered. Otherwise it publishes into core NATS and returns success — whether or not
anyone is subscribed. That success is how a dispatch to a dead edge vanishes without error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from repro_lib.logfmt import LogRecord
from repro_lib.model.records import ConnectionCheck
from repro_lib.model.types import Outbox, Publish, Timer
from repro_lib.timings import Timings

__all__ = ["TransportManager", "ErrNodeNotConnected", "node_subject", "ORCHESTRATOR_SUBJECT"]

ORCHESTRATOR_SUBJECT = "expanso.orchestrator.in"


@lru_cache(maxsize=1 << 16)
def node_subject(node_id: str) -> str:
    """Orchestrator -> edge subject for one node (one string per node, however many messages name it)."""
    return f"expanso.node.{node_id}.in"


class ErrNodeNotConnected(Exception):
    """No live connection registered for the node."""


@dataclass
class _Connection:
    registered_at: float
    alive: bool = True


class TransportManager:
    """Connection records keyed by node id; publishes go out as :class:`Publish` outputs."""

    def __init__(self, timings: Timings, out: Outbox) -> None:
        self.t = timings
        self.out = out
        self.connections: dict[str, _Connection] = {}
        self.registering: dict[str, float] = {}

    def on_handshake(self, now: float, node_id: str) -> None:
        """A handshake replaces the node's connection (after ``transport_register_delay``)."""
        self.connections.pop(node_id, None)
        if self.t.transport_register_delay <= 0:
            self.connections[node_id] = _Connection(now)
            return
        at = now + self.t.transport_register_delay
        self.registering[node_id] = at
        self.out.timers.append(Timer(at, ("transport_register", node_id)))

    def on_timer(self, now: float, node_id: str) -> None:
        if self.registering.get(node_id) == now:
            del self.registering[node_id]
            self.connections[node_id] = _Connection(now)

    def on_disconnected(self, node_id: str) -> None:
        """The node manager declared the node disconnected: tear the connection down."""
        self.connections.pop(node_id, None)
        self.registering.pop(node_id, None)

    def reset(self) -> None:
        """Orchestrator restart: connections live in memory only."""
        self.connections.clear()
        self.registering.clear()

    def publish_async(self, now: float, node_id: str, payload: dict[str, Any]) -> None:
        """Publish to the node or raise :class:`ErrNodeNotConnected`."""
        conn = self.connections.get(node_id)
        exists, alive = conn is not None, bool(conn and conn.alive)
        self.out.logs.append(ConnectionCheck(now, node_id, exists, alive, payload.get("execution_id", "")))
        if not (exists and alive):
            self.out.logs.append(LogRecord(now, "orchestrator", "WARN",
                "PUBLISH: Node not connected - message will be LOST", (
                    ("node_id", node_id), ("execution_id", payload.get("execution_id", "")),
                    ("root_cause", "orchestrator/internal/transport/dispatcher.go:54 uses "
                     "RetryStrategySkip"),
                    ("issue", "github.com/expanso-io/expanso/issues/395"),
                )))
            raise ErrNodeNotConnected(node_id)
        self.out.publishes.append(Publish(node_subject(node_id), payload))
