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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from repro_lib.capture import upstream as up
from repro_lib.capture.cli import parse_json, parse_table, split_table
from repro_lib.capture.ids import id_of
from repro_lib.errors import ParseError, ReproError
from repro_lib.schema import load_yaml_text
from repro_lib.snapshot import Snapshot

__all__ = ["sniff_cli", "read_cli_file", "read_paste", "Paste", "snapshot_from_tables", "CliTable"]

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
            obj = json.loads(text) if first[0] in "[{" else load_yaml_text(text, "paste", what="CLI output").data
        except (ValueError, yaml.YAMLError, ReproError):  # not YAML, or past the bounded loader's limits
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
        st, want = state("ComputeState", ()), state("DesiredState", up.DESIRED_STATES)
        if isinstance(st, int):  # the enum's order changed between releases: a number is read where they agree
            st = up.compute_state_of_number(st)
        out.append({"id": o.get("ID") or o.get("id"), "job": o.get("JobID") or o.get("job_id") or o.get("job"),
                    "node": o.get("NodeID") or o.get("node_id") or o.get("node"),
                    "state": _STATE_NAMES.get(str(st).lower(), str(st).lower()) if st is not None else None,
                    "desired": up.DESIRED_STATE_OURS.get(str(want), str(want).lower()) if want is not None else None})
    return pd.DataFrame(out, columns=["id", "job", "node", "state", "desired"])


def _objects_frame(obj: Any, kind: str) -> pd.DataFrame:
    """``node list`` / ``job list`` as the API prints them (``--output json|yaml``: ``Info.NodeID``,
    ``Connection``, ``ID``, ``Name``, ``State.StateType``) → rows, each item's ids and state read by
    :mod:`repro_lib.capture.objects` wherever they nest."""
    from repro_lib.capture.objects import _STATE_KEYS, _state_of, norm_key, object_rows

    col = "node" if kind == "nodes" else "job"
    out = []
    for item in obj if isinstance(obj, list) else [obj]:
        if not isinstance(item, dict):
            continue
        rows = [r for r in object_rows(item) if r.get(col)]
        if not rows:
            continue
        flat = {norm_key(k): v for k, v in item.items() if not isinstance(v, dict | list)}
        state = next((r["state"] for r in rows if r.get("state")), None) or next(
            (st for k, v in item.items() if norm_key(k) in _STATE_KEYS and (st := _state_of(norm_key(k), v))), None)
        if kind == "nodes":
            out.append({"id": rows[0][col], "name": flat.get("name") or rows[0][col], "state": state})
        else:
            out.append({"name": flat.get("name") or rows[0][col], "id": rows[0][col], "type": flat.get("type"),
                        "state": state, "version": str(flat["version"]) if "version" in flat else None})
    return pd.DataFrame(out, columns=["id", "name", "state"] if kind == "nodes" else
                        ["name", "id", "type", "state", "version"])


def _describe(text: str) -> list[CliTable]:
    """``job describe``: the job's key = value block and its Executions table (an indented paste: dedented)."""
    import textwrap

    text = textwrap.dedent(text)
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
            obj = json.loads(text) if first in "[{" else load_yaml_text(text, "paste", what="CLI output").data
            keys = set(obj[0]) if isinstance(obj, list) and obj and isinstance(obj[0], dict) else set()
            if kind in ("nodes", "jobs") and keys & {"ID", "Info", "NodeID", "Name", "State", "Connection"}:
                frame = _objects_frame(obj, kind)  # the API's CamelCase objects: read by their keys
            else:
                frame = _api_objects(obj, kind) if keys & {"ID", "NodeID", "ComputeState"} else parse_json(text, kind)
            return [(kind, _ours(frame, kind))]
        frame = parse_table(_clean_table(text), kind)
        header = next(ln for ln in text.splitlines() if ln.strip() and not set(ln.strip()) <= set("+-=─━┌┐┬╭╮┼ |│"))
        if kind == "jobs" and {"id", "job"} <= _headers(header) and "name" not in _headers(header):
            # Bacalhau's older `job list`: JOB is the engine (docker, wasm), the job is its ID
            frame.insert(len(frame.columns), "engine", frame["name"])
            frame["name"] = frame["id"]
        return [(kind, _ours(frame, kind))]
    except (ParseError, ValueError, yaml.YAMLError, ReproError):
        return None


