"""Timelines with matplotlib: node lanes (actual vs believed), execution-state lanes, dispatch
markers, evaluations, and the user's actions and faults as labelled lines and shaded windows.

:func:`plot_run` draws the combined figure; :func:`plot_nodes`, :func:`plot_executions`,
:func:`plot_evals` and :func:`mark_actions` draw one part on an axes you pass. Time is seconds
from the start of the run."""

from __future__ import annotations

import re
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Annotation
from matplotlib.ticker import MaxNLocator

from repro_lib.analysis import timeline as tl

__all__ = ["plot_run", "plot_nodes", "plot_executions", "plot_evals", "mark_actions", "keep_inside", "off_axis",
           "COLORS", "save"]

COLORS = {
    # actual
    "up": "#66bb6a", "down": "#37474f", "partitioned": "#ff9800", "unknown": "#eeeeee",
    # belief
    "connecting": "#90caf9", "connected": "#1e88e5", "disconnected": "#b0bec5", "lost": "#6d4c41",
    # executions
    "pending": "#fbc02d", "starting": "#ffe082", "running": "#43a047", "completed": "#9e9e9e",
    "failed": "#e53935", "cancelled": "#cfd8dc", "stopped": "#cfd8dc",
}
_MARKS = {  # dispatch outcome -> (marker, colour, label)
    "sent": ("^", "#1565c0", "dispatch published"),
    "delivered": ("o", "#2e7d32", "delivered to edge"),
    "lost": ("X", "#d50000", "lost (no subscriber, or cut off)"),
    "lost_inferred": ("X", "#ff8a80", "lost (published; the edge log shows no receipt)"),
    "failed": ("P", "#6a1b9a", "publish failed, detected (sequence-replay: 503 / no ack)"),
    "refused": ("s", "#ef6c00", "refused (node not connected)"),
    "skipped": ("x", "#3e2723", "skipped (RetryStrategySkip)"),  # dark: drawn over the refusal's square
    "redispatched": ("D", "#8e24aa", "re-dispatched (fix)"),
}
_ACTION_STYLE = {
    "deploy": ("#212121", "--"), "stop_job": ("#212121", ":"), "kill": ("#c62828", "-"),
    "start": ("#2e7d32", "-"), "join": ("#2e7d32", "-."), "partition": ("#ef6c00", "-"),
    "heal": ("#ef6c00", "--"), "restart": ("#6a1b9a", "-"), "up": ("#9e9e9e", ":"), "down": ("#9e9e9e", ":"),
}
_TRIGGER_COLORS = {"node-join": "#8e24aa", "node-leave": "#6d4c41", "job-create": "#546e7a",
                   "job-update": "#546e7a", "job-cancel": "#546e7a"}


def _events(src: Any) -> tuple[pd.DataFrame, float | None]:
    if isinstance(src, pd.DataFrame):
        return src, None
    return src.events, float(src.final.t_s)


def _bars(ax: Axes, rows: pd.DataFrame, y: float, h: float, colors: dict[str, str], **kw: Any) -> None:
    for state, g in rows.groupby("state", sort=False):
        extra = {"hatch": "xx", "edgecolor": "#9e9e9e", "linewidth": 0} if state == "unknown" else {}
        ax.broken_barh(list(zip(g["t0"], g["t1"] - g["t0"], strict=False)), (y - h / 2, h),
                       facecolors=colors.get(str(state), "#e0e0e0"), **extra, **kw)


def _inferred_losses(src: Any, events: pd.DataFrame, end: float | None) -> pd.DataFrame:
    """Losses no NATS log shows but the edge logs prove (published, never received): a lost mark at
    the last send, so a live or real run draws its ✖ like the sim does."""
    from repro_lib.analysis.delivery import delivery_table

    tab = getattr(getattr(src, "verdict", None), "table", None)
    if tab is None:
        tab = delivery_table(events, t_end=end)
    hit = tab[tab["class"].eq("lost") & tab["outcome"].isin(["published", "sent"]) & tab["last_send_s"].notna()]
    return pd.DataFrame({"t_s": hit["last_send_s"].astype(float), "node": hit["node"], "job": hit["job"],
                         "execution": hit["execution"], "outcome": "lost_inferred"})


def _failed(events: pd.DataFrame) -> pd.DataFrame:
    """Fix C's detected publish failures (``Failed to publish message``): a loss the publisher knew of."""
    f = events[(events["kind"] == "publish") & (events["state"] == "failed")]
    return pd.DataFrame({"t_s": f["t_s"].astype(float), "node": f["node"], "job": f["job"],
                         "execution": f["execution"], "outcome": "failed"})


