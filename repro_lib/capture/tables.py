"""CLI output handed to ``repro inspect``: recognise it, parse it, make it the final state.

Expanso's ``expanso-cli`` and Bacalhau's ``bacalhau`` print ``node list``, ``job list``, ``execution
list`` / ``job executions`` and ``job describe`` as tables (go-pretty boxes or plain columns, wide,
with wrapped cells and a "To fetch more records" footer) or as JSON/YAML (``--output``).
:func:`read_cli_file` tells them from logs by their first lines and returns the tables found;
:func:`snapshot_from_tables` turns the latest table of each kind into the :class:`Snapshot` the
verdict reads. Upstream state names (``AskForBid``, ``BidAccepted`` …) become ours (pending,
running …; :data:`repro_lib.capture.upstream.COMPUTE_STATE_OURS`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from repro_lib.capture import upstream as up
from repro_lib.capture.cli import parse_json, parse_table
from repro_lib.errors import ParseError
from repro_lib.snapshot import Snapshot

__all__ = ["sniff_cli", "read_cli_file", "snapshot_from_tables", "CliTable"]

CliTable = tuple[str, pd.DataFrame]  # (kind, frame)
_SPLIT = re.compile(r"\s{2,}|\s*[|│┃║]\s*")
_LOGLIKE = re.compile(
    r"^\s*(?:\d\d:\d\d:\d\d[.\d]* \||\d{4}-\d\d-\d\dT\d\d:\d\d|time=|level=|\{\s*\"(?:level|time|msg)\")")
_DESCRIBE = re.compile(r"^ID\s+=\s+(\S+)")
_STATE_NAMES = {k.lower(): v for k, v in up.COMPUTE_STATE_OURS.items()}


def _headers(line: str) -> set[str]:
    cells = [c for c in _SPLIT.split(line.strip().strip("|│┃║")) if c]
    return {re.sub(r"[\s\-.]+", "_", c.strip().rstrip(".").lower()).strip("_") for c in cells}


def _table_kind(header: str) -> str | None:
    h = _headers(header)
    node = h & {"node", "node_id", "node_name"}
    state = h & {"state", "status", "compute", "compute_state", "desired", "desired_state"}
    if "id" in h and node and state:
        return "executions"
    if "id" in h and h & {"status", "state", "approval"} and not node and not h & {"job", "name", "desired"}:
        return "nodes"
    if h & {"state", "status"} and h & {"type"} and h & {"name", "job", "id"} and not node:
        return "jobs"
    return None


def sniff_cli(text: str) -> str | None:
    """The kind of CLI output ``text`` is (``nodes``, ``jobs``, ``executions``, ``describe``) or None
    (a log, or something else)."""
    lines = [ln for ln in text.splitlines()[:40] if ln.strip()]
    if not lines or _LOGLIKE.match(lines[0]):
        return None
    first = lines[0].strip()
    if first.startswith(("[", "{", "- ")):
        try:
            obj = json.loads(text) if first[0] in "[{" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError):
            return None
        return _object_kind(obj)
    if _DESCRIBE.match(first):
        return "describe"
    for ln in lines[:3]:  # a box's top border, then the header
        if set(ln.strip()) <= set("+-=─━┌┐┬╭╮┼╪═ |│"):
            continue
        return _table_kind(ln)
    return None


def _object_kind(obj: Any) -> str | None:
    if isinstance(obj, dict):
        for key in ("executions", "nodes", "jobs", "items", "data"):
            if isinstance(obj.get(key), list):
                obj = obj[key]
                break
        else:
            obj = [obj]
    if not isinstance(obj, list) or not obj or not all(isinstance(o, dict) for o in obj):
        return None
    keys = {k.lower() for k in obj[0]}
    status = obj[0].get("status") if isinstance(obj[0].get("status"), dict) else {}
    if "connection_state" in status or keys & {"connected_since", "last_heartbeat"}:
        return "nodes"
    if "compute_state" in status or "desired_state" in status:
        return "executions"
    if keys & {"computestate", "compute_state", "desiredstate", "desired_state"} or \
            {"nodeid", "jobid"} <= keys or {"node_id", "job_id"} <= keys:
        return "executions"
    if keys & {"connection_state", "connectionstate", "info", "approval", "membership"}:
        return "nodes"
    if keys & {"type"} and keys & {"name", "state", "status"}:
        return "jobs"
    return None


def _clean_table(text: str) -> str:
    """Drop the "To fetch more records" footer and everything after it."""
    out = []
    for ln in text.splitlines():
        if ln.strip().startswith("To fetch more records"):
            break
        out.append(ln)
    return "\n".join(out)


def _ours(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Upstream compute state names → ours (``AskForBid`` → pending, ``BidAccepted`` → pending …)."""
    if kind == "executions" and "state" in df:
        df["state"] = [_STATE_NAMES.get(v.replace(" ", "").lower(), v) if isinstance(v, str) else v
                       for v in df["state"]]
    return df


