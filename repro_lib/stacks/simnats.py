"""When a cut-off NATS connection dies, and when what it held arrives: the rules, as pure functions.

The sim's bus (``timings.nats_semantics = nats``, the default) follows nats-server v2.14.5 and nats.go
v1.53.1 at the settings the real system runs (``timings.nats_timings``: ``real`` = their defaults,
``short`` = one-second pings for tests; the values are :mod:`repro_lib.emulator.natsopts`'s, the same the
local stack gives the real server and clients). Sources, at those tags:

- **the client's ping rule** (nats.go:5899-5919): a timer every ``PingInterval`` from the connect
  (nats.go:2880-2887) adds one outstanding ping and sends it; a PONG resets the count (nats.go:4159); at the
  tick where the count passes ``MaxPingsOut`` the client closes the connection as stale and starts
  reconnecting (``ErrStaleConnection``), every ``ReconnectWait`` (nats.go:56), forever (Bacalhau's
  ``MaxReconnects(-1)``). A cut starting at ``p``: the client gives up ``MaxPingsOut`` intervals after its first
  tick past ``p``.
- **the server's ping rule** (server/client.go:5818-5871): a timer first ~2 s after the connect, +0-20 %
  (``setFirstPingTimer``, client.go:6991-7018; ``firstClientPingInterval``, server.go:60), then every
  ``ping_interval``. A tick sends a PING only when nothing came *in* from the client for a whole interval
  (``lastIn``, client.go:1641-1646, 2749: since v2.9.16 only inbound data counts); the tick that would put
  more than ``ping_max`` pings out closes the connection as stale instead. So: ``ping_max`` intervals after the
  first tick at least one interval past the client's last inbound data.
- **what a cut holds** (docs/nats-transport.md rows 7-10, measured on 2.14.5): what the server wrote before the
  close stays in TCP and reaches a client that still holds its socket at the heal — even after the server
  closed (the orphaned socket keeps retransmitting); what was written to a client that has itself given up is
  lost. The heal delivers at the sender's next TCP retransmission, not at once (:func:`next_retransmit`).
- **write deadline** (client.go:1947-1997): when the kernel's buffers to a cut-off client are full, the
  server's flush blocks; after ``write_deadline`` the server closes the connection as a slow consumer and
  what it had not written is lost. A publisher is stalled at most a few ms by it (2.11+, client.go:3708-3746):
  not modelled, as it moves no virtual time that matters.

Which end gives up first decides whether a long cut's messages arrive late or are lost; both are computed,
never assumed.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

from repro_lib.emulator import natsopts

__all__ = ["NatsSettings", "settings_for", "client_gives_up", "server_closes", "next_retransmit",
           "first_ping_delay", "reconnect_delay", "reconnect_after_heal", "RECONNECT_JITTER", "CONNECT_TIMEOUT",
           "TCP_RTO_MIN", "TCP_RTO_MAX", "SOCKET_BUFFER", "FIRST_CLIENT_PING"]

#: Linux's retransmission timeout bounds (include/net/tcp.h: TCP_RTO_MIN = HZ/5, TCP_RTO_MAX = 120*HZ); the
#: timeout doubles on each retransmission of the same data (RFC 6298 5.5)
TCP_RTO_MIN = 0.2
TCP_RTO_MAX = 120.0
#: what the kernel buffers take before the server's writes block: ~3.7 MB measured on loopback
#: (docs/nats-transport.md row 11) — the machine's socket buffer sizes, our reading for any other host [I]
SOCKET_BUFFER = 3_700_000
#: server.go:60 firstClientPingInterval; setFirstPingTimer adds up to 20 % (client.go:7013-7015)
FIRST_CLIENT_PING = 2.0


@dataclass(frozen=True)
class NatsSettings:
    """The ping, reconnect and write settings one preset runs (seconds)."""

    preset: str
    server_ping_interval: float
    server_ping_max: int
    write_deadline: float
    client_ping_interval: float
    client_ping_max: int
    reconnect_wait: float

    def describe(self) -> str:
        return natsopts.describe(self.preset)


def settings_for(preset: str) -> NatsSettings:
    """The preset's settings, from the same tables the local stack gives the real server and clients."""
    preset = natsopts.check_preset(preset)
    srv = {**natsopts.SERVER_DEFAULTS, **natsopts.SERVER_PRESETS[preset]}
    cli = natsopts.CLIENT_PRESETS[preset]
    return NatsSettings(preset, float(srv["ping_interval"]), int(srv["ping_max"]), float(srv["write_deadline"]),
                        float(cli["ping_interval"]), int(cli["max_outstanding_pings"]),
                        float(cli["reconnect_time_wait"]))


