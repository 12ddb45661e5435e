"""Run one schedule on the sim and judge it: the search's oracle.

The checks are :mod:`repro_lib.analysis.checks` — the same functions ``repro run`` applies to a
replayed counterexample — fed the sim's structured records (no text, no events table) so one
schedule costs a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from repro_lib.analysis.checks import (
    Violation,
    actions_from_records,
    history_from_records,
    liveness_violations,
    safety_grace,
    safety_violations,
    stopped_jobs,
)
from repro_lib.search.grammar import Schedule, scenario_doc, settle_for
from repro_lib.timings import Timings, timings_from

__all__ = ["Context", "evaluate", "first_violation"]


@dataclass(frozen=True)
class Context:
    """What every run of one search shares: the base timings, the fix, where the job files are."""

    timings_spec: dict[str, Any]
    fix: str
    job_dir: str                       # absolute folder holding pipelines/
    max_edges: int = 3
    max_steps: int = 10
    faults: tuple[str, ...] = ()
    timings: Timings = field(init=False, compare=False)
    settle: float = field(init=False, compare=False)

    def __post_init__(self) -> None:
        t = timings_from(dict(self.timings_spec))
        object.__setattr__(self, "timings", t)
        object.__setattr__(self, "settle", settle_for(t))


def evaluate(sched: Schedule, ctx: Context) -> list[Violation]:
    """Every failed check of ``sched`` under ``ctx.fix`` on the sim ([] = it passed)."""
    from repro_lib.scenario import parse_scenario, run_scenario

    doc = scenario_doc(sched, ctx.timings_spec, ctx.fix, settle=ctx.settle, job_dir=ctx.job_dir)
    run = run_scenario(parse_scenario(doc), backend="sim", seed=0)
    if run.error:  # a step the grammar should never produce: say so rather than hide it
        raise RuntimeError(f"schedule did not run: {run.error}")
    final = run.snapshots[-1]
    types = {j["name"]: j.get("type") or "pipeline" for j in final.jobs}
    stopped = stopped_jobs(actions_from_records(run.records))  # the user stopped them: not expected to run
    out = liveness_violations(final, lambda: run.verdict, stopped=stopped)
    return out + safety_violations(history_from_records(run.records), types, grace=safety_grace(ctx.timings),
                                   until=final.t_s)


def first_violation(sched: Schedule, ctx: Context) -> Violation | None:
    found = evaluate(sched, ctx)
    return found[0] if found else None
