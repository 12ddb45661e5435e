"""Your incident, from logs to a decision (notebook 06, ``repro inspect --scenario``).

:func:`investigate` reads a folder of logs (or files), diagnoses them, reconstructs the fault schedule
they show (:mod:`repro_lib.analysis.reconstruct`), replays it on the sim and lists where the model and
the logs disagree (:mod:`repro_lib.analysis.conformance`). :meth:`Incident.what_if` replays the same
schedule under every fix: "would fix X have saved *this* incident?". Everything here is data plus two
figures, so the notebook stays thin and the tests assert on the numbers.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from repro_lib.analysis.conformance import (
    COLUMNS,
    agreement,
    compare,
    disagreements,
    observe,
    row,
    summary,
    tolerance,
)
from repro_lib.analysis.reconstruct import Reconstruction, locate, one_incident, reconstruct, write_scenario
from repro_lib.durations import format_duration
from repro_lib.errors import ReproError
from repro_lib.inspect import Inspection, inspect_paths
from repro_lib.model.types import FIX_LETTERS, FIXES
from repro_lib.run import Run
from repro_lib.scenario import Scenario, load_scenario, run_scenario

__all__ = ["Incident", "investigate", "log_files", "conformance", "Premise", "premise", "CANNOT_SAY", "wrapped"]

#: ``repro run``'s exit code when a what-if is asked of a replay that does not reproduce the incident
CANNOT_SAY = 3


def wrapped(df: pd.DataFrame) -> Any:
    """``df`` for a notebook: every cell in full, long text wrapped, left-aligned (no ``…`` cut)."""
    floats = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    return (df.style.hide(axis="index").format("{:g}", subset=floats, na_rep="—")
            .set_properties(**{"white-space": "pre-wrap", "text-align": "left", "vertical-align": "top"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}]))


def _classes_text(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"


@dataclass
class Premise:
    """What a what-if stands on: the no-fix replay of a reconstructed incident gives the verdict and the
    classes the logs show. ``holds`` is False when it does not, and then no fix's answer is given."""

    verdict: str                      # the logs' diagnosis
    classes: dict[str, int]
    replay_verdict: str               # the replay with the incident's own fix
    replay_classes: dict[str, int]
    own_fix: str
    asked_fix: str
    basis: dict[str, Any] = field(default_factory=dict)   # the scenario's ``incident`` block
    replay_error: str | None = None
    stuck_jobs: list[str] = field(default_factory=list)          # the jobs the logs show stuck
    replay_stuck_jobs: list[str] = field(default_factory=list)

    @property
    def unknown(self) -> int:
        """Pending executions whose delivery the logs cannot show (no edge or NATS log speaks for them)."""
        return int(self.classes.get("unknown", 0))

    @property
    def holds(self) -> bool:
        """Same verdict and classes. Where the logs cannot show whether some run requests arrived, the replay
        must agree on what they do show: the same stuck jobs, and the same count in every class they name."""
        if self.replay_error is not None:
            return False
        if not self.unknown:
            return self.verdict == self.replay_verdict and dict(self.classes) == dict(self.replay_classes)
        known = {k: v for k, v in self.classes.items() if k != "unknown"}
        return (sorted(self.stuck_jobs) == sorted(self.replay_stuck_jobs)
                and all(self.replay_classes.get(k, 0) == v for k, v in known.items())
                and sum(self.replay_classes.values()) <= sum(self.classes.values()))

    @property
    def what_if(self) -> bool:
        """Whether the run asks a what-if (a fix other than the one the logs show)."""
        return self.asked_fix != self.own_fix

    def disagreements(self) -> list[str]:
        out = []
        if self.replay_error:
            out.append(f"the replay stopped early: {self.replay_error}")
        if self.unknown:
            if sorted(self.stuck_jobs) != sorted(self.replay_stuck_jobs):
                out.append(f"stuck jobs: your logs {', '.join(self.stuck_jobs) or 'none'}, the replay "
                           f"{', '.join(self.replay_stuck_jobs) or 'none'}")
            return out + [f"pending executions by class: your logs {_classes_text(self.classes)}, the replay "
                          f"{_classes_text(self.replay_classes)}"]
        if self.verdict != self.replay_verdict:
            out.append(f"verdict: your logs {self.verdict}, the replay {self.replay_verdict}")
        if dict(self.classes) != dict(self.replay_classes):
            out.append(f"pending executions by class: your logs {_classes_text(self.classes)}, the replay "
                       f"{_classes_text(self.replay_classes)}")
        return out

    def sureness(self) -> list[str]:
        """How sure the answer is: conformance rows as written, inferred steps and timings, defaults."""
        b = self.basis
        lines = []
        conf = b.get("conformance")
        if isinstance(conf, dict):
            lines.append(f"conformance with your logs (when the scenario was written): {conf.get('agree', '?')} agree, "
                         f"{conf.get('disagree', '?')} disagree, {conf.get('cannot_compare', '?')} cannot be compared")
            lines += [f"  {r}" for r in (conf.get("disagreeing") or [])[:8]]
        steps = b.get("inferred_steps") or []
        lines.append(f"inferred steps ({len(steps)}):" + ("" if steps else " none, every step is logged"))
        lines += [f"  {x}" for x in steps[:8]] + ([f"  … {len(steps) - 8} more"] if len(steps) > 8 else [])
        tim = b.get("inferred_timings") or []
        lines.append(f"inferred timings ({len(tim)}):" + ("" if tim else " none"))
        lines += [f"  {x}" for x in tim[:8]]
        dft = b.get("default_timings") or []
        lines.append("default timings (not in the logs, the preset's value): " + (", ".join(dft) or "none"))
        return lines

    def answer(self, run: Run) -> str:
        """The what-if's answer, for a run with the asked fix (only meaningful when the premise holds)."""
        v = run.verdict
        stuck = sorted({s.job for s in v.stuck})
        was = f"{self.verdict} ({_classes_text(self.classes)})"
        now = f"{v.verdict} ({_classes_text(v.classes)})"
        if not self.holds:
            return f"what-if: cannot say (see the premise below); the fixed replay gives {now}"
        if (v.verdict == "not_reproduced" and self.verdict == "reproduced") or (self.stuck_jobs and not stuck):
            verdict = f"fix {self.asked_fix} would have saved this incident" + (
                f" ({', '.join(self.stuck_jobs)} no longer stuck)" if self.stuck_jobs else "")
        elif stuck:
            verdict = f"fix {self.asked_fix} would not have saved this incident: {', '.join(stuck)} still stuck"
        else:
            verdict = f"with fix {self.asked_fix} the incident ends differently"
        return f"what-if: {verdict} — your logs {was}, with the fix {now} (after the same time as your logs)"

    def text(self) -> str:
        """The premise, as ``repro run`` prints it before (or instead of) an answer."""
        head = (f"premise: the replay with the fix your logs show ({self.own_fix}) gives {self.replay_verdict} "
                f"({_classes_text(self.replay_classes)}); your logs show {self.verdict} "
                f"({_classes_text(self.classes)}) — ")
        if self.holds and self.unknown:
            lines = [head + f"it reproduces what your logs show (stuck: {', '.join(self.stuck_jobs) or 'none'})",
                     f"  but your logs cannot show whether {self.unknown} run request(s) arrived (no edge or NATS log "
                     "speaks for them): the replay decides that by the inferred steps below — the answer rests on them"]
        elif self.holds:
            lines = [head + "it reproduces your incident"]
        else:
            lines = [head + "it does not reproduce your incident"]
            if self.what_if:
                lines.insert(0, f"cannot say whether fix {self.asked_fix} would have saved your incident: the replay "
                                "does not reproduce it")
            lines += [f"  {d}" for d in self.disagreements()]
            lines.append("  what to do: correct the steps or timings the header marks inferred/default (the evidence "
                         "intervals are in the file), then run it again without --set fix")
        return "\n".join(lines + self.sureness())


