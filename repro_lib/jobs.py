"""Expanso pipeline job specs (mechanics.md §4): ``name``, ``type``, ``config``, ``selector``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_lib.durations import parse_duration
from repro_lib.errors import DurationError, JobSpecError
from repro_lib.schema import (
    MAX_JOB_BYTES,
    SchemaError,
    YamlDoc,
    YamlLimitError,
    describe_value,
    dotted,
    job_schema,
    read_yaml,
)

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
    count = gen.get("count", 0) or 0  # a whole number from 0 (job_schema)
    if not count:
        return None
    try:
        interval = parse_duration(gen.get("interval", "1s"), what="generate.interval")
    except DurationError as e:
        raise JobSpecError(f"{where}: {e.message}", hint=e.hint) from None
    return float(count) * interval


def job_from_dict(data: Any, where: str = "job", *, source: YamlDoc | None = None) -> JobSpec:
    """Validate a parsed job document against :func:`repro_lib.schema.job_schema` (``source``, from
    :func:`load_job`, lets an error name ``file:line:column``)."""
    if not isinstance(data, dict):
        raise JobSpecError(f"{where}: a job file must be a YAML mapping with name, type and config, "
                           f"got {describe_value(data)}")
    try:
        job_schema(JOB_TYPES).check(data, ())
    except SchemaError as e:
        at = source.where(e.path, key=e.on_key) if source is not None else where
        path = e.path[:-1] if e.on_key else e.path
        text = e.problem if e.named or not path else f"{dotted(path)}: {e.problem}"
        name = data.get("name")
        who = f"job {name!r} " if isinstance(name, str) and name and e.path[:1] != ("name",) else "job "
        raise JobSpecError(f"{at}: {who}{text}", hint=e.hint) from None
    name = data["name"]
    jtype = data["type"]
    config = data["config"]
    if not config:
        raise JobSpecError(f"{where}: job {name!r} has no `config`", hint="add config with input, pipeline and output")
    selector = data.get("selector") or {}
    labels = selector.get("match_labels") or {}
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
        try:
            found = c.is_file()
        except OSError as e:  # a name too long for the file system, a loop of links
            raise JobSpecError(f"job file {str(path)[:80]!r}: {e.strerror or e}", hint="check the path") from None
        if found:
            try:
                doc = read_yaml(c, what="job", max_bytes=MAX_JOB_BYTES)
            except YamlLimitError as e:
                raise JobSpecError(str(e)) from None
            return job_from_dict(doc.data, str(path), source=doc)
    raise JobSpecError(
        f"job file {str(path)!r} not found",
        hint="looked in " + ", ".join(str(c.parent) for c in candidates),
    )
