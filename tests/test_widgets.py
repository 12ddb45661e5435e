"""The timing explorer's logic, driven as a person would: set values, press Run, read the verdict."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from repro_lib.widgets import TimingExplorer  # noqa: E402


@pytest.fixture
def explorer(root: Path) -> TimingExplorer:
    return TimingExplorer("scenarios/core-395.yaml")


def test_first_run_reproduces_and_draws_the_timeline(explorer: TimingExplorer) -> None:
    run = explorer.run()
    assert run is not None and run.verdict.verdict == "reproduced"
    assert explorer.verdict_text.startswith("VERDICT: reproduced — 2 execution(s) stuck")
    fig = explorer.last_figure
    assert fig is not None and len(fig.axes) == 4
    assert "verdict: reproduced" in fig._suptitle.get_text()


def test_released_slider_reruns_with_the_new_timing(explorer: TimingExplorer) -> None:
    explorer.run()
    explorer.kill_to_deploy.value = 400           # after the disconnect timeout (300 s + check)
    assert explorer.runs == 2
    assert explorer.verdict_text.startswith("VERDICT: not_reproduced")
    assert "params.kill_to_deploy=400s" in explorer.verdict_text  # in seconds, like the slider
    assert "verdict: not_reproduced" in explorer.last_figure._suptitle.get_text()


def test_preset_updates_the_timing_sliders_and_settle(explorer: TimingExplorer) -> None:
    explorer.preset.value = "docs"
    assert explorer.disconnect_timeout.value == 90 and explorer.settle.value >= 45
    assert explorer.runs == 1 and explorer.last_run.timings.connected_after == 30
    assert explorer.verdict_text.startswith("VERDICT: reproduced")
    explorer.kill_to_deploy.value = 150             # docs: the window closes by 90 s + 30 s
    assert explorer.verdict_text.startswith("VERDICT: not_reproduced")


def test_fix_and_edge_count(explorer: TimingExplorer) -> None:
    explorer.edges.value = 4
    assert len(explorer.last_run.verdict.stuck) == 4
    explorer.fix.value = "block"
    assert explorer.verdict_text.startswith("VERDICT: reproduced")     # approach A does not help here
    explorer.fix.value = "redispatch-on-join"
    assert explorer.verdict_text.startswith("VERDICT: not_reproduced")


def test_disconnect_timeout_slider_moves_the_window(explorer: TimingExplorer) -> None:
    explorer.auto = False
    explorer.kill_to_deploy.value = 100
    explorer.disconnect_timeout.value = 60
    assert explorer.runs == 0                       # auto off: nothing ran
    explorer.run_button.click()
    assert explorer.runs == 1 and explorer.verdict_text.startswith("VERDICT: not_reproduced")


def test_bad_value_shows_an_error_not_a_traceback(explorer: TimingExplorer) -> None:
    explorer.auto = False
    explorer.disconnect_timeout.value = 20
    explorer.preset.value = "docs"                  # docs sets connected_after 30 s > disconnect 20 s …
    explorer.disconnect_timeout.value = 20          # … so the combination is invalid
    assert explorer.run() is None
    assert "ERROR" in explorer.status.value and "connected_after" in explorer.status.value


def test_live_backend_runs_in_background_and_cancel_tears_down(root: Path) -> None:
    """On a live backend the Run button starts a thread with progress; Cancel stops it at the next
    step and the stack is torn down (here: the local-process backend over a real nats-server)."""
    import subprocess
    import time

    from repro_lib.stacks.local import find_nats_server

    if find_nats_server() is None:
        pytest.skip("nats-server not installed (apt-get install nats-server)")
    def emulator_pids() -> set[str]:
        r = subprocess.run(["pgrep", "-f", "repro_lib/emulator/standalone.py"], capture_output=True, text=True)
        return set(r.stdout.split())

    before = emulator_pids()          # other people's runs on this machine are not ours to judge
    x = TimingExplorer("scenarios/core-395.yaml", backend="local")
    assert x.auto is False                       # sliders do not start minute-long runs
    x.kill_to_deploy.value = 5
    assert x.runs == 0
    x.run_button.click()
    deadline = time.monotonic() + 60
    while x.progress.value < 0.2 and time.monotonic() < deadline:   # past `up`, into the waits
        time.sleep(0.1)
    assert x.run_button.disabled and not x.cancel_button.disabled
    x.cancel_button.click()
    assert x._thread is not None
    x._thread.join(timeout=90)
    assert not x._thread.is_alive()
    assert "cancelled by the user" in x.status.value
    assert not x.run_button.disabled and x.cancel_button.disabled
    left = emulator_pids() - before
    assert not left, f"emulator processes left: {left}"


# -- issue 10: the panel explains, resets, exports -----------------------------------------------------
def test_explanation_comes_from_the_runs_own_events(explorer: TimingExplorer) -> None:
    explorer.kill_to_deploy.value = 200           # deployed inside the window; the orchestrator notices later
    explorer.downtime.value = 300
    run = explorer.last_run
    ev = run.events
    noticed = ev[(ev["kind"] == "node") & (ev["state"] == "disconnected")]["t_s"].min()
    deployed = ev[(ev["kind"] == "action") & (ev["state"] == "deploy") & (ev["job"] == "new-test-job")]["t_s"].iloc[0]
    ex = explorer.last_explanation
    assert ex.times["noticed"] == pytest.approx(noticed) and ex.times["deployed"] == pytest.approx(deployed)
    text = explorer.explanation_text
    assert f"noticed at {noticed:.1f}s" in text and f"deployed at {deployed:.1f}s" in text
    assert "while the orchestrator still believed the edges connected" in text
    assert "published into NATS with nobody subscribed" in text


def test_fix_a_says_why_nothing_changed(explorer: TimingExplorer) -> None:
    explorer.run()
    explorer.fix.value = "block"
    assert explorer.verdict_text.startswith("VERDICT: reproduced")
    assert "Fix A (RetryStrategyBlock) cannot act here: the publish succeeded" in explorer.explanation_text


def test_fix_e_says_when_its_remedy_is_due(explorer: TimingExplorer) -> None:
    explorer.fix.value = "pending-timeout"
    ex = explorer.last_explanation
    assert explorer.verdict_text.startswith("VERDICT: inconclusive") and ex.settle_until is not None
    assert f"due at t={ex.settle_until:.1f}s" in explorer.explanation_text
    assert explorer.settle_button.layout.display == "" and "settle until" in explorer.settle_button.description
    explorer.settle_until_remedy()  # the one-click button
    assert explorer.verdict_text.startswith("VERDICT: not_reproduced")
    assert explorer.settle_button.layout.display == "none"


def test_preset_raises_settle_visibly_and_puts_it_back(explorer: TimingExplorer) -> None:
    explorer.preset.value = "docs"
    assert explorer.settle.value >= 62 and "settle raised to" in explorer.explanation_text
    explorer.preset.value = "repro"
    assert explorer.settle.value == 20 and "settle back to 20 s" in explorer.explanation_text


def test_reset_and_export(explorer: TimingExplorer, tmp_path: Path) -> None:
    explorer.kill_to_deploy.value = 400
    explorer.fix.value = "block"
    explorer.edges.value = 5
    explorer.reset()
    assert (explorer.kill_to_deploy.value, explorer.fix.value, explorer.edges.value) == (5, "none", 2)
    assert explorer.verdict_text.startswith("VERDICT: reproduced")
    out = explorer.export(tmp_path)
    cmd = out.splitlines()[0]
    assert cmd.startswith("repro run scenarios/core-395.yaml --set timings.preset=repro")
    folder = next(tmp_path.glob("run-*"))
    assert (folder / "timeline.png").stat().st_size > 10_000 and (folder / "run" / "events.jsonl").is_file()
    # the command reproduces the panel's verdict
    import shlex

    from repro_lib.cli import main
    args = shlex.split(cmd)[1:]
    assert main([*args, "--quiet"]) == 0 and explorer.last_run.verdict.verdict == "reproduced"


def test_lock_time_axis(explorer: TimingExplorer) -> None:
    explorer.run()
    xlim = explorer.last_figure.axes[-1].get_xlim()
    explorer.lock_axis.value = True
    explorer.kill_to_deploy.value = 400
    assert explorer.last_figure.axes[-1].get_xlim() == xlim


def test_labels_have_units_and_tooltips(explorer: TimingExplorer) -> None:
    for w in explorer.controls:
        assert w.tooltip and "_" not in w.description
    assert explorer.cancel_button.layout.display == "none"  # nothing to cancel on the sim


def test_session_deploy_prints_what_the_cli_prints_and_waits_for_the_evaluation(root: Path) -> None:
    import re

    from repro_lib.session import Session

    s = Session()
    s.up()
    s.wait_for(nodes="connected", count=2)
    msg = s.deploy("pipelines/test-job.yaml")
    assert re.fullmatch(r"Job test-heartbeat created \(id j-[0-9a-f]{8}, version 1\)", msg), msg
    assert s.wait_for_executions("test-heartbeat") == "ok"
    assert (s.execution_list()["job"] == "test-heartbeat").sum() == 2
    assert s.deploy("pipelines/test-job.yaml") == "NO_CHANGES_DETECTED"
    s.close()