def premise(sc: Scenario, sets: Sequence[str] = (), *, seed: int = 0) -> Premise | None:
    """For a scenario reconstructed from logs (it has an ``incident`` block): replay it on the sim with the
    fix the logs show and the same other ``--set`` values, and compare with what the logs show. ``None``
    for any other scenario."""
    inc = sc.raw.get("incident") if isinstance(sc.raw, dict) else None
    if not isinstance(inc, dict) or sc.path is None:
        return None
    own = str(inc.get("fix") or "none")
    asked = "+".join(sc.fix) if sc.fix else "none"
    base = [x for x in sets if not x.split("=", 1)[0].strip() == "fix"] + [f"fix={own}"]
    run = run_scenario(load_scenario(sc.path, base), seed=seed)
    classes = inc.get("classes") if isinstance(inc.get("classes"), dict) else {}
    stuck = [str(j) for j in inc.get("stuck_jobs") or []] if isinstance(inc.get("stuck_jobs"), list) else []
    return Premise(str(inc.get("verdict") or "unknown"), dict(classes), run.verdict.verdict,
                   dict(run.verdict.classes), own.replace(",", "+"), asked, dict(inc), run.error,
                   stuck, sorted({st.job for st in run.verdict.stuck}))


def log_files(paths: Sequence[str | Path]) -> list[Path]:
    """The log files under ``paths`` (folders searched for ``*.log``, files taken as given)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob("*.log") if q.is_file())
        elif p.is_file():
            out.append(p)
        else:
            raise ReproError(f"no such file or folder: {p}", hint="pass a folder of logs or log files")
    return out


@dataclass
class Incident:
    """One incident: what the logs say, the schedule they show, the model's replay and the what-if."""

    paths: list[Path]
    inspection: Inspection
    reconstruction: Reconstruction
    conformance: pd.DataFrame
    seed: int = 0
    _what_if: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def verdict(self) -> str | None:
        v = self.inspection.diagnosis.verdict
        return v.verdict if v is not None else None

    @property
    def replay(self) -> Run:
        """The sim's replay of the reconstructed schedule (no fix, or the fix the logs name)."""
        return self.conformance.attrs["run"]

    def schedule(self) -> pd.DataFrame:
        """The reconstructed steps: t, step, basis (logged / inferred: rule / default), evidence."""
        return self.reconstruction.table()

    def timings(self) -> pd.DataFrame:
        """Every timing the scenario uses: value, and whether the logs showed it or it is a default."""
        rows = [{"timing": k, "value": g.value, "basis": f"{g.basis}: {g.rule}" if g.rule else g.basis}
                for k, g in sorted(self.reconstruction.timings.items())]
        return pd.DataFrame(rows, columns=["timing", "value", "basis"])

    def disagreements(self) -> pd.DataFrame:
        """Where the model's replay and the logs disagree, or cannot be compared (never hidden)."""
        return disagreements(self.conformance)

    def summary(self) -> str:
        return summary(self.conformance)

    def remedy_window(self) -> float:
        """Seconds every fix needs to act after the last step: the slowest remedy (pending-timeout's
        housekeeping, sequence-replay's longest back-off, a node-join batch after promotion) + slack."""
        t = self.reconstruction.timings_obj()
        return max(t.pending_timeout + t.housekeeping_interval, t.plane_retry_max,
                   t.connected_after + t.reeval_batch_delay + 2 * t.heartbeat_interval) + 10.0

    def premise(self, sets: Sequence[str] = ()) -> Premise:
        """Whether the replay (with ``sets`` applied, e.g. ``timings.disconnect_timeout=60s``) reproduces what
        your logs show: the premise every what-if stands on (:class:`Premise`)."""
        with tempfile.TemporaryDirectory(prefix="repro-premise-") as tmp:
            path = Path(tmp) / "incident.yaml"
            write_scenario(self.reconstruction, path, sources=[p.name for p in self.paths])
            got = premise(load_scenario(path, list(sets)), list(sets), seed=self.seed)
        assert got is not None  # a reconstructed scenario always has its incident block
        return got

    def what_if(self, fixes: Sequence[str] = FIXES, sets: Sequence[str] = ()) -> pd.DataFrame:
        """The reconstructed schedule replayed under each fix, twice: with the incident's own settle (the
        time its logs cover after the last step) and given time for every remedy (:meth:`remedy_window`).
        Columns: fix, approach, verdict, reason, stuck jobs, failed checks, then the same ``… (+given time)``.
        A fix is answered only when the replay without it reproduces your logs (:meth:`premise`, under the
        same ``sets``); otherwise its row says ``cannot say`` and ``attrs["premise"]`` says why."""
        key = (tuple(fixes), tuple(sets))
        if self._what_if is not None and self._what_if.attrs.get("key") == key:
            return self._what_if
        pre = self.premise(sets)
        with tempfile.TemporaryDirectory(prefix="repro-what-if-") as tmp:
            path = Path(tmp) / "incident.yaml"
            write_scenario(replace(self.reconstruction, end=self.reconstruction.end + self.remedy_window()),
                           Path(tmp) / "longer.yaml", sources=[p.name for p in self.paths])
            write_scenario(self.reconstruction, path, sources=[p.name for p in self.paths])
            extra = format_duration(self.remedy_window())
            own = pre.own_fix.replace("+", ",")
            rows = []
            for fix in fixes:
                row: dict[str, Any] = {"fix": fix, "approach": FIX_LETTERS.get(fix, "—")}
                answer = pre.holds or fix.replace("+", ",") == own
                for suffix, f in (("", path), (f" (+{extra})", Path(tmp) / "longer.yaml")):
                    if not answer:
                        row.update({f"verdict{suffix}": "cannot say", f"reason{suffix}": "the replay without a fix "
                                    "does not reproduce your logs: " + "; ".join(pre.disagreements()),
                                    f"stuck jobs{suffix}": "—", f"failed checks{suffix}": "—"})
                        continue
                    run = run_scenario(load_scenario(f, [*sets, f"fix={fix}"]), seed=self.seed)
                    row[f"verdict{suffix}"] = run.verdict.verdict
                    row[f"reason{suffix}"] = run.error or (run.verdict.reasons[0] if run.verdict.reasons else "")
                    row[f"stuck jobs{suffix}"] = ", ".join(sorted({st.job for st in run.verdict.stuck})) or "none"
                    row[f"failed checks{suffix}"] = ", ".join(sorted({c.check for c in run.checks})) or "none"
                rows.append(row)
        table = pd.DataFrame(rows)
        table.attrs.update(key=key, premise=pre, extra=extra)
        self._what_if = table
        return table

    def what_if_legend(self) -> str:
        """What the what-if table's columns mean (Markdown), the premise it stands on first."""
        table = self.what_if() if self._what_if is None else self._what_if
        pre: Premise = table.attrs["premise"]
        extra = table.attrs["extra"]
        t = self.reconstruction.timings_obj()
        state = ("**holds**: the replay without a fix gives what your logs show" if pre.holds else
                 "**does not hold**: every fix's answer is *cannot say* — " + "; ".join(pre.disagreements()))
        return "\n".join([
            f"- Premise: {state}.",
            "- `verdict`, `reason`, `stuck jobs`, `failed checks`: the replay with that fix, ending where your logs "
            "end (your incident's own settle).",
            f"- `… (+{extra})`: the same replay given {extra} more — time for the slowest remedy to act "
            f"(pending-timeout's {format_duration(t.pending_timeout)} + housekeeping "
            f"{format_duration(t.housekeeping_interval)}, sequence-replay's back-off up to "
            f"{format_duration(t.plane_retry_max)}, a node-join batch) — so a late cure shows as a cure, not as "
            "`inconclusive`.",
            "- `cannot say`: no answer, because the premise does not hold (see above).",
        ])

    def _fixed(self) -> bool:
        return str(self.reconstruction.fix.value) not in ("none", "None", "")

    def plot(self, **kw: Any) -> tuple[Any, Any]:
        """Two timelines on one time axis: what the logs show, and the model's replay."""
        from repro_lib.analysis.plots import plot_run

        src = self.inspection.run if self.inspection.run is not None else self.inspection.events
        end = max(float(self.inspection.events["t_s"].max() if len(self.inspection.events) else 0.0),
                  float(self.replay.final.t_s))
        xlim = kw.pop("xlim", (0, end * 1.02 + 1))
        more = f" (+{len(self.paths) - 6} more)" if len(self.paths) > 6 else ""
        names = ", ".join(p.name for p in self.paths[:6]) + more
        real = plot_run(src, title=f"what the logs show ({names})", xlim=xlim, **kw)
        model = plot_run(self.replay, title="the model's replay of the reconstructed schedule", xlim=xlim, **kw)
        return real, model


