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


def test_a_fleets_blocks_read_as_their_lines() -> None:
    """Runs of 32 or more held whole (``ChangedBlock``, ``DispatchBlock``, and the run requests to a half-killed
    fleet cut into many small ``LostBlock``s) read as the lines they stand for, one by one."""
    from repro_lib.model import records as mr
    from repro_lib.model.types import Policies
    from repro_lib.stacks.sim import SimStack
    from repro_lib.timings import timings_from

    names = [f"edge{i}" for i in range(1, 81)]
    s = SimStack(timings_from({}), Policies(), names, seed=2)
    s.up()
    assert s.wait_for(lambda: s.count_nodes("connected") == 80, 120)
    spec = {"type": "pipeline", "config": {"input": {"generate": {"interval": "10s"}}}}
    from repro_lib.jobs import job_from_dict

    s.deploy(job_from_dict({"name": "job-0", **spec}))
    s.advance(30)
    s.kill(names[::2])
    s.advance(5)
    s.deploy(job_from_dict({"name": "job-1", **spec}))
    s.advance(60)
    kinds = {type(x) for x in s.records._items}
    assert {mr.ChangedBlock, mr.DispatchBlock, mr.LostBlock} <= kinds
    assert sum(isinstance(x, mr.LostBlock) for x in s.records._items) > 10
    _same(list(s.records))
    cols = records_columns(s.records)  # the blocks themselves, not their lines
    want = _one_by_one(list(s.records))
    assert all(cols[c].tolist() == want[c] for c in _READ)
