"""The sim at scale (issue 20): compact log records, batched deliveries, counted node states, the
collector paused while the engine runs — and not one output moved.

The digests below were taken from the code *before* those changes (the commit after a5a6586, the
lazy heartbeats already in): sha-256 of ``repr`` of every record's ``(t, source, level, msg, fields)``
and of the snapshots' dicts. A change that alters what the sim logs or sees must change them on
purpose (regenerate with ``_digests`` below and say why in the commit)."""

from __future__ import annotations

import gc
import glob
import hashlib
import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from repro_lib import load_scenario, run_scenario
from repro_lib.capture.records import records_frame
from repro_lib.jobs import job_from_dict
from repro_lib.logfmt import FORMATS, LogRecord, format_record
from repro_lib.model.records import LazyRecord, record_of
from repro_lib.model.types import FIXES, NodeState, Policies
from repro_lib.run import EPOCH
from repro_lib.scenario import make_stack, parse_scenario, run_step
from repro_lib.stacks.sim import SimStack
from repro_lib.timings import timings_from

ROOT = Path(__file__).resolve().parent.parent

# scenario/preset -> (records digest, snapshots digest, records), seed 7
_SCENARIOS = {
    'brief-blip/fast': ('013e5835eb8888e1', '1eca18dd8c5396e9', 51),
    'brief-blip/repro': ('5f28127d676198cd', '951b38996e7374b3', 44),
    'cascading/fast': ('36ff80adae74e2da', '4593ffe3e6d3f813', 101),
    'cascading/repro': ('9a3c0c977c4dc4c9', 'eeb4d2b17996918d', 84),
    'core-395/fast': ('0b6955ceb853d227', 'adda6befd1db7633', 82),
    'core-395/repro': ('2f4efb0da399a067', '271c9f62a073cd56', 65),
    'edges-never-return/fast': ('2ebaa83d8d47aefe', 'e6c497c716bde779', 49),
    'edges-never-return/repro': ('d13f4652f6c1c6d1', 'cff2a5d98ab94fec', 62),
    'fix-c-ack-skips/fast': ('5ee9472e3f5c12ea', 'b375247cc51cf652', 38),
    'fix-c-ack-skips/repro': ('ed582bcc9b5c5fc2', 'b375247cc51cf652', 37),
    'head-of-line/fast': ('9aafb0fde92a78d9', '026a0c81917b1e25', 99),
    'head-of-line/repro': ('57d9d97549fc64f5', '1aa0743a33664969', 98),
    'new-identities/fast': ('ed4834c0ad7079d7', '2d8b117404e2c33d', 98),
    'new-identities/repro': ('f07586958ea40226', '427fe5823c18ed19', 100),
    'new-node-joins/fast': ('7857edeb8bae2fc5', '53efa0bd6484a9f3', 54),
    'new-node-joins/repro': ('495ff452cfae41f2', '35f50535726de289', 50),
    'query-job/fast': ('f88fa05354bfe75f', '55f52b5d0b23ddb3', 25),
    'query-job/repro': ('d5ee46d2b037d0b1', 'cd3ebb2f0762fdbb', 49),
    'transport-race/fast': ('9ddc5fe1c8334857', 'aa76a265af9f7bb3', 65),
    'transport-race/repro': ('6abd30353f31c384', '26d46c8909e83ca9', 64),
}
# fix -> the same for the fault mix of test_sim_lazy (seed 3)
_MIX = {
    'block': ('6a83455bb14d370b', '6df2b77cd46f233a', 275),
    'edge-reconcile': ('3b6096b2f3f62f3f', '769efa2ca16202a0', 223),
    'none': ('5609f2a23d5e1612', '1e178b602dcbaf85', 195),
    'pending-timeout': ('f843c931ae84223d', '5a175c269f8d83c5', 198),
    'redispatch-on-join': ('3bc8445c6d4547ee', '520ba4f078b4e6ad', 198),
    'sequence-replay': ('c9f06c0677c2d0af', '34856e7271b665a6', 212),
}
# fix -> the same for the fleet-wide blip at 200 edges x 10 jobs (the benchmark's, seed 1), + the bus counts
_BLIP = {
    'none': ('260ae6381654b066', 'b44e1a9cb72d7b1c', 10967, {
        'ExecutionState:delivered': 200, 'RunExecutionRequest:delivered': 200, 'RunExecutionRequest:lost': 1800}),
    'pending-timeout': ('de61978f543e58ad', '97f7ea636db4b310', 21776, {
        'ExecutionState:delivered': 2000, 'RunExecutionRequest:delivered': 2000, 'RunExecutionRequest:lost': 1800}),
    'redispatch-on-join': ('1c32f7527653d265', '59a2ad123cb83718', 43376, {
        'ExecutionState:delivered': 7400, 'RunExecutionRequest:delivered': 7400, 'RunExecutionRequest:lost': 1800}),
    'sequence-replay': ('059aa292c82ec248', 'bc1c492f117170bc', 25856, {
        'ExecutionState:delivered': 2000, 'RunExecutionRequest:delivered': 2000, 'RunExecutionRequest:lost': 4440}),
}

