"""The scenario language's schema (repro_lib/schema.py): every key, step and argument typed and bounded,
errors naming file:line:column, the path and the expected type, a bounded YAML loader, and the same for
job files. Each bad input is refused before anything runs: one line, exit 2 through the CLI."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import time
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro_lib.cli import main
from repro_lib.errors import ReproError, ScenarioError
from repro_lib.model.types import FIXES
from repro_lib.scenario import language, load_scenario
from repro_lib.schema import (
    MAX_DEPTH,
    MAX_EDGES,
    MAX_NODES,
    MAX_SCENARIO_BYTES,
    Choice,
    Duration,
    MapOf,
    Whole,
    read_yaml,
    scenario_schema,
)
from repro_lib.timings import Timings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from schemafuzz import PATHS, SET_KEYS, SET_VALUES, WRONG, put  # noqa: E402

HEAD = "name: t\nedges: [edge1, edge2]\n"


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _refused(p: Path, sets: list[str] | None = None) -> str:
    with pytest.raises(ScenarioError) as e:
        load_scenario(p, sets)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# (scenario text, the error: file:line:column[, step N]: path: what was expected)
BAD = [
    ("steps:\n  - up: 5\n", r":4:9, step 1: up: expected nothing or \{\}, got whole number 5"),
    ("steps:\n  - up: x\n", r":4:9, step 1: up: expected nothing or \{\}, got text 'x'"),
    ("steps:\n  - up: {}\n  - restart_orchestrator: x\n",
     r":5:27, step 2: restart_orchestrator: expected nothing or \{downtime: 5s\}, got text 'x'"),
    ("steps:\n  - snapshot: 5\n", r":4:15, step 1: snapshot: expected nothing, a label or \{label: TEXT\}"),
    ("steps:\n  - wait_for: {nodes: connected, count: abc}\n",
     r":4:41, step 1: wait_for.count: expected a whole number from 0 to 1,000,000, got text 'abc'"),
    ("steps:\n  - wait_for: {nodes: connected, count: .inf}\n", r"step 1: wait_for.count: expected a whole number"
                                                                 r".*got number .inf"),
    ("steps:\n  - wait_for: {nodes: connected, count: [1]}\n", r":4:41, step 1: wait_for.count: .*got a list of 1"),
    ("steps:\n  - wait_for: {nodes: connected, count: true}\n", r"wait_for.count: .*got true/false true"),
    ("params: [1]\nsteps:\n  - up: {}\n", r":3:9: params: expected a mapping of param names to values"),
    ("labels: x\nsteps:\n  - up: {}\n", r":3:9: labels: expected a mapping of edge name to labels"),
    ("labels: {edge1: {zone: 5}}\nsteps:\n  - up: {}\n", r":3:24: labels.edge1.zone: expected a label value"),
    ("fix: 5\nsteps:\n  - up: {}\n", r":3:6: fix: expected a fix or a list of fixes, got whole number 5"),
    ("timings: fast\nsteps:\n  - up: {}\n", r":3:10: timings: expected a mapping of timings"),
    ("timings: {disconnect_timeout: .nan}\nsteps:\n  - up: {}\n",
     r":3:31: bad timing disconnect_timeout nan: not a finite number"),
    ("steps:\n  - sleep: .nan\n", r":4:12, step 1: bad sleep duration nan: not a finite number"),
    ("steps:\n  - sleep: -.inf\n", r"step 1: bad sleep duration -inf: not a finite number"),
    ("steps:\n  - restart_orchestrator: {downtime: .nan}\n", r"step 1: bad downtime nan: not a finite number"),
    ("steps:\n  - kill: {edges: [edge1], hard: true}\n", r":4:28, step 1: kill: unknown key 'hard'"),
    ("steps:\n  - kill: [5]\n", r"step 1: kill\[0\]: expected an edge name, got whole number 5"),
    ("expect: {verdict: yes}\nsteps:\n  - up: {}\n", r"expect.verdict: expected one of reproduced"),
    ("expect: {classes: {lost: -1}}\nsteps:\n  - up: {}\n", r"expect.classes.lost: expected a whole number"),
    ("name2: x\nsteps:\n  - up: {}\n", r":2:1: unknown top-level key 'name2' \(did you mean 'name'\?\)"),
    ("steps: []\n", r":3:8: steps: expected 1 to 100,000 items, got 0"),
    ("steps:\n  - up: {}\nsteps:\n  - down: {}\n", r":5:1: the key 'steps' is written twice"),
    ("labels: &x [*x]\nsteps:\n  - up: {}\n", r":3:13: the alias \*x is inside its own anchor &x"),
    ("labels: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\nsteps:\n  - up: {}\n",
     rf"nested deeper than {MAX_DEPTH} levels"),
    ("description: [a]\nsteps:\n  - up: {}\n", r"description: expected text, got a list of 1"),
    ("edges: [edge1, edge1]\nsteps:\n  - up: {}\n", r"edges: 'edge1' is listed twice"),
]


@pytest.mark.parametrize("body,said", BAD, ids=[b.splitlines()[0][:40] for b, _ in BAD])
def test_a_wrong_type_is_one_line_naming_file_line_column_path_and_type(tmp_path: Path, body: str,
                                                                       said: str) -> None:
    text = HEAD + body if not body.startswith(("edges:", "name2:")) else "name: t\n" + body
    if body.startswith("name2:"):
        text = "edges: [edge1]\n" + body
    p = _write(tmp_path, text)
    msg = _refused(p)
    assert re.search(said, msg), msg
    assert msg.startswith(str(p)), msg


def test_the_cli_says_it_in_one_line_with_exit_2_before_anything_runs(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path, HEAD + "steps:\n  - up: {}\n  - wait_for: {nodes: connected, count: abc}\n")
    out = tmp_path / "out"
    rc = main(["run", str(p), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith(f"repro: {p}:5:"), err
    assert not out.exists()


def test_an_alias_bomb_is_refused_at_once_with_little_memory(tmp_path: Path) -> None:
    lines = ["name: t", "labels:", "  a: &a [x, x, x, x, x, x, x, x, x, x]"]
    prev = "a"
    for name in "bcdefghij":  # 10^10 values once expanded, in 424 bytes
        lines.append(f"  {name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
        prev = name
    p = _write(tmp_path, "\n".join(lines) + "\nsteps:\n  - up: {}\n")
    t0 = time.perf_counter()
    msg = _refused(p)
    assert time.perf_counter() - t0 < 2.0
    assert f"more than {MAX_NODES:,} values once its aliases are expanded" in msg and f"{p}:" in msg


def test_a_shared_alias_within_bounds_still_loads(tmp_path: Path) -> None:
    p = _write(tmp_path, "name: t\nedges: &all [edge1, edge2]\nsteps:\n  - up: {}\n  - kill: *all\n"
                         "  - start: *all\n")
    sc = load_scenario(p)
    assert sc.steps[1].args["edges"] == ["edge1", "edge2"] and sc.steps[2].op == "start"


def _edges_file(tmp_path: Path, n: int) -> Path:
    p = tmp_path / f"edges-{n}.yaml"
    p.write_text("name: many\nedges:\n" + "".join(f"  - edge{i}\n" for i in range(1, n + 1))
                 + "steps:\n  - up: {}\n")
    return p


def test_a_10k_edge_file_loads_within_0_2_s_and_is_capped_like_set_edges(tmp_path: Path) -> None:
    p = _edges_file(tmp_path, 10_000)
    best = min(_timed(lambda: read_yaml(p)) for _ in range(3))
    assert best <= 0.2, f"reading 10,000 edges took {best:.3f} s"
    over = _edges_file(tmp_path, MAX_EDGES + 1)
    msg = _refused(over)
    assert f"{over}:3:3: edges: expected 0 to {MAX_EDGES:,} items, got {MAX_EDGES + 1:,}" in msg
    assert "like --set edges" in msg
    assert len(load_scenario(_edges_file(tmp_path, MAX_EDGES)).edges) == MAX_EDGES


def _timed(f: typing.Callable[[], object]) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def test_binary_and_oversized_scenarios_are_refused_before_they_are_parsed(tmp_path: Path) -> None:
    b = tmp_path / "b.yaml"
    b.write_bytes(b"name: t\nsteps:\n  - up: {}\x00\xff\n")
    assert re.search(rf"{b}:3:11: not a text file", _refused(b))
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:  # sparse: no 16 MiB written
        f.truncate(MAX_SCENARIO_BYTES + 1)
    t0 = time.perf_counter()
    msg = _refused(big)
    assert time.perf_counter() - t0 < 0.5 and "a scenario file is at most 16 MiB" in msg


def test_every_shipped_scenario_still_loads() -> None:
    for p in sorted((ROOT / "scenarios").glob("*.yaml")):
        assert load_scenario(p).steps, p


def test_step_ops_and_timings_come_from_the_code_not_a_copy(tmp_path: Path) -> None:
    """An op added to STEP_NAMES takes an edge list like partition; each field of Timings is typed by its
    annotation. Both read at schema-build time, so the lead's new ops and timings validate unedited."""
    schema = scenario_schema(("up", "frobnicate"), tuple(FIXES), (), ())
    step = schema.keys["steps"].item  # type: ignore[attr-defined]
    assert step.check({"frobnicate": ["edge1"]}, ()) == {"frobnicate": ["edge1"]}
    with pytest.raises(ReproError, match="expected an edge name, a list of edge names"):
        step.check({"frobnicate": 5}, ())
    timings = language().keys["timings"]
    assert isinstance(timings, MapOf)
    hints = typing.get_type_hints(Timings)
    assert set(timings.keys) == {f.name for f in dataclasses.fields(Timings)}
    for f in dataclasses.fields(Timings):
        spec = timings.keys[f.name]
        expected = {int: Whole, float: Duration}.get(hints[f.name], Choice)
        assert isinstance(spec, expected), (f.name, spec)


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Timings)])
def test_every_timing_refuses_a_list_at_its_line(tmp_path: Path, field: str) -> None:
    p = _write(tmp_path, f"{HEAD}timings:\n  {field}: [1]\nsteps:\n  - up: {{}}\n")
    msg = _refused(p)
    col = len(field) + 5
    assert msg.startswith(f"{p}:4:{col}: "), msg
    assert field in msg


