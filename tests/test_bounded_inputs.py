"""Bounded resources on any input (issue 29 item 2): binary input is refused before it is read, a reading that
holds every row is refused above its bound, and 200 MB of random bytes through ``repro inspect`` and
``repro run`` is refused within 1 GB and 30 s (peaks measured with getrusage in a fresh process; the other
worst inputs are in benchmarks/bench_worst_inputs.py)."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import repro_lib.inspect as inspect_mod
from repro_lib.cli import main
from repro_lib.errors import ReproError
from repro_lib.inspect import check_text, inspect_paths

ROOT = Path(__file__).resolve().parents[1]
ORCH = ROOT / "data" / "reference-run" / "logs" / "orchestrator.log"

# a fresh interpreter runs the CLI and reports its child's peak: nothing of pytest's own memory counts
_PEAK = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.run([sys.executable, "-m", "repro_lib.cli", *sys.argv[1:]], capture_output=True, text=True,
                   timeout=120)
print(json.dumps({"rc": p.returncode, "stderr": p.stderr, "s": time.perf_counter() - t0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _cli_peak(*argv: str, cwd: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", _PEAK, *argv], capture_output=True, text=True, cwd=cwd,
                         timeout=180, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("head,said", [
    (bytes(range(256)) * 8, r"is not a text log \(11% control bytes in its first 2 KiB\)"),
    (gzip.compress(b"time=2025-01-01T00:00:00Z level=INFO msg=x\n" * 100), r"is not a text log \(gzip-compressed\)"),
    (b"\x89PNG\r\n\x1a\n" + bytes(200), r"\(a PNG image\)"),
    (bytes(5000), r"\(100% control bytes"),
])
def test_binary_input_is_refused_before_it_is_read(tmp_path: Path, head: bytes, said: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "edge1.log"
    p.write_bytes(head)
    rc = main(["inspect", str(p)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert re.search(said, err), err
    if said.endswith("(gzip-compressed\\)"):
        assert "gunzip -k edge1.log" in err


def test_text_in_other_encodings_and_with_a_few_stray_bytes_is_still_read(tmp_path: Path) -> None:
    text = ORCH.read_text()
    for name, data in (("utf16.log", text.encode("utf-16")), ("utf16le.log", text.encode("utf-16-le")),
                       ("latin1.log", text.replace("msg=", "msg=é").encode("latin-1")),
                       ("colours.log", text.replace("level=", "\x1b[32mlevel=").encode()), ("empty.log", b"")):
        p = tmp_path / name
        p.write_bytes(data)
        check_text(p)  # no error
    assert inspect_paths([str(tmp_path / "utf16.log")]).events["kind"].ne("raw").any()


def test_a_reading_that_holds_every_row_is_refused_above_its_bound(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inspect_mod, "FULL_MAX_BYTES", ORCH.stat().st_size - 1)
    with pytest.raises(ReproError, match="too much to hold every row") as e:
        inspect_paths([str(ORCH)], condense=False)
    assert "leave out --no-condense" in str(e.value)
    assert len(inspect_paths([str(ORCH)], condense=True).events)  # the condensed reading is not bounded so


@pytest.fixture(scope="module")
def random_200mb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("random")
    p = d / "dump.log"
    with p.open("wb") as f:
        for _ in range(200):
            f.write(os.urandom(1_000_000))
    return p


@pytest.mark.parametrize("command", ["inspect", "run"])
def test_200_mb_of_random_bytes_is_refused_within_1_gb_and_30_s(random_200mb: Path, command: str) -> None:
    r = _cli_peak(command, str(random_200mb), cwd=random_200mb.parent)
    assert r["rc"] == 2 and str(r["stderr"]).count("\n") == 1, r
    assert float(r["peak_mb"]) < 1024 and float(r["s"]) < 30, r  # type: ignore[arg-type]
