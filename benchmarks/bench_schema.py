"""Benchmark: the scenario schema as a small declarative table (repro_lib/schema.py) against jsonschema.

Usage: ``python benchmarks/bench_schema.py [--repeat 200]``

The same checks written both ways — top-level keys, the edge list capped at 5,000, each step a one-key
mapping whose arguments fit its op — timed on scenarios/core-395.yaml (validated ``--repeat`` times) and on a
5,000-edge scenario that kills and starts every edge. Also timed: reading a 10,000-edge file with the bounded
loader (target ≤ 0.2 s). jsonschema comes in with nbformat (not a declared dependency); pydantic is not
installed, so it is not measured. What jsonschema cannot say by itself is listed with the numbers: a duration
(``15s``), NaN refused as a number, and the file:line:column of a bad value.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from repro_lib.scenario import STEP_NAMES, language  # noqa: E402
from repro_lib.schema import MAX_EDGES, read_yaml  # noqa: E402

_EDGES: dict[str, Any] = {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 253},
                                    {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 253},
                                     "minItems": 1, "maxItems": MAX_EDGES},
                                    {"type": "object", "required": ["edges"], "additionalProperties": False,
                                     "properties": {"edges": {}, "new_identity": {"type": "boolean"}}}]}
_DURATION: dict[str, Any] = {"oneOf": [{"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"},
                                       {"type": "number", "minimum": 0, "maximum": 365 * 86400}]}
_NOTHING: dict[str, Any] = {"oneOf": [{"type": "null"}, {"type": "object", "maxProperties": 0}]}
_ARGS: dict[str, Any] = {
    "up": _NOTHING, "down": _NOTHING, "sleep": _DURATION,
    "deploy": {"oneOf": [{"type": "string"}, {"type": "object", "required": ["file"]}]},
    "stop_job": {"oneOf": [{"type": "string"}, {"type": "object", "required": ["job"]}]},
    "join": {"oneOf": [{"type": "string"}, {"type": "object", "required": ["name"]}]},
    "restart_orchestrator": {"oneOf": [{"type": "null"}, {"type": "object",
                                                          "properties": {"downtime": _DURATION}}]},
    "snapshot": {"oneOf": [{"type": "null"}, {"type": "string"}, {"type": "object"}]},
    "wait_for": {"type": "object", "additionalProperties": False, "properties": {
        "nodes": {"enum": ["connecting", "connected", "disconnected", "lost"]},
        "count": {"type": "integer", "minimum": 0, "maximum": 10**6}, "job": {"type": "string"},
        "state": {"type": "string"}, "executions": {"type": "string"}, "timeout": _DURATION,
        "on_timeout": {"enum": ["fail", "continue"]}}},
}
JSON_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["name", "steps"], "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": {"type": ["string", "null"]},
        "timings": {"type": ["object", "null"]}, "fix": {}, "params": {"type": ["object", "null"]},
        "edges": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_EDGES},
        "expect": {"type": ["object", "null"]}, "labels": {"type": ["object", "null"]}, "incident": {},
        "steps": {"type": "array", "minItems": 1, "items": {"oneOf": [
            {"type": "object", "minProperties": 1, "maxProperties": 1, "required": [op],
             "properties": {op: _ARGS.get(op, _EDGES)}} for op in STEP_NAMES]}},
    },
}


def _best(f: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    core = yaml.safe_load((ROOT / "scenarios" / "core-395.yaml").read_text())
    core["params"] = {}
    core["steps"] = [s if "${" not in str(s) else {next(iter(s)): "5s"} for s in core["steps"]]
    names = [f"edge{i}" for i in range(1, MAX_EDGES + 1)]
    fleet = {"name": "fleet", "edges": names,
             "steps": [{"up": {}}, {"kill": list(names)}, {"sleep": "5s"}, {"start": list(names)}]}
    table = language()
    rows = []
    try:
        import jsonschema

        validator = jsonschema.Draft202012Validator(JSON_SCHEMA)
        assert validator.is_valid(core) and validator.is_valid(fleet)
    except ImportError:
        validator = None
    for label, doc, n in (("core-395", core, args.repeat), ("5,000 edges, kill+start all", fleet, 9)):
        t_table = _best(lambda d=doc: table.check(d, ()), n)
        t_js = _best(lambda d=doc: validator.validate(d), n) if validator else float("nan")
        rows.append((label, t_table, t_js))
    print(f"{'document':<30}{'table':>12}{'jsonschema':>14}{'ratio':>8}")
    for label, a, b in rows:
        print(f"{label:<30}{a * 1e3:>10.3f}ms{b * 1e3:>12.3f}ms{b / a:>7.1f}x")
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "edges.yaml"
        p.write_text("name: many\nedges:\n" + "".join(f"  - edge{i}\n" for i in range(10_000)) + "steps:\n  - up: {}\n")
        t_load = min(_best(lambda: read_yaml(p), 1) for _ in range(5))
        t_plain = min(_best(lambda: yaml.safe_load(p.read_text()), 1) for _ in range(3))
    print(f"10,000-edge file: bounded loader {t_load * 1e3:.1f} ms (target <= 200 ms); "
          f"yaml.safe_load (pure Python) {t_plain * 1e3:.1f} ms")
    print("jsonschema alone: '15s' only by a pattern, .nan passes 'number' (comparisons with NaN are false), "
          "errors give a JSON path, not the file's line:column")


if __name__ == "__main__":
    main()
