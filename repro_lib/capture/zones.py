"""Time zones: console lines carry a local time of day and no zone; JSON and RFC 3339 lines carry an
offset. A file that holds both (zerolog writes both from one process) tells the console lines'
zone; ``--tz`` tells it for the rest. Console times are never stamped UTC silently: every
inspection says which zone its zoneless lines were read in and why.

:func:`settle_zones` works on the parsed frames of one inspection, in place:

1. ``--tz`` given: every zoneless row is read in that zone;
2. else a file whose offset-carrying lines all share one offset: its zoneless rows take it;
3. else, when every offset-carrying line of the file's family (:func:`file_family`: one writer, one
   machine) shares one offset, zoneless rows of the family's other files take it too (one machine, one
   zone: our reading, said in the note); unrelated files never lend each other a zone;
4. else they stay UTC, and the note says so and names ``--tz``.

A raw row (a line no parser understood) that starts with its own time of day keeps that time, on
its neighbour's date, instead of its neighbour's time (its ``detail`` says ``date=borrowed``, not ``t=borrowed``).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from repro_lib.errors import ReproError

__all__ = ["settle_zones", "file_family", "group_families", "zone_evidence", "decide_zone", "parse_tz",
           "arrow_strings", "ZONE_NOTE"]

ZONE_NOTE = "zones"
_EXPLICIT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?\s*(Z|[+-]\d\d:?\d\d)(?![\d:])")
# a zoneless time at the start of a line, after a compose/docker service prefix or a [pid]
_NAIVE = re.compile(r"^(?:[\w.-]+\s+\|\s+)?(?:\[\d+\]\s+)?(?:\d{4}[-/]\d\d[-/]\d\d[T ]|[A-Z][a-z]{2}\s+\d{1,2}\s+)?"
                    r"(\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(?![\d.,]|\s*(?:Z|[+-]\d\d:?\d\d|UTC)\b)")


def parse_tz(text: str | None) -> ZoneInfo | timedelta | None:
    """``--tz``: an offset (``-07:00``, ``+0530``, ``UTC``) or an IANA zone (``America/Los_Angeles``)."""
    if not text:
        return None
    t = text.strip()
    if t.upper() in ("UTC", "Z", "GMT"):
        return timedelta(0)
    m = re.fullmatch(r"(?:UTC)?([+-])(\d{1,2}):?(\d\d)?", t, re.I)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
    try:
        return ZoneInfo(t)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReproError(f"--tz {text!r} is not a zone",
                         hint="give an offset like -07:00 or a zone like America/Los_Angeles") from None


# the same shapes for Arrow's RE2 (no look-around): an explicit zone anywhere; a time at the start of the
# line (after a compose/docker service prefix or a [pid]); and such a leading time that carries a zone
_PREFIX_RE2 = r"^(?:[\w.-]+\s+\|\s+)?(?:\[\d+\]\s+)?"
_OFFSET_RE2 = r"[+-]\d\d:?\d\d"
_ZONE_GROUP = r"(?P<zone>Z|" + _OFFSET_RE2 + ")"
_TIME_RE2 = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?\s*"
_EXPLICIT_RE2 = _TIME_RE2 + _ZONE_GROUP
_LEAD_RE2 = _PREFIX_RE2 + r"(?:\d{4}[-/]\d\d[-/]\d\d[T ]|[A-Z][a-z]{2}\s+\d{1,2}\s+)?\d\d:\d\d:\d\d"
_LEAD_ZONED_RE2 = _PREFIX_RE2 + r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?\s*(?:Z|[+-]\d\d:?\d\d|UTC)"


def _offset(text: str) -> timedelta | None:
    if text == "Z":
        return timedelta(0)
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4]))


def _fmt(off: timedelta) -> str:
    mins = int(off.total_seconds() // 60)
    sign = "+" if mins >= 0 else "−"
    return f"UTC{sign}{abs(mins) // 60:02d}:{abs(mins) % 60:02d}"


def arrow_strings(col: pd.Series) -> Any:
    """A text column as an Arrow array (no copy when it is Arrow-backed already), for Arrow's kernels."""
    import pyarrow as pa

    try:
        arr = pa.array(col)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = arr.cast(pa.large_string())  # an all-null column, a dictionary …
        return arr
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array([v if isinstance(v, str) else None for v in col], type=pa.large_string())