def test_job_files_are_typed_too(tmp_path: Path) -> None:
    (tmp_path / "j.yaml").write_text("name: j\ntype: pipeline\nconfig:\n  input:\n    generate:\n"
                                     "      count: abc\n      interval: 1s\n")
    p = _write(tmp_path, HEAD + "steps:\n  - up: {}\n  - deploy: j.yaml\n")
    msg = _refused(p)
    assert re.search(r"step 2: deploy: .*j\.yaml:6:14: job 'j' config\.input\.generate\.count: "
                     r"expected a whole number from 0 to 1,000,000,000, got text 'abc'", msg), msg
    (tmp_path / "j.yaml").write_text("name: j\ntype: pipeline\nconfig: {input: {generate: {count: 2, "
                                     "interval: 1s}}}\nselector: {match_labels: x}\n")
    assert "selector.match_labels: expected labels, got text 'x'" in _refused(p)


def test_a_set_value_names_the_set(tmp_path: Path) -> None:
    core = ROOT / "scenarios" / "core-395.yaml"
    assert "--set timings.reeval_max_batch=abc: timings.reeval_max_batch: expected a whole number" in _refused(
        core, ["timings.reeval_max_batch=abc"])
    assert "--set fix=5: fix: unknown fix '5'" in _refused(core, ["fix=5"])


