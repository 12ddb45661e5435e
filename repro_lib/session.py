"""A step-by-step session for notebooks: the seed's commands as method calls.

Each call is a scenario step run on the chosen stack (the same code path as ``repro run``),
and the tables come back as DataFrames shaped like ``expanso-cli … list``::

    s = Session(backend="sim", timings={"preset": "repro"})
    s.up(); s.wait_for(nodes="connected", count=2)
    s.node_list()                                  # expanso-cli node list
    s.deploy("pipelines/test-job.yaml")            # expanso-cli job deploy
    s.kill("edge1", "edge2")                       # docker rm -f edge1-debug edge2-debug
    run = s.finish()                               # events, snapshots, verdict, plot, diagnosis
"""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import Any

import pandas as pd

from repro_lib.durations import parse_duration
from repro_lib.run import Run
from repro_lib.scenario import Scenario, parse_scenario, parse_step, run_step
from repro_lib.stacks import Stack, make_stack

__all__ = ["Session"]

_NODE_COLS = ["name", "id", "state"]
_JOB_COLS = ["name", "type", "state", "version"]
_EXEC_COLS = ["id", "job", "node", "state", "desired"]


class Session:
    """Drive a stack one step at a time; :meth:`finish` returns the :class:`Run`."""

    def __init__(self, *, backend: str = "sim", timings: dict[str, Any] | None = None, fix: str | list[str] = "none",
                 edges: list[str] | None = None, seed: int = 0, name: str = "walkthrough",
                 root: str | Path | None = None, **options: Any) -> None:
        self.root = Path(root) if root else Path.cwd()
        doc = {"name": name, "timings": dict(timings or {}), "fix": fix, "edges": edges or ["edge1", "edge2"],
               "steps": [{"snapshot": {}}]}
        self.scenario: Scenario = parse_scenario(doc, path=self.root / f"{name}.yaml")
        self.scenario.steps = []
        self.seed = seed
        self.stack: Stack = make_stack(backend, self.scenario, seed, **options)
        self.snapshots: list[Any] = []
        self.steps: list[dict[str, Any]] = []
        self._edges = set(self.scenario.edges)
        self._run: Run | None = None
        self._closed = False
        if self.stack.backend != "sim":  # a kernel that dies or a notebook that fails still tears down
            atexit.register(self.close)

    # -- the seed's steps ----------------------------------------------------------------------
    def _step(self, op: str, value: Any) -> str:
        step = parse_step(len(self.scenario.steps), {op: value}, {}, self._edges, (self.root,),
                           str(self.scenario.path))
        self.scenario.steps.append(step)
        t0 = self.stack.now
        result = run_step(self.stack, step, self.snapshots)
        self.steps.append({"step": step.index + 1, "op": op, "t_start_s": round(t0, 6),
                           "t_end_s": round(self.stack.now, 6), "result": result, "describe": step.describe()})
        self._run = None
        return result

    def up(self) -> str:
        """``docker compose -f docker-compose.debug.yml up -d``"""
        return self._step("up", {})

    def down(self) -> str:
        return self._step("down", {})

    def wait_for(self, **condition: Any) -> str:
        """Wait until a condition holds: ``nodes="connected", count=2`` / ``job=…, state=…``."""
        condition.setdefault("timeout", "2m")
        return self._step("wait_for", condition)

    def sleep(self, duration: str | float) -> str:
        parse_duration(duration)
        return self._step("sleep", duration)

    def deploy(self, path: str, *, force: bool = False) -> str:
        """``expanso-cli job deploy FILE``: what the CLI prints — ``Job NAME created (id j-…, version 1)``
        (or ``updated`` / ``NO_CHANGES_DETECTED``). The job's executions appear once its evaluation
        has run, a moment later (see :meth:`wait_for`)."""
        from repro_lib.jobs import load_job

        result = self._step("deploy", {"file": path, "force": force})
        try:
            name = load_job(path).name
        except Exception:  # noqa: BLE001 - the step already ran; the message is a courtesy
            return result
        job = next((j for j in self.stack.snapshot("job deploy").jobs if j.get("name") == name), None)
        if job is None or result not in ("created", "updated"):
            return result
        return f"Job {name} {result} (id {job.get('id')}, version {job.get('version')})"

    def wait_for_executions(self, job: str, count: int | None = None, timeout: str = "30s") -> str:
        """Wait until ``job`` has its executions (by default one per connected node): its evaluation ran."""
        n = count if count is not None else int(self.stack.count_nodes("connected"))

        def placed() -> bool:
            return sum(self.stack.count_executions(job, st) for st in ("pending", "starting", "running")) >= n

        return "ok" if self.stack.wait_for(placed, parse_duration(timeout)) else "timeout"

    def stop_job(self, name: str) -> str:
        return self._step("stop_job", name)

    def kill(self, *edges: str) -> str:
        """``docker rm -f edge1-debug …``: the edges die; nobody tells the orchestrator."""
        return self._step("kill", list(edges))

    def start(self, *edges: str, new_identity: bool = False) -> str:
        """``docker compose … up -d edge1 edge2`` (same identity via the volume unless asked)."""
        return self._step("start", {"edges": list(edges), "new_identity": new_identity})

    def join(self, name: str) -> str:
        return self._step("join", name)

    def partition(self, *edges: str) -> str:
        return self._step("partition", list(edges))

    def heal(self, *edges: str) -> str:
        return self._step("heal", list(edges))

    def restart_orchestrator(self, downtime: str = "5s") -> str:
        return self._step("restart_orchestrator", {"downtime": downtime})

    # -- what expanso-cli would show -----------------------------------------------------------
    def node_list(self) -> pd.DataFrame:
        """``expanso-cli node list``"""
        df = self.stack.snapshot("node list").frame("nodes")
        return df[_NODE_COLS].sort_values("name", kind="stable").reset_index(drop=True)

    def job_list(self) -> pd.DataFrame:
        """``expanso-cli job list``"""
        df = self.stack.snapshot("job list").frame("jobs")
        return df[_JOB_COLS].reset_index(drop=True)

    def execution_list(self) -> pd.DataFrame:
        """``expanso-cli execution list`` (node shown by name, like the tables in the seed)."""
        snap = self.stack.snapshot("execution list")
        names = {n["id"]: n["name"] for n in snap.nodes}
        df = snap.frame("executions")
        df["node"] = [names.get(n, n) for n in df["node"]]
        return df[_EXEC_COLS].reset_index(drop=True)

    @property
    def now(self) -> float:
        return self.stack.now

    # -- the result -------------------------------------------------------------------------
    def finish(self) -> Run:
        """The run so far: events, snapshots (plus a final one), verdict, plot, diagnosis."""
        if self._run is None:
            final = self.stack.snapshot("final")
            fields: dict[str, Any] = {"records": list(self.stack.records)}
            if hasattr(self.stack, "run_fields"):  # live stacks: the events come from the captured logs
                fields.update(self.stack.run_fields())
            self._run = Run(scenario=self.scenario, backend=self.stack.backend, seed=self.seed,
                            timings=self.scenario.timings, fix=self.scenario.fix,
                            snapshots=[*self.snapshots, final], steps=list(self.steps),
                            counts=dict(getattr(self.stack, "counts", {}) or {}), **fields)
        return self._run

    def close(self) -> None:
        """Tear down a live stack (no-op on the sim); safe to call twice."""
        if self.stack.backend != "sim" and not self._closed:
            self._closed = True
            atexit.unregister(self.close)
            self.stack.down()



