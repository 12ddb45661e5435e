"""Upstream (Bacalhau) log message texts and field keys, as data.

What this is: the log messages and structured-field keys that Bacalhau -- the open-source project
Expanso descends from -- writes about nodes, evaluations, dispatch/publish, delivery and execution
states, so that the log parser can recognise upstream-style lines next to our own instrumented ones.
This module holds data only; the parsing lives in :mod:`repro_lib.capture.logs`.

Source read: ``github.com/bacalhau-project/bacalhau`` at commit
``e28960c758bc00196576da7f2ebf9cae8e0fcb59`` (``v1.9.3-9-ge28960c75``, 2026-08-19). Every
citation below is ``path:LINE`` at that commit, LINE being the line of the ``Msg``/``Msgf`` call
(or of the format string when the call spans lines). Field keys marked "real logs" were also seen
in pasted node output (``tests/fixtures/real/``).

Expanso's own texts may differ: its source is private and has diverged (for example its
orchestrator dispatcher lives in ``orchestrator/internal/transport/dispatcher.go`` and uses
``RetryStrategySkip``, whereas Bacalhau's per-node NCL dispatcher watcher
``orchestrator-dispatcher-<nodeID>`` uses ``RetryStrategyBlock``). Treat every row as a hint.

Conventions of :data:`MESSAGES` rows ``(match, kind, state, citation)``:

* ``match`` is a literal substring of the rendered message, or a regex when it starts with ``re:``;
* ``kind`` is one of ``node | eval | dispatch | publish | deliver | state | log``;
* ``state`` is ours (node: handshake/connecting/connected/disconnected/lost; eval:
  queued/batch/created/processed; dispatch: attempt/skipped/retry; deliver: delivered; state: the
  execution's compute state). ``""`` means the message carries no fixed state: for the execution
  state-change messages the new state is inside the message (see :data:`EXEC_STATE_CHANGED_RE`) or
  in a field (see :data:`STATE_FIELD_KEYS`); for failures the level (ERR/WRN) tells more.
* rows are ordered: use the first row that matches (longer texts sharing a prefix come first, e.g.
  "Accepting bid for execution" before "Accepting bid", "Execution updated with no state changes"
  before "Execution updated").

Zerolog renders the same message three ways: console >=1.6 ``12:09:07 | INF <msg> key=value``,
console <=1.5 ``12:09:11.576 | INF <caller> > <msg> [key:value]`` (caller and ``.mmm`` only at debug
level from 1.6 on) and JSON ``{"level":...,"time":...,"caller":...,"message":...}``; ``match`` is
applied to the message part only.
"""

from __future__ import annotations

__all__ = [
    "BACALHAU_COMMIT",
    "FIELD_KEYS",
    "LIST_FIELD_KEYS",
    "STATE_FIELD_KEYS",
    "MESSAGES",
    "EXEC_STATE_CHANGED_RE",
    "COMPUTE_STATE_OURS",
    "DESIRED_STATE_OURS",
    "EXEC_DESIRED_STATE_CHANGED_RE",
    "HANDSHAKE_SUCCESS_RE",
    "EVAL_ENQUEUED_RE",
    "NODE_UNHEALTHY_RE",
    "COMPUTE_STATES",
    "COMPUTE_STATES_1X",
    "compute_state_of_number",
    "DESIRED_STATES",
    "NODE_CONNECTION_STATES",
    "NCL_CONNECTION_STATES",
    "EVAL_TRIGGERS",
    "WATCHER_IDS",
]

BACALHAU_COMMIT = "e28960c758bc00196576da7f2ebf9cae8e0fcb59"

