"""data/reference-run is a compose capture of scenarios/core-395.yaml as that file is today (issue 21)."""

from __future__ import annotations

from pathlib import Path

import yaml

from repro_lib import load_scenario
from repro_lib.run import load_run

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT / "data" / "reference-run"


def test_reference_run_is_todays_core_395_and_matches_its_expect() -> None:
    saved = load_scenario(REF / "scenario.yaml")
    today = load_scenario(ROOT / "scenarios" / "core-395.yaml")
    assert [s.describe() for s in saved.steps] == [s.describe() for s in today.steps]
    assert (saved.params, saved.timings, saved.edges, saved.fix, saved.expect) == \
        (today.params, today.timings, today.edges, today.fix, today.expect)
    assert yaml.safe_load((REF / "manifest.json").read_text())["scenario_path"] == "scenarios/core-395.yaml"
    run = load_run(REF)
    assert run.backend == "compose"
    ok, problems = run.matches_expect()
    assert ok, problems


def test_reference_run_follows_its_schedule() -> None:
    """The start-up node-join batch is over before the kill (``connected_for``), the deploy falls in the
    downtime, and the edges return ``downtime`` after the kill — as the scenario says."""
    ev = load_run(REF).events
    faults = ev[(ev["kind"] == "fault") & (ev["source"] == "docker")]
    kills = faults[faults["state"] == "kill"]["t_s"]
    starts = faults[(faults["state"] == "start") & (faults["t_s"] > kills.max())]["t_s"]
    deploy = ev[(ev["kind"] == "action") & (ev["state"] == "deploy") & (ev["job"] == "new-test-job")]["t_s"]
    joins = ev[(ev["kind"] == "eval") & (ev["state"] == "created")
               & ev["detail"].fillna("").str.contains("trigger=node-join")]["t_s"]
    assert len(kills) == 2 and len(starts) == 2 and len(deploy) == 1
    kill, deploy_t = kills.max(), float(deploy.iloc[0])
    assert joins[joins < kill].size >= 1, "the start-up node-join batch should run before the kill"
    assert not ((joins > kills.min()) & (joins < deploy_t)).any(), "a node-join inside the downtime"
    assert 4.0 <= deploy_t - kill <= 7.0            # kill_to_deploy 5s
    assert 35.0 <= starts.min() - kill <= 50.0      # kill_to_deploy + downtime 30s (+ compose's own latency)
    assert kills.min() >= 60.0                      # connected_for 1m after the first job ran
