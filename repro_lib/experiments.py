"""Experiments over many sim runs: the fixes side by side, and the race-window map.

Everything here is plain data (DataFrames) plus a figure function, so notebooks stay thin and
tests can assert on the numbers."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from repro_lib.durations import format_duration
from repro_lib.model.types import FIXES
from repro_lib.run import Run
from repro_lib.scenario import Scenario, parse_scenario, run_scenario, set_edges
from repro_lib.timings import Timings, timings_from

__all__ = [
    "load_doc", "with_edges", "time_to_running", "compare_fixes", "fix_table", "plot_fix_comparison", "race_boundary",
    "sweep", "plot_race_map", "default_settle", "boundary_table",
]


def load_doc(path: str | Path) -> dict[str, Any]:
    """A scenario file as a plain dict (to vary it before :func:`parse_scenario`)."""
    from repro_lib.schema import read_yaml  # bounded: the same loader as `repro run`

    return read_yaml(path).data


def with_edges(doc: dict[str, Any], n: int) -> dict[str, Any]:
    """The same scenario with ``n`` edges (``edge1`` … ``edgeN``); see :func:`repro_lib.scenario.set_edges`."""
    return set_edges(doc, [f"edge{i}" for i in range(1, n + 1)])


def time_to_running(run: Run, job: str) -> float | None:
    """Seconds from the job's (last) deploy to the job reaching ``running``; ``None`` if it never does."""
    ev = run.events
    deploys = ev[(ev["kind"] == "action") & (ev["state"] == "deploy") & (ev["job"] == job)]
    if deploys.empty:
        return None
    t0 = float(deploys["t_s"].iloc[-1])
    ok = ev[(ev["kind"] == "state") & ev["execution"].isna() & (ev["job"] == job) & (ev["state"] == "running")
            & (ev["t_s"] >= t0)]
    return float(ok["t_s"].iloc[0]) - t0 if len(ok) else None


def compare_fixes(scenario: str | Path | dict[str, Any], *, fixes: Sequence[str] = FIXES,
                  sets: Sequence[str] = (), job: str = "new-test-job", seed: int = 0,
                  watch_job: str | None = None) -> tuple[pd.DataFrame, dict[str, Run]]:
    """Run the scenario once per fix. Returns a table (one row per fix) and the runs.

    Columns: fix, verdict, <job> state, time_to_running_s, dispatch_lost, dispatch_refused,
    dispatch_skipped, redispatches, node_join_evals (+ ``watch_job``'s time to running if given,
    to measure head-of-line blocking on an unrelated job)."""
    doc = load_doc(scenario) if not isinstance(scenario, dict) else scenario
    path = Path(scenario) if not isinstance(scenario, dict) else None
    rows, runs = [], {}
    for fix in fixes:
        sc = parse_scenario(doc, path=path, sets=[*sets, f"fix={fix}"])
        run = run_scenario(sc, seed=seed)
        runs[fix] = run
        row = {"fix": fix, "verdict": run.verdict.verdict,
               f"{job} state": (run.final.job(job) or {}).get("state"),
               "time_to_running_s": time_to_running(run, job), **run.event_counts()}
        if watch_job:
            row[f"{watch_job} time_to_running_s"] = time_to_running(run, watch_job)
        rows.append(row)
    return pd.DataFrame(rows), runs


_DISPATCH_WORDS = [("dispatch_attempts", "sent"), ("dispatch_retries", "retried"), ("dispatch_lost", "lost"),
                   ("dispatch_refused", "refused"), ("dispatch_skipped", "skipped"), ("redispatches", "re-sent"),
                   ("dispatch_failed", "failed (detected)"), ("replays", "replayed")]


def _seconds(v: Any) -> str:
    return "never" if v is None or v != v else f"{float(v):.1f} s"


