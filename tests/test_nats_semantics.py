"""The sim's NATS transport (issues 28, 34): by default as nats-server 2.14.5 and nats.go 1.53.1 behave at the
real system's settings (repro_lib/stacks/simnats.py), and the kit's earlier reading (``nats_semantics: drop``,
[I]) on request. The rules are checked against the source's arithmetic and against what the live tests measured
on the pinned server (docs/nats-transport.md rows 1, 2, 7-10), then as whole runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro_lib.scenario import load_scenario, parse_scenario, run_scenario
from repro_lib.stacks import simnats
from repro_lib.stacks.simnats import NatsSettings

ROOT = Path(__file__).resolve().parents[1]
REAL = simnats.settings_for("real")


# -- the rules, as the source writes them ---------------------------------------------------------------------
def test_real_settings_are_the_servers_and_clients_defaults() -> None:
    assert (REAL.server_ping_interval, REAL.server_ping_max, REAL.write_deadline) == (120.0, 2, 10.0)
    assert (REAL.client_ping_interval, REAL.client_ping_max, REAL.reconnect_wait) == (120.0, 2, 2.0)
    assert simnats.settings_for("short").server_ping_interval == 1.0
    with pytest.raises(ValueError):
        simnats.settings_for("fast")


@pytest.mark.parametrize("cut_at", [0.5, 60.0, 119.9, 120.1, 300.0])
def test_the_client_gives_up_two_intervals_after_its_first_tick_past_the_cut(cut_at: float) -> None:
    gave_up = simnats.client_gives_up(0.0, cut_at, REAL)
    first = gave_up - 2 * 120.0
    assert first > cut_at and first - cut_at <= 120.0 and first % 120.0 == pytest.approx(0.0, abs=1e-9)
    assert 240.0 < gave_up - cut_at <= 360.0  # 4-6 min under the defaults


def test_the_servers_ping_waits_a_whole_interval_after_inbound_data() -> None:
    s = NatsSettings("short", 1.0, 2, 10.0, 120.0, 2, 2.0)
    first = 1.1  # its first ping ~1 s after the connect (min(interval, 2 s) + up to 20 %)
    idle = simnats.server_closes(0.0, 10.05, last_in=0.0, first_delay=first, s=s)
    busy = simnats.server_closes(0.0, 10.05, last_in=10.0, first_delay=first, s=s)
    # row 1: idle a whole interval first: closed 2-3 intervals after the cut (measured 2.08-2.98 s at 1 s)
    assert 2.0 <= idle - 10.05 <= 3.0
    # row 2: data in < 1 interval before: up to 4 intervals (measured 3.18, 3.51 s)
    assert 3.0 <= busy - 10.05 <= 4.0 and busy > idle


def test_a_long_cut_is_closed_about_three_intervals_in_as_measured() -> None:
    """Row 8: 5.79-6.11 s after the cut at 2 s pings, the subscriber sending nothing itself."""
    s = NatsSettings("short", 2.0, 2, 10.0, 120.0, 2, 2.0)
    for k in range(20):
        connected, cut = 0.0, 30.0 + k * 0.1
        closes = simnats.server_closes(connected, cut, last_in=connected + 0.01,
                                       first_delay=simnats.first_ping_delay(0, "edge1", k, 2.0), s=s)
        assert 4.0 < closes - cut <= 6.0 + 0.4


def test_first_ping_is_drawn_per_connection_without_the_sims_rng() -> None:
    delays = {simnats.first_ping_delay(0, "edge1", k, 120.0) for k in range(50)}
    assert min(delays) >= 2.0 and max(delays) < 2.4 and len(delays) > 40


def test_a_heal_delivers_at_tcps_next_retransmission() -> None:
    # RTO 0.2 s doubling: retransmissions 0.2, 0.6, 1.4, 3.0, 6.2 ... after the first send
    assert simnats.next_retransmit(0.0, 1.0) == pytest.approx(1.4)
    assert simnats.next_retransmit(0.0, 6.2) == pytest.approx(6.2)
    # capped at 120 s apart: a long cut's heal may wait up to two minutes
    late = simnats.next_retransmit(0.0, 1000.0)
    assert 0 <= late - 1000.0 <= 120.0
    # row 7: a 1.5 s cut with data sent at its start: delivered 0.01-1.70 s after the heal
    assert 0.0 <= simnats.next_retransmit(0.0, 1.5) - 1.5 <= 1.7


# -- whole runs -------------------------------------------------------------------------------------------------
def _cut(deploy_after: str, heal_after: str, *, semantics: str = "nats", preset: str = "real",
         extra: list[dict] | None = None) -> object:
    steps = [{"up": {}}, {"wait_for": {"nodes": "connected", "count": 2, "timeout": "2m"}},
             {"deploy": str(ROOT / "pipelines" / "test-job.yaml")},
             {"wait_for": {"job": "test-heartbeat", "state": "running", "timeout": "2m"}},
             {"partition": ["edge1"]}, {"sleep": deploy_after}, {"deploy": str(ROOT / "pipelines" / "new-job.yaml")},
             *(extra or []), {"sleep": heal_after}, {"heal": ["edge1"]}, {"sleep": "3m"}, {"snapshot": {}}]
    return run_scenario(parse_scenario({"name": "cut", "timings": {"preset": "repro", "nats_semantics": semantics,
                                                                   "nats_timings": preset},
                                        "edges": ["edge1", "edge2"], "steps": steps}))


def _nats(run: object, word: str) -> list[float]:
    return [r.t for r in run.records if r.source == "nats" and word in r.msg]  # type: ignore[attr-defined]


def _step_t(run: object, op: str) -> float:
    return next(s["t_start_s"] for s in run.steps if s["op"] == op)  # type: ignore[attr-defined]


def test_drop_is_the_kits_earlier_reading_and_still_runs() -> None:
    run = _cut("10s", "30s", semantics="drop")
    assert run.verdict.verdict == "reproduced" and _nats(run, "partitioned - message dropped")
    assert not _nats(run, "held")


def test_by_default_a_short_cut_holds_and_delivers_late_at_a_retransmission() -> None:
    run = _cut("10s", "30s")
    held, heal = _nats(run, "held in the connection"), _step_t(run, "heal")
    assert len(held) == 1 and not _nats(run, "dropped") and not _nats(run, "lost")
    late = [t for t in _nats(run, "message delivered") if t >= heal]
    assert late and late[0] == pytest.approx(simnats.next_retransmit(held[0], heal), abs=0.01)
    assert run.verdict.verdict == "not_reproduced" and run.final.job("new-test-job")["state"] == "running"


def test_by_default_a_long_cut_outlives_the_clients_pings_and_the_run_request_is_lost() -> None:
    run = _cut("10s", "8m")
    cut = _step_t(run, "partition")
    gone = _nats(run, "client connection stale - reconnecting")
    assert len(gone) == 1 and 240 < gone[0] - cut <= 360  # nats.go: 2 intervals after its first tick past the cut
    assert _nats(run, "closed its connection as stale - message lost") == gone  # what was held went with it
    server = _nats(run, "Stale Client Connection - Closing")
    assert len(server) == 1 and server[0] > gone[0]  # the server's ping waits out the edge's last heartbeat
    back = _nats(run, "reconnected")
    heal = _step_t(run, "heal")
    assert len(back) == 1 and heal <= back[0] <= heal + REAL.reconnect_wait + simnats.CONNECT_TIMEOUT
    assert run.verdict.verdict == "reproduced" and {s.job for s in run.verdict.stuck} == {"new-test-job"}


def test_the_short_preset_is_labelled_and_closes_in_seconds() -> None:
    run = _cut("10s", "30s", preset="short")
    cut = _step_t(run, "partition")
    assert _nats(run, "client connection stale") and _nats(run, "client connection stale")[0] - cut < 4
    assert _nats(run, "no subscriber")  # the server closed before the deploy: nobody subscribed
    assert run.verdict.verdict == "reproduced"


def test_when_the_server_closes_first_the_orphaned_socket_still_delivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Row 9: the server closed the cut-off connection, the client still holds its socket: what the server had
    written arrives at the heal, then the client reads the close and reconnects at once."""
    fast_server = NatsSettings("short", 2.0, 2, 10.0, 120.0, 2, 2.0)
    monkeypatch.setattr(simnats, "settings_for", lambda preset: fast_server)
    run = _cut("1s", "30s")
    closed, heal = _nats(run, "Stale Client Connection"), _step_t(run, "heal")
    assert len(closed) == 1 and closed[0] < heal and not _nats(run, "client connection stale")
    late = [t for t in _nats(run, "message delivered") if t >= heal]
    back = _nats(run, "reconnected")
    assert late and back and 2.0 <= back[0] - late[0] <= 2.1  # it reads the close, sleeps ReconnectWait, is back
    assert run.verdict.verdict == "not_reproduced"


