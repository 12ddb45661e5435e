"""The emulated orchestrator process: :class:`repro_lib.model.Orchestrator` live.

- NATS: subscribes to :data:`ORCHESTRATOR_SUBJECT`. Handshakes and heartbeats arrive as
  request/reply and are answered with :meth:`Orchestrator.on_message`'s return value; other
  messages are plain publishes (a reply to one, e.g. ``Assignments``, goes to the node's subject).
  Everything the model publishes goes out with a core-NATS publish: with no subscriber on the
  node's subject the server drops it silently — the bug's message loss, for real.
- HTTP API for ``expanso-cli`` on port 9010 (``/api/v1/orchestrator/{nodes,jobs,executions}``).
- State (jobs, executions, nodes) is kept in the data dir, so a restarted container comes back
  through :meth:`Orchestrator.restart` (nodes load as connected, the dispatcher restarts at the
  latest event) like the real one.
- Log lines on stdout in the instrumented build's format (slog text by default).
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from repro_lib.emulator.runtime import Clock, EmulatorConfig, LogOut, Timers, connect_nats, route_outputs, subscribe
from repro_lib.errors import JobSpecError
from repro_lib.jobs import job_from_dict
from repro_lib.model.orchestrator import Orchestrator
from repro_lib.model.transport import ORCHESTRATOR_SUBJECT, node_subject

__all__ = ["OrchestratorProcess", "IdGen", "API_PREFIX", "node_rows", "job_rows", "execution_rows"]

API_PREFIX = "/api/v1/orchestrator"
_STATE_FILE = "orchestrator-state.pickle"
_SOURCE = "orchestrator"
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 500: "Internal Server Error"}


class IdGen:
    """``prefix-8hex`` ids like the sim's, random instead of seeded (picklable)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, prefix: str) -> str:
        while True:
            ident = f"{prefix}-{secrets.token_hex(4)}"
            if ident not in self.seen:
                self.seen.add(ident)
                return ident


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def node_rows(orch: Orchestrator) -> list[dict[str, Any]]:
    return [{"id": n.id, "name": n.name, "state": str(n.state),
             "labels": ",".join(f"{k}={v}" for k, v in sorted(n.labels.items())),
             "connected_since": n.connected_since, "last_heartbeat": n.last_heartbeat}
            for n in orch.nodes.nodes.values()]


def job_rows(orch: Orchestrator) -> list[dict[str, Any]]:
    return [{"name": j.name, "id": j.id, "type": j.type, "state": str(j.state), "version": j.version,
             "created": _iso(j.created_at), "created_at": j.created_at}
            for j in orch.jobs.values()]


def execution_rows(orch: Orchestrator, job: str | None = None) -> list[dict[str, Any]]:
    names = {n.id: n.name for n in orch.nodes.nodes.values()}
    return [{"id": e.id, "job": e.job, "node": e.node_id, "node_name": names.get(e.node_id, ""),
             "state": str(e.state), "desired": str(e.desired), "version": e.version,
             "created": _iso(e.created_at), "created_at": e.created_at, "updated_at": e.updated_at,
             "dispatches": e.dispatches}
            for e in orch.executions.values() if job is None or e.job == job]