# -- wrong types at every path of the schema (Hypothesis) ----------------------------------------------------
@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(PATHS), st.sampled_from(WRONG))
def test_any_value_at_any_path_loads_or_is_one_line(tmp_path: Path, path: tuple, value: object) -> None:
    doc = yaml.safe_load((ROOT / "scenarios" / "core-395.yaml").read_text())
    put(doc, path, value)
    p = tmp_path / "fuzzed.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.chdir(ROOT)  # the deploy steps' job files resolve against the cwd
    try:
        load_scenario(p)
    except ReproError as e:
        msg = str(e)
        assert "\n" not in msg and len(msg) < 2000, msg
        assert re.match(rf"{re.escape(str(p))}:\d+:\d+[:,]", msg), msg


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(SET_KEYS), st.sampled_from(SET_VALUES))
def test_any_set_value_loads_or_is_one_line(key: str, value: str) -> None:
    try:
        load_scenario(ROOT / "scenarios" / "core-395.yaml", [f"{key}={value}"])
    except ReproError as e:
        assert "\n" not in str(e) and ("--set" in str(e) or "core-395.yaml:" in str(e)), str(e)


@pytest.mark.parametrize("value,said", [
    ("[" * 2000 + "]" * 2000, r"bad sleep duration text '\[\[\[.*(4,000 characters)"),
    ("&a [*a]", r"--set params.settle: the alias \*a is inside its own anchor")])
def test_a_set_value_is_read_by_the_bounded_loader_and_said_short(value: str, said: str) -> None:
    with pytest.raises(ReproError) as e:
        load_scenario(ROOT / "scenarios" / "core-395.yaml", [f"params.settle={value}"])
    assert re.search(said, str(e.value)) and len(str(e.value)) < 400, str(e.value)


def test_a_run_folder_scenario_and_a_report_parameter_are_read_within_bounds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(ROOT / "data" / "reference-run", run)
    (run / "scenario.yaml").write_text("name: t\nlabels: " + "[" * 900 + "]" * 900 + "\n")
    assert main(["inspect", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{run}/scenario.yaml:2:40: nested deeper than {MAX_DEPTH} levels" in err, err
    rc = main(["report", str(ROOT / "notebooks" / "01-walkthrough.ipynb"), "-p", "SEED", "&a [*a]",
               "--out", str(tmp_path / "report")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "-p SEED: the alias *a is inside its own anchor" in err, err
    assert not (tmp_path / "report").exists()