# Field keys that name a node, job, execution or evaluation -> our column.
# Citations are one place each key is written; "real logs" = also seen in tests/fixtures/real/.
FIELD_KEYS: dict[str, str] = {
    # node
    "NodeID": "node",  # pkg/logger/logger.go:60 (context logger, short id); logging_planner.go:92; real logs
    "node_id": "node",  # pkg/transport/nclprotocol/compute/manager.go:99; real logs (>=1.6)
    "nodeID": "node",  # pkg/orchestrator/nodes/reevaluator.go:211; pkg/orchestrator/watchers/*
    "node": "node",  # pkg/orchestrator/nodes/manager.go:336 ("Marking node as disconnected")
    "Node": "node",  # pkg/orchestrator/types.go:116
    # job
    "JobID": "job",  # pkg/orchestrator/planner/logging_planner.go:75; pkg/orchestrator/scheduler/*.go
    "jobID": "job",  # pkg/orchestrator/nodes/reevaluator.go:376; pkg/compute/executor.go:270
    "job_id": "job",  # pkg/orchestrator/evaluation/watcher.go:50
    "job": "job",  # pkg/compute/executor.go:255 (context of a running execution)
    "Job": "job",  # pkg/compute/bidder.go:105
    # execution
    "ExecutionID": "execution",  # pkg/orchestrator/planner/logging_planner.go:91
    "executionID": "execution",  # pkg/orchestrator/watchers/bprotocol_dispatcher.go:85
    "execution_id": "execution",  # pkg/orchestrator/watchers/event_logger.go:45
    "execution": "execution",  # pkg/compute/executor.go:256
    "Execution": "execution",  # pkg/compute/executor.go:420
    # evaluation
    "EvalID": "eval",  # pkg/orchestrator/planner/logging_planner.go:128; scheduler context loggers
    "evaluationID": "eval",  # pkg/orchestrator/nodes/reevaluator.go:377
    "evaluation_id": "eval",  # pkg/orchestrator/evaluation/watcher.go:49
}

# Keys whose value is a list of node ids (zerolog Strs -> JSON array / [a b] in console).
LIST_FIELD_KEYS: dict[str, str] = {
    "nodeIDs": "node",  # pkg/orchestrator/nodes/reevaluator.go:326
    "joinNodes": "node",  # pkg/orchestrator/nodes/reevaluator.go:362
    "leaveNodes": "node",  # pkg/orchestrator/nodes/reevaluator.go:363
}

# Keys that carry a state rather than an id (for rows whose MESSAGES state is "").
STATE_FIELD_KEYS: dict[str, str] = {
    "current": "node",  # reevaluator.go:213, NodeConnectionState: CONNECTED / DISCONNECTED
    "previous": "node",  # reevaluator.go:212
    "eventType": "node",  # reevaluator.go:214, "join" / "leave"
    "newState": "node",  # nclprotocol/compute/manager.go:486, Disconnected / Connecting / Connected
    "oldState": "node",  # nclprotocol/compute/manager.go:485
    "current_state": "state",  # orchestrator/watchers/event_logger.go:53, compute state
    "previous_state": "state",  # orchestrator/watchers/event_logger.go:52
    "initial_state": "state",  # orchestrator/watchers/event_logger.go:84
    "ComputeState": "state",  # planner/logging_planner.go:95
    "NewComputeState": "state",  # planner/logging_planner.go:110
    "state": "state",  # compute/watchers/executor_watcher.go:36
}

_N = "pkg/orchestrator/nodes/"
_W = "pkg/orchestrator/watchers/"
_E = "pkg/orchestrator/evaluation/"
_P = "pkg/orchestrator/planner/logging_planner.go"
_NCLC = "pkg/transport/nclprotocol/compute/"
_NCLD = "pkg/transport/nclprotocol/dispatcher/"
_NCLO = "pkg/transport/nclprotocol/orchestrator/"
_BP = "pkg/transport/bprotocol/"
_C = "pkg/compute/"
_LW = "pkg/lib/watcher/watcher.go"
_S = "pkg/orchestrator/scheduler/"