def first_ping_delay(seed: int, name: str, conn: int, interval: float) -> float:
    """The server's first ping after a connect: ``min(interval, 2 s)`` + 0-20 % of it, drawn per connection
    (deterministic in the seed, the edge and the connection's number; the sim's own RNG is not touched)."""
    d = min(interval, FIRST_CLIENT_PING)
    frac = (zlib.crc32(f"{seed}/{name}/{conn}".encode()) % 10_000) / 10_000
    return d + d / 5 * frac


#: nats.go:57 DefaultReconnectJitter; nats.go:59 DefaultTimeout (a connect attempt into a cut fails after it)
RECONNECT_JITTER = 0.1
CONNECT_TIMEOUT = 2.0


def reconnect_delay(seed: int, name: str, attempt: int, s: NatsSettings) -> float:
    """How long nats.go waits before a reconnect attempt to its one server: ``ReconnectWait`` plus up to
    ``ReconnectJitter`` (doReconnect sleeps *before* trying when the whole pool, here one server, was tried:
    nats.go:3386-3430). Drawn per attempt, deterministically, without the sim's RNG."""
    frac = (zlib.crc32(f"{seed}/{name}/r{attempt}".encode()) % 10_000) / 10_000
    return s.reconnect_wait + RECONNECT_JITTER * frac


def reconnect_after_heal(gave_up: float, heal: float, s: NatsSettings) -> float:
    """When a client that gave up at ``gave_up`` connects again after a heal at ``heal``: its attempts start
    ``ReconnectWait`` apart, each into the cut failing after the connect timeout; the first to start at or after
    the heal succeeds (jitter left out here, [I])."""
    period = s.reconnect_wait + CONNECT_TIMEOUT
    first = gave_up + s.reconnect_wait
    if heal <= first:
        return first
    return first + math.ceil((heal - first) / period - 1e-9) * period


def _first_tick_after(start: float, interval: float, t: float) -> float:
    """The first of ``start + k * interval`` (k >= 0) strictly after ``t``."""
    if t < start:
        return start
    k = math.floor((t - start) / interval) + 1
    return start + k * interval


def client_gives_up(connected_at: float, cut_at: float, s: NatsSettings) -> float:
    """When the edge's client closes its connection as stale during a cut that began at ``cut_at``."""
    first = _first_tick_after(connected_at + s.client_ping_interval, s.client_ping_interval, cut_at)
    return first + s.client_ping_max * s.client_ping_interval


def server_closes(connected_at: float, cut_at: float, last_in: float, first_delay: float,
                  s: NatsSettings) -> float:
    """When the server closes the edge's connection as stale: ``last_in`` is the last data the edge sent
    before the cut (a heartbeat, a report, a client ping)."""
    start = connected_at + first_delay
    due = max(cut_at, last_in + s.server_ping_interval)  # a tick sends a ping only an interval after last_in
    first = _first_tick_after(start, s.server_ping_interval, due - 1e-9)
    return first + s.server_ping_max * s.server_ping_interval


def last_client_ping(connected_at: float, before: float, s: NatsSettings) -> float | None:
    """The client's last ping tick at or before ``before`` (inbound data for the server), if any."""
    first = connected_at + s.client_ping_interval
    if before < first:
        return None
    return first + math.floor((before - first) / s.client_ping_interval) * s.client_ping_interval


def next_retransmit(first_sent: float, heal: float) -> float:
    """When TCP next retransmits data first sent at ``first_sent`` into a cut, at or after ``heal``: the
    retransmission timeout starts at :data:`TCP_RTO_MIN` and doubles up to :data:`TCP_RTO_MAX`. Measured on
    2.14.5 through a namespace cut: 0.01-1.70 s after a 1.5 s cut's heal, 0.18-6.72 s after a ~6 s cut's."""
    t, rto = first_sent, TCP_RTO_MIN
    while True:
        t += rto
        if t >= heal:
            return t
        rto = min(rto * 2, TCP_RTO_MAX)
