"""Fault schedules: a grammar of the scenario steps, drawn one choice at a time.

A schedule is ``up``, a wait for the edges, then drawn steps — ``kill``, ``start`` (also with a
new identity), ``partition``/``heal`` (some or all edges), ``restart_orchestrator``, ``join``, the
transport's failures (``stale_close``, ``slow_consumer``, ``reconnect``: sim only),
``deploy``/``stop_job`` (pipeline and query jobs, ``force`` updates) and ``sleep`` — then the
*epilogue*: heal everything, start every killed edge, settle long enough for every remedy to fire.

Every step is drawn only where it is valid (``start`` only a killed edge …), so each schedule runs
on any backend. Durations are not uniform: they come from a ladder around the timings that matter
(heartbeat, disconnect timeout, health-check period, batch delay, transport registration delay,
``connected_after``, restart grace, pending timeout), shortest first, so shrinking a duration
means moving down the ladder.

The drawing function takes ``draw(strategy)`` — Hypothesis's ``data.draw`` in a search (which
makes every choice shrinkable) — and nothing else, so the grammar is one pure function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from repro_lib.durations import format_duration
from repro_lib.timings import Timings

__all__ = ["is_valid", "FAULTS", "TRANSPORT", "EDGE_OPS", "JOBS", "Schedule", "draw_schedule", "durations_for",
           "settle_for", "parse_faults"]

#: the transport's own failures (docs/nats-transport.md), sim only: the server closes an edge's connection as stale
#: or as a slow consumer, or the edge's client drops it and reconnects. With ``partition`` they give every way a
#: message to an edge ends under NATS: held by a cut and delivered late at the heal (``partition`` alone), lost with
#: the connection (``partition`` then ``stale_close``: the drop at once, as a step), or lost in a reconnect's gap.
TRANSPORT = ("stale_close", "slow_consumer", "reconnect")
#: the fault kinds ``--faults`` may name; deploy, stop_job and sleep are always in the grammar
FAULTS = ("kill", "start", "new_identity", "partition", "restart_orchestrator", "join", *TRANSPORT)
#: the steps whose argument is a list of edges
EDGE_OPS = ("kill", "start", "partition", "heal", *TRANSPORT)
#: job files the grammar deploys: (file, job name, type)
JOBS = (("pipelines/test-job.yaml", "test-heartbeat", "pipeline"),
        ("pipelines/new-job.yaml", "new-test-job", "pipeline"),
        ("pipelines/query-job.yaml", "query-job", "query"))
MAX_JOINS = 2


@dataclass
class Schedule:
    """One drawn schedule: the number of edges and the steps between the prologue and epilogue."""

    edges: int
    steps: list[tuple[str, Any]] = field(default_factory=list)

    def edge_names(self) -> list[str]:
        return [f"edge{i + 1}" for i in range(self.edges)]

    def key(self) -> tuple[Any, ...]:
        """Smaller is simpler: fewer steps, fewer edges, less time asleep."""
        slept = sum(float(a) for op, a in self.steps if op == "sleep")
        return (len(self.steps), self.edges, slept, repr(self.steps))


def parse_faults(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"all"``, ``"none"`` or a comma list of :data:`FAULTS` → a tuple of fault kinds."""
    if text is None or text == "all":
        return FAULTS
    items = [x.strip() for x in (text.split(",") if isinstance(text, str) else text) if x.strip()]
    if items == ["none"]:
        return ()
    bad = [x for x in items if x not in FAULTS]
    if bad:
        raise ValueError(f"unknown fault {bad[0]!r}; use all, none or some of {', '.join(FAULTS)}")
    if "new_identity" in items and "start" not in items:
        items.append("start")
    return tuple(x for x in FAULTS if x in items)


def durations_for(t: Timings) -> list[float]:
    """The duration ladder: short fixed values and each timing that matters x 0.5, 0.9, 1, 1.1, 2."""
    points = [t.heartbeat_interval, t.disconnect_timeout, t.health_check, t.reeval_batch_delay,
              t.transport_register_delay, t.connected_after, t.restart_grace, t.pending_timeout]
    out = {0.5, 1.0, 5.0}
    for p in points:
        if p and p > 0:
            out.update(round(p * f, 3) for f in (0.5, 0.9, 1.0, 1.1, 2.0))
    return sorted(out)