class OrchestratorProcess:
    """One orchestrator: the model, its timers, NATS and the API, on one asyncio loop."""

    def __init__(self, cfg: EmulatorConfig, out: LogOut, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.out = out
        self.clock = clock or Clock()
        self.state_path = cfg.data_dir / _STATE_FILE
        self.restored = False
        self.orch = self._load() or Orchestrator(cfg.timings, cfg.policies, IdGen())
        self.nc: Any = None
        self.timers: Timers | None = None
        self._outq: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._save_handle: asyncio.TimerHandle | None = None

    # -- persistence ------------------------------------------------------------------------
    def _load(self) -> Orchestrator | None:
        if not self.state_path.is_file():
            return None
        try:
            orch = pickle.loads(self.state_path.read_bytes())
            if not isinstance(orch, Orchestrator):
                raise TypeError(type(orch).__name__)
            orch.upgrade()
        except Exception as e:  # noqa: BLE001 - an unreadable state file: start empty, say so
            self.out.log(self.clock.now(), _SOURCE, "WARN", "ORCHESTRATOR: state file unreadable, starting empty",
                         path=str(self.state_path), err=f"{type(e).__name__}: {e}"[:160])
            return None
        # everything (timings and fixes too) comes back from the volume, as one consistent model
        self.restored = True
        return orch

    def save(self) -> None:
        self._save_handle = None
        try:
            self.cfg.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.state_path.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(self.orch))
            os.replace(tmp, self.state_path)
        except OSError as e:
            self.out.log(self.clock.now(), _SOURCE, "ERROR", "ORCHESTRATOR: cannot save state",
                         path=str(self.state_path), err=str(e)[:160])

    def _save_soon(self) -> None:
        if self._save_handle is None:
            self._save_handle = asyncio.get_running_loop().call_later(0.2, self.save)

    # -- driving the model -----------------------------------------------------------------
    def flush(self) -> None:
        route_outputs(self.orch.drain(), self.out, self.timers, self._outq)
        self._save_soon()

    def _fire(self, at: float, key: Any) -> None:
        self.orch.on_timer(at, key)
        self.flush()

    async def _publisher(self) -> None:
        """One task publishes everything, in the order the model produced it. With fix C a node plane's
        message is a request the edge acks (no subscriber: NATS's 503 at once; no answer: ``ack_wait``)."""
        loop = asyncio.get_running_loop()
        while True:
            subject, data = await self._outq.get()
            if self.orch.planes is not None and b'"seq":' in data:
                loop.create_task(self._plane_request(subject, data))
                await asyncio.sleep(0)  # the request is on the wire before the next message: order kept
                continue
            try:
                await self.nc.publish(subject, data)
            except Exception as e:  # noqa: BLE001 - a closed/reconnecting connection: the message is lost
                self.out.log(self.clock.now(), _SOURCE, "WARN", "NATS: publish failed", subject=subject,
                             err=type(e).__name__)

    async def _plane_request(self, subject: str, data: bytes) -> None:
        import nats.errors

        payload = json.loads(data)
        try:
            await self.nc.request(subject, data, timeout=self.cfg.timings.ack_wait)
            outcome = "ack"
        except nats.errors.NoRespondersError:
            outcome = "no_responders"
        except Exception:  # noqa: BLE001 - timeout, or the connection went away: no ack came
            outcome = "timeout"
        self.orch.on_publish_result(self.clock.now(), payload, outcome)
        self.flush()

    async def _on_msg(self, msg: Any) -> None:
        try:
            payload = json.loads(msg.data)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        reply = self.orch.on_message(self.clock.now(), payload)
        self.flush()
        if reply is None and msg.reply and self.orch.planes is not None:
            reply = {"type": "Ack"}  # fix C: an edge's state report is a request the orchestrator acks
        if reply is None:
            return
        data = json.dumps(reply).encode()
        if msg.reply:
            await self.nc.publish(msg.reply, data)
        elif payload.get("node_id"):
            self._outq.put_nowait((node_subject(str(payload["node_id"])), data))

    # -- the process ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> int:
        loop = asyncio.get_running_loop()
        self.timers = Timers(loop, self.clock, self._fire)
        self.nc = await connect_nats(self.cfg.nats_url, "expanso-orchestrator", self.out, self.clock, _SOURCE,
                                     self.cfg.nats_timings)
        publisher = loop.create_task(self._publisher())
        await subscribe(self.nc, ORCHESTRATOR_SUBJECT, self._on_msg)
        now = self.clock.now()
        t = self.cfg.timings
        if self.restored:
            self.orch.restart(now)
        else:
            self.out.log(now, _SOURCE, "INFO", "ORCHESTRATOR: started", restart=False,
                         heartbeat_interval=f"{t.heartbeat_interval:g}s",
                         disconnect_timeout=f"{t.disconnect_timeout:g}s",
                         reeval_batch_delay=f"{t.reeval_batch_delay:g}s",
                         fix="+".join(self.orch.policies.names), preset=t.preset)
            self.orch.start(now)
        self.flush()
        try:
            server = await asyncio.start_server(self._http, self.cfg.api_host, self.cfg.api_port)
        except OSError as e:
            self.out.log(self.clock.now(), _SOURCE, "ERROR", "API: cannot listen", port=self.cfg.api_port,
                         err=str(e)[:160])
            await self.nc.close()
            return 1
        self.out.log(self.clock.now(), _SOURCE, "INFO", "API: listening", host=self.cfg.api_host,
                     port=self.cfg.api_port)
        try:
            await stop.wait()
        finally:
            self.out.log(self.clock.now(), _SOURCE, "INFO", "ORCHESTRATOR: shutting down")
            server.close()
            self.timers.cancel_all()
            if self._save_handle is not None:
                self._save_handle.cancel()
            self.save()
            publisher.cancel()
            try:
                await asyncio.wait_for(self.nc.close(), 2)
            except Exception:  # noqa: BLE001, S110 - shutting down anyway
                pass
        return 0

    # -- HTTP API -------------------------------------------------------------------------------
    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status, obj = 500, {"error": "internal error"}
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                k, sep, v = line.partition(":")
                if sep:
                    headers[k.strip().lower()] = v.strip()
            n = int(headers.get("content-length") or 0)
            body = await asyncio.wait_for(reader.readexactly(n), 10) if n else b""
            status, obj = self.route(method, target, body)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            status, obj = 400, {"error": "malformed HTTP request"}
        except Exception as e:  # noqa: BLE001 - answer 500 rather than drop the connection
            status, obj = 500, {"error": f"{type(e).__name__}: {e}"}
        data = json.dumps(obj, default=str).encode()
        writer.write(f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        try:
            await writer.drain()
        finally:
            writer.close()

    def route(self, method: str, target: str, body: bytes) -> tuple[int, Any]:
        """The API, synchronous on the model (one loop: no locking needed)."""
        url = urlsplit(target)
        path = url.path.rstrip("/")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if path == "/api/v1/agent/alive":
            return 200, {"status": "OK"}
        if not path.startswith(API_PREFIX):
            return 404, {"error": f"no such endpoint {path}"}
        what = path[len(API_PREFIX):]
        if method == "GET":
            if what == "/nodes":
                return 200, node_rows(self.orch)
            if what == "/jobs":
                return 200, job_rows(self.orch)
            if what == "/executions":
                job = query.get("job") or query.get("job_id")
                return 200, execution_rows(self.orch, job)
            return 404, {"error": f"no such endpoint {path}"}
        if method == "PUT" and what == "/jobs":
            return self._deploy(body)
        if method == "POST" and what == "/jobs/stop":
            try:
                name = str(json.loads(body or b"{}").get("name") or "")
            except (ValueError, AttributeError):
                return 400, {"error": "body must be JSON with a job name"}
            ok = self.orch.stop_job(self.clock.now(), name)
            self.flush()
            self.save()
            return (200, {"stopped": True, "name": name}) if ok else \
                (404, {"error": f"no running job named {name!r}"})
        return 405, {"error": f"{method} {path} is not supported"}

    def _deploy(self, body: bytes) -> tuple[int, Any]:
        import yaml

        try:
            req = json.loads(body or b"{}")
            text, force, source = str(req["spec"]), bool(req.get("force")), str(req.get("source") or "job")
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "body must be JSON with the job specification under `spec`"}
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            return 400, {"error": f"failed to parse job specification: {str(e).splitlines()[0]}"}
        try:
            spec = job_from_dict(doc, source)
        except JobSpecError as e:
            return 400, {"error": str(e)}
        result = self.orch.deploy(self.clock.now(), spec, force=force)
        self.flush()
        self.save()
        job = self.orch.jobs[spec.name]
        if result == "NO_CHANGES_DETECTED":
            return 409, {"error": "NO_CHANGES_DETECTED: the job specification has not changed; "
                                  "use --force to redeploy", "result": result, "name": spec.name,
                         "version": job.version}
        return 200, {"result": result, "name": spec.name, "id": job.id, "version": job.version}


def main(cfg: EmulatorConfig, out: LogOut) -> int:
    from repro_lib.emulator.runtime import run_main

    async def go(stop: asyncio.Event) -> int:
        return await OrchestratorProcess(cfg, out).run(stop)

    return run_main(go)