def fix_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`compare_fixes`' table as a reader wants it: times to one decimal or ``never``, and the
    dispatch counters folded into one column that names only what happened (``4 sent, 2 lost``); indexed by fix."""
    out = pd.DataFrame({"fix": table["fix"], "verdict": table["verdict"]})
    job = next((c[: -len(" state")] for c in table.columns if c.endswith(" state")), "job")
    out[f"{job} state"] = table.get(f"{job} state", pd.Series(dtype=object)).fillna("(none)")
    for col in table.columns:
        if col.endswith("time_to_running_s"):
            who = col[: -len("time_to_running_s")].strip() or job
            out[f"{who} to running"] = [_seconds(v) for v in table[col]]
    words = [(c, w) for c, w in _DISPATCH_WORDS if c in table.columns]
    out["dispatches"] = [", ".join(f"{int(r[c])} {w}" for c, w in words if r[c] == r[c] and r[c]) or "none"
                         for r in table.to_dict("records")]
    if "node_join_evals" in table.columns:
        out["node-join evals"] = table["node_join_evals"].fillna(0).astype(int)
    return out.set_index("fix")


def plot_fix_comparison(table: pd.DataFrame, *, title: str = "time to running per fix",
                        column: str = "time_to_running_s") -> Figure:
    """Bars: time from deploy to running per fix. A fix under which the job never ran gets a hatched
    bar that runs off the right edge of the axis (it is not a finite time) and says so."""
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(table) + 1.2))
    vals = table[column].astype(float)
    top = float(np.nanmax(vals)) if vals.notna().any() else 1.0
    right = top * 1.45
    colours = ["#43a047" if v == "not_reproduced" else "#e53935" if v == "reproduced" else "#fb8c00"
               for v in table["verdict"]]
    for i, (v, verdict, colour) in enumerate(zip(vals, table["verdict"], colours, strict=True)):
        if np.isnan(v):  # never: an open-ended bar to (and past) the axis edge
            ax.barh(i, right * 2, color="white", edgecolor=colour, hatch="///", lw=1.2)
            ax.text(right * 0.02, i, f"never: still not running at the end ({verdict}) →", va="center",
                    fontsize=8, color="#212121", bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})
        else:
            ax.barh(i, v, color=colour)
            ax.text(v, i, f"  {v:.1f} s", va="center", fontsize=8)
    ax.set_yticks(range(len(table)), list(table["fix"]))
    ax.invert_yaxis()
    ax.set_xlabel("seconds from deploy to job running")
    ax.set_xlim(0, right)
    ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def race_boundary(timings: Timings) -> tuple[float, float]:
    """The kill→deploy delay below which a deploy still trusts the dead edges.

    The orchestrator marks a node disconnected at the first health check after
    ``last heartbeat + disconnect_timeout``; the last heartbeat came up to one heartbeat interval
    before the kill, and the check comes up to one health-check period later. So the window closes
    somewhere in ``[disconnect_timeout - heartbeat_interval, disconnect_timeout + health_check]``."""
    return (timings.disconnect_timeout - timings.heartbeat_interval,
            timings.disconnect_timeout + timings.health_check)


def default_settle(preset: str) -> float:
    """Long enough after the restart for a node-join evaluation to have run: promotion (at heartbeat
    granularity) + the reevaluator batch + slack."""
    t = timings_from({"preset": preset})
    return t.connected_after + t.reeval_batch_delay + 2 * t.heartbeat_interval


def sweep(scenario: str | Path | dict[str, Any], *, kill_to_deploy: Iterable[float], downtime: Iterable[float],
          presets: Sequence[str] = ("repro",), seeds: Sequence[int] = (0, 1, 2), sets: Sequence[str] = (),
          settle: float | None = None, progress: bool | Callable[[int, int], None] = False) -> pd.DataFrame:
    """Run the scenario over a grid; one row per (preset, kill_to_deploy, downtime, seed).
    ``progress=True`` shows a progress bar in a notebook (a line per 10 % elsewhere); a callable
    gets ``(done, total)`` after every run."""
    doc = load_doc(scenario) if not isinstance(scenario, dict) else scenario
    path = Path(scenario) if not isinstance(scenario, dict) else None
    base: Scenario | None = None
    rows = []
    grid = list(itertools.product(presets, kill_to_deploy, downtime, seeds))
    tick = _progress(len(grid)) if progress is True else (progress or None)
    for i, (preset, k, d, seed) in enumerate(grid, 1):
        extra = [f"timings.preset={preset}", f"params.kill_to_deploy={format_duration(k)}",
                 f"params.downtime={format_duration(d)}",
                 f"params.settle={format_duration(settle if settle is not None else default_settle(preset))}"]
        sc = parse_scenario(doc, path=path, sets=[*sets, *extra])
        base = base or sc
        run = run_scenario(sc, seed=seed)
        rows.append({"preset": preset, "kill_to_deploy_s": float(k), "downtime_s": float(d), "seed": seed,
                     "verdict": run.verdict.verdict, "stuck": len(run.verdict.stuck),
                     "disconnect_timeout_s": sc.timings.disconnect_timeout,
                     "error": run.error})
        if tick is not None:
            tick(i, len(grid))
    return pd.DataFrame(rows)


def _progress(total: int) -> Callable[[int, int], None]:
    """A progress bar (ipywidgets) in a notebook, else a line per 10 %."""
    import time

    t0 = time.perf_counter()
    try:
        import ipywidgets as W
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is None:
            raise ImportError
        bar = W.IntProgress(min=0, max=total, description="sweep", layout=W.Layout(width="480px"))
        label = W.HTML(f"0 / {total} runs")
        display(W.HBox([bar, label]))

        def tick(done: int, total: int) -> None:
            bar.value = done
            if done == total or done % max(1, total // 100) == 0:
                rate = done / max(time.perf_counter() - t0, 1e-9)
                label.value = f"{done} / {total} runs ({rate:.0f} runs/s)" + (" — done" if done == total else "")
        return tick
    except ImportError:
        def tick(done: int, total: int) -> None:
            if done == total or done % max(1, total // 10) == 0:
                print(f"sweep: {done}/{total} runs ({time.perf_counter() - t0:.0f}s)", flush=True)
        return tick


def boundary_table(grid: pd.DataFrame) -> pd.DataFrame:
    """Per preset: where the window closed in the sweep, next to :func:`race_boundary`'s band.

    Columns: preset, theory_lo_s, theory_hi_s, longest_stuck_s (the longest kill→deploy delay with
    any stuck run), shortest_safe_s (the shortest delay from which every run was safe), runs, stuck_runs."""
    rows = []
    for preset, g in grid.groupby("preset", sort=False):
        stuck = g.loc[g["verdict"] == "reproduced", "kill_to_deploy_s"]
        safe = g.groupby("kill_to_deploy_s")["verdict"].apply(lambda v: bool((v == "not_reproduced").all()))
        lo, hi = race_boundary(timings_from({"preset": preset}))
        rows.append({"preset": preset, "theory_lo_s": lo, "theory_hi_s": hi,
                     "longest_stuck_s": float(stuck.max()) if len(stuck) else float("nan"),
                     "shortest_safe_s": float(safe[safe].index.min()) if safe.any() else float("nan"),
                     "runs": len(g), "stuck_runs": int(len(stuck))})
    return pd.DataFrame(rows)


def plot_race_map(df: pd.DataFrame, *, sets: Sequence[str] = ()) -> Figure:
    """Per preset: the fraction of seeds stuck for each (kill→deploy, downtime) cell, with the
    theoretical boundary band overlaid."""
    presets = list(dict.fromkeys(df["preset"]))
    fig, axes = plt.subplots(1, len(presets), figsize=(6.2 * len(presets), 4.6), squeeze=False)
    for ax, preset in zip(axes[0], presets, strict=False):
        g = df[df["preset"] == preset]
        frac = (g.assign(stuck_run=g["verdict"].eq("reproduced"))
                 .groupby(["downtime_s", "kill_to_deploy_s"])["stuck_run"].mean().unstack())
        xs, ys = list(frac.columns), list(frac.index)
        im = ax.pcolormesh(_edges(xs), np.arange(len(ys) + 1) - 0.5, frac.values, cmap="RdYlGn_r", vmin=0, vmax=1,
                           shading="flat")
        ax.set_yticks(range(len(ys)), [format_duration(y) for y in ys])
        lo, hi = race_boundary(timings_from({"preset": preset}))
        ax.axvspan(lo, hi, facecolor="none", edgecolor="#1a237e", hatch="xx", lw=1.5,
                   label="theory: the window closes in this band")
        ax.axvline(lo, color="#1a237e", lw=1.5, ls="--")
        ax.axvline(hi, color="#1a237e", lw=1.5, ls="--")
        ax.set_xlabel("kill → deploy delay (seconds)")
        ax.set_ylabel("deploy → edges restart (duration)")
        t = timings_from({"preset": preset})
        ax.set_title(f"preset {preset}: disconnect_timeout {format_duration(t.disconnect_timeout)}, "
                     f"heartbeat {format_duration(t.heartbeat_interval)}", fontsize=9, loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.14), fontsize=8, frameon=False)
        fig.colorbar(im, ax=ax, label="fraction of runs stuck")
    fig.suptitle("Where jobs get stuck: a deploy before the orchestrator notices the dead edges",
                 fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def _edges(centres: list[float]) -> np.ndarray:
    c = np.asarray(centres, dtype=float)
    if len(c) == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mids = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mids[0] - c[0])], mids, [c[-1] + (c[-1] - mids[-1])]])
