"""Errors a person can act on: one line saying what is wrong and what to do."""

from __future__ import annotations

__all__ = [
    "ReproError",
    "DurationError",
    "ScenarioError",
    "JobSpecError",
    "SetError",
    "StackError",
    "WaitTimeout",
    "ParseError",
    "yaml_where",
    "yaml_problem",
]


class ReproError(Exception):
    """Base class; ``str(err)`` is the one line shown to the user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} — {hint}" if hint else message)


class DurationError(ReproError, ValueError):
    """A duration that is not like ``15s``, ``5m``, ``1h``, ``200ms``."""


class ScenarioError(ReproError):
    """A scenario file that cannot be run; carries the file and step index."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        step: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.step = step
        where = path or "scenario"
        if step is not None:
            where += f", step {step + 1}"
        super().__init__(f"{where}: {message}", hint=hint)


class JobSpecError(ReproError):
    """A job file that is missing or invalid."""


class SetError(ReproError):
    """A ``--set KEY=VALUE`` that names no known key or has a bad value."""


class StackError(ReproError):
    """A stack operation that failed (unknown edge, stack not up, …)."""


class WaitTimeout(ReproError):
    """A ``wait_for`` whose condition did not hold within its timeout."""


class ParseError(ReproError):
    """Text that cannot be parsed where a structure is required (e.g. a CLI table header)."""


def yaml_where(path: str, e: Exception) -> str:
    """``path:line:column`` of a YAML error (1-based, as editors count), or ``path`` when YAML gives none."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path


def yaml_problem(e: Exception) -> str:
    """What YAML says is wrong, in one line (``expected ',' or ']'; while parsing a flow sequence``)."""
    problem = getattr(e, "problem", None)
    context = getattr(e, "context", None)
    return "; ".join(x for x in (problem, context) if x) or str(e).splitlines()[0]