def settle_for(t: Timings) -> float:
    """Long enough after the epilogue for every remedy to have fired: a ghost node's lost timeout,
    a disconnect and its health check, a node-join batch, the pending timeout and its
    housekeeping tick, the watcher's longest back-off, the restart grace — one after the other, plus
    four heartbeats."""
    return (t.disconnect_timeout + t.health_check + t.lost_timeout + t.reeval_batch_delay + t.pending_timeout
            + 2 * t.housekeeping_interval + t.watcher_max_backoff + t.restart_grace + 4 * t.heartbeat_interval)


def _subset(draw: Callable[[Any], Any], pool: list[str]) -> list[str]:
    """A non-empty subset, shrinking towards the first element alone."""
    if len(pool) == 1:
        return list(pool)
    if draw(st.booleans()):
        return list(pool)  # all of them
    picked = [x for x in pool if draw(st.booleans())]
    return picked or [pool[0]]


def draw_schedule(draw: Callable[[Any], Any], timings: Timings, *, faults: Sequence[str] = FAULTS,
                  max_edges: int = 3, max_steps: int = 10) -> Schedule:
    """Draw one valid schedule. Every choice goes through ``draw``, shortest/simplest first."""
    ladder = durations_for(timings)
    n_edges = draw(st.integers(1, max_edges))
    names = [f"edge{i + 1}" for i in range(n_edges)]
    alive, killed, parted = list(names), [], []
    deployed: list[str] = []
    joins = 0
    sched = Schedule(n_edges)
    n_steps = draw(st.integers(1, max_steps))
    for _ in range(n_steps):
        ops = ["sleep", "deploy"]
        if deployed:
            ops.append("stop_job")
        # a partitioned edge is healed before it is killed: backends disagree on whether a
        # partition outlives the process (the sim keeps it, a recreated container does not)
        if "kill" in faults and [n for n in alive if n not in parted]:
            ops.append("kill")
        if "start" in faults and killed:
            ops.append("start")
        if "partition" in faults and [n for n in alive if n not in parted]:
            ops.append("partition")
        if "partition" in faults and parted:
            ops.append("heal")
        if "restart_orchestrator" in faults:
            ops.append("restart_orchestrator")
        if "join" in faults and joins < MAX_JOINS:
            ops.append("join")
        ops += [t for t in TRANSPORT if t in faults and alive]
        op = draw(st.sampled_from(ops))
        if op == "sleep":
            sched.steps.append(("sleep", ladder[draw(st.integers(0, len(ladder) - 1))]))
        elif op == "deploy":
            file, name, _type = JOBS[draw(st.integers(0, len(JOBS) - 1))]
            force = name in deployed and draw(st.booleans())
            sched.steps.append(("deploy", {"file": file, "force": True} if force else file))
            if name not in deployed:
                deployed.append(name)
        elif op == "stop_job":
            name = deployed[draw(st.integers(0, len(deployed) - 1))]
            deployed.remove(name)
            sched.steps.append(("stop_job", name))
        elif op == "kill":
            chosen = _subset(draw, [n for n in alive if n not in parted])
            alive = [n for n in alive if n not in chosen]
            killed += chosen
            sched.steps.append(("kill", chosen))
        elif op == "start":
            chosen = _subset(draw, killed)
            killed = [n for n in killed if n not in chosen]
            alive += chosen
            new = "new_identity" in faults and draw(st.booleans())
            sched.steps.append(("start", {"edges": chosen, "new_identity": True} if new else chosen))
        elif op == "partition":
            chosen = _subset(draw, [n for n in alive if n not in parted])
            parted += chosen
            sched.steps.append(("partition", chosen))
        elif op == "heal":
            chosen = _subset(draw, parted)
            parted = [n for n in parted if n not in chosen]
            sched.steps.append(("heal", chosen))
        elif op == "restart_orchestrator":
            downtime = ladder[draw(st.integers(0, min(8, len(ladder) - 1)))]
            sched.steps.append(("restart_orchestrator", {"downtime": downtime}))
        elif op == "join":
            joins += 1
            name = f"edge{n_edges + joins}"
            alive.append(name)
            sched.steps.append(("join", name))
        elif op in TRANSPORT:
            sched.steps.append((op, _subset(draw, list(alive))))
    return sched


