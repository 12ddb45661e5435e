"""State snapshots: the node, job and execution tables at one moment (same columns everywhere)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Snapshot", "NODE_COLUMNS", "JOB_COLUMNS", "EXECUTION_COLUMNS"]

NODE_COLUMNS = ["id", "name", "state"]
JOB_COLUMNS = ["name", "id", "type", "state", "version"]
EXECUTION_COLUMNS = ["id", "job", "node", "state", "desired"]


@dataclass
class Snapshot:
    """What ``node list``, ``job list`` and ``execution list`` would show at ``t_s``.

    Rows may carry more columns than the required ones (the sim adds ``node_name``,
    ``alive``, ``connected_since``, ``created_at`` …)."""

    t_s: float
    label: str = ""
    nodes: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    executions: list[dict[str, Any]] = field(default_factory=list)

    def frame(self, table: str) -> pd.DataFrame:
        cols = {"nodes": NODE_COLUMNS, "jobs": JOB_COLUMNS, "executions": EXECUTION_COLUMNS}[table]
        rows = getattr(self, table)
        df = pd.DataFrame(rows)
        for c in cols:
            if c not in df.columns:
                df[c] = pd.Series(dtype=object)
        return df[cols + [c for c in df.columns if c not in cols]]

    @property
    def node_frame(self) -> pd.DataFrame:
        return self.frame("nodes")

    @property
    def job_frame(self) -> pd.DataFrame:
        return self.frame("jobs")

    @property
    def execution_frame(self) -> pd.DataFrame:
        return self.frame("executions")

    def job(self, name: str) -> dict[str, Any] | None:
        return next((j for j in self.jobs if j["name"] == name), None)

    def executions_of(self, job: str) -> list[dict[str, Any]]:
        return [e for e in self.executions if e["job"] == job]

    def to_dict(self) -> dict[str, Any]:
        return {"t_s": self.t_s, "label": self.label, "nodes": self.nodes, "jobs": self.jobs,
                "executions": self.executions}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Snapshot:
        return cls(d["t_s"], d.get("label", ""), d.get("nodes", []), d.get("jobs", []),
                   d.get("executions", []))