_TIMES = ("connected_since", "last_heartbeat", "created_at", "updated_at")


def snapshot_from_tables(tables: list[CliTable], t_s: float, t0_unix: float | None = None) -> Snapshot:
    """The final :class:`Snapshot` from the tables (in the order given): for each kind, every row
    seen, a later row replacing an earlier one of the same node, job or execution (two describes of
    two jobs both count; a later `node list` updates the nodes of an earlier one). Unix times in it
    (``connected_since`` …) become seconds since ``t0_unix`` (the logs' first line), or are dropped
    when there are no logs to place them against."""
    latest: dict[str, pd.DataFrame] = {}
    for kind, frame in tables:
        if kind in latest and len(frame):
            key = "name" if kind == "jobs" else "id"
            merged = pd.concat([latest[kind], frame], ignore_index=True)
            ids = merged[key].where(merged[key].notna(), merged.index.astype(str))
            latest[kind] = merged[~ids.duplicated(keep="last")].reset_index(drop=True)
        elif len(frame) or kind not in latest:
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


# -- pastes: CLI output wherever it stands in what someone pasted ----------------------------------------

@dataclass
class Paste:
    """What :func:`read_paste` found in one file: the tables (the final state), the rows of the events
    table (every table row, history and progress line, and every other line, so that a paste alone
    still fills ``--events``), and whether log lines stand in it too."""

    tables: list[CliTable]
    events: pd.DataFrame
    also_log: bool
    kinds: list[str] = field(default_factory=list)


_ID_SHAPES = re.compile(r"\b(?:(?P<e>e-[0-9a-f]{8}(?:-[0-9a-f-]{27})?)|(?P<j>j-[0-9a-f]{8}(?:-[0-9a-f-]{27})?)|"
                        r"(?P<n>n-[0-9a-f]{8}(?:-[0-9a-f-]{27})?|Qm[1-9A-HJ-NP-Za-km-z]{6,44})|"
                        r"(?P<u>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}))\b")
_JOB_ID_LINE = re.compile(r"\bJob ID:\s*(\S+)|\bjob (?:describe|executions) (\S+)|\bjob id[: ]+'?(\S+?)'?(?:\s|$)",
                          re.I)
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                       "Dec"), 1)}


def _cell_time(text: str) -> pd.Timestamp | None:
    """A table's TIME cell: ``2024-06-25 11:14:40``, ``Sep 17 17:54:16.793`` (no year: day 0 of
    its month-day is unknown, kept as a time of day), ``15:35:17`` — naive, as printed."""
    text = (text or "").strip()
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d+)?)", text)
    if m:
        return pd.Timestamp(f"{m.group(1)}T{m.group(2)}", tz="UTC")
    m = re.fullmatch(r"(?:[A-Z][a-z]{2} \d{1,2} )?(\d\d:\d\d:\d\d(?:\.\d+)?)", text)
    if m:
        return pd.Timestamp(f"1970-01-01T{m.group(1)}", tz="UTC")  # a time of day, date unknown
    return None


_NODE_NAMED = re.compile(r"\b(?:[Ee]xecution on|[Nn]ode(?: ID)?:?)\s+([A-Za-z0-9][\w.-]{3,62})\b")


def _first_id(text: str, group: str) -> str | None:
    """The first id of a kind (``e``, ``j``, ``n``, ``u``: a bare UUID) written in ``text`` by its
    shape — and, for a node, one named by its context (``execution on fd9ff673``, ``Node node-2``)."""
    for m in _ID_SHAPES.finditer(text or ""):
        if m.group(group):
            return m.group(group)
    if group == "n":  # a name in prose is a node's only with a digit in it (`node-2`, `fd9ff673`): words are none
        for m in _NODE_NAMED.finditer(text or ""):
            if re.search(r"\d", m.group(1)) and id_of(m.group(1), "node"):
                return m.group(1)
    return None


