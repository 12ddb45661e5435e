"""Evaluation broker (mechanics.md §1.6): FIFO, per-job serialisation, coalescing.

At most one evaluation per job is ready or in flight; later ones for that job wait, and only
the newest waiting one survives (older ones are cancelled) when the in-flight one is acked.
"""

from __future__ import annotations

from collections import deque

from repro_lib.model.types import Evaluation

__all__ = ["EvalBroker"]


class EvalBroker:
    def __init__(self) -> None:
        self.ready: deque[Evaluation] = deque()
        self.busy: set[str] = set()        # jobs with a ready or in-flight evaluation
        self.waiting: dict[str, Evaluation] = {}
        self.cancelled: list[Evaluation] = []

    def enqueue(self, ev: Evaluation) -> None:
        if ev.job in self.busy:
            old = self.waiting.get(ev.job)
            if old is not None:
                old.state = "canceled"
                self.cancelled.append(old)
            self.waiting[ev.job] = ev
            return
        self.busy.add(ev.job)
        self.ready.append(ev)

    def dequeue(self) -> Evaluation | None:
        return self.ready.popleft() if self.ready else None

    def ack(self, ev: Evaluation) -> None:
        ev.state = "complete"
        nxt = self.waiting.pop(ev.job, None)
        if nxt is None:
            self.busy.discard(ev.job)
        else:
            self.ready.append(nxt)

    def reset(self) -> None:
        self.ready.clear()
        self.busy.clear()
        self.waiting.clear()

    def __len__(self) -> int:
        return len(self.ready) + len(self.waiting)