MESSAGES: list[tuple[str, str, str, str]] = [
    # --- node connection / health, orchestrator side -------------------------------------------
    ("handshake request received with info", "node", "connecting", _N + "manager.go:468"),
    # Info; node is now CONNECTED in the node manager (new or reconnecting node)
    ("handshake successful with node ", "node", "handshake", _N + "manager.go:541"),
    # Info; heartbeat timeout found by the health check loop, fields node=, lastHeartbeat=
    ("Marking node as disconnected", "node", "disconnected", _N + "manager.go:338"),
    ("Node state changed since health check, skipping update", "node", "", _N + "manager.go:353"),
    # Info; graceful shutdown, fields node=, reason=
    ("Node shutdown notice received", "node", "disconnected", _N + "manager.go:676"),
    # Debug; fields nodeID=, previous=, current=, eventType= (join/leave)
    ("Processing node connection event", "node", "", _N + "reevaluator.go:215"),
    ("Event channel full, dropping node event", "node", "", _N + "reevaluator.go:231"),
    # Debug; per-node NCL data plane (and its dispatcher watcher) created after a handshake
    ("Data plane started", "node", "connected", _NCLO + "dataplane.go:133"),
    ("Failed to stop data plane for disconnected node", "node", "disconnected", _NCLO + "manager.go:363"),
    ("Successfully re-registered legacy node", "node", "connected", _BP + "orchestrator/server.go:207"),
    ("Node re-registration rejected", "node", "disconnected", _BP + "orchestrator/server.go:203"),
    # Debug; scheduler sees an execution on an unhealthy node
    (
        "re:Execution \\S+ is running on node \\S+ which is not healthy",
        "node",
        "lost",
        "pkg/orchestrator/scheduler/types.go:134",
    ),
    # --- node connection / health, compute side ------------------------------------------------
    ("Starting connection manager", "node", "connecting", _NCLC + "manager.go:101"),
    ("Attempting to establish connection", "node", "connecting", _NCLC + "manager.go:205"),
    ("Connection attempt failed", "node", "disconnected", _NCLC + "manager.go:407"),
    # Warn; reason= "no heartbeat for N intervals" | "NATS connection closed" | "handshake required"
    ("Connection unhealthy, initiating reconnect", "node", "lost", _NCLC + "manager.go:458"),
    # Debug; fields oldState=, newState= (Disconnected/Connecting/Connected)
    ("Connection state changed", "node", "", _NCLC + "manager.go:488"),
    ("Failed to send heartbeat", "node", "lost", _NCLC + "controlplane.go:113"),
    ("Failed to send shutdown notification", "node", "disconnected", _NCLC + "controlplane.go:247"),
    ("heartbeat failed sending sequence", "node", "lost", _BP + "compute/management_client.go:107"),
    (
        "failed to start legacy connection manager. falling back to ncl protocol",
        "node",
        "connecting",
        "pkg/node/compute.go:252",
    ),
    # --- evaluations ---------------------------------------------------------------------------
    ("re:enqueueing evaluation \\S+ for job \\S+ triggered by: ", "eval", "queued", _E + "inmemory_broker.go:241"),
    ("Enqueuing delayed eval ", "eval", "queued", _E + "inmemory_broker.go:745"),
    ("broker is not enabled, dropping evaluation", "eval", "", _E + "inmemory_broker.go:237"),
    ("moving to failedQueue", "eval", "", _E + "inmemory_broker.go:653"),
    ("failed to nack expired evaluation", "eval", "", _E + "inmemory_broker.go:449"),
    ("Failed to enqueue evaluation", "eval", "", _E + "watcher.go:51"),
    ("Node re-evaluator processing loop by time", "eval", "batch", _N + "reevaluator.go:272"),
    ("Node re-evaluator processing loop by max batch size", "eval", "batch", _N + "reevaluator.go:282"),
    # Debug; fields affectedJobs=, totalNodes=, joinNodes=, leaveNodes=
    ("Processed node event batch", "eval", "processed", _N + "reevaluator.go:364"),
    ("Failed to create evaluation for node event", "eval", "", _N + "reevaluator.go:379"),
    ("Failed to get executions for node evaluation", "eval", "", _N + "reevaluator.go:327"),
    # Trace-level planner output; fields JobID=, EvalID=, TriggeredBy=
    ("New evaluation", "eval", "created", _P + ":137"),
    ("re:Processing evaluation \\S+ for job \\S+", "eval", "processed", _S + "batch_service_job.go:92"),
    ("Failed to process evaluation ", "eval", "", "pkg/orchestrator/worker.go:162"),
    ("Worker is shutting down, not scheduling evaluation", "eval", "", "pkg/orchestrator/worker.go:151"),
    # --- dispatch (orchestrator -> compute), watcher retries -----------------------------------
    # compute -> orchestrator responses (compute's NCL message creator); before the orchestrator rows
    # (the compute node answering proves the orchestrator's request arrived: kind deliver)
    ("re:^Accepting bid for execution \\S+", "deliver", "delivered", _C + "watchers/ncl_message_creator.go:44"),
    ("re:^Rejecting bid for execution \\S+", "deliver", "delivered", _C + "watchers/ncl_message_creator.go:48"),
    ("re:^Execution \\S+ completed$", "state", "Completed", _C + "watchers/ncl_message_creator.go:52"),
    ("re:^Execution \\S+ failed$", "state", "Failed", _C + "watchers/ncl_message_creator.go:59"),
    ("Accepting and running execution ", "deliver", "delivered", _C + "watchers/bprotocol_dispatcher.go:74"),
    ("Asking for bid", "dispatch", "attempt", _W + "ncl_message_creator.go:170"),
    ("Accepting bid", "dispatch", "attempt", _W + "ncl_message_creator.go:185"),
    # rejections and cancels are sent too, but they are no run request: plain rows
    ("Rejecting bid", "log", "", _W + "ncl_message_creator.go:198"),
    ("Cancelling execution", "log", "", _W + "ncl_message_creator.go:210"),
    # same four texts in the legacy bprotocol dispatcher: bprotocol_dispatcher.go:87/110/132/154
    (
        "re:Failed to notify node \\S+ that execution \\S+ was canceled",
        "dispatch",
        "skipped",
        _W + "bprotocol_dispatcher.go:166",
    ),
    # Error; fields watcher_id=, event_seq=; repeats with backoff (Block) or up to maxRetries (Skip)
    ("failed to process event. Retrying...", "dispatch", "retry", _LW + ":279"),
    ("failed to fetch events. Retrying...", "dispatch", "retry", _LW + ":248"),
    ("Failed to restart watcher after backoff. Retrying...", "dispatch", "retry", _NCLD + "recovery.go:128"),
    ("Performing backoff", "dispatch", "retry", _NCLD + "recovery.go:102"),
    ("Successfully restarted watcher after backoff", "dispatch", "retry", _NCLD + "recovery.go:132"),
    # --- publish (NCL dispatcher -> NATS) -------------------------------------------------------
    # Debug; fields eventSeq=, subject=, messageType=
    ("Message published successfully", "publish", "", _NCLD + "dispatcher.go:188"),
    ("Failed to publish message", "publish", "", _NCLD + "recovery.go:64"),
    ("Additional failure while already recovering", "publish", "", _NCLD + "recovery.go:56"),
    ("Message publish stalled", "publish", "", _NCLD + "dispatcher.go:225"),
    ("Failed to checkpoint watcher", "publish", "", _NCLD + "dispatcher.go:265"),
    # --- delivery (message reached the compute node) --------------------------------------------
    # NCL AskForBid has no log line on arrival; bprotocol's endpoint logs "asked to bid on:"
    ("asked to bid on: ", "deliver", "delivered", _C + "endpoint.go:30"),
    ("bid accepted: ", "deliver", "delivered", _C + "endpoint.go:50"),
    ("re:^bid accepted [^:]", "deliver", "delivered", _C + "message_handler.go:91"),
    ("re:^bid rejected for \\S+ due to ", "deliver", "delivered", _C + "message_handler.go:110"),
    ("re:^canceling execution \\S+ due to ", "deliver", "delivered", _C + "message_handler.go:130"),
    ("Error handling message", "deliver", "", _C + "message_handler.go:64"),
    # --- execution state -----------------------------------------------------------------------
    # Debug (watchers orchestrator-logger / compute-logger); new state inside the message
    ("Execution state changed from '", "state", "", _W + "event_logger.go:71"),
    ("Execution desired state changed from '", "state", "", _W + "event_logger.go:75"),
    ("Execution updated with no state changes", "state", "", _W + "event_logger.go:79"),
    # same texts on the compute side: pkg/compute/watchers/event_logger.go:61/67/71/75/83
    ("New execution created", "state", "New", _W + "event_logger.go:87"),
    ("re:^Execution \\S+ generated \\d+ new events", "state", "", _W + "event_logger.go:105"),
    ("re:^Execution generated \\d+ new events", "state", "", _C + "watchers/event_logger.go:101"),
    ("Execution updated", "state", "", _P + ":120"),
    ("starting execution", "state", "Running", _C + "executor.go:217"),
    ("run complete", "state", "", _C + "executor.go:272"),
    ("Publishing execution results", "state", "Publishing", _C + "executor.go:401"),
    ("Execution published", "state", "", _C + "executor.go:413"),
    ("failed to run bidding", "state", "", _C + "watchers/executor_watcher.go:45"),
    ("failed to run execution", "state", "", _C + "watchers/executor_watcher.go:51"),
    ("skipping execution state update because execution state changed", "state", "", _C + "bidder.go:228"),
    ("re:^Re-running execution \\S+ after restart", "state", "", _C + "startup.go:96"),
    ("re:^Failing execution \\S+ after restart", "state", "Failed", _C + "startup.go:81"),
    # --- job level (kept as plain log rows) ------------------------------------------------------
    ("Job completed successfully", "log", "", _P + ":65"),
    ("Job failed", "log", "", _P + ":68"),
    ("Job updated", "log", "", _P + ":61"),
]

