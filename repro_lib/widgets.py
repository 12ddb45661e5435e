"""ipywidgets panels: change the timings that matter and re-run the scenario in place.

On the sim a run takes milliseconds, so every (released) slider change re-runs it; on a live
backend (compose, local) runs take minutes, so only the Run button starts one, in a background
thread, with a progress bar and a Cancel button. The figure and the verdict are redrawn in place.
"""

from __future__ import annotations

import html
import math
import os
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

import ipywidgets as W
import matplotlib.pyplot as plt
from IPython.display import HTML, display

from repro_lib.analysis.plots import keep_inside
from repro_lib.errors import ReproError
from repro_lib.experiments import load_doc, with_edges
from repro_lib.model.types import FIX_LETTERS, FIXES
from repro_lib.run import Run
from repro_lib.scenario import parse_scenario, run_scenario
from repro_lib.timings import PRESETS, timings_from

__all__ = ["TimingExplorer", "Cancelled", "show_static", "figure_title", "PLACEHOLDER"]


class Cancelled(ReproError):
    """The user pressed Cancel; the run stops at the next step and the stack is torn down."""


_LABEL = {"description_width": "220px"}
# a dropdown's select gets what its row leaves after the label: wide enough for the longest option
# (`redispatch-on-join`) at JupyterLab's 13 px font, its arrow and padding
_DROPDOWN_WIDTH = "480px"

# what a shared HTML report shows where the panel was (repro_lib.report strips widget views, keeps this)
PLACEHOLDER = ("Interactive timing explorer (sliders, preset, fix, Run / Reset / Export): live only in a running "
               "kernel. Open this notebook in JupyterLab to use it; below, the figure of its default run.")

_PRESET_NOTES = {"repro": "the seed's era: 5 min disconnect timeout, 15 s heartbeat, no connecting stage",
                 "docs": "90 s timeout, connected_after 30 s",
                 "fast": "3 s timeout, 1 s heartbeat and batch",
                 "replay": "every timing a remedy waits on is seconds long: 6 s timeout, 2 s heartbeat, "
                           "pending timeout 6 s"}


def _secs(v: float) -> str:
    """Seconds as the sliders show them, rounded like :func:`~repro_lib.durations.format_duration` (to the
    millisecond, no float noise: ``317.00000001`` -> ``317s``)."""
    return f"{round(float(v), 3):.3f}".rstrip("0").rstrip(".") + "s"


def _fix_label(name: str) -> str:
    """``redispatch-on-join`` -> ``B redispatch-on-join``; ``none`` stays ``none``."""
    return f"{FIX_LETTERS[name]} {name}" if name in FIX_LETTERS else name


def figure_title(run: Run) -> str:
    """The figure's title: scenario, backend, the fix (with its letter), the preset and every timing that
    differs from the preset's own value (``disconnect_timeout=90s``), and the verdict."""
    from repro_lib.timings import Timings

    t: Timings = run.timings
    base = timings_from({"preset": t.preset})
    changed = []
    for f in fields(t):
        v, b = getattr(t, f.name), getattr(base, f.name)
        if f.name != "preset" and v != b:
            changed.append(f"{f.name}={_secs(v) if isinstance(v, float) else v}")
    timings = f"timings {t.preset}" + (f" with {', '.join(changed)}" if changed else "")
    fix = "+".join(_fix_label(x) for x in run.fix)
    return f"{run.scenario.name} — {run.backend}, fix {fix}, {timings} — verdict: {run.verdict.verdict}"


def _plot_titled(run: Run, **kw: Any) -> Any:
    """``run.plot`` with :func:`figure_title`, its font made smaller where the title would run off the figure
    (three overridden timings and a long fix name do at 11 pt)."""
    fig = run.plot(title=figure_title(run), **kw)
    sup = fig._suptitle
    if sup is not None:
        get = getattr(fig.canvas, "get_renderer", None)
        if get is None:  # a closed figure's plain canvas
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            get = FigureCanvasAgg(fig).get_renderer
        width, room = sup.get_window_extent(get()).width, fig.bbox.width * 0.98
        if width > room:
            sup.set_fontsize(max(7.0, math.floor(sup.get_fontsize() * room / width * 2) / 2))
    return fig


def _command_html(command: str) -> str:
    """A command line for the panel: each ``--option value`` kept on one line, so a wrap never splits
    ``--set`` after its hyphens (the text, tags stripped, is the command as given)."""
    first, *options = command.split(" --")
    return html.escape(first) + "".join(f" <span style='white-space:nowrap'>{html.escape('--' + o)}</span>"
                                        for o in options)


