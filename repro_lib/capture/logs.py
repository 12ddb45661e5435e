"""Parse orchestrator / edge / NATS log text into the one event table (DESIGN.md).

Formats, each optionally behind Docker's ``--timestamps`` prefix: slog text, slog or zerolog JSON,
zerolog console (with or without caller) and plain lines. Every input line yields exactly one row:
instrumented messages (mechanics.md §5, :data:`repro_lib.events.LOG_MESSAGES`) get their kind and
state, other well-formed lines become ``log`` rows and lines without any time become ``raw`` rows.

Time rules: Docker's prefix wins (the app's own time goes to ``detail`` as ``app_time=``);
console times have no date and take the date of the previous dated line, else the ``date``
argument, else 1970-01-01 with ``date=unknown`` in ``detail``; a row without time takes the
previous row's time (the first rows the next known time), so sorting keeps file order, and its
``detail`` says ``t=borrowed`` (a file with no time anywhere keeps none).

:func:`parse_line` is the reference; :func:`parse_file` and large :func:`parse_lines` inputs use a
vectorised path (:mod:`repro_lib.capture._fast`) that gives the same frame with one deliberate
difference: **noise lines carry no ``detail``**. A noise line is a ``log`` row whose message is not
``Edge connected to orchestrator`` (the heartbeat/info chatter that makes up most of a debug log);
its ``t``, ``source``, ``kind``, ``node``, ``job``, ``execution``, ``level``, ``msg`` and ``line``
are exactly the per-line parser's, but rendering its remaining fields into ``detail`` would cost
more than everything else together, so the fast path leaves it empty (the fields are still in
``line``). Instrumented lines, raw lines and the edge's connect line are identical in both paths.
:func:`parse_file` therefore reads files up to :data:`FAST_MIN_BYTES` (4 MiB: any paste, most logs
people attach) with the per-line parser, so every ``key=value`` and ``[key:value]`` field reaches
``detail``; pass ``fast=False`` to get ``detail`` for every line of a larger one too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date as _date
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from repro_lib.capture import _common as c
from repro_lib.capture.line import day_ns, parse_one
from repro_lib.events import COLUMNS

__all__ = [
    "EXTRA_COLUMNS",
    "FRAME_COLUMNS",
    "parse_line",
    "parse_lines",
    "parse_file",
    "events_frame",
    "add_t_s",
    "source_from_path",
    "resolve_fault_nodes",
    "date_unknown",
    "date_undated_note",
    "events_for_csv",
]

EXTRA_COLUMNS = ("level", "msg")
FRAME_COLUMNS = (*COLUMNS, *EXTRA_COLUMNS)
_STR_COLUMNS = tuple(k for k in FRAME_COLUMNS if k not in ("t", "t_s"))
# the per-row tuple used internally (t as int ns or None)
_ROW = (
    "t", "source", "kind", "node", "job", "execution", "state", "detail", "line", "level", "msg"
)
_NAT = np.iinfo(np.int64).min
_DAY = 86400 * c.NS
# lines at least this many go through the vectorised path in parse_lines
FAST_MIN_LINES = 2000
# files larger than this go through the vectorised path in parse_file (smaller ones keep every field)
FAST_MIN_BYTES = 4 << 20


def parse_line(line: str, *, source: str, date: _date | None = None) -> dict[str, Any]:
    """One log line → one event row dict (events.COLUMNS without ``t_s``, plus level, msg).

    ``t`` is a UTC :class:`pandas.Timestamp`, or None for a line without any time.
    ``date`` dates console lines (which carry only a time of day). Never raises.
    """
    if not isinstance(line, str):
        line = bytes(line).decode("utf-8", errors="replace") if line is not None else ""
    line = line.rstrip("\r\n")
    row, _dated = parse_one(line, day_ns(date))
    out = dict(zip(_ROW, (row[0], source, *row[1:]), strict=True))
    out["t"] = None if row[0] is None else pd.Timestamp(row[0], unit="ns", tz="UTC")
    return out


def _slow_columns(lines: Iterable[str], date: _date | None) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {k: [] for k in _ROW if k != "source"}
    date_ns = day_ns(date)
    appenders = [cols[k].append for k in cols]
    for line in lines:
        row, dated = parse_one(line.rstrip("\r\n"), date_ns)
        if dated:
            date_ns = row[0] - row[0] % _DAY
        for add, v in zip(appenders, row, strict=True):
            add(v)
    return cols


def _unjoin_unread(readable: list[str], originals: list[str], date: _date | None,
                   prefix: Any = None) -> tuple[list[str], list[str]]:
    """A record joined from several lines that still reads as nothing (``raw``) was no record: its lines
    go back to being rows of their own (each read behind the file's learnt ``prefix`` as the joined record
    was), so no line is hidden inside another."""
    joined = [i for i, o in enumerate(originals) if "\n" in o]
    if not joined:
        return readable, originals
    kinds = _slow_columns([readable[i] for i in joined], date)["kind"]
    bad = {i for i, kind in zip(joined, kinds, strict=True) if kind == "raw"}
    if not bad:
        return readable, originals
    from repro_lib.capture.legacy import _rewrite, strip_prefix

    r2: list[str] = []
    o2: list[str] = []
    for i, (r, o) in enumerate(zip(readable, originals, strict=True)):
        if i in bad:
            parts = o.split("\n")
            r2 += [_rewrite(strip_prefix(prefix, x)) for x in parts]
            o2 += parts
        else:
            r2.append(r)
            o2.append(o)
    return r2, o2


def _fill_t(t: np.ndarray) -> np.ndarray:
    """Rows without time take the previous row's time; leading ones the first known time."""
    known = t != _NAT
    if known.all() or not known.any():
        return t
    idx = np.where(known, np.arange(len(t)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = t[idx]
    first = int(np.argmax(known))
    out[:first] = t[first]
    return out


def _build_frame(cols: dict[str, Any], source: str) -> pd.DataFrame:
    """Column data (``t`` as int ns with None/_NAT; the rest lists or Arrow arrays) → the
    finished event frame, sorted stably by ``t`` (no sort when it is already in order). On the
    way, both parser paths alike: multi-line records joined, ids read by their shape, time-of-day
    rows dated from a later dated line."""
    t = cols["t"]
    if not isinstance(t, np.ndarray):
        t = np.array([_NAT if v is None else v for v in t], dtype=np.int64)
    lent = t == _NAT
    t = _fill_t(t)  # the order: a row with no time of its own stays after the row before it
    lent &= t != _NAT
    named = "source" in cols  # a writer per row (a pod), where the prefix names one; else the file's
    arrays = {k: cols[k] if isinstance(cols[k], pa.Array | pa.ChunkedArray) else pa.array(cols[k], pa.string())
              for k in _STR_COLUMNS if k != "source" or named}
    if lent.any():
        arrays["_lent"] = pa.array(lent)  # kept through the joining of continuation lines
    t, arrays = _join_continuations(t, arrays)
    t = _date_from_later_lines(t)
    n = len(t)
    if "_lent" in arrays:
        _mark_borrowed(arrays)
    data: dict[str, Any] = {"t": pd.Series(t.view("datetime64[ns]")).dt.tz_localize("UTC")}
    data["t_s"] = np.zeros(n)
    for k in _STR_COLUMNS:
        if k == "source":
            own = _repeat_str(source, n)
            if named:
                by_row = arrays[k]
                by_row = by_row.combine_chunks() if isinstance(by_row, pa.ChunkedArray) else by_row
                own = pc.coalesce(by_row.cast(own.type), own)
            data[k] = pd.Series(own, dtype="str")
        else:
            data[k] = pd.Series(arrays[k], dtype="str")
    df = pd.DataFrame(data, copy=False)
    if n > 1 and not (t[1:] >= t[:-1]).all():
        df = df.sort_values("t", kind="stable", ignore_index=True)
        t = df["t"].array.asi8
    fill_jobs(df)
    if n and t[0] != _NAT:
        # = add_t_s: (t - min t) in seconds, as pandas' total_seconds computes it
        df["t_s"] = (t - t.min()) / c.NS
        return df
    return add_t_s(df)


#: what a row's ``detail`` says when its ``t`` is a neighbour's, none being written on its line (:func:`_build_frame`)
BORROWED_NOTE = "t=borrowed"


def _mark_borrowed(arrays: dict[str, Any]) -> None:
    """A row with no time of its own takes the time of the row before it (:func:`_fill_t`), so it keeps its place
    in its file when rows are sorted by time — a trace line beside its record, a state line with no time at its
    place in the story — and its ``detail`` says so (:data:`BORROWED_NOTE`). A Go panic joined with its trace
    (``lines=N``) is not marked: its head is a record the joiner made, at the time before it. In place; pops the
    ``_lent`` mask."""
    lent = arrays.pop("_lent").to_numpy(zero_copy_only=False)
    lent &= ~pc.starts_with(pc.fill_null(arrays["msg"], ""), "panic: ").to_numpy(zero_copy_only=False)
    lent &= ~pc.starts_with(pc.fill_null(arrays["msg"], ""), "fatal error: ").to_numpy(zero_copy_only=False)
    if not lent.any():
        return
    d = arrays["detail"]
    d = d.combine_chunks() if isinstance(d, pa.ChunkedArray) else d
    note = pa.scalar(BORROWED_NOTE, d.type)
    empty = pc.fill_null(pc.equal(d, pa.scalar("", d.type)), True)
    marked = pc.if_else(empty, note, pc.binary_join_element_wise(d, note, pa.scalar(" ", d.type)))
    arrays["detail"] = pc.if_else(pa.array(lent), marked, d)


#: what :func:`fill_jobs` writes into the ``detail`` of a row whose job it inferred
JOB_BY_NOTE = "job_by=nearest-job-line"
_SERVICE_RX = r"(?:^| )service=(\S+)"


def fill_jobs(df: pd.DataFrame) -> int:
    """[I] A dispatch that names its execution but no job (the seed README's ``DISPATCH: Attempting to send
    message`` carries no job id) gets the job another row of the same log names for that execution (its state
    line, a re-dispatch), else the job of the nearest job line — a ``state`` row with a job and no execution, or
    a deploy ``action`` — before the execution's first dispatch in the same log (the same ``docker compose``
    service); ``detail`` says so then (:data:`JOB_BY_NOTE`). In place, on the few dispatch, state and action
    rows only; returns how many rows took their job from a job line."""
    if df.empty or "kind" not in df:
        return 0
    from repro_lib.capture.zones import arrow_strings

    kind_a = arrow_strings(df["kind"])  # Arrow kernels: no Python string per row

    def _is(values: list[str], arr: Any = kind_a) -> np.ndarray:
        return pc.fill_null(pc.is_in(arr, value_set=pa.array(values, pa.string())), False).to_numpy(
            zero_copy_only=False)

    ex_known = df["execution"].notna().to_numpy()
    job_known = df["job"].notna().to_numpy()
    need = _is(["dispatch"]) & ex_known & ~job_known
    if not need.any():
        return 0
    deploy = _is(["deploy"], arrow_strings(df["state"]))
    joblines = job_known & ~ex_known & (_is(["state"]) | (_is(["action"]) & deploy))
    named = ex_known & job_known & _is(["dispatch", "state", "deliver", "publish", "eval"])
    pos = np.flatnonzero(need | joblines | named)
    sub = df.iloc[pos][["source", "job", "execution", "detail"]].reset_index(drop=True)
    is_job, is_need, is_named = joblines[pos], need[pos], named[pos]
    svc = _service_in(sub["detail"])
    key = sub["source"].astype(str) + "\x1f" + svc.astype(str)
    preceding = sub["job"].where(pd.Series(is_job)).groupby(key, sort=False).ffill()
    same = sub.loc[is_named].groupby(key[is_named].to_numpy() + "\x1f" + sub.loc[is_named, "execution"].astype(str)
                                     .to_numpy(), sort=False)["job"].first()
    ex = sub["execution"][is_need]
    ex_key = key[is_need] + "\x1f" + ex.astype(str)
    first = preceding[is_need].groupby(ex_key.to_numpy(), sort=False).transform("first")
    by_exec = ex_key.map(same)
    value = by_exec.where(by_exec.notna(), first)
    got = value.notna().to_numpy()
    if not got.any():
        return 0
    inferred = got & by_exec.isna().to_numpy()
    at = df.index[pos[is_need]]
    df.loc[at[got], "job"] = value.to_numpy()[got]
    if inferred.any():
        old = df.loc[at[inferred], "detail"]
        blank = old.isna() | (old.astype("object") == "")
        joined = old.astype("object").fillna("") + " " + JOB_BY_NOTE
        df.loc[at[inferred], "detail"] = np.where(blank, JOB_BY_NOTE, joined)
    return int(inferred.sum())


def _service_in(detail: pd.Series) -> pd.Series:
    """``detail.astype(object).str.extract(_SERVICE_RX)[0].fillna("")``, by Arrow's RE2 on the rows of plain
    ASCII (where RE2's ``\\S`` means what Python's does) and by Python's ``re`` on the few others: no Python
    regex per row."""
    from repro_lib.capture.zones import arrow_strings

    arr = pc.fill_null(arrow_strings(detail), "")
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    got = pc.struct_field(pc.extract_regex(arr, r"(?:^| )service=(?P<s>\S+)"), [0])
    out = pd.Series(pc.fill_null(got, "").to_numpy(zero_copy_only=False), index=detail.index, dtype=object)
    odd = ~pc.match_substring_regex(arr, _PLAIN).to_numpy(zero_copy_only=False)
    if odd.any():
        out[odd] = detail[odd].astype("object").str.extract(_SERVICE_RX)[0].fillna("")
    return out


def _date_from_later_lines(t: np.ndarray) -> np.ndarray:
    """Time-of-day-only rows before the first dated line (the parsers date them from the lines
    before) take the date of the next dated line. Rows still on day 0 have no date anywhere in the
    input: :func:`date_unknown` says so, and nothing prints them as 1970."""
    tod = (t != _NAT) & (t >= 0) & (t < _DAY)
    if not tod.any():
        return t
    dated = (t != _NAT) & (t >= _DAY)
    if not dated.any():
        return t
    nxt = np.where(dated, np.arange(len(t)), len(t))
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]  # index of the next dated row (len: none)
    fix = tod & (nxt < len(t))
    if fix.any():
        day = t[np.minimum(nxt, len(t) - 1)] // _DAY * _DAY
        t = t.copy()
        t[fix] = day[fix] + t[fix]
    return t


def date_unknown(t: pd.Series) -> pd.Series:
    """Rows that carry a time of day but no date anywhere in their input (kept on day 0)."""
    return t.notna() & (t < pd.Timestamp("1970-01-02", tz="UTC"))


def date_undated_note(events: pd.DataFrame, n: int | None = None) -> str:
    """One line for rows without a date (empty when every row has one); ``n``: their number, when
    ``events`` holds only some of the rows read (a condensed table)."""
    if events.empty or "t" not in events:
        return ""
    from repro_lib.capture.zones import arrow_strings

    assumed = ""
    if "detail" in events and pc.any(pc.match_substring(arrow_strings(events["detail"]), "year=assumed")).as_py():
        assumed = ("journald writes a month and day but no year: this year's is assumed (last year's when that "
                   "would lie ahead; the first such row says year=assumed) — pass --date YYYY-MM-DD to give the year")
    n = int(date_unknown(events["t"]).sum()) if n is None else n
    if not n:
        return assumed
    return (f"{n:,} row(s) carry only a time of day and no date anywhere in their file: they are shown as "
            "times of day (date unknown) — pass --date YYYY-MM-DD to date them") + (f"; {assumed}" if assumed else "")


def events_for_csv(events: pd.DataFrame) -> pd.DataFrame:
    """The events table as ``--events`` writes it: a ``date`` column (``unknown`` where no date is
    known, whose ``t`` is then a bare time of day — never 1970) and secrets redacted."""
    from repro_lib.redact import redact_frame

    out = events.copy()
    unknown = date_unknown(out["t"])
    t = out["t"]
    out["t"] = [x.strftime("%H:%M:%S.%f") if u else x.isoformat() if x == x else ""
                for x, u in zip(t, unknown, strict=True)]
    out.insert(1, "date", ["unknown" if u else (x.date().isoformat() if x == x else "")
                           for x, u in zip(t, unknown, strict=True)])
    return redact_frame(out)


_HEADS = ("panic: ", "fatal error: ")


def _join_continuations(t: np.ndarray, cols: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Multi-line records become one row: a Go panic (``panic: …`` and the goroutine trace after it)
    or a message followed by indented lines, or by any lines when it ends in ``:``. The continuation
    lines are appended to the record's ``line`` (newline-joined) and counted in ``detail`` as
    ``lines=N``. Only time-less raw rows are ever attached, so parsed lines are never merged."""
    kind = cols["kind"]
    is_raw = pc.fill_null(pc.equal(kind, "raw"), False)
    raw_idx = np.flatnonzero(is_raw.to_numpy(zero_copy_only=False))
    if not len(raw_idx):
        return t, cols
    n = len(t)
    raw_lines = pc.filter(cols["line"], is_raw).to_pylist()  # a filter: ~25× a take on chunked strings
    prev_idx = np.maximum(raw_idx - 1, 0)
    prev_kind = kind.take(pa.array(prev_idx)).to_pylist()
    prev_msg = cols["msg"].take(pa.array(prev_idx)).to_pylist()
    raw_set = set(raw_idx.tolist())
    attach: dict[int, list[int]] = {}
    rec = last = -2
    open_all = False  # the record takes any following raw line (a panic, or a message ending in ':')
    for k, i in enumerate(raw_idx.tolist()):
        text = raw_lines[k] or ""
        if i != last + 1:  # a run of raw rows starts here: is the row before a record that continues?
            is_rec = i > 0 and (i - 1) not in raw_set and prev_kind[k] != "raw"
            rec = i - 1 if is_rec else -2
            open_all = is_rec and (prev_msg[k] or "").rstrip().endswith(":")
            last = i - 1
        if text.startswith(_HEADS):
            rec, last, open_all = i, i, True
            continue
        if rec >= 0 and (open_all or text[:1] in (" ", "\t")):
            attach.setdefault(rec, []).append(i)
            last = i
        else:
            rec, last = -2, i
    if not attach:
        return t, cols
    heads = np.sort(np.fromiter(attach, dtype=np.int64))  # ascending, as the filtered values come
    lines_of = dict(zip(raw_idx.tolist(), raw_lines, strict=True))
    hmask = np.zeros(n, bool)
    hmask[heads] = True
    hm = pa.array(hmask)
    head_vals = {k: pc.filter(cols[k], hm).to_pylist() for k in ("line", "detail", "kind", "level", "msg")}
    keep = np.ones(n, bool)
    keep[[r for rows in attach.values() for r in rows]] = False
    pos = (np.cumsum(keep) - 1)[heads]  # each head's row once the continuations are gone
    new: dict[str, tuple[list[int], list[Any]]] = {k: ([], []) for k in head_vals}
    for j, h in enumerate(heads.tolist()):
        rows = attach[h]
        line = "\n".join([head_vals["line"][j] or "", *(lines_of[r] or "" for r in rows)])
        detail, more = head_vals["detail"][j], f"lines={len(rows) + 1}"
        kind_h, level, msg = head_vals["kind"][j], head_vals["level"][j], head_vals["msg"][j]
        if kind_h == "raw":  # a panic head has no time of its own: a log row at the time before it
            first = line.split("\n", 1)[0]
            kind_h, msg, level = "log", first, "PANIC" if first.startswith("panic: ") else "FATAL"
        for col, v in (("line", line), ("detail", f"{detail} {more}" if detail else more), ("kind", kind_h),
                       ("level", level), ("msg", msg)):
            if v != head_vals[col][j]:  # kind, level and msg change only for a panic head
                new[col][0].append(int(pos[j]))
                new[col][1].append(v)
    keep_pa = pa.array(keep)
    out = {}
    for col, arr in cols.items():
        kept = pc.filter(arr, keep_pa)
        if col in new and new[col][0]:
            kept = _put(kept, *new[col])
        out[col] = kept
    return t[keep], out


def _put(arr: Any, at: list[int], values: list[Any]) -> pa.Array:
    """``arr`` with ``values`` at the ascending positions ``at``: one concatenation of the slices
    between them (a few hundred heads in a million rows: one copy, no full-length mask)."""
    pieces, start = [], 0
    typ = arr.type
    for i, v in zip(at, values, strict=True):
        pieces.append(arr.slice(start, i - start))
        pieces.append(pa.array([v], typ))
        start = i + 1
    pieces.append(arr.slice(start))
    chunks = [c for p in pieces for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p]) if len(c)]
    return pa.concat_arrays(chunks) if chunks else pa.array([], typ)


def _repeat_str(value: str, n: int) -> pa.Array:
    """``[value] * n`` as an Arrow string array, built from its buffers."""
    raw = value.encode()
    typ = pa.large_string() if len(raw) * n >= 2**31 else pa.string()
    offs = np.arange(n + 1, dtype=np.int64 if typ == pa.large_string() else np.int32) * len(raw)
    return pa.Array.from_buffers(typ, n, [None, pa.py_buffer(offs), pa.py_buffer(raw * n)])


def parse_lines(
    lines: Iterable[str],
    *,
    source: str,
    date: _date | None = None,
    fast: bool | None = None,
) -> pd.DataFrame:
    """Many lines of one file → the event frame (see :func:`events_frame`).

    ``fast`` forces (True) or forbids (False) the vectorised path; by default it is used for
    inputs of at least ``FAST_MIN_LINES`` lines. Both give the same frame except that the fast
    path leaves ``detail`` empty on noise lines (see the module docstring).
    """
    lines = [
        x if isinstance(x, str) else bytes(x).decode("utf-8", errors="replace") for x in lines
    ]
    if fast is None:
        fast = len(lines) >= FAST_MIN_LINES
    if fast:
        from repro_lib.capture import _fast

        cols = _fast.columns_from_lines(lines, day_ns(date))
        if cols is not None:
            return _build_frame(cols, source)
    return _build_frame(_slow_columns(lines, date), source)


def first_group(lines: pd.Series, pattern: re.Pattern[str]) -> pd.Series:
    """``lines.str.extract(pattern)[0]`` (its first group where it matches at the start, else NA) by Arrow's RE2
    on the lines of plain ASCII — where RE2's ``\\s``, ``\\w`` and ``\\S`` mean what Python's do — and by Python's
    ``re`` on the few others: no Python per row on a fleet's compose file.

    For inspect's compose pattern (``…\\s+\\|\\s``, a match holds one ``|`` followed by a space: its end) RE2 reads
    each line only up to its first ``|`` and space, and each distinct such prefix once (a fleet repeats a service's
    prefix in every line it writes); a line whose prefix is not plain ASCII goes to ``re``."""
    from repro_lib.capture.zones import arrow_strings

    arr = arrow_strings(lines)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    named = re.sub(r"(?<!\\)\((?!\?)", "(?P<g>", pattern.pattern, count=1)  # RE2's extract wants names
    anchored = "^(?:" + named.removeprefix("^") + ")"
    if pattern.pattern == _COMPOSE_SERVICE and not pattern.flags & (re.ASCII | re.IGNORECASE | re.MULTILINE):
        first, odd = _first_group_by_prefix(arr, anchored)
    else:
        arr = pc.fill_null(arr, "")
        odd = ~pc.match_substring_regex(arr, _PLAIN).to_numpy(zero_copy_only=False)
        first = pc.struct_field(pc.extract_regex(arr, anchored), [0])
    out = pd.Series(pd.array(first.to_pandas(types_mapper=pd.ArrowDtype).astype("str")), index=lines.index)
    if odd.any():
        out[odd] = lines[odd].fillna("").astype(str).str.extract(pattern)[0].astype("str")
    return out


# inspect's compose service pattern: a match holds no `|` followed by whitespace but at its end (``\S+Z`` has no
# whitespace, the name and the spaces no `|`), so it ends at the line's first `|` and whitespace if it matches
_COMPOSE_SERVICE = r"^(?:\S+Z\s+)?([A-Za-z][\w.-]*?)(?:[-_]\d+)?\s+\|\s"
_PLAIN = r"^[\t\n\f\r -~]*$"  # the characters RE2 and Python read alike
_WS = np.zeros(256, bool)  # RE2's `\s`
_WS[[9, 10, 12, 13, 32]] = True
_BAR = np.uint64(0x7C7C7C7C7C7C7C7C)  # `|` in each byte
_LO7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_PREFIX_WORDS = 16  # words searched 8 bytes at a time from a line's start (a compose prefix: within 2 or 3)
_BIG = np.int64(2**62)


def _first_group_by_prefix(arr: pa.Array, anchored: str) -> tuple[pa.Array, np.ndarray]:
    """:func:`first_group` of :data:`_COMPOSE_SERVICE` by byte positions: (the group, null where none; the rows
    left to Python's ``re``: a character outside :data:`_PLAIN` before the line's first ``|`` and whitespace, or
    anywhere in a line without one). The ``|`` is searched 8 bytes at a time from each line's start (a compose
    prefix ends within a few words), past :data:`_PREFIX_WORDS` words among the sorted positions of the ``|``
    followed by whitespace; RE2 reads each distinct prefix once."""
    from repro_lib.capture._bytes import _Bytes, _views

    n = len(arr)
    bufs = arr.buffers()
    otype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offs = np.frombuffer(bufs[1], otype)[arr.offset: arr.offset + n + 1].astype(np.int64)
    base = int(offs[0])
    buf = bufs[2] if bufs[2] is not None else pa.py_buffer(b"")
    d = np.frombuffer(buf, np.uint8)[base: int(offs[-1])]
    s, e = offs[:-1] - base, offs[1:] - base
    bb = _Bytes(d, own=True)
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
    cut = np.full(n, -1, np.int64)  # past the first `|` and whitespace (-1: none)
    todo = np.flatnonzero(valid & (e > s))
    q = s[todo]
    for _word in range(_PREFIX_WORDS):
        if not len(todo):
            break
        t = bb.u8(q) ^ _BAR
        t = ~(((t & _LO7) + _LO7) | t | _LO7)  # the high bit of each byte that is `|`
        hit = t != 0
        low = t & (~t + np.uint64(1))
        at = np.where(hit, q + (np.frexp(low.astype(np.float64))[1] - 8) // 8, q + 8)
        end = e[todo]
        done = hit & (at + 1 < end) & _WS[bb.byte(at + 1)]
        cut[todo[done]] = at[done] + 2
        more = ~done & (np.where(hit, at + 1, at) < end)
        todo, q = todo[more], np.where(hit, at + 1, at)[more]
    if len(todo):  # lines searched further (long ones without a compose prefix): among the sorted positions
        bar = np.flatnonzero(d[:-1] == 124) if len(d) else np.zeros(0, np.int64)
        bar = np.append(bar[_WS[d[bar + 1]]], _BIG)
        at = bar[np.searchsorted(bar, q)]
        done = at + 1 < e[todo]
        cut[todo[done]] = at[done] + 2
    has = cut >= 0
    odd = np.zeros(n, bool)
    none = np.flatnonzero(valid & ~has)  # no `|` and whitespace: no match, unless re reads the line apart
    if len(none):
        odd[none] = ~pc.match_substring_regex(arr.take(pa.array(none)), _PLAIN).to_numpy(zero_copy_only=False)
    if not has.any():
        return pa.nulls(n, pa.string()), odd
    enc = pc.dictionary_encode(_views(buf, base, s, cut, has, bb))
    group = pc.struct_field(pc.extract_regex(enc.dictionary, anchored), [0])
    plain = pc.match_substring_regex(enc.dictionary, _PLAIN)
    if not pc.all(plain).as_py():
        bad = ~pc.fill_null(pc.take(plain, enc.indices), True).to_numpy(zero_copy_only=False)
        odd |= bad
        group = pc.if_else(plain, group, pa.scalar(None, pa.string()))
    return group.take(enc.indices), odd


def source_from_path(path: str | Path) -> str:
    """``logs/edge1-debug.log`` → ``edge1``."""
    name = Path(path).name
    stem = re.sub(r"(?:\.(?:log|txt|out|json|jsonl|gz))+(?:\.\d+)?$", "", name) or name
    return stem.removesuffix("-debug") or stem


def parse_file(
    path: str | Path,
    *,
    source: str | None = None,
    date: _date | None = None,
    fast: bool | None = None,
) -> pd.DataFrame:
    """A log file → the event frame. The file is read by :func:`repro_lib.capture.reader.read_log`
    (refused unless a regular file; BOM and UTF-16 handled; undecodable bytes replaced; lines over
    64 KiB cut); what reading did is in ``frame.attrs["read"]`` (a ``ReadNotes``).

    ``fast=True`` uses the vectorised path, which leaves ``detail`` empty on noise lines (see the
    module docstring); ``fast=False`` runs the per-line parser on every line, keeping every field;
    the default picks the per-line parser up to :data:`FAST_MIN_BYTES` (what people paste) and the
    vectorised one beyond (a day of a fleet's logs).
    """
    from repro_lib.capture.reader import read_log

    path = Path(path)
    src = source if source is not None else source_from_path(path)
    from repro_lib.capture._common import system_pool

    data, notes = read_log(path)
    with system_pool():
        frame = frame_from_bytes(data, src, date=date, fast=len(data) > FAST_MIN_BYTES if fast is None else fast)
    frame.attrs["read"] = notes
    return frame


def frame_from_bytes(data: bytes | bytearray, source: str, *, date: _date | None = None,
                     fast: bool = True) -> pd.DataFrame:
    """Clean UTF-8 log bytes (as :func:`repro_lib.capture.reader.read_log` gives them) → the event
    frame, on the vectorised path (``fast``) or the per-line one."""
    if fast:
        from repro_lib.capture import _fast

        cols = _fast.columns_from_bytes(data, day_ns(date))
        if cols is not None and not _fast_reads_less(data, cols, date):
            return _build_frame(cols, source)
    text = bytes(data).decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return _build_frame(_per_line_columns(lines, date), source)


PROBE_LINES = 2000  # the lines of each block the two readings are compared on
#: the largest file read line by line when the vectorised reading leaves its lines raw (~300,000 lines, ~16 s): above
#: it the vectorised reading stands, so any input stays within the kit's time and memory bounds (docs/input-bounds.md)
FALLBACK_MAX_BYTES = 32 << 20


def _per_line_columns(lines: list[str], date: _date | None) -> dict[str, Any]:
    """Lines → columns by the per-line reading: prefixes learnt, older and hard-wrapped shapes rewritten."""
    from repro_lib.capture.legacy import normalise

    readable, originals, prefix = normalise(lines)  # older and hard-wrapped shapes; `line` keeps the original
    readable, originals = _unjoin_unread(readable, originals, date, prefix)
    cols = _slow_columns(readable, date)
    cols["line"] = originals
    writers = _writers(prefix, originals)
    if writers is not None:
        cols["source"] = writers
    return cols


def _writers(prefix: Any, originals: list[str]) -> list[str | None] | None:
    """Each record's writer named by its prefix (a Kubernetes pod and container, :func:`legacy.writer_of`),
    None where it names none; None when no line names one. That writer is the row's source: two pods' lines in
    one file are two sources, as two services' lines of a ``docker compose logs`` file are."""
    from repro_lib.capture.legacy import writer_of

    if prefix is None and not any(o[:5] == "[pod/" for o in originals[:2000]):
        return None
    out = [writer_of(prefix, o.split("\n", 1)[0]) for o in originals]
    return out if any(w is not None for w in out) else None


def _fast_reads_less(data: bytes | bytearray, cols: dict[str, Any], date: _date | None) -> bool:
    """Does the vectorised reading leave raw what the per-line one reads? The byte pass knows the kit's and
    Bacalhau's formats; the per-line reading also learns a file's prefix and reads nats-server, journald, Go's
    log and older shapes. When more than 1 % of the rows are raw, the two readings are compared on a block at the
    start and one in the middle (:data:`PROBE_LINES` each); the per-line reading is taken for the whole file
    when it reads more of them (correct, at its speed)."""
    if len(data) > FALLBACK_MAX_BYTES:
        return False
    kind = cols["kind"]
    n = len(kind)
    raw = pc.equal(kind, "raw").to_numpy(zero_copy_only=False)
    if not n or raw.mean() <= 0.01:
        return False
    lines = cols["line"]
    for lo in sorted({0, max(0, n // 2 - PROBE_LINES // 2)}):
        hi = min(n, lo + PROBE_LINES)
        block = [str(x) for x in lines.slice(lo, hi - lo).to_pylist()]
        slow = _per_line_columns(block, date)["kind"]
        slow_read = sum(k != "raw" for k in slow) / max(1, len(slow))
        if slow_read - (1 - raw[lo:hi].mean()) > 0.01:
            return True
    return False


def add_t_s(df: pd.DataFrame, t0: pd.Timestamp | datetime | None = None) -> pd.DataFrame:
    """Set ``t_s`` = seconds since ``t0`` (default: the earliest ``t`` in ``df``); returns df."""
    if t0 is None:
        t0 = df["t"].min() if len(df) else None
    if t0 is None or pd.isna(t0):
        t_s = np.full(len(df), np.nan)
    else:
        t0 = pd.Timestamp(t0)
        if t0.tzinfo is None:
            t0 = t0.tz_localize("UTC")
        t_s = (df["t"] - t0).dt.total_seconds().to_numpy(dtype=float)
    if "t_s" in df.columns:
        df["t_s"] = t_s
    else:
        df.insert(1 if "t" in df.columns else 0, "t_s", t_s)
    return df


def events_frame(rows: Iterable[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Rows (dicts like :func:`parse_line` returns, or a frame) → the event frame.

    Exactly ``events.COLUMNS`` then ``level``, ``msg``; ``t`` is ``datetime64[ns, UTC]``;
    sorted stably by ``t``; ``t_s`` is seconds since the earliest ``t``.
    """
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    n = len(df)
    out: dict[str, Any] = {}
    t = df["t"] if "t" in df.columns else pd.Series([pd.NaT] * n)
    out["t"] = pd.to_datetime(t, utc=True).astype("datetime64[ns, UTC]")
    out["t_s"] = np.zeros(n)
    for k in _STR_COLUMNS:
        col = df[k] if k in df.columns else pd.Series([None] * n, dtype=object)
        out[k] = pd.Series(col.to_numpy(dtype=object), dtype="str")
    frame = pd.DataFrame(out).sort_values("t", kind="stable", ignore_index=True)
    return add_t_s(frame)


def resolve_fault_nodes(df: Any, edges: list[str]) -> Any:
    """Fault rows name the edge (``target=edge1``); give them the node id it had at that moment —
    the id its next ``EDGE: starting`` line shows for a start, the previous one for a kill — so
    they line up with the orchestrator's per-node belief."""
    starting = df[(df["msg"] == "EDGE: starting") & df["node"].notna()]
    faults = df.index[(df["kind"] == "fault") & df["node"].isin(edges)]
    for i in faults:
        name = str(df.at[i, "node"])
        t = df.at[i, "t"]
        mine = starting[starting["source"] == name]
        if df.at[i, "state"] in ("start", "join"):
            cand = mine[mine["t"] >= t]["node"]
            node = cand.iloc[0] if len(cand) else None
        else:
            cand = mine[mine["t"] <= t]["node"]
            node = cand.iloc[-1] if len(cand) else None
        detail = df.at[i, "detail"]
        detail = "" if not isinstance(detail, str) else detail
        if f"target={name}" not in detail:
            df.at[i, "detail"] = f"target={name}" + (f" {detail}" if detail else "")
        if node is not None:
            df.at[i, "node"] = node
    return df
