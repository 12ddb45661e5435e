"""Plumbing for ``tests/test_nats_transport.py``: a real nats-server, subscriber processes, a network namespace.

- :class:`NatsServer` runs the pinned ``nats-server`` with a config file of the test's (short pings etc.),
  debug logging (``-D``: "Stale Client Connection - Closing" is a debug line) and its monitoring port on
  loopback, whose ``/connz`` says when and why a connection was closed.
- :class:`Subscriber` runs a nats-py client in a process of its own (so a test can SIGSTOP it, or run it in a
  namespace) that prints each event as a JSON line: connected, subscribed, msg, disconnected, reconnected,
  error (with the error's type), so a test can wait for a condition with a timeout.
- :class:`Netns` makes a network namespace and a veth pair, 10.250.X.1/30 on the host end and 10.250.X.2/30 in
  the namespace (X chosen unused), and cuts the link with two nftables ``netdev`` ingress chains that drop
  everything: one on the namespace's end (server → client) and one on the host's end (client → server).
  Both are ingress drops, like loss on a wire: each sender's kernel sees no error and retransmits on its RTO.
  (A drop on the namespace's egress — ``iptables -A OUTPUT -j DROP``, or an nft egress chain — is a *local* drop:
  the client's kernel sees a send error rather than a loss and resends on its own schedule; a probe showed it.)
  The host-side chain is in a table of this module's own, bound to the veth it created, deleted on exit.

Every process, namespace, veth and table made here is removed on exit, also on failure; nothing here talks to an
address other than loopback and the two veth ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["NatsServer", "Subscriber", "Netns", "NetnsUnavailable", "netns_or_skip", "free_port", "until",
           "parse_go_time"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def parse_go_time(text: str) -> float:
    """A Go RFC 3339 time with nanoseconds (``2026-12-07T10:00:00.123456789Z``) as a UNIX timestamp."""
    head, _, rest = text.partition(".")
    if not rest:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    digits = "".join(c for c in rest if c.isdigit())
    zone = rest[len(digits):].replace("Z", "+00:00")
    return datetime.fromisoformat(f"{head}.{digits[:6].ljust(6, '0')}{zone}").timestamp()


async def until(cond: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    """Poll ``cond`` (bounded by ``timeout``) until it returns something truthy; return it, else AssertionError."""
    end = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(step)


class NatsServer:
    """The pinned nats-server with ``settings`` (config keys: ping_interval, ping_max, write_deadline, max_pending)."""

    def __init__(self, binary: Path, workdir: Path, *, host: str = "127.0.0.1", settings: dict[str, Any] | None = None):
        self.binary, self.workdir, self.host = binary, workdir, host
        self.port = free_port(host)
        self.http_port = free_port()
        self.settings = dict(settings or {})
        self.conf = workdir / "nats.conf"
        self.log = workdir / "nats.log"
        lines = [f"listen: {host}:{self.port}", f"http: 127.0.0.1:{self.http_port}"]
        for key, value in self.settings.items():
            lines.append(f'{key}: "{value}"' if isinstance(value, str) else f"{key}: {value}")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None
        self.ready_at = 0.0

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Start it (again, on the same port) and wait until its monitoring port answers."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([str(self.binary), "-c", str(self.conf), "-D"], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                self.get("/varz")
                with socket.create_connection((self.host, self.port), timeout=1):
                    pass
                self.ready_at = time.time()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"nats-server not ready after {timeout:g}s: {self.log.read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> float:
        """Send ``sig`` and wait for the process to end (SIGKILL after ``timeout``); seconds it took."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        return time.monotonic() - t0

    def get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as r:
            return json.loads(r.read())

    def conn(self, cid: int) -> dict[str, Any] | None:
        """The server's record of connection ``cid`` (open or closed), or None."""
        got = self.get(f"/connz?state=any&cid={cid}").get("connections") or []
        return got[0] if got else None

    def closed(self, cid: int) -> dict[str, Any] | None:
        """The record of ``cid`` once the server has torn it down (``reason``; ``stop``: when it was marked
        closed). A connection marked closed whose write loop is still blocked in a write is listed as open."""
        c = self.conn(cid)
        return c if c and c.get("reason") else None

    def log_lines(self, needle: str) -> list[str]:
        return [ln for ln in self.log.read_text(errors="replace").splitlines() if needle in ln]

    def close(self) -> None:
        self.stop(signal.SIGKILL, timeout=10)


#: the subscriber process: one nats-py client, one subscription, every event a JSON line on stdout
_SUBSCRIBER = r'''
import asyncio, json, signal, sys, time
import nats

def emit(ev, **kw):
    kw["ev"], kw["t"] = ev, time.time()
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()

async def main():
    cfg = json.loads(sys.argv[1])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    nc = None
    async def error_cb(e):
        emit("error", type=type(e).__name__, err=str(e)[:200])
    async def disconnected_cb():
        emit("disconnected")
    async def reconnected_cb():
        emit("reconnected", cid=nc.client_id)
    nc = await nats.connect(cfg["url"], error_cb=error_cb, disconnected_cb=disconnected_cb,
                            reconnected_cb=reconnected_cb, **cfg.get("connect", {}))
    emit("connected", cid=nc.client_id)
    delay, respond = cfg.get("delay", 0), cfg.get("respond", False)
    async def cb(msg):
        emit("msg", data=msg.data.decode()[:40])
        if respond and msg.reply:
            await msg.respond(b"ok")
        if delay:
            await asyncio.sleep(delay)
    await nc.subscribe(cfg["subject"], cb=cb, **cfg.get("sub", {}))
    await nc.flush()
    emit("subscribed")
    await stop.wait()
    await nc.close()
    emit("closed")

asyncio.run(main())
'''


