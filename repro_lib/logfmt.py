"""Render log records the way the real binaries do (mechanics.md §5).

Three formats: ``text`` (slog TextHandler), ``json`` (slog JSONHandler) and ``console``
(zerolog ConsoleWriter as Bacalhau configures it). Fields keep insertion order, as slog does.
Pure functions: the model produces :class:`LogRecord`, drivers choose how to write it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

__all__ = ["LogRecord", "FORMATS", "format_record", "format_time", "docker_prefix"]

FORMATS = ("text", "json", "console")
_CONSOLE_LEVEL = {"DEBUG": "DBG", "INFO": "INF", "WARN": "WRN", "ERROR": "ERR", "TRACE": "TRC"}


class LogRecord(NamedTuple):
    """One log line before formatting; ``t`` is seconds since the run's epoch."""

    t: float
    source: str
    level: str
    msg: str
    fields: tuple[tuple[str, object], ...] = ()


def format_time(epoch: datetime, t: float) -> datetime:
    """The wall-clock time of virtual second ``t``."""
    return epoch + timedelta(seconds=t)


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    s = str(v)
    if s == "" or any(c in s for c in ' ="\\') or any(c < " " or c == "\x7f" for c in s):
        return json.dumps(s)
    return s


def _json_value(v: object) -> object:
    return v if isinstance(v, bool | int | float) or v is None else str(v)


def format_record(rec: LogRecord, epoch: datetime, fmt: str = "text") -> str:
    """One line for ``rec`` in format ``fmt`` (``text``, ``json`` or ``console``)."""
    when = format_time(epoch, rec.t)
    if fmt == "text":
        ts = when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        parts = [f"time={ts}", f"level={rec.level}", f"msg={_value(rec.msg)}"]
        parts += [f"{k}={_value(v)}" for k, v in rec.fields]
        return " ".join(parts)
    if fmt == "json":
        ts = when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        obj: dict[str, object] = {"time": ts, "level": rec.level, "msg": rec.msg}
        for k, v in rec.fields:
            obj[k] = _json_value(v)
        return json.dumps(obj, separators=(",", ":"))
    if fmt == "console":
        ts = when.strftime("%H:%M:%S.") + f"{when.microsecond // 1000:03d}"
        lvl = _CONSOLE_LEVEL.get(rec.level, rec.level[:3])
        kv = " ".join(f"{k}={_value(v)}" for k, v in rec.fields)
        return f"{ts} | {lvl} > {rec.msg}" + (f" {kv}" if kv else "")
    raise ValueError(f"unknown log format {fmt!r}; use one of {', '.join(FORMATS)}")


def docker_prefix(epoch: datetime, t: float) -> str:
    """Docker's ``timestamps=True`` prefix: RFC 3339 with nanoseconds, then a space."""
    when = format_time(epoch, t).astimezone(UTC)
    ns = round(t * 1e9) % 1_000_000_000 if epoch.microsecond == 0 else when.microsecond * 1000
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ns:09d}Z "
