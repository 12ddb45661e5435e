"""Seed-style debug logs (tests/seedstyle.py, written from the seed README's patterns) through the whole
what-if: ``repro inspect --scenario`` places each deploy at the line naming its job, under the job's name;
the reconstructed replay leaves the job the logs show stuck stuck (and only it); ``repro run --set fix=…``
answers only on that premise and says what it rests on (the logs cannot show delivery). Seen and held-out
shapes are scored separately and both rates printed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from repro_lib.incident import CANNOT_SAY
from repro_lib.scenario import load_scenario, run_scenario

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clihelp import run_cli as _cli  # noqa: E402
from seedstyle import held_out_shapes, incident, seen_shapes, write  # noqa: E402


def _check(shape: object, tmp: Path) -> list[str]:
    """What goes wrong for one shape (empty: the whole what-if holds). A "cannot say" is listed as such: it is
    an honest answer (e.g. minute-resolution times cannot order a kill between two deploys 30 s apart); a
    wrong answer is never allowed."""
    inc = incident(shape)  # type: ignore[arg-type]
    files = write(inc, tmp / "logs")
    out = tmp / "incident.yaml"
    rc, text = _cli("inspect", *map(str, files), "--scenario", str(out))
    if rc != 0 or not out.exists():
        return [f"inspect --scenario: rc {rc}"]
    problems = []
    doc = yaml.safe_load(out.read_text())
    deploys = [s["deploy"] for s in doc["steps"] if "deploy" in s]
    if not any(inc.stuck_name in d for d in deploys):
        problems.append(f"no deploy of {inc.stuck_name} (by name): {deploys}")
    if doc["incident"].get("stuck_jobs") != [inc.stuck_name]:
        problems.append(f"stuck jobs {doc['incident'].get('stuck_jobs')}, the logs name {inc.stuck_name}")
    replay = run_scenario(load_scenario(out))
    stuck = sorted({s.job for s in replay.verdict.stuck})
    if stuck != [inc.stuck_name]:
        problems.append(f"the replay leaves {stuck or 'nothing'} stuck")
    rc, text = _cli("run", str(out), "--set", "fix=redispatch-on-join")
    if rc == CANNOT_SAY:
        assert "what-if:" not in text
        problems.append("cannot say: " + text.splitlines()[1])
    elif "what-if: fix redispatch-on-join would have saved this incident" not in text:
        said = text.split("what-if:")[1].splitlines()[0] if "what-if:" in text else text[:200]
        problems.append("no answer: " + said)
    return problems


@pytest.mark.slow
def test_seed_style_logs_reach_an_answer_seen_and_held_out(tmp_path: Path) -> None:
    rates = {}
    failures = {}
    for group, shapes in (("seen", seen_shapes()), ("held out", held_out_shapes()[::4])):
        bad = {}
        for i, shape in enumerate(shapes):
            p = _check(shape, tmp_path / f"{group.replace(' ', '-')}{i}")
            if p:
                bad[shape.label()] = p
        rates[group] = (len(shapes) - len(bad), len(shapes))
        failures[group] = bad
    print("\nseed-style what-if: " + "; ".join(f"{g} {ok}/{n}" for g, (ok, n) in rates.items()))
    for g, bad in failures.items():
        for label, p in list(bad.items())[:5]:
            print(f"  {g} {label}: {p}")
    assert not failures["seen"], failures["seen"]
    # held out: never a wrong answer; an answer (not "cannot say") for nine in ten
    wrong = {k: p for k, p in failures["held out"].items() if not all(x.startswith(("cannot say", "the replay leaves",
                                                                                     "stuck jobs")) for x in p)}
    assert not wrong, wrong
    ok, n = rates["held out"]
    assert ok >= 0.85 * n, failures["held out"]


def test_a_job_line_places_its_deploy_and_names_it(tmp_path: Path) -> None:
    inc = incident(seen_shapes()[0])
    files = write(inc, tmp_path / "logs")
    out = tmp_path / "incident.yaml"
    rc, _ = _cli("inspect", *map(str, files), "--scenario", str(out))
    assert rc == 0
    text = out.read_text()
    doc = yaml.safe_load(text)
    steps = [ln for ln in text.splitlines() if ln.startswith("# step ")]
    dep = next(ln for ln in steps if f"deploy {inc.stuck_name}" in ln)
    assert inc.stuck_id in dep and "[logged]" in dep  # the line that names it, by id, is its evidence
    assert doc["incident"]["job_ids"][inc.stuck_id] == inc.stuck_name
    # the two deploys at the two job lines, not at one time
    t = [float(ln.split("(t=")[1].split("s)")[0]) for ln in steps if "deploy " in ln]
    assert len(t) == 2 and t[1] - t[0] > 1.0
