"""Capture that loses nothing: every container's log streamed to disk from its start, and the
Docker events as ground-truth fault times (docker-recipe.md §4).

- A follower thread per container id streams ``logs(stream=True, follow=True, timestamps=True)``
  into ``<logs>/<service>.log``. The stream replays from the container's start, so attaching
  right after the ``start`` event misses nothing; a container removed with ``docker rm -f``
  has its lines on disk already (its logs cannot be read after removal). A recreated service
  is a new container id and gets a new follower appending to the same file; a restarted
  container (same id) is re-attached and lines already written are skipped by timestamp.
- One thread reads the Docker event stream for the compose project (create, start, kill, die,
  stop, destroy) into ``docker-events.jsonl`` (raw) and ``docker.log`` (one ``FAULT: kill`` /
  ``FAULT: start`` line per kill/start of an edge or of the running orchestrator, with Docker's
  nanosecond time; everything else as ``DOCKER: <action>``), and attaches a follower on every
  ``start``.
- Every line is passed through the :class:`~repro_lib.redact.Redactor` before it is
  written.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from repro_lib.redact import Redactor

__all__ = ["DockerCapture", "docker_ts_ns", "EVENT_ACTIONS"]

EVENT_ACTIONS = ["create", "start", "restart", "kill", "die", "stop", "destroy", "pause", "unpause"]
_SERVICE = "com.docker.compose.service"
_PROJECT = "com.docker.compose.project"


def docker_ts_ns(ts: bytes | str) -> int | None:
    """Docker's RFC 3339 (nano, trailing zeros trimmed) timestamp → ns since the epoch."""
    s = ts.decode() if isinstance(ts, bytes) else ts
    if not s.endswith("Z") or "T" not in s:
        return None
    head, _, frac = s[:-1].partition(".")
    try:
        secs = int(datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp())
    except ValueError:
        return None
    return secs * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


