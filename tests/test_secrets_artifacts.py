"""Planted secrets never reach a file the kit writes (issue 17): run folders, --json, --events CSV,
figure labels, executed notebooks and HTML reports (also of a notebook that fails half-way),
search counterexample files, and what the CLI prints.

The inputs are the secrets corpus (tests/fixtures/secrets/: every shape in every line format) and
scenarios, parameters and environment values with planted secrets. Every planted value contains
``PLANT``; no output may contain that word."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "secrets"
MARK = b"PLANT"


def repro(*args: str, cwd: Path, env: dict[str, str] | None = None,
          timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repro_lib.cli", *args], capture_output=True, text=True, cwd=cwd,
                          stdin=subprocess.DEVNULL, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


def written(box: Path, inputs: set[Path]) -> list[Path]:
    return [p for p in box.rglob("*") if p.is_file() and p not in inputs]


def leaks(paths: list[Path]) -> list[str]:
    out = []
    for p in paths:
        data = p.read_bytes()
        at = data.find(MARK)
        if at >= 0:
            out.append(f"{p.name}: …{data[max(0, at - 60):at + 30]!r}")
    return out


def corpus_files() -> list[Path]:
    files = sorted(p for p in CORPUS.iterdir() if p.is_file() and p.name != "README.md")
    assert files, "the secrets corpus is empty"
    return files


@pytest.fixture
def box(tmp_path: Path) -> Path:
    b = tmp_path / "box"
    shutil.copytree(ROOT / "pipelines", b / "pipelines")
    (b / "scenarios").mkdir()
    doc = (ROOT / "scenarios" / "core-395.yaml").read_text()
    doc = doc.replace("params: {", "params: {api_token: PLANTparam-51c, db_password: 'PLANT two words', ", 1)
    doc = doc.replace("description: ", "description: connect with --token PLANTdesc-77 and "
                                       "nats://PLANTnatstok@127.0.0.1:4222 — ", 1)
    (b / "scenarios" / "core-395.yaml").write_text(doc)
    return b


def test_run_outputs_carry_no_planted_secret(box: Path) -> None:
    inputs = {p for p in box.rglob("*") if p.is_file()}
    p = repro("run", "scenarios/core-395.yaml", "--out", "out/run", "--json", "out/r.json", "--png", "out/t.svg",
              cwd=box, env={"EXPANSO_API_KEY": "PLANTenv-0a9f"})
    assert p.returncode == 0, p.stderr
    files = written(box, inputs)
    assert {f.name for f in files} >= {"events.jsonl", "result.json", "manifest.json", "scenario.yaml",
                                       "snapshots.json", "r.json", "t.svg"}
    assert leaks(files) == []
    assert "PLANT" not in p.stdout + p.stderr
    # the params are still there, masked, not dropped
    assert json.loads((box / "out" / "r.json").read_text())["params"]["api_token"] == "***"


def test_inspect_of_the_corpus_writes_and_prints_no_planted_secret(box: Path) -> None:
    files = corpus_files()
    inputs = {p for p in box.rglob("*") if p.is_file()}
    p = repro("inspect", *map(str, files), "--events", "out/ev.csv", "--png", "out/t.svg", "--all",
              "--date", "2025-02-20", cwd=box)
    assert p.returncode == 0, p.stderr
    out = written(box, inputs)
    assert {f.name for f in out} == {"ev.csv", "t.svg", ".repro-written"}  # the record: names, sizes, hashes
    assert leaks(out) == []
    assert "PLANT" not in p.stdout + p.stderr
    import pandas as pd
    ev = pd.read_csv(box / "out" / "ev.csv")
    assert len(ev) >= sum(len(f.read_text().splitlines()) for f in files) // 2  # the lines are there, masked


def test_figure_labels_carry_no_planted_secret() -> None:
    """Figures are pixels: their labels are checked on the matplotlib objects before rendering."""
    from matplotlib.text import Text

    from repro_lib.analysis.plots import plot_run
    from repro_lib.inspect import inspect_paths

    result = inspect_paths([str(f) for f in corpus_files()], date="2025-02-20")
    fig = plot_run(result.run if result.run is not None else result.events, title=result.title)
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert texts and not [t for t in texts if "PLANT" in t]


NOTEBOOK_CELLS = [
    ({"tags": ["parameters"]}, 'TOKEN = "x"\nCORPUS = ""\n'),
    ({}, "from pathlib import Path\nimport pandas as pd\n"
         "files = [f for f in sorted(Path(CORPUS).iterdir()) if f.suffix != '.md']\n"
         "lines = [line for f in files for line in f.read_text().splitlines()]\n"
         "print('\\n'.join(lines))\n"),
    ({}, "pd.DataFrame({'line': lines})\n"),
    ({}, 'print(f"using token={TOKEN}")\n'),
    ({}, "raise RuntimeError('cannot connect: ' + lines[0])\n"),
]


def notebook(cells: list[tuple[dict[str, object], str]]) -> str:
    """A notebook of code ``cells`` (metadata, source), as JSON."""
    return json.dumps({"cells": [{"cell_type": "code", "metadata": m, "execution_count": None, "outputs": [],
                                  "source": s, "id": f"c{i}"} for i, (m, s) in enumerate(cells)],
                       "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                   "language": "python"}},
                       "nbformat": 4, "nbformat_minor": 5})


def test_a_report_that_fails_half_way_is_redacted(box: Path) -> None:
    (box / "leaky.ipynb").write_text(notebook(NOTEBOOK_CELLS))
    inputs = {p for p in box.rglob("*") if p.is_file()}
    p = repro("report", "leaky.ipynb", "-p", "TOKEN", "PLANTnbparam-3", "-p", "CORPUS", str(CORPUS),
              "--out", "rep", cwd=box)
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "failed in cell" in p.stderr
    out = written(box, inputs)
    assert "leaky.ipynb" in {f.name for f in out}  # the partly executed notebook is kept …
    assert leaks(out) == []                       # … redacted
    assert "PLANT" not in p.stdout + p.stderr
    kept = (box / "rep" / "leaky.ipynb").read_text()
    assert "using token=***" in kept


def test_a_report_that_succeeds_is_redacted_in_notebook_and_html(box: Path) -> None:
    (box / "ok.ipynb").write_text(notebook(NOTEBOOK_CELLS[:-1]))  # without the cell that raises
    inputs = {p for p in box.rglob("*") if p.is_file()}
    p = repro("report", "ok.ipynb", "-p", "TOKEN", "PLANTnbparam-4", "-p", "CORPUS", str(CORPUS), "--out", "rep",
              cwd=box)
    assert p.returncode == 0, p.stderr
    out = written(box, inputs)
    assert {f.name for f in out} >= {"ok.ipynb", "ok.html"}
    assert leaks(out) == []


def test_search_files_carry_no_planted_secret(box: Path) -> None:
    inputs = {p for p in box.rglob("*") if p.is_file()}
    p = repro("search", "scenarios/core-395.yaml", "--runs", "50", "--out", "found", "--quiet", cwd=box)
    assert p.returncode in (0, 1), p.stderr
    out = written(box, inputs)
    assert leaks(out) == []
    assert "PLANT" not in p.stdout + p.stderr
