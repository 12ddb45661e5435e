"""The scenario language as data: every key, step and argument with its type and bounds, a bounded YAML
loader that keeps where each value is written, and one-line errors naming ``file:line:column``, the path
and the expected type.

Why a small declarative table and not pydantic or jsonschema (measured by ``benchmarks/bench_schema.py``):
pydantic is not among the kit's dependencies, jsonschema only arrives through nbformat; neither knows a
duration (``15s``) or refuses NaN for "number" by itself; neither knows where a value was written in the
YAML file, so either would need the same location index as this table; and the table validates a
10,000-edge scenario in a few milliseconds (jsonschema: several times longer, with its error still to be
translated). The step ops come from ``scenario.STEP_NAMES`` and the timings from
``dataclasses.fields(Timings)`` when the schema is built, so an op or a timing added there is validated
here without an edit (an op this table does not describe takes an edge list, like ``partition``).

The loader (:func:`read_yaml`) reads at most :data:`MAX_SCENARIO_BYTES`, refuses binary bytes, walks the
YAML events once before anything is built (nesting at most :data:`MAX_DEPTH`, at most :data:`MAX_NODES`
values once every alias is expanded, no alias inside its own anchor, no key twice in one mapping) and
then builds the document with libyaml's ``CSafeLoader`` where it is installed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from repro_lib.durations import parse_duration
from repro_lib.errors import DurationError, ReproError, yaml_problem, yaml_where

__all__ = ["MAX_EDGES", "MAX_STEPS", "MAX_DEPTH", "MAX_NODES", "MAX_SCENARIO_BYTES", "MAX_JOB_BYTES",
           "YamlDoc", "YamlLimitError", "SchemaError", "read_yaml", "load_yaml_text", "scenario_schema",
           "job_schema", "validate", "Spec", "Text", "Choice", "Whole", "Duration", "Flag", "Nothing", "ListOf",
           "MapOf", "OneOf", "Data", "Null", "describe_value", "dotted", "located", "step_spec", "STEP_ARGS"]

#: edges in a scenario, listed in the file or given by ``--set edges`` (and joined by steps)
MAX_EDGES = 10_000  # the fleet the kit's benchmarks run (bench_sim: 10,000 edges)
MAX_STEPS = 100_000
#: YAML nesting: a scenario needs 5 levels, an ``incident`` block 4
MAX_DEPTH = 32
#: values in a document once every alias is expanded (a 10,000-edge scenario with 100 full-fleet steps: ~1 M)
MAX_NODES = 1_000_000
MAX_SCENARIO_BYTES = 16 << 20
MAX_JOB_BYTES = 1 << 20
#: the longest text value (a description; a step's label); names are shorter
MAX_TEXT = 100_000

Path_ = tuple[Any, ...]


class YamlLimitError(ReproError):
    """A YAML file the loader refuses: ``where`` is ``file:line:column`` (or the file), ``problem`` what is wrong."""

    def __init__(self, where: str, problem: str, hint: str | None = None) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}", hint=hint)


class SchemaError(ReproError):
    """A value of the wrong type or out of bounds: ``path`` inside the document, ``expected``, ``got``."""

    def __init__(self, path: Path_, expected: str, got: Any, hint: str | None = None, *,
                 problem: str | None = None, on_key: bool = False, named: bool = False) -> None:
        self.path = path
        self.on_key = on_key
        self.named = named  # the problem names the value itself ("bad sleep duration '5 minutes'")
        self.expected = expected
        self.got = got
        self.problem = problem or f"expected {expected}, got {describe_value(got)}"
        super().__init__(f"{dotted(path) or 'the document'}: {self.problem}", hint=hint)


def dotted(path: Path_) -> str:
    """``("steps", 2, "wait_for", "count")`` -> ``steps[2].wait_for.count`` (indices as the file counts, from 0)."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def describe_value(v: Any) -> str:
    """A value as a reader names it: ``int 5``, ``text 'abc'``, ``a list of 3``, ``nothing (null)``."""
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"true/false {str(v).lower()}"
    if isinstance(v, int):
        return f"whole number {v}" if abs(v) < 10**15 else "a whole number with more than 15 digits"
    if isinstance(v, float):
        return f"number {'.nan' if v != v else '.inf' if v > 0 and math.isinf(v) else '-.inf' if math.isinf(v) else v}"
    if isinstance(v, str):
        return f"text {v[:40]!r}" + ("…" if len(v) > 40 else "")
    if isinstance(v, list):
        return f"a list of {len(v):,}"
    if isinstance(v, dict):
        return f"a mapping of {len(v):,} key(s)"
    return f"a {type(v).__name__}"


