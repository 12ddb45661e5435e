"""Vectorised log parsing (numpy over the raw bytes, Arrow kernels) matching the per-line parser.

Pipeline (:func:`_columns`):

1. **Lines.** Arrow's multi-threaded CSV reader, with one column, no quoting and an unused
   delimiter, splits the file into string arrays (chunks of ~4 MB) without a Python loop; files
   with ``\r``, a BOM or the delimiter byte take a numpy split instead.
2. **Byte pass per chunk** (:func:`_scan`, threads): from the first bytes of each line (unaligned
   8-byte loads at per-line positions) it recognises Docker's prefix and the body format (slog
   text ``time=``, slog JSON ``{"time":"``, zerolog console ``HH:MM:SS``), parses RFC 3339 /
   time-of-day values with integer arithmetic, and finds the level and the message span using the
   sorted positions of spaces, quotes, ``=`` and backslashes in the chunk. A line *matters* when
   its message starts like an instrumented one (the first four bytes of a :data:`LOG_MESSAGES`
   key, ``FAULT``/``ACTION`` or the edge's connect line); for the other ("noise") lines only
   node/job/execution are read, by locating ``␠node_id=`` / ``,"node_id":"`` style keys.
   Times are read from 8-byte words (SWAR digit checks and arithmetic). Strings are described
   as Arrow ``string_view`` structs pointing into the chunk's buffer, so no per-line Python runs.
3. **Lines that matter** (~5 %) go, all chunks at once, through the column-wise field parser
   (:func:`_structured`).
4. **Anything unusual** — control or non-ASCII bytes, other time shapes, escapes, quoted id values,
   zerolog JSON key order, FAULT/ACTION messages, … — goes to :func:`line.parse_one`, the
   reference parser; then the console date context is settled in numpy.
5. **Columns** (:class:`_ViewColumn`): each string column is one ``string_view`` array over the
   chunks' buffers plus those of the replacement values (instrumented and unusual lines are put
   in place, no masked replaces), cast once (in threads) to the ``large_string`` pandas keeps;
   the few-valued columns (kind, level, state, detail) are int32 codes into their values
   (:class:`_CodeColumn`), decoded by one take.

Multi-MB temporaries are what costs most after the work itself (fresh pages are faulted in and
zeroed), so the per-chunk byte masks and the padded copy reuse per-thread scratch arrays and the
``=``/``"`` candidates of id keys come from the sorted byte positions, not from more passes.

Noise lines get no ``detail`` here (see :mod:`repro_lib.capture.logs`); everything else equals the
per-line parser, which the fuzz tests check.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from repro_lib.capture import _common as c
from repro_lib.capture._bytes import (
    _M,
    _Bytes,
    _code,
    _digits,
    _frac_swar,
    _nxt,
    _positions,
    _prv,
    _rfc,
    _scratch,
    _view_structs,
    _views,
)
from repro_lib.capture.line import parse_one
from repro_lib.events import LOG_MESSAGES

__all__: list[str] = []

_NAT = np.iinfo(np.int64).min
_DAY = 86400 * c.NS
_TIME = (
    r"(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
)
_STR = r'"[^"\\\x00-\x1f]*"'
_KEY = r"[A-Za-z_][\w.\-]*"
_NUM = r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?"
_JSON = (
    r'^\{"time":"' + _TIME + r"(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
    r'","level":"(?:DEBUG|INFO|WARN|ERROR)","msg":' + _STR
    + r'(?:,"' + _KEY + r'":(?:' + _STR + "|" + _NUM + r"|true|false|null))*\}$"
)
_PRE_TOKENS = r'^(?:[^ ="\\]+=(?:"[^"\\]*"|[^ "\\]*) )*$'
_ROW_POS = {"kind": 1, "node": 2, "job": 3, "execution": 4, "state": 5, "detail": 6, "level": 8,
            "msg": 9}
_MSG_KEYS = pa.array(list(LOG_MESSAGES))
_JOB_NAME_RE2 = r"(?:^| )(?:" + "|".join(c.JOB_NAME_KEYS) + r")="
_MSG_KIND = pa.array([k for k, _s in LOG_MESSAGES.values()])
_MSG_STATE = pa.array([s or None for _k, s in LOG_MESSAGES.values()])
# a message that is no LOG_MESSAGES key but that map_msg reads as more than a log line: an instrumented one with
# words after it (canonical), a nats-server text (the other map_msg rules: FAULT:/ACTION: and the seed rules, are
# sent to the per-line parser before)
_MAP_MSG_MORE = c.EXTENDED_RE.pattern + "|" + "|".join(rx.pattern for rx, _k, _s in c.NATS_SERVER_MESSAGES)


def _el(lists: pa.Array, i: int) -> pa.Array:
    """Element ``i`` of each list, null where the list is shorter."""
    offs = lists.offsets.to_numpy(zero_copy_only=False)
    has = (offs[1:] - offs[:-1]) > i
    idx = pa.array(np.where(has, offs[:-1] + i, 0), mask=~has)
    return lists.values.take(idx)


def _fill(a: pa.Array, value: str = "") -> pa.Array:
    return pc.fill_null(a, value)


def _join(a: pa.Array, b: pa.Array) -> pa.Array:
    """Element-wise ``a + " " + b``, leaving out empty parts."""
    a, b = _fill(a), _fill(b)
    both = pc.and_(pc.not_equal(a, ""), pc.not_equal(b, ""))
    sep = pc.if_else(both, " ", "")
    return pc.binary_join_element_wise(a, sep, b, "")


def _take(
    rest: pa.Array, key: str, where: pa.Array | None = None, *, cut: bool = True
) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Take ``key=value`` out of ``rest`` where it is a plain token: (value, rest, bad)."""
    m = len(rest)
    pat = key + "="
    has = pc.match_substring(rest, pat)
    if where is not None:
        has = pc.and_(has, where)
    bad = np.zeros(m, dtype=bool)
    none = pa.nulls(m, pa.string())
    if not pc.any(has).as_py():
        return none, rest, bad
    sub = pc.filter(rest, has)
    parts = pc.split_pattern(sub, pat, max_splits=1)
    pre, post = _el(parts, 0), _fill(_el(parts, 1))
    ok = pc.and_(
        pc.equal(pc.count_substring(sub, pat), 1),
        pc.or_(pc.equal(pre, ""), pc.ends_with(pre, " ")),
    )
    # quotes before the key are fine when they only wrap complete key="value" tokens
    ok = pc.and_(ok, pc.or_(pc.invert(pc.match_substring(pre, '"')),
                            pc.match_substring_regex(pre, _PRE_TOKENS)))
    ok = pc.and_(ok, pc.invert(pc.match_substring_regex(post, r'^(?:$|[ "])')))
    parts2 = pc.split_pattern(post, " ", max_splits=1)
    val, after = _el(parts2, 0), _fill(_el(parts2, 1))
    hmask = has.to_numpy(zero_copy_only=False)
    bad[hmask] = ~ok.to_numpy(zero_copy_only=False)
    value = pc.replace_with_mask(none, has, val)
    if cut:
        new = _join(pc.utf8_rtrim(pre, " "), pc.utf8_ltrim(after, " "))
        rest = pc.replace_with_mask(rest, has, new)
    return value, rest, bad


def _fill_bool(a: pa.Array) -> pa.Array:
    return pc.fill_null(a, False)


# ---- reading lines -----------------------------------------------------------------------------

# chunk size: the byte-level pass keeps its temporaries small enough to stay in cache
_BLOCK = 1 << 22
_CSV_PARSE = pcsv.ParseOptions(
    delimiter="\x01", quote_char=False, escape_char=False, newlines_in_values=False,
    ignore_empty_lines=False,
)
_CSV_CONVERT = pcsv.ConvertOptions(
    column_types={"line": pa.string()}, strings_can_be_null=False, quoted_strings_can_be_null=False,
)