def conformance(real_events: pd.DataFrame, reconstruction: Reconstruction, *, fix: str | None = None,
                seed: int = 0) -> pd.DataFrame:
    """Replay ``reconstruction`` on the sim (with ``fix``; by default the fix the logs show) and compare it
    with ``real_events``. ``attrs["run"]`` holds the sim's Run, ``attrs["tolerance"]`` the time tolerance."""
    rec = reconstruction
    fix = str(rec.fix.value) if fix is None else fix
    with tempfile.TemporaryDirectory(prefix="repro-conformance-") as tmp:
        path = Path(tmp) / "incident.yaml"
        write_scenario(rec, path)
        sets = [f"fix={fix}"] if fix and fix != rec.fix.value else []
        run = run_scenario(load_scenario(path, sets), seed=seed)
    tol = tolerance(rec)
    real_events, _ = one_incident(real_events)  # the rows the reconstruction read, on its clock
    if rec.job_ids:  # jobs go by the names the scenario gives them
        real_events = real_events.assign(job=real_events["job"].map(
            lambda j: rec.job_ids.get(j, j) if isinstance(j, str) else j))
    real = observe(real_events, rec.names, rec.verdict)
    model = observe(run.events, None, run.verdict.verdict)
    # the model names its nodes by the scenario's edge names already
    table = compare(real, model, tol, list(rec.identities))
    if run.error:
        table = pd.concat([table, pd.DataFrame([row("replay", "run", None, run.error, False,
                                                     "the replay stopped early")], columns=COLUMNS)],
                          ignore_index=True)
    table.attrs["run"] = run
    table.attrs["tolerance"] = tol
    return table


def investigate(paths: Sequence[str | Path], *, tz: str | None = None, seed: int = 0) -> Incident:
    """Diagnose the logs, reconstruct their schedule, and replay it on the sim."""
    files = log_files(paths)
    if not files:
        raise ReproError(f"no log files in {', '.join(map(str, paths))}",
                         hint="pass a folder with *.log files (docker logs, journalctl or the kit's own)")
    result = inspect_paths([str(p) for p in files], tz=tz, condense=False)  # reconstruct reads every heartbeat
    if result.events.empty:
        raise ReproError("no log events in these files: nothing to reconstruct",
                         hint="pass the orchestrator's log (and the edges'), not only CLI output")
    v = result.diagnosis.verdict
    rec = locate(reconstruct(result.events, verdict=v.verdict if v else None, name="incident",
                             classes=dict(v.classes) if v else {}), files)
    table = conformance(result.events, rec, seed=seed)
    rec.agreement = agreement(table)
    rec.sources = [p.name for p in files]
    return Incident(files, result, rec, table, seed)
