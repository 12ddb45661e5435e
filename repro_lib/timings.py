"""Timing presets and overrides (mechanics.md §3).

Presets:
- ``repro``: the seed's era — heartbeat 15 s, disconnect timeout 5 m, no connecting stage,
  reevaluator batch 15 s, lost 1 h.
- ``docs``: current Expanso docs — disconnect timeout 90 s, connected_after 30 s.
- ``fast``: 1 s heartbeat, 3 s disconnect timeout, 1 s batch (the repro's debug-fast compose).
- ``replay``: every timing a remedy waits on is seconds long (lost 8 s, pending timeout 6 s, watcher
  back-off 2 s, …), so a searched schedule — whose settle waits out all of them — replays on a live
  stack in under a minute (``repro search --set timings.preset=replay``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from repro_lib.durations import format_duration, parse_duration
from repro_lib.errors import SetError

__all__ = ["Timings", "PRESETS", "timings_from"]


@dataclass(frozen=True)
class Timings:
    """Every timing of the model, in seconds. Field names follow the real configs."""

    preset: str = "repro"
    heartbeat_interval: float = 15.0
    disconnect_timeout: float = 300.0
    connected_after: float = 0.0       # 0 = no `connecting` stage (repro era)
    health_check_period: float = 0.0   # 0 = derived: disconnect_timeout/3 clamped to [1 s, 30 s]
    lost_timeout: float = 3600.0
    reeval_batch_delay: float = 15.0
    reeval_max_batch: int = 50
    restart_grace: float = 90.0        # after an orchestrator restart nodes load as connected
    housekeeping_interval: float = 30.0
    pending_timeout: float = 120.0     # fix `pending-timeout`: re-dispatch after this long pending
    watcher_initial_backoff: float = 0.2
    watcher_max_backoff: float = 180.0
    dispatcher_max_attempts: int = 1   # RetryStrategySkip: handler calls before the event is dropped
    transport_register_delay: float = 0.0  # handshake -> transport connection registered (S17 race)
    eval_duration: float = 0.01        # broker dequeue -> plan committed
    nats_latency: float = 0.001
    edge_boot_delay: float = 1.0       # container start -> first handshake
    edge_connect_delay: float = 0.1    # container start -> subscribed to its NATS subject (sim; live: measured ≈ 0.1 s)
    execution_start_delay: float = 1.0 # RunExecutionRequest -> running
    edge_heartbeat_miss_factor: int = 5
    edge_reconnect_interval: float = 10.0
    # fix C (sequence-replay), upstream's NCL data plane (docs/fix-c-sequence-replay.md §7.5)
    plane_retry_base: float = 5.0       # dispatcher recovery back-off: 5 s doubling ...
    plane_retry_max: float = 300.0      # ... to 5 min (dispatcher/config.go:24-25)
    ack_wait: float = 30.0              # an unanswered request fails after this (publisher_config.go:113)
    node_persist_interval: float = 300.0  # the replay cursor is persisted this often (nodes/manager.go:28)
    # the NATS transport under the edges (docs/nats-transport.md, mechanics.md §1.3):
    # ``nats`` = as nats-server 2.14.5 and nats.go 1.53.1 behave: a message to a cut-off edge waits in its TCP
    # connection and arrives at the heal, unless a ping rule closed the connection first (then it is lost);
    # ``drop`` = the kit's earlier reading, [I]: such a message is dropped at once and the subscription stays.
    nats_semantics: str = "nats"
    # the server's and clients' ping, reconnect and write-deadline settings (repro_lib/emulator/natsopts.py):
    # ``real`` = nats-server's and nats.go's defaults (pings 2 min x 2, reconnect every 2 s, write deadline 10 s),
    # ``short`` = one-second pings, for tests; NOT the real defaults (labelled wherever it runs)
    nats_timings: str = "real"

    @property
    def health_check(self) -> float:
        """The node manager's health-check period (Bacalhau rule: timeout/3 in [1 s, 30 s])."""
        if self.health_check_period > 0:
            return self.health_check_period
        return min(30.0, max(1.0, self.disconnect_timeout / 3))

    def describe(self) -> dict[str, str]:
        """Human-readable values (`15s`, `5m`), for summaries and manifests."""
        out: dict[str, str] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v if isinstance(v, str | int) and not isinstance(v, bool) else format_duration(v)
        return out

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_INT_FIELDS = {"reeval_max_batch", "dispatcher_max_attempts", "edge_heartbeat_miss_factor"}
#: the timings that are words: their allowed values
_CHOICE_FIELDS: dict[str, tuple[str, ...]] = {"nats_semantics": ("nats", "drop"), "nats_timings": ("real", "short")}