class Subscriber:
    """A nats-py subscriber in a process of its own; ``events`` fills as it prints them."""

    def __init__(self, workdir: Path, url: str, subject: str, *, connect: dict[str, Any] | None = None,
                 sub: dict[str, Any] | None = None, delay: float = 0.0, respond: bool = False,
                 netns: str | None = None, name: str = "sub"):
        script = workdir / "subscriber.py"
        if not script.exists():
            script.write_text(_SUBSCRIBER)
        cfg = {"url": url, "subject": subject, "connect": connect or {}, "sub": sub or {}, "delay": delay,
               "respond": respond}
        cmd = [sys.executable, str(script), json.dumps(cfg)]
        if netns:
            cmd = ["ip", "netns", "exec", netns, *cmd]  # ip execs the command: the pid is python's
        self.stderr = (workdir / f"{name}.stderr").open("wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.DEVNULL,
                                     text=True, bufsize=1)
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stopped = False

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"ev": "raw", "line": line.rstrip(), "t": time.time()}
            with self._lock:
                self.events.append(ev)

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["ev"] == kind]

    def first(self, kind: str, after: float = 0.0) -> dict[str, Any] | None:
        return next((e for e in self.of(kind) if e["t"] >= after), None)

    def got(self, prefix: str) -> list[str]:
        """Payloads received that start with ``prefix``, in arrival order."""
        return [e["data"] for e in self.of("msg") if e["data"].startswith(prefix)]

    async def ready(self, timeout: float = 10.0) -> int:
        """Wait until it has subscribed; its client id on the server."""
        def check() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"subscriber exited with {self.proc.returncode}")
            return bool(self.of("subscribed"))
        await until(check, timeout, "the subscriber to subscribe")
        return int(self.of("connected")[0]["cid"])

    def freeze(self) -> float:
        """SIGSTOP; the time just before the signal."""
        t = time.time()
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True
        return t

    def thaw(self) -> float:
        """SIGCONT; the time just before the signal (the process may run before this call returns)."""
        t = time.time()
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False
        return t

    def close(self) -> None:
        """Stop the process (SIGCONT first if stopped, SIGTERM, SIGKILL after 5 s); safe to call twice."""
        if self.proc.poll() is None:
            if self.stopped:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        if not self.stderr.closed:
            self.stderr.close()


class NetnsUnavailable(RuntimeError):
    """This sandbox does not let the test make a namespace, a veth pair or an nftables netdev chain."""


def _run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    if check and r.returncode:
        raise NetnsUnavailable(f"`{' '.join(cmd)}` failed ({r.returncode}): {(r.stderr or r.stdout).strip()}")
    return r


class Netns:
    """A network namespace of the test's own, joined to the host by a veth pair (see the module's docstring)."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 0xFFFF:04x}{random.randrange(0x100):02x}"
        self.name = f"t395-{tag}"
        self.host_dev, self.ns_dev = f"t395h{tag}", f"t395n{tag}"
        self.table = f"t395_{tag}"
        self.host_ip = self.ns_ip = ""
        self.cut = False

    def _pick_subnet(self) -> int:
        used = _run(["ip", "-4", "-o", "addr"]).stdout + _run(["ip", "-4", "route"]).stdout
        for x in random.sample(range(1, 255), 254):
            if f"10.250.{x}." not in used:
                return x
        raise NetnsUnavailable("no free 10.250.X.0/30 subnet on this host")

    def __enter__(self) -> Netns:
        try:
            x = self._pick_subnet()
            self.host_ip, self.ns_ip = f"10.250.{x}.1", f"10.250.{x}.2"
            _run(["ip", "netns", "add", self.name])
            _run(["ip", "link", "add", self.host_dev, "type", "veth", "peer", "name", self.ns_dev, "netns", self.name])
            _run(["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_dev])
            _run(["ip", "link", "set", self.host_dev, "up"])
            _run(["ip", "-n", self.name, "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_dev])
            _run(["ip", "-n", self.name, "link", "set", self.ns_dev, "up"])
            _run(["ip", "-n", self.name, "link", "set", "lo", "up"])
            # the partition's tools, tried once now (made and deleted) so a missing capability is a skip, not a failure
            self.partition()
            self.heal()
        except BaseException:
            self.__exit__()
            raise
        return self

    def partition(self) -> float:
        """Drop every packet on both ends' ingress (a cut wire); the time both drops are in place."""
        for ns, dev in ((True, self.ns_dev), (False, self.host_dev)):
            cmd = (["ip", "netns", "exec", self.name] if ns else []) + [
                "nft", f"add table netdev {self.table}; add chain netdev {self.table} drop_in "
                       f"{{ type filter hook ingress device {dev} priority 0; policy drop; }}"]
            _run(cmd)
        self.cut = True
        return time.time()

    def heal(self) -> float:
        """Delete both drop chains (two commands, ~15 ms apart); the time just before the first is deleted."""
        t = time.time()
        _run(["ip", "netns", "exec", self.name, "nft", "delete", "table", "netdev", self.table], check=False)
        _run(["nft", "delete", "table", "netdev", self.table], check=False)
        self.cut = False
        return t

    def __exit__(self, *exc: object) -> None:
        self.heal()
        _run(["ip", "link", "del", self.host_dev], check=False)  # deletes the peer in the namespace too
        _run(["ip", "netns", "del", self.name], check=False)


@contextlib.contextmanager
def netns_or_skip() -> Iterator[Netns]:
    """A :class:`Netns`, or ``pytest.skip`` with what this sandbox refused."""
    import pytest

    try:
        ns = Netns().__enter__()
    except NetnsUnavailable as e:
        pytest.skip(f"network namespaces are not usable here: {e}")
    try:
        yield ns
    finally:
        ns.__exit__()
