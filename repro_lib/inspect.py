"""Inspect what is on disk: a run folder, or log files saved from ``docker logs``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as _date
from pathlib import Path

import pandas as pd

from repro_lib.analysis import Diagnosis, diagnose
from repro_lib.errors import ReproError
from repro_lib.run import Run, load_run

__all__ = ["Inspection", "inspect_paths", "events_from_logs"]


@dataclass
class Inspection:
    events: pd.DataFrame
    diagnosis: Diagnosis
    run: Run | None
    title: str
    sources: list[str]

    def text(self) -> str:
        kinds = self.events["kind"].value_counts().to_dict() if len(self.events) else {}
        if kinds:
            counted = (f"{len(self.events)} events from {', '.join(self.sources)}: "
                       + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
        else:
            counted = "no events: the files are empty"
        head = [self.title, counted]
        return "\n".join(head) + "\n\n" + self.diagnosis.text()


def events_from_logs(paths: list[Path], date: _date | None = None) -> pd.DataFrame:
    """Parse each log file (source from its name, ``edge1-debug.log`` -> edge1) into one table."""
    from repro_lib.capture import add_t_s, parse_file

    frames = [parse_file(p, date=date) for p in paths]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(df):
        from repro_lib.emulator.stackbase import resolve_fault_nodes

        df = df.sort_values("t", kind="stable").reset_index(drop=True)
        df = add_t_s(df)
        # docker events name the edge (target=edge1); give each fault the node id it had then
        edges = [str(n) for n in df.loc[df["kind"] == "fault", "node"].dropna().unique()]
        if edges:
            df = resolve_fault_nodes(df, edges)
    return df


def inspect_paths(paths: list[str], *, date: str | None = None) -> Inspection:
    """Diagnose a run folder (one path) or any number of log files."""
    ps = [Path(p) for p in paths]
    missing = [str(p) for p in ps if not p.exists()]
    if missing:
        raise ReproError(f"not found: {', '.join(missing)}", hint="pass a run folder or log files")
    if len(ps) == 1 and ps[0].is_dir():
        if (ps[0] / "events.jsonl").is_file():
            run = load_run(ps[0])
            diag = diagnose(run.events, run.final, run.timings)
            return Inspection(run.events, diag, run, f"run {run.scenario.name} ({run.backend}) from {ps[0]}",
                              sorted(run.events["source"].dropna().unique()))
        ps = sorted(p for p in ps[0].rglob("*.log"))
        if not ps:
            raise ReproError(f"{paths[0]} has neither events.jsonl nor *.log files",
                             hint="pass a run folder written by `repro run --out` or log files")
    d = _date.fromisoformat(date) if date else None
    events = events_from_logs(ps, d)
    return Inspection(events, diagnose(events), None, f"logs: {', '.join(str(p) for p in ps)}",
                      sorted(events["source"].dropna().unique()) if len(events) else [])