_NATS_HEAD = re.compile(r"^\[(\d+)\] (\d{4}/\d\d/\d\d) ")
_JOURNAL_HEAD = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+) ")
_SERVER_NAME = re.compile(r"(?:Server name is|Server id is|\bName:|\bID:)\s+(\S+)")


def file_family(f: pd.DataFrame) -> str:
    """The family a parsed file belongs to: its format and what identifies its writer — a nats-server's name
    (its banner) or else its pid and first day, a journal's host, else the first day it covers (the logs of one
    incident: an orchestrator's and its edges' on one day are one family). Files of one
    family come from one writer on one machine; files of different families are never merged into one source
    and never lend each other a zone."""
    if not len(f) or "line" not in f:
        return "empty"
    head = f["line"].iloc[:200].astype("object").fillna("").astype(str).str.split("\n", n=1).str[0]
    nats = head.str.extract(_NATS_HEAD)
    if nats[0].notna().sum() * 2 >= len(head):
        name = head.str.extract(_SERVER_NAME)[0].dropna()
        who = f"server {name.iloc[0]}" if len(name) else f"pid {nats[0].dropna().iloc[0]}"
        return f"nats-server {who}, from {nats[1].dropna().iloc[0]}"
    host = head.str.extract(_JOURNAL_HEAD)[0].dropna()
    if len(host) * 2 >= len(head):
        return f"journald host {host.iloc[0]}"
    t = f["t"].dropna()
    t = t[t >= _DAY1]
    return f"logs from {t.min():%Y-%m-%d}" if len(t) else "undated logs"  # one incident's day: one family


def group_families(frames: list[pd.DataFrame]) -> list[str]:
    """Each frame's family (:func:`file_family`); nats-server files read as the one source ``nats`` that belong
    to different families become one source per family (``nats@<day>``), so unrelated servers are not merged."""
    fams = [file_family(f) for f in frames]
    nats = {fam for f, fam in zip(frames, fams, strict=True) if len(f) and (f["source"] == "nats").all()}
    if len(nats) > 1:
        for f, fam in zip(frames, fams, strict=True):
            if fam in nats:
                f["source"] = "nats@" + re.sub(r"[^\w./-]+", "-", fam.removeprefix("nats-server ")).strip("-")
    return fams


def settle_zones(frames: list[pd.DataFrame], tz: ZoneInfo | timedelta | None = None) -> list[str]:
    """Read every zoneless row of ``frames`` in its zone (see the module); returns one note per file
    that had zoneless rows, saying which zone was used and why, after one saying how the files were grouped
    into families when there are several. A zone is borrowed only within a family (:func:`file_family`).
    Arrow's RE2 kernels do the scanning (a million lines in about a second)."""
    fams = group_families(frames)
    found = [(f, fam, *zone_evidence(f)) for f, fam in zip(frames, fams, strict=True)]
    every: dict[str, Counter[timedelta]] = {}
    for _, fam, _, offsets in found:
        every.setdefault(fam, Counter()).update(offsets)
    notes = []
    if len(set(fams)) > 1:
        members: dict[str, list[str]] = {}
        for f, fam in zip(frames, fams, strict=True):
            members.setdefault(fam, []).append(str(f.attrs.get("file") or (f["source"].iloc[0] if len(f) else "?")))
        notes.append(f"files grouped into {len(members)} families by writer (format, server or host, day); zones "
                     "are never borrowed across them: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in members.items()))
    for f, fam, naive, offsets in found:
        n = int(naive.sum())
        if not n:
            continue
        src = str(f.attrs.get("file") or f["source"].iloc[0])
        note, zone = decide_zone(src, n, offsets, every[fam], tz)
        if zone is not None:
            _shift(f, pd.Series(naive, index=f.index), zone)
        notes.append(note)
    return notes


def _match(lines: Any, pattern: str) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.fill_null(pc.match_substring_regex(lines, pattern), False).to_numpy(zero_copy_only=False)


def _starts_with_digit(lines: Any) -> np.ndarray:
    """Does each line (Arrow strings, not null) start with an ASCII digit (read from the buffers: no pass)?"""
    import pyarrow as pa

    out = []
    for a in lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]:
        bufs = a.buffers()
        otype = np.int64 if pa.types.is_large_string(a.type) else np.int32
        offs = np.frombuffer(bufs[1], otype)[a.offset: a.offset + len(a) + 1]
        data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
        first = data[np.minimum(offs[:-1], max(len(data) - 1, 0))] if len(data) else np.zeros(len(a), np.uint8)
        out.append((offs[1:] > offs[:-1]) & (first >= 48) & (first <= 57))
    return np.concatenate(out) if out else np.zeros(0, bool)


