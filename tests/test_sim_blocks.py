"""Runs of lines and messages held whole (issue 20): the sim's log and counts are those of one object a line.

A commit's new executions, the watcher's run of dispatches and the run requests lost to a killed fleet are
held as one :class:`~repro_lib.model.records.RecordBlock` / :class:`~repro_lib.model.dispatcher.RunRequests`
each. Every test here runs the same thing twice — blocks on (the sim as shipped) and off
(``Orchestrator.use_blocks`` a no-op: the model emits a record and a ``Publish`` each) — and compares the
lines, the counts and the snapshots, one by one.
"""

from __future__ import annotations

import glob
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from repro_lib import load_scenario, run_scenario
from repro_lib.errors import StackError
from repro_lib.jobs import job_from_dict
from repro_lib.logfmt import LogRecord
from repro_lib.model.orchestrator import Orchestrator
from repro_lib.model.records import ChangedBlock, DispatchBlock, LostBlock, RecordBlock, RecordLog, record_of
from repro_lib.model.types import FIXES, ComputeState, DesiredState, Execution, Policies
from repro_lib.stacks import sim
from repro_lib.stacks.sim import SimStack
from repro_lib.timings import timings_from

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(glob.glob(str(ROOT / "scenarios" / "*.yaml")))
_SPEC = {"type": "pipeline", "config": {"input": {"generate": {"interval": "10s"}}}}


@pytest.fixture(autouse=True)
def _at_root(root: Path) -> Path:
    return root


def _lines(records: Any) -> list[tuple[Any, ...]]:
    return [tuple(record_of(r)) for r in records]


def _blocks_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Orchestrator, "use_blocks", lambda self: None)


def _both(monkeypatch: pytest.MonkeyPatch, fn: Callable[[], Any]) -> tuple[Any, Any]:
    """``fn()`` with blocks, then without."""
    held = fn()
    with monkeypatch.context() as m:
        _blocks_off(m)
        plain = fn()
    return held, plain


# -- the log itself -------------------------------------------------------------------------------
def _ex(i: int) -> Execution:
    return Execution(f"e-{i}", "job-a", 1, f"n-{i}")


def _rec(i: int) -> LogRecord:
    return LogRecord(float(i), "sim", "INFO", f"line {i}", (("i", i),))


def test_a_record_log_reads_as_the_list_of_its_lines() -> None:
    exs = [_ex(i) for i in range(5)]
    parts: list[Any] = [_rec(0), ChangedBlock(1.0, exs, ComputeState.PENDING, DesiredState.RUNNING), _rec(1),
                        _rec(2), DispatchBlock(2.0, exs[:3]), ChangedBlock(3.0, [], ComputeState.PENDING,
                                                                           DesiredState.RUNNING),
                        LostBlock(4.0, exs[1:3], ["expanso.node.n-1.in", "expanso.node.n-2.in"]), _rec(3)]
    log = RecordLog()
    log.append(parts[0])
    log.extend(parts[1:4])
    log += parts[4:]
    flat = [r for p in parts for r in (p if isinstance(p, RecordBlock) else [p])]
    assert len(flat) == 1 + 5 + 2 + 6 + 0 + 2 + 1 and len(log) == len(flat)
    assert _lines(log) == _lines(flat)
    for i in [*range(-len(flat), len(flat))]:
        assert tuple(record_of(log[i])) == tuple(record_of(flat[i])), i
    with pytest.raises(IndexError):
        log[len(flat)]
    with pytest.raises(IndexError):
        log[-len(flat) - 1]
    assert _lines(log[3:11:2]) == _lines(flat[3:11:2]) and _lines(log[-4:]) == _lines(flat[-4:])
    assert log == [record_of(r) for r in flat] and log == RecordLog(flat) and log != flat[:-1]
    back = pickle.loads(pickle.dumps(log))
    assert isinstance(back, RecordLog) and back == log and not back._starts  # pickled as its lines
    assert [type(r).__name__ for r in log[1:3]] == ["ExecutionChanged", "ExecutionChanged"]
    assert tuple(log[8])[3] == "DISPATCH: Attempting to send message" \
        and tuple(log[9])[3] == "PUBLISH: Checking node connection"
    lost = record_of(log[14])
    assert lost.msg == "NATS: no subscriber - message dropped" and dict(lost.fields) == {
        "subject": "expanso.node.n-1.in", "type": "RunExecutionRequest", "execution_id": "e-1", "node_id": "n-1"}


