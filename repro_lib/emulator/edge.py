"""The emulated edge process: :class:`repro_lib.model.Edge` live.

It subscribes to its node subject, then handshakes/heartbeats with NATS request/reply (no
responder or no answer in time = a missed heartbeat, as in the model). Its identity and its
executions live in ``<data dir>/edge-state.json`` — the named volume in compose — so an edge
restarted with the same volume keeps its node id and resumes its executions locally, and one
started without it is a new node.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from typing import Any

from repro_lib.emulator.runtime import (
    Clock,
    EmulatorConfig,
    LogOut,
    Timers,
    connect_nats,
    route_outputs,
    run_main,
    subscribe,
)
from repro_lib.model.edge import Edge, LocalExecution, _Persisted
from repro_lib.model.transport import ORCHESTRATOR_SUBJECT
from repro_lib.model.types import ComputeState

__all__ = ["EdgeProcess", "STATE_FILE", "load_disk", "dump_disk"]

STATE_FILE = "edge-state.json"


def dump_disk(disk: _Persisted) -> str:
    return json.dumps({
        "node_id": disk.node_id,
        "executions": [{"id": e.id, "job": e.job, "state": str(e.state), "run_for": e.run_for,
                        "reported": str(e.reported) if e.reported is not None else None, "unacked": e.unacked}
                       for e in disk.executions.values()],
    }, indent=1)


def load_disk(text: str) -> _Persisted:
    doc = json.loads(text)
    disk = _Persisted(str(doc["node_id"]))
    for e in doc.get("executions", []):
        disk.executions[e["id"]] = LocalExecution(
            e["id"], e["job"], ComputeState(e["state"]), e.get("run_for"),
            ComputeState(e["reported"]) if e.get("reported") else None, bool(e.get("unacked")))
    return disk


class EdgeProcess:
    """One edge: the model, its timers, its NATS subscription and its data dir."""

    def __init__(self, cfg: EmulatorConfig, out: LogOut, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.out = out
        self.clock = clock or Clock()
        self.state_path = cfg.data_dir / STATE_FILE
        disk = self._load()
        self.edge = Edge(cfg.name, disk.node_id if disk else f"n-{secrets.token_hex(4)}", cfg.timings,
                         labels=cfg.labels, reconcile_on_connect=cfg.policies.edge_reconcile,
                         sequence_replay=cfg.policies.sequence_replay)
        if disk is not None:
            self.edge.disk = disk
        self._written = ""
        self.save()
        self.nc: Any = None
        self.timers: Timers | None = None
        self._outq: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        t = cfg.timings
        # a handshake/heartbeat request waits at most this long for the orchestrator's reply
        self.request_timeout = max(0.2, min(2.0, t.heartbeat_interval / 2, t.edge_reconnect_interval / 2))

    def _load(self) -> _Persisted | None:
        if not self.state_path.is_file():
            return None
        try:
            return load_disk(self.state_path.read_text())
        except (ValueError, KeyError, TypeError) as e:
            self.out.log(self.clock.now(), self.cfg.name, "WARN", "EDGE: state file unreadable, new identity",
                         path=str(self.state_path), err=f"{type(e).__name__}: {e}"[:160])
            return None

    def save(self) -> None:
        text = dump_disk(self.edge.disk)
        if text == self._written:
            return
        try:
            self.cfg.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.state_path.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, self.state_path)
            self._written = text
        except OSError as e:
            self.out.log(self.clock.now(), self.cfg.name, "ERROR", "EDGE: cannot save state",
                         path=str(self.state_path), err=str(e)[:160])

    # -- driving the model -----------------------------------------------------------------
    def flush(self) -> None:
        route_outputs(self.edge.drain(), self.out, self.timers, self._outq)
        self.save()

    def _fire(self, at: float, key: Any) -> None:
        request = self.edge.on_timer(at, key)
        self.flush()
        if request is not None:
            asyncio.get_running_loop().create_task(self._request(request))

    async def _request(self, request: dict[str, Any]) -> None:
        """Handshake / heartbeat: NATS request/reply; ``None`` when nobody answers in time."""
        reply = None
        try:
            msg = await self.nc.request(ORCHESTRATOR_SUBJECT, json.dumps(request).encode(),
                                        timeout=self.request_timeout)
            reply = json.loads(msg.data)
        except Exception:  # noqa: BLE001 - no responders, timeout, connection down: a miss
            reply = None
        self.edge.on_reply(self.clock.now(), reply if isinstance(reply, dict) else None)
        self.flush()

    async def _publisher(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            subject, data = await self._outq.get()
            if self.edge.sequence_replay and b'"ExecutionState"' in data:
                loop.create_task(self._report_request(subject, data))
                await asyncio.sleep(0)  # on the wire before the next message: order kept
                continue
            try:
                await self.nc.publish(subject, data)
            except Exception as e:  # noqa: BLE001 - lost, as core NATS would lose it
                self.out.log(self.clock.now(), self.cfg.name, "WARN", "NATS: publish failed", subject=subject,
                             err=type(e).__name__)

    async def _report_request(self, subject: str, data: bytes) -> None:
        """Fix C: a state report is a request the orchestrator acks; a failure is sent again later."""
        payload = json.loads(data)
        try:
            await self.nc.request(subject, data, timeout=self.cfg.timings.ack_wait)
            ok = True
        except Exception:  # noqa: BLE001 - no responders, timeout, connection down: not acked
            ok = False
        self.edge.on_report_result(self.clock.now(), str(payload.get("execution_id")), str(payload.get("state")), ok)
        self.flush()

    async def _on_msg(self, msg: Any) -> None:
        try:
            payload = json.loads(msg.data)
        except ValueError:
            return
        if isinstance(payload, dict):
            self.edge.on_message(self.clock.now(), payload)
            self.flush()
            if msg.reply:  # fix C's plane: acked once handled, whatever the handling did
                try:
                    await self.nc.publish(msg.reply, json.dumps({"type": "Ack", "seq": payload.get("seq")}).encode())
                except Exception:  # noqa: BLE001, S110 - the orchestrator sees a timeout, as it would
                    pass

    # -- the process ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> int:
        loop = asyncio.get_running_loop()
        self.timers = Timers(loop, self.clock, self._fire)
        self.nc = await connect_nats(self.cfg.nats_url, f"expanso-edge-{self.cfg.name}", self.out, self.clock,
                                     self.cfg.name, self.cfg.nats_timings)
        publisher = loop.create_task(self._publisher())
        await subscribe(self.nc, self.edge.subject, self._on_msg)
        await self.nc.flush()  # the subscription is on the server before the first handshake
        self.edge.boot(self.clock.now())
        self.flush()
        try:
            await stop.wait()
        finally:
            self.out.log(self.clock.now(), self.cfg.name, "INFO", "EDGE: shutting down", node_id=self.edge.node_id)
            self.timers.cancel_all()
            self.save()
            publisher.cancel()
            try:
                await asyncio.wait_for(self.nc.close(), 2)
            except Exception:  # noqa: BLE001, S110 - shutting down anyway
                pass
        return 0


def main(cfg: EmulatorConfig, out: LogOut) -> int:
    async def go(stop: asyncio.Event) -> int:
        return await EdgeProcess(cfg, out).run(stop)

    return run_main(go)