def _split_lines(data: bytes) -> pa.Array | None:
    """File bytes → one string array of lines (no newlines), or None if not UTF-8."""
    if not data:
        return pa.array([], pa.string())
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    n = len(nl) + (0 if data[-1] == 10 else 1)
    packed = data.replace(b"\n", b"")
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1 : len(nl) + 1] = nl - np.arange(len(nl))
    offsets[n] = len(packed)
    typ = pa.large_string() if offsets[-1] >= 2**31 else pa.string()
    if typ == pa.string():
        offsets = offsets.astype(np.int32)
    arr = pa.Array.from_buffers(typ, n, [None, pa.py_buffer(offsets), pa.py_buffer(packed)])
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        return None
    return arr


def _read_chunks(data: bytes) -> list[pa.Array] | None:
    """File bytes → string arrays of its lines in order (Arrow's multi-threaded CSV reader with
    one column and no quoting), or None when the bytes are not UTF-8."""
    if not data:
        return []
    # the CSV reader also ends lines at \r and skips a BOM; those files take the numpy split
    if b"\r" not in data and b"\x01" not in data and not data.startswith(b"\xef\xbb\xbf"):
        opts = pcsv.ReadOptions(column_names=["line"], block_size=_BLOCK)
        try:
            tb = pcsv.read_csv(pa.py_buffer(data), read_options=opts,
                               parse_options=_CSV_PARSE, convert_options=_CSV_CONVERT)
        except (pa.ArrowException, ValueError):
            pass
        else:
            return [ch for ch in tb.column(0).chunks if len(ch)]
    arr = _split_lines(data)
    return None if arr is None else [arr]


def columns_from_bytes(data: bytes, date_ns: int | None) -> dict[str, Any] | None:
    """File bytes → parser columns, or None to fall back to the per-line path."""
    chunks = _read_chunks(data)
    if chunks is None:
        text = data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return columns_from_lines(lines, date_ns)
    return _columns(chunks, date_ns)


def columns_from_lines(lines: list[str], date_ns: int | None) -> dict[str, Any] | None:
    try:
        arr = pa.array(lines, pa.string())
    except (pa.ArrowException, UnicodeEncodeError):
        return None
    return _columns([arr] if len(arr) else [], date_ns)


# ---- byte-level helpers ------------------------------------------------------------------------

_THREADS = min(4, os.cpu_count() or 1)
_ONE = threading.local()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """This thread's parses use no threads of their own (blocks already parsed side by side: more threads than
    cores only add switching; measured on 1 M lines, two blocks at a time: 5-10 % less wall)."""
    _ONE.on = True
    try:
        yield
    finally:
        _ONE.on = False


def _threads() -> int:
    return 1 if getattr(_ONE, "on", False) else _THREADS

_LEVEL_WORDS = (b"DEBUG", b"INFO", b"WARN", b"ERROR")
_CONSOLE_WORDS = tuple(k.encode() + b" " for k in c.CONSOLE_LEVELS)
_LEVEL_NAMES = pa.array([w.decode() for w in _LEVEL_WORDS] + list(c.CONSOLE_LEVELS.values()))
_CONSOLE_BASE = len(_LEVEL_WORDS)
_LEVEL_BODY_WORDS = (b"TRACE ", b"DEBUG ", b"INFO ", b"WARN ", b"WARNING ", b"ERROR ", b"FATAL ", b"PANIC ")
_KIND_NAMES = pa.array(["log", "raw"])
_MSG_FIELD = _code(b" msg")  # the 4 bytes before the `=` of a ` msg=` field