def test_a_record_log_behaves_as_a_list_where_a_review_found_it_did_not() -> None:
    """Extending by itself, tuples, reading backwards, stepped slices, non-integer indexes, copy and +."""
    exs = [_ex(i) for i in range(40)]
    parts: list[Any] = [_rec(0), DispatchBlock(1.0, exs), _rec(1), ChangedBlock(2.0, exs, ComputeState.PENDING,
                                                                                DesiredState.RUNNING)]
    log = RecordLog(parts)
    flat = [record_of(r) for p in parts for r in (p if isinstance(p, RecordBlock) else [p])]
    assert _lines(reversed(log)) == _lines(reversed(flat))
    for sl in (slice(None, None, -1), slice(5, 90, 7), slice(-3, None), slice(70, 10, -9), slice(200, 300)):
        assert _lines(log[sl]) == _lines(flat[sl]), sl
    assert log != tuple(flat) and log == flat
    with pytest.raises(TypeError):
        log[2.0]
    assert log.copy() == flat and isinstance(log.copy(), list)
    assert log + [_rec(9)] == [*flat, _rec(9)] and [_rec(9)] + log == [_rec(9), *flat]
    log += log  # a list doubles
    assert len(log) == 2 * len(flat) and log == flat + flat
    log.clear()
    assert log == [] and len(log) == 0


def test_an_empty_record_log_is_an_empty_list() -> None:
    log = RecordLog()
    assert log == [] and len(log) == 0 and list(log) == [] and log[:] == []
    log.append(ChangedBlock(0.0, [], ComputeState.PENDING, DesiredState.RUNNING))  # an empty block adds nothing
    assert log == [] and not log._items


