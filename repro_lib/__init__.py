"""repro_lib — an investigation kit for Expanso issue 395, "pipeline jobs stuck in 'deploying'".

Start with :func:`load_scenario` and :func:`run_scenario`; the returned :class:`Run` has the
events table, snapshots and verdict."""

from repro_lib import _startup  # noqa: F401 - first: Ctrl-C during the imports below is one line (repro only)
from repro_lib.analysis import Stuck, Verdict, verdict_of
from repro_lib.durations import format_duration, parse_duration
from repro_lib.errors import (
    DurationError,
    JobSpecError,
    ParseError,
    ReproError,
    ScenarioError,
    SetError,
    StackError,
    WaitTimeout,
)
from repro_lib.jobs import JobSpec, load_job
from repro_lib.run import Run
from repro_lib.scenario import Scenario, Step, load_scenario, parse_scenario, run_scenario
from repro_lib.snapshot import Snapshot
from repro_lib.timings import PRESETS, Timings, timings_from

__version__ = "0.1.0"

__all__ = [
    "PRESETS", "DurationError", "JobSpec", "JobSpecError", "ParseError", "ReproError", "Run",
    "Scenario", "ScenarioError", "SetError", "Snapshot", "StackError", "Step", "Stuck", "Timings",
    "Verdict", "WaitTimeout", "format_duration", "load_job", "load_scenario", "parse_duration",
    "parse_scenario", "run_scenario", "timings_from", "verdict_of",
]