# "Execution state changed from 'New' to 'AskForBid'" (optionally followed by the desired change).
EXEC_STATE_CHANGED_RE = (
    r"Execution state changed from '(?P<old>[A-Za-z]+)' to '(?P<new>[A-Za-z]+)'"
    r"(?: and desired state from '(?P<old_desired>[A-Za-z]+)' to '(?P<new_desired>[A-Za-z]+)')?"
)
EXEC_DESIRED_STATE_CHANGED_RE = (
    r"Execution desired state changed from '(?P<old_desired>[A-Za-z]+)' to '(?P<new_desired>[A-Za-z]+)'"
)
HANDSHAKE_SUCCESS_RE = r"handshake successful with node (?P<node>\S+)"
EVAL_ENQUEUED_RE = r"enqueueing evaluation (?P<eval>\S+) for job (?P<job>\S+) triggered by: (?P<trigger>\S*)"
NODE_UNHEALTHY_RE = r"Execution (?P<execution>\S+) is running on node (?P<node>\S+) which is not healthy"

# Upstream compute states in our terms (the verdict reads pending/running/…): everything before
# Running is "pending" — the execution exists and has not started on its node. (Our reading.)
COMPUTE_STATE_OURS = {
    "Undefined": "pending", "New": "pending", "AskForBid": "pending", "AskForBidAccepted": "pending",
    "BidAccepted": "pending", "Running": "running", "Publishing": "running", "Completed": "completed",
    "Failed": "failed", "Cancelled": "cancelled", "AskForBidRejected": "failed", "BidRejected": "failed",
}
DESIRED_STATE_OURS = {"Pending": "pending", "Running": "running", "Stopped": "stopped"}

