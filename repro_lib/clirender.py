"""``expanso-cli``-style output, with no pandas: go-pretty-like tables and ``--format json`` in the
API shape. The emulator's CLI prints with these (the emulated images carry no pandas) and
:mod:`repro_lib.capture.cli` re-exports them next to the parsers."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["KIND_COLUMNS", "render_table", "render_json", "cell_text"]

KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "nodes": ("id", "name", "state"),
    "jobs": ("name", "id", "type", "state", "version"),
    "executions": ("id", "job", "node", "state", "desired"),
}


def cell_text(v: object) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, style: str = "box") -> str:
    """A go-pretty-like table: ``box`` (borders) or ``plain`` (``--no-style``)."""
    if style not in ("box", "plain"):
        raise ValueError(f"unknown table style {style!r}; use box or plain")
    headers = [col.upper().replace("_", " ") for col in columns]
    body = [[cell_text(r.get(col)).replace("\n", " ") for col in columns] for r in rows]
    widths = [max([len(h), *(len(b[i]) for b in body)]) for i, h in enumerate(headers)]
    if style == "plain":
        lines = ["  ".join(v.ljust(w) for v, w in zip(cells, widths, strict=True)).rstrip()
                 for cells in [headers, *body]]
        return "\n".join(lines) + "\n"
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([sep, row(headers), sep, *(row(b) for b in body), sep]) + "\n"


def render_json(rows: Sequence[Mapping[str, Any]], kind: str) -> str:
    """Rows with :data:`KIND_COLUMNS` keys → ``--format json`` text in the API shape."""
    if kind not in KIND_COLUMNS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KIND_COLUMNS)}")
    out: list[dict[str, Any]] = []
    for r in rows:
        if kind == "nodes":
            o: dict[str, Any] = {"id": r.get("id"), "name": r.get("name"),
                                 "status": {"connection_state": r.get("state")}}
        elif kind == "jobs":
            o = {"name": r.get("name"), "id": r.get("id"), "type": r.get("type"),
                 "version": r.get("version"),
                 "status": {"state": {"state_type": r.get("state")}}}
        else:
            o = {"id": r.get("id"), "job_id": r.get("job"), "node_id": r.get("node"),
                 "status": {"compute_state": {"state_type": r.get("state")},
                            "desired_state": {"state_type": r.get("desired")}}}
        for k, v in r.items():
            if k not in KIND_COLUMNS[kind] and k not in o:
                o[k] = v
        out.append(o)
    return json.dumps(out, indent=2, default=str) + "\n"