def is_valid(sched: Schedule) -> bool:
    """Whether :func:`draw_schedule` could have drawn ``sched`` (the shrinker's candidates must be
    schedules of the same grammar: no kill of a dead or partitioned edge, no start of a running one,
    no heal without its partition, no stop or ``--force`` of a job not deployed, joins in order)."""
    names = [f"edge{i + 1}" for i in range(sched.edges)]
    alive, killed, parted = set(names), set(), set()
    deployed: set[str] = set()
    joins = 0
    job_of = {f: n for f, n, _ in JOBS}
    for op, arg in sched.steps:
        edges = arg["edges"] if isinstance(arg, dict) and "edges" in arg else arg
        if op in EDGE_OPS and (not isinstance(edges, list) or not edges or len(set(edges)) != len(edges)):
            return False
        if op == "deploy":
            file = arg["file"] if isinstance(arg, dict) else arg
            if file not in job_of or (isinstance(arg, dict) and arg.get("force") and job_of[file] not in deployed):
                return False
            deployed.add(job_of[file])
        elif op == "stop_job":
            if arg not in deployed:
                return False
            deployed.discard(arg)
        elif op == "kill":
            if not set(edges) <= alive - parted:
                return False
            alive -= set(edges)
            killed |= set(edges)
        elif op == "start":
            if not set(edges) <= killed:
                return False
            killed -= set(edges)
            alive |= set(edges)
        elif op == "partition":
            if not set(edges) <= alive - parted:
                return False
            parted |= set(edges)
        elif op == "heal":
            if not set(edges) <= parted:
                return False
            parted -= set(edges)
        elif op == "join":
            joins += 1
            if joins > MAX_JOINS or arg != f"edge{sched.edges + joins}":
                return False
            alive.add(arg)
        elif op in TRANSPORT:
            if not set(edges) <= alive:
                return False
        elif op not in ("sleep", "restart_orchestrator"):
            return False
    return bool(sched.steps)


def scenario_doc(sched: Schedule, timings_spec: dict[str, Any], fix: str, *, name: str = "search",
                 description: str = "", settle: float, expect: dict[str, Any] | None = None,
                 job_dir: str = "") -> dict[str, Any]:
    """The schedule as an ordinary scenario document (what ``repro run`` reads)."""
    names = sched.edge_names()
    steps: list[dict[str, Any]] = [{"up": {}},
                                   {"wait_for": {"nodes": "connected", "count": len(names), "timeout": "2m"}}]
    alive, killed, parted = set(names), [], []
    for op, arg in sched.steps:
        arg = _with_job_dir(op, arg, job_dir)
        if op == "sleep":
            steps.append({"sleep": format_duration(float(arg))})
        elif op == "restart_orchestrator":
            steps.append({"restart_orchestrator": {"downtime": format_duration(float(arg["downtime"]))}})
        else:
            steps.append({op: arg})
        edges = arg["edges"] if isinstance(arg, dict) and "edges" in arg else arg
        if op == "kill":
            killed += edges
            alive -= set(edges)
        elif op == "start":
            killed = [n for n in killed if n not in edges]
            alive |= set(edges)
        elif op == "partition":
            parted += edges
        elif op == "heal":
            parted = [n for n in parted if n not in edges]
        elif op == "join":
            alive.add(arg)
    if parted:
        steps.append({"heal": list(parted)})
    if killed:
        steps.append({"start": list(killed)})
    steps.append({"sleep": format_duration(settle)})
    steps.append({"snapshot": {}})
    doc: dict[str, Any] = {"name": name}
    if description:
        doc["description"] = description
    doc.update({"timings": dict(timings_spec), "fix": fix, "edges": names, "steps": steps})
    if expect:
        doc["expect"] = expect
    return doc


def _with_job_dir(op: str, arg: Any, job_dir: str) -> Any:
    if op != "deploy" or not job_dir:
        return arg
    if isinstance(arg, dict):
        return {**arg, "file": f"{job_dir}/{arg['file']}"}
    return f"{job_dir}/{arg}"
