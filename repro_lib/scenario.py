"""Scenario files: the seed's steps as data, runnable on any stack (DESIGN.md).

A scenario has ``name``, ``description``, ``timings`` (preset + overrides), ``fix``,
``edges``, ``params`` (usable as ``${name}`` in steps), ``steps`` and ``expect``. A step is a
one-key mapping; ``kill: [edge1, edge2]`` is shorthand for ``kill: {edges: [edge1, edge2]}``.
Everything is validated before anything runs: a bad scenario fails fast, with the file and the
step in the message, and nothing is written.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from repro_lib.durations import parse_duration
from repro_lib.errors import (
    DurationError,
    JobSpecError,
    ReproError,
    ScenarioError,
    SetError,
    StackError,
    WaitTimeout,
)
from repro_lib.events import EDGE_NAME_RE, RESERVED_EDGE_NAMES
from repro_lib.jobs import JobSpec, load_job
from repro_lib.model.types import FIXES, Policies
from repro_lib.run import Run
from repro_lib.schema import (
    MAX_EDGES,
    MapOf,
    SchemaError,
    Spec,
    YamlDoc,
    YamlLimitError,
    describe_value,
    dotted,
    load_yaml_text,
    located,
    read_yaml,
    scenario_schema,
)
from repro_lib.stacks import Stack, make_stack
from repro_lib.timings import Timings, timings_from

__all__ = ["Interrupted", "Scenario", "Step", "load_scenario", "parse_scenario", "run_scenario", "STEP_NAMES",
           "TRANSPORT_STEPS", "EDGE_STEPS",
           "parse_step", "run_step", "make_stack", "apply_sets", "set_edges", "run_live", "apply_run_fields"]

#: transport faults (docs/nats-transport.md): the server closes an edge's connection as stale or as a slow
#: consumer, or the edge's client drops it and reconnects. Sim only: the live stacks cannot make nats-server do so.
TRANSPORT_STEPS = ("stale_close", "slow_consumer", "reconnect")
#: the steps whose argument is a list of edges
EDGE_STEPS = ("kill", "start", "partition", "heal", *TRANSPORT_STEPS)
STEP_NAMES = ("up", "down", "wait_for", "sleep", "deploy", "stop_job", "kill", "start", "join",
              "partition", "heal", *TRANSPORT_STEPS, "restart_orchestrator", "snapshot")
_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Step:
    """One validated step: ``op`` with normalised ``args``."""

    index: int
    op: str
    args: dict[str, Any]
    job: JobSpec | None = None

    def describe(self) -> str:
        a = self.args
        if self.op in EDGE_STEPS:
            extra = " (new identity)" if a.get("new_identity") else ""
            return f"{self.op} {', '.join(a['edges'])}{extra}"
        if self.op == "deploy":
            return f"deploy {a['file']}"
        if self.op == "sleep":
            return f"sleep {a['duration']:g}s"
        if self.op == "wait_for":
            what = {k: v for k, v in a.items() if k not in ("timeout", "on_timeout")}
            return f"wait_for {what} (timeout {a['timeout']:g}s)"
        return self.op + (f" {a}" if a else "")


@dataclass
class Scenario:
    name: str
    description: str
    timings: Timings
    fix: list[str]
    edges: list[str]
    params: dict[str, Any]
    steps: list[Step]
    expect: dict[str, Any]
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:  # short: a notebook shows it, and a shared report must not show local paths
        where = ""
        if self.path is not None:
            try:
                where = f", path={str(Path(self.path).resolve().relative_to(Path.cwd().resolve()))!r}"
            except ValueError:
                where = f", path={Path(self.path).name!r}"
        return (f"Scenario(name={self.name!r}, fix={'+'.join(self.fix)!r}, edges={len(self.edges)}, "
                f"steps={len(self.steps)}, timings={self.timings.preset!r}{where})")

    @property
    def policies(self) -> Policies:
        return Policies.from_fix(self.fix)

    def resolved_yaml(self) -> str:
        """The scenario as it ran: sets applied, params substituted."""
        doc = copy.deepcopy(self.raw)
        doc["timings"] = {k: v for k, v in self.timings.describe().items()}
        doc["fix"] = self.fix if len(self.fix) > 1 else self.fix[0]
        doc["params"] = self.params
        doc["steps"] = [{s.op: s.args} for s in self.steps]
        return yaml.safe_dump(doc, sort_keys=False)


# -- loading ------------------------------------------------------------------------------------
def load_scenario(path: str | Path, sets: list[str] | None = None) -> Scenario:
    """Read (bounded: :func:`repro_lib.schema.read_yaml`), apply ``--set KEY=VALUE`` overrides, and
    validate a scenario file; every error names ``file:line:column``."""
    p = Path(path)
    try:
        source = read_yaml(p, what="scenario")
    except YamlLimitError as e:
        raise ScenarioError(e.problem, path=e.where, hint=e.hint) from None
    return parse_scenario(source.data, path=p, sets=sets, source=source)


def set_edges(doc: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The same scenario on other edges: steps that acted on *all* the old edges (kill, start,
    partition, heal) act on all the new ones, and ``wait_for nodes … count`` follows the number."""
    doc = {**doc, "steps": [dict(s) if isinstance(s, dict) else s for s in doc.get("steps") or []]}
    old = list(doc.get("edges") or ["edge1", "edge2"])
    doc["edges"] = list(names)
    for step in doc["steps"]:
        if not isinstance(step, dict) or len(step) != 1:
            continue
        op, v = next(iter(step.items()))
        if op in EDGE_STEPS:
            listed = v.get("edges") if isinstance(v, dict) else v
            if isinstance(listed, list) and sorted(listed) == sorted(old):
                step[op] = {**v, "edges": list(names)} if isinstance(v, dict) else list(names)
        elif op == "wait_for" and isinstance(v, dict) and v.get("nodes") and v.get("count") == len(old):
            step[op] = {**v, "count": len(names)}
    return doc