def _rows_of(block: Any, source: str, job: str | None) -> list[dict[str, Any]]:
    """Events rows for one history or progress block."""
    _hl, headers, body = split_table(block.text)
    keys = [re.sub(r"[\s\-.]+", "_", h.strip().rstrip(".").lower()).strip("_") for h in headers]
    body = _mask_secret_columns(headers, body)
    title_exec = _first_id(block.title, "e")
    out = []
    for cells in body:
        r = dict(zip(keys, (cells + [""] * len(keys))[: len(keys)], strict=True))
        state = r.get("new_state") or r.get("state") or ""
        ours = _STATE_NAMES.get(state.replace(" ", "").lower()) if state else None
        execution = r.get("exec_id") or r.get("execution_id") or ""
        execution = execution if re.search(r"[0-9A-Za-z]", execution) else (title_exec or None)  # `/`, `----`
        text = "  ".join(c for c in cells if c)
        detail = "; ".join(f"{k}={v}" for k, v in r.items() if v and k not in ("time",))
        out.append({"t": _cell_time(r.get("time", "")), "source": source, "kind": "cli",
                    "node": r.get("node_id") or r.get("node") or _first_id(text, "n"),
                    "job": job or _first_id(text, "j"), "execution": execution,
                    "state": ours or (state.lower() or None), "detail": f"{block.kind}: {detail}",
                    "line": text, "level": None,
                    "msg": r.get("event") or r.get("comment") or r.get("topic") or state or None})
    return out