def _all_marks(src: Any, events: pd.DataFrame, end: float | None) -> pd.DataFrame:
    return pd.concat([tl.dispatch_marks(events), _inferred_losses(src, events, end), _failed(events)],
                     ignore_index=True)


def _rehandshakes(events: pd.DataFrame) -> pd.DataFrame:
    """Every handshake of a node after its first: the edge came back (step 4 of the bug)."""
    hs = events[(events["kind"] == "node") & (events["state"] == "handshake") & events["node"].notna()]
    return hs[hs.duplicated("node")][["t_s", "node"]]


def plot_nodes(src: Any, ax: Axes, t_end: float | None = None, *, marks: bool = True) -> list[str]:
    """Two lanes per node: what was true (up/down) and what the orchestrator believed.
    Hatched red where it believed 'connected' while the edge was down: the bug's window."""
    events, end = _events(src)
    end = t_end if t_end is not None else end
    actual = tl.actual_intervals(events, end)
    belief = tl.belief_intervals(events, end)
    gaps = tl.belief_gaps(events, end)
    names = tl.node_names(events)
    nodes = sorted(dict.fromkeys([*belief["node"], *actual["node"]]),
                   key=lambda n: natural_key(names.get(str(n), str(n))))
    dup = {n for n in names.values() if list(names.values()).count(n) > 1}
    labels, ys = [], {}
    for i, node in enumerate(nodes):
        name = names.get(str(node), str(node))
        label = f"{name} ({str(node)[:10]})" if name in dup else name
        k = len(nodes) - 1 - i  # the first edge on top, as in the executions panel
        y_act, y_bel = 2 * k + 1.0, 2 * k + 0.55
        ys[node] = y_bel
        _bars(ax, actual[actual["node"] == node], y_act, 0.3, COLORS)
        _bars(ax, belief[belief["node"] == node], y_bel, 0.4, COLORS)
        g = gaps[gaps["node"] == node]
        if len(g):
            ax.broken_barh(list(zip(g["t0"], g["t1"] - g["t0"], strict=False)), (y_bel - 0.2, 0.4),
                           facecolors="none", edgecolors="#d50000", hatch="////", linewidth=0.8)
        labels += [(y_bel, f"{label} · believed"), (y_act, f"{label} · actual")]
    if marks:
        dm = _all_marks(src, events, end)
        for outcome, (marker, colour, _) in _MARKS.items():
            g = dm[(dm["outcome"] == outcome) & dm["node"].isin(ys)]
            if len(g):
                offset = {"sent": -0.28, "redispatched": -0.28, "failed": -0.28}.get(outcome, 0.28)
                edge = {} if marker in ("x", "+", "|") else {"edgecolors": "white", "linewidths": 0.5}
                ax.scatter(g["t_s"], [ys[n] + offset for n in g["node"]], marker=marker, s=46,
                           c=colour, zorder=6 if outcome == "skipped" else 5, **edge)
        rh = _rehandshakes(events)
        rh = rh[rh["node"].isin(ys)]
        if len(rh):  # the edge's handshake on return: the orchestrator takes it for a node-join
            ax.scatter(rh["t_s"], [ys[n] for n in rh["node"]], marker=">", s=40, c="#0d47a1", zorder=6,
                       edgecolors="white", linewidths=0.5)
    if labels:
        ax.set_yticks([y for y, _ in labels], [lab for _, lab in labels], fontsize=8)
        ax.set_ylim(-0.1, 2 * len(nodes) + 0.1)
    ax.set_title("nodes: actual vs believed by the orchestrator, with dispatches", fontsize=9, loc="left")
    ax.grid(axis="x", alpha=0.3)
    return [str(n) for n in nodes]