PRESETS: dict[str, dict[str, Any]] = {
    "repro": {},
    "docs": {"disconnect_timeout": 90.0, "connected_after": 30.0},
    "fast": {
        "heartbeat_interval": 1.0,
        "disconnect_timeout": 3.0,
        "reeval_batch_delay": 1.0,
        "housekeeping_interval": 1.0,
        "edge_reconnect_interval": 1.0,
        "restart_grace": 3.0,
        "plane_retry_base": 1.0,
        "plane_retry_max": 4.0,
        "ack_wait": 3.0,
    },
    "replay": {
        "heartbeat_interval": 2.0,
        "disconnect_timeout": 6.0,
        "reeval_batch_delay": 2.0,
        "lost_timeout": 8.0,
        "pending_timeout": 6.0,
        "housekeeping_interval": 2.0,
        "watcher_max_backoff": 2.0,
        "restart_grace": 3.0,
        "edge_boot_delay": 0.2,
        "execution_start_delay": 0.2,
        "edge_reconnect_interval": 1.0,
        "plane_retry_base": 1.0,
        "plane_retry_max": 2.0,
        "ack_wait": 2.0,
    },
}

_FIELDS = {f.name for f in fields(Timings)}


def timings_from(spec: dict[str, Any] | None = None, **overrides: Any) -> Timings:
    """Build :class:`Timings` from ``{preset: docs, disconnect_timeout: 90s, ...}``."""
    merged = dict(spec or {})
    merged.update(overrides)
    preset = str(merged.pop("preset", "repro"))
    if preset not in PRESETS:
        raise SetError(f"unknown timing preset {preset!r}", hint=f"use one of {', '.join(PRESETS)}")
    values: dict[str, Any] = {"preset": preset, **PRESETS[preset]}
    for key, raw in merged.items():
        if key not in _FIELDS or key == "preset":
            import difflib

            near = difflib.get_close_matches(str(key), sorted(_FIELDS - {"preset"}), n=1)
            raise SetError(
                f"unknown timing {key!r}" + (f" — did you mean {near[0]!r}?" if near else ""),
                hint=f"known timings: {', '.join(sorted(_FIELDS - {'preset'}))}",
            )
        if key in _CHOICE_FIELDS:
            word = str(raw).strip().lower()
            if word not in _CHOICE_FIELDS[key]:
                raise SetError(f"timing {key} must be one of {', '.join(_CHOICE_FIELDS[key])}, got {raw!r}")
            values[key] = word
        elif key in _INT_FIELDS:
            try:
                values[key] = int(raw)
            except (TypeError, ValueError):
                raise SetError(f"timing {key} must be a whole number, got {raw!r}") from None
        else:
            values[key] = parse_duration(raw, what=f"timing {key}")
    t = Timings(**values)
    for name in _POSITIVE:
        if getattr(t, name) <= 0:
            raise SetError(f"timing {name} must be greater than 0, got {getattr(t, name)!r}",
                           hint="a zero interval would make the model loop without time passing")
    if t.connected_after and t.connected_after >= t.disconnect_timeout:
        raise SetError("connected_after must be shorter than disconnect_timeout")
    if t.lost_timeout <= t.disconnect_timeout:
        raise SetError("lost_timeout must be longer than disconnect_timeout (NodeManagerConfig rule)")
    if t.watcher_max_backoff < t.watcher_initial_backoff:
        raise SetError("watcher_max_backoff must not be shorter than watcher_initial_backoff")
    if t.plane_retry_max < t.plane_retry_base:
        raise SetError("plane_retry_max must not be shorter than plane_retry_base")
    return t


# timings that pace a periodic loop or a timeout: 0 would spin (0 is fine for the delays)
_POSITIVE = ("heartbeat_interval", "disconnect_timeout", "lost_timeout", "housekeeping_interval",
             "watcher_initial_backoff", "watcher_max_backoff", "edge_reconnect_interval", "reeval_max_batch",
             "dispatcher_max_attempts", "edge_heartbeat_miss_factor", "plane_retry_base", "plane_retry_max",
             "ack_wait")


