"""What every live stack shares (LocalStack, ComposeStack, CloudStack): real time, waits that poll
a condition with a timeout (and say what they are waiting for), snapshots from the CLI/API, a
``stack.log`` of the kit's own actions, and the events table built from the captured logs.

Host side only (pandas is fine here); the emulated processes never import this module.
"""

from __future__ import annotations

import atexit
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from repro_lib.errors import StackError
from repro_lib.logfmt import LogRecord, format_record
from repro_lib.snapshot import Snapshot
from repro_lib.stacks import StackGuards

__all__ = ["LiveStack", "Progress", "UNIX_EPOCH",
           "QUICK_SETS"]

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIME_FIELDS = ("created_at", "updated_at", "connected_since", "last_heartbeat")
_INT_FIELDS = ("version", "dispatches")
_STARTING = re.compile(r'EDGE: starting.*?node_id["=:\s]+"?([A-Za-z0-9_.\-]+)')

Progress = Callable[[str], None]

#: ``--set`` overrides that run core-395 (and its fix variants) on a live stack in about 15 s:
#: the repro timings scaled down (heartbeat 3 s, batch 3 s, disconnect 60 s — still far longer
#: than the whole run, so the killed edges stay "connected") and the seed's waits shortened.
#: The sim gives the same verdict and final states with them.
QUICK_SETS = (
    "timings.heartbeat_interval=3s", "timings.disconnect_timeout=60s", "timings.reeval_batch_delay=3s",
    "timings.edge_boot_delay=200ms", "timings.execution_start_delay=200ms", "timings.edge_reconnect_interval=2s",
    "params.connected_for=4s", "params.kill_to_deploy=1s", "params.downtime=4s", "params.settle=8s",
)


def _stderr_progress(msg: str) -> None:
    print(f"  … {msg}", file=sys.stderr, flush=True)


