"""Expanso pipeline job specs (mechanics.md §4): ``name``, ``type``, ``config``, ``selector``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from repro_lib.durations import parse_duration
from repro_lib.errors import DurationError, JobSpecError

__all__ = ["JobSpec", "JOB_TYPES", "load_job", "job_from_dict"]

JOB_TYPES = ("pipeline", "query")


@dataclass(frozen=True)
class JobSpec:
    """A validated job file. ``run_for`` is how long an execution runs before it completes
    (``None`` = forever, as for the repro's `generate` inputs with ``count: 0``)."""

    name: str
    type: str = "pipeline"
    config: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    match_labels: tuple[tuple[str, str], ...] = ()
    description: str = ""
    run_for: float | None = None
    source: str = ""

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels)

    def fingerprint(self) -> str:
        """What decides whether a redeploy is a real change (else NO_CHANGES_DETECTED)."""
        return repr((self.type, sorted(self.match_labels), _canon(self.config)))


def _canon(obj: Any) -> Any:
    if isinstance(obj, dict):
        return tuple(sorted((str(k), _canon(v)) for k, v in obj.items()))
    if isinstance(obj, list):
        return tuple(_canon(v) for v in obj)
    return obj


def _run_for(config: dict[str, Any], where: str) -> float | None:
    gen = (config.get("input") or {}).get("generate") if isinstance(config.get("input"), dict) else None
    if not isinstance(gen, dict):
        return None
    count = gen.get("count", 0) or 0
    if not count:
        return None
    try:
        interval = parse_duration(gen.get("interval", "1s"), what="generate.interval")
    except DurationError as e:
        raise JobSpecError(f"{where}: {e.message}", hint=e.hint) from None
    return float(count) * interval


def job_from_dict(data: Any, where: str = "job") -> JobSpec:
    """Validate a parsed job document."""
    if not isinstance(data, dict):
        raise JobSpecError(f"{where}: a job file must be a YAML mapping with name, type and config")
    name = data.get("name")
    if not name or not isinstance(name, str):
        raise JobSpecError(f"{where}: job has no `name`", hint="add `name: my-job` at the top level")
    jtype = data.get("type")
    if jtype not in JOB_TYPES:
        raise JobSpecError(
            f"{where}: job {name!r} has unknown type {jtype!r}", hint=f"use one of {', '.join(JOB_TYPES)}"
        )
    config = data.get("config")
    if not isinstance(config, dict) or not config:
        raise JobSpecError(
            f"{where}: job {name!r} has no `config`", hint="add config with input, pipeline and output"
        )
    selector = data.get("selector") or {}
    labels = selector.get("match_labels") or {} if isinstance(selector, dict) else {}
    if not isinstance(labels, dict):
        raise JobSpecError(f"{where}: selector.match_labels must be a mapping")
    return JobSpec(
        name=name,
        type=jtype,
        config=config,
        match_labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        description=str(data.get("description") or ""),
        run_for=_run_for(config, where),
        source=where,
    )


def load_job(path: str | Path, *, search: tuple[Path, ...] = ()) -> JobSpec:
    """Load a job file, resolving a relative path against the cwd, then each of ``search``."""
    p = Path(path)
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, *(d / p for d in search)]
    for c in candidates:
        if c.is_file():
            try:
                data = yaml.safe_load(c.read_text())
            except UnicodeDecodeError:
                raise JobSpecError(f"{c}: not a text file") from None
            except yaml.YAMLError as e:
                from repro_lib.errors import yaml_problem, yaml_where

                raise JobSpecError(f"{yaml_where(str(c), e)}: not valid YAML ({yaml_problem(e)})") from None
            return job_from_dict(data, str(path))
    raise JobSpecError(
        f"job file {str(path)!r} not found",
        hint="looked in " + ", ".join(str(c.parent) for c in candidates),
    )