def _api_objects(obj: Any, kind: str) -> pd.DataFrame:
    """Bacalhau's API shape (``ID``, ``NodeID``, ``ComputeState.StateType`` as a number …) → rows."""
    rows = obj if isinstance(obj, list) else [obj]
    if kind != "executions":
        return parse_json(json.dumps(rows), kind)
    out = []
    for o in rows:
        def state(key: str, names: tuple[str, ...], o: dict[str, Any] = o) -> Any:
            v = (o.get(key) or {}).get("StateType") if isinstance(o.get(key), dict) else o.get(key)
            if isinstance(v, int) and 0 <= v < len(names):
                v = names[v]
            return v
        st, want = state("ComputeState", up.COMPUTE_STATES), state("DesiredState", up.DESIRED_STATES)
        out.append({"id": o.get("ID") or o.get("id"), "job": o.get("JobID") or o.get("job_id") or o.get("job"),
                    "node": o.get("NodeID") or o.get("node_id") or o.get("node"),
                    "state": _STATE_NAMES.get(str(st).lower(), str(st).lower()) if st is not None else None,
                    "desired": up.DESIRED_STATE_OURS.get(str(want), str(want).lower()) if want is not None else None})
    return pd.DataFrame(out, columns=["id", "job", "node", "state", "desired"])


def _describe(text: str) -> list[CliTable]:
    """``job describe``: the job's key = value block and its Executions table."""
    fields: dict[str, str] = {}
    for ln in text.splitlines():
        m = re.match(r"^([A-Za-z][\w .]*?)\s+=\s+(.*)$", ln)
        if m and not ln.startswith(" "):
            fields.setdefault(m.group(1).strip().lower(), m.group(2).strip())
        if not ln.strip():
            break
    name = fields.get("name") or fields.get("id")
    job = pd.DataFrame([{"name": name, "id": fields.get("id"), "type": fields.get("type"),
                         "state": (fields.get("state") or "").lower() or None, "version": fields.get("version")}])
    tables: list[CliTable] = [("jobs", job)]
    block = re.search(r"^Executions\n((?:.+\n?)+)", text, flags=re.M)
    if block:
        ex = _ours(parse_table(_clean_table(block.group(1)), "executions"), "executions")
        ex["job"] = name
        tables.append(("executions", ex))
    return tables


def read_cli_file(path: str | Path, text: str | None = None) -> list[CliTable] | None:
    """The tables in a CLI output file, or None when it is not CLI output (then it is a log)."""
    if text is None:
        from repro_lib.capture.reader import check_log_path, read_log

        check_log_path(Path(path))
        with Path(path).open("rb") as fh:
            head = fh.read(64 * 1024)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")) or sniff_cli(head.decode("utf-8", errors="replace")) is not None:
            data, _ = read_log(path)
            text = bytes(data).decode("utf-8", errors="replace")
        else:
            return None
    kind = sniff_cli(text)
    if kind is None:
        return None
    try:
        if kind == "describe":
            return _describe(text)
        first = text.lstrip()[:1]
        if first in "[{" or text.lstrip().startswith("- "):
            obj = json.loads(text) if first in "[{" else yaml.safe_load(text)
            keys = set(obj[0]) if isinstance(obj, list) and obj and isinstance(obj[0], dict) else set()
            frame = _api_objects(obj, kind) if keys & {"ID", "NodeID", "ComputeState"} else parse_json(text, kind)
            return [(kind, _ours(frame, kind))]
        frame = parse_table(_clean_table(text), kind)
        header = next(ln for ln in text.splitlines() if ln.strip() and not set(ln.strip()) <= set("+-=─━┌┐┬╭╮┼ |│"))
        if kind == "jobs" and {"id", "job"} <= _headers(header) and "name" not in _headers(header):
            # Bacalhau's older `job list`: JOB is the engine (docker, wasm), the job is its ID
            frame.insert(len(frame.columns), "engine", frame["name"])
            frame["name"] = frame["id"]
        return [(kind, _ours(frame, kind))]
    except (ParseError, ValueError, yaml.YAMLError):
        return None


_TIMES = ("connected_since", "last_heartbeat", "created_at", "updated_at")


def snapshot_from_tables(tables: list[CliTable], t_s: float, t0_unix: float | None = None) -> Snapshot:
    """The latest table of each kind (in the order given) as the final :class:`Snapshot`. Unix times
    in it (``connected_since`` …) become seconds since ``t0_unix`` (the logs' first line), or are
    dropped when there are no logs to place them against."""
    latest: dict[str, pd.DataFrame] = {}
    for kind, frame in tables:
        latest[kind] = frame

    def rows(kind: str) -> list[dict[str, Any]]:
        if kind not in latest:
            return []
        df = latest[kind].astype(object).where(latest[kind].notna(), None)
        out = df.to_dict("records")
        for r in out:
            for k in _TIMES:
                if k in r:
                    try:
                        v = float(r[k])
                    except (TypeError, ValueError):
                        v = None
                    r[k] = (v - t0_unix) if (v is not None and v > 1e9 and t0_unix is not None) else None
        return out

    nodes = [{**r, "id": r.get("id"), "name": r.get("name") or r.get("id"), "state": r.get("state") or "unknown"}
             for r in rows("nodes")]
    jobs = [{**r, "name": r.get("name") or r.get("id"), "state": r.get("state") or "unknown"} for r in rows("jobs")]
    executions = [{**r, "desired": r.get("desired") or "running"} for r in rows("executions")]
    return Snapshot(t_s=t_s, label="cli", nodes=nodes, jobs=jobs, executions=executions)
