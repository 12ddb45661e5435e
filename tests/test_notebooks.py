"""The notebooks run on the sim and assert what they show; the reports are self-contained HTML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from repro_lib.report import ReportError, make_offline, render_report

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# smaller sweeps in the suite; the notebooks' own defaults are for people
FAST_PARAMS = {"04-race-window": {"STEP": 30, "SEEDS": 2, "DOWNTIMES": [10, 300]}}


def test_all_six_notebooks_exist() -> None:
    assert [p.stem for p in NOTEBOOKS] == ["01-walkthrough", "02-timing-explorer", "03-fixes", "04-race-window",
                                        "05-what-breaks-a-fix", "06-your-incident"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_committed_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name} has outputs"
    assert "widgets" not in nb["metadata"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_sim_and_its_checks_pass(path: Path, tmp_path: Path) -> None:
    rep = render_report(path, tmp_path, parameters=FAST_PARAMS.get(path.stem, {}), cwd=ROOT)
    nb = nbformat.read(rep.notebook, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "checks passed" in text
    html = rep.html.read_text()
    assert "data:image/png;base64" in html  # figures embedded as plain outputs


def test_walkthrough_report_shows_tables_timeline_and_diagnosis(tmp_path: Path) -> None:
    rep = render_report(ROOT / "notebooks/01-walkthrough.ipynb", tmp_path, cwd=ROOT)
    html = rep.html.read_text()
    assert re.search(r"new-test-job</td>\s*<td>pipeline</td>\s*<td>deploying", html)
    assert html.count("data:image/png;base64") >= 1
    assert "VERDICT: reproduced" in html and "lost dispatch (published into the void" in html
    assert "PUBLISH: Checking node connection" in html
    # nothing to fetch: no external script or stylesheet, no CDN loader
    assert not re.search(r"""<(script|link)[^>]+(src|href)=["']https?://""", html)
    assert "cdnjs" not in html and "unpkg" not in html
    # the run folder sits next to it and is complete
    assert rep.run_dir is not None and (rep.run_dir / "events.jsonl").is_file()
    assert json.loads((rep.run_dir / "result.json").read_text())["verdict"] == "reproduced"


def test_walkthrough_with_fix_b_checks_the_other_story(tmp_path: Path) -> None:
    rep = render_report(ROOT / "notebooks/01-walkthrough.ipynb", tmp_path,
                        parameters={"FIX": "redispatch-on-join", "EXPECT_VERDICT": "not_reproduced"}, cwd=ROOT)
    assert "VERDICT: not_reproduced" in rep.html.read_text()


def test_a_failing_notebook_keeps_the_partial_notebook(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="failed in cell") as e:
        render_report(ROOT / "notebooks/01-walkthrough.ipynb", tmp_path,
                      parameters={"EXPECT_VERDICT": "not_reproduced"}, cwd=ROOT)
    assert e.value.notebook is not None and e.value.notebook.is_file()


def test_unknown_parameter_is_refused_before_running(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="has no parameter"):
        render_report(ROOT / "notebooks/01-walkthrough.ipynb", tmp_path, parameters={"NOPE": 1}, cwd=ROOT)
    assert not any(tmp_path.iterdir())


def test_make_offline_drops_widget_views_keeps_plain_outputs() -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "a"},
                                                     "text/plain": "VBox()"}),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"}),
    ]
    nb.cells = [cell]
    nb.metadata["widgets"] = {"state": {}}
    out = make_offline(nb)
    assert [list(o["data"]) for o in out.cells[0].outputs] == [["image/png", "text/plain"]]
    assert "widgets" not in out.metadata