def plot_executions(src: Any, ax: Axes, t_end: float | None = None) -> list[str]:
    """One lane per execution, grouped by job, coloured by compute state."""
    events, end = _events(src)
    end = t_end if t_end is not None else end
    ex = tl.executions_over_time(events, end)
    order = list(dict.fromkeys(ex.sort_values(["job", "name", "t0"], kind="stable")["execution"]))
    labels = []
    for i, e in enumerate(reversed(order)):
        g = ex[ex["execution"] == e]
        _bars(ax, g, i, 0.6, COLORS)
        first = g.iloc[0]
        labels.append((i, f"{first['job']} · {first['name']}"))
        if g.iloc[-1]["state"] == "pending" and g.iloc[-1]["desired"] == "running":
            # inside the end of the bar, so the axis edge never clips it (plot_run moves it into a zoom)
            label = ax.text(g.iloc[-1]["t1"], i, "still pending ", va="center", ha="right", fontsize=7,
                            color="#b71c1c", fontweight="bold", clip_on=True, gid="pending-end")
            label.bar_start = float(g.iloc[-1]["t0"])  # type: ignore[attr-defined]  # (for a zoom, in plot_run)
    if labels:
        ax.set_yticks([y for y, _ in labels], [lab for _, lab in labels], fontsize=8)
        ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_title("executions (compute state; desired = running unless cancelled)", fontsize=9, loc="left")
    ax.grid(axis="x", alpha=0.3)
    return order


def _leave_cause(events: pd.DataFrame, t: float, window: float = 120.0) -> str:
    """What a node-leave batch at ``t`` came from: the last state change of each node in the batch window.
    A re-handshake moves a connected node to ``connecting`` (``connected_after``), which the reevaluator
    counts as a leave although nothing was disconnected."""
    rows = events[(events["kind"] == "node") & events["state"].isin(["connecting", "connected", "disconnected", "lost"])
                  & (events["t_s"] <= t) & (events["t_s"] >= t - window)]
    last = set(rows.groupby("node", sort=False)["state"].last())
    if last == {"connecting"}:
        return "re-handshake: connected → connecting"
    if last & {"disconnected", "lost"}:
        return " / ".join(sorted(last & {"disconnected", "lost"}))
    return "leave"


def _join_outcome(events: pd.DataFrame, t: float, window: float = 5.0) -> str:
    """What a node-join batch at ``t`` did, from its evaluations' ``EVAL: processed`` lines and the
    re-dispatches they made: ``empty plan``, ``re-dispatched`` or ``changed the plan``."""
    d = events[(events["t_s"] >= t) & (events["t_s"] <= t + window)]
    red = d[(d["kind"] == "dispatch") & (d["state"] == "redispatch")]
    done = d[(d["kind"] == "eval") & (d["state"] == "processed")]
    done = done[done["detail"].fillna("").str.contains("trigger=node-join", regex=False)]
    if len(red):
        return f"re-dispatched {len(red)}"
    if done.empty:
        return "outcome not logged"
    detail = done["detail"].fillna("")
    if detail.str.contains("empty=true", regex=False).all():
        return "empty plan"
    return "changed the plan"


def plot_evals(src: Any, ax: Axes) -> int:
    """Evaluations created by the reevaluator, one row per trigger."""
    events, _ = _events(src)
    ev = tl.eval_marks(events)
    triggers = sorted(ev["trigger"].unique()) if len(ev) else []
    for i, trig in enumerate(triggers):
        g = ev[ev["trigger"] == trig]
        ax.scatter(g["t_s"], [i] * len(g), marker="|", s=260, c=_TRIGGER_COLORS.get(trig, "#546e7a"),
                   linewidths=2, gid="labelled-by-ticks")
        # one label per burst: a batch's evaluations are logged within microseconds of each other
        burst = (g["t_s"].diff().fillna(1.0) > 0.5).cumsum()
        for t, n in g.groupby(burst)["t_s"].agg(["first", "size"]).itertuples(index=False):
            why = f" ({_leave_cause(events, t)})" if trig == "node-leave" else ""
            if trig == "node-join":
                why = f": {_join_outcome(events, t)}"
            ax.annotate(f"{n} eval{'s' if n > 1 else ''}{why}", (t, i), xytext=(3, 4), textcoords="offset points",
                        annotation_clip=True,
                        fontsize=7)
    ax.set_yticks(range(len(triggers)), triggers, fontsize=8)
    ax.set_ylim(-0.7, max(len(triggers), 1) - 0.3)
    ax.set_title("reevaluator: evaluations created (trigger)", fontsize=9, loc="left")
    ax.grid(axis="x", alpha=0.3)
    return len(ev)


