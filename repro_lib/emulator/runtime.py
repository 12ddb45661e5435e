"""The asyncio side of the live emulator: a clock, timers, log output and the NATS connection.

The model owns no time. Here ``now`` is Unix seconds (so a :class:`LogRecord` formatted against
the Unix epoch shows the real wall time), read from the monotonic clock so it never jumps
backwards. A model :class:`Timer` fires through ``loop.call_at`` and is delivered with
``now == timer.at`` exactly, as in the sim driver: the model matches timers by their time
(``ReEvaluator.deadline``, ``Dispatcher._retry_at``, transport registration).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from repro_lib.emulator import natsopts
from repro_lib.logfmt import FORMATS, LogRecord, format_record
from repro_lib.model.types import Policies, Timer
from repro_lib.timings import Timings, timings_from

__all__ = ["UNIX_EPOCH", "Clock", "LogOut", "Timers", "EmulatorConfig", "connect_nats", "subscribe", "load_config",
           "run_main", "LEVELS"]

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LEVELS = {"TRACE": 0, "DEBUG": 10, "INFO": 20, "WARN": 30, "ERROR": 40}


class Clock:
    """Unix seconds from the monotonic clock; never goes backwards."""

    def __init__(self) -> None:
        self._wall0 = time.time()
        self._mono0 = time.monotonic()
        self._last = 0.0

    def now(self) -> float:
        t = self._wall0 + (time.monotonic() - self._mono0)
        if t > self._last:
            self._last = t
        return self._last

    def loop_time(self, at: float) -> float:
        """The ``loop.time()`` value (monotonic) for Unix time ``at``."""
        return self._mono0 + (at - self._wall0)


class LogOut:
    """Writes records as the real binaries do (slog text / JSON / zerolog console), one line each,
    flushed at once so ``docker logs`` and captured files see every line before a kill."""

    def __init__(self, fmt: str = "text", level: str = "DEBUG", stream: IO[str] | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown log format {fmt!r}; use one of {', '.join(FORMATS)}")
        self.fmt = fmt
        self.min_level = LEVELS.get(level.upper(), 10)
        self.stream = stream or sys.stdout

    def emit(self, records: Iterable[LogRecord]) -> None:
        lines = [format_record(r, UNIX_EPOCH, self.fmt) for r in records
                 if LEVELS.get(r.level, 20) >= self.min_level]
        if lines:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()

    def log(self, now: float, source: str, level: str, msg: str, **kv: object) -> None:
        self.emit([LogRecord(now, source, level, msg, tuple(kv.items()))])


class Timers:
    """Arms model timers on the event loop; ``fire(at, key)`` is called with ``at`` exactly."""

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Clock, fire: Callable[[float, Any], None]) -> None:
        self.loop = loop
        self.clock = clock
        self.fire = fire
        self._handles: set[asyncio.TimerHandle] = set()

    def arm(self, timers: Iterable[Timer]) -> None:
        for tm in timers:
            self._arm_one(tm)

    def _arm_one(self, tm: Timer) -> None:
        box: list[asyncio.TimerHandle] = []

        def cb() -> None:
            self._handles.discard(box[0])
            self.fire(tm.at, tm.key)

        box.append(self.loop.call_at(self.clock.loop_time(tm.at), cb))
        self._handles.add(box[0])

    def cancel_all(self) -> None:
        for h in self._handles:
            h.cancel()
        self._handles.clear()

    def __len__(self) -> int:
        return len(self._handles)


# -- configuration ------------------------------------------------------------------------------
class EmulatorConfig:
    """What a process needs: timings, fixes, NATS URL and transport preset, log format/level, data dir,
    API address."""

    def __init__(self, *, timings: Timings, policies: Policies, nats_url: str, log_format: str,
                 log_level: str, data_dir: Path, api_host: str = "0.0.0.0", api_port: int = 9010,
                 name: str = "", labels: dict[str, str] | None = None,
                 nats_timings: str = natsopts.DEFAULT_NATS_TIMINGS) -> None:
        self.timings = timings
        self.policies = policies
        self.nats_url = nats_url
        self.log_format = log_format
        self.log_level = log_level
        self.data_dir = data_dir
        self.api_host = api_host
        self.api_port = api_port
        self.name = name
        self.labels = dict(labels or {})
        self.nats_timings = nats_timings


# node_manager / scheduler keys of the mounted config files -> Timings fields
_CONFIG_TIMINGS = {
    "heartbeat_interval": "heartbeat_interval",
    "disconnect_timeout": "disconnect_timeout",
    "connected_after": "connected_after",
    "lost_timeout": "lost_timeout",
    "reevaluation_batch_interval": "reeval_batch_delay",
    "housekeeping_interval": "housekeeping_interval",
}


def route_outputs(drained: tuple[list[Any], list[Timer], list[LogRecord]], out: LogOut,
                  timers: Timers | None, queue: asyncio.Queue[tuple[str, bytes]]) -> None:
    """Send a drained model :class:`~repro_lib.model.types.Outbox` where it goes: log records to
    the log, timers to the timer wheel, publishes (in order) to the NATS publisher's queue."""
    pubs, new_timers, logs = drained
    if logs:
        out.emit(logs)
    if new_timers and timers is not None:
        timers.arm(new_timers)
    for p in pubs:
        queue.put_nowait((p.subject, json.dumps(p.payload).encode()))


