"""Quiet edges settled lazily (issue 20): the same log, snapshot and verdict as one event per heartbeat."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

from repro_lib import load_scenario, run_scenario
from repro_lib.model.types import FIXES
from repro_lib.scenario import parse_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(glob.glob(str(ROOT / "scenarios" / "*.yaml")))


def _same(sc: object, seed: int = 0) -> tuple[object, object]:
    lazy = run_scenario(sc, seed=seed)
    eager = run_scenario(sc, seed=seed, lazy_heartbeats=False)
    assert lazy.error == eager.error
    assert [(r.t, r.source, r.level, r.msg, r.fields) for r in lazy.records] == \
        [(r.t, r.source, r.level, r.msg, r.fields) for r in eager.records]
    assert [s.to_dict() if hasattr(s, "to_dict") else s for s in lazy.snapshots] == \
        [s.to_dict() if hasattr(s, "to_dict") else s for s in eager.snapshots]
    assert lazy.verdict.verdict == eager.verdict.verdict
    return lazy, eager


@pytest.fixture(autouse=True)
def _at_root(root: Path) -> Path:
    return root


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: Path(p).stem)
@pytest.mark.parametrize("preset", ["repro", "docs", "fast"])
def test_every_scenario_gives_the_same_log_lazily(path: str, preset: str) -> None:
    sc = load_scenario(path, [f"timings.preset={preset}", "params.settle=10m"] if "settle" in
                       Path(path).read_text() else [f"timings.preset={preset}"])
    _same(sc, seed=7)


@pytest.mark.parametrize("semantics", ["nats", "drop"])
@pytest.mark.parametrize("fix", FIXES)
def test_faults_around_steady_edges_give_the_same_log(fix: str, semantics: str) -> None:
    """Partitions (one past the client's ping rule), heals, transport faults, restarts, kills, a new identity and
    a join, spaced so that edges go steady (lazy) in between and are woken by each fault."""
    doc = {"name": "lazy-mix", "timings": {"preset": "repro", "nats_semantics": semantics}, "fix": fix,
           "edges": ["edge1", "edge2", "edge3"],
           "steps": [{"up": {}}, {"wait_for": {"nodes": "connected", "count": 3, "timeout": "2m"}},
                     {"deploy": "pipelines/test-job.yaml"}, {"sleep": "2m"}, {"partition": ["edge1"]},
                     {"deploy": "pipelines/new-job.yaml"}, {"sleep": "100s"}, {"heal": ["edge1"]},
                     {"sleep": "3m"}, {"restart_orchestrator": {"downtime": "7s"}}, {"sleep": "95s"},
                     {"kill": ["edge2"]}, {"sleep": "6m"}, {"start": {"edges": ["edge2"], "new_identity": True}},
                     {"join": "edge4"}, {"sleep": "20m"}, {"snapshot": {}}, {"partition": ["edge3"]},
                     {"sleep": "7m"}, {"heal": ["edge3"]}, {"sleep": "5m"}, {"stale_close": ["edge1"]},
                     {"deploy": "pipelines/query-job.yaml"}, {"sleep": "1m"}, {"reconnect": ["edge3"]},
                     {"slow_consumer": ["edge2"]}, {"sleep": "70m"}, {"snapshot": {}}]}
    lazy, _ = _same(parse_scenario(doc), seed=3)
    assert lazy.final.t_s > 6000


def test_lazy_settling_saves_heap_events() -> None:
    """A quiet hour: the lazy sim steps far fewer events than one heartbeat per edge per interval."""
    from repro_lib.model.types import Policies
    from repro_lib.stacks.sim import SimStack
    from repro_lib.timings import timings_from

    counts = {}
    for lazy in (True, False):
        s = SimStack(timings_from({}), Policies(), [f"edge{i}" for i in range(20)], seed=1, lazy_heartbeats=lazy)
        s.up()
        assert s.wait_for(lambda s=s: s.count_nodes("connected") == 20, 60)
        before = next(s._seq)
        s.advance(3600)
        counts[lazy] = next(s._seq) - before
    assert counts[False] >= 20 * 3600 / 15 * 0.95        # an event per heartbeat
    assert counts[True] < counts[False] / 10, counts      # health checks and little else


def test_the_counted_job_state_is_the_scanned_one() -> None:
    """The orchestrator keeps per-wave counts for pipeline jobs' states: after runs full of updates,
    stops, restarts and lost nodes, every job's state is what the full rule says, and the counts match
    a recount."""
    from repro_lib.model.reconciler import job_state

    for fix in ("none", "redispatch-on-join", "pending-timeout"):
        doc = {"name": "waves", "timings": {"preset": "fast"}, "fix": fix, "edges": ["edge1", "edge2", "edge3"],
               "steps": [{"up": {}}, {"wait_for": {"nodes": "connected", "count": 3, "timeout": "1m"}},
                         {"deploy": "pipelines/test-job.yaml"}, {"deploy": "pipelines/new-job.yaml"},
                         {"sleep": "3s"}, {"kill": ["edge1"]}, {"deploy": {"file": "pipelines/new-job.yaml",
                                                                          "force": True}},
                         {"sleep": "20s"}, {"stop_job": "test-heartbeat"}, {"restart_orchestrator": {"downtime": "1s"}},
                         {"start": ["edge1"]}, {"sleep": "30s"}, {"snapshot": {}}]}
        sc = parse_scenario(doc)
        from repro_lib.scenario import make_stack, run_step

        stack = make_stack("sim", sc, 0)
        snaps: list[object] = []
        for step in sc.steps:
            run_step(stack, step, snaps)
        orch = stack.orch
        checked = 0
        for job in orch.jobs.values():
            wave = orch._wave.get((job.name, job.version))
            if job.type == "pipeline" and not job.stopped and wave and wave[0] > 0:
                counted = "deploying" if wave[1] else "running"
                assert counted == job_state(job, orch.by_job[job.name], orch.nodes.nodes).value, (fix, job.name)
                checked += 1
        assert checked >= 1
        recount: dict[tuple[str, int], list[int]] = {}
        for ex in orch.executions.values():
            if ex.desired.value == "running" and not ex.terminal:
                w = recount.setdefault((ex.job, ex.version), [0, 0])
                w[0] += 1
                w[1] += ex.state.value in ("pending", "starting")
        assert {k: v for k, v in orch._wave.items() if v != [0, 0]} == recount


def test_search_finds_the_same_counterexamples_byte_for_byte_lazily(tmp_path: Path) -> None:
    import repro_lib.stacks.sim as sim
    from repro_lib.search import search

    core = str(Path("scenarios/core-395.yaml"))
    lazy = search(core, fixes=["none", "redispatch-on-join"], runs=100, seed=5, out=tmp_path / "lazy")
    sim.LAZY_HEARTBEATS = False
    try:
        eager = search(core, fixes=["none", "redispatch-on-join"], runs=100, seed=5, out=tmp_path / "eager")
    finally:
        sim.LAZY_HEARTBEATS = True
    a = {p.name: p.read_bytes() for p in (tmp_path / "lazy").glob("*.yaml")}
    b = {p.name: p.read_bytes() for p in (tmp_path / "eager").glob("*.yaml")}
    assert a and a == b
    assert lazy.runs == eager.runs
