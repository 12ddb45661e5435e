"""ipywidgets panels: change the timings that matter and re-run the scenario in place.

On the sim a run takes milliseconds, so every (released) slider change re-runs it; on a live
backend (compose, local) runs take minutes, so only the Run button starts one, in a background
thread, with a progress bar and a Cancel button. The figure and the verdict are redrawn in place.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import ipywidgets as W
import matplotlib.pyplot as plt
from IPython.display import HTML, display

from repro_lib.durations import format_duration
from repro_lib.errors import ReproError
from repro_lib.experiments import default_settle, load_doc, with_edges
from repro_lib.model.types import FIXES
from repro_lib.run import Run
from repro_lib.scenario import parse_scenario, run_scenario
from repro_lib.timings import PRESETS, timings_from

__all__ = ["TimingExplorer", "Cancelled", "show_static"]


class Cancelled(ReproError):
    """The user pressed Cancel; the run stops at the next step and the stack is torn down."""


def _slider(description: str, value: float, lo: float, hi: float, step: float) -> W.FloatSlider:
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                         continuous_update=False, readout_format=".0f",
                         style={"description_width": "150px"}, layout=W.Layout(width="460px"))


class TimingExplorer:
    """A panel over one scenario (default: core-395). ``explorer.widget`` is what to display;
    ``explorer.run()`` runs with the current values (tests call it directly)."""

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
        self.runs = 0
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        params = self.doc.get("params") or {}
        t = timings_from(self.doc.get("timings") or {})

        def p(name: str, default: str) -> float:
            from repro_lib.durations import parse_duration
            return parse_duration(params.get(name, default))

        self.kill_to_deploy = _slider("kill → deploy (s)", p("kill_to_deploy", "5s"), 0, 900, 5)
        self.downtime = _slider("downtime before restart (s)", p("downtime", "30s"), 0, 900, 5)
        self.settle = _slider("settle after restart (s)", p("settle", "20s"), 5, 600, 5)
        self.disconnect_timeout = _slider("disconnect_timeout (s)", t.disconnect_timeout, 3, 900, 1)
        self.heartbeat_interval = _slider("heartbeat_interval (s)", t.heartbeat_interval, 1, 60, 1)
        self.reeval_batch_delay = _slider("reeval batch delay (s)", t.reeval_batch_delay, 1, 60, 1)
        self.preset = W.Dropdown(options=list(PRESETS), value=t.preset, description="timing preset",
                                 style={"description_width": "150px"})
        self.fix = W.Dropdown(options=list(FIXES), value=(self.doc.get("fix") or "none"), description="fix",
                              style={"description_width": "150px"})
        self.edges = W.IntSlider(value=len(self.doc.get("edges") or [1, 2]), min=1, max=20, description="edges",
                                 continuous_update=False, style={"description_width": "150px"})
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = W.FloatProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="300px"))
        self.status = W.HTML("<b>VERDICT: (not run yet)</b>")
        self.plot = W.Output()
        self.run_button.on_click(lambda _: self.start())
        self.cancel_button.on_click(lambda _: self._cancel.set())
        self.preset.observe(self._on_preset, names="value")
        for w in self.controls:
            if w is not self.preset:
                w.observe(self._on_change, names="value")
        self._applying_preset = False

    # -- layout ----------------------------------------------------------------------------------
    @property
    def controls(self) -> list[W.Widget]:
        return [self.kill_to_deploy, self.downtime, self.settle, self.preset, self.disconnect_timeout,
                self.heartbeat_interval, self.reeval_batch_delay, self.fix, self.edges]

    @property
    def widget(self) -> W.Widget:
        left = W.VBox(self.controls[:3] + [self.preset, self.fix, self.edges])
        right = W.VBox(self.controls[4:7] + [W.HBox([self.run_button, self.cancel_button]), self.progress])
        return W.VBox([W.HBox([left, right]), self.status, self.plot])

    def _ipython_display_(self) -> None:
        display(self.widget)

    # -- values -----------------------------------------------------------------------------------
    def sets(self) -> list[str]:
        """The current values as ``--set`` overrides (what ``repro run`` would take)."""
        d = format_duration
        return [f"timings.preset={self.preset.value}",
                f"timings.disconnect_timeout={d(self.disconnect_timeout.value)}",
                f"timings.heartbeat_interval={d(self.heartbeat_interval.value)}",
                f"timings.reeval_batch_delay={d(self.reeval_batch_delay.value)}",
                f"fix={self.fix.value}",
                f"params.kill_to_deploy={d(self.kill_to_deploy.value)}",
                f"params.downtime={d(self.downtime.value)}",
                f"params.settle={d(self.settle.value)}"]

    def _on_preset(self, change: dict[str, Any]) -> None:
        t = timings_from({"preset": change["new"]})
        self._applying_preset = True
        try:
            self.settle.value = max(self.settle.value, default_settle(change["new"]))
            self.disconnect_timeout.value = t.disconnect_timeout
            self.heartbeat_interval.value = t.heartbeat_interval
            self.reeval_batch_delay.value = t.reeval_batch_delay
        finally:
            self._applying_preset = False
        self._on_change(change)

    def _on_change(self, _: dict[str, Any]) -> None:
        if self.auto and not self._applying_preset:
            self.run()

    # -- running ----------------------------------------------------------------------------------
    def run(self) -> Run | None:
        """Run once with the current values, synchronously; redraw verdict and figure."""
        self._cancel.clear()
        try:
            doc = with_edges(self.doc, int(self.edges.value))
            sc = parse_scenario(doc, path=self.path, sets=self.sets())
            steps = len(sc.steps)

            def progress(step: Any, _stack: Any) -> None:
                if self._cancel.is_set():
                    raise Cancelled("cancelled by the user", hint="the stack was torn down")
                self.progress.value = step.index / steps
                self.progress.description = step.op

            run = run_scenario(sc, backend=self.backend, seed=self.seed, progress=progress)
        except ReproError as e:
            self.status.value = f"<b style='color:#b00020'>ERROR: {e}</b>"
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
        v = run.verdict
        colour = {"reproduced": "#b00020", "not_reproduced": "#1b7f3b"}.get(v.verdict, "#a66b00")
        stuck = f" — {len(v.stuck)} execution(s) stuck" if v.stuck else ""
        head = f"<b style='color:{colour}'>VERDICT: {v.verdict}</b>{stuck}"
        if run.error:  # a stopped run has no verdict worth stating; its partial timeline is still drawn
            head = f"<b style='color:#a66b00'>RUN STOPPED: {html.escape(run.error)}</b>"
        self.status.value = f"{head} <span style='color:#666'>(run {self.runs}: {' '.join(self.sets())})</span>"
        with self.plot:
            self.plot.clear_output(wait=True)
            fig = run.plot(figsize=self.figsize)
            self.last_figure = fig
            display(fig)
            plt.close(fig)

    @property
    def verdict_text(self) -> str:
        """The verdict line as plain text (what a person reads in the panel)."""
        import re
        return re.sub(r"<[^>]+>", "", self.status.value)


def show_static(run: Run) -> None:
    """What a shared HTML report needs: the verdict and the figure as plain outputs."""
    display(HTML(run._repr_html_()))
    fig = run.plot()
    display(fig)
    plt.close(fig)


