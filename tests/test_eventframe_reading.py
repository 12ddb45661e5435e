"""The events table built by columns (``eventframe.records_columns``) reads every record as
``events.event_from_fields`` reads it alone: every scenario, under each timing preset and fix."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest

from repro_lib import load_scenario, run_scenario
from repro_lib.eventframe import records_columns
from repro_lib.events import event_from_fields
from repro_lib.logfmt import LogRecord

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(glob.glob(str(ROOT / "scenarios" / "*.yaml")))
_READ = ("t_s", "source", "kind", "node", "job", "execution", "state", "detail")


def _one_by_one(records: list[LogRecord]) -> dict[str, list[object]]:
    events = [event_from_fields(r.t, r.source, r.msg, dict(r.fields)) for r in records]
    return {c: [getattr(e, c) for e in events] for c in _READ}


def _same(records: list[LogRecord]) -> None:
    cols = records_columns(records)
    want = _one_by_one(records)
    for c in _READ:
        got = cols[c].tolist()
        assert got == want[c], (c, next((i, a, b) for i, (a, b) in enumerate(zip(got, want[c], strict=True))
                                        if a != b))
    assert cols["msg"].tolist() == [r.msg for r in records]
    assert cols["level"].tolist() == [r.level for r in records]


@pytest.fixture(autouse=True)
def _at_root(root: Path) -> Path:
    return root


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: Path(p).stem)
@pytest.mark.parametrize("sets", [[], ["timings.preset=fast"], ["fix=redispatch-on-join"], ["fix=sequence-replay"]],
                         ids=["repro", "fast", "fix-A", "fix-C"])
def test_every_scenarios_records_read_as_one_by_one(path: str, sets: list[str]) -> None:
    run = run_scenario(load_scenario(path, sets), seed=3)
    _same(list(run.records))


def test_fields_with_braces_bools_and_no_fields() -> None:
    recs = [LogRecord(1.0, "edge1", "INFO", "odd {msg} }{", (("a{b}", "x}{y"), ("flag", True), ("n", 3))),
            LogRecord(2.0, "edge1", "INFO", "odd {msg} }{", (("a{b}", "{}"), ("flag", False), ("n", None))),
            LogRecord(3.0, "sim", "INFO", "ACTION: up {x}", ()),
            LogRecord(4.0, "edge2", "WARN", "plain", (("node_id", "n-1"), ("target", "edge2"), ("x", 1.5))),
            LogRecord(5.0, "edge2", "WARN", "plain", (("node_id", ""), ("target", "edge2"), ("x", np.float64(2)))),
            LogRecord(6.0, "orchestrator", "INFO", "EXECUTION: state changed",
                      (("execution_id", "e-1"), ("job_id", "j"), ("node_id", "n-1"), ("state", "pending")))]
    _same(recs)