def test_full_kernel_buffers_end_in_a_slow_consumer_close_at_the_write_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """client.go:1947-1997: the flush blocks when the kernel's buffers are full; after the write deadline the
    server closes the connection and what it had not written is lost; what the buffers took still arrives."""
    monkeypatch.setattr(simnats, "SOCKET_BUFFER", 250)  # one run request (~190 bytes here) fits
    deploys = [{"deploy": str(ROOT / "pipelines" / "query-job.yaml")}, {"sleep": "1s"}]
    run = _cut("10s", "30s", extra=deploys)
    slow = _nats(run, "Slow Consumer Detected")
    held = _nats(run, "held in the connection")
    assert len(slow) == 1 and len(held) >= 2
    assert slow[0] == pytest.approx(held[1] + REAL.write_deadline, abs=0.01)
    lost = _nats(run, "slow consumer - connection closed, message lost")
    assert lost and all(t == slow[0] for t in lost) and len(lost) < len(held)
    assert [t for t in _nats(run, "message delivered") if t >= _step_t(run, "heal")]  # the buffered prefix


def _steady(steps: list[dict]) -> object:
    return run_scenario(parse_scenario({
        "name": "fault", "timings": {"preset": "fast"}, "edges": ["edge1", "edge2"],
        "steps": [{"up": {}}, {"wait_for": {"nodes": "connected", "count": 2, "timeout": "1m"}}, *steps,
                  {"sleep": "30s"}, {"snapshot": {}}]}))


