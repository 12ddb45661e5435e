"""Render and parse ``expanso-cli`` snapshot output (mechanics.md §4): tables and ``--format json``.

Canonical columns (the simulator uses the same):

- ``nodes``: ``id, name, state``
- ``jobs``: ``name, id, type, state, version``
- ``executions``: ``id, job, node, state, desired``

Tables may be go-pretty boxes or ``--no-style`` plain columns, with Bacalhau-style header variants
(``NODE ID``, ``STATUS``, ``DESIRED STATE``, ``REV.`` …); extra columns are kept, lower-cased with
spaces as underscores. ``state`` and ``desired`` values are lower-cased.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from repro_lib.clirender import KIND_COLUMNS, cell_text, render_json, render_table
from repro_lib.errors import ParseError

__all__ = [
    "KIND_COLUMNS",
    "REQUIRED_COLUMNS",
    "render_table",
    "parse_table",
    "split_table",
    "render_json",
    "parse_json",
    "parse_cli_output",
]

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "nodes": ("id", "state"),
    "jobs": ("name", "state"),
    "executions": ("id", "node", "state"),
}
# normalised header → canonical column, per kind (first match of a column wins)
_ALIASES: dict[str, dict[str, str]] = {
    "nodes": {
        "id": "id", "node_id": "id", "node": "id",
        "name": "name", "node_name": "name", "hostname": "name",
        "state": "state", "status": "state", "connection": "state",
        "connection_state": "state", "conn_state": "state",
    },
    "jobs": {
        "name": "name", "job_name": "name", "job": "name",
        "id": "id", "job_id": "id",
        "type": "type", "job_type": "type",
        "state": "state", "status": "state", "job_state": "state",
        "version": "version", "ver": "version", "rev": "version", "revision": "version",
    },
    "executions": {
        "id": "id", "execution_id": "id", "exec_id": "id", "execution": "id",
        "job": "job", "job_name": "job", "job_id": "job",
        "node": "node", "node_id": "node", "node_name": "node",
        "state": "state", "status": "state", "compute_state": "state",
        "desired": "desired", "desired_state": "desired",
    },
}
_LOWER_VALUES = ("state", "desired")
_NOTHING_RE = re.compile(r"^\s*no \w+ found\b", re.IGNORECASE)
_BOX_CHARS = str.maketrans({"│": "|", "┃": "|", "║": "|"})
_SPLIT2_RE = re.compile(r"\S+(?: \S+)*")


def _check_kind(kind: str) -> tuple[str, ...]:
    try:
        return KIND_COLUMNS[kind]
    except KeyError:
        raise ParseError(
            f"unknown snapshot kind {kind!r}", hint=f"use one of {', '.join(KIND_COLUMNS)}"
        ) from None


def _norm_header(h: str) -> str:
    return re.sub(r"[\s\-]+", "_", h.strip().rstrip(".").strip().lower())


def _empty(kind: str) -> pd.DataFrame:
    return pd.DataFrame({col: pd.Series([], dtype="str") for col in KIND_COLUMNS[kind]})


def _finish(records: list[dict[str, Any]], headers: list[str], kind: str, header_line: str,
            *, strict: bool) -> pd.DataFrame:
    """Map raw header names to columns, check required ones, build the frame."""
    aliases = _ALIASES[kind]
    mapping: list[str] = []
    used: set[str] = set()
    for h in headers:
        norm = _norm_header(h) or "column"
        target = aliases.get(norm, norm)
        if target in used:
            target = norm if norm not in used else f"{norm}_{len(mapping)}"
        used.add(target)
        mapping.append(target)
    missing = [col for col in REQUIRED_COLUMNS[kind] if col not in used]
    if strict and missing:
        raise ParseError(
            f"{kind} table has no {', '.join(missing).upper()} column in header {header_line!r}",
            hint=f"expected columns like {' '.join(KIND_COLUMNS[kind]).upper()}",
        )
    canon = KIND_COLUMNS[kind]
    order = [*canon, *(m for m in mapping if m not in canon)]
    data: dict[str, list[Any]] = {col: [] for col in order}
    for rec in records:
        vals = dict(zip(mapping, (rec.get(h) for h in headers), strict=True))
        for col in order:
            v = vals.get(col)
            if isinstance(v, str):
                v = v.strip() or None
            if v is not None and col in _LOWER_VALUES:
                v = str(v).lower()
            data[col].append(v)
    return pd.DataFrame({col: pd.Series(v, dtype="str") for col, v in data.items()})


def _split_plain(line: str, starts: list[int]) -> list[str]:
    """Cells by the header's column starts; a start that falls inside a word (a paste that lost or
    gained a leading space) is moved to the nearest word boundary within two characters."""
    def snap(s: int) -> int:
        if s == 0 or s >= len(line) or line[s - 1] == " ":
            return s
        for d in (1, -1, 2, -2):
            p = s + d
            if 0 < p < len(line) and line[p - 1] == " " and line[p] != " ":
                return p
        return s

    cuts = [snap(s) for s in starts]
    cells = []
    for i, s in enumerate(cuts):
        e = cuts[i + 1] if i + 1 < len(cuts) else None
        cells.append(line[s:e].strip())
    return cells


def split_table(text: str) -> tuple[str, list[str], list[list[str]]]:
    """A table's header line, header cells and body rows (box or plain columns; a wrapped cell's
    continuation lines joined into its row). Empty when the text holds no table."""
    lines = [ln.rstrip() for ln in text.translate(_BOX_CHARS).splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        return "", [], []
    boxed = any(ln.lstrip().startswith("|") for ln in lines)
    if not boxed and "\t" in lines[0].strip():  # tab-separated: cells by tabs, not by alignment
        keep = [ln.strip(" \r\n") for ln in lines if not set(ln.strip()) <= set("-+=─━┼╪ \t")]
        single = len({ln.count("\t") for ln in keep}) == 1  # one tab a cell, empty cells too (CSV, TSV)
        cells = [[c.strip() for c in (ln.split("\t") if single else re.split(r"\t+", ln.strip()))] for ln in keep]
        headers, body = _unwrap(cells[0], cells[1:])
        return lines[0], headers, body
    if boxed:
        rows = [ln.strip() for ln in lines if ln.lstrip().startswith("|")]
        cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
        keep = [k for k, cs in enumerate(cells) if not all(re.fullmatch(r"[-:=─━ ]*", c) for c in cs)]
        rows, cells = [rows[k] for k in keep], [cells[k] for k in keep]  # a markdown table's `|---|---|` rule
        header_line, headers, body = rows[0], cells[0], cells[1:]
    else:
        rows = [ln for ln in lines if not set(ln.strip()) <= set("-+=─━┼╪ ")]
        header_line = rows[0]
        spans = list(re.finditer(r"\S+(?: \S+)*", header_line))
        headers = [m.group(0) for m in spans]
        starts = [m.start() for m in spans]
        body = []
        for r in rows[1:]:
            by_pos = _split_plain(r, starts)
            by_gap = re.split(r"\s{2,}", r.strip())
            aligned = all(
                s == 0 or s >= len(r) or r[s - 1] == " " for s in starts
            )
            body.append(by_pos if aligned or len(by_gap) != len(headers) else by_gap)
    headers, body = _unwrap(headers, body)
    return header_line, headers, body


def parse_table(text: str, kind: str, *, strict: bool = True) -> pd.DataFrame:
    """A ``node|job|execution list`` table (box or ``--no-style``) → frame of :data:`KIND_COLUMNS`.

    Raises :class:`~repro_lib.errors.ParseError` when a required column is missing (``strict``).
    """
    _check_kind(kind)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if not first or _NOTHING_RE.match(first):
        return _empty(kind)
    header_line, headers, body = split_table(text)
    records = [dict(zip(headers, (b + [""] * len(headers))[: len(headers)], strict=True))
               for b in body]
    return _finish(records, headers, kind, header_line, strict=strict)


def _unwrap(headers: list[str], body: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """A row whose first cell is empty continues the row above it (a wrapped header like
    ``COMPUTE``/``STATE`` or a wrapped cell): its cells are appended, not a phantom row."""
    rows = [list(headers), *(list(b) for b in body)]
    out: list[list[str]] = []
    for r in rows:
        if out and r and not r[0].strip() and any(c.strip() for c in r):
            prev = out[-1]
            prev += [""] * (len(r) - len(prev))
            for i, c in enumerate(r):
                if c.strip():
                    prev[i] = f"{prev[i]} {c.strip()}".strip()
            continue
        out.append(r)
    return out[0], out[1:]


def _dig(obj: Mapping[str, Any], *paths: str) -> Any:
    """The first non-empty value among dotted ``paths`` (e.g. ``status.state.state_type``)."""
    for path in paths:
        cur: Any = obj
        for part in path.split("."):
            cur = cur.get(part) if isinstance(cur, Mapping) else None
            if cur is None:
                break
        if cur is not None and not isinstance(cur, Mapping | list):
            return cur
    return None


_JSON_PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    "nodes": {
        "id": ("id", "node_id", "info.node_id", "info.id"),
        "name": ("name", "info.name", "node_name"),
        "state": ("state", "status.connection_state", "connection_state", "status",
                  "connection"),
    },
    "jobs": {
        "name": ("name", "job_name", "job.name"),
        "id": ("id", "job_id", "job.id"),
        "type": ("type", "job_type", "job.type"),
        "state": ("state", "status.state.state_type", "status.state", "state.state_type",
                  "status"),
        "version": ("version", "job.version", "revision"),
    },
    "executions": {
        "id": ("id", "execution_id"),
        "job": ("job", "job_name", "job_id"),
        "node": ("node", "node_id", "node_name"),
        "state": ("state", "status.compute_state.state_type", "compute_state.state_type",
                  "compute_state", "status"),
        "desired": ("desired", "status.desired_state.state_type", "desired_state.state_type",
                    "desired_state"),
    },
}


def parse_json(text: str, kind: str) -> pd.DataFrame:
    """``--format json`` output (API shape or flat objects) → frame of :data:`KIND_COLUMNS`."""
    _check_kind(kind)
    if not text.strip() or _NOTHING_RE.match(text):
        return _empty(kind)
    try:
        obj = json.loads(text)
    except ValueError as err:
        raise ParseError(
            f"{kind} output is not JSON: {err}", hint="pass the raw CLI output"
        ) from None
    if isinstance(obj, Mapping):
        for key in (kind, "items", "jobs", "nodes", "executions", "data"):
            if isinstance(obj.get(key), list):
                obj = obj[key]
                break
        else:
            obj = [obj]
    if not isinstance(obj, list) or not all(isinstance(o, Mapping) for o in obj):
        raise ParseError(f"{kind} JSON is not an array of objects", hint="pass the raw CLI output")
    paths = _JSON_PATHS[kind]
    known = {p.split(".")[0] for ps in paths.values() for p in ps}
    records: list[dict[str, Any]] = []
    extras: list[str] = []
    for o in obj:
        rec = {col: _dig(o, *ps) for col, ps in paths.items()}
        for k, v in o.items():
            if k not in known and not isinstance(v, Mapping | list):
                if k not in extras:
                    extras.append(k)
                rec[k] = v
        records.append({k: (cell_text(v) if v is not None else None) for k, v in rec.items()})
    headers = [*paths, *extras]
    return _finish(records, headers, kind, " ".join(headers), strict=False)


def parse_cli_output(text: str, kind: str) -> pd.DataFrame:
    """Table or JSON output of ``node|job|execution list`` → frame of :data:`KIND_COLUMNS`."""
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        return parse_json(text, kind)
    return parse_table(text, kind)