_MIX_STEPS = [{"up": {}}, {"wait_for": {"nodes": "connected", "count": 3, "timeout": "2m"}},
              {"deploy": "pipelines/test-job.yaml"}, {"sleep": "2m"}, {"partition": ["edge1"]},
              {"deploy": "pipelines/new-job.yaml"}, {"sleep": "100s"}, {"heal": ["edge1"]},
              {"sleep": "3m"}, {"restart_orchestrator": {"downtime": "7s"}}, {"sleep": "95s"},
              {"kill": ["edge2"]}, {"sleep": "6m"}, {"start": {"edges": ["edge2"], "new_identity": True}},
              {"join": "edge4"}, {"sleep": "20m"}, {"snapshot": {}}, {"partition": ["edge3"]},
              {"sleep": "7m"}, {"heal": ["edge3"]}, {"sleep": "70m"}, {"snapshot": {}}]


def _h(obj: object) -> str:
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]


def _digests(records: Any, snapshots: list[Any]) -> tuple[str, str, int]:
    # the orchestrator's start banner (its settings, as the live emulator logs them) came after these digests;
    # it is left out so the pins still hold every other line (its own test: test_reconstruct's banner tests)
    records = [r for r in records if not (r.msg == "ORCHESTRATOR: started" and ("restart", False) in r.fields)]
    return (_h([(r.t, r.source, r.level, r.msg, r.fields) for r in records]),
            _h([s.to_dict() for s in snapshots]), len(records))


def _mix(fix: str) -> Any:
    # pinned under the drop reading: the digests were taken with it, and they check the engine, not the transport
    return parse_scenario({"name": "lazy-mix", "timings": {"preset": "repro", "nats_semantics": "drop"}, "fix": fix,
                           "edges": ["edge1", "edge2", "edge3"], "steps": _MIX_STEPS})


def _blip(n: int, jobs: int, fix: str = "none") -> SimStack:
    """bench_sim's fleet-wide blip, 1 h after the edges return."""
    names = [f"edge{i}" for i in range(1, n + 1)]
    s = SimStack(timings_from({}), Policies.from_fix(fix), names, seed=1)
    s.up()
    assert s.wait_for(lambda: s.count_nodes("connected") == n, 120)
    spec = {"type": "pipeline", "config": {"input": {"generate": {"interval": "10s"}}}}
    s.deploy(job_from_dict({"name": "job-0", **spec}))
    s.advance(30)
    s.kill(names)
    s.advance(5)
    for j in range(1, jobs):
        s.deploy(job_from_dict({"name": f"job-{j}", **spec}))
    s.advance(30)
    s.start(names)
    s.advance(3600)
    return s


@pytest.fixture(autouse=True)
def _at_root(root: Path) -> Path:
    return root


@pytest.mark.parametrize("key", sorted(_SCENARIOS))
def test_every_scenario_logs_what_it_logged_before(key: str) -> None:
    name, preset = key.split("/")
    run = run_scenario(load_scenario(str(ROOT / "scenarios" / f"{name}.yaml"), [f"timings.preset={preset}"]), seed=7)
    assert _digests(run.records, run.snapshots) == _SCENARIOS[key]


def test_the_golden_list_covers_every_scenario() -> None:
    names = {Path(p).stem for p in glob.glob(str(ROOT / "scenarios" / "*.yaml"))}
    assert names == {k.split("/")[0] for k in _SCENARIOS}


@pytest.mark.parametrize("fix", sorted(_MIX))
def test_the_fault_mix_logs_what_it_logged_before(fix: str) -> None:
    run = run_scenario(_mix(fix), seed=3)
    assert _digests(run.records, run.snapshots) == _MIX[fix]


@pytest.mark.parametrize("fix", sorted(_BLIP))
def test_the_fleet_blip_logs_what_it_logged_before(fix: str) -> None:
    s = _blip(200, 10, fix)
    snap = s.snapshot("final")
    records, snapshot, n, counts = _BLIP[fix]
    assert _digests(s.records, [])[::2] == (records, n)
    assert _h(snap.to_dict()) == snapshot
    assert dict(s.counts) == counts