def _dig(doc: Any, *path: str) -> Any:
    for p in path:
        doc = doc.get(p) if isinstance(doc, dict) else None
    return doc


def load_config(role: str, argv_config: str | None, argv_level: str | None,
                env: dict[str, str] | None = None) -> EmulatorConfig:
    """Config file (``--config``) < environment (``EXPANSO_*``) < command-line flags.

    ``EXPANSO_EMULATOR_TIMINGS`` (JSON, e.g. ``{"preset": "fast"}`` or every field; it replaces the
    file's timings) and
    ``EXPANSO_EMULATOR_FIX`` (``none``, ``redispatch-on-join``, comma-separated) are how a stack
    passes a scenario's timings and fixes to the emulated processes;
    ``EXPANSO_EMULATOR_NATS_TIMINGS`` (``real``, the default, or ``short``; file: ``nats.timings``) picks
    the NATS client settings (:mod:`repro_lib.emulator.natsopts`)."""
    import yaml

    env = dict(os.environ if env is None else env)
    doc: dict[str, Any] = {}
    if argv_config:
        p = Path(argv_config)
        if p.is_file():
            try:
                doc = yaml.safe_load(p.read_text()) or {}
            except yaml.YAMLError as e:
                raise SystemExit(f"{role}: config {p} is not valid YAML ({str(e).splitlines()[0]})") from None
        elif argv_config:
            raise SystemExit(f"{role}: config file {p} not found")
    spec: dict[str, Any] = {}
    for section in (_dig(doc, "orchestrator", "node_manager"), _dig(doc, "orchestrator", "scheduler"),
                    _dig(doc, "node_manager"), _dig(doc, "scheduler")):
        for k, v in (section or {}).items():
            if k in _CONFIG_TIMINGS and v is not None:
                spec[_CONFIG_TIMINGS[k]] = v
    raw = env.get("EXPANSO_EMULATOR_TIMINGS", "").strip()
    if raw:
        try:
            extra = json.loads(raw)
        except ValueError:
            raise SystemExit(f"{role}: EXPANSO_EMULATOR_TIMINGS is not JSON: {raw[:80]!r}") from None
        if not isinstance(extra, dict):
            raise SystemExit(f"{role}: EXPANSO_EMULATOR_TIMINGS must be a JSON object, got {raw[:80]!r}")
        spec = dict(extra)  # a scenario's timings replace the file's, they do not patch them
    try:
        timings = timings_from(spec)
    except Exception as e:  # SetError / DurationError: one clear line
        raise SystemExit(f"{role}: bad timings: {e}") from None
    fix = env.get("EXPANSO_EMULATOR_FIX", "").strip() or "none"
    try:
        policies = Policies.from_fix([f.strip() for f in fix.split(",") if f.strip()])
    except ValueError as e:
        raise SystemExit(f"{role}: EXPANSO_EMULATOR_FIX: {e}") from None
    level = (argv_level or env.get("EXPANSO_LOG_LEVEL") or _dig(doc, "log", "level") or "debug").upper()
    if level not in LEVELS:
        raise SystemExit(f"{role}: unknown log level {level.lower()!r}; use trace, debug, info, warn or error")
    fmt = (env.get("EXPANSO_LOG_FORMAT") or _dig(doc, "log", "format") or "text").lower()
    if fmt not in FORMATS:
        raise SystemExit(f"{role}: unknown log format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        nats_timings = natsopts.check_preset(env.get("EXPANSO_EMULATOR_NATS_TIMINGS", "").strip()
                                             or _dig(doc, "nats", "timings") or natsopts.DEFAULT_NATS_TIMINGS,
                                             "EXPANSO_EMULATOR_NATS_TIMINGS")
    except ValueError as e:
        raise SystemExit(f"{role}: {e}") from None
    nats_url = (env.get("EXPANSO_NATS_URL") or env.get("NATS_URL") or _dig(doc, "nats", "url")
                or _dig(doc, "orchestrator", "nats", "url") or "nats://127.0.0.1:4222")
    data_dir = Path(env.get("EXPANSO_DATA_DIR") or _dig(doc, "data_dir")
                    or f"/var/lib/expanso/{'orchestrator' if role == 'orchestrator' else 'edge'}")
    api_port = int(env.get("EXPANSO_API_PORT") or _dig(doc, "api", "port") or 9010)
    api_host = env.get("EXPANSO_API_HOST") or _dig(doc, "api", "host") or "0.0.0.0"
    name = env.get("EXPANSO_NODE_NAME") or _dig(doc, "name") or os.uname().nodename
    labels = dict(_dig(doc, "labels") or {})
    for item in (env.get("EXPANSO_NODE_LABELS") or "").split(","):
        k, sep, v = item.partition("=")
        if sep and k.strip():
            labels[k.strip()] = v.strip()
    return EmulatorConfig(timings=timings, policies=policies, nats_url=nats_url, log_format=fmt,
                          log_level=level, data_dir=data_dir, api_host=api_host, api_port=api_port,
                          name=name, labels={str(k): str(v) for k, v in labels.items()},
                          nats_timings=nats_timings)