class LiveStack(StackGuards):
    """Base class: subclasses implement ``_start``, ``_stop``, ``_rows`` and the fault steps."""

    backend = "live"
    #: how often waits poll their condition (seconds)
    poll_interval = 0.25
    #: print progress for waits/sleeps longer than this (seconds)
    progress_after = 5.0

    def __init__(self, scenario: Any, seed: int = 0, *, work_dir: str | Path | None = None,
                 progress: bool | Progress = True, keep: bool = False) -> None:
        self.scenario = scenario
        self.seed = seed
        self.timings = scenario.timings
        self.policies = scenario.policies
        self.edges: list[str] = list(scenario.edges)
        self.labels: dict[str, dict[str, str]] = dict(getattr(scenario, "labels", {}) or {})
        self.keep = keep
        self.records: list[LogRecord] = []  # live stacks: events come from the captured logs
        self.counts: dict[str, int] = {}
        self._owns_work = not work_dir  # a caller's work folder is the caller's to announce and remove
        if work_dir:
            self.work = Path(work_dir)
        else:  # a temp folder of our own: removed when this process ends (unless the stack is kept up)
            self.work = Path(tempfile.mkdtemp(prefix=f"repro-{self.backend}-"))
            if not keep:
                atexit.register(shutil.rmtree, self.work, True)
        self.work.mkdir(parents=True, exist_ok=True)
        self.logs = self.work / "logs"
        self.logs.mkdir(exist_ok=True)
        self.cli_dir = self.logs / "cli"
        self._t0_wall: float | None = None
        self._t0_mono = 0.0
        self._snapshots = 0
        self.is_up = False
        self._progress: Progress | None = (_stderr_progress if progress is True else progress or None)

    # -- time ------------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        """Seconds since ``up`` (0 before)."""
        return 0.0 if self._t0_wall is None else time.monotonic() - self._t0_mono

    @property
    def t0(self) -> datetime:
        return datetime.fromtimestamp(self._t0_wall if self._t0_wall is not None else time.time(), UTC)

    def _wall(self) -> float:
        if self._t0_wall is None:
            return time.time()
        return self._t0_wall + (time.monotonic() - self._t0_mono)

    def _mark_t0(self) -> None:
        self._t0_wall = time.time()
        self._t0_mono = time.monotonic()

    def _say(self, msg: str) -> None:
        if self._progress is not None:
            self._progress(msg)

    # -- the kit's own log: actions and (for process stacks) faults -----------------------------
    def stack_log(self, msg: str, level: str = "INFO", **kv: object) -> None:
        rec = LogRecord(self._wall(), "stack", level, msg, tuple(kv.items()))
        with open(self.logs / "stack.log", "a") as f:
            f.write(format_record(rec, UNIX_EPOCH, "text") + "\n")

    # -- Stack protocol: shared parts ------------------------------------------------------------
    def up(self) -> None:
        if self.is_up:
            return
        self._mark_t0()
        try:
            self.stack_log("ACTION: up", backend=self.backend, scenario=self.scenario.name,
                           **self.manifest_fields())
            self._start()
        except BaseException:
            self._safe_stop("up failed")
            raise
        self.is_up = True

    def _add_edge(self, name: str, labels: dict[str, str] | None) -> None:
        """A ``join``'s bookkeeping: a new edge name (refused if it exists) and its labels."""
        self._need_up()
        if name in self.edges:
            raise StackError(f"edge {name!r} already exists", hint="use start to bring it back")
        self.edges.append(name)
        if labels:
            self.labels[name] = dict(labels)

    def down(self) -> None:
        if self._t0_wall is not None:
            self.stack_log("ACTION: down", keep=self.keep)
        self._safe_stop("down")
        self.is_up = False
        if self._t0_wall is not None and self._owns_work:
            self._say(f"logs captured in {self.logs}" + ("" if self.keep else
                      " (a temp folder, removed when this process ends: run.write(DIR) keeps them)"))

    def _safe_stop(self, why: str) -> None:
        try:
            self._stop()
        except Exception as e:  # noqa: BLE001 - tear-down must not hide the first error
            self._say(f"tear-down after {why} incomplete: {e}")

    def advance(self, seconds: float) -> None:
        """``sleep``: real time passes; the stack is checked every second, progress shown."""
        end = time.monotonic() + seconds
        next_note = time.monotonic() + 10.0
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 1.0))
            self._check()
            if seconds > self.progress_after and time.monotonic() >= next_note and end - time.monotonic() > 1:
                self._say(f"sleeping: {end - time.monotonic():.0f}s of {seconds:g}s left (t={self.now:.0f}s)")
                next_note += 10.0

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Poll ``predicate`` every :attr:`poll_interval` until it holds or ``timeout`` passes."""
        start = time.monotonic()
        next_note = start + self.progress_after
        while True:
            if predicate():
                return True
            elapsed = time.monotonic() - start
            if elapsed >= timeout:
                return False
            self._check()
            if time.monotonic() >= next_note:
                self._say(f"waiting: {elapsed:.0f}s of {timeout:g}s (t={self.now:.0f}s)")
                next_note += 10.0
            time.sleep(min(self.poll_interval, max(0.0, timeout - elapsed)))

    def snapshot(self, label: str = "") -> Snapshot:
        """The node, job and execution lists now. A stack that is not up (it failed to start, or
        it broke) gives an empty snapshot for the run's ``final`` one, so the error that stopped
        the run is the one reported."""
        if not self.is_up:
            if label == "final":
                return Snapshot(t_s=round(self.now, 6), label=label)
            self._need_up()
        self.stack_log("ACTION: snapshot", label=label)
        t = self.now
        self._snapshots += 1
        try:
            nodes = self._rows("nodes", save=f"{self._snapshots:03d}")
            jobs = self._rows("jobs", save=f"{self._snapshots:03d}")
            executions = self._rows("executions", save=f"{self._snapshots:03d}")
        except StackError as e:
            if label != "final":
                raise
            self.stack_log("ACTION: snapshot failed", level="ERROR", label=label, err=str(e))
            return Snapshot(t_s=round(t, 6), label=label)
        alive = self._alive_node_ids()
        for n in nodes:
            if alive is not None:
                n["alive"] = n["id"] in alive
        names = {n["id"]: n.get("name", "") for n in nodes}
        for e in executions:
            e.setdefault("node_name", names.get(e["node"], ""))
        return Snapshot(t_s=round(t, 6), label=label, nodes=nodes, jobs=jobs, executions=executions)

    def count_nodes(self, state: str) -> int:
        return sum(1 for n in self._rows("nodes") if n.get("state") == state)

    def job_state(self, name: str) -> str | None:
        return next((j.get("state") for j in self._rows("jobs") if j.get("name") == name), None)

    def count_executions(self, job: str, state: str) -> int:
        return sum(1 for e in self._rows("executions")
                   if e.get("job") == job and e.get("state") == state and e.get("desired") != "stopped")

    # -- rows ---------------------------------------------------------------------------------------
    def normalize(self, kind: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """CLI/API rows → snapshot rows: numbers back to numbers, Unix times to run seconds."""
        out = []
        for r in rows:
            row = {k: v for k, v in r.items() if v is not None and v == v}
            for k in _TIME_FIELDS:
                if k in row:
                    row[k] = self._to_t_s(row[k])
            for k in _INT_FIELDS:
                if k in row:
                    try:
                        row[k] = int(float(row[k]))
                    except (TypeError, ValueError):
                        pass
            for k in ("state", "desired"):
                if isinstance(row.get(k), str):
                    row[k] = row[k].lower()
            out.append(row)
        return out

    def _to_t_s(self, v: Any) -> float | None:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return None
        if x <= 1e9 or self._t0_wall is None:  # 0 = never (e.g. connected_since of a connecting node)
            return None
        return round(x - self._t0_wall, 6)

    def current_node_ids(self) -> dict[str, str]:
        """edge name -> its current node id, from the last ``EDGE: starting`` line in its log."""
        ids: dict[str, str] = {}
        for name in self.edges:
            p = self.logs / f"{name}.log"
            if p.is_file():
                hits = _STARTING.findall(p.read_text(errors="replace"))
                if hits:
                    ids[name] = hits[-1]
        return ids

    # -- the run's events -----------------------------------------------------------------------------
    def events_frame(self) -> Any:
        """Every captured log file → one events table (``t_s`` from ``up``)."""
        import pandas as pd

        from repro_lib.capture import add_t_s, parse_file, resolve_fault_nodes
        from repro_lib.capture.records import records_frame

        frames = [parse_file(p) for p in sorted(self.logs.glob("*.log")) if p.stat().st_size]
        if not frames:
            return records_frame([])
        df = pd.concat(frames, ignore_index=True)
        df = df.sort_values("t", kind="stable").reset_index(drop=True)
        df = add_t_s(df, pd.Timestamp(self.t0))
        return resolve_fault_nodes(df, self.edges)

    def run_fields(self) -> dict[str, Any]:
        """What :class:`repro_lib.run.Run` needs from a live stack (after ``down``)."""
        try:
            stack = self.manifest_fields()
        except Exception:  # noqa: BLE001 - what it runs on could not be read again: the run is still written
            stack = {}
        return {"records": [], "_events": self.events_frame(), "raw_logs": self.logs, "epoch": self.t0,
                "stack": stack}

    # -- for subclasses --------------------------------------------------------------------------------
    def manifest_fields(self) -> dict[str, Any]:
        """What this stack runs on beyond the scenario, as flat ``name: value`` pairs — the local stack's
        nats-server (version, path, how it was chosen), its NATS timings preset, its log format. Written
        on the run's ``ACTION: up`` line (``logs/stack.log``, and the events' ``detail``); may raise a
        :class:`StackError` when what it names cannot be used (the stack then does not start)."""
        return {}

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def _rows(self, kind: str, save: str | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _alive_node_ids(self) -> set[str] | None:
        """Node ids of edges that are really up right now (ground truth), if known."""
        return None

    def _check(self) -> None:
        """Raise :class:`StackError` when the stack broke (e.g. the orchestrator died)."""