class _Panel(W.VBox):
    """The explorer's box. Displayed, it carries a static note beside the widget view: JupyterLab shows the
    live widget; a shared HTML report (the view stripped) and a renderer without widgets show the note."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        data = super()._repr_mimebundle_(**kwargs)
        if data is None:
            return None
        data["text/plain"] = PLACEHOLDER
        name, rest = PLACEHOLDER.split(" (", 1)
        data["text/html"] = ("<div class='repro-explorer-placeholder' style='border:1px dashed #9e9e9e;"
                             "padding:6px 10px;color:#424242;max-width:1000px'>"
                             f"<b>{html.escape(name)}</b> ({html.escape(rest)}</div>")
        return data


def _settle_needed(t: Any) -> float:
    """After a restart, the time a node-join evaluation needs to be seen: the connecting stage (promoted
    at a heartbeat) and the reevaluator batch, plus a little."""
    return t.connected_after + (t.heartbeat_interval if t.connected_after else 0) + t.reeval_batch_delay + 2


def _slider(description: str, value: float, lo: float, hi: float, step: float, tooltip: str) -> W.FloatSlider:
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description, tooltip=tooltip,
                         continuous_update=False, readout_format=".0f", style=_LABEL,
                         layout=W.Layout(width="640px"))


class TimingExplorer:
    """A panel over one scenario (default: core-395). ``explorer.widget`` is what to display;
    ``explorer.run()`` runs with the current values (tests call it directly).

    Every result comes with its explanation (:func:`repro_lib.analysis.explain.explain`); the verdict,
    the explanation and the figure are replaced together. Presets set the timings only — where the
    settle is then too short for the preset, it is raised and the panel says so, and put back when
    the preset goes back. **Reset** restores the scenario's values, **lock time axis** keeps the
    x-axis of the current figure for the next runs, **Export** writes the run folder, the figure and
    the exact ``repro run … --set …`` command."""

    def __init__(self, scenario: str | Path = "scenarios/core-395.yaml", *, backend: str = "sim", seed: int = 0,
                 auto: bool | None = None, figsize: tuple[float, float] = (11, 7.5)) -> None:
        self.path = Path(scenario)
        self.doc = load_doc(self.path)
        self.backend = backend
        self.seed = seed
        self.figsize = figsize
        self.auto = (backend == "sim") if auto is None else auto
        self.last_run: Run | None = None
        self.last_figure: Any = None
        self.last_explanation: Any = None
        self.runs = 0
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._xlim: tuple[float, float] | None = None
        self._settle_raised_from: float | None = None
        self.note = ""
        self.export_dir: str | Path = "out/explorer"  # where the Export button writes (relative to the cwd)
        params = self.doc.get("params") or {}
        t = timings_from(self.doc.get("timings") or {})

        def p(name: str, default: str) -> float:
            from repro_lib.durations import parse_duration
            return parse_duration(params.get(name, default))

        self.kill_to_deploy = _slider("kill → deploy (seconds)", p("kill_to_deploy", "5s"), 0, 900, 1,
                                      "How long after the edges die the new job is deployed")
        self.downtime = _slider("downtime before restart (s)", p("downtime", "30s"), 0, 900, 1,
                                "How long the edges stay dead after that deploy")
        self.settle = _slider("settle after restart (seconds)", p("settle", "20s"), 5, 900, 1,
                              "How long after the restart the run is judged (the seed waits 20 s)")
        self.disconnect_timeout = _slider("disconnect timeout (seconds)", t.disconnect_timeout, 3, 900, 1,
                                          "No heartbeat for this long: the orchestrator marks the node disconnected")
        self.heartbeat_interval = _slider("heartbeat interval (seconds)", t.heartbeat_interval, 1, 60, 1,
                                          "How often an edge sends a heartbeat")
        self.reeval_batch_delay = _slider("node-join batch delay (seconds)", t.reeval_batch_delay, 1, 60, 1,
                                          "The reevaluator's debounce before a node-join evaluation")
        self.preset = W.Dropdown(options=list(PRESETS), value=t.preset, description="timing preset", style=_LABEL,
                                 layout=W.Layout(width=_DROPDOWN_WIDTH),
                                 tooltip="; ".join(f"{k}: {_PRESET_NOTES.get(k, k)}" for k in PRESETS))
        self.fix = W.Dropdown(options=list(FIXES), value=(self.doc.get("fix") or "none"), description="fix",
                              style=_LABEL, layout=W.Layout(width=_DROPDOWN_WIDTH),
                              tooltip="; ".join(f"{n} = approach {x}" + (" (upstream's design)" if x == "C" else "")
                                                for n, x in FIX_LETTERS.items()))
        self.edges = W.IntSlider(value=len(self.doc.get("edges") or [1, 2]), min=1, max=20, description="edges",
                                 continuous_update=False, style=_LABEL, layout=W.Layout(width="640px"),
                                 tooltip="How many edges are killed and restarted")
        self.lock_axis = W.Checkbox(value=False, description="lock time axis", indent=False,
                                    tooltip="Keep the current figure's time axis for the next runs")
        self.run_button = W.Button(description="Run", button_style="primary", icon="play", tooltip="Run now")
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True,
                                      tooltip="Stop a live run at its next step",
                                      layout=W.Layout(display="none" if backend == "sim" else ""))
        self.reset_button = W.Button(description="Reset", icon="undo", tooltip="Back to the scenario's own values")
        self.export_button = W.Button(description="Export", icon="download",
                                      tooltip="Save the run folder and the figure; show the repro run command")
        # width auto and no shrinking: the label ("settle until the remedy at t=210s") is never cut
        self.settle_button = W.Button(description="settle until the remedy", icon="forward",
                                      tooltip="A fix's re-dispatch is due after this run ended: settle until then",
                                      layout=W.Layout(display="none", width="auto", flex="0 0 auto"))
        self.progress = W.FloatProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="300px"))
        self.status = W.HTML("<b>VERDICT: (not run yet)</b>")
        self.explanation = W.HTML("")
        self.export_result = W.HTML("")  # what Export wrote, or why it could not
        self.plot = W.Output()
        self._widget: W.Widget | None = None
        self._initial = {w: w.value for w in self.controls}
        self.run_button.on_click(lambda _: self.start())
        self.cancel_button.on_click(lambda _: self._cancel.set())
        self.reset_button.on_click(lambda _: self.reset())
        self.export_button.on_click(lambda _: self.export_to_panel(self.export_dir))
        self.settle_button.on_click(lambda _: self.settle_until_remedy())
        self.lock_axis.observe(self._on_lock, names="value")
        self.preset.observe(self._on_preset, names="value")
        for w in self.controls:
            if w is not self.preset:
                w.observe(self._on_change, names="value")
        self._quiet = False

    # -- layout ----------------------------------------------------------------------------------
    @property
    def controls(self) -> list[W.Widget]:
        return [self.kill_to_deploy, self.downtime, self.settle, self.preset, self.disconnect_timeout,
                self.heartbeat_interval, self.reeval_batch_delay, self.fix, self.edges]

    @property
    def widget(self) -> W.Widget:
        """The panel (built once). Displayed, it also carries :data:`PLACEHOLDER` for static renderings."""
        if self._widget is None:
            self.lock_axis.layout = W.Layout(width="auto", flex="0 0 auto")
            buttons = W.HBox([self.run_button, self.cancel_button, self.reset_button, self.export_button,
                              self.settle_button, self.lock_axis, self.progress],
                             layout=W.Layout(flex_flow="row wrap", align_items="center"))
            self._widget = _Panel([*self.controls, buttons, self.export_result, self.status, self.explanation,
                                   self.plot])
        return self._widget

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- values -----------------------------------------------------------------------------------
    def sets(self) -> list[str]:
        """The current values as ``--set`` overrides (what ``repro run`` would take), in seconds like the
        sliders."""
        d = _secs
        return [f"timings.preset={self.preset.value}",
                f"timings.disconnect_timeout={d(self.disconnect_timeout.value)}",
                f"timings.heartbeat_interval={d(self.heartbeat_interval.value)}",
                f"timings.reeval_batch_delay={d(self.reeval_batch_delay.value)}",
                f"fix={self.fix.value}",
                f"params.kill_to_deploy={d(self.kill_to_deploy.value)}",
                f"params.downtime={d(self.downtime.value)}",
                f"params.settle={d(self.settle.value)}",
                f"edges={int(self.edges.value)}"]

    def command(self) -> str:
        """The ``repro run`` command line that reproduces the current result."""
        import shlex
        return " ".join(["repro", "run", shlex.quote(str(self.path)), *(f"--set {shlex.quote(x)}" for x in self.sets()),
                         f"--seed {self.seed}", *([f"--backend {self.backend}"] if self.backend != "sim" else [])])

    def _on_preset(self, change: dict[str, Any]) -> None:
        t = timings_from({"preset": change["new"]})
        need = float(math.ceil(_settle_needed(t)))  # the slider's step: whole seconds
        self._quiet = True
        try:
            self.disconnect_timeout.value = t.disconnect_timeout
            self.heartbeat_interval.value = t.heartbeat_interval
            self.reeval_batch_delay.value = t.reeval_batch_delay
            if self.settle.value < need:  # visibly, and undone when the preset goes back
                if self._settle_raised_from is None:
                    self._settle_raised_from = self.settle.value
                self.settle.value = need
                self.note = (f"settle raised to {_secs(need)} for the {change['new']} preset (connecting stage + "
                             "node-join batch), so the node-join evaluation is seen")
            elif self._settle_raised_from is not None and self._settle_raised_from >= need:
                self.settle.value = self._settle_raised_from
                self.note = f"settle back to {_secs(self._settle_raised_from)}"
                self._settle_raised_from = None
        finally:
            self._quiet = False
        self._on_change(change)

    def _on_change(self, change: dict[str, Any]) -> None:
        if change.get("owner") is self.settle and not self._quiet:
            self._settle_raised_from = None  # the user set it: no longer ours to put back
        if self.auto and not self._quiet:
            self.run()

    def _on_lock(self, change: dict[str, Any]) -> None:
        if change["new"] and self.last_figure is not None:
            self._xlim = tuple(self.last_figure.axes[-1].get_xlim())
        elif not change["new"]:
            self._xlim = None

    def reset(self) -> Run | None:
        """Every control back to the scenario's own value, then one run."""
        self._quiet = True
        try:
            for w, v in self._initial.items():
                w.value = v
            self._settle_raised_from = None
            self.note = "reset to the scenario's values"
        finally:
            self._quiet = False
        return self.run() if self.auto else None

    def settle_until_remedy(self) -> Run | None:
        """One click: settle long enough for the remedy the last run said was due (fix E's timer)."""
        ex, run = self.last_explanation, self.last_run
        if ex is None or run is None or ex.settle_until is None:
            return None
        # whole seconds (the slider's step), rounded up: the remedy is seen and the command reads `settle=118s`
        want = self.settle.value + (ex.settle_until - run.final.t_s) + 5
        self.settle.value = min(self.settle.max, float(math.ceil(want)))
        return self.last_run

    def export(self, out_dir: str | Path = "out/explorer") -> str:
        """Write the last run's folder and figure under ``out_dir``; return what was written and the command."""
        if self.last_run is None:
            return "nothing to export yet: run first"
        out, _ = self._export(out_dir)
        from repro_lib.redact import redact
        return redact(f"{self.command()}\nrun folder: {out / 'run'}\nfigure: {out / 'timeline.png'}")

    def _export(self, out_dir: str | Path) -> tuple[Path, list[str]]:
        """Write the export folder; return it and the files in it (relative, sorted)."""
        assert self.last_run is not None
        from repro_lib.analysis.plots import save
        from repro_lib.output import WRITTEN, folder
        from repro_lib.redact import redact
        out = Path(out_dir) / f"run-{self.runs:03d}"
        with folder(out, "export folder") as tmp:  # missing, empty or an earlier export: never a user's folder
            self.last_run.write(tmp / "run")
            save(self._plot(self.last_run), str(tmp / "timeline.png"))
            (tmp / "command.txt").write_text(redact(self.command() + "\n"))
        files = sorted(os.path.relpath(os.path.join(r, f), out) for r, _, fs in os.walk(out) for f in fs
                       if f != WRITTEN)
        return out, files

    def export_to_panel(self, out_dir: str | Path = "out/explorer") -> bool:
        """The Export button: export, then show in the panel itself (not the log console) the folder, its
        files and the exact command — or, on failure, one line saying why. True if something was written."""
        from repro_lib.redact import redact
        if self.last_run is None:
            self.export_result.value = "<span style='color:#a66b00'>Export: nothing to export yet — run first</span>"
            return False
        try:
            out, files = self._export(out_dir)
        except Exception as e:  # noqa: BLE001 - a button's error goes to the panel, not to the log console
            msg, hint = str(e) or type(e).__name__, getattr(e, "hint", None)
            line = " ".join(f"{msg}{f' ({hint})' if hint and hint not in msg else ''}".split())  # one line
            self.export_result.value = (f"<span style='color:#b00020'>Export failed: "
                                        f"{html.escape(redact(line))}</span>")
            return False
        runs = [f[len("run/"):] for f in files if f.startswith("run/")]
        logs = [f for f in runs if f.startswith("logs/")]
        shown = [f for f in runs if not f.startswith("logs/")] + ([f"logs/ ({len(logs)} files)"] if logs else [])
        top = [f for f in files if not f.startswith("run/")]
        code = "style='background:#f5f5f5;padding:1px 4px'"
        where = html.escape(f"{out.absolute()}/")
        self.export_result.value = redact(
            f"<div style='max-width:1000px'><b>Exported</b> to <code {code}>{where}</code>: "
            f"{', '.join(html.escape(f) for f in top)}, run/ ({', '.join(html.escape(f) for f in shown)})<br>"
            f"reproduce it with: <code {code}>{_command_html(self.command())}</code></div>")
        return True

    def _plot(self, run: Run) -> Any:
        fig = _plot_titled(run, figsize=self.figsize, xlim=self._xlim)
        for t in fig.axes[0].texts:  # plot_run names what the locked axis leaves out; say how to see it
            if t.get_gid() == "off-axis":
                t.set_text(f"{t.get_text()} — untick 'lock time axis' to see them")
        keep_inside(fig)
        return fig

    # -- running ----------------------------------------------------------------------------------
    def run(self) -> Run | None:
        """Run once with the current values, synchronously; redraw verdict, explanation and figure."""
        self._cancel.clear()
        self.export_result.value = ""  # it described the run the panel showed; a new one is coming
        self.status.value = f"<b style='color:#1565c0'>⏳ running… (run {self.runs + 1})</b>"
        try:
            doc = with_edges(self.doc, int(self.edges.value))
            sc = parse_scenario(doc, path=self.path, sets=[x for x in self.sets() if not x.startswith("edges=")])
            steps = len(sc.steps)

            def progress(step: Any, _stack: Any) -> None:
                if self._cancel.is_set():
                    raise Cancelled("cancelled by the user", hint="the stack was torn down")
                self.progress.value = step.index / steps
                self.progress.description = step.op

            run = run_scenario(sc, backend=self.backend, seed=self.seed, progress=progress)
        except ReproError as e:
            self.status.value = f"<b style='color:#b00020'>ERROR: {html.escape(str(e))}</b>"
            return None
        self.runs += 1
        self.last_run = run
        self.progress.value = 1.0
        self.progress.description = "done"
        self._show(run)
        return run

    def start(self) -> None:
        """The Run button: on the sim, run now; on a live backend, run in a background thread."""
        if self.backend == "sim":
            self.run()
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self.status.value = f"<b>running on {self.backend}… (Cancel stops at the next step)</b>"

        def work() -> None:
            try:
                self.run()
            finally:
                self.run_button.disabled, self.cancel_button.disabled = False, True

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()

    def _show(self, run: Run) -> None:
        from repro_lib.analysis.explain import explain

        v = run.verdict
        colour = {"reproduced": "#b00020", "not_reproduced": "#1b7f3b"}.get(v.verdict, "#a66b00")
        stuck = f" — {len(v.stuck)} execution(s) stuck" if v.stuck else ""
        head = f"<b style='color:{colour}'>VERDICT: {v.verdict}</b>{stuck}"
        if run.error:  # a stopped run has no verdict worth stating; its partial timeline is still drawn
            head = f"<b style='color:#a66b00'>RUN STOPPED: {html.escape(run.error)}</b>"
        ex = explain(run)
        self.last_explanation = ex
        note = f"<br><i>{html.escape(self.note)}</i>" if self.note else ""
        self.note = ""
        fig = self._plot(run)
        self.last_figure = fig
        # the figure first, then the words: the verdict never sits above the previous timeline
        with self.plot:
            self.plot.clear_output(wait=True)
            display(fig)
        plt.close(fig)
        self.explanation.value = (f"<div style='max-width:1000px'>{html.escape(ex.text())}{note}</div>")
        self.settle_button.layout.display = "" if ex.settle_until is not None else "none"
        if ex.settle_until is not None:
            self.settle_button.description = f"settle until the remedy at t={_secs(math.ceil(ex.settle_until))}"
        self.status.value = (f"{head} <span style='color:#666'>(run {self.runs}: <code>"
                             f"{_command_html(self.command())}</code>)</span>")

    @property
    def verdict_text(self) -> str:
        """The verdict line as plain text (what a person reads in the panel)."""
        import re
        return html.unescape(re.sub(r"<[^>]+>", "", self.status.value))

    @property
    def explanation_text(self) -> str:
        import re
        return html.unescape(re.sub(r"<[^>]+>", "", self.explanation.value))


def show_static(run: Run) -> None:
    """What a shared HTML report needs: the verdict, its explanation and the figure as plain outputs."""
    from repro_lib.analysis.explain import explain

    display(HTML(run._repr_html_()))
    display(HTML(f"<p style='max-width:1000px'>{html.escape(explain(run).text())}</p>"))
    fig = _plot_titled(run)
    display(fig)
    plt.close(fig)


