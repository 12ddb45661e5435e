"""The one event schema every backend produces (DESIGN.md, "One event schema").

An event is a row with these columns; the sim builds them natively, the log and
CLI parsers in :mod:`repro_lib.capture` build the same rows from text.

Columns
-------
``t``          UTC timestamp (pandas ``datetime64[ns, UTC]``), ns precision where the source has it
``t_s``        seconds since the start of the run (float), for plotting
``source``     ``orchestrator`` / ``edge1`` / ``nats`` / ``sim`` / ``docker`` / ``cli``
``kind``       one of :data:`KINDS`
``node``       node id (``n-…``) or edge name when only the name is known
``job``        job name
``execution``  execution id (``e-…``)
``state``      the kind-specific state word (see :data:`STATES`)
``detail``     free text: the rest of the fields, ``key=value`` joined by spaces
``line``       the original text line for anything parsed from text, else ``None``
"""

from __future__ import annotations

import re

__all__ = ["COLUMNS", "KINDS", "STATES", "Event", "LOG_MESSAGES", "event_from_fields"]

from typing import NamedTuple

COLUMNS = ("t", "t_s", "source", "kind", "node", "job", "execution", "state", "detail", "line")

KINDS = (
    "state",     # execution or job state change: state=compute state (execution) or job state
    "dispatch",  # dispatcher: state=attempt | skipped | redispatch | retry | backoff (fix C's plane)
    "publish",   # transport PublishAsync: state=published | refused; fix C's acked request: failed
    "deliver",   # NATS delivery of an orchestrator->edge message: state=delivered | lost | dropped
    "eval",      # evaluations: state=queued | batch | created | processed; detail has trigger=
    "node",      # orchestrator's belief about a node: state=handshake|connecting|connected|disconnected|lost
    "fault",     # actual world changes: state=kill | start | join | partition | heal | restart
    "action",    # user actions: state=deploy | stop_job | snapshot | up | down
    "reconcile", # reconciler findings: state=stuck | checking
    "log",       # a recognised log line with no richer meaning
    "raw",       # a line that could not be parsed at all; never dropped
)

STATES = {
    "dispatch": ("attempt", "skipped", "redispatch", "retry", "backoff"),
    "publish": ("published", "refused", "failed"),
    "deliver": ("delivered", "lost", "dropped", "held"),
    "eval": ("queued", "batch", "created", "processed"),
    "node": ("handshake", "connecting", "connected", "disconnected", "lost"),
    "fault": ("kill", "start", "join", "partition", "heal", "restart", "stale_close", "slow_consumer", "reconnect"),
    "action": ("deploy", "stop_job", "snapshot", "up", "down"),
    "reconcile": ("stuck", "checking"),
}

