"""No function of the kit runs once per row where a fleet's data flows (the verdict, the delivery table, the
events table of the sim's records, the counts, the run's JSON, inspect's diagnosis and text).

Python-level calls are counted with cProfile on inputs of about 100,000 rows; a function of ``repro_lib``
(a generator counted at each resumption) called :data:`PER_ROW` times or more fails the test, and the message
names it. A column kernel calls its Python helpers once per column, group, block of the sim's log or node
(the fleet below has 5,000 edges: a label per node is allowed), a per-row loop once per row: 10 % of the
rows lies between the two. Not caught there: a loop per execution where executions are fewer than 10 % of the
rows (the seed's format has one per 22 lines); inspect's analysis is held to 2 % (:data:`PER_EXECUTION`), which
catches that on the seed's format.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from repro_lib import run_scenario
from repro_lib.analysis.counts import event_counts
from repro_lib.analysis.delivery import delivery_table, edge_nodes, source_roles
from repro_lib.analysis.verdict import verdict_from_table
from repro_lib.scenario import parse_scenario

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_inspect import WORKLOADS  # noqa: E402

ROWS = 100_000
PER_ROW = ROWS // 10
KIT = str(ROOT / "repro_lib")


def _kit_calls(fn: Callable[[], Any]) -> dict[str, int]:
    """``fn()`` under cProfile: calls of each function defined in ``repro_lib``, by ``file:line(name)``."""
    prof = cProfile.Profile()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    return {f"{Path(f).relative_to(ROOT)}:{line}({name})": v[1] for (f, line, name), v in stats.items()
            if f.startswith(KIT)}


def _per_row(calls: dict[str, int]) -> dict[str, int]:
    return {k: n for k, n in sorted(calls.items(), key=lambda kv: -kv[1]) if n >= PER_ROW}


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """5,000 edges, half killed during a deploy and back 30 s later, then 1 h: ~100,000 log records."""
    names = [f"edge{i}" for i in range(1, 5001)]
    half = names[:2500]
    doc = {"name": "fleet", "timings": {"preset": "repro"}, "edges": names,
           "steps": [{"up": {}}, {"wait_for": {"nodes": "connected", "count": 5000, "timeout": "2m"}},
                     {"deploy": str(ROOT / "pipelines/test-job.yaml")}, {"sleep": "1m"}, {"kill": half},
                     {"sleep": "5s"}, {"deploy": str(ROOT / "pipelines/new-job.yaml")}, {"sleep": "30s"},
                     {"start": half}, {"sleep": "1h"}, {"snapshot": {}}]}
    return run_scenario(parse_scenario(doc))


@pytest.mark.slow
def test_the_run_s_events_verdict_counts_and_json_run_nothing_per_row(fleet_run: Any) -> None:
    run = fleet_run
    assert len(run.records) >= ROWS

    def judge() -> None:
        run._events = run._verdict = None  # built afresh inside the window
        assert run.verdict.verdict == "reproduced" and len(run.verdict.stuck) == 2500
        run.to_json()

    calls = _kit_calls(judge)
    assert any("eventframe.py" in k for k in calls) and any("delivery.py" in k for k in calls)  # it did run
    assert _per_row(calls) == {}


@pytest.fixture(scope="module", params=sorted(WORKLOADS))
def log_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The benchmark's workloads at 100,000 lines."""
    path = tmp_path_factory.mktemp("logs") / f"{request.param}.log"
    WORKLOADS[request.param](path, ROWS, 1)
    return request.param, path


@pytest.fixture(scope="module")
def log_events(log_file: tuple[str, Path]) -> Any:
    """Each workload read into the events table (the reading is not judged here: its per-line fallbacks
    belong to the capture)."""
    from repro_lib.inspect import events_from_logs

    name, path = log_file
    return name, path, events_from_logs([path])


@pytest.mark.slow
def test_the_delivery_table_and_verdict_of_logs_run_nothing_per_row(log_events: Any) -> None:
    name, _, ev = log_events
    assert len(ev) >= ROWS * 0.9
    out: dict[str, Any] = {}

    def judge() -> None:
        roles = source_roles(ev)
        out["tab"] = tab = delivery_table(ev, edges=edge_nodes(ev, roles))
        out["verdict"] = verdict_from_table(tab, [], t_end=float(ev["t_s"].max()))
        event_counts(ev)

    calls = _kit_calls(judge)
    assert len(out["tab"]) >= (1000 if name != "fleet16" else 0)  # thousands of executions judged
    assert _per_row(calls) == {}


#: inspect's analysis may call a function once per source, node, job or class, not once per execution: the
#: seed's format has 4,445 executions per 100,000 lines, the fleet's 1,001 sources (a label per source is allowed)
PER_EXECUTION = ROWS // 50


@pytest.mark.slow
@pytest.mark.parametrize("condense", [False, True], ids=["full", "condensed"])
def test_inspect_s_analysis_runs_nothing_per_row_or_per_execution(log_events: Any, condense: bool) -> None:
    """``repro inspect``'s whole analysis of each workload — the diagnosis, the verdict, the sources read and
    the text — over the table read in full and condensed (the default above 64 MiB)."""
    from repro_lib.analysis import diagnose
    from repro_lib.inspect import Inspection, events_from_logs, sources_read

    name, path, ev = log_events
    if condense:
        ev = events_from_logs([path], condense=True)
    out: dict[str, Any] = {}

    def inspect() -> None:
        out["diagnosis"] = d = diagnose(ev)
        out["text"] = Inspection(ev, d, None, "test", [], sources_read(ev, d)).text()

    calls = _kit_calls(inspect)
    assert any("diagnosis.py" in k for k in calls) and out["text"].startswith("test\nread:")
    if name == "seed":  # thousands of pending executions judged, a few of each class shown
        assert len(out["diagnosis"].table) >= 1000 and not out["diagnosis"].shown_all
    assert {k: n for k, n in calls.items() if n >= PER_EXECUTION} == {}


@pytest.mark.slow
def test_inspect_end_to_end_runs_nothing_per_row(log_file: tuple[str, Path]) -> None:
    """The whole path of ``repro inspect`` on each workload, the reading included."""
    from repro_lib.analysis import diagnose
    from repro_lib.inspect import Inspection, events_from_logs, sources_read

    _, path = log_file
    out: dict[str, Any] = {}

    def inspect() -> None:
        ev = events_from_logs([path])
        d = diagnose(ev)
        out["text"] = Inspection(ev, d, None, "test", [], sources_read(ev, d)).text()

    calls = _kit_calls(inspect)
    assert any("capture/" in k for k in calls) and out["text"].startswith("test\nread:")  # it did read
    assert _per_row(calls) == {}