# -- the table's types ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """A value's type and bounds: :meth:`check` returns it (as the kit uses it) or raises :class:`SchemaError`."""

    what: str = "a value"
    hint: str | None = None
    kinds: tuple[type, ...] = (object,)  # the Python types this spec claims in a OneOf

    def check(self, v: Any, at: Path_) -> Any:
        return v

    def bad(self, v: Any, at: Path_, problem: str | None = None) -> SchemaError:
        return SchemaError(at, self.what, v, self.hint, problem=problem)


@dataclass(frozen=True)
class Nothing(Spec):
    """``up:`` or ``up: {}``: no arguments."""

    what: str = "nothing or {}"
    kinds: tuple[type, ...] = (type(None), dict)

    def check(self, v: Any, at: Path_) -> Any:
        if v is None or v == {}:
            return {}
        if isinstance(v, dict):
            raise SchemaError((*at, next(iter(v))), "no key here", next(iter(v)), self.hint,
                              problem=f"unknown key {next(iter(v))!r}: this step takes no arguments", on_key=True)
        raise self.bad(v, at)


@dataclass(frozen=True)
class Text(Spec):
    what: str = "text"
    lo: int = 0
    hi: int = MAX_TEXT
    pattern: str | None = None
    kinds: tuple[type, ...] = (str,)

    def check(self, v: Any, at: Path_) -> Any:
        if not isinstance(v, str):
            raise self.bad(v, at)
        if not self.lo <= len(v) <= self.hi:
            raise self.bad(v, at, f"expected {self.what} of {self.lo:,} to {self.hi:,} characters, got {len(v):,}")
        if self.pattern is not None and not re.fullmatch(self.pattern, v):
            raise self.bad(v, at)
        return v


@dataclass(frozen=True)
class Choice(Spec):
    """One of ``choices``; with a ``noun``, a wrong word reads ``unknown fix 'x'``."""

    choices: tuple[str, ...] = ()
    noun: str | None = None
    kinds: tuple[type, ...] = (str,)

    def check(self, v: Any, at: Path_) -> Any:
        if not isinstance(v, str) or v not in self.choices:
            if self.noun and isinstance(v, str):
                raise SchemaError(at, "", v, f"use one of {', '.join(self.choices)}",
                                  problem=f"unknown {self.noun} {v[:60]!r}" + _near(v, self.choices))
            raise SchemaError(at, f"one of {', '.join(self.choices)}", v, self.hint)
        return v


