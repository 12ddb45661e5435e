"""The sim's partition semantics (issue 28): by default a message to a cut-off edge is dropped at once (the kit's own
choice, [I]); with ``timings.nats_stale_after`` > 0 it behaves as nats-server 2.14.5 was measured to
(docs/nats-transport.md): held in the connection and delivered late at heal, unless the server closes the
connection as stale first — then what it held is lost, and so is every message until the edge re-subscribes."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro_lib.scenario import load_scenario, parse_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[1]


def _cut(deploy_after: str, heal_after: str, stale: str, then: str | None = None) -> object:
    steps = [{"up": {}}, {"wait_for": {"nodes": "connected", "count": 2, "timeout": "2m"}},
             {"deploy": str(ROOT / "pipelines" / "test-job.yaml")},
             {"wait_for": {"job": "test-heartbeat", "state": "running", "timeout": "2m"}},
             {"partition": ["edge1"]}, {"sleep": deploy_after}, {"deploy": str(ROOT / "pipelines" / "new-job.yaml")},
             {"sleep": heal_after}, {"heal": ["edge1"]}, {"sleep": "2m"}, {"snapshot": {}}]
    if then:
        steps.insert(7, {"deploy": str(ROOT / "pipelines" / "query-job.yaml")})
        steps.insert(7, {"sleep": then})
    return run_scenario(parse_scenario({"name": "cut", "timings": {"preset": "repro", "nats_stale_after": stale},
                                        "edges": ["edge1", "edge2"], "steps": steps}))


def _nats(run: object, word: str) -> list[float]:
    return [r.t for r in run.records if r.source == "nats" and word in r.msg]  # type: ignore[attr-defined]


def test_by_default_a_message_to_a_cut_off_edge_is_dropped_at_once() -> None:
    run = _cut("10s", "30s", "0s")
    assert run.verdict.verdict == "reproduced" and _nats(run, "partitioned - message dropped")
    assert not _nats(run, "held")


def test_held_by_the_connection_and_delivered_late_at_heal() -> None:
    run = _cut("10s", "30s", "5m")
    held, heal = _nats(run, "held in the connection"), [s["t_start_s"] for s in run.steps if s["op"] == "heal"]
    assert len(held) == 1 and not _nats(run, "dropped")
    delivered = [t for t in _nats(run, "message delivered") if t >= heal[0] - 0.001]
    assert delivered and abs(delivered[0] - heal[0]) < 0.01  # late, at the heal, once
    assert run.verdict.verdict == "not_reproduced" and run.final.job("new-test-job")["state"] == "running"


def test_a_stale_close_loses_what_was_held_and_what_follows_until_the_edge_resubscribes() -> None:
    run = _cut("10s", "2m", "1m", then="1m")  # held at +10 s, closed at +60 s, a query job at +70 s: no subscriber
    part = next(s["t_start_s"] for s in run.steps if s["op"] == "partition")
    stale = _nats(run, "stale connection closed")
    assert len(stale) == 1 and abs(stale[0] - (part + 60)) < 0.01
    lost = _nats(run, "no subscriber")
    assert any(t > stale[0] for t in lost)  # after the close: nobody is subscribed on the edge's subject
    assert run.verdict.verdict == "reproduced"
    assert {s.job for s in run.verdict.stuck} >= {"new-test-job"}


@pytest.mark.parametrize("name, drop, held", [("fix-c-ack-skips", "reproduced", "not_reproduced")])
def test_a_finding_that_rests_on_drop_at_once(name: str, drop: str, held: str) -> None:
    """Upstream C's ack skip (a request dropped without an error, a later one acked) needs the drop: held, the
    first request arrives at the heal and is acked in order."""
    path = ROOT / "scenarios" / f"{name}.yaml"
    assert run_scenario(load_scenario(path)).verdict.verdict == drop
    assert run_scenario(load_scenario(path, ["timings.nats_stale_after=5m"])).verdict.verdict == held
