"""Names are data (issue 18): an edge may be called anything a node may be called, except the names the
events table already gives to something else (orchestrator, nats, …) — those are refused with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from repro_lib.errors import ScenarioError
from repro_lib.scenario import RESERVED_NAMES, load_scenario, parse_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[1]
CORE = str(ROOT / "scenarios" / "core-395.yaml")


@pytest.mark.parametrize("names", ["orchestrator,nats", "edge1,NATS", "sim,edge2"])
def test_reserved_names_are_refused_with_one_line(names: str) -> None:
    p = subprocess.run([sys.executable, "-m", "repro_lib.cli", "run", CORE, "--set", f"edges={names}"],
                       capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "an edge cannot be called" in lines[0], p.stderr


def test_a_join_with_a_reserved_name_is_refused() -> None:
    with pytest.raises(ScenarioError, match="cannot be called 'docker'"):
        parse_scenario({"name": "j", "edges": ["edge1"], "steps": [{"up": {}}, {"join": "docker"}]})


@pytest.mark.parametrize("names", [["web-01.example.com", "db_2"], ["Qm2rA", "n-8f3c"], ["a", "b"]])
def test_any_other_names_give_the_same_verdict_as_edge1_edge2(names: list[str]) -> None:
    base = run_scenario(load_scenario(CORE))
    other = run_scenario(load_scenario(CORE, [f"edges={','.join(names)}"]))
    assert other.error is None, other.error
    assert other.verdict.verdict == base.verdict.verdict == "reproduced"
    assert sorted(s.node for s in other.verdict.stuck) == sorted(names)


def test_the_reserved_names_are_the_events_sources() -> None:
    from repro_lib import events
    for name in ("orchestrator", "nats", "sim", "docker", "cli"):
        assert name in RESERVED_NAMES and name in (events.__doc__ or "")