@dataclass(frozen=True)
class Whole(Spec):
    """A whole number in ``[lo, hi]``; ``from_text``: ``"12"`` too (a ``--set timings.X=12`` arrives as text)."""

    lo: int = 0
    hi: int = 10**9
    from_text: bool = False
    kinds: tuple[type, ...] = (int,)

    def check(self, v: Any, at: Path_) -> Any:
        n = v
        if self.from_text and isinstance(v, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", v):
            n = int(v)
        if isinstance(n, bool) or not isinstance(n, int) or not self.lo <= n <= self.hi:
            raise SchemaError(at, f"a whole number from {self.lo:,} to {self.hi:,}", v, self.hint)
        return n


@dataclass(frozen=True)
class Duration(Spec):
    """``15s``, ``5m``, ``1h30m``, ``200ms`` or seconds as a number: finite, ≥ 0, at most 365 days."""

    what: str = "a duration like 15s, 5m, 1h or 200ms (0 to 365d)"
    noun: str = "duration"
    kinds: tuple[type, ...] = (str, int, float)

    def check(self, v: Any, at: Path_) -> Any:
        try:
            if not isinstance(v, str | int | float):
                raise DurationError(f"bad {self.noun} ({describe_value(v)})")
            parse_duration(v, what=self.noun)
        except DurationError as e:
            problem = e.message if len(e.message) <= 200 else \
                f"bad {self.noun} {describe_value(v)} ({len(str(v)):,} characters)"
            raise SchemaError(at, self.what, v, f"expected {self.what}", problem=problem, named=True) from None
        return v


@dataclass(frozen=True)
class Flag(Spec):
    what: str = "true or false"
    kinds: tuple[type, ...] = (bool,)

    def check(self, v: Any, at: Path_) -> Any:
        if not isinstance(v, bool):
            raise self.bad(v, at)
        return v


@dataclass(frozen=True)
class ListOf(Spec):
    item: Spec = field(default_factory=Spec)
    lo: int = 0
    hi: int = 10_000
    kinds: tuple[type, ...] = (list,)
    cap_hint: str | None = None

    def check(self, v: Any, at: Path_) -> Any:
        if not isinstance(v, list):
            raise self.bad(v, at)
        if not self.lo <= len(v) <= self.hi:
            raise SchemaError(at, self.what, v, self.cap_hint or self.hint,
                              problem=f"expected {self.lo:,} to {self.hi:,} items, got {len(v):,}")
        check = self.item.check
        return [check(x, (*at, i)) for i, x in enumerate(v)]


@dataclass(frozen=True)
class MapOf(Spec):
    """A mapping: the named ``keys`` (``required`` among them), and others only if ``other`` types them."""

    keys: dict[str, Spec] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    other: Spec | None = None
    noun: str = "key"
    key: Spec = field(default_factory=lambda: Text("text", lo=1, hi=200))
    hi: int = 10_000
    null_ok: bool = False
    kinds: tuple[type, ...] = (dict,)

    def check(self, v: Any, at: Path_) -> Any:
        if v is None and self.null_ok:
            return {}
        if not isinstance(v, dict):
            raise self.bad(v, at)
        if len(v) > self.hi:
            raise SchemaError(at, self.what, v, self.hint, problem=f"expected at most {self.hi:,} keys, got {len(v):,}")
        out = {}
        for k, x in v.items():
            spec = self.keys.get(k) if isinstance(k, str) else None
            if spec is None:
                if self.other is None:
                    known = ", ".join(self.keys) or "none"
                    raise SchemaError((*at, k), "a known key", k, f"the keys here are: {known}",
                                      problem=f"unknown {self.noun} {k!r}" + _near(k, self.keys), on_key=True)
                self.key.check(k, (*at, k))
                spec = self.other
            out[k] = spec.check(x, (*at, k))
        for k in self.required:
            if k not in v:
                raise SchemaError(at, self.what, v, f"expected {self.what}", problem=f"has no `{k}`")
        return out


@dataclass(frozen=True)
class OneOf(Spec):
    """One of several shapes, chosen by the value's Python type (``kill: edge1`` / ``[edge1]`` / ``{edges: …}``)."""

    alts: tuple[Spec, ...] = ()

    def check(self, v: Any, at: Path_) -> Any:
        for alt in self.alts:
            if isinstance(v, alt.kinds) and not (isinstance(v, bool) and bool not in alt.kinds
                                                  and int in alt.kinds):
                return alt.check(v, at)
        raise self.bad(v, at)


@dataclass(frozen=True)
class Data(Spec):
    """Free-form data (``incident.conformance``, a job's ``config``): text, finite numbers, true/false, null,
    lists and mappings with text keys, nested at most ``depth`` levels."""

    what: str = "plain data (text, numbers, lists, mappings)"
    depth: int = 12
    kinds: tuple[type, ...] = (object,)

    def check(self, v: Any, at: Path_) -> Any:
        stack: list[tuple[Any, Path_, int]] = [(v, at, 0)]
        while stack:
            x, where, d = stack.pop()
            if d > self.depth:
                raise SchemaError(where, self.what, x, problem=f"nested deeper than {self.depth} levels")
            if isinstance(x, float) and not math.isfinite(x):
                raise SchemaError(where, "a finite number", x)
            if isinstance(x, list):
                stack.extend((y, (*where, i), d + 1) for i, y in enumerate(x))
            elif isinstance(x, dict):
                for k, y in x.items():
                    if not isinstance(k, str | int | float | bool) and k is not None:
                        raise SchemaError((*where, str(k)), "a text key", k)
                    stack.append((y, (*where, k), d + 1))
            elif not isinstance(x, str | int | float | bool) and x is not None:
                raise SchemaError(where, self.what, x)
        return v


def _near(key: Any, known: Iterable[str]) -> str:
    import difflib

    near = difflib.get_close_matches(str(key), list(known), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def validate(doc: Any, spec: Spec) -> Any:
    """``spec.check(doc, ())``: the document as the kit uses it, or a :class:`SchemaError` at its path."""
    return spec.check(doc, ())


# -- the scenario language -----------------------------------------------------------------------------
EDGE = Text("an edge name", lo=1, hi=253)
EDGES = ListOf("a list of edge names", item=EDGE, lo=1, hi=MAX_EDGES)
LABELS = MapOf("labels (a mapping of text to text, e.g. {zone: a})", other=Text("a label value (text)", hi=253,
                                                                                  hint="quote it, e.g. '1' or 'yes'"))


@dataclass(frozen=True)
class Null(Spec):
    what: str = "nothing"
    kinds: tuple[type, ...] = (type(None),)

    def check(self, v: Any, at: Path_) -> Any:
        if v is not None:
            raise self.bad(v, at)
        return None


@dataclass(frozen=True)
class _Finite(Spec):
    what: str = "a finite number"
    kinds: tuple[type, ...] = (float,)

    def check(self, v: Any, at: Path_) -> Any:
        if not math.isfinite(v):
            raise self.bad(v, at, f"{describe_value(v)} is not a finite number")
        return v


SCALAR = OneOf("text, a number or true/false", alts=(Text(), Flag(), Whole(lo=-10**15, hi=10**15), _Finite()))
PARAM_VALUE = OneOf("text, a number, true/false or a list of them",
                    alts=(Text(), Flag(), Whole(lo=-10**15, hi=10**15), _Finite(),
                          ListOf("a list of text or numbers", item=SCALAR, hi=MAX_EDGES)))


def _edge_op(*extra: tuple[str, Spec]) -> Spec:
    keys: dict[str, Spec] = {"edges": OneOf("an edge name or a list of them", alts=(EDGE, EDGES))}
    keys.update(dict(extra))
    return OneOf("an edge name, a list of edge names or {edges: [...]}", alts=(
        EDGE, EDGES, MapOf("{edges: [...]}", keys=keys, required=("edges",))),
        hint="e.g. `- kill: [edge1, edge2]`")


#: each step's arguments; an op in ``scenario.STEP_NAMES`` that is not here takes an edge list, like partition
STEP_ARGS: dict[str, Spec] = {
    "up": Nothing(hint="write `- up: {}`"),
    "down": Nothing(hint="write `- down: {}`"),
    "sleep": OneOf(Duration.what, alts=(Duration(noun="sleep duration"), MapOf(
        "{duration: 15s}", keys={"duration": Duration(noun="sleep duration")}, required=("duration",)))),
    "deploy": OneOf("a job file path or {file: PATH, force: true/false}", alts=(
        Text("a job file path", lo=1, hi=4096),
        MapOf("{file: PATH, force: true/false}", keys={"file": Text("a job file path", lo=1, hi=4096),
                                                       "force": Flag()}, required=("file",)))),
    "stop_job": OneOf("a job name or {job: NAME}", alts=(
        Text("a job name", lo=1, hi=253), MapOf("{job: NAME}", keys={"job": Text("a job name", lo=1, hi=253)},
                                                required=("job",)))),
    "kill": _edge_op(),
    "start": _edge_op(("new_identity", Flag())),
    "partition": _edge_op(),
    "heal": _edge_op(),
    "join": OneOf("an edge name or {name: NAME, labels: {...}}", alts=(
        EDGE, MapOf("{name: NAME, labels: {...}}", keys={"name": EDGE, "labels": LABELS}, required=("name",)))),
    "restart_orchestrator": OneOf("nothing or {downtime: 5s}", alts=(
        MapOf("{downtime: 5s}", keys={"downtime": Duration(noun="downtime")}), Nothing())),
    "snapshot": OneOf("nothing, a label or {label: TEXT}", alts=(
        MapOf("{label: TEXT}", keys={"label": Text("a label", hi=1000)}), Text("a label", hi=1000), Nothing())),
    "wait_for": MapOf("a mapping like {nodes: connected, count: 2, timeout: 2m}", keys={
        "nodes": Choice(choices=("connecting", "connected", "disconnected", "lost")),
        "count": Whole(lo=0, hi=10**6),
        "job": Text("a job name", lo=1, hi=253),
        "state": Text("a job state", lo=1, hi=64),
        "executions": Text("an execution state", lo=1, hi=64),
        "timeout": Duration(noun="wait_for timeout"),
        "on_timeout": Choice(choices=("fail", "continue")),
    }),
}
_DEFAULT_STEP = _edge_op()


def step_spec(op: str) -> Spec:
    """The arguments ``op`` takes: its entry in :data:`STEP_ARGS`, else an edge list (like ``partition``)."""
    return STEP_ARGS.get(op, _DEFAULT_STEP)


@dataclass(frozen=True)
class _Step(Spec):
    """``- op: args``: a one-key mapping whose key is a step op and whose value fits the op's arguments."""

    ops: tuple[str, ...] = ()
    what: str = "a one-key mapping like `- sleep: 5s`"
    kinds: tuple[type, ...] = (dict,)

    def check(self, v: Any, at: Path_) -> Any:
        if not isinstance(v, dict) or len(v) != 1:
            raise self.bad(v, at, f"a step must be a one-key mapping like `- sleep: 5s`, got {describe_value(v)}")
        op, args = next(iter(v.items()))
        if op not in self.ops:
            raise SchemaError((*at, op), "a step", op, f"steps are: {', '.join(self.ops)}",
                              problem=f"unknown step {op!r}" + _near(op, self.ops), on_key=True)
        return {op: step_spec(op).check(args, (*at, op))}


def _timing_specs() -> dict[str, Spec]:
    """One spec per field of :class:`Timings`, from its type: text (a preset or a word from the field's
    choices), a whole number, or a duration."""
    from repro_lib import timings as tm

    hints = typing.get_type_hints(tm.Timings)
    choices: dict[str, tuple[str, ...]] = {"preset": tuple(tm.PRESETS), **getattr(tm, "_CHOICE_FIELDS", {})}
    out: dict[str, Spec] = {}
    for f in dataclasses.fields(tm.Timings):
        t = hints.get(f.name, float)
        if f.name in choices:
            out[f.name] = Choice(choices=tuple(choices[f.name]),
                                 noun="timing preset" if f.name == "preset" else f"value of timing {f.name}")
        elif t is str:
            out[f.name] = Text(lo=1, hi=200)
        elif t is bool:
            out[f.name] = Flag()
        elif t is int:
            out[f.name] = Whole(lo=0, hi=10**6, from_text=True)
        else:
            out[f.name] = Duration(noun=f"timing {f.name}")
    return out


@functools.lru_cache(maxsize=8)
def scenario_schema(step_ops: tuple[str, ...], fixes: tuple[str, ...], checks: tuple[str, ...],
                    classes: tuple[str, ...]) -> MapOf:
    """The whole scenario language, for the step ops the runner knows (``scenario.STEP_NAMES``), the fixes of
    the model, and the checks and delivery classes of the analysis (passed in: this module imports no layer)."""
    fix = Choice(choices=fixes, noun="fix")
    check = Choice(choices=checks)
    count = Whole(lo=0, hi=10**9)
    words = ListOf("a list of text", item=Text(hi=10_000), hi=100_000)
    return MapOf("a scenario (a mapping with name and steps)", required=("name", "steps"), noun="top-level key", keys={
        "name": Text("a name", lo=1, hi=200),
        "description": OneOf("text", alts=(Text(), Null())),
        "timings": MapOf("a mapping of timings like {preset: fast, disconnect_timeout: 90s}",
                         keys=_timing_specs(), null_ok=True, noun="timing"),
        "fix": OneOf("a fix or a list of fixes", alts=(fix, ListOf("a list of fixes", item=fix, lo=1, hi=len(fixes)))),
        "edges": OneOf("a list of edge names", alts=(
            ListOf("a list of edge names", item=EDGE, lo=0, hi=MAX_EDGES,
                   cap_hint=f"a scenario has at most {MAX_EDGES:,} edges, like --set edges"),
            Null())),
        "params": MapOf("a mapping of param names to values, e.g. {settle: 20s}", other=PARAM_VALUE, null_ok=True,
                        key=Text("a param name", lo=1, hi=100, pattern=r"[A-Za-z_][A-Za-z0-9_]*"), hi=1000),
        "steps": ListOf("a list of steps like `- sleep: 5s`", item=_Step(ops=step_ops), lo=1, hi=MAX_STEPS),
        "expect": MapOf("a mapping like {verdict: reproduced}", null_ok=True, keys={
            "verdict": Choice(choices=("reproduced", "not_reproduced", "inconclusive")),
            "jobs": MapOf("a mapping of job name to state", other=Text("a job state", lo=1, hi=64)),
            "classes": MapOf("a mapping of class to count, e.g. {lost: 2}",
                             other=count, key=Choice(choices=classes)),
            "stuck": count,
            "violates": OneOf("a check or a list of checks",
                              alts=(check, ListOf("a list of checks", item=check, lo=0, hi=len(checks)))),
        }),
        "labels": MapOf("a mapping of edge name to labels, e.g. {edge1: {zone: a}}", other=LABELS, null_ok=True,
                        key=EDGE, hi=MAX_EDGES),
        "incident": MapOf("a mapping (written by repro inspect --scenario)", other=Data(), keys={
            "logs": words, "verdict": Text(hi=64), "fix": Text(hi=200), "stuck_jobs": words,
            "classes": MapOf("a mapping of class to count", other=count),
            "inferred_steps": words, "inferred_timings": words, "default_timings": words}),
    })


@functools.lru_cache(maxsize=2)
def job_schema(job_types: tuple[str, ...]) -> MapOf:
    """A job file (mechanics.md §4) of one of ``job_types``: the keys the kit reads are typed; the rest of
    ``config`` is plain data."""
    generate = MapOf("{count: N, interval: 1s}", other=Data(), keys={
        "count": OneOf("a whole number from 0 to 1,000,000,000", alts=(Whole(lo=0, hi=10**9), Null())),
        "interval": Duration(noun="generate.interval")})
    inp = OneOf("a mapping", alts=(MapOf("an input", other=Data(), keys={"generate": generate}), Data()))
    return MapOf("a job (a mapping with name, type and config)", required=("name", "type", "config"), other=Data(),
                 keys={
                     "name": Text("a job name", lo=1, hi=253),
                     "type": Choice(choices=tuple(job_types), noun="type"),
                     "description": OneOf("text", alts=(Text(), Null())),
                     "config": MapOf("a mapping with input, pipeline and output", other=Data(),
                                     keys={"input": inp}),
                     "selector": MapOf("{match_labels: {...}}", other=Data(), null_ok=True,
                                       keys={"match_labels": OneOf("labels", alts=(LABELS, Null()))}),
                 })


# -- the bounded loader --------------------------------------------------------------------------------
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class YamlDoc:
    """A loaded YAML document: ``data`` and, to say where a value was written, its ``node`` tree."""

    file: str
    data: Any
    node: yaml.Node | None
    sets: Sequence[str] = ()

    def where(self, path: Path_, *, key: bool = False) -> str:
        """``file:line:column`` of the value at ``path`` (of its key with ``key``); the nearest enclosing
        value's position when the path is not in the file (a default)."""
        node, mark = self.node, None
        if node is not None:
            mark = node.start_mark
        for i, p in enumerate(path):
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and _same_key(k, p):
                        last = i == len(path) - 1
                        node, mark = v, (k.start_mark if key and last else v.start_mark)
                        break
                else:
                    break
            elif isinstance(node, yaml.SequenceNode) and isinstance(p, int) and 0 <= p < len(node.value):
                node = node.value[p]
                mark = node.start_mark
            else:
                break
        if mark is None:
            return self.file
        return f"{self.file}:{mark.line + 1}:{mark.column + 1}"


def _same_key(k: yaml.ScalarNode, p: Any) -> bool:
    if k.value == p:
        return True
    return not isinstance(p, str) and str(p) == k.value


def read_yaml(path: str | Path, *, what: str = "scenario", max_bytes: int = MAX_SCENARIO_BYTES) -> YamlDoc:
    """Read one YAML document within bounds; raise :class:`YamlLimitError` (one line, file:line:column)."""
    p = Path(path)
    name = str(path)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise YamlLimitError(name, "file not found" if isinstance(e, FileNotFoundError) else
                             f"cannot read it: {e.strerror or e}", hint="check the path") from None
    if not p.is_file():
        raise YamlLimitError(name, f"not a {what} file (a folder, device or pipe)",
                             hint=f"pass a YAML {what} file like scenarios/core-395.yaml")
    if size > max_bytes:
        raise YamlLimitError(name, f"{size:,} bytes: a {what} file is at most {max_bytes >> 20} MiB",
                             hint=f"is this a {what}? logs go to `repro inspect`")
    with p.open("rb") as f:
        raw = f.read(max_bytes + 1)  # a file that grew since stat: still bounded
    if len(raw) > max_bytes:
        raise YamlLimitError(name, f"more than {max_bytes:,} bytes: a {what} file is at most {max_bytes >> 20} MiB")
    return load_yaml_text(raw, name, what=what)


def load_yaml_text(raw: bytes | str, name: str, *, what: str = "scenario") -> YamlDoc:
    """:func:`read_yaml` for bytes or text already read."""
    if isinstance(raw, bytes):
        text = _text_of(raw, name, what)
    else:
        text = raw
    _prescan(text, name)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        raise YamlLimitError(yaml_where(name, e), f"not valid YAML ({yaml_problem(e)})") from None
    except (ValueError, OverflowError, TypeError) as e:  # a date like 2024-99-99, an unhashable key
        raise YamlLimitError(name, f"not valid YAML ({str(e).splitlines()[0][:200]})") from None
    finally:
        loader.dispose()
    return YamlDoc(name, data, node)


def _text_of(raw: bytes, name: str, what: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    nul = raw.find(b"\0")
    try:
        text = raw.decode("utf-8") if nul < 0 else None
    except UnicodeDecodeError as e:
        nul = e.start
        text = None
    if text is None:
        line = raw.count(b"\n", 0, nul) + 1
        col = nul - (raw.rfind(b"\n", 0, nul) + 1) + 1
        raise YamlLimitError(f"{name}:{line}:{col}", "not a text file (binary bytes here)",
                             hint=f"a {what} is a UTF-8 YAML file like scenarios/core-395.yaml")
    return text


def _prescan(text: str, name: str) -> None:
    """Walk the YAML events once, before anything is built: depth, expanded size, self-referencing
    aliases and duplicate keys are refused with the position they were found at."""
    sizes: dict[str, int] = {}
    open_anchors: set[str] = set()
    # per open collection: [anchor, expanded size, is_mapping, expecting_key, keys seen]
    stack: list[list[Any]] = [[None, 0, False, False, None]]
    total = 0

    def where(ev: Any) -> str:
        m = ev.start_mark
        return f"{name}:{m.line + 1}:{m.column + 1}"

    def add(n: int, ev: Any) -> None:
        nonlocal total
        stack[-1][1] += n
        total += n
        if total > MAX_NODES:
            if sizes:
                raise YamlLimitError(where(ev), f"more than {MAX_NODES:,} values once its aliases are expanded",
                                     hint="an alias (*name) repeats what its anchor (&name) holds; write values out")
            raise YamlLimitError(where(ev), f"more than {MAX_NODES:,} values",
                                 hint=f"a scenario has at most {MAX_EDGES:,} edges and {MAX_STEPS:,} steps")

    def key_check(ev: Any, value: Any) -> None:
        top = stack[-1]
        if top[2]:
            if top[3]:
                if value is not None:
                    if value in top[4]:
                        raise YamlLimitError(where(ev), f"the key {value!r} is written twice in one mapping",
                                             hint="keep one of them")
                    top[4].add(value)
            top[3] = not top[3]

    try:
        for ev in yaml.parse(text, Loader=_Loader):
            if isinstance(ev, yaml.ScalarEvent):
                key_check(ev, ev.value)
                add(1, ev)
                if ev.anchor:
                    sizes[ev.anchor] = 1
            elif isinstance(ev, yaml.AliasEvent):
                key_check(ev, None)
                if ev.anchor in open_anchors:
                    raise YamlLimitError(where(ev), f"the alias *{ev.anchor} is inside its own anchor &{ev.anchor}",
                                         hint="an alias cannot repeat what holds it; write the values out")
                add(sizes.get(ev.anchor, 1), ev)
            elif isinstance(ev, yaml.CollectionStartEvent):
                key_check(ev, None)
                if len(stack) > MAX_DEPTH:
                    raise YamlLimitError(where(ev), f"nested deeper than {MAX_DEPTH} levels",
                                         hint="a scenario needs about 5; flatten the structure")
                if ev.anchor:
                    open_anchors.add(ev.anchor)
                is_map = isinstance(ev, yaml.MappingStartEvent)
                add(1, ev)
                stack.append([ev.anchor, 0, is_map, True, set() if is_map else None])
            elif isinstance(ev, yaml.CollectionEndEvent):
                anchor, n, *_ = stack.pop()
                stack[-1][1] += n
                if anchor:
                    open_anchors.discard(anchor)
                    sizes[anchor] = n + 1
    except yaml.YAMLError as e:
        raise YamlLimitError(yaml_where(name, e), f"not valid YAML ({yaml_problem(e)})") from None


def located(doc: YamlDoc | None, fallback: str) -> Callable[..., str]:
    """A function from a document path to where to point the reader: the ``--set`` that gave the value,
    ``file:line:column``, or ``fallback`` (a document with no file)."""
    sets = [(tuple(item.partition("=")[0].strip().split(".")), item) for item in (doc.sets if doc else ())]

    def at(path: Path_, key: bool = False) -> str:
        for keys, item in sets:
            if tuple(str(p) for p in path[:len(keys)]) == keys:
                return f"--set {item}"
        return doc.where(path, key=key) if doc is not None else fallback

    return at
