"""Edits inside what the kit wrote survive a re-run into the same destination (issue 29 item 3).

The kit knows its files by the record in their folder (``.repro-written``: each file's size and
SHA-256, and the folders it made), never by their content: a file changed since the kit wrote it, a
file or a folder it did not write, stops the re-run with one line and exit 2, and nothing is lost.
Every case below is one the issue lists; each starts from a real write of the kit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from repro_lib.output import WRITTEN, OutputError, check_dir, folder, is_ours, is_ours_dir, write_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clihelp import run_cli  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORE = str(ROOT / "scenarios" / "core-395.yaml")
LOGS = ROOT / "data" / "reference-run" / "logs"


def snapshot(p: Path) -> dict[str, bytes]:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """``repro ARGS`` exits 2 with one line on stderr; that line."""
    rc, _ = run_cli(*args)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, (rc, err)
    return err


@pytest.fixture
def run_dir(tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "out"
    rc, _ = run_cli("run", CORE, "--out", str(out), "--quiet")
    assert rc == 0, capsys.readouterr().err
    assert is_ours_dir(out)
    return out


def test_an_unchanged_run_folder_is_replaced(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = json.loads((run_dir / WRITTEN).read_text())
    assert rec["files"]["result.json"]["size"] == (run_dir / "result.json").stat().st_size
    assert "logs" in rec["dirs"]
    rc, _ = run_cli("run", CORE, "--out", str(run_dir), "--quiet", "--seed", "2")
    assert rc == 0, capsys.readouterr().err
    assert json.loads((run_dir / "manifest.json").read_text())["seed"] == 2


@pytest.mark.parametrize("edit", ["append-log", "empty-folder", "edit-result", "new-file"])
def test_an_edit_in_a_run_folder_stops_the_rerun(run_dir: Path, capsys: pytest.CaptureFixture[str],
                                                 edit: str) -> None:
    if edit == "append-log":
        with (run_dir / "logs" / "edge1.log").open("a") as f:
            f.write("my note: edge1 came back at 10:02\n")
    elif edit == "empty-folder":
        (run_dir / "notes").mkdir()
    elif edit == "edit-result":
        doc = json.loads((run_dir / "result.json").read_text())
        doc["comment"] = "looked at this with Ana"
        (run_dir / "result.json").write_text(json.dumps(doc))
    else:
        (run_dir / "notes.md").write_text("mine")
    before = snapshot(run_dir)
    dirs_before = sorted(p.name for p in run_dir.rglob("*") if p.is_dir())
    err = refused(capsys, "run", CORE, "--out", str(run_dir), "--quiet")
    want = {"append-log": "logs/edge1.log, changed since repro wrote it",
            "empty-folder": "notes/, a folder repro did not make",
            "edit-result": "result.json, changed since repro wrote it",
            "new-file": "notes.md, which repro did not write"}
    assert want[edit] in err and "move it away or remove it yourself" in err
    assert snapshot(run_dir) == before
    assert sorted(p.name for p in run_dir.rglob("*") if p.is_dir()) == dirs_before


def test_an_edited_json_file_is_kept(tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    j = tmp_path / "fix-b.json"
    assert run_cli("run", CORE, "--json", str(j), "--quiet")[0] == 0
    assert is_ours(j)
    assert run_cli("run", CORE, "--json", str(j), "--quiet")[0] == 0  # unchanged: replaced
    j.write_text(j.read_text().replace('"verdict"', '"my_note": "checked", "verdict"', 1))
    mine = j.read_bytes()
    err = refused(capsys, "run", CORE, "--json", str(j), "--quiet")
    assert "was changed since repro wrote it" in err and "move it away or delete it yourself" in err
    assert j.read_bytes() == mine


def test_a_users_json_that_says_written_by_repro_is_theirs(tmp_path: Path, root: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    j = tmp_path / "result.json"
    j.write_text(json.dumps({"written_by": "repro_lib 0.1.0", "verdict": "mine"}))
    assert not is_ours(j)
    err = refused(capsys, "run", CORE, "--json", str(j), "--quiet")
    assert "not written by repro" in err
    assert json.loads(j.read_text())["verdict"] == "mine"


def test_an_annotated_events_csv_is_kept(tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "events.csv"
    log = str(LOGS / "orchestrator.log")
    assert run_cli("inspect", log, "--events", str(csv))[0] == 0
    capsys.readouterr()
    assert run_cli("inspect", log, "--events", str(csv))[0] == 0  # unchanged: replaced
    capsys.readouterr()
    lines = csv.read_text().splitlines()
    lines[1] += "  <- the kill"
    csv.write_text("\n".join(lines) + "\n")
    mine = csv.read_bytes()
    assert "changed since repro wrote it" in refused(capsys, "inspect", log, "--events", str(csv))
    assert csv.read_bytes() == mine


def test_a_user_file_with_the_kits_header_is_not_overwritten(tmp_path: Path, root: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A scenario the user wrote, keeping a counterexample's header line, is theirs."""
    mine = tmp_path / "incident.yaml"
    mine.write_text("# found by: repro search --fix block\n# reconstructed by: repro inspect\nname: mine\n")
    before = mine.read_bytes()
    err = refused(capsys, "inspect", str(LOGS), "--scenario", str(mine))
    assert "not written by repro" in err
    assert mine.read_bytes() == before