def _ts_text(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{frac:09d}Z"


def _fmt_value(v: object) -> str:
    s = str(v)
    return json.dumps(s) if (not s or any(c in s for c in ' ="\\\n\t')) else s


class DockerCapture:
    """Streams the logs and events of one compose project's containers into ``logs_dir``."""

    def __init__(self, client: Any, project: str, logs_dir: Path, *, redactor: Redactor | None = None,
                 is_fault_target: Callable[[str, int], bool] | None = None,
                 service_of: Callable[[dict[str, str]], str | None] | None = None) -> None:
        self.client = client
        self.project = project
        self.logs = Path(logs_dir)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redact = redactor or Redactor()
        self.is_fault_target = is_fault_target or (lambda service, t_ns: False)
        self.service_of = service_of or (lambda labels: labels.get(_SERVICE))
        self.events: list[dict[str, Any]] = []
        self._followers: dict[str, threading.Thread] = {}
        self._last_ns: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._kills: dict[str, int] = {}
        self.errors: list[str] = []

    # -- events -------------------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe to the event stream now (before ``up``), read it in a thread."""
        self._stream = self.client.events(decode=True, filters={
            "type": "container", "label": f"{_PROJECT}={self.project}", "event": EVENT_ACTIONS})
        self._thread = threading.Thread(target=self._read_events, name=f"docker-events-{self.project}",
                                        daemon=True)
        self._thread.start()

    def _read_events(self) -> None:
        try:
            for ev in self._stream:
                self._on_event(ev)
        except Exception as e:  # noqa: BLE001 - the stream closes with an error when we close it
            if self._stream is not None:
                self.errors.append(f"event stream: {type(e).__name__}: {e}")

    def _on_event(self, ev: dict[str, Any]) -> None:
        action = str(ev.get("Action") or ev.get("status") or "")
        attrs = dict((ev.get("Actor") or {}).get("Attributes") or {})
        cid = str((ev.get("Actor") or {}).get("ID") or ev.get("id") or "")
        name = attrs.get("name", cid[:12])
        service = self.service_of(attrs) or name
        t_ns = int(ev.get("timeNano") or int(ev.get("time", time.time())) * 1_000_000_000)
        raw = {"t": _ts_text(t_ns), "timeNano": t_ns, "action": action, "service": service, "container": name,
               "id": cid,
               "attributes": {k: v for k, v in attrs.items() if not k.startswith("com.docker.compose.config")}}
        with self._lock:
            self.events.append(raw)
            with open(self.logs / "docker-events.jsonl", "a") as f:
                f.write(self.redact(json.dumps(raw)) + "\n")
            self._write_fault(action, service, name, cid, attrs, t_ns)
        if action in ("start", "restart") and cid:
            self.follow(cid, service)

    def _write_fault(self, action: str, service: str, name: str, cid: str, attrs: dict[str, str], t_ns: int) -> None:
        kv: dict[str, object] = {"target": service, "container": name, "container_id": cid[:12], "action": action}
        recently_killed = t_ns - self._kills.get(cid, 0) <= 15_000_000_000
        if action == "kill":
            kv["signal"] = attrs.get("signal", "")
            self._kills[cid] = t_ns
        if action == "die":
            kv["exit_code"] = attrs.get("exitCode", "")
        fault = None
        if self.is_fault_target(service, t_ns):
            if action in ("start", "restart"):
                fault = "start"
            elif action == "kill" and not recently_killed:  # `docker stop` may kill twice (15, then 9)
                fault = "kill"
            elif action == "die" and not recently_killed:
                fault = "kill"  # died on its own: down all the same
                kv["reason"] = "died"
        msg = f"FAULT: {fault}" if fault else f"DOCKER: {action}"
        level = "INFO"
        ms = datetime.fromtimestamp(t_ns / 1e9, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = f"{_ts_text(t_ns)} time={ms} level={level} msg={_fmt_value(msg)} " + \
            " ".join(f"{k}={_fmt_value(v)}" for k, v in kv.items())
        with open(self.logs / "docker.log", "a") as f:
            f.write(self.redact(line) + "\n")

    # -- logs ---------------------------------------------------------------------------------
    def follow(self, cid: str, service: str) -> None:
        """Stream container ``cid``'s log into ``<service>.log`` (idempotent while it streams)."""
        with self._lock:
            t = self._followers.get(cid)
            if t is not None and t.is_alive():
                return
            lock = self._locks.setdefault(service, threading.Lock())
            t = threading.Thread(target=self._follow, args=(cid, service, lock), name=f"logs-{service}-{cid[:8]}",
                                 daemon=True)
            self._followers[cid] = t
            t.start()

    def _follow(self, cid: str, service: str, lock: threading.Lock) -> None:
        path = self.logs / f"{service}.log"
        last = self._last_ns.get(cid, 0)
        buf = b""
        try:
            stream = self.client.api.logs(cid, stream=True, follow=True, timestamps=True)
            for chunk in stream:
                buf += chunk
                if b"\n" not in buf:
                    continue
                *lines, buf = buf.split(b"\n")
                last = self._write_lines(path, lock, lines, last)
                self._last_ns[cid] = last
        except Exception as e:  # noqa: BLE001 - NotFound after removal, connection closed at shutdown
            name = type(e).__name__
            if name != "NotFound":
                self.errors.append(f"logs of {service} ({cid[:12]}): {name}: {e}")
        if buf.strip():
            self._last_ns[cid] = self._write_lines(path, lock, [buf], last)

    def _write_lines(self, path: Path, lock: threading.Lock, lines: list[bytes], last: int) -> int:
        out = []
        for line in lines:
            if not line:
                continue
            ts, _, _ = line.partition(b" ")
            ns = docker_ts_ns(ts)
            if ns is not None:
                if ns <= last:
                    continue  # already written (a restarted container replays from its start)
                last = ns
            out.append(self.redact.redact_bytes(line.rstrip(b"\r")))
        if out:
            with lock, open(path, "ab") as f:
                f.write(b"\n".join(out) + b"\n")
                f.flush()
        return last

    def attach_running(self) -> None:
        """Follow every container of the project that is running now (start events race-proof)."""
        for c in self.client.containers.list(filters={"label": f"{_PROJECT}={self.project}"}):
            self.follow(c.id, self.service_of(c.labels) or c.name)

    # -- shutdown ------------------------------------------------------------------------------
    def stop(self, timeout: float = 5.0) -> None:
        """Close the event stream and wait for followers (they end when their container goes)."""
        end = time.monotonic() + timeout
        for t in list(self._followers.values()):
            t.join(max(0.0, end - time.monotonic()))
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001, S110 - closing a dead stream
                pass
        if self._thread is not None:
            self._thread.join(2.0)

    @property
    def following(self) -> list[str]:
        return [cid for cid, t in self._followers.items() if t.is_alive()]