def edge_names(value: str) -> list[str]:
    """``--set edges=``: a count (``20`` → edge1 … edge20) or names (``edge1,edge2``)."""
    value = value.strip()
    if value.isdigit():
        n = int(value)
        if not 1 <= n <= MAX_EDGES:
            raise SetError(f"--set edges={value}: the number of edges must be 1 to {MAX_EDGES:,}")
        return [f"edge{i}" for i in range(1, n + 1)]
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names or any(not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", n) for n in names):
        raise SetError(f"--set edges={value!r}: expected a number of edges (20) or names like edge1,edge2,edge3")
    if len(set(names)) != len(names):
        raise SetError(f"--set edges={value!r}: an edge is named twice")
    return names


def apply_sets(doc: dict[str, Any], sets: list[str], where: str = "scenario") -> dict[str, Any]:
    """Apply ``timings.X=V``, ``fix=V``, ``params.X=V``, ``edges=a,b``, ``name=…`` overrides."""
    doc = copy.deepcopy(doc)
    for item in sets:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SetError(f"--set {item!r} is not KEY=VALUE", hint="e.g. --set timings.disconnect_timeout=90s")
        try:  # the bounded loader: 2,000 nested brackets or an alias bomb in a --set is no traceback either
            parsed: Any = load_yaml_text(value, f"--set {key}").data if value.strip() else ""
        except YamlLimitError as e:
            if not e.problem.startswith("not valid YAML"):
                raise SetError(f"--set {key}: {e.problem}", hint=e.hint) from None
            parsed = value  # not YAML (`[`, `,,`): the text as given; the key's own check judges it
        head, _, sub = key.partition(".")
        if head == "timings" and sub:
            doc.setdefault("timings", {})
            if not isinstance(doc["timings"], dict):
                doc["timings"] = {}
            doc["timings"][sub] = value.strip()
        elif head == "params" and sub:
            params = doc.setdefault("params", {}) or {}
            if sub not in params:
                raise SetError(f"--set {key}: the scenario has no param {sub!r}",
                               hint=f"its params are: {', '.join(params) or 'none'}")
            params[sub] = parsed
            doc["params"] = params
        elif key == "fix":
            if not value.strip():
                raise SetError("--set fix= needs a value", hint="none, block, redispatch-on-join, …")
            doc["fix"] = [v.strip() for v in value.split(",")] if "," in value else value.strip()
        elif key == "edges":
            doc = set_edges(doc, edge_names(value))
        elif key in ("name", "description"):
            doc[key] = value
        else:
            raise SetError(f"--set {key}: unknown key",
                           hint="use timings.<name>, timings.preset, fix, params.<name> or edges")
    return doc


def parse_scenario(doc: Any, *, path: Path | None = None, sets: list[str] | None = None,
                   source: YamlDoc | None = None) -> Scenario:
    """Validate a scenario document against :func:`repro_lib.schema.scenario_schema` (types and bounds of
    every key, step and argument), then its meaning (known edges, job files, timing rules). ``source``
    (from :func:`load_scenario`) lets every error name ``file:line:column``."""
    where = str(path) if path else "scenario"
    if source is not None:
        source.sets = list(sets or ())
    at = located(source, where)
    if not isinstance(doc, dict):
        raise ScenarioError(f"a scenario must be a YAML mapping, got {describe_value(doc)}", path=at(()),
                            hint="a scenario is a mapping with name and steps, like scenarios/core-395.yaml")
    if sets:
        doc = apply_sets(doc, sets, where)
    spec = language()
    # params first: ${name} in timings and steps stands for its value, which is what is checked there
    params = _checked(spec.keys["params"], doc.get("params"), ("params",), at, doc)
    sub = dict(doc)
    if doc.get("timings") is not None:
        sub["timings"] = _subst(doc["timings"], params, at(("timings",)), None)
    if isinstance(doc.get("steps"), list):
        sub["steps"] = [_subst(s, params, at(("steps", i)), i) if _has_param(s) else s
                        for i, s in enumerate(doc["steps"])]
    checked = _checked(spec, sub, (), at, doc)
    try:
        timings = timings_from(checked.get("timings") or {})
    except (SetError, DurationError) as e:
        raise ScenarioError(f"timings: {e.message}", path=at(("timings",)), hint=e.hint) from None
    fix = checked.get("fix", "none") or "none"
    fixes = [fix] if isinstance(fix, str) else list(fix)
    edges = checked.get("edges")
    if edges is None:  # `edges: []` is a stack whose every edge joins later
        edges = ["edge1", "edge2"]
    seen: set[str] = set()
    for j, e in enumerate(edges):
        if e.lower() in RESERVED_NAMES or not _EDGE_NAME.fullmatch(e):
            _check_edge_name(e, at(("edges", j)), None)
        if e in seen:
            raise ScenarioError(f"edges: {e!r} is listed twice", path=at(("edges", j)), hint="name each edge once")
        seen.add(e)
    expect = checked.get("expect") or {}
    if "violates" in expect:
        v = expect["violates"]
        expect = {**expect, "violates": v if isinstance(v, list) else [v]}
    incident = checked.get("incident")
    if isinstance(incident, dict) and "fix" in incident and str(incident["fix"]) not in FIXES and not all(
            f in FIXES for f in str(incident["fix"]).split(",")):
        raise ScenarioError(f"incident.fix {incident['fix']!r} is not a fix", path=at(("incident", "fix")),
                            hint=f"use one of {', '.join(FIXES)}")
    # job files: the cwd, then the scenario's folder, then its parent (scenarios/ beside pipelines/)
    search = (path.parent, path.parent.parent) if path else ()
    known_edges = set(edges)
    steps = [parse_step(i, s, params, known_edges, search, at(("steps", i))) for i, s in enumerate(checked["steps"])]
    return Scenario(name=str(checked["name"]), description=str(checked.get("description") or ""), timings=timings,
                    fix=[f for f in fixes if f != "none"] or ["none"], edges=list(edges),
                    params=params, steps=steps, expect=expect, labels=dict(checked.get("labels") or {}),
                    path=path, raw=doc)


def language() -> MapOf:
    """The scenario language's schema (:func:`repro_lib.schema.scenario_schema`) for this kit's steps, fixes,
    checks and delivery classes."""
    from repro_lib.analysis.checks import CHECKS
    from repro_lib.analysis.delivery import CLASSES

    return scenario_schema(tuple(STEP_NAMES), tuple(FIXES), tuple(CHECKS), tuple(CLASSES))


def _has_param(value: Any) -> bool:
    """Does ``${`` occur in any text of a step (its arguments are small: a walk costs little)?"""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_has_param(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_param(v) for v in value)
    return False


def _checked(spec: Spec, value: Any, path: tuple[Any, ...], at: Callable[..., str], raw: dict[str, Any]) -> Any:
    """``spec.check`` with a :class:`SchemaError` turned into one line: ``file:line:column, step N: path: problem``."""
    try:
        return spec.check(value, path)
    except SchemaError as e:
        step = e.path[1] if len(e.path) > 1 and e.path[0] == "steps" and isinstance(e.path[1], int) else None
        inner = e.path[2:] if step is not None else e.path
        inner = inner[:-1] if e.on_key else inner  # "unknown key 'x'" names the key itself
        origin = _raw_at(raw, e.path)
        note = f" (from {origin[:80]})" if isinstance(origin, str) and "${" in origin and origin != e.got else ""
        text = f"{dotted(inner)}: {e.problem}{note}" if inner and not e.named else f"{e.problem}{note}"
        raise ScenarioError(text, path=at(e.path, key=e.on_key), step=step, hint=e.hint) from None


def _raw_at(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        if isinstance(doc, dict) and p in doc:
            doc = doc[p]
        elif isinstance(doc, list) and isinstance(p, int) and 0 <= p < len(doc):
            doc = doc[p]
        else:
            return None
    return doc


def _subst(value: Any, params: dict[str, Any], where: str, step: int | None) -> Any:
    if isinstance(value, str):
        whole = _PARAM.fullmatch(value)
        if whole:
            return _param(whole.group(1), params, where, step)
        return _PARAM.sub(lambda m: str(_param(m.group(1), params, where, step)), value)
    if isinstance(value, list):
        return [_subst(v, params, where, step) for v in value]
    if isinstance(value, dict):
        return {k: _subst(v, params, where, step) for k, v in value.items()}
    return value


def _param(name: str, params: dict[str, Any], where: str, step: int | None) -> Any:
    if name not in params:
        raise ScenarioError(f"unknown param ${{{name}}}", path=where, step=step,
                            hint=f"define it under params (known: {', '.join(params) or 'none'})")
    return params[name]


def _edge_list(v: Any, where: str, i: int, op: str) -> list[str]:
    if isinstance(v, dict):
        v = v.get("edges")
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(e, str) for e in v):
        raise ScenarioError(f"{op}: expected a list of edge names", path=where, step=i)
    return v


def _dur(v: Any, where: str, i: int, what: str) -> float:
    try:
        return parse_duration(v, what=what)
    except DurationError as e:
        raise ScenarioError(e.message, path=where, step=i, hint=e.hint) from None


def _only(args: dict[str, Any], allowed: set[str], op: str, where: str, i: int) -> None:
    extra = set(args) - allowed
    if extra:
        raise ScenarioError(f"{op}: unknown key(s) {', '.join(sorted(extra))}", path=where, step=i,
                            hint=f"{op} takes {', '.join(sorted(allowed)) or 'no keys'}")


#: names the events table and the stacks already give to something that is not an edge (events.py's
#: ``source`` column): an edge called so would be mistaken for it
RESERVED_NAMES = RESERVED_EDGE_NAMES
_EDGE_NAME = EDGE_NAME_RE


def _check_edge_name(name: str, where: str, step: int | None) -> None:
    """An edge may be called anything a hostname or container may be called — except what the
    events already call something else."""
    if name.lower() in RESERVED_NAMES:
        raise ScenarioError(f"an edge cannot be called {name!r}: the events already name the "
                            f"{'NATS server' if name.lower() == 'nats' else name.lower()} so", path=where, step=step,
                            hint=f"choose another name (reserved: {', '.join(sorted(RESERVED_NAMES))})")
    if not _EDGE_NAME.fullmatch(name):
        raise ScenarioError(f"edge name {name!r} is not a valid node name", path=where, step=step,
                            hint="use letters, digits, '-', '_' or '.', starting with a letter or digit")


def parse_step(i: int, raw: Any, params: dict[str, Any], edges: set[str], search: tuple[Path, ...],
                where: str) -> Step:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ScenarioError("a step must be a one-key mapping like `- sleep: 5s`", path=where, step=i)
    op, value = next(iter(raw.items()))
    if op not in STEP_NAMES:
        raise ScenarioError(f"unknown step {op!r}", path=where, step=i,
                            hint=f"steps are: {', '.join(STEP_NAMES)}")
    v = _subst(value, params, where, i)
    args: dict[str, Any]
    job = None
    if op in ("up", "down"):
        args = dict(v or {})
        _only(args, set(), op, where, i)
    elif op == "sleep":
        d = v.get("duration") if isinstance(v, dict) else v
        args = {"duration": _dur(d, where, i, "sleep duration")}
    elif op == "deploy":
        args = dict(v) if isinstance(v, dict) else {"file": v}
        _only(args, {"file", "force"}, op, where, i)
        if not isinstance(args.get("file"), str):
            raise ScenarioError("deploy: expected a job file path", path=where, step=i)
        try:
            job = load_job(args["file"], search=search)
        except JobSpecError as e:
            raise ScenarioError(f"deploy: {e.message}", path=where, step=i, hint=e.hint) from None
        args["force"] = bool(args.get("force", False))
    elif op == "stop_job":
        args = dict(v) if isinstance(v, dict) else {"job": v}
        _only(args, {"job"}, op, where, i)
        if not isinstance(args.get("job"), str):
            raise ScenarioError("stop_job: expected a job name", path=where, step=i)
    elif op in EDGE_STEPS:
        names = _edge_list(v, where, i, op)
        args = {"edges": names}
        if isinstance(v, dict):
            _only(v, {"edges", "new_identity"} if op == "start" else {"edges"}, op, where, i)
            if op == "start":
                args["new_identity"] = bool(v.get("new_identity", False))
        for n in names:
            if n not in edges:
                raise ScenarioError(f"{op}: unknown edge {n!r}", path=where, step=i,
                                    hint=f"edges are {', '.join(sorted(edges))}; add a join step first")
    elif op == "join":
        args = dict(v) if isinstance(v, dict) else {"name": v}
        _only(args, {"name", "labels"}, op, where, i)
        if not isinstance(args.get("name"), str):
            raise ScenarioError("join: expected an edge name", path=where, step=i)
        if args["name"] in edges:
            raise ScenarioError(f"join: edge {args['name']!r} already exists", path=where, step=i,
                                hint="use start to bring back an existing edge")
        if len(edges) >= MAX_EDGES:
            raise ScenarioError(f"join: a scenario has at most {MAX_EDGES:,} edges, like --set edges", path=where,
                                step=i)
        _check_edge_name(args["name"], where, i)
        edges.add(args["name"])
    elif op == "restart_orchestrator":
        args = dict(v or {})
        _only(args, {"downtime"}, op, where, i)
        args["downtime"] = _dur(args.get("downtime", "5s"), where, i, "downtime")
    elif op == "snapshot":
        args = dict(v or {}) if not isinstance(v, str) else {"label": v}
        _only(args, {"label"}, op, where, i)
    else:  # wait_for
        args = _parse_wait(v, where, i)
    return Step(i, op, args, job)


def _parse_wait(v: Any, where: str, i: int) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ScenarioError("wait_for: expected a mapping like {nodes: connected, count: 2, timeout: 2m}",
                            path=where, step=i)
    args = dict(v)
    _only(args, {"nodes", "count", "job", "state", "executions", "timeout", "on_timeout"}, "wait_for",
          where, i)
    args["timeout"] = _dur(args.get("timeout", "2m"), where, i, "wait_for timeout")
    args["on_timeout"] = args.get("on_timeout", "fail")
    if args["on_timeout"] not in ("fail", "continue"):
        raise ScenarioError("wait_for: on_timeout must be fail or continue", path=where, step=i)
    if "nodes" in args:
        if args["nodes"] not in ("connecting", "connected", "disconnected", "lost"):
            raise ScenarioError(f"wait_for: unknown node state {args['nodes']!r}", path=where, step=i)
        args["count"] = int(args.get("count", 1))
    elif "executions" in args:
        if "job" not in args:
            raise ScenarioError("wait_for executions needs `job`", path=where, step=i)
        args["count"] = int(args.get("count", 1))
    elif "job" in args:
        if "state" not in args:
            raise ScenarioError("wait_for job needs `state`", path=where, step=i)
    else:
        raise ScenarioError("wait_for needs one of nodes, job or executions", path=where, step=i)
    return args


# -- running --------------------------------------------------------------------------------------
def _condition(stack: Stack, a: dict[str, Any]) -> Callable[[], bool]:
    if "nodes" in a:
        return lambda: stack.count_nodes(a["nodes"]) >= a["count"]
    if "executions" in a:
        return lambda: stack.count_executions(a["job"], a["executions"]) >= a["count"]
    return lambda: stack.job_state(a["job"]) == a["state"]


def run_scenario(sc: Scenario, *, backend: str = "sim", seed: int = 0, stack: Stack | None = None,
                 progress: Callable[[Step, Stack], None] | None = None, keep_up: bool = False,
                 **options: Any) -> Run:
    """Run every step on a stack and return the :class:`Run`. A failing step ends the run early
    with ``run.error`` set; what was captured so far is kept. A non-sim stack is taken down at
    the end (and on Ctrl-C) unless ``keep_up``."""
    stack = stack or make_stack(backend, sc, seed, **options)
    snapshots = []
    steps: list[dict[str, Any]] = []
    error = None
    interrupted: KeyboardInterrupt | None = None
    step = None
    try:
        for step in sc.steps:
            if progress:
                progress(step, stack)
            t0 = stack.now
            result = run_step(stack, step, snapshots)
            steps.append({"step": step.index + 1, "op": step.op, "t_start_s": round(t0, 6),
                          "t_end_s": round(stack.now, 6), "result": result, "describe": step.describe()})
    except ReproError as e:
        error = str(e) if isinstance(e, ScenarioError) else str(
            ScenarioError(e.message, path=str(sc.path or sc.name), step=step.index if step else None, hint=e.hint))
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM turned into it by the CLI: stop, keep what ran
        interrupted = e
        why = str(e) if str(e).startswith("SIG") else "Ctrl-C"
        error = f"interrupted ({why}) at step {step.index + 1 if step else 0} of {len(sc.steps)}"
    finally:
        try:
            snapshots.append(stack.snapshot("final"))
        finally:
            if not keep_up and stack.backend != "sim":
                stack.down()
    counts = dict(getattr(stack, "counts", {}) or {})
    fields: dict[str, Any] = {"records": stack.records}
    if hasattr(stack, "run_fields"):  # live stacks: events from captured logs, raw logs, real epoch
        fields.update(stack.run_fields())
    run = Run(scenario=sc, backend=stack.backend, seed=seed, timings=sc.timings, fix=sc.fix,
              snapshots=snapshots, steps=steps, counts=counts, error=error, **fields)
    if interrupted is not None:
        raise Interrupted(str(interrupted), run) from None
    return run


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during :func:`run_scenario`: the stack is down, and ``run`` holds what ran
    (its ``error`` says where it stopped; its verdict is judged on the partial evidence). Still a
    KeyboardInterrupt, so a loop of runs stops."""

    def __init__(self, why: str, run: Run | None = None) -> None:
        super().__init__(why)
        self.run = run


def run_step(stack: Stack, step: Step, snapshots: list[Any]) -> str:
    a = step.args
    op = step.op
    if op == "up":
        stack.up()
    elif op == "down":
        stack.down()
    elif op == "sleep":
        stack.advance(a["duration"])
    elif op == "deploy":
        assert step.job is not None
        return stack.deploy(step.job, force=a["force"])
    elif op == "stop_job":
        return "stopped" if stack.stop_job(a["job"]) else "no such running job"
    elif op == "kill":
        stack.kill(a["edges"])
    elif op == "start":
        stack.start(a["edges"], new_identity=a.get("new_identity", False))
    elif op == "join":
        stack.join(a["name"], a.get("labels"))
    elif op == "partition":
        stack.partition(a["edges"])
    elif op == "heal":
        stack.heal(a["edges"])
    elif op in TRANSPORT_STEPS:
        fault = getattr(stack, op, None)
        if fault is None:
            raise StackError(f"{op} is a transport fault only the sim models (nats-server cannot be told to close "
                             f"one client's connection)", hint="run this scenario with --backend sim")
        fault(a["edges"])
    elif op == "restart_orchestrator":
        stack.restart_orchestrator(a["downtime"])
    elif op == "snapshot":
        snapshots.append(stack.snapshot(a.get("label") or f"step {step.index + 1}"))
    elif op == "wait_for":
        ok = stack.wait_for(_condition(stack, a), a["timeout"])
        if not ok:
            if a["on_timeout"] == "fail":
                raise WaitTimeout(f"wait_for timed out after {a['timeout']:g}s: {step.describe()}",
                                  hint="raise the timeout, or set on_timeout: continue")
            return "timeout"
        return "ok"
    return "ok"


def apply_run_fields(run: Any, stack: Any) -> Any:
    """Give a :class:`Run` made by ``run_scenario`` the live stack's events and raw logs."""
    fields = stack.run_fields() if hasattr(stack, "run_fields") else {}
    for k, v in fields.items():
        setattr(run, k, v)
    run._verdict = None
    run._checks = None
    return run


def run_live(sc: Any, backend: str, *, seed: int = 0, **options: Any) -> Any:
    """``run_scenario`` on a live backend, with the captured events attached to the Run."""
    stack = make_stack(backend, sc, seed, **options)
    run = run_scenario(sc, backend=backend, seed=seed, stack=stack)
    return apply_run_fields(run, stack)
