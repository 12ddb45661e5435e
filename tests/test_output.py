"""The one writer (repro_lib.output): nothing the kit did not write is deleted or overwritten, nothing
is left half-written, destinations are checked before the work (issue 17)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from repro_lib.output import (
    WRITTEN,
    OutputError,
    check_dir,
    check_file,
    folder,
    is_ours,
    is_ours_dir,
    write_file,
)

ROOT = Path(__file__).resolve().parents[1]


def tree(p: Path) -> dict[str, bytes]:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}


def test_a_new_folder_is_written_whole_and_listed(tmp_path: Path) -> None:
    out = tmp_path / "a" / "run"
    with folder(out) as tmp:
        (tmp / "x.txt").write_text("x")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "y.txt").write_text("y")
        assert not out.exists()  # nothing in place before the end
    assert tree(out).keys() == {"x.txt", "sub/y.txt", WRITTEN}
    rec = json.loads((out / WRITTEN).read_text())
    assert sorted(rec["files"]) == ["sub/y.txt", "x.txt"] and rec["dirs"] == ["sub"]
    assert rec["files"]["x.txt"] == {"size": 1, "sha256": hashlib.sha256(b"x").hexdigest()}
    assert is_ours_dir(out)
    assert [p.name for p in out.parent.iterdir()] == ["run"]  # no temporary sibling left


def test_a_folder_of_ours_is_replaced_and_the_old_one_removed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with folder(out) as tmp:
        (tmp / "old.txt").write_text("old")
    with folder(out) as tmp:
        (tmp / "new.txt").write_text("new")
    assert tree(out).keys() == {"new.txt", WRITTEN}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_foreign_file_in_a_folder_of_ours_stops_the_replacement(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with folder(out) as tmp:
        (tmp / "a.txt").write_text("a")
    (out / "notes.md").write_text("mine")
    with pytest.raises(OutputError, match="notes.md, which repro did not write"), folder(out):
        pass
    assert (out / "notes.md").read_text() == "mine" and (out / "a.txt").read_text() == "a"


@pytest.mark.parametrize("content", [{"mine.txt": "x"}, {"sub/mine.txt": "x"}, {WRITTEN: "not json"}])
def test_a_user_folder_is_refused_and_untouched(tmp_path: Path, content: dict[str, str]) -> None:
    out = tmp_path / "mine"
    for rel, text in content.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    before = tree(out)
    with pytest.raises(OutputError, match="repro did not (write|make)"):
        check_dir(out, "--out")
    with pytest.raises(OutputError), folder(out) as tmp:
        (tmp / "x").write_text("x")
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_an_empty_folder_is_taken(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    with folder(out) as tmp:
        (tmp / "x").write_text("x")
    assert tree(out).keys() == {"x", WRITTEN}


def test_an_error_inside_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(ZeroDivisionError), folder(out) as tmp:
        (tmp / "x").write_text("x")
        1 / 0  # noqa: B018
    assert list(tmp_path.iterdir()) == []


def test_keep_on_error_puts_the_partial_result_in_place(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    with pytest.raises(KeyboardInterrupt), folder(out, keep_on_error=True) as tmp:
        (tmp / "partial.ipynb").write_text("{}")
        raise KeyboardInterrupt
    assert tree(out).keys() == {"partial.ipynb", WRITTEN}
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]


def test_the_current_folder_is_never_a_destination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "keep.txt").write_text("k")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match="current folder"):
        check_dir(".", "--out")
    assert (tmp_path / "keep.txt").read_text() == "k"


def test_files_of_ours_are_recognised_by_their_record(tmp_path: Path) -> None:
    j = tmp_path / "r.json"
    write_file(j, json.dumps({"written_by": "repro_lib 0.1.0", "verdict": "reproduced"}))
    assert is_ours(j)
    write_file(j, json.dumps({"written_by": "repro_lib 0.1.0", "verdict": "not_reproduced"}))
    assert "not_reproduced" in j.read_text()
    user = tmp_path / "u.json"
    user.write_text('{"verdict": "mine"}')
    assert not is_ours(user)
    with pytest.raises(OutputError, match="not written by repro"):
        write_file(user, "{}")
    assert user.read_text() == '{"verdict": "mine"}'


@pytest.mark.parametrize("kind", ["fifo", "symlink", "dir", "dev", "proc", "missing-parent-file"])
def test_file_destinations_that_cannot_be_written(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "x.json"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink":
        (tmp_path / "real.json").write_text("{}")
        target.symlink_to(tmp_path / "real.json")
    elif kind == "dir":
        target.mkdir()
    elif kind == "dev":
        target = Path("/dev/null")
    elif kind == "proc":
        target = Path("/proc/self/x.json")
    else:
        (tmp_path / "f").write_text("a file, not a folder")
        target = tmp_path / "f" / "x.json"
    with pytest.raises(OutputError):
        check_file(target, "--json")
    if kind == "symlink":
        assert (tmp_path / "real.json").read_text() == "{}"


def test_secrets_are_redacted_on_the_way_to_disk(tmp_path: Path) -> None:
    p = write_file(tmp_path / "r.json", json.dumps({"written_by": "repro_lib", "api_token": "PLANTout-93ab1"}))
    assert "PLANTout-93ab1" not in p.read_text()


def test_two_runs_into_one_out_at_once(tmp_path: Path) -> None:
    """Both finish (exit 0/1), and the folder in place is one whole run folder."""
    cmd = [sys.executable, "-m", "repro_lib.cli", "run", str(ROOT / "scenarios" / "core-395.yaml"),
           "--out", str(tmp_path / "run"), "--quiet"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(3)]
    results = [(p.wait(120), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert all(rc == 0 for rc, _ in results), results
    assert is_ours_dir(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["written_by"].startswith("repro_lib")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
