"""Capture: turn log text and CLI output into the one event table (DESIGN.md)."""

from __future__ import annotations

from repro_lib.capture.cli import (
    parse_cli_output,
    parse_json,
    parse_table,
    render_json,
    render_table,
)
from repro_lib.capture.logs import (
    add_t_s,
    events_frame,
    parse_file,
    parse_line,
    parse_lines,
    resolve_fault_nodes,
)
from repro_lib.capture.records import records_frame

__all__ = [
    "add_t_s",
    "events_frame",
    "parse_cli_output",
    "parse_file",
    "parse_json",
    "parse_line",
    "parse_lines",
    "parse_table",
    "records_frame",
    "render_json",
    "render_table",
    "resolve_fault_nodes",
]