# Instrumented log messages (mechanics.md §5) and the sim's own state-change messages,
# each mapped to (kind, state). The field names are the real build's:
# execution_id, target_node, node_id, job_id, trigger, event_type, err, connection_exists,
# connection_alive, root_cause, dispatch_code, issue, state, desired, target.
LOG_MESSAGES: dict[str, tuple[str, str]] = {
    "DISPATCH: Attempting to send message": ("dispatch", "attempt"),
    "DISPATCH: Attempting to send execution assignment": ("dispatch", "attempt"),
    "DISPATCH: Failed to send execution assignment - EVENT WILL BE SKIPPED": ("dispatch", "skipped"),
    "DISPATCH: Failed to send execution assignment - retrying": ("dispatch", "retry"),
    "PUBLISH: Checking node connection": ("publish", "published"),  # refined by the connection_* fields
    "PUBLISH: Node not connected - message will be LOST": ("publish", "refused"),
    "PUBLISH: Node not connected - returning ErrNodeNotConnected": ("publish", "refused"),
    "NATS: message delivered": ("deliver", "delivered"),
    "NATS: no subscriber - message dropped": ("deliver", "lost"),
    "NATS: partitioned - message dropped": ("deliver", "dropped"),
    "NATS: partitioned - message held in the connection": ("deliver", "held"),
    "NATS: stale connection closed - held message lost": ("deliver", "dropped"),
    "NATS: the edge's client closed its connection as stale - message lost": ("deliver", "dropped"),
    "NATS: slow consumer - connection closed, message lost": ("deliver", "dropped"),
    # the sim's transport closes (nats-server's own wording after "NATS: "; a real server's lines: capture/_common.py)
    "NATS: Stale Client Connection - Closing": ("fault", "stale_close"),
    "NATS: Slow Consumer Detected - connection closed": ("fault", "slow_consumer"),
    "NATS: client connection closed - reconnecting": ("fault", "reconnect"),
    "NATS: client connection stale - reconnecting": ("fault", "reconnect"),
    "EDGE: Received RunExecutionRequest": ("deliver", "delivered"),
    "REEVALUATOR: queuing for batch": ("eval", "queued"),
    "REEVALUATOR: Processing batch - START": ("eval", "batch"),
    "REEVALUATOR: Created evaluation for job": ("eval", "created"),
    "EVAL: processed": ("eval", "processed"),
    "RECONCILER: Checking rollout completion": ("reconcile", "checking"),
    "RECONCILER: STUCK EXECUTIONS DETECTED - dispatch may have failed": ("reconcile", "stuck"),
    "RECONCILER: Re-dispatching pending execution to reconnected node": ("dispatch", "redispatch"),
    # fix C (upstream's NCL data plane, texts from dispatcher/recovery.go:61-64, 102)
    "Failed to publish message": ("publish", "failed"),
    "Performing backoff": ("dispatch", "backoff"),
    "HANDSHAKE: Node handshake completed": ("node", "handshake"),
    "NODE: state changed": ("node", ""),          # state= field carries the state
    "EXECUTION: state changed": ("state", ""),    # state= compute state, desired= desired state
    "JOB: state changed": ("state", ""),          # state= job state
    "FAULT": ("fault", ""),                       # msg "FAULT: kill" etc.; state from the msg
    "ACTION": ("action", ""),                     # msg "ACTION: deploy" etc.
}


#: names an edge may not have: the sources the kit's own rows already use (scenario files refuse them)
RESERVED_EDGE_NAMES = frozenset({"orchestrator", "nats", "sim", "docker", "cli", "stack", "expanso-cli"})
#: what an edge name may look like (a compose service name, a hostname)
EDGE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")

class Event(NamedTuple):
    """One row of the events table (``t`` is seconds since run start in the sim)."""

    t_s: float
    source: str
    kind: str
    node: str | None = None
    job: str | None = None
    execution: str | None = None
    state: str | None = None
    detail: str | None = None
    line: str | None = None


def _kind_state(msg: str, fields: dict[str, object]) -> tuple[str, str]:
    hit = LOG_MESSAGES.get(msg)
    if hit is None:
        head, sep, tail = msg.partition(": ")
        if sep and head in ("FAULT", "ACTION"):
            return LOG_MESSAGES[head][0], tail.strip()
        return "log", ""
    kind, state = hit
    if msg == "PUBLISH: Checking node connection":
        ok = str(fields.get("connection_exists")).lower() == "true" and \
            str(fields.get("connection_alive")).lower() == "true"
        state = "published" if ok else "refused"
    elif not state:
        state = str(fields.get("state", ""))
    return kind, state


def _text(v: object) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


_COLUMN_FIELDS = {"node_id", "target_node", "job_id", "job", "execution_id", "state", "target"}


def event_from_fields(t_s: float, source: str, msg: str, fields: dict[str, object],
                      line: str | None = None) -> Event:
    """Map one structured log record (message + fields) to an :class:`Event`."""
    kind, state = _kind_state(msg, fields)
    node = fields.get("node_id") or fields.get("target_node") or fields.get("target")
    job = fields.get("job_id") or fields.get("job")
    execution = fields.get("execution_id")
    rest = [f"{k}={_text(v)}" for k, v in fields.items() if k not in _COLUMN_FIELDS or
            (k == "target" and fields.get("node_id"))]
    if kind == "log":
        rest.insert(0, f"msg={msg}")
    return Event(t_s, source, kind, str(node) if node else None, str(job) if job else None,
                 str(execution) if execution else None, state or None, " ".join(rest) or None, line)