@pytest.mark.parametrize("fault", ["stale_close", "slow_consumer", "reconnect"])
def test_a_closed_connection_is_back_after_reconnect_wait_and_loses_what_comes_between(fault: str) -> None:
    """nats.go with one server sleeps ReconnectWait (+ up to 100 ms jitter) before it tries again
    (nats.go:3386-3430): a run request published in that window finds no subscriber."""
    run = _steady([{fault: ["edge1"]}, {"sleep": "1s"}, {"deploy": str(ROOT / "pipelines" / "test-job.yaml")}])
    at, back = _step_t(run, fault), _nats(run, "reconnected")
    assert len(back) == 1 and REAL.reconnect_wait <= back[0] - at <= REAL.reconnect_wait + 0.1
    assert len(_nats(run, "no subscriber")) == 1 and run.verdict.verdict == "reproduced"
    later = _steady([{fault: ["edge1"]}, {"sleep": "3s"}, {"deploy": str(ROOT / "pipelines" / "test-job.yaml")}])
    assert not _nats(later, "no subscriber") and later.verdict.verdict == "not_reproduced"


@pytest.mark.parametrize("fault, kept", [("stale_close", True), ("slow_consumer", False), ("reconnect", False)])
def test_what_is_in_flight_when_a_connection_ends(fault: str, kept: bool) -> None:
    """A stale close keeps what the server had written (row 4); a slow consumer loses what it had accepted and
    not written (rows 15, 21); the client's own close loses what it had not read."""
    from repro_lib.jobs import load_job
    from repro_lib.model.types import Policies
    from repro_lib.stacks.sim import SimStack
    from repro_lib.timings import timings_from

    stack = SimStack(timings_from({"preset": "fast"}), Policies(), ["edge1"])
    stack.up()
    assert stack.wait_for(lambda: stack.count_nodes("connected") == 1, 60)
    stack.deploy(load_job(ROOT / "pipelines" / "test-job.yaml"))
    subject = stack.edges["edge1"].subject
    assert stack.wait_for(lambda: any(e[2][0] == "deliver" and e[2][1] == subject for e in stack._heap), 5)
    getattr(stack, fault)(["edge1"])
    stack.advance(30)
    lost = [r for r in stack.records if r.source == "nats" and "message lost" in r.msg]
    received = stack.count_executions("test-heartbeat", "running")
    assert (not lost and received == 1) if kept else (len(lost) == 1 and received == 0)


def test_transport_fault_steps_are_refused_on_a_live_stack() -> None:
    from repro_lib.errors import StackError
    from repro_lib.scenario import run_step

    step = parse_scenario({"name": "x", "steps": [{"stale_close": ["edge1"]}]}).steps[0]
    with pytest.raises(StackError, match="only the sim models"):
        run_step(object(), step, [])  # type: ignore[arg-type]


@pytest.mark.parametrize("name, drop, nats", [("fix-c-ack-skips", "reproduced", "not_reproduced")])
def test_a_finding_that_rests_on_drop_at_once(name: str, drop: str, nats: str) -> None:
    """Upstream C's ack skip (a request dropped without an error, a later one acked) needs the drop: as NATS
    behaves, the first request arrives at the heal, in order, and is acked."""
    path = ROOT / "scenarios" / f"{name}.yaml"
    assert run_scenario(load_scenario(path)).verdict.verdict == drop  # the file says it rests on the drop
    assert run_scenario(load_scenario(path, ["timings.nats_semantics=nats"])).verdict.verdict == nats


def test_the_explanation_says_which_transport_a_cut_rests_on() -> None:
    """The explorer's explanation of a run with a partition names the transport it ran under; a run without one
    says nothing about it."""
    from repro_lib.analysis.explain import explain, transport_note

    real = explain(_cut("10s", "30s")).text()
    assert "nats-server 2.14.5" in real and "real defaults" in real and "[I]" not in real
    short = transport_note(_cut("10s", "30s", preset="short"))
    assert "NOT the real defaults" in short
    drop = transport_note(_cut("10s", "30s", semantics="drop"))
    assert "drop reading [I]" in drop
    killed = run_scenario(load_scenario(ROOT / "scenarios" / "core-395.yaml"))
    assert transport_note(killed) == ""