def zone_evidence(f: pd.DataFrame) -> tuple[np.ndarray, Counter[timedelta]]:
    """(rows whose own leading time has no zone, the count of each offset written in the lines); raw
    rows that start with a time of day take it (:func:`_own_time_for_raw`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    offsets: Counter[timedelta] = Counter()
    if not len(f) or "line" not in f:
        return np.zeros(len(f), dtype=bool), offsets
    lines = arrow_strings(f["line"])
    # the first zone written in each line. A line whose first digit starts a `Z` time (Docker's prefix, slog's
    # `time=`, JSON's `{"time":"`) has it first: every time starts with a digit (one anchored match). Of the others,
    # whether a line holds a `Z` time or an offset time at all is a match RE2 runs on its DFA (several times cheaper
    # than extracting the group); one with `Z` times only has `Z` first (the match at a start is unique: `\d+`,
    # `\s*` give back nothing a zone could begin with); the lines with an offset (few) are searched for the first
    # zone: where the line starts with one, that one (found by the anchored search, which stops after it), the
    # others searched through
    n = len(f)
    first_z = _match(lines, "^[^0-9]*" + _TIME_RE2 + "Z")
    code = np.where(first_z, 0, -1)  # 0: `Z`, k > 0: found[k - 1], -1: none
    rows = np.flatnonzero(~first_z)
    if len(rows):
        sub = lines if len(rows) == n else lines.take(pa.array(rows))
        with_z, with_off = _match(sub, _TIME_RE2 + "Z"), _match(sub, _TIME_RE2 + _OFFSET_RE2)
        code[rows[with_z & ~with_off]] = 0
        rows = rows[with_off]
    found: list[str] = []
    if len(rows):
        sub = lines.take(pa.array(rows))
        sub = sub.combine_chunks() if isinstance(sub, pa.ChunkedArray) else sub
        zone = pc.struct_field(pc.extract_regex(sub, "^" + _EXPLICIT_RE2), "zone")
        if zone.null_count:
            rest = np.flatnonzero(zone.is_null().to_numpy(zero_copy_only=False))
            got = pc.struct_field(pc.extract_regex(sub.take(pa.array(rest)), _EXPLICIT_RE2), "zone")
            zone = pc.replace_with_mask(zone, zone.is_null(), got.cast(zone.type))  # in the lines' order
        enc = pc.dictionary_encode(zone)
        found = enc.dictionary.to_pylist()
        code[rows] = enc.indices.fill_null(-2).to_numpy(zero_copy_only=False) + 1
    # the offsets in the order they first appear (as a count of the zones in the lines' order would list them)
    kinds, first, counts = np.unique(code, return_index=True, return_counts=True)
    for k in np.argsort(first, kind="stable"):
        if kinds[k] >= 0:
            offsets[_offset("Z" if kinds[k] == 0 else found[kinds[k] - 1])] += int(counts[k])
    # zoneless: the line's own (leading) time has no zone — an offset elsewhere in the line (a
    # start_time=… field) is evidence of the zone, not the line's own
    # (searched on the rows it decides: a leading time, a time read, not a line starting with a `Z` time)
    naive = _match(lines, _LEAD_RE2) & f["t"].notna().to_numpy()
    naive &= ~(first_z & _starts_with_digit(lines))  # a line starting with a `Z` time
    rows = np.flatnonzero(naive)
    if len(rows):
        naive[rows] = ~_match(lines if len(rows) == n else lines.take(pa.array(rows)), _LEAD_ZONED_RE2)
    _own_time_for_raw(f)
    return naive, offsets


def decide_zone(src: str, n: int, offsets: Counter[timedelta], every: Counter[timedelta],
                tz: ZoneInfo | timedelta | None) -> tuple[str, ZoneInfo | timedelta | None]:
    """(the note for a file with ``n`` zoneless rows, the zone to read them in; None: taken as UTC)."""
    if tz is not None:
        how, zone = f"--tz {_tz_name(tz)}", tz
    elif len(offsets) == 1:
        zone = next(iter(offsets))
        how = f"{_fmt(zone)}, the offset of the {offsets[zone]:,} line(s) with a zone in the same file"
    elif not offsets and len(every) == 1:
        zone = next(iter(every))
        how = (f"{_fmt(zone)}, the offset of every line with a zone in the other files of its family (one machine, "
               "one zone: our reading; pass --tz if not)")
    else:
        why = ("lines with different offsets" if len(offsets) > 1 or len(every) > 1
               else "no line with a zone")
        return (f"{src}: {n:,} line(s) carry a time with no zone; taken as UTC ({why} — pass --tz to say "
                "which zone they were written in)"), None
    return f"{src}: {n:,} line(s) carry a time with no zone; read as {how}", zone


def _tz_name(tz: ZoneInfo | timedelta) -> str:
    return str(tz) if isinstance(tz, ZoneInfo) else _fmt(tz)


_DAY1 = pd.Timestamp("1970-01-02", tz="UTC")


def _shift(f: pd.DataFrame, naive: pd.Series, zone: ZoneInfo | timedelta) -> None:
    """Local wall-clock times (stored as if UTC) → the UTC instants they name. A time of day with no
    date anywhere (kept on day 0) stays a time of day: shifted round the clock, never into 1969 or
    onto 1970-01-02, where it would read as a date."""
    t = f.loc[naive, "t"]
    if isinstance(zone, timedelta):
        out = t - pd.Timedelta(zone)
    else:
        local = t.dt.tz_localize(None).dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
        out = local.dt.tz_convert("UTC")
    undated = (t < _DAY1).to_numpy(dtype=bool)
    if undated.any():
        epoch = pd.Timestamp(0, tz="UTC")
        out = out.where(~undated, epoch + (out - epoch) % pd.Timedelta(days=1))
    f.loc[naive, "t"] = out


def _own_time_for_raw(f: pd.DataFrame) -> None:
    """A raw row whose line starts with a time of day keeps it (on the date it was given)."""
    raw = (f["kind"] == "raw") & f["t"].notna()
    if not raw.any():
        return
    got = f.loc[raw, "line"].astype(str).str.split("\n", n=1).str[0].str.extract(_NAIVE)
    ok = got[0].notna()
    if not ok.any():
        return
    idx = got.index[ok]
    g = got.loc[idx]
    frac = g[3].fillna("0").str.ljust(9, "0").astype(np.int64)
    tod = (g[0].astype(np.int64) * 3600 + g[1].astype(np.int64) * 60 + g[2].astype(np.int64)) * 10**9 + frac
    day = f.loc[idx, "t"].dt.floor("D")
    f.loc[idx, "t"] = day + pd.to_timedelta(tod.to_numpy(), unit="ns")
    if "detail" in f:  # its time is its own now; only its date is its neighbour's
        f.loc[idx, "detail"] = f.loc[idx, "detail"].astype("object").str.replace("t=borrowed", "date=borrowed",
                                                                                 regex=False)
