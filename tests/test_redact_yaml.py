"""A masked secret in a YAML file the kit writes and reads again stays YAML (issue 29: ``api_key: ***`` was an
alias, so ``repro run`` and ``repro inspect`` of the kit's own run folder failed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from repro_lib.cli import main
from repro_lib.redact import redact_yaml

SECRET = "abc123def456ghi789jklmno"


@pytest.mark.parametrize("text", [f"api_key: {SECRET}\n", f"p: {{api_key: {SECRET}, n: 1}}\n",
                                  f"- token:   {SECRET}  # note\n", f"x:\n  password: {SECRET}\n"])
def test_a_masked_value_loads_as_the_mask(text: str) -> None:
    out = redact_yaml(text)
    assert SECRET not in out
    assert "'***'" in out and "***" in str(yaml.safe_load(out))


def test_the_run_folders_scenario_runs_and_inspects_again(tmp_path: Path, root: Path) -> None:
    sc = tmp_path / "s.yaml"
    sc.write_text(f"""name: sec
timings: {{preset: fast}}
edges: [edge1]
params: {{api_key: {SECRET}, settle: 2s}}
steps:
  - up: {{}}
  - wait_for: {{nodes: connected, count: 1, timeout: 2m}}
  - deploy: {root}/pipelines/test-job.yaml
  - sleep: ${{settle}}
  - snapshot: {{}}
""")
    assert main(["run", str(sc), "--out", str(tmp_path / "out")]) in (0, 1)
    text = (tmp_path / "out" / "scenario.yaml").read_text()
    assert SECRET not in text and "api_key: '***'" in text
    assert yaml.safe_load(text)["params"]["api_key"] == "***"
    assert main(["run", str(tmp_path / "out" / "scenario.yaml")]) in (0, 1)
    assert main(["inspect", str(tmp_path / "out")]) == 0


@pytest.mark.parametrize("text", ["a: '    user: {client-key-data: LS0tabc123def}'\n",
                                  'b: "x: {token: 9f8e7d6c5b4a}"\n', "c: 'it''s [token: 9f8e7d6c5b4a]'\n"])
def test_a_mask_inside_a_quoted_scalar_keeps_the_quoting(text: str) -> None:
    """A log line kept as a quoted YAML string: the mask is text in it; quoting it again broke the file."""
    out = redact_yaml(text)
    doc = yaml.safe_load(out)
    assert "***" in next(iter(doc.values())) and "9f8e7d" not in out and "LS0tabc" not in out