def test_a_compact_record_reads_as_the_record_it_stands_for() -> None:
    """Every reading of a compact line — attributes, tuple protocol, equality, hash, repr, pickle, the
    three log formats, the events table — is the eager LogRecord's."""
    s = _blip(30, 3, "redispatch-on-join")
    lazy = [r for r in s.records if isinstance(r, LazyRecord)]
    assert {type(r).__name__ for r in lazy} == {"ExecutionChanged", "DispatchAttempt", "ConnectionCheck",
                                                 "NatsOutcome"}
    assert len(lazy) > len(s.records) / 3
    for r in lazy:
        e = record_of(r)
        assert type(e) is LogRecord
        assert (r.t, r.source, r.level, r.msg, r.fields) == tuple(e) == tuple(r)
        assert r == e and e == r and not (r != e) and hash(r) == hash(e) and repr(r) == repr(e)
        assert [r[i] for i in range(5)] == list(e) and r[-1] == e[-1] and len(r) == 5
        assert r._asdict() == e._asdict() and r._replace(level="X") == e._replace(level="X")
        assert pickle.loads(pickle.dumps(r)) == e and type(pickle.loads(pickle.dumps(r))) is LogRecord
        for fmt in FORMATS:
            assert format_record(r, EPOCH, fmt) == format_record(e, EPOCH, fmt)
    plain = [record_of(r) for r in s.records]
    assert records_frame(s.records).equals(records_frame(plain))


def test_wait_for_sees_every_message_of_a_batch() -> None:
    """Publishes of one step are one heap event; ``wait_for`` still asks its predicate after each message,
    so it stops in the middle of a batch, where one event per message would have stopped."""
    n = 12
    s = SimStack(timings_from({}), Policies(), [f"edge{i}" for i in range(n)], seed=2)
    s.up()
    assert s.wait_for(lambda: s.count_nodes("connected") == n, 120)
    s.deploy(job_from_dict({"name": "p", "type": "pipeline", "config": {"input": {"generate": {}}}}))
    assert s.wait_for(lambda: s.counts["RunExecutionRequest:delivered"] >= 5, 10)
    assert s.counts["RunExecutionRequest:delivered"] == 5
    t = s.now
    s.advance(0)
    assert s.now == t and s.counts["RunExecutionRequest:delivered"] == n  # the rest, at the same instant


def test_the_counted_node_states_are_a_recount_after_every_step() -> None:
    for fix in ("none", "sequence-replay"):
        sc = _mix(fix)
        stack = make_stack("sim", sc, 3)
        snaps: list[Any] = []
        for step in sc.steps:
            run_step(stack, step, snaps)
            recount = Counter(n.state for n in stack.orch.nodes.nodes.values())
            for st in NodeState:
                assert stack.count_nodes(st.value) == recount[st], (fix, step.op, st)


def test_the_engine_leaves_the_collector_as_it_found_it() -> None:
    s = SimStack(timings_from({}), Policies(), ["edge1"], seed=0)
    was = gc.isenabled()
    try:
        gc.enable()
        s.up()
        s.advance(60)
        s.kill(["edge1"])
        s.start(["edge1"])
        assert s.wait_for(lambda: False, 30) is False
        assert gc.isenabled() and gc.get_freeze_count() == 0
        gc.disable()
        s.kill(["edge1"])
        s.start(["edge1"])
        s.advance(60)
        assert s.wait_for(lambda: False, 30) is False
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.parametrize("fix", FIXES)
def test_a_reused_plan_is_the_plan_reconcile_makes(fix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An evaluation that finds nothing changed since its job's last one reuses that plan (orchestrator
    ``_reconcile``): at every evaluation of the fault mix and the fleet blip, the plan equals a fresh
    ``reconcile`` of the same inputs, reused or not, and some are reused."""
    from repro_lib.model import orchestrator as orch_mod
    fresh_calls = Counter()
    real = orch_mod.reconcile

    def counted(*args: Any, **kwargs: Any) -> Any:
        fresh_calls["miss"] += 1
        return real(*args, **kwargs)

    def checked(self: Any, ev: Any, job: Any, execs: Any, busy: Any) -> Any:
        plan = cached(self, ev, job, execs, busy)
        fresh = real(ev, job, execs, self.nodes.nodes, self.policies, busy_nodes=busy)
        assert plan.eval is ev
        assert (plan.new_executions, plan.updated_executions, plan.redispatch, plan.stuck) == \
            (fresh.new_executions, fresh.updated_executions, fresh.redispatch, fresh.stuck)
        fresh_calls["evals"] += 1
        return plan

    cached = orch_mod.Orchestrator._reconcile
    monkeypatch.setattr(orch_mod, "reconcile", counted)
    monkeypatch.setattr(orch_mod.Orchestrator, "_reconcile", checked)
    run_scenario(_mix(fix), seed=3)
    if fix in _BLIP:
        _blip(60, 4, fix)
    assert fresh_calls["evals"] > fresh_calls["miss"] > 0, fresh_calls