# -- the sim with and without ----------------------------------------------------------------------
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: Path(p).stem)
def test_every_scenario_gives_the_same_log_with_blocks(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """The scenarios have 2 or 3 edges, under BLOCK_MIN: with it at 1, every run of one or more is held whole."""
    from repro_lib.model import dispatcher, orchestrator

    sc = load_scenario(path)

    def small_blocks() -> Any:
        with monkeypatch.context() as m:
            m.setattr(dispatcher, "BLOCK_MIN", 1)
            m.setattr(orchestrator, "BLOCK_MIN", 1)
            return run_scenario(sc, seed=5)

    held = small_blocks()
    with monkeypatch.context() as m:
        _blocks_off(m)
        plain = run_scenario(sc, seed=5)
    assert held.error == plain.error
    assert _lines(held.records) == _lines(plain.records)
    assert [s.to_dict() for s in held.snapshots] == [s.to_dict() for s in plain.snapshots]
    assert (held.verdict.verdict if held.verdict else None) == (plain.verdict.verdict if plain.verdict else None)
    if any(r.msg == "DISPATCH: Attempting to send message" for r in plain.records):
        assert any(isinstance(x, RecordBlock) for x in held.records._items)  # the blocks were there to compare
    assert not plain.records._starts


def _fleet(n: int, jobs: int, *, kill: Callable[[list[str]], list[str]], fix: str = "none",
           partition: Callable[[list[str]], list[str]] | None = None,
           probe: Callable[[SimStack], bool] | None = None) -> SimStack:
    """A deploy of ``jobs`` jobs to ``n`` edges, ``kill(names)`` of them killed first (the rest, with
    ``partition``, cut off), then all back and 10 min; ``probe``: stepped with ``wait_for`` (one message at a
    time) through the deploy instead of ``advance``."""
    names = [f"edge{i}" for i in range(1, n + 1)]
    s = SimStack(timings_from({}), Policies.from_fix(fix if fix != "none" else None), names, seed=2)
    s.up()
    assert s.wait_for(lambda: s.count_nodes("connected") == n, 120)
    s.deploy(job_from_dict({"name": "job-0", **_SPEC}))
    s.advance(30)
    s.kill(kill(names))
    if partition:
        s.partition(partition(names))
    s.advance(5)
    for j in range(1, jobs):
        s.deploy(job_from_dict({"name": f"job-{j}", **_SPEC}))
    if probe is not None:
        s.wait_for(lambda: probe(s), 30)
    s.advance(30)
    s.start(kill(names))
    if partition:
        s.heal(partition(names))
    s.advance(600)
    return s


CASES: dict[str, dict[str, Any]] = {
    "all killed": {"kill": lambda ns: ns},
    "half killed": {"kill": lambda ns: ns[::2]},
    "a third killed, a third cut off": {"kill": lambda ns: ns[::3], "partition": lambda ns: ns[1::3]},
    "none killed": {"kill": lambda ns: []},
    "stepped message by message": {"kill": lambda ns: ns[1::2], "probe": lambda s: False},
    "stepped until the 30th lost line": {"kill": lambda ns: ns,
                                         "probe": lambda s: s.counts["RunExecutionRequest:lost"] >= 30},
}


# which way each case must take through SimStack._deliveries (so that each is shown to be exact)
_WAYS = {"half killed": "_cut", "a third killed, a third cut off": "_cut", "none killed": "_cut",
         "stepped message by message": "_spread", "stepped until the 30th lost line": "_spread"}


@pytest.mark.parametrize("case", CASES)
def test_a_fleet_gives_the_same_log_with_blocks(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    calls: list[str] = []
    for name in ("_cut", "_spread"):
        real = getattr(sim, name)
        monkeypatch.setattr(sim, name, lambda *a, _f=real, _n=name: calls.append(_n) or _f(*a))
    held, plain = _both(monkeypatch, lambda: _fleet(40, 4, **CASES[case]))
    if case in _WAYS:
        assert _WAYS[case] in calls
    assert _lines(held.records) == _lines(plain.records)
    assert held.counts == plain.counts and held.now == plain.now
    assert held.snapshot().to_dict() == plain.snapshot().to_dict()
    if case == "all killed":  # the runs were held whole
        assert any(isinstance(x, LostBlock) for x in held.records._items)
        assert any(isinstance(x, DispatchBlock) for x in held.records._items)
        held_whole = sum(len(x) for x in held.records._items if isinstance(x, RecordBlock))
        assert held_whole >= 4 * 40 * 3  # per execution to a dead edge: changed, attempt, check, lost
        assert not plain.records._starts


@pytest.mark.parametrize("fix", FIXES)
def test_every_fix_gives_the_same_log_with_blocks(monkeypatch: pytest.MonkeyPatch, fix: str) -> None:
    held, plain = _both(monkeypatch, lambda: _fleet(80, 3, kill=lambda ns: ns[::2], fix=fix))
    assert _lines(held.records) == _lines(plain.records) and held.counts == plain.counts


def test_the_livelock_guard_stops_at_the_same_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run of lost requests that would pass the same-instant limit is gone through message by message,
    so the error names the same instant after the same lines."""
    monkeypatch.setattr(SimStack, "_SAME_TIME_LIMIT", 40)
    last = [0]  # lines in the log when the guard was last asked
    orig = SimStack._guard

    def counting(self: SimStack, at: float) -> None:
        last[0] = len(self.records)
        orig(self, at)

    monkeypatch.setattr(SimStack, "_guard", counting)

    def run() -> tuple[str, int]:
        with pytest.raises(StackError) as e:
            _fleet(60, 2, kill=lambda ns: ns)
        return str(e.value), last[0]

    held, plain = _both(monkeypatch, run)
    assert held[0] == plain[0] and "not advancing time" in held[0]
    assert held[1] == plain[1] > 0


# -- the reconciler reading the node table a column at a time ----------------------------------------
@pytest.mark.parametrize("seed", range(40))
def test_the_reconciler_plans_the_same_from_the_node_index(seed: int) -> None:
    """Random node tables (every state, unknown nodes), executions (every state, older versions) and jobs
    (pipeline, query, with and without a selector, stopped): the same plan with and without the index."""
    import random

    from repro_lib.model.node_manager import NodeManager
    from repro_lib.model.reconciler import reconcile
    from repro_lib.model.types import EvalTrigger, Evaluation, Job, NodeState, Outbox

    rng = random.Random(seed)
    nm = NodeManager(timings_from({}), Outbox())
    for i in range(rng.randint(0, 30)):
        nm.handshake(0.0, f"n-{i}", f"edge{i}", {"zone": rng.choice("ab")})
        if rng.random() < 0.6:
            nm._set(1.0, nm.nodes[f"n-{i}"], rng.choice(list(NodeState)))
    spec = job_from_dict({"name": "j", "type": rng.choice(["pipeline", "query"]),
                          **({"selector": {"match_labels": {"zone": "a"}}} if rng.random() < 0.3 else {}),
                          "config": {"input": {"generate": {"interval": "10s"}}}})
    job = Job("j", "j-1", spec, version=rng.randint(1, 3), stopped=rng.random() < 0.1)
    execs = [Execution(f"e-{k}", "j", rng.randint(1, job.version), f"n-{rng.randint(0, 35)}",
                       rng.choice(list(DesiredState)), rng.choice(list(ComputeState)))
             for k in range(rng.randint(0, 40))]
    ev = Evaluation("ev-1", "j", rng.choice(list(EvalTrigger)), 0.0)
    for fix in ("none", "redispatch-on-join"):
        pol = Policies.from_fix(None if fix == "none" else fix)
        a = reconcile(ev, job, execs, nm.nodes, pol)
        b = reconcile(ev, job, execs, nm.nodes, pol, index=nm.index())
        assert (a.new_executions, a.updated_executions, a.redispatch, a.stuck) == \
            (b.new_executions, b.updated_executions, b.redispatch, b.stuck)
    assert nm.index() is nm.index()  # kept while nothing changes
    if nm.nodes:
        before = nm.index()
        nm._set(2.0, next(iter(nm.nodes.values())), NodeState.LOST)
        assert nm.index() is not before


@pytest.mark.parametrize("prefix", ["e", "a b", "x%y"])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 10_000])
def test_many_ids_are_the_ids_drawn_one_at_a_time(n: int, prefix: str) -> None:
    """``SimStack._ids`` draws 32 n bits at once: the same ids, and the same generator state after, as n
    draws of 32 (CPython fills a long draw a word at a time from the lowest; this pins it)."""
    one, many = SimStack(timings_from({}), Policies(), ["edge1"], seed=9), \
        SimStack(timings_from({}), Policies(), ["edge1"], seed=9)
    one.rng.random(), many.rng.random()
    assert [one._id(prefix) for _ in range(n)] == many._ids(prefix, n)
    assert one.rng.random() == many.rng.random()


@pytest.mark.parametrize("seed", range(30))
def test_the_health_check_keeps_its_list_only_while_nothing_changes(seed: int) -> None:
    """Handshakes, heartbeats, nodes settled and woken, restarts and health checks at random: the same events
    and lines as a manager that makes its list afresh at every check (a plain ``set``: no revision)."""
    import copy
    import random

    from repro_lib.model.node_manager import NodeManager
    from repro_lib.model.types import Outbox

    rng = random.Random(seed)
    t = timings_from({})
    kept, fresh = NodeManager(t, Outbox()), NodeManager(t, Outbox())
    fresh.settled = set()
    now = 0.0
    for _ in range(400):
        now += rng.choice([0.5, 5.0, t.health_check, t.disconnect_timeout])
        op, node = rng.random(), f"n-{rng.randint(0, 12)}"
        for nm in (kept, fresh):
            if op < 0.15:
                nm.handshake(now, node, node, {})
            elif op < 0.45:
                nm.heartbeat(now, node)
            elif op < 0.6:
                nm.settled.add(node)
            elif op < 0.7:
                nm.settled.discard(node)
            elif op < 0.72:
                nm.restart(now)
        if op >= 0.72:
            assert kept.health_check(now) == fresh.health_check(now)
        assert _lines(kept.out.logs) == _lines(fresh.out.logs)
    assert kept._watch is not None and copy.deepcopy(kept.settled).rev == kept.settled.rev