def _more_ids(line: str, row: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """Rows for the ids a line writes beyond the first of each kind (``• Node QmSD38wH, QmRHRr8c: …``), one a row:
    the events table has one node, job and execution a row, and none written is lost."""
    from repro_lib.capture.ids import ids_in

    out = []
    have = {row.get("node"), row.get("job"), row.get("execution")}
    for kind, found in ids_in(line).items():
        col = {"uuid": "job"}.get(kind, kind)
        for v in found:
            if v in have or any(h and (h.startswith(v) or v.startswith(h)) for h in have):
                continue
            have.add(v)
            out.append({"t": None, "source": source, "kind": "raw", "node": None, "job": None, "execution": None,
                        col: v, "state": None, "detail": f"{col} also named in this line", "line": line,
                        "level": None, "msg": line.strip()})
    return out


def _object_executions(text: str, job: str | None) -> list[CliTable]:
    """An executions table from a printed object's rows that name an execution (a describe's ``Executions``
    as the API prints it), or none."""
    from repro_lib.capture.objects import object_rows, tree_of

    tree = tree_of(text)
    rows = [r for r in object_rows(tree) if r.get("execution")] if tree is not None else []
    if not rows:
        return []
    frame = pd.DataFrame([{"id": r["execution"], "job": r.get("job") or job, "node": r.get("node"),
                           "state": r.get("state"), "desired": None} for r in rows],
                         columns=["id", "job", "node", "state", "desired"])
    return [("executions", frame.drop_duplicates("id", keep="last").reset_index(drop=True))]


def _object_events(block: Any, source: str, tables: list[CliTable]) -> list[dict[str, Any]]:
    """Events rows for a printed object (:mod:`repro_lib.capture.objects`): one per object that names an id,
    wherever it nests; ids the block's tables already hold are not repeated."""
    from repro_lib.capture.objects import object_rows, tree_of

    tree = tree_of(block.text)
    if tree is None:
        return []
    have = {str(v) for _k, df in tables for col in ("id", "node", "job", "name") if col in df
            for v in df[col].dropna()}
    out = []
    for r in object_rows(tree):
        ids = {c: r.get(c) for c in ("node", "job", "execution")}
        if tables and all(v is None or v in have for v in ids.values()):
            continue
        out.append({"t": None, "source": source, "kind": "cli", **ids, "state": r.get("state"),
                    "detail": f"object: {r['detail']}" if r.get("detail") else "object", "line": None,
                    "level": None, "msg": None})
    return out


#: header names (normalised) → the column they fill, wherever a header says them
_COL_BY_NAME = {"exec_id": "execution", "execution_id": "execution", "execution": "execution", "exec": "execution",
                "job_id": "job", "job": "job", "node_id": "node", "node": "node", "node_name": "node",
                "host": "node", "hostname": "node", "peer_id": "node", "requester": "node",
                "state": "state", "status": "state", "compute_state": "state", "new_state": "state",
                "job_state": "state", "execution_state": "state", "connection": "state", "connection_state": "state",
                "time": "t", "created": "t", "creation_time": "t", "created_at": "t", "timestamp": "t",
                "submitted": "t"}


def _id_column_kind(keys: list[str], values: list[str]) -> str | None:
    """What a table's bare ID column holds: the kind its values' shape tells, else what the other columns say
    (a NODE column: executions; APPROVAL, LABELS, CPU: nodes; else jobs)."""
    from repro_lib.capture.ids import kind_by_shape

    shapes = [k for k in (kind_by_shape(v) for v in values if v) if k]
    if shapes:
        top = max(set(shapes), key=shapes.count)
        if top != "uuid":
            return top
    k = set(keys)
    if k & {"node_id", "node", "node_name"}:
        return "execution"
    if k & {"approval", "labels", "cpu", "memory", "disk", "gpu", "membership"}:
        return "node"
    return "job"


def _mask_secret_columns(headers: list[str], body: list[list[str]]) -> list[list[str]]:
    """A column whose header names a secret (TOKEN, API KEY, PASSWORD…: :mod:`repro_lib.redact`'s rule) is masked
    in every row as it is read: a row's cells travel on as ``detail`` and ``line``, where no header says so."""
    from repro_lib.redact import _secret_header

    cols = [i for i, h in enumerate(headers) if _secret_header(h.strip())]
    if not cols:
        return body
    return [[("***" if c.strip() else c) if i in cols else c for i, c in enumerate(cells)] for cells in body]


def _generic_rows(block: Any, source: str, job: str | None) -> list[dict[str, Any]]:
    """Events rows for any aligned table (:func:`repro_lib.capture.paste.header_cells`): its columns mapped by
    name, whatever printed it; each id checked against its kind's grammar (a cut cell, a word: none)."""
    from repro_lib.capture.ids import id_of

    lines = [ln for ln in block.text.splitlines() if ln.strip()]
    if lines and "\t" in lines[0]:  # tab-separated: cells by tabs, not by alignment
        _hl, headers, body = split_table("\n".join(lines))
    else:
        _hl, headers, body = split_table(block.text)
    keys = [re.sub(r"[\s\-.]+", "_", h.strip().rstrip(".").lower()).strip("_") for h in headers]
    body = _mask_secret_columns(headers, body)
    if "id" in keys:
        id_kind = _id_column_kind(keys, [(b + [""] * len(keys))[keys.index("id")] for b in body])
    out = []
    for cells in body:
        r = dict(zip(keys, (cells + [""] * len(keys))[: len(keys)], strict=True))
        row: dict[str, Any] = {"t": None, "node": None, "job": job, "execution": None, "state": None}
        for k, v in r.items():
            col = _COL_BY_NAME.get(k) or (id_kind if k == "id" else None)
            if not v or col is None:
                continue
            if col == "t":
                row["t"] = row["t"] or _cell_time(v)
            elif col == "state":
                if row["state"] is None and re.fullmatch(r"[A-Za-z][\w -]{0,30}", v):
                    row["state"] = _STATE_NAMES.get(v.replace(" ", "").lower(), v.lower())
            elif (got := id_of(v, col)) is not None:
                row[col] = got
        text = "  ".join(c for c in cells if c)
        detail = "; ".join(f"{k}={v}" for k, v in r.items() if v)
        out.append({**row, "source": source, "kind": "cli", "detail": f"table: {detail}", "line": text,
                    "level": None, "msg": r.get("event") or r.get("message") or r.get("comment") or None})
    return out


def _yaml_describe(text: str) -> list[CliTable]:
    """A YAML ``describe`` (any API version, ``...`` elisions and all): the job's id and state and
    each execution's id, node and state, read line by line (the text is often not valid YAML)."""
    job_id = None
    job_state = None
    execs: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    cur_indent = -1
    in_state = False
    for ln in text.splitlines():
        if not ln.strip():
            continue
        indent = len(ln) - len(ln.lstrip(" -"))
        m = re.match(r"^(\s*)(- )?([A-Za-z]+):\s*\"?([^\"]*?)\"?\s*$", ln)
        if not m:
            continue
        key, value = m.group(3), m.group(4).strip()
        if not m.group(1) and not m.group(2):
            in_state = key in ("State", "JobState", "Status")
        if m.group(2) and key in ("ComputeReference", "NodeId", "NodeID", "ID", "State", "ShardIndex") \
                and in_state:
            cur = {}
            execs.append(cur)
            cur_indent = indent
        elif cur is not None and indent < cur_indent:
            cur = None
        if key in ("JobID", "ID") and value and job_id is None and cur is None:
            job_id = value
        if cur is not None:
            if key in ("ComputeReference", "ExecutionID"):
                cur["id"] = value
            elif key in ("NodeId", "NodeID"):
                cur["node"] = value
            elif key == "State":
                cur["state"] = value
        elif key == "State" and in_state and value and m.group(1) and len(m.group(1)) <= 4:
            job_state = value  # the job's own state: the last State at the top of the State block
    jobs = pd.DataFrame([{"name": job_id, "id": job_id, "type": None,
                          "state": job_state.lower() if job_state else None, "version": None}])
    rows = [{"id": e.get("id"), "job": job_id, "node": e.get("node"),
             "state": _STATE_NAMES.get(str(e.get("state", "")).lower(), str(e.get("state", "")).lower() or None),
             "desired": None} for e in execs if e.get("id") or e.get("node")]
    tables: list[CliTable] = [("jobs", jobs)] if job_id else []
    if rows:
        tables.append(("executions", pd.DataFrame(rows, columns=["id", "job", "node", "state", "desired"])))
    return tables


def read_paste(path: str | Path, text: str | None = None) -> Paste | None:
    """The CLI output in a file — anywhere in it, after prompts, commands, errors and other tables —
    or None when the file holds none (then it is a log)."""
    from repro_lib.capture import paste as pp
    from repro_lib.capture.logs import FRAME_COLUMNS

    path = Path(path)
    if text is None:
        from repro_lib.capture.reader import check_log_path, read_log

        check_log_path(path)
        with path.open("rb") as fh:
            head = fh.read(256 * 1024)
        head_text = pp.strip_ansi(head.decode("utf-8", errors="replace"))
        if (sdk := _sdk_paste(head_text, path.stem)) is not None and len(head) < 256 * 1024:
            return sdk
        if not (head.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_like_cli(head_text)):
            return None
        data, _ = read_log(path)
        text = bytes(data).decode("utf-8", errors="replace")
    whole = sniff_cli(text)
    if whole in ("nodes", "jobs", "executions") and text.lstrip()[:1] in "[{-":  # JSON/YAML output
        found = read_cli_file(path, text)
        if found:
            return Paste(found, _table_events(found, path.stem), False, [k for k, _ in found])
    blocks = pp.scan(text)
    lines = pp.strip_ansi(text).split("\n")
    commands = [i for i, ln in enumerate(lines) if pp.command_of(ln)]
    phrases = [i for i, ln in enumerate(lines) if pp.CLI_PHRASES.match(ln)]
    loglike = sum(1 for ln in lines if pp._LOGLIKE.match(ln))
    if not phrases and not loglike:  # an error the CLI exited with, or an id it printed alone
        phrases = [i for i, ln in enumerate(lines) if pp.CLI_ERROR.match(ln) or pp.ID_ONLY.match(ln)]
    if not blocks and not phrases and all(_LOG_COMMANDS.search(pp.command_of(lines[i]) or "") for i in commands):
        return None  # no command, or only ones whose output is a log (`bacalhau serve`, `devstack` …)
    in_block = sum(b.end - b.start for b in blocks if b.kind != "describe")
    if not blocks and loglike * 2 > sum(1 for ln in lines if ln.strip()):
        return None  # a log with a command line on top
    tables: list[CliTable] = []
    events: list[dict[str, Any]] = []
    source = path.stem
    describes = [b for b in blocks if b.kind == "describe"]

    def job_of(b: Any) -> str | None:
        for d in describes:
            if d.start <= b.start < d.end:
                return _describe_job(d.text)
        return _job_in_command(b.command)

    for b in blocks:
        try:
            if b.kind == "describe":
                found = _describe(b.text)[:1]  # the job row; its tables are blocks of their own
            elif b.kind == "yaml":
                found = _yaml_describe(b.text)
                if not any(k == "executions" for k, _df in found):  # today's YAML: Executions > Items, by keys
                    found += _object_executions(b.text, next((df["id"].iloc[0] for k, df in found if k == "jobs"),
                                                             None))
                events += _object_events(b, source, found)
            elif b.kind == "object":
                events += _object_events(b, source, [])
                continue
            elif b.kind == "table":
                events += _generic_rows(b, source, job_of(b))
                continue
            elif b.kind in ("history", "progress"):
                events += _rows_of(b, source, job_of(b))
                continue
            else:
                frame = parse_table(_clean_table(b.text), b.kind, strict=False)
                hdr = pp._cells(b.text.splitlines()[0] if not pp._BOX_LINE.match(b.text) else
                                next(ln for ln in b.text.splitlines() if not set(ln.strip()) <= pp._BORDER))
                heads = {pp._norm(c) for c in hdr}
                if b.kind == "jobs" and {"id", "job"} <= heads and "name" not in heads:
                    frame.insert(len(frame.columns), "engine", frame["name"])
                    frame["name"] = frame["id"]
                if b.kind == "executions" and (job := job_of(b)) and frame["job"].isna().all():
                    frame["job"] = job
                if b.kind in ("nodes", "executions") and len(frame):  # `... [Additional nodes information] ...`
                    frame = frame[~frame["id"].fillna("").str.contains(r"\.\.\.|…|\s|\[")].reset_index(drop=True)
                found = [(b.kind, _ours(frame, b.kind))]
        except (ParseError, ValueError, KeyError, StopIteration):
            continue
        tables += found
        events += _table_events_rows(found, source)
    covered = {i for b in blocks if b.kind not in ("yaml", "object", "describe") for i in range(b.start, b.end)}
    for b in describes:  # a describe's head is its job row; its other lines (messages, bullets, outputs) are kept
        covered |= {i for i in range(b.start, b.end) if re.match(r"^\s*\w[\w .]*\s+=\s", lines[i])}
    for i, ln in enumerate(lines):  # every other line is kept as it was, never dropped
        if i in covered or not ln.strip():
            continue
        events.append({"t": None, "source": source, "kind": "raw", "node": _first_id(ln, "n"),
                       "job": _first_id(ln, "j") or _first_id(ln, "u"), "execution": _first_id(ln, "e"),
                       "state": None, "detail": "command" if i in commands else None, "line": ln, "level": None,
                       "msg": ln.strip()})
        events += _more_ids(ln, events[-1], source)
    frame = pd.DataFrame(events, columns=[c for c in FRAME_COLUMNS if c != "t_s"])
    frame["t"] = pd.to_datetime(frame["t"], utc=True)
    frame.insert(1, "t_s", float("nan"))
    also_log = loglike >= 3 and loglike > in_block // 4
    return Paste(tables, frame, also_log, [b.kind for b in blocks])


#: commands whose output is a node's log, not CLI output
_LOG_COMMANDS = re.compile(r"^\S+\s+(?:(?:--?\S+\s+)*)(?:serve|devstack|agent|config)\b")


#: keys whose value is an id of a known kind, wherever they nest (the SDK's snake_case, the API's CamelCase)
_OBJ_ID_KEYS = {"node_id": "node", "nodeid": "node", "requesternodeid": "node", "requester.id": "node",
                "job_id": "job", "jobid": "job", "execution_id": "execution", "executionid": "execution"}
_OBJ_ID = re.compile(r"[A-Za-z0-9][\w.-]{2,}")
_OBJ_PARENT = {"job": "job", "jobs": "job", "node": "node", "nodes": "node", "execution": "execution",
               "executions": "execution", "info": "node"}


def _obj_ids(obj: Any, parent: str | None, found: list[dict[str, Any]]) -> None:
    """Walk a printed object: every dict that names an id by a known key (or an ``id`` under a known parent)
    gives a row with its state (``state.state_type``, ``connection_state``, ``State``)."""
    if isinstance(obj, list):
        for v in obj:
            _obj_ids(v, parent, found)
        return
    if not isinstance(obj, dict):
        return
    row: dict[str, Any] = {}
    for k, v in obj.items():
        key = str(k).lower().rsplit("/", 1)[-1]
        if isinstance(v, str) and (col := _OBJ_ID_KEYS.get(key)) is not None:
            if _OBJ_ID.fullmatch(v):  # an id has its kind's grammar: prose and elisions are none
                row.setdefault(col, v)
        elif key == "id" and isinstance(v, str) and parent in _OBJ_PARENT and _OBJ_ID.fullmatch(v):
            row.setdefault(_OBJ_PARENT[parent], v)
        elif key in ("state", "connection_state", "connectionstate", "computestate"):
            st = v.get("state_type", v.get("StateType")) if isinstance(v, dict) else v
            if isinstance(st, str):
                row["state"] = st.lower()
        elif isinstance(v, str):
            for m in _ID_SHAPES.finditer(v):  # an id inside a value (a result's name): only by its grammar
                if m["u"] and v[max(0, m.start() - 4):m.start()] == "job-":
                    row.setdefault("job", m["u"])
                elif m["n"] and m["n"].startswith("Qm"):
                    row.setdefault("node", m["n"])
    if row.keys() - {"state"}:
        found.append(row)
    for k, v in obj.items():
        _obj_ids(v, str(k).lower(), found)


def _sdk_paste(text: str, source: str) -> Paste | None:
    """Python SDK output (``pprint`` of API objects, a printed dict or list) → a paste whose rows name the
    jobs, nodes and executions it holds, wherever they nest; None when the text is no Python literal."""
    from repro_lib.capture.objects import _python, object_rows

    body = text.strip()
    is_repr = re.match(r"[A-Z]\w*\(", body) is not None  # a model's repr: `ListJobsResponse(items=[Job(id=…)])`
    if (body[:1] not in "{[" and not is_repr) or "'" not in body[:400]:
        return None
    tree = _python(body)  # parsed, never evaluated
    if not isinstance(tree, dict | list):
        return None
    rows: list[dict[str, Any]] = []
    _obj_ids(tree, None, rows)

    have = {v for r in rows for k, v in r.items() if k != "state"}
    for r in object_rows(tree):  # keys wherever they nest
        ids = {k: r[k] for k in ("node", "job", "execution") if r.get(k)}
        if ids and not set(ids.values()) <= have:
            rows.append({**ids, **({"state": r["state"]} if r.get("state") else {})})
            have |= set(ids.values())
    if not rows:
        return None
    from repro_lib.capture.logs import FRAME_COLUMNS

    events = [{"t": None, "source": source, "kind": "cli", "node": r.get("node"), "job": r.get("job"),
               "execution": r.get("execution"), "state": r.get("state") if "job" not in r or "execution" in r
               else None, "detail": "sdk object: " + "; ".join(f"{k}={v}" for k, v in r.items()),
               "line": None, "level": None, "msg": None} for r in rows]
    frame = pd.DataFrame(events, columns=[c for c in FRAME_COLUMNS if c != "t_s"])
    frame["t"] = pd.to_datetime(frame["t"], utc=True)
    frame.insert(1, "t_s", float("nan"))
    return Paste([], frame, False, ["sdk object"])


def _looks_like_cli(text: str) -> bool:
    """Whether the head of a file shows CLI output (a command of ours whose output is not a log, a
    table header, a describe, a phrase only the CLI prints): a log is never read whole twice."""
    from repro_lib.capture import paste as pp

    if sniff_cli(text) is not None:
        return True
    every = text.splitlines()
    lines = every[:400]
    skip = tries = 0
    for i, ln in enumerate(lines):
        cmd = pp.command_of(ln)
        if (cmd and not _LOG_COMMANDS.search(cmd)) or pp.CLI_PHRASES.match(ln) or pp.header_kind(ln) \
                or pp._DESCRIBE_KV.match(ln) or pp._YAML_TOP.match(ln) or pp.aligned_header(lines, i) \
                or (pp._CSV_HEAD.match(ln) and pp.header_kind(ln.replace(",", "\t"))):
            return True
        if tries < 20 and pp._JSON_OPEN.match(ln) and not pp._LOGLIKE.match(ln):
            tries += 1
            if (end := pp._json_end(every, i, budget=300_000)) > i:
                return True  # a JSON document that names an id (`--output json`, an API's answer)
            tries = 20 if end < 0 else tries
        if i >= skip and (":" in ln or " = " in ln):  # a printed object that names an id
            skip, found = pp._object_end(lines, i)
            if found:
                return True
    return not any(pp._LOGLIKE.match(ln) for ln in lines) and any(pp.CLI_ERROR.match(ln) or pp.ID_ONLY.match(ln)
                                                                  for ln in lines)


def _describe_job(text: str) -> str | None:
    m = re.search(r"^\s*(?:Name|ID)\s+=\s+(\S.*?)\s*$", text, re.M)
    return m.group(1) if m else None


def _job_in_command(command: str | None) -> str | None:
    if not command:
        return None
    m = re.search(r"\b(?:describe|executions|history|logs)\s+(\S+)", command)
    return m.group(1) if m and not m.group(1).startswith("-") else None


def _table_events_rows(tables: list[CliTable], source: str) -> list[dict[str, Any]]:
    out = []
    for kind, df in tables:
        for r in df.astype(object).where(df.notna(), None).to_dict("records"):
            node = r.get("node") if kind == "executions" else r.get("id") if kind == "nodes" else None
            node = id_of(node, "node") if node is not None else None  # an elided row (`... [Addit`) names none
            job = r.get("job") if kind == "executions" else r.get("name") if kind == "jobs" else None
            if kind == "jobs" and (jid := id_of(r.get("id"), "job")) is not None:
                job = jid  # the job column holds ids, as in the logs; the name stays in the detail
            out.append({"t": None, "source": source, "kind": "cli", "node": node, "job": job,
                        "execution": r.get("id") if kind == "executions" else None, "state": r.get("state"),
                        "detail": f"{kind}: " + "; ".join(f"{k}={v}" for k, v in r.items() if v is not None),
                        "line": None, "level": None, "msg": None})
    return out


def _table_events(tables: list[CliTable], source: str) -> pd.DataFrame:
    from repro_lib.capture.logs import FRAME_COLUMNS

    frame = pd.DataFrame(_table_events_rows(tables, source), columns=[c for c in FRAME_COLUMNS if c != "t_s"])
    frame["t"] = pd.to_datetime(frame["t"], utc=True)
    frame.insert(1, "t_s", float("nan"))
    return frame
