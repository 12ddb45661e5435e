"""The one Stack protocol every backend implements (sim, local, compose, cloud).

Like httpx's transports: the scenario runner talks to this interface only. ``now`` is seconds
since ``up``; ``advance`` lets time pass (virtual in the sim, real elsewhere)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from repro_lib.errors import StackError
from repro_lib.jobs import JobSpec
from repro_lib.logfmt import LogRecord
from repro_lib.snapshot import Snapshot

__all__ = ["Stack", "BACKENDS", "StackGuards"]

BACKENDS = ("sim", "local", "compose", "cloud")


@runtime_checkable
class Stack(Protocol):
    backend: str
    now: float
    records: list[LogRecord]

    def up(self) -> None: ...
    def down(self) -> None: ...
    def deploy(self, spec: JobSpec, *, force: bool = False) -> str: ...
    def stop_job(self, name: str) -> bool: ...
    def kill(self, names: list[str]) -> None: ...
    def start(self, names: list[str], *, new_identity: bool = False) -> None: ...
    def join(self, name: str, labels: dict[str, str] | None = None) -> None: ...
    def partition(self, names: list[str]) -> None: ...
    def heal(self, names: list[str]) -> None: ...
    def restart_orchestrator(self, downtime: float = 5.0) -> None: ...
    def advance(self, seconds: float) -> None: ...
    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool: ...
    def snapshot(self, label: str = "") -> Snapshot: ...
    def count_nodes(self, state: str) -> int: ...
    def job_state(self, name: str) -> str | None: ...
    def count_executions(self, job: str, state: str) -> int: ...


class StackGuards:
    """The argument checks every stack makes, with the same one-line errors."""

    is_up: bool
    edges: Any

    def _need_up(self) -> None:
        if not self.is_up:
            raise StackError("the stack is not up", hint="add an `up: {}` step first")

    def _need_edge(self, name: str) -> None:
        if name not in self.edges:
            raise StackError(f"unknown edge {name!r}",
                             hint=f"edges are {', '.join(self.edges) or 'none'}; use join for a new one")