def mark_actions(src: Any, axes: list[Axes], *, label_ax: Axes | None = None,
                 window: tuple[float, float] | None = None) -> int:
    """Vertical lines for deploy / kill / start / …, labelled on ``label_ax``; edge-down windows shaded."""
    events, end = _events(src)
    acts = tl.action_marks(events)
    acts = acts[~acts["state"].isin(["up", "down"])]
    actual = tl.actual_intervals(events, end)
    down = _union(actual[actual["state"].isin(["down", "partitioned"])])
    for ax in axes:
        for t0, t1 in down:  # one band where any edge is down, however many are
            ax.axvspan(t0, t1, color="#ffcdd2", alpha=0.25, lw=0, zorder=0)
        for row in acts.itertuples():
            colour, style = _ACTION_STYLE.get(row.state, ("#616161", ":"))
            ax.axvline(row.t_s, color=colour, ls=style, lw=1, alpha=0.8, zorder=1)
    target = label_ax or axes[0]
    span = max(float(end or 0), float(acts["t_s"].max()) if len(acts) else 0.0, 1e-9)
    if window is not None:  # labels are grouped and spaced on the visible range, not the whole run
        span = max(window[1] - window[0], 1e-9)
        acts = acts[(acts["t_s"] >= window[0]) & (acts["t_s"] <= window[1])]
    # actions within 1.5 % of the axis of each other share one label ("start edge1, start edge2")
    acts = acts.sort_values("t_s", kind="stable")
    first, group = -1e18, []
    for t in acts["t_s"]:
        if t - first > 0.015 * span:
            first = t
        group.append(first)
    grouped = acts.assign(at=group).groupby("at", sort=True)["label"].apply(_group_labels)
    ends = [-1e18] * 4  # right edge (data units) of the last label on each of 4 rows
    for t, label in grouped.items():
        row = next((i for i, e in enumerate(ends) if t > e), min(range(4), key=lambda i: ends[i]))
        ends[row] = t + (len(label) + 3) * 0.0095 * span  # about one 8.5 pt character per 0.95 % of a 12 in axis
        target.annotate(label, (t, 0.82 - 0.26 * row), xycoords=("data", "axes fraction"), xytext=(2, 0),
                        annotation_clip=True,
                        textcoords="offset points", fontsize=8.5, ha="left", va="center")
    return len(acts)


_TRUTH_STYLE = (0, (1, 1.5))  # dotted: what was true, drawn over what was believed
_MARK_ROW = 0.045  # height of one row of dispatch marks over the counts, as a share of the number of edges

PER_NODE_MAX = 6     # more edges than this: counts of edges per state, not a lane each
PER_EXECUTION_MAX = 16  # more executions than this: one lane per job, shares of its executions per state
MAX_JOB_LANES = 10


def _union(intervals: pd.DataFrame) -> list[tuple[float, float]]:
    """Overlapping [t0, t1) intervals merged."""
    out: list[tuple[float, float]] = []
    for t0, t1 in sorted(zip(intervals["t0"].astype(float), intervals["t1"].astype(float), strict=True)):
        if out and t0 <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], t1))
        else:
            out.append((t0, t1))
    return out


def natural_key(text: str) -> list[Any]:
    """``edge2`` before ``edge10``."""
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", str(text))]


def _group_labels(labels: pd.Series) -> str:
    """``start edge1, start edge2, …`` at one moment → ``start 20 edges``."""
    by_verb: dict[str, list[str]] = {}
    for lab in dict.fromkeys(labels):
        verb, _, what = str(lab).partition(" ")
        by_verb.setdefault(verb, []).append(what)
    parts = []
    for verb, whats in by_verb.items():
        if len(whats) > 3:
            kind = "edges" if all(w.startswith("edge") for w in whats) else "targets"
            parts.append(f"{verb} {len(whats)} {kind}")
        else:
            parts += [f"{verb} {w}".strip() for w in whats]
    return ", ".join(parts)