def test_an_edited_counterexample_stops_the_next_search(tmp_path: Path, root: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "found"
    args = ("search", CORE, "--fix", "redispatch-on-join", "--runs", "200", "--seed", "1", "--out", str(out), "--quiet")
    assert run_cli(*args)[0] == 1
    capsys.readouterr()
    found = sorted(out.glob("*.yaml"))
    assert found and is_ours_dir(out)
    with found[0].open("a") as f:
        f.write("# the one Ana reproduced on staging\n")
    before = snapshot(out)
    assert f"{found[0].name}, changed since repro wrote it" in refused(capsys, *args)
    assert snapshot(out) == before


def test_an_edited_report_html_stops_the_next_report(tmp_path: Path) -> None:
    """A report folder is written by the same :func:`folder` as every other (the notebook run itself is
    tested in test_readme_commands.py); its HTML edited is refused, and kept."""
    out = tmp_path / "rep"
    with folder(out, "report folder") as tmp:
        (tmp / "01-walkthrough.html").write_text("<html>report</html>")
        (tmp / "run").mkdir()
        (tmp / "run" / "events.jsonl").write_text("{}\n")
    (out / "01-walkthrough.html").write_text("<html>report, with my notes</html>")
    with pytest.raises(OutputError, match=r"01-walkthrough.html, changed since repro wrote it"):
        check_dir(out, "report folder")
    with pytest.raises(OutputError), folder(out, "report folder") as tmp:
        (tmp / "x").write_text("x")
    assert (out / "01-walkthrough.html").read_text() == "<html>report, with my notes</html>"


def test_an_older_repros_list_proves_nothing(tmp_path: Path) -> None:
    """A ``.repro-written`` without sizes and hashes (repro before this record) cannot tell an edit
    from the kit's bytes: the folder is refused, with what to do."""
    out = tmp_path / "old"
    out.mkdir()
    (out / "result.json").write_text("{}")
    (out / WRITTEN).write_text(json.dumps({"written_by": "repro_lib", "files": ["result.json"]}))
    with pytest.raises(OutputError, match="older repro's record"):
        check_dir(out, "--out")
    assert not is_ours(out / "result.json")


def test_a_file_beside_others_is_listed_with_them(tmp_path: Path) -> None:
    """Two files written into one folder share its record; a file of the user's there stays foreign,
    and a ``.repro-written`` that is not the kit's record is never overwritten."""
    a = write_file(tmp_path / "a.json", "{}")
    b = write_file(tmp_path / "b.json", "[]")
    (tmp_path / "mine.txt").write_text("mine")
    rec = json.loads((tmp_path / WRITTEN).read_text())
    assert sorted(rec["files"]) == ["a.json", "b.json"]
    assert is_ours(a) and is_ours(b) and not is_ours(tmp_path / "mine.txt")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / WRITTEN).write_text("my own notes file\n")
    with pytest.raises(OutputError, match="is not repro's record"):
        write_file(other / "c.json", "{}")
    assert (other / WRITTEN).read_text() == "my own notes file\n" and not (other / "c.json").exists()
