"""The sans-IO model of orchestrator and edge. Nothing here imports time, asyncio, threading,
docker or nats: components take ``now`` and an input and leave outputs in an :class:`Outbox`."""

from repro_lib.model.broker import EvalBroker
from repro_lib.model.dispatcher import Dispatcher, ExecutionUpsert, message_for
from repro_lib.model.edge import Edge, LocalExecution
from repro_lib.model.node_manager import NodeEvent, NodeManager
from repro_lib.model.orchestrator import Orchestrator
from repro_lib.model.reconciler import job_state, matching_nodes, nodes_to_avoid, reconcile
from repro_lib.model.reevaluator import ReEvaluator, classify
from repro_lib.model.transport import (
    ORCHESTRATOR_SUBJECT,
    ErrNodeNotConnected,
    TransportManager,
    node_subject,
)
from repro_lib.model.types import (
    FIXES,
    TERMINAL,
    ComputeState,
    DesiredState,
    EvalTrigger,
    Evaluation,
    Execution,
    Job,
    JobState,
    Node,
    NodeState,
    Outbox,
    Plan,
    Policies,
    Publish,
    RetryStrategy,
    Timer,
)

__all__ = [
    "FIXES", "ORCHESTRATOR_SUBJECT", "TERMINAL", "ComputeState", "DesiredState", "Dispatcher",
    "Edge", "ErrNodeNotConnected", "EvalBroker", "EvalTrigger", "Evaluation", "Execution",
    "ExecutionUpsert", "Job", "JobState", "LocalExecution", "Node", "NodeEvent", "NodeManager",
    "NodeState", "Orchestrator", "Outbox", "Plan", "Policies", "Publish", "ReEvaluator",
    "RetryStrategy", "Timer", "TransportManager", "classify", "job_state", "matching_nodes",
    "message_for", "node_subject", "nodes_to_avoid", "reconcile",
]
