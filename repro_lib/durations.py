"""Durations written like the real configs: ``15s``, ``5m``, ``1h``, ``200ms``, ``1m30s``."""

from __future__ import annotations

import re

from repro_lib.errors import DurationError

__all__ = ["parse_duration", "format_duration"]

MAX_SECONDS = 365 * 86400.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: object, *, what: str = "duration") -> float:
    """Return seconds for ``15s`` / ``5m`` / ``1h30m`` / ``200ms`` (a bare number is seconds)."""
    if isinstance(value, bool):
        raise DurationError(f"bad {what} {value!r}", hint="write it like 15s, 5m, 1h or 200ms")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):  # NaN and ±inf are no duration
            raise DurationError(f"bad {what} {value!r}: not a finite number", hint="write it like 15s, 5m, 1h or 200ms")
        if value < 0:
            raise DurationError(f"bad {what} {value!r}: negative", hint="use a value >= 0")
        if value > MAX_SECONDS:
            raise DurationError(f"{what} {value!r} is longer than a year", hint="use at most 365d")
        return float(value)
    text = str(value).strip()
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise DurationError(f"bad {what} {value!r}", hint="write it like 15s, 5m, 1h or 200ms")
    if total > MAX_SECONDS:
        raise DurationError(f"{what} {value!r} is longer than a year", hint="use at most 365d")
    return total


def format_duration(seconds: float) -> str:
    """``90.0`` -> ``1m30s``; ``0.2`` -> ``200ms``."""
    if seconds < 1 and seconds != 0:
        return f"{round(seconds * 1000)}ms"
    s = round(seconds, 3)
    out = []
    for unit, size in (("h", 3600), ("m", 60)):
        if s >= size:
            n = int(s // size)
            out.append(f"{n}{unit}")
            s -= n * size
    if s or not out:
        out.append(f"{s:g}s")
    return "".join(out)
