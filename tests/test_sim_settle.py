"""A fleet's quiet edges settled all at once (``SimStack._settle_all``) read as one heartbeat event at a time."""

from __future__ import annotations

import copy

from repro_lib.model.types import Policies
from repro_lib.stacks.sim import SimStack
from repro_lib.timings import timings_from


def _fleet(lazy: bool, n: int = 150) -> SimStack:
    """``n`` edges (over the 64 from which the settling is done by arrays), half killed and back, an hour."""
    names = [f"edge{i}" for i in range(1, n + 1)]
    s = SimStack(timings_from({}), Policies(), names, seed=5, lazy_heartbeats=lazy)
    s.up()
    assert s.wait_for(lambda: s.count_nodes("connected") == n, 120)
    s.advance(47.3)
    s.kill(names[: n // 2])
    s.advance(31)
    s.start(names[: n // 2])
    s.advance(3600.7)
    return s


def test_a_fleets_snapshot_is_the_eager_one() -> None:
    lazy, eager = _fleet(True), _fleet(False)
    assert len(lazy._lazy) == 150  # every edge quiet, settled lazily
    assert lazy.snapshot("end").to_dict() == eager.snapshot("end").to_dict()
    assert [(r.t, r.source, r.msg, r.fields) for r in lazy.records] == \
        [(r.t, r.source, r.msg, r.fields) for r in eager.records]


def test_all_at_once_is_edge_by_edge() -> None:
    s = _fleet(True)
    one = copy.deepcopy(s)
    until = s.now + 1234.5
    s._settle_all(until)
    for name in list(one._lazy):
        one._settle(name, until)
    assert s._lazy == one._lazy
    assert {n: e.last_ack for n, e in s.edges.items()} == {n: e.last_ack for n, e in one.edges.items()}
    assert all(type(e.last_ack) is float for e in s.edges.values())
    assert {i: n.last_heartbeat for i, n in s.orch.nodes.nodes.items()} == \
        {i: n.last_heartbeat for i, n in one.orch.nodes.nodes.items()}
