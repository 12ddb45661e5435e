"""ReEvaluator: node-join / node-leave batching (mechanics.md §1.7).

Each connection event resets a ``reeval_batch_delay`` debounce timer; a batch is processed when
no event came for that long, or at once when ``reeval_max_batch`` distinct nodes wait. A batch
with any join gives ``node-join`` evaluations, else ``node-leave``.
"""

from __future__ import annotations

from repro_lib.logfmt import LogRecord
from repro_lib.model.node_manager import NodeEvent
from repro_lib.model.types import EvalTrigger, NodeState, Outbox, Timer
from repro_lib.timings import Timings

__all__ = ["ReEvaluator", "classify"]


def classify(ev: NodeEvent) -> str | None:
    """Current==CONNECTED -> join; Previous==CONNECTED -> leave; lost -> leave; else ignored."""
    if ev.current is NodeState.CONNECTED:
        return "join"
    if ev.previous is NodeState.CONNECTED or ev.current is NodeState.LOST:
        return "leave"
    return None


class ReEvaluator:
    """Collects node events; :meth:`on_timer` returns the batch to evaluate, if due."""

    def __init__(self, timings: Timings, out: Outbox) -> None:
        self.t = timings
        self.out = out
        self.batch: dict[str, str] = {}
        self.deadline: float | None = None

    def on_node_event(self, now: float, ev: NodeEvent) -> tuple[EvalTrigger, list[str]] | None:
        kind = classify(ev)
        if kind is None:
            return None
        self.batch[ev.node_id] = kind
        self.out.logs.append(LogRecord(now, "orchestrator", "DEBUG", "REEVALUATOR: queuing for batch",
                                       (("node_id", ev.node_id), ("event", kind))))
        if len(self.batch) >= self.t.reeval_max_batch:
            return self._flush(now)
        self.deadline = now + self.t.reeval_batch_delay
        self.out.timers.append(Timer(self.deadline, ("reeval_batch",)))
        return None

    def on_timer(self, now: float) -> tuple[EvalTrigger, list[str]] | None:
        if self.deadline != now or not self.batch:
            return None
        return self._flush(now)

    def reset(self) -> None:
        self.batch.clear()
        self.deadline = None

    def _flush(self, now: float) -> tuple[EvalTrigger, list[str]]:
        trigger = EvalTrigger.NODE_JOIN if "join" in self.batch.values() else EvalTrigger.NODE_LEAVE
        nodes = sorted(self.batch)
        self.out.logs.append(LogRecord(now, "orchestrator", "INFO", "REEVALUATOR: Processing batch - START",
                                       (("batch_size", len(nodes)), ("trigger", str(trigger)))))
        self.batch = {}
        self.deadline = None
        return trigger, nodes
