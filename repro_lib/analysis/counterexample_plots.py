"""A searched counterexample, replayed: the figure zoomed to its steps, and its settle in one line.

A counterexample's steps are milliseconds to seconds apart, its settle an hour long: drawn on one
axis the steps are a single line and the edge is never visibly down. :func:`view_of` cuts a replayed
:class:`~repro_lib.run.Run` in two —

- the **steps**: from just before the first fault or action to just after the last step before the
  settle and what it set off at once (the dispatch it caused and where it went, an edge's
  re-handshake), drawn by :func:`~repro_lib.analysis.plots.plot_run` on the events of that window
  only (:func:`zoom_figure`);
- the **settle**: one line saying what happened after the window (:func:`settle_summary`).

:func:`~repro_lib.analysis.plots.plot_run` is called as it is; :func:`zoom_figure` adds two things
on the figure it returns: a band on an edge's *actual* lane while it was started but not yet
subscribed to its NATS subject (the model's ``edge_connect_delay``; the timeline draws a started
edge as ``up`` at once, so a loss in those milliseconds would sit on a green lane), and a sentence in
a panel that has nothing to draw in the window instead of empty 0–1 ticks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from repro_lib.analysis import timeline as tl

__all__ = ["CounterexampleView", "view_of", "step_window", "settle_from", "starting_intervals", "lane_state",
           "restart_intervals", "loss_marks", "empty_panels", "zoom_figure", "settle_summary", "observed_text", "fmt_s"]

#: how a not-yet-subscribed edge is drawn on its actual lane
STARTING_STYLE = {"facecolor": "#37474f", "edgecolor": "#ffffff", "hatch": "////", "linewidth": 0}
#: how the orchestrator's downtime in a ``restart_orchestrator`` step is shaded
RESTART_STYLE = {"color": "#ce93d8", "alpha": 0.35, "lw": 0}
_PROLOGUE = ("up", "wait_for", "sleep", "snapshot")
_PANELS = {"nodes": "nodes:", "executions": "executions", "evaluations": "reevaluator"}


def fmt_s(t: float) -> str:
    """Seconds for a reader: 3 significant decimals below 10 s, one below 1000 s, none beyond."""
    a = abs(t)
    return f"{t:.3f}" if a < 10 else f"{t:.1f}" if a < 1000 else f"{t:.0f}"


def settle_from(run: Any) -> float:
    """When the final settle starts: the start of the run's last ``sleep`` (the epilogue's)."""
    sleeps = [float(s["t_start_s"]) for s in run.steps if s["op"] == "sleep"]
    return sleeps[-1] if sleeps else float(run.final.t_s)


def _step_times(run: Any) -> tuple[float, float]:
    """(first fault or action after the prologue, last step before the settle)."""
    steps = list(run.steps)
    body = steps[2:] if len(steps) > 2 and steps[1]["op"] == "wait_for" else steps[1:]
    settle = settle_from(run)
    acts = [s for s in body if s["op"] not in _PROLOGUE and float(s["t_start_s"]) <= settle]
    if not acts:
        return settle, settle
    return float(acts[0]["t_start_s"]), max(float(s["t_end_s"]) for s in acts)


def step_window(run: Any) -> tuple[float, float]:
    """The zoom: from just before the first fault/action to just after the last step before the settle,
    stretched to what that step set off at once — dispatch outcomes, edges subscribing and handshaking,
    node state changes within ``2 × edge_boot_delay + 0.5 s`` — with a margin on both sides wide enough
    that a kill or a partition is visibly an interval."""
    first, last = _step_times(run)
    t = run.timings
    horizon = 2 * t.edge_boot_delay + 0.5
    ev = run.events
    soon = ev[(ev["t_s"] > last) & (ev["t_s"] <= last + horizon)]
    marks = tl.dispatch_marks(soon)
    nodes = soon[soon["kind"].eq("node") & soon["state"].isin(["handshake", "connected", "disconnected", "lost"])]
    subs = starting_intervals(run)
    subs = subs[(subs["t0"] >= first) & (subs["t1"] <= last + horizon)]
    end = max([last, *marks["t_s"], *nodes["t_s"], *subs["t1"]])
    pad = max(0.08 * (end - first), 0.1)
    return max(0.0, first - pad), end + pad


def starting_intervals(run: Any) -> pd.DataFrame:
    """node, t0, t1: each edge start until the edge is subscribed to its subject — the model's
    ``min(edge_connect_delay, edge_boot_delay)`` after its ``EDGE: starting`` line (the sim arms exactly
    that timer); a run request published in between finds no subscriber."""
    ev = run.events
    t = run.timings
    delay = min(t.edge_connect_delay, t.edge_boot_delay)
    starts = ev[ev["kind"].eq("log") & ev["msg"].eq("EDGE: starting") & ev["node"].notna()]
    up = ev[ev["kind"].eq("action") & ev["state"].eq("up")]["t_s"]
    t_up = float(up.iloc[0]) if len(up) else None
    rows = [(str(n), float(s), float(s) + delay) for n, s in zip(starts["node"], starts["t_s"], strict=False)
            if t_up is None or float(s) > t_up]  # the stack's own start-up is before any step
    return pd.DataFrame(rows, columns=["node", "t0", "t1"])


def reconnecting_intervals(run: Any) -> pd.DataFrame:
    """(node, t0, t1) of every NATS connection an edge lost while its process ran — a stale or slow-consumer
    close by the server, the client's own close — until its client reconnected (t1 = the run's end if never)."""
    ev = run.events
    closes = ev[(ev["kind"] == "fault") & ev["state"].isin(["stale_close", "slow_consumer", "reconnect"])
                & ev["node"].notna()]
    back = ev[ev["msg"].astype(str).eq("NATS: client reconnected - subscriptions resent") & ev["node"].notna()]
    rows = []
    for r in closes.itertuples():
        later = back[(back["node"] == r.node) & (back["t_s"] >= r.t_s)]
        rows.append({"node": r.node, "t0": float(r.t_s),
                     "t1": float(later["t_s"].iloc[0]) if len(later) else float(run.final.t_s)})
    return pd.DataFrame(rows, columns=["node", "t0", "t1"])


def lane_state(run: Any, node: str, t: float) -> str:
    """What the edge actually was at ``t``: ``up``, ``down``, ``partitioned``, ``starting`` (started,
    not yet subscribed) or ``reconnecting`` (up, its NATS connection closed and not yet back). At an instant where
    it changes, the later state counts."""
    s = starting_intervals(run)
    if ((s["node"] == node) & (s["t0"] <= t) & (t < s["t1"])).any():
        return "starting"
    a = tl.actual_intervals(run.events, float(run.final.t_s))
    a = a[(a["node"] == node) & (a["t0"] <= t) & ((t < a["t1"]) | (a["t1"] == a["t1"].max()))]
    state = str(a.iloc[-1]["state"]) if len(a) else "unknown"
    if state == "up":
        r = reconnecting_intervals(run)
        if ((r["node"] == node) & (r["t0"] <= t) & (t < r["t1"])).any():
            return "reconnecting"
    return state


def loss_marks(run: Any, window: tuple[float, float] | None = None) -> pd.DataFrame:
    """Every run request lost in ``window``: t_s, node, execution, and the lane it lands on (``lane``)."""
    m = tl.dispatch_marks(run.events)
    m = m[m["outcome"].eq("lost")]
    if window is not None:
        m = m[(m["t_s"] >= window[0]) & (m["t_s"] <= window[1])]
    m = m[["t_s", "node", "execution"]].copy()
    m["lane"] = [lane_state(run, str(n), float(t)) for n, t in zip(m["node"], m["t_s"], strict=False)]
    return m.reset_index(drop=True)


def restart_intervals(run: Any) -> list[tuple[float, float]]:
    """(t0, t1) of every ``restart_orchestrator`` step: the orchestrator is down in between."""
    return [(float(s["t_start_s"]), float(s["t_end_s"])) for s in run.steps if s["op"] == "restart_orchestrator"]


def _panel(fig: Figure, which: str) -> Any:
    key = _PANELS[which]
    return next((ax for ax in fig.axes if ax.get_title(loc="left").startswith(key)), None)


def empty_panels(run: Any, window: tuple[float, float]) -> dict[str, str]:
    """Panels with nothing to draw in ``window``, each with the sentence that says so."""
    ev = run.events
    ev = ev[ev["t_s"] <= window[1]]
    out: dict[str, str] = {}
    ex_all = run.events[run.events["kind"].eq("state") & run.events["execution"].notna()]
    if ev[ev["kind"].eq("state") & ev["execution"].notna()].empty:
        first = f"t={fmt_s(ex_all['t_s'].min())} s" if len(ex_all) else ""
        out["executions"] = ("no execution in this window: the job was never placed on a node" if ex_all.empty
                             else f"no execution yet in this window (the first is created at {first})")
    evals = tl.eval_marks(ev)
    if evals[(evals["t_s"] >= window[0])].empty:
        out["evaluations"] = "no evaluation created by the reevaluator in this window"
    return out


def zoom_figure(run: Any, window: tuple[float, float] | None = None, *, title: str | None = None) -> Figure:
    """:func:`~repro_lib.analysis.plots.plot_run` of the events up to the window's end, with the axis
    set to the window; then the not-yet-subscribed bands and a sentence in every empty panel."""
    from repro_lib.analysis.plots import keep_inside, plot_run

    window = window or step_window(run)
    ev = run.events
    cut = ev[ev["t_s"] <= window[1]].reset_index(drop=True)
    fig = plot_run(cut, title=title, xlim=window, t_end=window[1])
    nodes_ax = _panel(fig, "nodes")
    drawn = 0
    if nodes_ax is not None:
        names = tl.node_names(run.events)
        ticks = {lab.get_text(): y for y, lab in zip(nodes_ax.get_yticks(), nodes_ax.get_yticklabels(), strict=False)}
        for row in starting_intervals(run).itertuples():
            y = ticks.get(f"{names.get(row.node, row.node)} · actual")
            if y is None or row.t1 < window[0] or row.t0 > window[1]:
                continue
            nodes_ax.broken_barh([(row.t0, row.t1 - row.t0)], (y - 0.15, 0.3), zorder=3, **STARTING_STYLE)
            nodes_ax.annotate("started, not yet subscribed", (row.t1, y), xytext=(3, 6), textcoords="offset points",
                              fontsize=7, color="#37474f", annotation_clip=True)
            drawn += 1
    for which, text in empty_panels(run, window).items():
        ax = _panel(fig, which)
        if ax is None:
            continue
        ax.set_yticks([])
        for t in list(ax.texts):  # plot_run's own note for a whole-run empty panel: this one is about the window
            if t.get_text().startswith(("no execution in these events", "no evaluation created by the reevaluator")):
                t.remove()
        ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="#546e7a",
                style="italic", gid=f"empty-{which}")
    extra = []
    if drawn:
        extra.append(Patch(label="edge started, not yet subscribed (edge_connect_delay)", **STARTING_STYLE))
    restarts = [(a, b) for a, b in restart_intervals(run) if b >= window[0] and a <= window[1] and b > a]
    for a, b in restarts:
        for ax in fig.axes[:4]:
            ax.axvspan(a, b, zorder=0, **RESTART_STYLE)
    if restarts:
        extra.append(Patch(label="orchestrator down (restart_orchestrator)", **RESTART_STYLE))
    if extra:
        fig.legend(handles=extra, loc="lower right", fontsize=8.5, frameon=False)
    keep_inside(fig)  # the notes above were added after plot_run moved its own labels inside
    return fig


def _node_name(run: Any, node: Any) -> str:
    return tl.node_names(run.events).get(str(node), str(node))


def settle_summary(run: Any, window: tuple[float, float]) -> str:
    """"then settled N s: …" — what happened after the zoomed window, and the end state."""
    ev = run.events
    t0, end = window[1], float(run.final.t_s)
    after = ev[(ev["t_s"] > t0) & (ev["t_s"] <= end)]
    parts: list[str] = []
    hs = after[after["kind"].eq("node") & after["state"].eq("handshake")]
    if len(hs):
        parts.append("handshake of " + ", ".join(f"{_node_name(run, n)} at {fmt_s(t)} s" for n, t in
                                                  hs.groupby("node", sort=False)["t_s"].min().items()))
    for state in ("disconnected", "lost"):
        g = after[after["kind"].eq("node") & after["state"].eq(state)]
        if len(g):
            parts.append(f"marked {state}: " + ", ".join(f"{_node_name(run, n)} at {fmt_s(t)} s" for n, t in
                                                         g.groupby("node", sort=False)["t_s"].min().items()))
    evals = tl.eval_marks(after)
    for trig, g in evals.groupby("trigger", sort=False):
        parts.append(f"{len(g)} {trig} evaluation{'s' if len(g) > 1 else ''} (first at {fmt_s(g['t_s'].min())} s)")
    marks = tl.dispatch_marks(after)
    if len(marks):
        counts = marks["outcome"].value_counts()
        parts.append("run requests: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    else:
        parts.append("no run request sent")
    ran = after[after["kind"].eq("state") & after["execution"].notna() & after["state"].eq("running")]
    if len(ran):
        parts.append(f"{ran['execution'].nunique()} execution(s) reached running (first at "
                     f"{fmt_s(ran['t_s'].min())} s)")
    jobs = ", ".join(f"job {j['name']} {j['state']}" for j in run.final.jobs) or "no job"
    pending = [e for e in run.final.executions if e.get("state") == "pending" and e.get("desired") == "running"]
    classes: dict[str, str] = {}
    tab = getattr(run.verdict, "table", None)
    if tab is not None and len(tab):
        classes = dict(zip(tab["execution"].astype(str), tab["class"].astype(str), strict=False))
    stuck = "; " + ", ".join(f"execution {e['id']} on {e.get('node_name') or e.get('node')} still pending"
                             + (f" ({classes[e['id']]})" if e["id"] in classes else "") for e in pending) \
        if pending else ""
    settle = settle_from(run)
    return (f"Then settled {fmt_s(end - settle)} s (to t = {fmt_s(end)} s); after the zoom: "
            + "; ".join(parts) + f". At the end: {jobs}{stuck}.")


def observed_text(violation: Any, window: tuple[float, float], settle_start: float) -> str:
    """The violation with where its time sits against the zoomed axis."""
    t = float(violation.t_s)
    if window[0] <= t <= window[1]:
        where = f"at t = {fmt_s(t)} s, inside the zoomed window"
    elif t >= settle_start:
        where = (f"at t = {fmt_s(t)} s — in the settle, outside the zoomed window "
                 f"(t = {fmt_s(window[0])}–{fmt_s(window[1])} s)")
    else:
        where = f"at t = {fmt_s(t)} s, outside the zoomed window (t = {fmt_s(window[0])}–{fmt_s(window[1])} s)"
    what = f" (job {violation.job})" if getattr(violation, "job", None) else ""
    detail = f": {violation.detail}" if getattr(violation, "detail", "") else ""
    return f"`{violation.check}` {where}{what}{detail}"


@dataclass
class CounterexampleView:
    """A replayed counterexample cut into its steps (a zoomed figure) and its settle (a line)."""

    run: Any
    violation: Any
    window: tuple[float, float]
    settle_start: float
    empty: dict[str, str] = field(default_factory=dict)

    @property
    def window_text(self) -> str:
        return f"Zoomed to the steps: t = {fmt_s(self.window[0])}–{fmt_s(self.window[1])} s"

    @property
    def observed(self) -> str:
        return observed_text(self.violation, self.window, self.settle_start)

    @property
    def settle_line(self) -> str:
        return settle_summary(self.run, self.window)

    def losses(self) -> pd.DataFrame:
        return loss_marks(self.run, self.window)

    def markdown(self) -> str:
        """What is said above the figure: where its axis is, and what is not drawn."""
        lines = [f"**{self.window_text}** (the settle, to t = {fmt_s(float(self.run.final.t_s))} s, is summed up "
                 "below the figure)."]
        lines += [f"Not drawn: {text}." for text in self.empty.values()]
        return "\n\n".join(lines)

    def figure(self, *, title: str | None = None) -> Figure:
        return zoom_figure(self.run, self.window, title=title)


def view_of(run: Any, violation: Any) -> CounterexampleView:
    """Cut a replayed counterexample: its zoom window, settle start and empty panels."""
    window = step_window(run)
    return CounterexampleView(run, violation, window, settle_from(run), empty_panels(run, window))