def _level(bb: _Bytes, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Index into _LEVEL_NAMES of the word in [p, q), or -1."""
    w = bb.u8(p)
    out = np.full(len(p), -1, np.int64)
    for i, word in enumerate(_LEVEL_WORDS):
        hit = ((q - p) == len(word)) & ((w & _M[len(word)]) == _code(word))
        out[hit] = i
    return out


class _ViewColumn:
    """One output string column built in place as Arrow ``string_view`` structs over several
    data buffers (the chunks' bytes, then those of replacement arrays): no masked replaces."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.v = np.zeros((n, 4), np.uint32)
        self.valid = np.zeros(n, bool)
        self.bufs: list[pa.Buffer] = []

    def put_structs(self, lo: int, v: np.ndarray, valid: np.ndarray, buf: pa.Buffer) -> None:
        """Rows lo.. from :func:`_view_structs` over ``buf``."""
        hi = lo + len(v)
        self.v[lo:hi] = v
        self.v[lo:hi, 2][v[:, 0] > 12] = len(self.bufs)
        self.valid[lo:hi] = valid
        self.bufs.append(buf)

    def _structs(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        sv = arr.cast(pa.string_view())
        bs = sv.buffers()
        w = np.frombuffer(bs[1], np.uint32).reshape(-1, 4)[sv.offset: sv.offset + len(sv)].copy()
        ok = ~np.asarray(sv.is_null().to_numpy(zero_copy_only=False), bool)
        w[~ok] = 0
        long = w[:, 0] > 12
        w[long, 2] += len(self.bufs)
        self.bufs.extend(b for b in bs[2:] if b is not None)
        return w, ok

    def put(self, idx: np.ndarray, arr: pa.Array) -> None:
        """Rows ``idx`` ← the strings of ``arr`` (nulls included)."""
        if not len(idx):
            return
        w, ok = self._structs(arr)
        self.v.view("V16")[idx, 0] = w.view("V16")[:, 0]
        self.valid[idx] = ok

    def put_codes(self, names: pa.Array, codes: np.ndarray) -> None:
        """Every row ← ``names[code]``, null where the code is negative."""
        w, ok = self._structs(names)
        w = np.concatenate([w, np.zeros((1, 4), np.uint32)])  # code -1: the null row
        ok = np.append(ok, False)
        self.v.view("V16")[:, 0] = w.view("V16")[codes, 0]
        self.valid[:] = ok[codes]

    def large(self) -> pa.Array:
        return self.array().cast(pa.large_string())

    def array(self) -> pa.Array:
        nulls = self.n - int(self.valid.sum())
        bits = None if not nulls else pa.array(self.valid).buffers()[1]
        bufs = self.bufs or [pa.py_buffer(b"")]
        return pa.Array.from_buffers(pa.string_view(), self.n, [bits, pa.py_buffer(self.v), *bufs],
                                     null_count=nulls)


class _CodeColumn:
    """An output string column of few distinct values plus replacements (kind, level, state,
    detail): int32 codes into the concatenated values, decoded once by a take."""

    def __init__(self, n: int) -> None:
        self.codes = np.full(n, -1, np.int32)
        self.values: list[pa.Array] = []
        self.size = 0

    def _add(self, arr: pa.Array) -> int:
        base = self.size
        self.values.append(arr.cast(pa.large_string()))
        self.size += len(arr)
        return base

    def put(self, idx: np.ndarray, arr: pa.Array) -> None:
        """Rows ``idx`` ← the strings of ``arr`` (nulls included)."""
        if not len(idx):
            return
        new = np.arange(len(arr), dtype=np.int32) + np.int32(self._add(arr))
        if arr.null_count:
            new[arr.is_null().to_numpy(zero_copy_only=False)] = -1
        self.codes[idx] = new

    def put_codes(self, names: pa.Array, codes: np.ndarray) -> None:
        """Every row ← ``names[code]``, null where the code is negative."""
        base = np.int32(self._add(names))
        self.codes[:] = np.where(codes >= 0, codes + base, -1)

    def large(self) -> pa.Array:
        valid = self.codes >= 0
        nulls = len(valid) - int(np.count_nonzero(valid))
        if not self.values or nulls == len(valid):
            return pa.nulls(len(valid), pa.large_string())
        values = pa.concat_arrays(self.values)
        idx = pa.array(self.codes, mask=~valid) if nulls else pa.array(self.codes)
        return values.take(idx)


def _rows(s: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Row of each byte position (s: row starts)."""
    return np.searchsorted(s, pos, side="right") - 1


_KEY_FIRST = np.zeros(256, bool)
_KEY_CHAR = np.zeros(256, bool)
for _ch in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_":
    _KEY_FIRST[_ch] = _KEY_CHAR[_ch] = True
for _ch in b"0123456789.-":
    _KEY_CHAR[_ch] = True
# first 4 bytes of every message that can mean something (LOG_MESSAGES, FAULT:/ACTION: and
# the edge's connect line): a message starting otherwise is noise
_MATTER = np.array(sorted({int(_code(k.encode()[:4])) for k in (*LOG_MESSAGES, c.EDGE_CONNECTED_MSG)
                           if len(k) >= 4}), np.uint64)
# (column, key) of the id fields, searched in the order the per-line parser cuts them
_ID_KEYS = (("execution", "execution_id"), ("node", "node_id"), ("node2", "target_node"),
            ("job", "job"), ("job2", "job_id"))


# ---- the vectorised parser ---------------------------------------------------------------------

_STR_COLS = ("kind", "node", "job", "execution", "state", "detail", "level", "msg")
_CODE_COLS = ("kind", "state", "detail", "level")


def _columns(chunks: list[pa.Array], date_ns: int | None) -> dict[str, Any]:
    """Lines (in chunks) → parser columns: ``t`` as int64 ns, the rest as Arrow arrays.

    1. a byte-level numpy pass per chunk (:func:`_scan`): Docker prefix, format, time, level and
       message span of every line; node/job/execution of noise lines; which lines matter;
    2. the column-wise field parser (:func:`_structured`) on the lines that matter, all at once;
    3. the per-line reference parser on whatever is unusual;
    4. the date context of console lines, then the columns.
    """
    chunks = [a.cast(pa.string()) if a.type == pa.large_string() and a.nbytes < 2**31 - 1 else a
              for a in chunks]
    if len(chunks) > 1 and _threads() > 1:  # numpy and Arrow release the GIL for the heavy parts
        with ThreadPoolExecutor(_threads()) as pool:
            scans = list(pool.map(_scan, chunks))
    else:
        scans = [_scan(a) for a in chunks]
    lines = pa.chunked_array(chunks, type=pa.string()) if chunks else pa.chunked_array([], pa.string())
    n = sum(x["n"] for x in scans)
    start = np.cumsum([0] + [x["n"] for x in scans])[:-1]

    def cat(key: str, dtype: Any = None) -> np.ndarray:
        return np.concatenate([x[key] for x in scans]) if scans else np.zeros(0, dtype)

    t, dated, tod, cons = cat("t", np.int64), cat("dated", bool), cat("tod", np.int64), cat("cons", bool)
    slow = cat("slow", bool)
    # 2. instrumented lines
    m_idx = np.concatenate([x["matter"] + o for x, o in zip(scans, start, strict=True)]) if scans \
        else np.zeros(0, np.int64)
    mt_idx, mt = _matter([x["mcols"] for x in scans], m_idx, cat("fmt", np.int64), cat("app", bool))
    read = np.zeros(n, bool)  # the instrumented lines _matter left to the per-line parser: slow
    read[m_idx] = True
    read[mt_idx] = False
    slow |= read
    del read
    mt = _shape_ids(chunks, start, n, slow, cat("shape", bool), cat("seed", bool), mt_idx, mt)
    # zerolog console lines behind `docker compose`'s prefix (a fleet's logs): read by columns (_console.py)
    mt_idx, mt = _console_lines(chunks, start, n, slow, t, dated, tod, cons, mt_idx, mt)
    cons &= ~slow
    # 3. everything unusual: the per-line reference parser (date context settled below)
    slow_idx = np.flatnonzero(slow)
    t[slow_idx] = _NAT
    dated[slow_idx] = False
    slow_lines: list[str] = []
    if len(slow_idx):
        bounds = np.searchsorted(slow_idx, np.append(start, n))
        for j, arr in enumerate(chunks):
            local = slow_idx[bounds[j]: bounds[j + 1]] - start[j]
            if len(local):
                slow_lines += arr.take(pa.array(local)).to_pylist()
    slow_rows = [parse_one(x.rstrip("\r\n"), None) for x in slow_lines]
    for i, (row, dtd) in zip(slow_idx, slow_rows, strict=True):
        if dtd:
            t[i] = row[0]
            dated[i] = True
    # 4. date context: the day of the previous dated line, else `date`
    day = np.where(dated, t - t % _DAY, _NAT)
    pos = np.where(dated, np.arange(n), -1)
    if n:
        np.maximum.accumulate(pos, out=pos)
    prev = np.empty(n, np.int64)
    prev[:1] = -1
    prev[1:] = pos[:-1]
    ctx = np.where(prev >= 0, day[np.maximum(prev, 0)], _NAT if date_ns is None else date_ns)
    known = ctx != _NAT
    t[cons] = np.where(known[cons], ctx[cons] + tod[cons], tod[cons])
    if len(mt_idx):
        unknown = (cons & ~known)[mt_idx]
        if unknown.any():
            um = pa.array(unknown)
            mt["detail"] = pc.replace_with_mask(
                mt["detail"], um, pc.filter(_join(mt["detail"], pa.scalar("date=unknown")), um))
        mt["detail"] = pc.if_else(pc.equal(_fill(mt["detail"]), ""),
                                  pa.scalar(None, pa.string()), mt["detail"])
        drop = pc.and_(pc.equal(mt["kind"], "log"),
                       pc.not_equal(_fill(mt["msg"]), c.EDGE_CONNECTED_MSG))
        mt["detail"] = pc.if_else(drop, pa.scalar(None, pa.string()), mt["detail"])
    for k, (i, (row, _dtd)) in enumerate(zip(slow_idx, slow_rows, strict=True)):
        # a time of day with no date, or journald's month and day with no year: read again in the day of the
        # line before, as the per-line reading does (journald: the year then comes from that line, not assumed)
        if row[6] is not None and (row[6].endswith("date=unknown") or "year=assumed" in row[6]) and ctx[i] != _NAT:
            slow_rows[k] = parse_one(slow_lines[k].rstrip("\r\n"), int(ctx[i]))
    for i, (row, dtd) in zip(slow_idx, slow_rows, strict=True):
        if not dtd and row[0] is not None:
            t[i] = row[0]
    # the columns, each built in one step: noise and plain lines from the scan (views into the
    # chunks' bytes), the instrumented and unusual lines put in place
    out: dict[str, Any] = {"t": t}
    vc: dict[str, Any] = {col: _CodeColumn(n) if col in _CODE_COLS else _ViewColumn(n) for col in _STR_COLS}
    kind = np.concatenate([x["cols"]["kind"] for x in scans]) if scans else np.zeros(0, np.int64)
    vc["kind"].put_codes(_KIND_NAMES, kind)
    lv = np.concatenate([x["cols"]["level"] for x in scans]) if scans else np.zeros(0, np.int64)
    vc["level"].put_codes(_LEVEL_NAMES, lv)
    for col in ("msg", "node", "job", "execution"):
        for x, o in zip(scans, start, strict=True):
            v, valid = x["cols"][col]
            vc[col].put_structs(int(o), v, valid, x["cols"]["buf"])
    edge = c.EDGE_CONNECTED_MSG
    for col in _STR_COLS:
        if len(mt_idx):
            vc[col].put(mt_idx, mt[col].cast(pa.string()))
        if len(slow_idx):
            k = _ROW_POS[col]
            if col == "detail":
                vals = [None if r[1] == "log" and r[9] != edge else r[k] for r, _d in slow_rows]
            else:
                vals = [r[k] for r, _d in slow_rows]
            vc[col].put(slow_idx, pa.array(vals, pa.string()))
    # the final copy into plain strings, which pandas wants, column by column in threads
    if _threads() > 1 and n >= 1 << 16:
        with ThreadPoolExecutor(_threads()) as pool:
            arrays = list(pool.map(lambda col: vc[col].large(), _STR_COLS))
    else:
        arrays = [vc[col].large() for col in _STR_COLS]
    out.update(zip(_STR_COLS, arrays, strict=True))
    fix = [k for k, x in enumerate(slow_lines) if x != slow_rows[k][0][7]]
    if fix:
        mask = np.zeros(n, bool)
        mask[slow_idx[fix]] = True
        lines = pc.replace_with_mask(
            lines.combine_chunks(), pa.array(mask),
            pa.array([slow_rows[k][0][7] for k in fix], pa.string()),
        )
    out["line"] = lines
    return out


def _shape_ids(chunks: list[pa.Array], start: np.ndarray, n: int, slow: np.ndarray, soft: np.ndarray,
               seed: np.ndarray, mt_idx: np.ndarray, mt: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """Instrumented lines left to the per-line parser only for an id written by its shape (``n-…`` in the text)
    or for words a seed rule reads (``stuck``: no seed rule reads a message that is a LOG_MESSAGES key exactly):
    their node, job and execution where no key gave one, as :func:`repro_lib.capture._common.ids_by_shape` reads
    them (first of each kind), and off ``slow`` (in place)."""
    if not len(mt_idx) or not soft[mt_idx].any():
        return mt
    from repro_lib.capture._console import _SHAPE_IDS, _first_match

    take = soft[mt_idx] & ~(seed[mt_idx] & ~_fill_bool(pc.is_in(mt["msg"], value_set=_MSG_KEYS)).to_numpy(
        zero_copy_only=False))
    if not take.any():
        return mt
    rows = np.flatnonzero(take)
    at = mt_idx[rows]
    owner = np.searchsorted(start, at, side="right") - 1
    lines = pa.concat_arrays([chunks[j].take(pa.array(at[owner == j] - start[j])) for j in np.unique(owner)])
    pos = pa.array(rows)
    out = dict(mt)
    for col, rx in _SHAPE_IDS.items():
        got = pc.coalesce(mt[col].take(pos), _first_match(lines, rx))
        mask = np.zeros(len(mt_idx), bool)
        mask[rows] = True
        out[col] = pc.replace_with_mask(mt[col], pa.array(mask), got.cast(mt[col].type))
    slow[at] = False
    return out


_CONSOLE_BATCH = 1 << 16


def _console_lines(chunks: list[pa.Array], start: np.ndarray, n: int, slow: np.ndarray, t: np.ndarray,
                   dated: np.ndarray, tod: np.ndarray, cons: np.ndarray, mt_idx: np.ndarray,
                   mt: dict[str, pa.Array]) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Of the lines left to the per-line parser, those :func:`repro_lib.capture._console.read_console` reads
    (compose prefix, console body): taken off ``slow``, their time put in ``t``/``dated``/``tod``/``cons``
    (in place), their columns merged into the instrumented lines' ``(mt_idx, mt)``."""
    from repro_lib.capture._console import read_console

    slow_idx = np.flatnonzero(slow)
    if not len(slow_idx):
        return mt_idx, mt
    bounds = np.searchsorted(slow_idx, np.append(start, n))
    parts = [arr.take(pa.array(slow_idx[bounds[j]: bounds[j + 1]] - start[j]))
             for j, arr in enumerate(chunks) if bounds[j + 1] > bounds[j]]
    lines = pa.concat_arrays(parts) if len(parts) > 1 else parts[0]
    del parts
    # in batches: the kernels' temporaries (a dozen string arrays the size of the lines) stay small
    # (log_detail: a plain log row's detail is dropped in _columns, so read_console need not build it)
    got = [read_console(lines.slice(i, _CONSOLE_BATCH), log_detail=False) for i in range(0, len(lines), _CONSOLE_BATCH)]
    ok = np.concatenate([g[0] for g in got])
    if not ok.any():
        return mt_idx, mt
    read = [g[1] for g in got if g[1]]
    cols = {k: pa.concat_arrays([r[k].cast(pa.string()) for r in read]) for k in read[0]}
    ct = np.concatenate([g[2] for g in got])
    cdated = np.concatenate([g[3] for g in got])
    idx = slow_idx[ok]
    slow[idx] = False
    t[idx] = np.where(cdated, ct, _NAT)
    dated[idx] = cdated
    tod[idx] = np.where(cdated, 0, ct)
    cons[idx] = ~cdated
    if not len(mt_idx):
        return idx, cols
    both = np.concatenate([mt_idx, idx])
    order = pa.array(np.argsort(both, kind="stable"))
    merged = {k: pa.concat_arrays([mt[k].cast(pa.string()), cols[k].cast(pa.string())]).take(order) for k in cols}
    return both[order.to_numpy()], merged


def _scan(a: pa.Array) -> dict[str, Any]:
    """One chunk of lines → what the byte-level pass finds (see :func:`_columns`)."""
    n = len(a)
    bufs = a.buffers()
    otype = np.int64 if a.type == pa.large_string() else np.int32
    offs = np.frombuffer(bufs[1], otype)[a.offset: a.offset + n + 1].astype(np.int64)
    base = int(offs[0])
    data_buf = bufs[2] if bufs[2] is not None else pa.py_buffer(b"")
    d = np.frombuffer(data_buf, np.uint8)[base: int(offs[-1])]
    s, e = offs[:-1] - base, offs[1:] - base
    bb = _Bytes(d)
    slow = np.zeros(n, bool)
    # control bytes and non-ASCII: per-line parser
    odd = np.flatnonzero(np.less(d.view(np.int8), 32, out=_scratch("mask", len(d), bool)))
    if len(odd):
        slow[_rows(s, odd)] = True
    sp, qp, eqp, bsp = (_positions(d, x) for x in (32, 34, 61, 92))
    t = np.full(n, _NAT, np.int64)
    dated = np.zeros(n, bool)
    # Docker's prefix
    b = s.copy()
    dock = np.zeros(n, bool)
    ci = np.flatnonzero((e - s >= 11) & (bb.byte(s + 4) == 45) & (bb.byte(s + 10) == 84) & ~slow)
    if len(ci):
        sc = s[ci]
        mat = bb.bytes(sc, 2)
        _dg, isd = _digits(mat)
        loose = isd[:, [0, 1, 2, 3, 5, 6, 8, 9]].all(axis=1) & (mat[:, 7] == 45)
        sp1 = _nxt(sp, sc)
        ns, ok = _rfc(bb, sc, sp1)
        ok &= loose & (sp1 < e[ci])
        hit = ci[ok]
        dock[hit] = dated[hit] = True
        t[hit] = ns[ok]
        b[hit] = sp1[ok] + 1
        slow[ci[loose & ~ok]] = True
    # the app's own RFC 3339 time right after docker's (`docker logs -t` of a zerolog console line): [b, b2 - 1)
    b2 = b.copy()
    app2 = np.zeros(n, bool)
    a2 = np.flatnonzero(dock & ~slow & (e - b >= 21) & (bb.byte(b + 4) == 45) & (bb.byte(b + 10) == 84))
    if len(a2):
        sp2 = _nxt(sp, b[a2])
        _ns2, ok2 = _rfc(bb, b[a2], sp2)
        ok2 &= sp2 < e[a2]
        app2[a2[ok2]] = True
        b2[a2[ok2]] = sp2[ok2] + 1
    # zerolog's console without `|` behind a dated prefix: `LVL [caller > ]msg k=v` (line._level_line)
    w4 = bb.u8(b2) & _M[4]
    lcode = np.full(n, -1, np.int64)
    for i, word in enumerate(_CONSOLE_WORDS):
        lcode[w4 == _code(word)] = _CONSOLE_BASE + i
    is_lvl = dock & ~slow & (e - b2 >= 4) & (lcode >= 0)
    app2 &= is_lvl  # an app time followed by anything else: the per-line parser (its body starts with digits)
    b2 = np.where(app2, b2, b)
    # the body's format from its first bytes
    blen = e - b
    w = bb.u8(b)
    wb = w.view(np.uint8).reshape(-1, 8)
    dg, isd = _digits(wb)
    live = ~slow
    is_text = live & (blen >= 5) & ((w & _M[5]) == _code(b"time="))
    is_json = live & (blen >= 9) & (w == _code(b'{"time":')) & (bb.byte(b + 8) == 34)
    is_cons = live & (blen >= 8) & isd[:, [0, 1, 3, 4, 6, 7]].all(axis=1)
    is_cons &= (wb[:, 2] == 58) & (wb[:, 5] == 58)
    shaped = is_text | is_json | is_cons | is_lvl
    maybe = (blen >= 1) & (wb[:, 0] == 123)
    for word in _LEVEL_BODY_WORDS:  # `INFO msg` behind a prefix: a level line the per-line parser reads
        maybe |= dock & (blen >= len(word)) & ((w & _M[len(word)]) == _code(word))
    maybe |= (blen >= 6) & ((w & _M[6]) == _code(b"level="))
    maybe |= (blen >= 2) & isd[:, 0] & isd[:, 1]
    maybe &= live & ~shaped
    # a ` msg=` anywhere in the line (slog text behind some prefix): from the positions of `=`, not a search; only
    # where a line is neither slow nor of a known shape (nearly never: the whole pass is skipped then)
    loose = live & ~shaped
    eq4 = eqp[:-1] if loose.any() else eqp[:0]
    eq4 = eq4[eq4 >= 4]
    eq4 = eq4[(bb.u8(eq4 - 4) & _M[4]) == _MSG_FIELD]
    if len(eq4):
        r = _rows(s, eq4)
        r = r[eq4 - 4 >= s[r]]
        has_msg = np.zeros(n, bool)
        has_msg[r] = True
        maybe |= loose & has_msg
    slow |= maybe
    # heads: message span [ms, me), the fields from r0, level index, own time
    ms = np.zeros(n, np.int64)
    me = np.zeros(n, np.int64)
    r0 = e.copy()
    lvl = np.full(n, -1, np.int64)
    tod = np.zeros(n, np.int64)
    at0 = np.zeros(n, np.int64)  # the app's own time text [at0, at1)
    at1 = np.zeros(n, np.int64)
    c0 = np.zeros(n, np.int64)  # console caller [c0, c1)
    c1 = np.zeros(n, np.int64)
    good = np.zeros(n, bool)
    ti = np.flatnonzero(is_text)
    if len(ti):
        bt, et = b[ti], e[ti]
        t1 = _nxt(sp, bt + 5)
        ns, ok = _rfc(bb, bt + 5, t1)
        ok &= (t1 + 7 <= et) & bb.eq(t1 + 1, b"level=")
        l1 = _nxt(sp, t1 + 7)
        lv = _level(bb, t1 + 7, l1)
        ok &= (lv >= 0) & (l1 + 5 <= et) & bb.eq(l1 + 1, b"msg=")
        m0 = l1 + 5
        quoted = (m0 < et) & (bb.byte(m0) == 34)
        cq = _nxt(qp, m0 + 1)
        ok_q = (cq < et) & (_nxt(bsp, m0 + 1) > cq) & ((cq + 1 == et) | (bb.byte(cq + 1) == 32))
        bend = np.minimum(_nxt(sp, m0), et)
        ok_b = _nxt(qp, m0) >= bend
        ok &= np.where(quoted, ok_q, ok_b)
        after = np.where(quoted, cq + 1, bend)
        ms[ti], me[ti] = np.where(quoted, m0 + 1, m0), np.where(quoted, cq, bend)
        at0[ti], at1[ti] = bt + 5, t1
        r0[ti] = np.minimum(after + 1, et)
        lvl[ti], t[ti[ok & ~dock[ti]]] = lv, ns[ok & ~dock[ti]]
        good[ti] = ok
        dated[ti[ok]] = True
    ji = np.flatnonzero(is_json)
    if len(ji):
        bj, ej = b[ji], e[ji]
        t1 = _nxt(qp, bj + 9)
        ns, ok = _rfc(bb, bj + 9, t1)
        ok &= bb.eq(t1, b'","level":"')
        l1 = _nxt(qp, t1 + 11)
        lv = _level(bb, t1 + 11, l1)
        ok &= (lv >= 0) & bb.eq(l1, b'","msg":"')
        m1 = _nxt(qp, l1 + 9)
        ok &= m1 < ej
        # the whole line must be JSON of the simple shape json.loads reads the same way
        bodies = _views(data_buf, base, bj, ej, ok, bb)
        ok &= _fill_bool(pc.match_substring_regex(bodies, _JSON)).to_numpy(zero_copy_only=False)
        ms[ji], me[ji], r0[ji] = l1 + 9, m1, m1 + 1
        at0[ji], at1[ji] = bj + 9, t1
        lvl[ji], t[ji[ok & ~dock[ji]]] = lv, ns[ok & ~dock[ji]]
        good[ji] = ok
        dated[ji[ok]] = True
    ki = np.flatnonzero(is_cons)
    if len(ki):
        bk, ek = b[ki], e[ki]
        kd = dg[ki]
        ok = (kd[:, 0] * 10 + kd[:, 1] <= 23) & (kd[:, 3] * 10 + kd[:, 4] <= 59)
        ok &= kd[:, 6] * 10 + kd[:, 7] <= 59
        secs = (kd[:, 0] * 10 + kd[:, 1]) * 3600 + (kd[:, 3] * 10 + kd[:, 4]) * 60
        secs += kd[:, 6] * 10 + kd[:, 7]
        p8 = bk + 8
        sp1 = _nxt(sp, p8)
        frac, f_ok = _frac_swar(bb, p8 + 1, np.clip(sp1 - p8 - 1, 0, 9))
        has_frac = (p8 < ek) & (bb.byte(p8) == 46)
        ok &= np.where(has_frac, (sp1 - p8 - 1 >= 1) & (sp1 - p8 - 1 <= 9) & f_ok, sp1 == p8)
        ok &= (sp1 + 7 <= ek) & bb.eq(sp1, b" | ")
        lw = bb.u8(sp1 + 3) & _M[4]
        lv = np.full(len(ki), -1, np.int64)
        for i, word in enumerate(_CONSOLE_WORDS):
            lv[lw == _code(word)] = _CONSOLE_BASE + i
        ok &= lv >= 0
        p = sp1 + 7
        w_end = np.minimum(_nxt(sp, p), ek)
        cal = (w_end > p) & (w_end + 1 < ek) & (bb.byte(w_end + 1) == 62)
        cal &= (w_end + 2 == ek) | (bb.byte(w_end + 2) == 32)
        nocal = ~cal & (p < ek) & (bb.byte(p) == 62) & ((p + 1 == ek) | (bb.byte(p + 1) == 32))
        ok &= cal | nocal
        tail0 = np.minimum(np.where(cal, w_end + 1, p) + 2, ek)
        # the message ends where the first `key=` field starts (CONSOLE_FIELDS_RE)
        f = _nxt(eqp, tail0)
        has_f = f < ek
        ps = _prv(sp, f)
        ws = np.where(ps >= tail0, ps + 1, tail0)
        klen = f - ws
        key = bb.bytes(ws, 2)
        k_ok = (klen >= 1) & (klen <= 16) & _KEY_FIRST[key[:, 0]]
        k_ok &= np.where(np.arange(16)[None, :] < klen[:, None], _KEY_CHAR[key], True).all(axis=1)
        ok &= ~has_f | k_ok
        ms[ki] = tail0
        at0[ki], at1[ki] = bk, sp1
        c0[ki], c1[ki] = np.where(cal, p, 0), np.where(cal, w_end, 0)
        me[ki] = np.where(has_f, np.where(ws > tail0, ws - 1, tail0), ek)
        r0[ki] = np.where(has_f, ws, ek)
        lvl[ki] = lv
        tod[ki] = secs.astype(np.int64) * c.NS + np.where(has_frac, frac, 0)
        good[ki] = ok
    li = np.flatnonzero(is_lvl)
    if len(li):
        bk, ek = b2[li], e[li]
        p = bk + 4
        gtp = _positions(d, 62)
        w_end = np.minimum(_nxt(sp, p), ek)
        cal = (w_end > p) & (w_end + 1 < ek) & (bb.byte(w_end + 1) == 62) & (_nxt(gtp, p) == w_end + 1)
        cal &= (w_end + 2 == ek) | (bb.byte(w_end + 2) == 32)
        nocal = ~cal & (p < ek) & (bb.byte(p) == 62) & ((p + 1 == ek) | (bb.byte(p + 1) == 32))
        tail0 = np.minimum(np.where(cal, w_end + 3, np.where(nocal, p + 2, p)), ek)
        f = _nxt(eqp, tail0)
        has_f = f < ek
        ps = _prv(sp, f)
        ws = np.where(ps >= tail0, ps + 1, tail0)
        klen = f - ws
        key = bb.bytes(ws, 2)
        k_ok = (klen >= 1) & (klen <= 16) & _KEY_FIRST[key[:, 0]]
        k_ok &= np.where(np.arange(16)[None, :] < klen[:, None], _KEY_CHAR[key], True).all(axis=1)
        ms[li] = tail0
        me[li] = np.where(has_f, np.where(ws > tail0, ws - 1, tail0), ek)
        r0[li] = np.where(has_f, ws, ek)
        at0[li], at1[li] = np.where(app2[li], b[li], 0), np.where(app2[li], bk - 1, 0)
        c0[li], c1[li] = np.where(cal, p, 0), np.where(cal, w_end, 0)
        lvl[li] = lcode[li]
        good[li] = ~has_f | k_ok
    slow |= shaped & ~good
    # which lines matter: their message starts like an instrumented one
    mlen = me - ms
    matter = good & (mlen >= 4) & np.isin(bb.u8(ms) & _M[4], _MATTER)
    noise = good & ~matter
    ids, trouble = _noise_ids(bb, s, e, r0, noise & ~is_json, noise & is_json, sp, qp, eqp)
    slow |= trouble
    noise &= ~trouble
    matter_idx = np.flatnonzero(matter)
    fmt = np.where(is_text, 0, np.where(is_json, 1, 2))[matter_idx]
    mi = matter_idx
    one = np.ones(len(mi), bool)
    is_j = is_json[mi]
    # JSON fields keep their braces' inside: `,"k":v,…` without the closing `}`
    matter_cols = {
        "msg": _views(data_buf, base, ms[mi], me[mi], one, bb),
        "rest": _views(data_buf, base, r0[mi], np.where(is_j, e[mi] - 1, e[mi]), one, bb),
        "app_time": _views(data_buf, base, at0[mi], at1[mi], one, bb),
        "caller": _views(data_buf, base, c0[mi], c1[mi], c1[mi] > c0[mi], bb),
        "level": lvl[mi],
    }
    kind = np.where(noise | (plain_dock := live & ~shaped & ~slow & dock), 0, 1)
    mvalid = noise | plain_dock
    msg = _view_structs(base, np.where(noise, ms, b), np.where(noise, me, e), mvalid, bb)
    cols = {"kind": kind, "level": np.where(noise, lvl, -1), "msg": (msg, mvalid), "buf": data_buf}
    for col in ("node", "job", "execution"):
        p0, p1, valid = ids[col]
        valid = valid & noise
        cols[col] = (_view_structs(base, p0, p1, valid, bb), valid)
    shape = np.zeros(n, bool)  # lines held back only by soft hints (see _shape_ids), and of those the seed ones
    seed = np.zeros(n, bool)
    if n:  # upstream keys/messages, other console and prefix shapes: only the per-line parser reads them
        # one pass for any hint (most lines have none), then which ones on the few that do: ids by their shape and
        # words a seed rule may read are read by columns on the instrumented lines (_shape_ids)
        hint = np.flatnonzero(pc.match_substring_regex(a, c.UPSTREAM_HINT).to_numpy(zero_copy_only=False))
        if len(hint):
            hl = a.take(pa.array(hint))
            other = pc.match_substring_regex(hl, c.OTHER_HINT).to_numpy(zero_copy_only=False)
            soft = ~other & ~slow[hint]
            seed[hint] = soft & pc.match_substring_regex(hl, c.SEED_HINT).to_numpy(zero_copy_only=False)
            shape[hint] = soft
            slow[hint] = True
    return {
        "shape": shape, "seed": seed,
        "n": n, "t": t, "dated": dated, "tod": tod, "cons": is_cons & good & ~dock, "slow": slow,
        "matter": matter_idx, "fmt": fmt, "dock": dock, "mcols": matter_cols, "cols": cols,
        "app": dock & (~is_lvl | app2),  # behind docker's time with a time of its own (detail: app_time=)
    }


def _after_key(d: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The positions (sorted, in the chunk) right after a ``b``, ``d`` or ``e``."""
    pos = pos[pos >= 1]
    prev = d[pos - 1]
    return pos[(prev == 100) | (prev == 101) | (prev == 98)]


def _noise_ids(bb: _Bytes, s: np.ndarray, e: np.ndarray, r0: np.ndarray, logfmt: np.ndarray,
               json: np.ndarray, sp: np.ndarray, qp: np.ndarray, eqp: np.ndarray
               ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
    """node/job/execution of noise lines as spans: {col: (p0, p1, found)}, and the lines whose
    fields are too unusual to read this way (quotes before the key, quoted or bare JSON values)."""
    n = len(s)
    trouble = np.zeros(n, bool)
    found = {k: (np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, bool))
             for k, _key in _ID_KEYS}
    # key=value fields (slog text, console): `␠key=` in the fields part, a plain token;
    # JSON fields: `,"key":"value"`. Candidates: `=` / `":` right after the last letter of a
    # key (d, e or b; from the positions of `=` and `"`), then the 4 bytes before them.
    d = bb.d  # d has 16 zero bytes after the chunk
    eqs = _after_key(d, eqp[:-1])
    jq = qp[:-1]
    jq = _after_key(d, jq[d[jq + 1] == 58])
    cands = []
    for is_json, where, pos in ((False, logfmt, eqs), (True, json, jq)):
        if len(pos) and where.any():
            cands.append((is_json, where, pos, bb.u8(pos - 4) & _M[4]))
    for col, key in _ID_KEYS:
        kb = key.encode()
        for is_json, where, pos, tail4 in cands:
            lead = b'"' if is_json else b" "
            pos = pos[tail4 == _code((lead + kb)[-4:])]
            if not len(pos):
                continue
            start = pos - len(kb)
            if len(kb) > 3:
                pos = pos[bb.eq(start - (2 if is_json else 1), (b',"' if is_json else b" ") + kb)]
                start = pos - len(kb)
            elif is_json:
                pos = pos[bb.byte(start - 2) == 44]
                start = pos - len(kb)
            row = _rows(s, pos)
            keep = where[row] & (start >= r0[row])
            pos, start, row = pos[keep], start[keep], row[keep]
            first = np.flatnonzero(np.diff(row, prepend=-1))  # rows in order: the first position of each
            row = row[first]
            pos, start = pos[first], start[first]
            if is_json:
                v0 = pos + 3
                bad = bb.byte(pos + 2) != 34
                v1 = np.minimum(_nxt(qp, v0), e[row])
            else:
                v0 = pos + 1
                bad = (_nxt(qp, r0[row]) < start) | ((v0 < e[row]) & (bb.byte(v0) == 34))
                v1 = np.minimum(_nxt(sp, v0), e[row])
            trouble[row[bad]] = True
            p0, p1, fnd = found[col]
            p0[row], p1[row], fnd[row] = v0, v1, True
    ids: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for col, alt in (("execution", None), ("node", "node2"), ("job", "job2")):
        p0, p1, fnd = found[col]
        if alt is not None:
            a0, a1, afnd = found[alt]
            use = ~fnd & afnd
            p0, p1, fnd = np.where(use, a0, p0), np.where(use, a1, p1), fnd | afnd
        ids[col] = (p0, p1, fnd & (p1 > p0))
    return ids, trouble


def _matter(parts: list[dict[str, Any]], idx: np.ndarray, fmt: np.ndarray, dock: np.ndarray
            ) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Instrumented lines (message, fields, level, app time, caller from the scan) → (the rows
    that parsed, their columns)."""
    if not len(idx):
        return idx, {}
    cols = {k: pa.concat_arrays([p[k] for p in parts]) for k in ("msg", "rest", "app_time", "caller")}
    level = pc.take(_LEVEL_NAMES, pa.array(np.concatenate([p["level"] for p in parts])))
    rest = cols["rest"]
    is_j = fmt == 1
    if is_j.any():
        jm = pa.array(is_j)
        rr = pc.filter(rest, jm)
        rr = pc.replace_substring_regex(rr, r',"(' + _KEY + r')":"([^" =]+)"', r" \1=\2")
        rr = pc.replace_substring_regex(rr, r',"(' + _KEY + r')":("[^"]*")', r" \1=\2")
        rr = pc.replace_substring_regex(
            rr, r',"(' + _KEY + r')":(' + _NUM + r"|true|false|null)", r" \1=\2"
        )
        rest = pc.replace_with_mask(rest, jm, pc.utf8_slice_codeunits(rr, 1))
    res = _structured(cols["msg"], rest, level, cols["app_time"], cols["caller"], dock[idx])
    keep = ~res.pop("bad")
    km = pa.array(keep)
    return idx[keep], {k: pc.filter(v, km) for k, v in res.items()}


_STATE_MSGS = pa.array(sorted(c.STATE_FIELD_MSGS))
# the id fields cut out of ``rest`` in the per-line parser's order: (column, key, taken only where this column is
# null — the one before it), then the fields read but left in place
_CUT_KEYS = (("execution", "execution_id", None), ("node", "node_id", None), ("node2", "target_node", "node"),
             ("job", "job", None), ("job2", "job_id", "job"))
_READ_KEYS = ("connection_exists", "connection_alive", "trigger")
# fields that are all ``key=value`` tokens apart by single spaces, each value plain or quoted, with no ``=``, quote
# or backslash inside: there a ``key=`` substring is a field's key ending in ``key`` and :func:`_take`'s checks of
# what comes before it always pass, so :func:`_fields_plain` reads them by fields
_TOKEN = r'[^ "=\\]+=(?:[^ "=\\]+|"[^"=\\]*")'
_PLAIN_FIELDS = r"^(?:" + _TOKEN + r"(?: " + _TOKEN + r")*)?$"


def _fields(rest: pa.Array, is_state: np.ndarray, is_pub: np.ndarray, is_created: np.ndarray) -> dict[str, Any]:
    """The fields the instrumented lines' columns come from: execution, node, job (cut out of ``rest``), the state
    field of a state line (``has_state``, ``state``; cut), the connection and trigger fields (read), the rest and
    the rows :func:`_take`'s rules send to the per-line parser (``bad``). Plain fields (nearly all) by tokens, the
    others by :func:`_take` one key after another; both give the same values."""
    plain = _fill_bool(pc.match_substring_regex(rest, _PLAIN_FIELDS)).to_numpy(zero_copy_only=False)
    if plain.all():
        return _fields_plain(rest, is_state, is_pub, is_created)
    if not plain.any():
        return _fields_take(rest, is_state, is_pub, is_created)
    parts = []
    order = np.concatenate([np.flatnonzero(plain), np.flatnonzero(~plain)])
    for how, rows in ((_fields_plain, order[: int(plain.sum())]), (_fields_take, order[int(plain.sum()):])):
        parts.append(how(rest.take(pa.array(rows)), is_state[rows], is_pub[rows], is_created[rows]))
    back = np.argsort(order, kind="stable")
    out: dict[str, Any] = {}
    for k, v in parts[0].items():
        if isinstance(v, np.ndarray):
            out[k] = np.concatenate([v, parts[1][k]])[back]
        else:
            out[k] = pa.concat_arrays([v, parts[1][k].cast(v.type)]).take(pa.array(back))
    return out


def _fields_take(rest: pa.Array, is_state: np.ndarray, is_pub: np.ndarray, is_created: np.ndarray
                 ) -> dict[str, Any]:
    """:func:`_fields` by :func:`_take`, one key after another (fields with quotes, odd spacing, ``=`` in values)."""
    bad = np.zeros(len(rest), dtype=bool)
    execution, rest, b = _take(rest, "execution_id")
    bad |= b
    node, rest, b = _take(rest, "node_id")
    bad |= b
    node2, rest, b = _take(rest, "target_node", pc.is_null(node))
    bad |= b
    node = pc.coalesce(node, node2)
    job, rest, b = _take(rest, "job")
    bad |= b
    job2, rest, b = _take(rest, "job_id", pc.is_null(job))
    bad |= b
    job = pc.coalesce(job, job2)
    st = pa.array(is_state)
    has_state = pc.and_(st, pc.match_substring(rest, "state="))
    sval, rest, b = _take(rest, "state", st)
    bad |= b
    out: dict[str, Any] = {"execution": execution, "node": node, "job": job, "has_state": has_state, "state": sval}
    for key, where in (("connection_exists", is_pub), ("connection_alive", is_pub), ("trigger", is_created)):
        out[key], _r, b = _take(rest, key, pa.array(where), cut=False)
        bad |= b
    out["rest"], out["bad"] = rest, bad
    return out


def _key_ends(words: np.ndarray, eq: np.ndarray, w0: np.ndarray, key: bytes) -> np.ndarray:
    """Do the bytes before each ``=`` (at ``eq`` in ``words``' buffer; ``w0``: the 8 bytes before each) end in
    ``key``? The 8 bytes before those are read only where the ones after matched."""
    part = key[-8:]
    ok = (w0 >> _U64(8 * (8 - len(part)))) == _code(part)
    if len(key) > 8:
        at = np.flatnonzero(ok)
        for j in range(8, len(key), 8):
            part = key[max(len(key) - j - 8, 0): len(key) - j]
            at = at[(words[eq[at] - j - 8] >> _U64(8 * (8 - len(part)))) == _code(part)]
        ok = np.zeros(len(w0), bool)
        ok[at] = True
    return ok


_U64 = np.uint64


def _fields_plain(rest: pa.Array, is_state: np.ndarray, is_pub: np.ndarray, is_created: np.ndarray
                  ) -> dict[str, Any]:
    """:func:`_fields` of rows whose fields match :data:`_PLAIN_FIELDS`, by fields: one split at the spaces, each
    piece's key end (its one ``=``), which keys end in or are the keys read (the bytes before the ``=``), the rows'
    counts by numpy. :func:`_take`'s rules there: a key found (``key=`` in the fields left: a field whose key ends in
    ``key``) is bad unless exactly one field's key ends in it, that key is ``key`` and its value is not quoted; the
    value is that field's; a cut drops that field."""
    m = len(rest)
    split = pc.split_pattern(rest, " ")
    offs = split.offsets.to_numpy(zero_copy_only=False)
    row = np.repeat(np.arange(m), np.diff(offs))
    pieces = split.values.slice(int(offs[0]), int(offs[-1] - offs[0]))
    # a piece with an `=` is a field (its key before the `=`); the others are words of a quoted value (or empty)
    klen = pc.find_substring(pieces, "=").to_numpy(zero_copy_only=False).astype(np.int64)
    field = klen >= 0
    bufs = pieces.buffers()
    otype = np.int64 if pa.types.is_large_string(pieces.type) else np.int32
    poffs = np.frombuffer(bufs[1], otype)[pieces.offset: pieces.offset + len(pieces) + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], np.uint8)[poffs[0]: poffs[-1]] if bufs[2] is not None else np.zeros(0, np.uint8)
    longest = max(len(k) for _c, k, _u in _CUT_KEYS + tuple((k, k, None) for k in ("state", *_READ_KEYS)))
    lead = 8 * ((longest + 7) // 8)
    pad = np.zeros(lead + len(data) + 8, np.uint8)  # zeros before the first key: no key is read past its start
    pad[lead: lead + len(data)] = data
    words = np.ndarray((len(pad) - 7,), "<u8", buffer=pad, strides=(1,))
    eq = poffs[:-1][field] - poffs[0] + klen[field] + lead  # the `=` in pad
    w0 = words[eq - 8]
    # the fields (pieces with an `=`) only: their piece, row, key length, whether still in the rest
    at_f = np.flatnonzero(field)
    row_f, klen_f = row[at_f], klen[at_f]
    alive_f = np.ones(len(at_f), bool)
    bad = np.zeros(m, bool)
    none = pa.nulls(m, pa.string())

    def take(key: str, where: np.ndarray | None, cut: bool) -> tuple[pa.Array, np.ndarray]:
        if where is not None and not where.any():
            return none, np.zeros(m, bool)
        kb = key.encode()
        is_end = (klen_f >= len(kb)) & _key_ends(words, eq, w0, kb) & alive_f
        ends = np.flatnonzero(is_end)
        if not len(ends):
            return none, np.zeros(m, bool)
        same = ends[klen_f[ends] == len(kb)]
        n_ends = np.bincount(row_f[ends], minlength=m)
        has = n_ends >= 1
        if where is not None:
            has &= where
        got = has & (n_ends == 1) & (np.bincount(row_f[same], minlength=m) == 1)
        at = np.zeros(m, np.int64)
        at[row_f[same]] = at_f[same]
        rows = np.flatnonzero(got)
        value = pc.utf8_slice_codeunits(pieces.take(pa.array(at[rows])), len(key) + 1)
        quoted = pc.starts_with(value, '"').to_numpy(zero_copy_only=False)
        miss = has.copy()
        miss[rows[~quoted]] = False
        bad[miss] = True
        idx = np.zeros(m, np.int64)
        idx[rows] = np.arange(len(rows))
        value = value.take(pa.array(idx, mask=~got)) if len(rows) else none
        if cut:
            alive_f[same[has[row_f[same]]]] = False
        return value, has

    out: dict[str, Any] = {}
    found: dict[str, np.ndarray] = {}
    for col, key, unless in _CUT_KEYS:
        out[col], found[col] = take(key, None if unless is None else ~found[unless], True)
    out["node"] = pc.coalesce(out["node"], out.pop("node2"))
    out["job"] = pc.coalesce(out["job"], out.pop("job2"))
    out["state"], has_state = take("state", is_state, True)
    out["has_state"] = pa.array(has_state)
    for key, where in zip(_READ_KEYS, (is_pub, is_pub, is_created), strict=True):
        out[key], _has = take(key, where, False)
    alive = np.ones(len(pieces), bool)
    alive[at_f[~alive_f]] = False
    lo = np.zeros(m + 1, np.int32)
    np.cumsum(np.bincount(row[alive], minlength=m), out=lo[1:])
    out["rest"] = pc.binary_join(pa.ListArray.from_arrays(pa.array(lo), pieces.filter(pa.array(alive))), " ")
    out["bad"] = bad
    return out


def _structured(
    msg: pa.Array,
    rest: pa.Array,
    level: pa.Array,
    app_time: pa.Array,
    caller: pa.Array,
    dock: np.ndarray,
) -> dict[str, Any]:
    m = len(msg)
    bad = np.zeros(m, dtype=bool)
    code = pc.index_in(msg, value_set=_MSG_KEYS)
    kind = _fill(pc.take(_MSG_KIND, code), "log")
    state = pc.take(_MSG_STATE, code)
    special = pc.match_substring_regex(msg, r"^(?:FAULT:|ACTION:)").to_numpy(zero_copy_only=False)
    bad |= special
    # a message that starts like an instrumented one but is none of them (one with words after it, a seed-style
    # "EDGE: received a run request"), a reconciler line naming its job: the per-line parser (few lines)
    # ("NATS: connected", which no rule reads, is a plain log line: read here)
    unknown = _fill_bool(pc.and_(pc.is_null(code), pc.not_equal(msg, c.EDGE_CONNECTED_MSG))).to_numpy(
        zero_copy_only=False)
    for rows, texts, rx in ((unknown, msg, _MAP_MSG_MORE),
                            (pc.equal(kind, "reconcile").to_numpy(zero_copy_only=False), rest, _JOB_NAME_RE2)):
        if rows.any():  # searched on those rows only
            at = np.flatnonzero(rows)
            bad[at] |= _fill_bool(pc.match_substring_regex(texts.take(pa.array(at)), rx)).to_numpy(
                zero_copy_only=False)
    is_state = _fill_bool(pc.is_in(msg, value_set=_STATE_MSGS)).to_numpy(zero_copy_only=False)
    is_pub = _fill_bool(pc.equal(msg, c.PUBLISH_CHECK_MSG)).to_numpy(zero_copy_only=False)
    is_created = _fill_bool(pc.equal(msg, c.CREATED_MSG)).to_numpy(zero_copy_only=False)
    f = _fields(rest, is_state, is_pub, is_created)
    bad |= f["bad"]
    execution, node, job, rest = f["execution"], f["node"], f["job"], f["rest"]
    state = pc.if_else(f["has_state"], f["state"], state)
    pub_ok = pc.and_(pc.equal(_fill(f["connection_exists"]), "true"), pc.equal(_fill(f["connection_alive"]), "true"))
    state = pc.if_else(pa.array(is_pub), pc.if_else(pub_ok, "published", "refused"), state)
    trig = f["trigger"]
    is_created = pa.array(is_created)
    add_trig = pc.and_(is_created, pc.is_null(trig))
    # the parts after the fields, each joined only when some row has it (a part that is "" everywhere adds nothing)
    detail = rest
    if pc.any(add_trig).as_py():
        detail = _join(detail, pc.if_else(add_trig, "trigger=node-join", ""))
    if caller.null_count < len(caller):
        detail = _join(detail, pc.if_else(pc.is_null(caller), "", pc.binary_join_element_wise(
            "caller=", _fill(caller), "")))
    if dock.any():
        app = pc.binary_join_element_wise("app_time=", app_time, "")
        detail = _join(detail, app if dock.all() else pc.if_else(pa.array(dock), app, ""))
    return {
        "kind": kind, "node": node, "job": job, "execution": execution, "state": state,
        "detail": detail, "level": level, "msg": msg, "bad": bad,
    }
