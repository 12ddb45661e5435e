"""Seed-style incident logs, written from the seed README's "Log Patterns to Watch", not from one file.

The seed (``expanso-io/repro-no-rescheduling`` README) shows what a maintainer greps for:
``DISPATCH: Attempting to send message``, ``PUBLISH: connection_exists=true connection_alive=true``
(rendered by the instrumented build as ``PUBLISH: Checking node connection …``) and
``REEVALUATOR: Created evaluation for job (trigger=node-join)`` — with no new ``DISPATCH`` for the stuck
job afterwards. Around those lines a real log has a line per deployed job, node connect/disconnect
lines and a reconciler warning. This module writes the seed's incident (deploy a working job, kill
the edges, deploy a new job while they are dead but believed connected, restart the edges, the
node-join evaluation re-dispatches nothing, the reconciler warns) in many shapes:

* formats: zerolog console (``2026-… DBG msg k=v``, fields sorted as ConsoleWriter sorts them), slog
  text (``time=… level=DEBUG msg="…" k=v``), JSON lines (``{"level":"debug","time":…,"msg":…}``) and,
  held out, zerolog console with a caller (``DBG dispatcher.go:103 > msg``) and Go's default slog
  handler (``2026/11/20 10:00:10 DEBUG msg k=v``);
* prefixes: none, ``docker logs --timestamps`` and ``docker compose logs`` (``orchestrator-1  | ``),
  held out: ``docker compose logs --timestamps``;
* key names as real Go logs vary them (``execution_id``/``executionID``/``exec_id``,
  ``node_id``/``nodeID``/``target_node``, ``job_id``/``jobID``, ``job_name``/``jobName``/``name``);
* wordings of the job line, the node lines, the PUBLISH line and the reconciler warning;
* a dispatch line with or without the job id; zero, one or two edge logs.

Every dimension has *seen* values (the capture rules were written against shapes made only of them)
and *held-out* values (:data:`HELD`); a shape with any held-out value is a held-out shape. A healthy
variant (edges stay up, every execution runs) is written from the same pieces.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = ["Shape", "Incident", "DIMENSIONS", "HELD", "seen_shapes", "held_out_shapes", "is_held_out",
           "incident", "write"]

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)

# each dimension: its values, seen ones first; HELD lists the values the rules were not written against
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "fmt": ("console", "slog", "json", "console_caller", "slog_default", "json_zerolog", "console_color",
            "console_kitchen"),
    "prefix": ("none", "docker", "compose", "compose_ts", "journald"),
    "exec_key": ("execution_id", "executionID", "exec_id", "exec"),
    "node_key": ("node_id", "nodeID", "target_node"),
    "job_key": ("job_id", "jobID"),
    "name_key": ("job_name", "jobName", "name"),
    "job_word": ("job deployed", "created job", "Job submitted", "deploying job"),
    "node_word": ("node connected", "Node joined", "node ID connected", "handshake successful with node ID"),
    "publish_word": ("PUBLISH: Checking node connection", "PUBLISH:",
                     "PUBLISH: connection_exists=true connection_alive=true"),
    "stuck_word": ("reconciler: job stuck in deploying", "RECONCILER: job stuck in deploying state",
                   "Job stuck in deploying", "RECONCILER: rollout incomplete, executions pending"),
    "run_word": ("starting execution", "execution running"),
    "edges": ("0", "2", "1"),
    "dispatch_job": ("no", "yes"),
    "ids": ("short", "long"),
}
# LATE: held-out values added after the capture rules were written and first measured (a second, colder
# held-out set: the first was in view while the rules were written)
LATE: dict[str, frozenset[str]] = {
    "fmt": frozenset({"json_zerolog", "console_color", "console_kitchen"}),
    "prefix": frozenset({"journald"}),
    "exec_key": frozenset({"exec"}),
    "job_word": frozenset({"deploying job"}),
    "node_word": frozenset({"handshake successful with node ID"}),
    "publish_word": frozenset({"PUBLISH: connection_exists=true connection_alive=true"}),
    "stuck_word": frozenset({"RECONCILER: rollout incomplete, executions pending"}),
}
HELD: dict[str, frozenset[str]] = {
    "fmt": frozenset({"json", "console_caller", "slog_default"}),
    "prefix": frozenset({"compose", "compose_ts"}),
    "exec_key": frozenset({"exec_id"}),
    "node_key": frozenset({"target_node"}),
    "job_key": frozenset({"jobID"}),
    "name_key": frozenset({"name"}),
    "job_word": frozenset({"Job submitted"}),
    "node_word": frozenset({"Node joined", "node ID connected"}),
    "publish_word": frozenset({"PUBLISH:"}),
    "stuck_word": frozenset({"Job stuck in deploying"}),
    "run_word": frozenset({"execution running"}),
    "edges": frozenset({"1"}),
    "dispatch_job": frozenset(),
    "ids": frozenset({"long"}),
}
for _k, _v in LATE.items():
    HELD[_k] = HELD[_k] | _v
# the node lines' other half, per wording of the connect line
_NODE_DOWN = {"node connected": "node disconnected", "Node joined": "Node left",
              "node ID connected": "node ID disconnected",
              "handshake successful with node ID": "Marking node as disconnected"}
_JOB_NAMES = ("new-test-job", "scada-ingest", "log-shipper", "edge-metrics", "sensor-rollup", "fleet-audit")
_OK_NAMES = ("test-heartbeat", "heartbeat-check", "canary-pipeline", "noop-job")


@dataclass(frozen=True)
class Shape:
    """One way of writing the incident (see :data:`DIMENSIONS`)."""

    fmt: str = "console"
    prefix: str = "none"
    exec_key: str = "execution_id"
    node_key: str = "node_id"
    job_key: str = "job_id"
    name_key: str = "job_name"
    job_word: str = "job deployed"
    node_word: str = "node connected"
    publish_word: str = "PUBLISH: Checking node connection"
    stuck_word: str = "reconciler: job stuck in deploying"
    run_word: str = "starting execution"
    edges: str = "0"
    dispatch_job: str = "no"
    ids: str = "short"

    def label(self) -> str:
        return "/".join(str(getattr(self, k)).replace(" ", "_") for k in DIMENSIONS)


def is_held_out(shape: Shape) -> bool:
    return any(getattr(shape, k) in HELD[k] for k in DIMENSIONS)


def is_late(shape: Shape) -> bool:
    """Whether the shape has a value of the second held-out set (:data:`LATE`)."""
    return any(getattr(shape, k) in LATE.get(k, ()) for k in DIMENSIONS)


def seen_shapes() -> list[Shape]:
    """Shapes made of seen values only: every seen (format, prefix) pair three times, the other dimensions
    drawn from their seen values by a fixed-seed generator (every seen value appears: tested)."""
    seen = {k: tuple(v for v in vals if v not in HELD[k]) for k, vals in DIMENSIONS.items()}
    rng = random.Random(395)
    out = []
    for fmt in seen["fmt"]:
        for prefix in seen["prefix"]:
            for _rep in range(3):
                kw = {k: rng.choice(seen[k]) for k in DIMENSIONS if k not in ("fmt", "prefix")}
                out.append(Shape(fmt=fmt, prefix=prefix, **kw))
    return list(dict.fromkeys(out))


def held_out_shapes() -> list[Shape]:
    """Shapes with held-out values: each held-out value in at least two shapes, on different bases, and
    every held-out (format, prefix) pair once."""
    bases = seen_shapes()
    out: list[Shape] = []
    i = 0
    for k, held in HELD.items():
        for v in sorted(held):
            for _ in range(2):
                out.append(replace(bases[i % len(bases)], **{k: v}))
                i += 5
    fmts = [f for f in DIMENSIONS["fmt"]]
    for j, (fmt, prefix) in enumerate((f, p) for f in fmts for p in DIMENSIONS["prefix"]):
        s = replace(bases[(j * 7) % len(bases)], fmt=fmt, prefix=prefix)
        if is_held_out(s):
            out.append(s)
    return list(dict.fromkeys(out))


@dataclass
class Incident:
    """The files of one incident and what a reader should find in them."""

    shape: Shape
    healthy: bool
    files: dict[str, str] = field(default_factory=dict)  # file name -> text
    stuck_name: str = ""
    stuck_id: str = ""
    ok_name: str = ""
    ok_id: str = ""
    nodes: tuple[str, ...] = ()


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


class _Writer:
    """Renders records (time, source, level, msg, fields) in one shape."""

    def __init__(self, shape: Shape) -> None:
        self.s = shape

    def _iso(self, t: datetime, digits: int = 3) -> str:
        frac = f"{t.microsecond * 1000:09d}"[:digits]
        return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if digits else "") + "Z"

    @staticmethod
    def _val(v: object) -> str:
        text = "true" if v is True else "false" if v is False else str(v)
        return json.dumps(text) if (" " in text or "=" in text or '"' in text or text == "") else text

    def body(self, t: datetime, level: str, msg: str, fields: list[tuple[str, object]], caller: str) -> str:
        fmt = self.s.fmt
        if fmt in ("console", "console_caller", "console_kitchen"):
            lv = {"DEBUG": "DBG", "INFO": "INF", "WARN": "WRN", "ERROR": "ERR"}[level]
            kv = " ".join(f"{k}={self._val(v)}" for k, v in sorted(fields))  # ConsoleWriter sorts fields
            when = t.strftime("%I:%M%p").lstrip("0") if fmt == "console_kitchen" else self._iso(t)
            head = f"{when} {lv} " + (f"{caller} > " if fmt == "console_caller" else "")
            return head + msg + (f" {kv}" if kv else "")
        if fmt == "console_color":  # ConsoleWriter with colours on (a terminal, or NoColor left false)
            lv = {"DEBUG": "\x1b[33mDBG\x1b[0m", "INFO": "\x1b[32mINF\x1b[0m", "WARN": "\x1b[31mWRN\x1b[0m",
                  "ERROR": "\x1b[1m\x1b[31mERR\x1b[0m\x1b[0m"}[level]
            kv = " ".join(f"\x1b[36m{k}=\x1b[0m{self._val(v)}" for k, v in sorted(fields))
            return f"\x1b[90m{self._iso(t)}\x1b[0m {lv} {msg}" + (f" {kv}" if kv else "")
        if fmt == "json_zerolog":  # zerolog's own JSON: level first, fields, unix time, "message" last
            obj0: dict[str, object] = {"level": level.lower()}
            obj0.update(fields)
            obj0["time"] = int(t.timestamp())
            obj0["message"] = msg
            return json.dumps(obj0, separators=(",", ":"))
        if fmt == "slog":
            kv = " ".join(f"{k}={self._val(v)}" for k, v in fields)
            return f"time={self._iso(t)} level={level} msg={self._val(msg)}" + (f" {kv}" if kv else "")
        if fmt == "slog_default":  # log.Logger's default flags: date and time to the second, no zone
            kv = " ".join(f"{k}={self._val(v)}" for k, v in fields)
            return f"{t.strftime('%Y/%m/%d %H:%M:%S')} {level} {msg}" + (f" {kv}" if kv else "")
        obj: dict[str, object] = {"level": level.lower(), "time": self._iso(t, 6), "msg": msg}
        obj.update(fields)
        return json.dumps(obj, separators=(",", ":"))

    def line(self, t: datetime, service: str, width: int, level: str, msg: str,
             fields: list[tuple[str, object]], caller: str = "main.go:42") -> str:
        text = self.body(t, level, msg, fields, caller)
        # the collector's own time: a few ms after the app's, to the nanosecond
        stamp = self._iso(t + timedelta(microseconds=1234), 9)
        if self.s.prefix == "docker":
            text = f"{stamp} {text}"
        elif self.s.prefix == "compose_ts":
            text = f"{stamp} {text}"
        if self.s.prefix in ("compose", "compose_ts"):
            text = f"{(service + '-1'):<{width}}| {text}"
        elif self.s.prefix == "journald":  # journalctl -u: local time of day, host, unit[pid]
            text = f"{t.strftime('%b %d %H:%M:%S')} edgehost {service}[{100 + len(service)}]: {text}"
        return text


def incident(shape: Shape, *, healthy: bool = False, seed: int = 0) -> Incident:
    """The seed's incident (or its healthy twin) written in ``shape``."""
    rng = random.Random(f"{seed}:{shape.label()}:{healthy}")
    s = shape
    n_id = (lambda i: f"node-edge{i}") if s.ids == "short" else (lambda i: f"n-{_hex(rng, 8)}")
    nodes = (n_id(1), n_id(2))
    e_id = (lambda: f"e-{_hex(rng, 8)}") if s.ids == "short" else \
        (lambda: f"e-{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 12)}")
    j_id = (lambda: f"j-{_hex(rng, 6)}") if s.ids == "short" else (lambda: f"j-{_hex(rng, 8)}")
    ok_name, ok_id = rng.choice(_OK_NAMES), j_id()
    new_name, new_id = rng.choice(_JOB_NAMES), j_id()
    recs: list[tuple[float, str, str, str, list[tuple[str, object]], str]] = []  # t, source, level, msg, fields

    def rec(t: float, src: str, level: str, msg: str, fields: list[tuple[str, object]], caller: str = "main.go:42"
            ) -> None:
        recs.append((t, src, level, msg, fields, caller))

    def node_line(t: float, node: str, up: bool) -> None:
        word = s.node_word if up else _NODE_DOWN[s.node_word]
        level = "DEBUG" if up else "WARN"
        if "ID" in word:  # the node's id inside the message, no key
            rec(t, "orchestrator", level, word.replace("ID", node), [], "nodes/manager.go:541")
        else:
            rec(t, "orchestrator", level, word, [(s.node_key, node)], "nodes/manager.go:541")

    def job_line(t: float, jid: str, name: str) -> None:
        fields: list[tuple[str, object]] = [(s.name_key, name), (s.job_key, jid)]
        if rng.random() < 0.5:
            fields.reverse()
        rec(t, "orchestrator", "INFO", s.job_word, fields + [("type", "pipeline")], "api/jobs.go:88")

    def dispatch(t: float, jid: str, ex: str, node: str) -> None:
        fields: list[tuple[str, object]] = [(s.exec_key, ex), (s.node_key, node)]
        if s.dispatch_job == "yes":
            fields.append((s.job_key, jid))
        rec(t, "orchestrator", "DEBUG", "DISPATCH: Attempting to send message", fields,
            "transport/dispatcher.go:103")
        checks: list[tuple[str, object]] = [] if "connection_exists" in s.publish_word else \
            [("connection_exists", True), ("connection_alive", True)]
        rec(t + 0.001, "orchestrator", "DEBUG", s.publish_word, [(s.node_key, node), *checks],
            "transport/manager.go:158")

    n_edges = int(s.edges) if not healthy else 2
    edge_names = ("edge1", "edge2")
    edge_up: dict[str, list[tuple[float, float]]] = {}

    rec(0.0, "orchestrator", "INFO", "orchestrator started", [("version", "v1.4.2")])
    for i, node in enumerate(nodes):
        node_line(2.1 + i * 0.3, node, True)
    kill_at = 30.0 if not healthy else None
    restart_at = 60.0
    for i, name in enumerate(edge_names):
        edge_up[name] = [(1.5 + i * 0.3, kill_at + i * 0.2)] if kill_at else [(1.5 + i * 0.3, 200.0)]
        if kill_at:
            edge_up[name].append((restart_at + i * 0.4, 200.0))
    ok_ex = [e_id() for _ in nodes]
    new_ex = [e_id() for _ in nodes]
    job_line(10.0, ok_id, ok_name)
    for k, (ex, node) in enumerate(zip(ok_ex, nodes, strict=True)):
        dispatch(10.01 + k * 0.01, ok_id, ex, node)
    job_line(40.0, new_id, new_name)
    for k, (ex, node) in enumerate(zip(new_ex, nodes, strict=True)):
        dispatch(40.01 + k * 0.01, new_id, ex, node)
    for t in range(15, 200, 15):  # the orchestrator's heartbeat chatter (noise): only from a live edge
        for node, name in zip(nodes, edge_names, strict=True):
            if any(t0 <= t + 0.5 < t1 for t0, t1 in edge_up[name]):
                rec(float(t) + 0.5, "orchestrator", "DEBUG", "heartbeat received", [(s.node_key, node)])
    if not healthy:
        if rng.random() < 0.5:  # the health check noticed the dead edges (after the deploy), then they came back
            for node in nodes:
                node_line(52.0, node, False)
        for i, node in enumerate(nodes):  # when the restarted edge says it connected (edge_up below)
            node_line(restart_at + i * 0.4 + 0.4, node, True)
        for jid in (ok_id, new_id):
            rec(80.0, "orchestrator", "INFO", "REEVALUATOR: Created evaluation for job",
                [(s.job_key, jid), ("trigger", "node-join")], "nodes/reevaluator.go:376")
        rec(180.0, "orchestrator", "WARN", s.stuck_word,
            [(s.job_key, new_id), (s.name_key, new_name), ("pending_executions", len(new_ex))],
            "scheduler/reconciler.go:712")
    rec(200.0, "orchestrator", "INFO", "orchestrator still running", [])
    # the edges' side: only what an edge can see
    for i, name in enumerate(edge_names[:n_edges]):
        node = nodes[i]
        for t0, t1 in edge_up[name]:
            rec(t0, name, "INFO", "starting edge node", [("version", "v1.4.2")])
            rec(t0 + 0.4, name, "INFO", "Edge connected to orchestrator", [(s.node_key, node)])
            for t in range(int(t0) + 5, int(t1), 15):
                rec(float(t), name, "DEBUG", "heartbeat sent", [(s.node_key, node)])
        for t_send, ex in ((10.01 + i * 0.01, ok_ex[i]), (40.01 + i * 0.01, new_ex[i])):
            if any(t0 <= t_send < t1 for t0, t1 in edge_up[name]):
                rec(t_send + 0.03, name, "INFO", "EDGE: Received RunExecutionRequest",
                    [(s.exec_key, ex), (s.node_key, node)], "controller/network_controller.go:61")
                rec(t_send + 1.0, name, "INFO", s.run_word, [(s.exec_key, ex)], "compute/executor.go:217")
    recs.sort(key=lambda r: r[0])
    w = _Writer(s)
    width = max(len(x) for x in ("orchestrator", *edge_names)) + 4
    per: dict[str, list[str]] = {}
    for t, src, level, msg, fields, caller in recs:
        per.setdefault(src, []).append(w.line(T0 + timedelta(seconds=t), src, width, level, msg, fields, caller))
    files: dict[str, str] = {}
    if s.prefix in ("compose", "compose_ts"):  # one interleaved stream, as `docker compose logs` prints it
        lines = [w.line(T0 + timedelta(seconds=t), src, width, lv, m, f, c) for t, src, lv, m, f, c in recs]
        files["compose.log"] = "\n".join(lines) + "\n"
    else:
        for src, lines in per.items():
            files[f"{src}.log"] = "\n".join(lines) + "\n"
    return Incident(s, healthy, files, new_name, new_id, ok_name, ok_id, nodes)


def write(inc: Incident, folder: Path) -> list[Path]:
    """The incident's files in ``folder`` (created); their paths, orchestrator first."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in sorted(inc.files.items(), key=lambda kv: (not kv[0].startswith(("orch", "compose")), kv[0])):
        p = folder / name
        p.write_text(text)
        paths.append(p)
    return paths