# -- NATS ---------------------------------------------------------------------------------------
async def connect_nats(url: str, name: str, out: LogOut, clock: Clock, source: str,
                       nats_timings: str = natsopts.DEFAULT_NATS_TIMINGS) -> Any:
    """Connect with the preset's client settings (``real``: nats.go's defaults and Bacalhau's
    ``MaxReconnects(-1)``, see :mod:`.natsopts`), retrying every 0.5 s until the server answers (a
    container may start before NATS); reconnect forever afterwards."""
    import nats

    options = natsopts.connect_options(nats_timings)
    up = [False]  # connect attempts report their own failures below

    async def on_error(e: Exception) -> None:
        if up[0]:
            out.log(clock.now(), source, "WARN", "NATS: error", err=f"{type(e).__name__}: {e}"[:200])

    async def on_disconnected() -> None:
        if up[0]:
            out.log(clock.now(), source, "WARN", "NATS: disconnected", url=url)

    async def on_reconnected() -> None:
        out.log(clock.now(), source, "INFO", "NATS: reconnected", url=url)

    attempt = 0
    while True:
        attempt += 1
        try:
            nc = await nats.connect(servers=[url], name=name, error_cb=on_error, disconnected_cb=on_disconnected,
                                    reconnected_cb=on_reconnected, **options)
            up[0] = True
            out.log(clock.now(), source, "INFO", "NATS: connected", url=url, attempts=attempt,
                    nats_timings=nats_timings, ping_interval=f"{options['ping_interval']:g}s",
                    max_pings_out=options["max_outstanding_pings"])
            return nc
        except Exception as e:  # noqa: BLE001 - any failure: try again
            if attempt == 1 or attempt % 20 == 0:
                out.log(clock.now(), source, "WARN", "NATS: connect failed, retrying", url=url,
                        err=type(e).__name__, attempts=attempt)
            await asyncio.sleep(0.5)


async def subscribe(nc: Any, subject: str, cb: Callable[[Any], Any]) -> Any:
    """``nc.subscribe`` with nats.go's slow-consumer limits (:data:`.natsopts.SUBSCRIBE_LIMITS`)."""
    return await nc.subscribe(subject, cb=cb, **natsopts.subscribe_options())


def run_main(coro_factory: Callable[[asyncio.Event], Any]) -> int:
    """Run a process: SIGTERM/SIGINT set the stop event; the coroutine returns the exit code."""

    async def _main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return int(await coro_factory(stop) or 0)

    try:
        return asyncio.run(_main())
    except KeyboardInterrupt:
        return 130