def _counts(intervals: pd.DataFrame, state: str, end: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """How many rows of ``intervals`` are in ``state`` over time: (times, counts) of a step function."""
    g = intervals[intervals["state"] == state]
    if g.empty:
        return np.zeros(0), np.zeros(0)
    t0, t1 = np.sort(g["t0"].to_numpy(float)), np.sort(g["t1"].to_numpy(float))
    times = np.unique(np.concatenate([t0, t1]))
    counts = np.searchsorted(t0, times, "right") - np.searchsorted(t1, times, "right")
    if len(times) > 1 and end is not None and times[-1] >= end:
        counts[-1] = counts[-2]  # the run ends there: intervals cut off at its end do not drop to 0
    return times, counts


def plot_nodes_aggregated(src: Any, ax: Axes, t_end: float | None = None) -> dict[str, bool]:
    """Many edges: how many are actually down / cut off and how many the orchestrator believes
    connected, disconnected or lost, over time; hatched red, how many it believes connected while they
    are down (the bug's window); dispatch outcomes as marks along the top. Returns what was drawn."""
    events, end = _events(src)
    end = t_end if t_end is not None else end
    actual, belief = tl.actual_intervals(events, end), tl.belief_intervals(events, end)
    gaps = tl.belief_gaps(events, end)
    n = max(1, len(set(actual["node"]) | set(belief["node"])))
    drawn: dict[str, bool] = {}
    stop = end if end is not None else max([float(f["t1"].max()) for f in (actual, belief) if len(f)] or [0.0])
    for state in ("down", "partitioned"):  # the truth as shaded areas, the belief as lines over them
        times, counts = _counts(actual, state, stop)
        if len(times):
            ax.fill_between(times, counts, step="post", color=COLORS[state], alpha=0.35, lw=0)
    for frame, state, label, style in ((belief, "connected", "believed connected", "-"),
                                       (belief, "connecting", "believed connecting", "--"),
                                       (belief, "disconnected", "believed disconnected", "-"),
                                       (belief, "lost", "believed lost", "-"),
                                       # the truth last and dotted, over the belief: at 20 down and 20
                                       # believed connected both lines stay visible
                                       (actual, "down", "edges actually down", _TRUTH_STYLE),
                                       (actual, "partitioned", "edges cut off (partitioned)", _TRUTH_STYLE)):
        times, counts = _counts(frame, state, stop)
        if len(times):
            truth = frame is actual
            ax.step(times, counts, where="post", color=COLORS[state], lw=2.4 if truth else 1.8, ls=style,
                    label=label, zorder=3 if truth else 2)
            drawn[f"agg:{state}"] = True
    times, counts = _counts(gaps.assign(state="gap"), "gap", stop)
    if len(times):
        ax.fill_between(times, counts, step="post", facecolor="none", edgecolor="#d50000", hatch="////", lw=0.8)
        drawn["gap"] = True
    # dispatch outcomes in a band above the counts, one row per kind drawn; the y ticks stop at n
    dm = _all_marks(src, events, end)
    rows = [o for o in _MARKS if (dm["outcome"] == o).any()]
    for k, outcome in enumerate(rows):
        marker, colour, _ = _MARKS[outcome]
        g = dm[dm["outcome"] == outcome]
        ax.scatter(g["t_s"], np.full(len(g), n * (1.08 + _MARK_ROW * k)), marker=marker, s=30, c=colour, zorder=5)
        drawn[f"mark:{outcome}"] = True
    ax.set_ylim(-0.02 * n, n * (1.08 + _MARK_ROW * max(len(rows), 1)) + 0.5)
    ax.set_yticks([t for t in MaxNLocator(nbins=5, integer=True).tick_values(0, n) if 0 <= t <= n])
    if rows:
        ax.axhline(n * 1.04, color="#bdbdbd", lw=0.6, zorder=1, gid="labelled-inline")  # the title names it
    ax.set_ylabel(f"edges (of {n})", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(f"{n} edges: how many are down vs believed connected (hatched: believed connected while down); "
                 "dispatches above the line", fontsize=9, loc="left")
    ax.grid(axis="x", alpha=0.3)
    return drawn


def plot_executions_by_job(src: Any, ax: Axes, t_end: float | None = None) -> list[str]:
    """Many executions: one lane per job (natural order, up to :data:`MAX_JOB_LANES`), its height
    split by the share of the job's executions in each compute state over time."""
    events, end = _events(src)
    end = t_end if t_end is not None else end
    ex = tl.executions_over_time(events, end)
    jobs = sorted(ex["job"].dropna().unique(), key=natural_key)
    shown = jobs[:MAX_JOB_LANES]
    labels = []
    for i, job in enumerate(reversed(shown)):
        g = ex[ex["job"] == job]
        total = g["execution"].nunique()
        times = np.unique(np.concatenate([g["t0"].to_numpy(float), g["t1"].to_numpy(float)]))
        base = np.zeros(len(times))
        for state in ("running", "pending", "starting", "completed", "failed", "cancelled", "stopped"):
            st = g[g["state"] == state]
            if st.empty:
                continue
            t0, t1 = np.sort(st["t0"].to_numpy(float)), np.sort(st["t1"].to_numpy(float))
            share = (np.searchsorted(t0, times, "right") - np.searchsorted(t1, times, "right")) / total * 0.8
            ax.fill_between(times, i - 0.4 + base, i - 0.4 + base + share, step="post", color=COLORS[state], lw=0)
            base = base + share
        labels.append((i, f"{job} ({total})"))
    if len(jobs) > len(shown):
        ax.text(0.99, 0.02, f"+{len(jobs) - len(shown)} more jobs", transform=ax.transAxes, ha="right", fontsize=7)
    if labels:
        ax.set_yticks([y for y, _ in labels], [lab for _, lab in labels], fontsize=8)
        ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_title("executions per job (lane height: share of the job's executions in each compute state)",
                 fontsize=9, loc="left")
    ax.grid(axis="x", alpha=0.3)
    return [str(j) for j in shown]


def _legend(fig: Figure, events: pd.DataFrame, end: float | None, aggregated: bool,
            drawn: dict[str, bool]) -> None:
    """A legend of what the figure draws, and nothing else."""
    actual, belief = tl.actual_intervals(events, end), tl.belief_intervals(events, end)
    ex_states = set(tl.executions_over_time(events, end)["state"])
    acts = set(tl.action_marks(events)["state"])
    handles: list[Any] = []
    if aggregated:
        names = {"connected": "believed connected", "connecting": "believed connecting",
                 "disconnected": "believed disconnected", "lost": "believed lost"}
        for k, label in (("down", "edges actually down"), ("partitioned", "edges cut off")):
            if drawn.get(f"agg:{k}"):
                handles.append(_Both((Patch(color=COLORS[k], alpha=0.35, lw=0),
                                      Line2D([], [], color=COLORS[k], lw=2.4, ls=_TRUTH_STYLE)), label))
        handles += [Line2D([], [], color=COLORS[k], lw=1.8, ls="--" if k == "connecting" else "-", label=v)
                    for k, v in names.items() if drawn.get(f"agg:{k}")]
    else:
        handles += [Patch(color=COLORS[k], label=f"edge {k}") for k in ("up", "down", "partitioned")
                    if k in set(actual["state"])]
        if "unknown" in set(actual["state"]):
            handles.append(Patch(facecolor=COLORS["unknown"], edgecolor="#9e9e9e", hatch="xx",
                                 label="edge up/down unknown (no source shows it)"))
        handles += [Patch(color=COLORS[k], label=f"believed {k}") for k in ("connecting", "connected",
                                                                            "disconnected", "lost")
                    if k in set(belief["state"])]
    if drawn.get("gap"):
        handles.append(Patch(facecolor="none", edgecolor="#d50000", hatch="////",
                             label="believed connected while down"))
    handles += [Patch(color=COLORS[k], label=f"execution {k}") for k in ("pending", "running", "completed",
                                                                         "failed", "cancelled") if k in ex_states]
    handles += [Line2D([], [], marker=m, color=c, ls="", label=lab) for k, (m, c, lab) in _MARKS.items()
                if drawn.get(f"mark:{k}")]
    if drawn.get("rehandshake"):
        handles.append(Line2D([], [], marker=">", color="#0d47a1", ls="", label="re-handshake (node-join)"))
    handles += [Line2D([], [], color=c, ls=st, label=k) for k, (c, st) in _ACTION_STYLE.items()
                if k in acts and k not in ("up", "down")]
    if set(actual["state"]) & {"down", "partitioned"}:
        handles.append(Patch(color="#ffcdd2", alpha=0.5, label="an edge down/cut off"))
    if handles:  # as many columns as the longest label leaves room for across the figure
        labels = [h.get_label() for h in handles]
        widest = max(len(lab) for lab in labels)
        ncol = max(2, min(6, len(handles), int(fig.get_figwidth() * 14 // (widest + 6))))
        fig.legend(handles=[h.artists if isinstance(h, _Both) else h for h in handles], labels=labels,
                   loc="lower center", ncol=ncol, fontsize=8.5, frameon=False,
                   handler_map={tuple: HandlerTuple(ndivide=None)})


class _Both:
    """Two legend artists drawn over each other under one label (a shaded area and the line on its edge)."""

    def __init__(self, artists: tuple[Any, Any], label: str) -> None:
        self.artists, self._label = artists, label

    def get_label(self) -> str:
        return self._label


def plot_run(src: Any, *, title: str | None = None, t_end: float | None = None,
             figsize: tuple[float, float] | None = None, xlim: tuple[float, float] | None = None) -> Figure:
    """The combined timeline of a :class:`~repro_lib.run.Run` (or an events table). Up to
    :data:`PER_NODE_MAX` edges get a lane each (natural order); more are drawn as counts per state.
    Up to :data:`PER_EXECUTION_MAX` executions get a lane each; more are drawn per job. The height
    is bounded (about 12 in at most). ``xlim`` fixes the time axis (to compare runs by eye)."""
    events, end = _events(src)
    end = t_end if t_end is not None else end
    nodes = set(tl.belief_intervals(events, end)["node"]) | set(tl.actual_intervals(events, end)["node"])
    n_nodes = max(1, len(nodes))
    st = events[(events["kind"] == "state") & events["execution"].notna()]
    n_exec, n_jobs = max(1, st["execution"].nunique()), max(1, st["job"].nunique())
    n_trig = max(1, tl.eval_marks(events)["trigger"].nunique())
    many_nodes, many_execs = n_nodes > PER_NODE_MAX, n_exec > PER_EXECUTION_MAX
    h_nodes = 2.6 if many_nodes else 2 * n_nodes * 0.45 + 0.6
    h_execs = min(n_jobs, MAX_JOB_LANES) * 0.45 + 0.7 if many_execs else n_exec * 0.32 + 0.6
    heights = [0.8, h_nodes, h_execs, n_trig * 0.3 + 0.5]
    fig, all_axes = plt.subplots(4, 1, sharex=True, figsize=figsize or (12, sum(heights) + 2.6),
                                 gridspec_kw={"height_ratios": heights})
    top, axes = all_axes[0], list(all_axes[1:])
    top.set_yticks([])
    for side in ("left", "right", "top"):
        top.spines[side].set_visible(False)
    top.set_title("actions and faults", fontsize=9, loc="left")
    if many_nodes:
        drawn = plot_nodes_aggregated(src, axes[0], end)
    else:
        plot_nodes(src, axes[0], end)
        dm = _all_marks(src, events, end)
        drawn = {f"mark:{k}": True for k in set(dm["outcome"])}
        drawn["gap"] = not tl.belief_gaps(events, end).empty
        drawn["rehandshake"] = not _rehandshakes(events).empty
    lanes = (plot_executions_by_job if many_execs else plot_executions)(events, axes[1], end)
    n_evals = plot_evals(events, axes[2])
    n_acts = mark_actions(src if not isinstance(src, pd.DataFrame) else events, axes, label_ax=top, window=xlim)
    hidden = off_axis(events, xlim) if xlim is not None else ""
    if hidden:  # a locked axis hides actions: say which, and where they are
        top.text(0.995, 0.06, hidden, transform=top.transAxes, ha="right", va="bottom", fontsize=8,
                 color="#b71c1c", gid="off-axis")
    no_action = "no action or fault in view" if xlim is not None and len(tl.action_marks(events)) \
        else "no action or fault in these events"
    for ax, empty, what in ((top, not n_acts, no_action),
                            (axes[1], not lanes, "no execution in these events"),
                            (axes[2], not n_evals, "no evaluation created by the reevaluator")):
        if empty:  # an empty panel says so instead of showing 0–1 ticks
            ax.set_yticks([])
            ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", fontsize=8.5, color="#616161",
                    gid="empty-panel")
    _, noticed = tl.noticed_at(events)
    if noticed is not None:  # the moment the orchestrator stopped believing the dead edges connected
        axes[0].axvline(noticed, color=COLORS["disconnected"], ls="-.", lw=1.2, zorder=4, gid="labelled-inline")
        axes[0].annotate("orchestrator noticed", (noticed, 1.0), xycoords=("data", "axes fraction"),
                         annotation_clip=True,
                         xytext=(3, -10), textcoords="offset points", fontsize=7.5, color="#455a64")
    axes[-1].set_xlabel("seconds since the start of the run")
    if xlim is not None:
        axes[-1].set_xlim(*xlim)
    elif end:
        axes[-1].set_xlim(0, end * 1.04)
    left, right = axes[-1].get_xlim()
    for t in axes[1].texts:  # an end label beyond a zoom sits at the zoom's right edge, if its bar is in view
        if t.get_gid() == "pending-end" and t.get_position()[0] > right:
            start = getattr(t, "bar_start", left)
            if start < right:
                t.set_x(right)
            else:
                t.set_visible(False)
    if title is None and not isinstance(src, pd.DataFrame):
        v = src.verdict.verdict
        title = (f"{src.scenario.name} — {src.backend}, fix {'+'.join(src.fix)}, timings "
                 f"{src.timings.preset} — verdict: {v}")
    if "t" in events and len(events):
        from repro_lib.capture.logs import date_unknown
        if date_unknown(events["t"]).any():  # time-of-day-only logs: say so, never show 1970
            title = f"{title or ''} — times of day only: date unknown (pass --date)".lstrip(" —")
    if title:
        fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.1, 1, 0.97))
    _legend(fig, events, end, many_nodes, drawn)
    _redact_text(fig)
    keep_inside(fig)
    return fig


def off_axis(events: pd.DataFrame, xlim: tuple[float, float], *, most: int = 3) -> str:
    """What a fixed time axis leaves out: the actions and faults before and after it, as one line
    ("off the time axis: → deploy new-test-job at 462 s, start edge1 at 492 s …"), or "" when none is."""
    acts = tl.action_marks(events)
    acts = acts[~acts["state"].isin(["up", "down"])].sort_values("t_s", kind="stable")
    parts = []
    for arrow, side in (("←", acts[acts["t_s"] < xlim[0]]), ("→", acts[acts["t_s"] > xlim[1]])):
        if side.empty:
            continue
        at = side.groupby("label", sort=False)["t_s"].min().sort_values(kind="stable")
        shown = [f"{lab} at {t:.0f} s" for lab, t in at.head(most).items()]
        more = f" and {len(at) - most} more" if len(at) > most else ""
        parts.append(f"{arrow} {', '.join(shown)}{more}")
    if not parts:
        return ""
    return "off the time axis: " + "; ".join(parts)


def keep_inside(fig: Figure) -> int:
    """Move every annotation that runs past its axes' edge back inside (flipped to the left of its point, or
    shifted); returns how many were moved. Call it once the figure is laid out."""
    get = getattr(fig.canvas, "get_renderer", None)
    if get is None:  # a closed figure's plain canvas
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        get = FigureCanvasAgg(fig).get_renderer
    renderer = get()
    moved = 0
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        for t in ax.texts:
            if not (t.get_visible() and t.get_text()):
                continue
            if not isinstance(t, Annotation) or t.anncoords != "offset points":
                # a note placed in the axes' own coordinates: made smaller until it fits (down to 6 pt)
                while t.get_window_extent(renderer).width > box.width - 2 and t.get_fontsize() > 6:
                    t.set_fontsize(t.get_fontsize() - 0.5)
                    moved += 1
                continue
            bb = t.get_window_extent(renderer)
            m = 3.0  # pixels of room kept at the edge: a figure saved at another dpi rounds differently
            if bb.x1 <= box.x1 - m and bb.x0 >= box.x0 + m and bb.y1 <= box.y1 - m and bb.y0 >= box.y0 + m:
                continue
            pts = 72.0 / fig.dpi
            dx, dy = t.xyann
            if bb.x1 > box.x1 - m and t.get_horizontalalignment() == "left":
                t.set_horizontalalignment("right")  # the label ends at its point instead of starting there
                dx = -abs(dx)
                t.xyann = (dx, dy)
                bb = t.get_window_extent(renderer)
            if bb.x1 > box.x1 - m:
                dx -= (bb.x1 - box.x1 + m) * pts
            elif bb.x0 < box.x0 + m:
                dx += (box.x0 - bb.x0 + m) * pts
            if bb.y1 > box.y1 - m:
                dy -= (bb.y1 - box.y1 + m) * pts
            elif bb.y0 < box.y0 + m:
                dy += (box.y0 - bb.y0 + m) * pts
            t.xyann = (dx, dy)
            moved += 1
    return moved


def _redact_text(fig: Figure) -> None:
    """Every label drawn comes from someone's logs: mask secrets in them (repro_lib.redact)."""
    from matplotlib.text import Text

    from repro_lib.redact import redact

    for t in fig.findobj(Text):
        text = t.get_text()
        if text and (masked := redact(text)) != text:
            t.set_text(masked)


def save(fig: Figure, path: str, dpi: int = 110) -> str:
    """Write ``fig`` to ``path`` (.png, .svg or .pdf) through :func:`repro_lib.output.write_with`:
    a temporary sibling renamed into place, never over a file the kit did not write. The file is
    marked as the kit's in its metadata, so a later run may replace it."""
    from repro_lib.output import FIGURE_SUFFIXES, MARK, check_file, write_with

    out = check_file(path, "figure", suffixes=FIGURE_SUFFIXES)
    fmt = out.suffix.lower().lstrip(".")
    key = {"png": "Software", "svg": "Creator", "pdf": "Creator"}[fmt]
    try:
        write_with(out, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt,
                                                metadata={key: f"{MARK} (matplotlib)"}), what="figure")
    finally:
        plt.close(fig)
    return path
