"""Names and records of the real system (mechanics.md §2): states, triggers, executions, jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from repro_lib.logfmt import LogRecord

__all__ = [
    "NodeState",
    "ComputeState",
    "DesiredState",
    "JobState",
    "EvalTrigger",
    "RetryStrategy",
    "TERMINAL",
    "Node",
    "Job",
    "Execution",
    "Evaluation",
    "Plan",
    "Publish",
    "Timer",
    "Outbox",
    "Policies",
    "FIXES",
    "FIX_LETTERS",
]


class NodeState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    LOST = "lost"


class ComputeState(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    CANCELLED = "cancelled"


class DesiredState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    STOPPED = "stopped"


class JobState(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    DEPLOYING = "deploying"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"


class EvalTrigger(StrEnum):
    JOB_CREATE = "job-create"
    JOB_UPDATE = "job-update"
    JOB_CANCEL = "job-cancel"
    NODE_JOIN = "node-join"
    NODE_LEAVE = "node-leave"
    EXEC_UPDATE = "exec-update"


class RetryStrategy(StrEnum):
    """lib/watcher options.go: Block = 0 (default), Skip = 1."""

    BLOCK = "RetryStrategyBlock"
    SKIP = "RetryStrategySkip"


TERMINAL = frozenset(
    {ComputeState.COMPLETED, ComputeState.FAILED, ComputeState.STOPPED, ComputeState.CANCELLED}
)

FIXES = ("none", "block", "redispatch-on-join", "sequence-replay", "edge-reconcile", "pending-timeout")
# mechanics.md §6's letters: A is the repro's patch, C upstream Bacalhau's own design
FIX_LETTERS = {"block": "A", "redispatch-on-join": "B", "sequence-replay": "C", "edge-reconcile": "D",
               "pending-timeout": "E"}


@dataclass(frozen=True)
class Policies:
    """Which fixes (mechanics.md §6) are switched on; all off = the buggy build."""

    block: bool = False               # A: dispatcher watcher uses RetryStrategyBlock
    redispatch_on_join: bool = False  # B: reconciler re-dispatches pending executions on node-join
    sequence_replay: bool = False     # C: upstream's per-node data plane: acked publishes, replay (model/dataplane.py)
    edge_reconcile: bool = False      # D: edge asks for its assignments on (re)connect
    pending_timeout: bool = False     # E: housekeeping re-dispatches executions pending > T
    global_nodes_to_avoid: bool = False  # README's claimed cascading failure (not the real rule)

    @classmethod
    def from_fix(cls, fix: str | list[str] | tuple[str, ...] | None) -> Policies:
        names = [fix] if isinstance(fix, str) else list(fix or [])
        kw: dict[str, bool] = {}
        for name in names:
            if name == "none":
                continue
            if name not in FIXES:
                raise ValueError(f"unknown fix {name!r}; use one of {', '.join(FIXES)}")
            kw[name.replace("-", "_")] = True
        return cls(**kw)

    @property
    def names(self) -> list[str]:
        on = [f for f in FIXES[1:] if getattr(self, f.replace("-", "_"))]
        return on or ["none"]


@dataclass(slots=True)
class Node:
    """The orchestrator's record of a node (its belief, not the truth)."""

    id: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    state: NodeState = NodeState.CONNECTING
    last_heartbeat: float = 0.0
    connecting_since: float = 0.0
    connected_since: float = 0.0   # last time it (re)joined: promotion or re-handshake
    disconnected_at: float = 0.0


@dataclass
class Job:
    name: str
    id: str
    spec: Any  # jobs.JobSpec
    version: int = 1
    state: JobState = JobState.PENDING
    created_at: float = 0.0
    stopped: bool = False

    @property
    def type(self) -> str:
        return str(self.spec.type)


@dataclass(slots=True)
class Execution:
    id: str
    job: str
    version: int
    node_id: str
    desired: DesiredState = DesiredState.RUNNING
    state: ComputeState = ComputeState.PENDING
    created_at: float = 0.0
    updated_at: float = 0.0
    revision: int = 1
    dispatches: int = 0

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


@dataclass(slots=True)
class Evaluation:
    id: str
    job: str
    trigger: EvalTrigger
    created_at: float
    state: str = "pending"   # pending | complete | canceled


@dataclass
class Plan:
    """What one reconcile decided. Empty => the planner writes nothing (state_updater isEmpty)."""

    eval: Evaluation
    new_executions: list[str] = field(default_factory=list)          # node ids
    updated_executions: list[tuple[str, DesiredState, ComputeState]] = field(default_factory=list)
    redispatch: list[str] = field(default_factory=list)              # execution ids (fix B)
    stuck: list[str] = field(default_factory=list)                   # pending executions seen

    def is_empty(self) -> bool:
        return not (self.new_executions or self.updated_executions or self.redispatch)


class Publish(NamedTuple):
    """Output: publish ``payload`` on NATS ``subject``. A named tuple (immutable, compared by value, like
    the frozen dataclass it was): a fleet's deploy makes a million of them, and the hot paths build one
    with ``tuple.__new__`` and hand it on as the ``(subject, payload)`` pair it is (stacks/sim.py)."""

    subject: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Timer:
    """Output: call the component's ``on_timer(now, key)`` at ``at``."""

    at: float
    key: tuple[Any, ...]


_EMPTY: tuple[list[Publish], list[Timer], list[LogRecord]] = ([], [], [])


@dataclass
class Outbox:
    """Outputs accumulated by a component; the driver drains them after each input."""

    publishes: list[Publish] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)

    def drain(self) -> tuple[list[Publish], list[Timer], list[LogRecord]]:
        if not (self.publishes or self.timers or self.logs):
            return _EMPTY
        out = (self.publishes, self.timers, self.logs)
        self.publishes, self.timers, self.logs = [], [], []
        return out
