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
    assert "params.kill_to_deploy=6m40s" in explorer.verdict_text
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

    from repro_lib.emulator.local_stack import find_nats_server

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