# pkg/models/execution_state_string.go (stringer of ExecutionStateType, iota order)
COMPUTE_STATES = (
    "Undefined",
    "New",
    "AskForBid",
    "AskForBidAccepted",
    "AskForBidRejected",
    "BidAccepted",
    "Running",
    "Publishing",
    "BidRejected",
    "Completed",
    "Failed",
    "Cancelled",
)
# The same enum before `Running` and `Publishing` were inserted after BidAccepted (pkg/models/execution_state.go
# as a public copy of Bacalhau 1.x has it; pr-3459's `--output yaml` of 2024-02 prints StateType 7 for executions
# its text describe calls Completed). Which release changed the order is not checked here.
COMPUTE_STATES_1X = (
    "Undefined",
    "New",
    "AskForBid",
    "AskForBidAccepted",
    "AskForBidRejected",
    "BidAccepted",
    "BidRejected",
    "Completed",
    "Failed",
    "Cancelled",
)


def compute_state_of_number(n: int) -> str | None:
    """Our state for a numeric ``ComputeState.StateType``, when both orders of the enum agree on it (0-5: pending
    or failed; 8: failed; 10, 11 exist in the newer order only); None when they disagree (6, 7, 9: a number
    alone does not say which), so no state is made up."""
    names = [t[n] for t in (COMPUTE_STATES, COMPUTE_STATES_1X) if 0 <= n < len(t)]
    ours = {COMPUTE_STATE_OURS[x] for x in names}
    return ours.pop() if len(ours) == 1 else None


# pkg/models/execution_desired_state_string.go
DESIRED_STATES = ("Pending", "Running", "Stopped")
# pkg/models/node_connection.go:28-29 (node list STATUS column, reevaluator previous/current)
NODE_CONNECTION_STATES = ("CONNECTED", "DISCONNECTED")
# pkg/transport/nclprotocol/types.go:26-31 (compute-side ConnectionState.String)
NCL_CONNECTION_STATES = ("Disconnected", "Connecting", "Connected")
# pkg/models/evaluation.go:31-32 (TriggeredBy of re-evaluations)
EVAL_TRIGGERS = {"node-join": "node", "node-leave": "node"}
# watcher_id= values: pkg/node/constants.go:6-18, nclprotocol dataplanes, bprotocol transports
WATCHER_IDS = {
    "execution-handler": "compute: runs bidding/execution on ExecutionUpsert (RetryStrategySkip, 3 retries)",
    "compute-logger": "compute: execution event logger",
    "evaluation-watcher": "orchestrator: enqueues new evaluations into the broker",
    "orchestrator-logger": "orchestrator: execution event logger (RetryStrategySkip)",
    "compute-ncl-dispatcher": "compute: NCL dispatcher to the orchestrator (RetryStrategyBlock)",
    "orchestrator-dispatcher-<nodeID>": "orchestrator: per-node NCL dispatcher (RetryStrategyBlock)",
    "compute-bprotocol-dispatcher": "compute: legacy bprotocol dispatcher",
    "orchestrator-bprotocol-dispatcher": "orchestrator: legacy bprotocol dispatcher",
}
