"""Zerolog console lines behind ``docker compose``'s prefix, read by columns: numpy over the bytes, Arrow's RE2.

The byte pass of :mod:`repro_lib.capture._fast` hands over the lines it does not take; of those, the
ones of this shape are read here, column by column, exactly as :func:`repro_lib.capture.line.parse_one`
reads them, so that a fleet's ``docker compose logs`` never goes through the per-line parser:

    [SERVICE<spaces>| ][DOCKER-TIME ]HH:MM:SS[.f] | LVL [caller > ]message [key=value …][ [Key:value] …]

- ``SERVICE  | ``: ``docker compose logs``' prefix (``edge-17-1  | ``, padded), ``service=`` in ``detail``;
- ``DOCKER-TIME``: ``--timestamps`` (RFC 3339): the row's time, the console's own time as ``app_time=``;
- the console body: zerolog >= 1.6 (no ``>``), <= 1.5 (``caller >``, trailing ``[Key:value]`` fields).

The message is mapped as the per-line parser maps it (upstream Bacalhau texts, ids named in the text,
ids by their shape and by their key's grammar). Whatever this module cannot read with certainty — a
message that starts like an instrumented one, quotes or escapes in the fields, a value the per-line parser
would quote, ids it would find by other rules (``Qm…`` peer ids, UUID job ids, ``name=n-…``) — is left
to the per-line parser: the returned mask says which rows were read here. ``tests/test_fast_console.py``
compares the two on generated and fuzzed lines.

By bytes (numpy over each batch's buffer, per-row loads at known positions and sorted positions of a few
byte values): the prefix's end, Docker's time, the time of day, the level, the caller, where the fields start,
the id fields cut out of them, ids written by their shape. The rows of rarer shapes (a long service name, a
10-digit fraction, fields apart by two spaces, …) take the RE2 patterns each of those steps replaces, which
stay the reference (the tests hold the byte steps to them). RE2 still reads the message's meaning (upstream
texts, the hints that send a row to the per-line parser).

A batch is split by shape first: the common line (no quotes, no ``[Key:value]`` fields, fields apart by single
spaces) is read as positions in the batch's bytes by :func:`_read_common`, strings made once per column at the end;
every other line by :func:`_read_general`, the reader that handles every shape and that the tests hold the common
path to. What the message alone decides is read once per distinct message (:func:`_read_messages`).
``docs/console-reader.md`` has the measurements.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from repro_lib.capture import _common as c
from repro_lib.capture import upstream as up
from repro_lib.capture._bytes import _BIG, _M, _Bytes, _code, _frac_swar, _nxt, _prv, _rfc, _views
from repro_lib.events import LOG_MESSAGES

__all__ = ["read_console"]

_TOD = r"\d\d:\d\d:\d\d(?:\.\d{1,9})?"
_DOCKER = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)"
# the whole line: compose service (optional), docker time (optional), console time, level, the rest
_SHAPE = (r"^(?P<pre>(?:(?P<svcp>(?P<svc>[A-Za-z][\w.-]*) *)\| )?(?:(?P<dock>" + _DOCKER + r") )?)(?P<tod>" + _TOD
          + r") \| (?P<lvl>TRC|DBG|INF|WRN|ERR|FTL|PNC) (?P<tail>.*)$")
# CONSOLE_RE's caller and `>` (zerolog <= 1.5)
_CALLER = r"^(?:(?P<caller>[^ ]+) )?>(?: (?P<tail>.*))?$"
# _BRACKETS_RE: trailing `[Key:value]` fields (leftmost start that reaches the end)
_BRACKETS = r"^(?P<msg>.*?)(?P<b>(?: ?\[[A-Za-z_][\w.\-]*:[^\]]*\])+)\s*$"
_BRACKET_SIMPLE = r"^(?: ?\[[A-Za-z_][\w.\-]*:[^\] ,=\"\\]*\])+$"  # values the per-line parser keeps as they are
# CONSOLE_FIELDS_RE: the message ends where the first `key=` starts
_FIELDS = r"(?:^| )(?P<rest>[A-Za-z_][\w.\-]*=.*)$"
# messages map_msg reads as more than a log line: instrumented heads, nats-server's texts
_MATTER_HEADS = sorted({k[:4] for k in (*LOG_MESSAGES, c.EDGE_CONNECTED_MSG)})
_MAP_MSG = (r"^(?:" + "|".join(re.escape(h) for h in _MATTER_HEADS) + r")"
            r"|Slow Consumer Detected|Stale C|connection closed: Stale|Timed out on heartbeats")
# ids the per-line parser finds by rules this module does not run: peer ids, UUID job ids, `name=n-…`
_OTHER_IDS = (r"Qm|(?:[Jj]ob|[Ss]hard)(?: ID)?:?\s+[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
              r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[:_]\d"
              r"|(?:name|Name|Server)(?:=|\":\"|:)[nje]-[0-9a-f]{8}")
_STATE_CHANGED = r"Execution (?:desired )?state changed from '"
_UUID_TAIL = r"[0-9a-f]{8}(?:-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?"
# SHAPE_FREE_RE per kind; its look-ahead `(?![\w-])` as a following character or the end
_SHAPE_IDS = {col: r"(?:^|[^=\"\w.-])(?P<id>" + k + "-" + _UUID_TAIL + r")(?:[^\w-]|$)"
          for k, col in (("n", "node"), ("j", "job"), ("e", "execution"))}
# _KEYED_ID_RE per column (the first match of each column's keys)
_KEYED = {"job": r"JobI[dD]", "execution": r"ExecutionI[dD]", "node": r"(?:Source|Target|Requester)?NodeI[dD]"}
_KEYED = {col: r"[\"']?\b(?:" + k + r")[\"']?\s*[:=]\s*[\"']?(?P<id>[A-Za-z0-9][\w-]{7,})"
          for col, k in _KEYED.items()}
# map_upstream's ids read from the message text, in its order (later ones win)
_IDS_IN_MSG = (up.NODE_UNHEALTHY_RE, up.EVAL_ENQUEUED_RE,
               r"^(?:Accepting|Rejecting) bid for execution (?P<execution>\S+)",
               r"^Execution (?P<execution>e-\S+) (?:completed|failed)$")
# map_upstream's texts in its order: (pattern, is a regex, kind, state), and all of them as one RE2 search
_UPSTREAM = [(m[3:], True, kd, st) if m.startswith("re:") else (m, False, kd, st) for m, kd, st, _cit in up.MESSAGES]


def _any_of(texts: list[tuple[str, bool, str, str]]) -> str:
    """One RE2 search for any of map_upstream's ``texts``."""
    return "|".join("(?:" + (p if rx else re.escape(p)) + ")" for p, rx, _k, _s in texts)


_ANY_UPSTREAM = _any_of(_UPSTREAM)
# the texts in groups of _GROUP, each group as one RE2 search: a message is tried against a group's texts only
# once it matches the group (the first text matched is in the first group matched)
_GROUP = 9
_UPSTREAM_GROUPS = [(g, _any_of(_UPSTREAM[g: g + _GROUP])) for g in range(0, len(_UPSTREAM), _GROUP)]


_LVLS = ("TRC", "DBG", "INF", "WRN", "ERR", "FTL", "PNC")
_LVL_CODES = np.array([int(_code(x.encode() + b" ")) for x in _LVLS], np.uint64)
_LEVEL_VALUES = pa.array([c.CONSOLE_LEVELS[x] for x in _LVLS])
_SVC_CHAR = np.zeros(256, bool)  # `[\w.-]` (ASCII)
for _ch in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789.-":
    _SVC_CHAR[_ch] = True
_LETTER = np.zeros(256, bool)
for _ch in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
    _LETTER[_ch] = True
_KEY_FIRST = _LETTER.copy()
_KEY_FIRST[ord("_")] = True
_SPACE = np.zeros(256, bool)
_SPACE[32] = True
_EQ = np.zeros(256, bool)
_EQ[61] = True
_MSG_KEY = _code(b" msg")  # the 4 bytes before a " msg=" field's `=`


def _firsts(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(r, return_index=True)`` of a sorted ``r``, without sorting it again."""
    first = np.flatnonzero(np.r_[True, r[1:] != r[:-1]]) if len(r) else np.zeros(0, np.int64)
    return r[first], first


_LO7 = np.uint64(0x7F7F7F7F7F7F7F7F)


def _rows(s: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Row of each byte position (s: row starts)."""
    return np.searchsorted(s, pos, side="right") - 1


class _Text:
    """One string array's bytes: its offsets, a padded copy for loads, and sorted positions of a byte class."""

    def __init__(self, a: pa.Array) -> None:
        bufs = a.buffers()
        otype = np.int64 if a.type == pa.large_string() else np.int32
        offs = np.frombuffer(bufs[1], otype)[a.offset: a.offset + len(a) + 1].astype(np.int64)
        self.base = int(offs[0])
        self.buf = bufs[2] if bufs[2] is not None else pa.py_buffer(b"")
        self.d = np.frombuffer(self.buf, np.uint8)[self.base: int(offs[-1])]
        self.s, self.e = offs[:-1] - self.base, offs[1:] - self.base
        self.valid = np.asarray(a.is_valid().to_numpy(zero_copy_only=False), bool)
        self.bb = _Bytes(self.d, own=True)
        self._pos: dict[tuple[bytes, bool], np.ndarray] = {}

    def where(self, table: np.ndarray, want: bool) -> np.ndarray:
        """Sorted positions of the bytes whose class in ``table`` is ``want`` (with a sentinel past the end);
        computed once per text and class."""
        key = (table.tobytes(), want)
        got = self._pos.get(key)
        if got is None:
            one = np.flatnonzero(table)
            if len(one) == 1:  # one byte value: a comparison, not a lookup
                hit = np.equal(self.d, one[0]) if want else np.not_equal(self.d, one[0])
            else:
                hit = table[self.d] if want else ~table[self.d]
            p = np.flatnonzero(hit)
            got = self._pos[key] = np.empty(len(p) + 1, np.int64)
            got[:-1] = p
            got[-1] = _BIG
        return got

    def next_of(self, value: int, q: np.ndarray) -> np.ndarray:
        """``_nxt`` of the positions of the byte ``value`` (not 0): the 24 bytes from q read as words (most of
        the searches end there), the others searched among the sorted positions."""
        out = np.full(len(q), -1, np.int64)
        todo = np.arange(len(q))
        pattern = np.uint64(0x0101010101010101 * value)
        for i in range(3):
            at = q[todo] + 8 * i
            t = self.bb.u8(at) ^ pattern
            t = ~(((t & _LO7) + _LO7) | t | _LO7)  # the high bit of each byte equal to value
            hit = t != 0
            low = t[hit] & (~t[hit] + np.uint64(1))
            out[todo[hit]] = at[hit] + (np.frexp(low.astype(np.float64))[1] - 8) // 8
            todo = todo[~hit]
            if not len(todo):
                return out
        table = np.zeros(256, bool)
        table[value] = True
        out[todo] = _nxt(self.where(table, True), q[todo])
        return out

    def views(self, p: np.ndarray, q: np.ndarray, valid: np.ndarray) -> pa.Array:
        """The strings [p, q) (chunk positions), null where not ``valid``."""
        return _views(self.buf, self.base, p, q, valid, self.bb)


def _all_in(bb: _Bytes, p: np.ndarray, q: np.ndarray, table: np.ndarray, most: int, first: int = 16) -> np.ndarray:
    """Are all bytes of [p, q) in ``table``'s class? (False where q - p > ``most``, a multiple of 8.) The first
    ``first`` bytes of every span, then the longer spans whole."""
    ln = q - p
    width = min(first, most)
    mat = bb.bytes(p, width // 8)
    out = (ln <= most) & np.where(np.arange(width)[None, :] < ln[:, None], table[mat], True).all(axis=1)
    long = np.flatnonzero(out & (ln > width))
    if len(long):
        mat = bb.bytes(p[long], most // 8)
        inside = np.arange(most)[None, :] < ln[long][:, None]
        out[long] = np.where(inside, table[mat], True).all(axis=1)
    return out


def _shape_bytes(x: _Text) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """_SHAPE by bytes on printable-ASCII lines: (the rows read with certainty, their spans and values). A row
    not read here goes to the regex (whatever the regex would refuse or read otherwise is not read here)."""
    s, e, bb = x.s, x.e, x.bb
    k = len(s)
    first = bb.byte(s)
    has_svc = (e > s) & _LETTER[first]
    # the service: up to the first space or `|`, word bytes, dot and dash only (a longer one: the regex)
    sp = x.where(_SPACE, True)
    svc_end = np.minimum(np.minimum(x.next_of(32, s), x.next_of(124, s)), e)
    svc_ok = _all_in(bb, s, svc_end, _SVC_CHAR, 24)
    # the spaces after it up to its `|`: counted among the row's spaces, not found among its other bytes
    bar = np.minimum(x.next_of(124, svc_end), e)
    svc_ok &= (np.searchsorted(sp, bar) - np.searchsorted(sp, svc_end)) == bar - svc_end
    svc_ok &= (bar + 2 <= e) & (bb.byte(bar) == 124) & (bb.byte(bar + 1) == 32) & (bar - s <= 78)
    ok = ~has_svc | svc_ok
    p = np.where(has_svc, bar + 2, s)
    # Docker's time (`--timestamps`): strict RFC 3339 up to the next space
    w = bb.u8(p)
    wb = w.view(np.uint8).reshape(-1, 8)
    dg = wb.astype(np.int64) - 48
    isd = (dg >= 0) & (dg <= 9)
    has_dock = (p + 5 <= e) & isd[:, :4].all(axis=1) & (wb[:, 4] == 45)
    q = np.minimum(x.next_of(32, p), e)
    dns = np.zeros(k, np.int64)
    di = np.flatnonzero(has_dock)
    if len(di):
        ns, d_ok = _rfc(bb, p[di], q[di])
        dns[di] = ns
        ok[di] &= d_ok & (q[di] < e[di])
    p2 = np.where(has_dock, q + 1, p)
    # the console's time of day, then ` | LVL `
    w = bb.u8(p2)
    wb = w.view(np.uint8).reshape(-1, 8)
    dg = wb.astype(np.int64) - 48
    isd = (dg >= 0) & (dg <= 9)
    ok &= (p2 + 8 <= e) & isd[:, [0, 1, 3, 4, 6, 7]].all(axis=1) & (wb[:, 2] == 58) & (wb[:, 5] == 58)
    hh, mi, ss = dg[:, 0] * 10 + dg[:, 1], dg[:, 3] * 10 + dg[:, 4], dg[:, 6] * 10 + dg[:, 7]
    ok &= (hh <= 23) & (mi <= 59) & (ss <= 59)
    has_frac = (p2 + 8 < e) & (bb.byte(p2 + 8) == 46)
    fm = bb.bytes(p2 + 9, 2)[:, :10]
    fd = (fm >= 48) & (fm <= 57)
    run = np.where(fd.all(axis=1), 10, np.argmin(fd, axis=1))
    run = np.minimum(run, np.maximum(e - p2 - 9, 0))
    frac, f_ok = _frac_swar(bb, p2 + 9, np.clip(run, 0, 9))
    ok &= ~has_frac | ((run >= 1) & (run <= 9) & f_ok)
    te = np.where(has_frac, p2 + 9 + run, p2 + 8)
    ok &= (te + 7 <= e) & bb.eq(te, b" | ")
    lw = bb.u8(te + 3) & _M[4]
    lvl = np.full(k, -1, np.int64)
    for i, code in enumerate(_LVL_CODES):
        lvl[lw == code] = i
    ok &= lvl >= 0
    tod_ns = (hh * 3600 + mi * 60 + ss) * c.NS + np.where(has_frac, frac, 0)
    return ok, {"svc0": s, "svc1": np.where(has_svc, svc_end, s), "has_dock": has_dock,
                "t": np.where(has_dock, dns, tod_ns), "tod0": p2, "tod1": te, "lvl": lvl, "tail0": te + 7,
                "pre": p2 - s}


def _caller_bytes(x: _Text) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_CALLER by bytes on each tail: (zerolog <= 1.5's `caller >` or `>` found, the caller's end (0: none), where
    the tail behind it starts)."""
    s, e, bb = x.s, x.e, x.bb
    w = np.minimum(_nxt(x.where(_SPACE, True), s), e)
    gt1 = bb.byte(w + 1) == 62
    end2 = (w + 2 == e) | ((w + 2 < e) & (bb.byte(w + 2) == 32))
    with_caller = (w > s) & (w + 1 < e) & gt1 & end2
    bare = ~with_caller & (e > s) & (bb.byte(s) == 62) & ((s + 1 == e) | (bb.byte(s + 1) == 32))
    start = np.where(with_caller, w + 3, np.where(bare, s + 2, s))
    return with_caller | bare, np.where(with_caller, w, 0), np.minimum(start, e)


def _fields_bytes(x: _Text) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_FIELDS by bytes: (read here, where the first `key=` starts, whether there is one). Not read here: a first
    ``=`` whose word is no key (the regex may find a later one)."""
    s, e = x.s, x.e
    f = np.minimum(_nxt(x.where(_EQ, True), s), e)
    has = f < e
    ps = _prv(x.where(_SPACE, True), f)
    ws = np.where(ps >= s, ps + 1, s)
    key_ok = (ws < f) & _KEY_FIRST[x.bb.byte(ws)] & _all_in(x.bb, ws, f, _SVC_CHAR, 32)
    return ~has | key_ok, ws, has


def _f(struct: pa.Array, name: str) -> pa.Array:
    """A field of a struct array, null where the struct is (``StructArray.field`` ignores its nulls)."""
    return pc.struct_field(struct, [name])


def _np(a: pa.Array) -> np.ndarray:
    return pc.fill_null(a, False).to_numpy(zero_copy_only=False)


def _fill(a: pa.Array) -> pa.Array:
    return pc.fill_null(a, "")


def _join(a: pa.Array, b: pa.Array) -> pa.Array:
    """``a + " " + b``, leaving out empty parts."""
    a, b = _fill(a), _fill(b)
    sep = pc.if_else(pc.and_(pc.not_equal(a, ""), pc.not_equal(b, "")), " ", "")
    return pc.binary_join_element_wise(a, sep, b, "")


def _none_if_empty(a: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(_fill(a), ""), pa.scalar(None, pa.string()), a)


def _take_first(rest: pa.Array, keys: tuple[str, ...]) -> tuple[pa.Array, pa.Array]:
    """line._take_first by columns, for fields with no quotes or backslashes and no trailing space: the value
    of the first ``key=`` token of the first key (in ``keys``' order) each row holds, and the row without it
    (the parts before and after it joined by one space)."""
    n = len(rest)
    todo = _np(pc.match_substring_regex(rest, r"(?:^| )(?:" + "|".join(re.escape(k) for k in keys) + r")="))
    if not todo.any():
        return pa.nulls(n, pa.string()), rest
    val_np = np.full(n, None, object)
    for key in keys:
        idx = np.flatnonzero(todo)
        if not len(idx):
            break
        sub = rest.take(pa.array(idx))
        got = pc.extract_regex(sub, r"(?:^| )" + re.escape(key) + r"=(?P<val>[^ ]*)")
        hit = _np(pc.is_valid(got))
        if not hit.any():
            continue
        at = idx[hit]
        hm = pa.array(hit)
        cut = pc.replace_substring_regex(sub.filter(hm), r" *(?:^| )" + re.escape(key) + r"=[^ ]* *", " ",
                                         max_replacements=1)
        val_np[at] = _none_if_empty(_f(got.filter(hm), "val")).to_numpy(zero_copy_only=False)
        mask = np.zeros(n, bool)
        mask[at] = True
        rest = pc.replace_with_mask(rest, pa.array(mask), pc.utf8_trim(cut, " "))
        todo[at] = False
    return pa.array(val_np, pa.string()), rest


_ID_GROUPS = (("execution", c.EXEC_KEYS), ("node", c.NODE_KEYS), ("job", c.JOB_KEYS))


def _take_ids(rest: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """(execution, node, job, the fields left): :func:`_take_first` of the three id groups in turn. By bytes on
    the rows whose tokens are apart by single spaces (cutting a token then leaves the others joined by one
    space); by :func:`_take_first` on the others."""
    k = len(rest)
    rest = rest.cast(pa.string())
    x = _Text(rest)
    s, e, bb = x.s, x.e, x.bb
    sp = x.where(_SPACE, True)
    # regular: no leading or trailing space, no two spaces in a row
    two = sp[:-1][np.flatnonzero(np.diff(sp[:-1]) == 1)]
    regular = x.valid & ((e == s) | ((bb.byte(s) != 32) & (bb.byte(e - 1) != 32)))
    if len(two):
        regular[_rows(s, two)] = False
    eqp = x.where(_EQ, True)[:-1]
    row = _rows(s, eqp)
    before_eq = bb.byte(eqp - 1)  # a key's last byte
    cut0 = np.full((k, 3), _BIG, np.int64)  # the tokens taken out, [cut0, cut1)
    cut1 = np.full((k, 3), _BIG, np.int64)
    out: list[pa.Array] = []
    for g, (_col, keys) in enumerate(_ID_GROUPS):
        v0 = np.zeros(k, np.int64)
        v1 = np.zeros(k, np.int64)
        found = np.zeros(k, bool)
        for key in keys:
            kb = key.encode()
            cand = np.flatnonzero(before_eq == kb[-1])
            ep, er = eqp[cand], row[cand]
            ks = ep - len(kb)
            hit = (ks >= s[er]) & bb.eq(ks, kb) & ((ks == s[er]) | (bb.byte(ks - 1) == 32))
            r, first = np.unique(er[hit], return_index=True)  # the leftmost token of the key in each row
            at = ep[hit][first]
            new = ~found[r]
            r, at = r[new], at[new]
            if not len(r):
                continue
            end = np.minimum(_nxt(sp, at + 1), e[r])
            found[r] = True
            v0[r], v1[r] = at + 1, end
            cut0[r, g], cut1[r, g] = at - len(kb), end
        out.append(x.views(v0, v1, found & (v1 > v0)))
    # the fields left: the parts between the tokens taken out, joined by one space
    order = np.argsort(cut0, axis=1)
    c0 = np.take_along_axis(cut0, order, axis=1)
    c1 = np.take_along_axis(cut1, order, axis=1)
    left = x.views(s, np.maximum(np.minimum(c0[:, 0] - 1, e), s), np.ones(k, bool))
    for j in range(3):
        p = np.minimum(c1[:, j] + 1, e)
        q = np.minimum(c0[:, j + 1] - 1, e) if j < 2 else e
        left = _join(left, x.views(p, np.maximum(q, p), np.ones(k, bool)))
    if not regular.all():
        odd = np.flatnonzero(~regular)
        rr = rest.take(pa.array(odd))
        ex, rr = _take_first(rr, c.EXEC_KEYS)
        no, rr = _take_first(rr, c.NODE_KEYS)
        jo, rr = _take_first(rr, c.JOB_KEYS)
        mask = ~regular
        out = [_put(a, mask, b) for a, b in zip(out, (ex, no, jo), strict=True)]
        left = _put(left, mask, rr)
    return out[0], out[1], out[2], left


_HEX = np.zeros(256, bool)
for _ch in b"0123456789abcdef":
    _HEX[_ch] = True
_BOUND = _SVC_CHAR.copy()  # `[=\"\w.-]`: the bytes that may not come right before an id read by its shape
_BOUND[[ord("="), ord('"')]] = True
_WORD_DASH = _SVC_CHAR.copy()  # `[\w-]`: the bytes that may not come right after it
_WORD_DASH[ord(".")] = False
# an id's long tail after its first 8 hex digits: -hhhh-hhhh-hhhh-hhhhhhhhhhhh
_LONG = np.array([c == "h" for c in "-hhhh-hhhh-hhhh-hhhhhhhhhhhh"])


def _ids_by_shape(x: _Text, idx: np.ndarray, bs: np.ndarray, be: np.ndarray,
                  want: dict[str, np.ndarray] | None = None) -> dict[str, pa.Array]:
    """:func:`_shape_id_spans` as strings."""
    return {col: x.views(p0, p1, found) for col, (p0, p1, found) in _shape_id_spans(x, idx, bs, be, want).items()}


def _shape_id_spans(x: _Text, idx: np.ndarray, bs: np.ndarray, be: np.ndarray,
                    want: dict[str, np.ndarray] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The first match of each of :data:`_SHAPE_IDS` in the bodies [bs, be) of the rows ``idx`` of ``x``, by
    bytes: ``n-``/``j-``/``e-`` after the body's start or a byte outside ``=``, quote, word bytes, dot, dash;
    8 hex digits, the UUID's tail if it is there, then the end or a byte outside word bytes and dash (RE2
    takes the long form first), as chunk positions [p0, p1) and found. ``want``: per column, the rows looked at
    (none found elsewhere; default all)."""
    k = len(idx)
    inv = np.full(len(x.s), -1, np.int64)
    inv[idx] = np.arange(k)
    bb = x.bb
    # the dashes after n, j or e (compared on the whole batch: fewer positions than all the dashes)
    d = x.d
    lead_all = d[:-1]
    nj = (lead_all | np.uint8(4)) == 110  # n (0x6e) or j (0x6a): they differ in bit 2 only
    nj |= lead_all == 101
    nj &= d[1:] == 45
    dash = np.flatnonzero(nj) + 1
    lead = bb.byte(dash - 1)
    # before the rows are looked up: a byte that may come before an id (or a body's start), 8 hex digits after
    start = np.zeros(len(x.d) + 1, bool)
    start[np.clip(bs, 0, len(x.d))] = True
    keep = (~_BOUND[bb.byte(dash - 2)] | start[dash - 1]) & _HEX[bb.bytes(dash + 1, 1)].all(axis=1)
    dash, lead = dash[keep], lead[keep]
    kr = inv[_rows(x.s, dash)]
    keep = kr >= 0
    dash, kr, lead = dash[keep], kr[keep], lead[keep]
    keep = (dash - 1 >= bs[kr]) & (dash + 9 <= be[kr])
    dash, kr, lead = dash[keep], kr[keep], lead[keep]
    at_start = dash - 1 == bs[kr]
    ok0 = at_start | ~_BOUND[bb.byte(dash - 2)]
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for letter, col in ((b"n", "node"), (b"j", "job"), (b"e", "execution")):
        m = ok0 & (lead == letter[0])
        if want is not None:
            m &= want[col][kr]
        p, r = dash[m], kr[m]
        mat = bb.bytes(p + 1, 5)[:, :36]
        short = _HEX[mat[:, :8]].all(axis=1)
        tail = mat[:, 8:36]
        long = short & (p + 37 <= be[r]) & np.where(_LONG, _HEX[tail], tail == 45).all(axis=1)
        end = np.where(long, p + 37, p + 9)
        follow = (end == be[r]) | ~_WORD_DASH[bb.byte(end)]
        hit = short & follow
        p, r, end = p[hit], r[hit], end[hit]
        r, first = _firsts(r)
        p0 = np.zeros(k, np.int64)
        p1 = np.zeros(k, np.int64)
        found = np.zeros(k, bool)
        p0[r], p1[r], found[r] = p[first] - 1, end[first], True
        out[col] = (p0, p1, found)
    return out


def _pair(x: _Text, idx: np.ndarray, bs: np.ndarray, be: np.ndarray, first: bytes, then: bytes) -> np.ndarray:
    """Which bodies [bs, be) of the rows ``idx`` of ``x`` hold the byte ``first`` followed by one of ``then``
    (``then`` empty: ``first`` alone)."""
    k = len(idx)
    table = np.zeros(256, bool)
    table[first[0]] = True
    pos = x.where(table, True)[:-1]
    if then:
        nxt = x.bb.byte(pos + 1)
        pos = pos[np.isin(nxt, np.frombuffer(then, np.uint8))]
    inv = np.full(len(x.s) + 1, -1, np.int64)
    inv[idx] = np.arange(k)
    kr = inv[_rows(x.s, pos)]
    ok = kr >= 0
    pos, kr = pos[ok], kr[ok]
    inside = (pos >= bs[kr]) & (pos + (1 if then else 0) < be[kr])
    kr = kr[inside]
    out = np.zeros(k, bool)
    out[kr] = True
    return out


def _first_match(text: pa.Array, pattern: str, where: np.ndarray | None = None) -> pa.Array:
    """The ``id`` group of the first match of ``pattern`` in each row (null where none, or not ``where``). The rows
    are found by a match first (RE2's DFA), and only those are extracted (submatches cost ~10x more)."""
    out = pa.nulls(len(text), pa.string())
    if where is None:
        idx = np.flatnonzero(_np(pc.match_substring_regex(text, pattern)))
    else:  # the rows ``where`` first, then the match on them
        idx = np.flatnonzero(where)
        if not len(idx):
            return out
        idx = idx[_np(pc.match_substring_regex(text.take(pa.array(idx)), pattern))]
    if not len(idx):
        return out
    got = pc.extract_regex(text.take(pa.array(idx)), pattern)  # a search: a leading `.*?` would be ~15x slower
    mask = np.zeros(len(text), bool)
    mask[idx] = True
    return pc.replace_with_mask(out, pa.array(mask), _f(got, "id").cast(pa.string()))


def _group(text: pa.Array, pattern: str, name: str, where: np.ndarray) -> pa.Array:
    """Group ``name`` of the first match of ``pattern`` in the rows ``where`` (null elsewhere)."""
    return _first_match(text, pattern.replace(f"(?P<{name}>", "(?P<id>"), where)


def _coalesce(*arrays: pa.Array) -> pa.Array:
    return pc.coalesce(*arrays)


def _shape_regex(lines: pa.Array, rows: np.ndarray) -> dict[str, object]:
    """_SHAPE by RE2 on the rows the byte pass leaves (rare shapes): the same values as :func:`_shape_bytes`."""
    k = len(rows)
    m = pc.extract_regex(lines.take(pa.array(rows, pa.int64())), _SHAPE)
    ok = _np(pc.is_valid(m))
    # the compose prefix counts only when its `| ` starts within the line's first 79 characters
    ok &= ~_np(pc.greater(pc.utf8_length(_f(m, "svcp")), 78))
    bad = np.zeros(k, bool)
    svc, dock, tod, lvl, tail = (_f(m, x) for x in ("svc", "dock", "tod", "lvl", "tail"))
    tod0 = pc.fill_null(tod, "00:00:00")  # rows the regex does not match: not read
    parts = [pc.cast(pc.utf8_slice_codeunits(tod0, a, a + 2), pa.int64()) for a in (0, 3, 6)]
    hh, mi, ss = (_np_int(p, 0) for p in parts)
    bad |= (hh > 23) | (mi > 59) | (ss > 59)
    frac = pc.utf8_rpad(pc.utf8_slice_codeunits(tod0, 9, 18), 9, "0")
    t = (hh * 3600 + mi * 60 + ss) * c.NS + _np_int(pc.cast(frac, pa.int64()), 0)
    has_dock = _np(pc.not_equal(_fill(dock), ""))  # an optional group that took nothing is "", not null
    if has_dock.any():
        dk = _fill(dock).cast(pa.string())
        offs = np.frombuffer(dk.buffers()[1], np.int32)[dk.offset: dk.offset + k + 1].astype(np.int64)
        data = dk.buffers()[2]
        raw = np.frombuffer(data, np.uint8)[offs[0]: offs[-1]].copy() if data is not None else np.zeros(0, np.uint8)
        ns, d_ok = _rfc(_Bytes(raw), offs[:-1] - offs[0], offs[1:] - offs[0])
        bad |= has_dock & ~d_ok
        t = np.where(has_dock, ns, t)
    li = pc.index_in(lvl, value_set=pa.array(list(_LVLS)))
    return {"ok": ok & ~bad, "svc": _fill(svc), "has_dock": has_dock, "t": t, "tod": tod,
            "lvl": _np_int(li, 0), "tail": tail, "pre": _np_int(pc.utf8_length(_f(m, "pre")), 0)}



def _read_messages(msg: pa.Array) -> tuple[np.ndarray, pa.Array, pa.Array, np.ndarray, dict[str, pa.Array]]:
    """What the message alone decides, read once per distinct message (a fleet repeats its texts): (left to the
    per-line parser, kind, state, an upstream text matched, the ids map_upstream reads from the text)."""
    enc = pc.dictionary_encode(msg)
    um = enc.dictionary.cast(pa.string())
    mi = enc.indices.to_numpy(zero_copy_only=False)
    u = len(um)
    bad = _np(pc.match_substring_regex(um, _MAP_MSG))
    # upstream (Bacalhau) messages: the first that matches, in map_upstream's order
    kind = np.full(u, "log", object)
    state = np.full(u, None, object)
    matched = np.zeros(u, bool)
    live = _np(pc.match_substring_regex(um, _ANY_UPSTREAM))  # one pass; then a group's texts on the rows it holds
    for g0, group in _UPSTREAM_GROUPS:
        todo = np.flatnonzero(live & ~matched)
        if not len(todo):
            break
        in_group = todo[_np(pc.match_substring_regex(um.take(pa.array(todo)), group))]
        for pattern, regex, kd, st in _UPSTREAM[g0: g0 + _GROUP]:
            if not len(in_group):
                break
            sm = um.take(pa.array(in_group))
            hit = _np(pc.match_substring_regex(sm, pattern) if regex else pc.match_substring(sm, pattern))
            at = in_group[hit]
            in_group = in_group[~hit]
            matched[at] = True
            kind[at] = kd
            s = st or None
            if kd == "state" and s:
                s = up.COMPUTE_STATE_OURS.get(s, s.lower())
            state[at] = s
    bad |= matched & (kind == "state") & _np(pc.match_substring_regex(um, _STATE_CHANGED))
    ids: dict[str, pa.Array] = {}
    if matched.any():
        ids = {col: pa.nulls(u, pa.string()) for col in ("node", "job", "execution")}
        ids["node"] = _group(um, up.HANDSHAKE_SUCCESS_RE, "node", matched & (kind == "node"))
        for rx in _IDS_IN_MSG:
            for name in re.compile(rx).groupindex:
                if name in ids:
                    v = _group(um, rx, name, matched)
                    ids[name] = pc.coalesce(v, ids[name])
        ids = {col: v.take(pa.array(mi)) for col, v in ids.items()}
    take = pa.array(mi)  # the texts' kind and state made strings once per distinct message
    return bad[mi], pa.array(kind, pa.string()).take(take), pa.array(state, pa.string()).take(take), matched[mi], ids


def _put(arr: pa.Array, mask: np.ndarray, values: pa.Array) -> pa.Array:
    """``arr`` with the rows ``mask`` replaced by ``values`` (in order)."""
    if not mask.any():
        return arr
    return pc.replace_with_mask(arr, pa.array(mask), values.cast(arr.type))


_QUOTE = np.zeros(256, bool)  # `"` and `\`: fields the per-line parser unquotes
_QUOTE[[34, 92]] = True
_HINTS = c.SEED_HINT + "|" + c.NAMED_HINT
_HINTS_OTHER = _HINTS + "|" + _OTHER_IDS
# the texts detail's parts start with, after the chunk's bytes (see _build): each behind the space that joins it
_LIT = b" service= caller= app_time="
_SEP, _SERVICE, _CALLER_KEY, _APP_TIME = 0, 0, 9, 17


def _build(x: _Text, parts: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]) -> pa.Array:
    """Per row, the non-empty ``parts`` joined by one space (null where all are empty), by one gather over the
    chunk's bytes: a part is (the offset in :data:`_LIT` of the space before its text, the text's length,
    [p, q) in the chunk, present)."""
    k = len(parts[0][2])
    src = np.concatenate([x.d, np.frombuffer(_LIT, np.uint8)])
    lit0 = len(x.d)
    live = []
    for off, ln, p, q, on in parts:
        on = on & (q > p) if ln == 0 else on
        if on.any():
            live.append((off, ln, p, q, on))
    st = np.zeros((k, 2 * len(live)), np.int64)
    lens = np.zeros((k, 2 * len(live)), np.int64)
    seen = np.zeros(k, bool)
    for j, (off, ln, p, q, on) in enumerate(live):
        sep = on & seen
        st[:, 2 * j] = lit0 + off + ~sep  # the space, or the text behind it
        lens[:, 2 * j] = np.where(on, ln + sep, 0)
        st[:, 2 * j + 1] = p
        lens[:, 2 * j + 1] = np.where(on, q - p, 0)
        seen |= on
    total = lens.sum(axis=1)
    offs = np.zeros(k + 1, np.int64)
    np.cumsum(total, out=offs[1:])
    st, ln = st.ravel(), lens.ravel()
    m = np.flatnonzero(ln)
    st, ln = st[m], ln[m]
    at = np.cumsum(ln) - ln
    # int32 index (a batch's bytes are far below 2 GiB): half the traffic of int64
    data = src[np.repeat((st - at).astype(np.int32), ln) + np.arange(int(offs[-1]), dtype=np.int32)]
    nulls = k - int(seen.sum())
    bits = None if not nulls else pa.array(seen).buffers()[1]
    return pa.Array.from_buffers(pa.string(), k, [bits, pa.py_buffer(offs.astype(np.int32)), pa.py_buffer(data)],
                                 null_count=nulls)


def _common_spans(x: _Text, idx: np.ndarray, sb: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The caller, the message and the fields of the rows ``idx`` (read by the byte pass) as chunk positions:
    (the rows of the common shape, their spans). Not of the common shape: a tail ending in `]` or a space (the
    `[Key:value]` fields, a trailing space), a first `=` whose word is no key, two spaces among the fields."""
    bb = x.bb
    ls, le = x.s[idx], x.e[idx]
    sp = x.where(_SPACE, True)
    # caller and `>` (CONSOLE_RE), as _caller_bytes
    s = sb["tail0"][idx]
    w = np.minimum(x.next_of(32, s), le)
    end2 = (w + 2 == le) | ((w + 2 < le) & (bb.byte(w + 2) == 32))
    with_caller = (w > s) & (w + 1 < le) & (bb.byte(w + 1) == 62) & end2
    bare = ~with_caller & (le > s) & (bb.byte(s) == 62) & ((s + 1 == le) | (bb.byte(s + 1) == 32))
    t0 = np.minimum(np.where(with_caller, w + 3, np.where(bare, s + 2, s)), le)
    last = bb.byte(le - 1)
    ok = (t0 == le) | ((last != 93) & (last != 32))
    # the message ends where the first `key=` field starts, as _fields_bytes
    f = np.minimum(_nxt(x.where(_EQ, True), t0), le)  # (often past 24 bytes: the sorted positions)
    has = f < le
    ps = _prv(sp, f)
    ws = np.where(ps >= t0, ps + 1, t0)
    ok &= ~has | ((ws < f) & _KEY_FIRST[bb.byte(ws)] & _all_in(bb, ws, f, _SVC_CHAR, 32, first=8))
    rs = np.where(has, ws, le)  # the fields: [rs, le)
    two = sp[:-1][np.flatnonzero(np.diff(sp[:-1]) == 1)]  # the first of two spaces in a row
    ok &= np.searchsorted(two, le - 1) == np.searchsorted(two, rs)
    return ok, {"ls": ls, "le": le, "c_end": np.where(with_caller, w, s), "caller": with_caller, "t0": t0,
                "m1": np.where(has, np.maximum(ws - 1, t0), le), "rs": rs}


def _take_id_spans(x: _Text, idx: np.ndarray, rs: np.ndarray, le: np.ndarray
                   ) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]:
    """:func:`_take_ids` on the fields [rs, le) of the rows ``idx`` (tokens apart by single spaces), in chunk
    positions: ([execution, node, job] as [p0, p1) and found, the spans of the fields left)."""
    k = len(idx)
    bb = x.bb
    sp = x.where(_SPACE, True)
    inv = np.full(len(x.s), -1, np.int64)
    inv[idx] = np.arange(k)
    eqp = x.where(_EQ, True)[:-1]
    row = inv[_rows(x.s, eqp)]
    keep = row >= 0
    eqp, row = eqp[keep], row[keep]
    keep = eqp >= rs[row]
    eqp, row = eqp[keep], row[keep]
    before_eq = bb.byte(eqp - 1)
    # each `=`'s word: from the fields' start or the space before it (a key is a whole word: `key=` starts the
    # token, as a space or the fields' start comes right before it)
    klen = eqp - np.maximum(_prv(sp, eqp) + 1, rs[row])
    cut0 = np.full((k, 3), _BIG, np.int64)
    cut1 = np.full((k, 3), _BIG, np.int64)
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for g, (_col, keys) in enumerate(_ID_GROUPS):
        v0 = np.zeros(k, np.int64)
        v1 = np.zeros(k, np.int64)
        found = np.zeros(k, bool)
        for key in keys:
            kb = key.encode()
            cand = np.flatnonzero((klen == len(kb)) & (before_eq == kb[-1]))
            ep, er = eqp[cand], row[cand]
            ks = ep - len(kb)
            hit = bb.eq(ks, kb)
            r, first = _firsts(er[hit])
            at = ep[hit][first]
            new = ~found[r]
            r, at = r[new], at[new]
            if not len(r):
                continue
            end = np.minimum(_nxt(sp, at + 1), le[r])  # (an id is longer than 24 bytes)
            found[r] = True
            v0[r], v1[r] = at + 1, end
            cut0[r, g], cut1[r, g] = at - len(kb), end
        out.append((v0, v1, found & (v1 > v0)))
    order = np.argsort(cut0, axis=1)
    c0 = np.take_along_axis(cut0, order, axis=1)
    c1 = np.take_along_axis(cut1, order, axis=1)
    left = [(rs, np.maximum(np.minimum(c0[:, 0] - 1, le), rs))]
    for j in range(3):
        p = np.minimum(c1[:, j] + 1, le)
        q = np.minimum(c0[:, j + 1] - 1, le) if j < 2 else le
        left.append((p, np.maximum(q, p)))
    return out, left


def _read_common(x: _Text, lines: pa.Array, idx: np.ndarray, sb: dict[str, np.ndarray], sp: dict[str, np.ndarray],
                 log_detail: bool = True) -> tuple[np.ndarray, dict[str, pa.Array], bool, np.ndarray]:
    """The rows ``idx`` of the common shape (:func:`_common_spans`), by positions in the chunk: (left to the
    per-line parser, the columns of all rows, whether a row lacks an id, the rows :data:`_OTHER_IDS` matches
    in the body: computed only when no row lacks an id, else already among the first). ``log_detail`` false:
    ``detail`` is not built (null) for the plain log rows (:func:`read_console`)."""
    k = len(idx)
    ls, le, t0 = sp["ls"], sp["le"], sp["t0"]
    pre = sb["pre"][idx]
    bs = ls + pre
    msg = x.views(t0, sp["m1"], np.ones(k, bool))
    bad, kind, state, matched, ids = _read_messages(msg)
    spans, left = _take_id_spans(x, idx, sp["rs"], le)
    key = dict(zip(("execution", "node", "job"), spans, strict=True))
    # an id by its key, else one map_upstream reads from the text (either: a row has it)
    have = {col: key[col][2] | (_np(pc.is_valid(ids[col])) if matched.any() else False) for col in key}
    need_any = bool((~(have["node"] & have["job"] & have["execution"])).any())
    # the hints on the whole line; _OTHER_IDS on the body, read on the line too where the service cannot match it
    # (a match starting before the body lies within the service: what follows it is spaces and `|`)
    sub = lines if k == len(lines) else lines.take(pa.array(idx))
    svc0, svc1 = sb["svc0"][idx], sb["svc1"][idx]
    unsafe = np.zeros(k, bool)
    if need_any and (svc1 > svc0).any():
        enc = pc.dictionary_encode(x.views(svc0, svc1, svc1 > svc0))
        bad_svc = _np(pc.match_substring_regex(enc.dictionary, _OTHER_IDS))
        if bad_svc.any():
            unsafe = bad_svc[pc.fill_null(enc.indices, 0).to_numpy(zero_copy_only=False)] & (svc1 > svc0)
    other = np.zeros(k, bool)
    if need_any:
        hint = _np(pc.match_substring_regex(sub, _HINTS_OTHER))
        if unsafe.any():
            u = np.flatnonzero(unsafe)
            hint[u] = (_np(pc.match_substring_regex(sub.take(pa.array(u)), _HINTS))
                       | _np(pc.match_substring_regex(x.views(bs[u], le[u], np.ones(len(u), bool)), _OTHER_IDS)))
        bad |= hint
        # ids by their shape where neither gave one: the same chunk positions as the keys' ids, one string each
        shape = _shape_id_spans(x, idx, bs, le, {col: ~v for col, v in have.items()})
        for col, (s0, s1, found) in shape.items():
            p0, p1, v = key[col]
            key[col] = (np.where(v, p0, s0), np.where(v, p1, s1), v | found)
    else:
        bad |= _np(pc.match_substring_regex(sub, _HINTS))
        other = _np(pc.match_substring_regex(x.views(bs, le, np.ones(k, bool)), _OTHER_IDS))
    got = {col: x.views(p0, p1, v) for col, (p0, p1, v) in key.items()}
    if matched.any():
        got = {col: pc.coalesce(v, ids[col]) for col, v in got.items()}
    execution, node, job = got["execution"], got["node"], got["job"]
    # the rows whose body holds `Qm`, `ID` or `-` (and `ID` or `Id`: every _KEYED key does)
    gm = _np(pc.or_(pc.is_null(node), pc.is_null(job)))
    if gm.any():
        gm &= _pair(x, idx, bs, le, b"I", b"dD")
    g = np.flatnonzero(gm)
    body = x.views(bs[g], le[g], np.ones(len(g), bool))
    if len(g):
        then = _np(pc.match_substring_regex(body, "ID|Qm|-"))
        g, body = g[then], body.filter(pa.array(then))
    if len(g):
        hit = np.zeros(k, bool)
        hit[g] = True
        hm = pa.array(hit)
        named = {col: pc.replace_with_mask(pa.nulls(k, pa.string()), hm, _first_match(body, rx))
                 for col, rx in _KEYED.items()}
        node, job, execution = (_coalesce(a, named[col]) for a, col in ((node, "node"), (job, "job"),
                                                                         (execution, "execution")))
    # detail: service, the fields left, caller, app_time (the console's time behind Docker's)
    has_dock = sb["has_dock"][idx]
    yes = np.ones(k, bool)
    if not log_detail:  # the rows whose detail the caller drops: no bytes gathered for them
        yes = ~_np(pc.and_(pc.equal(kind, "log"), pc.not_equal(msg, c.EDGE_CONNECTED_MSG)))
    detail = _build(x, [(_SERVICE, 8, svc0, svc1, (svc1 > svc0) & yes), *((0, 0, p, q, yes) for p, q in left),
                        (_CALLER_KEY, 7, sb["tail0"][idx], sp["c_end"], sp["caller"] & yes),
                        (_APP_TIME, 9, sb["tod0"][idx], sb["tod1"][idx], has_dock & yes)])
    cols = {"kind": kind, "node": node, "job": job, "execution": execution,
            "state": state, "detail": detail,
            "level": _LEVEL_VALUES.take(pa.array(sb["lvl"][idx])), "msg": msg}
    return bad, cols, need_any, other


def _plain(x: _Text, quotes: bool) -> np.ndarray:
    """Rows of printable ASCII (no control bytes; with ``quotes`` false, no ``"`` or ``\\`` either) and no
    `` msg=`` key (slog's text would be tried first): the rows the console readers take."""
    plain = x.valid.copy()
    odd = x.d - np.uint8(32) > 94  # below 32 or above 126 (uint8 wraps)
    if not quotes:
        odd |= x.d == 34
        odd |= x.d == 92
    odd = np.flatnonzero(odd)
    if len(odd):
        plain[_rows(x.s, odd)] = False
    eq = x.where(_EQ, True)[:-1]
    eq = eq[eq >= 4]
    eq = eq[(x.bb.u8(eq - 4) & _M[4]) == _MSG_KEY]
    if len(eq):
        r = _rows(x.s, eq)
        plain[r[eq - 4 >= x.s[r]]] = False
    return plain


def read_console(lines: pa.Array, log_detail: bool = True) -> tuple[np.ndarray, dict[str, pa.Array], np.ndarray,
                                                                    np.ndarray]:
    """Lines → (the rows read here, their columns, their time, whether it is dated).

    The columns (``kind``, ``node``, ``job``, ``execution``, ``state``, ``detail``, ``level``, ``msg``) are
    the per-line parser's for the rows read, except ``date=unknown``, which the caller adds once the date
    context is known; the time is Docker's (dated) or the console's time of day in ns (not dated).

    The common line (the byte pass reads its prefix, no quotes, no `[Key:value]` fields, fields apart by single
    spaces) is read by positions in the chunk (:func:`_read_common`); the others by :func:`_read_general`, where
    RE2 reads the rows of rarer shapes. RE2 reads the message's meaning (upstream texts, ids) once per distinct
    message.

    ``log_detail`` false: ``detail`` may be null on the rows of kind ``log`` whose message is not
    :data:`~repro_lib.capture._common.EDGE_CONNECTED_MSG` (the fast path drops those rows' detail: it is not
    built for the common lines)."""
    n = len(lines)
    if not n:
        return np.zeros(0, bool), {}, np.zeros(0, np.int64), np.zeros(0, bool)
    lines = lines.cast(pa.string())
    x = _Text(lines)
    plain = _plain(x, quotes=False)  # the general reader's `plain`, and no quotes
    fast, sb = _shape_bytes(x)
    cand = np.flatnonzero(plain & fast)
    ok, sp = _common_spans(x, cand, sb)
    idx = cand[ok]
    sp = {key: v[ok] for key, v in sp.items()}
    common = np.zeros(n, bool)
    common[idx] = True
    rest = np.flatnonzero(~common)
    if len(idx):
        bad, cols, need_any, other = _read_common(x, lines, idx, sb, sp, log_detail)
    else:
        bad, cols, need_any, other = np.zeros(0, bool), {}, False, np.zeros(0, bool)
    g_out, g_cols, g_t, g_dock = np.zeros(0, bool), {}, np.zeros(0, np.int64), np.zeros(0, bool)
    if len(rest):
        g_out, g_cols, g_t, g_dock, g_need = _read_general(lines.take(pa.array(rest)), other=need_any)
        if g_need and not need_any:
            bad |= other
    good = ~bad
    rc, rg = idx[good], rest[g_out]
    out = np.zeros(n, bool)
    out[rc] = True
    out[rg] = True
    t, dock = sb["t"][rc], sb["has_dock"][rc]
    if len(idx) and not good.all():  # (all read: the columns as they are)
        gm = pa.array(good)
        cols = {key: pc.filter(v, gm) for key, v in cols.items()}
    if not len(rg):
        return out, cols, t, dock
    if not len(rc):
        return out, g_cols, g_t, g_dock
    order = np.argsort(np.concatenate([rc, rg]), kind="stable")
    ta = pa.array(order)
    cols = {key: pa.concat_arrays([v.cast(pa.string()), g_cols[key].cast(pa.string())]).take(ta)
            for key, v in cols.items()}
    return out, cols, np.concatenate([t, g_t])[order], np.concatenate([dock, g_dock])[order]


def _read_general(lines: pa.Array, other: bool = False
                  ) -> tuple[np.ndarray, dict[str, pa.Array], np.ndarray, np.ndarray, bool]:
    """:func:`read_console` on any lines (the rows of rarer shapes: the regex's, `[Key:value]` fields, quotes, …),
    and whether a row read lacks an id. ``other``: leave the rows :data:`_OTHER_IDS` matches to the per-line
    parser even if no row lacks an id (the common rows of the batch do)."""
    n = len(lines)
    empty = np.zeros(0, np.int64)
    if not n:
        return np.zeros(0, bool), {}, empty, np.zeros(0, bool), False
    lines = lines.cast(pa.string())
    x = _Text(lines)
    plain = _plain(x, quotes=True)
    fast, sb = _shape_bytes(x)
    fast &= plain
    slow_rows = np.flatnonzero(plain & ~fast)
    ok = fast.copy()
    rx: dict[str, object] = {}
    if len(slow_rows):
        rx = _shape_regex(lines, slow_rows)
        ok[slow_rows] = rx["ok"]
    idx = np.flatnonzero(ok)
    if not len(idx):
        return np.zeros(n, bool), {}, empty, np.zeros(0, bool), False
    k = len(idx)
    bad = np.zeros(k, bool)
    by_rx = ~fast[idx]  # rows of idx read by the regex
    rx_take = np.flatnonzero(ok[slow_rows]) if len(slow_rows) else np.zeros(0, np.int64)

    def pick(key: str) -> np.ndarray:
        out = np.asarray(sb[key])[idx]
        if by_rx.any():
            out = out.copy()
            out[by_rx] = np.asarray(rx[key])[rx_take]
        return out

    def pick_str(p0: str, p1: str, key: str) -> pa.Array:
        arr = x.views(np.asarray(sb[p0])[idx], np.asarray(sb[p1])[idx], ~by_rx)
        return _put(arr, by_rx, rx[key].take(pa.array(rx_take, pa.int64()))) if by_rx.any() else arr

    ls, le = x.s[idx], x.e[idx]
    sub = x.views(ls, le, np.ones(k, bool))
    svc = pick_str("svc0", "svc1", "svc")
    tod = pick_str("tod0", "tod1", "tod")
    tail_all = _put(x.views(np.asarray(sb["tail0"])[idx], le, ~by_rx), by_rx,
                    _fill(rx["tail"]).take(pa.array(rx_take, pa.int64()))) if by_rx.any() \
        else x.views(np.asarray(sb["tail0"])[idx], le, np.ones(k, bool))
    has_dock, t, lvl_i, pre = pick("has_dock"), pick("t"), pick("lvl"), pick("pre")
    # caller and `>` (CONSOLE_RE), else the 1.6 shape
    tx = _Text(tail_all)
    _old, c_end, t0 = _caller_bytes(tx)
    caller = tx.views(tx.s, c_end, c_end > tx.s)
    tail = tx.views(t0, tx.e, np.ones(k, bool))
    # trailing [Key:value] fields (looked for only in the rows that end with `]`)
    bracket_fields = pa.nulls(k, pa.string())
    tx = _Text(tail)
    tl = tx.e - tx.s
    has_b = (tl >= 1) & (tx.bb.byte(tx.e - 1) == 93)  # `\]\s*$`: the rows ending in spaces by the regex
    end_sp = np.flatnonzero((tl >= 1) & (tx.bb.byte(tx.e - 1) == 32))
    if len(end_sp):
        has_b[end_sp] = _np(pc.match_substring_regex(tail.take(pa.array(end_sp)), r"\]\s*$"))
    if has_b.any():
        bi = np.flatnonzero(has_b)
        bm = pc.extract_regex(tail.take(pa.array(bi)), _BRACKETS)
        found = _np(pc.is_valid(bm))
        has_b[bi[~found]] = False
        bi, bm = bi[found], bm.filter(pa.array(found))
        block = _f(bm, "b")
        bad[bi] |= ~_np(pc.match_substring_regex(block, _BRACKET_SIMPLE))
        fields = pc.utf8_slice_codeunits(pc.replace_substring_regex(block, r" ?\[([A-Za-z_][\w.\-]*):([^\]]*)\]",
                                                                    r" \1=\2"), 1)
        where = np.zeros(k, bool)
        where[bi] = True
        wm = pa.array(where)
        bracket_fields = pc.replace_with_mask(bracket_fields, wm, fields)
        tail = pc.replace_with_mask(tail, wm, pc.utf8_rtrim(_f(bm, "msg"), " "))
        tx = _Text(tail)
    # the message ends where the first `key=` field starts (CONSOLE_FIELDS_RE)
    f_ok, ws, has_f = _fields_bytes(tx)
    fm = tx.views(ws, tx.e, has_f & f_ok)
    msg = tx.views(tx.s, np.where(has_f, np.maximum(ws - 1, tx.s), tx.e), np.ones(k, bool))
    if not f_ok.all():
        fi = np.flatnonzero(~f_ok)
        ft = tail.take(pa.array(fi))
        rest_r = _f(pc.extract_regex(ft, _FIELDS), "rest").cast(pa.string())
        t_len = _np_int(pc.utf8_length(ft), 0)
        r_len = _np_int(pc.utf8_length(rest_r), -1)
        m_len = np.where(r_len < 0, t_len, np.maximum(t_len - r_len - 1, 0))
        fm = _put(fm, ~f_ok, rest_r)
        msg = _put(msg, ~f_ok, _substr(ft, np.zeros(len(fi), np.int64), m_len))
    rest = _join(fm, bracket_fields)
    msg_bad, kind, state, matched, ids = _read_messages(msg)
    bad |= msg_bad
    bad |= _np(pc.match_substring_regex(sub, c.SEED_HINT))
    bad |= _np(pc.match_substring_regex(sub, c.NAMED_HINT))  # ids named_ids reads in odd places: the per-line parser's
    bad |= _np(pc.match_substring_regex(rest, r"[\"\\]| $"))  # quotes, escapes, a trailing space
    execution, node, job, rest = _take_ids(rest)
    if matched.any():
        node, job, execution = (_coalesce(a, ids[col]) for a, col in ((node, "node"), (job, "job"),
                                                                       (execution, "execution")))
    # the body the id rules read: the line from the console time on
    body = x.views(ls + pre, le, np.ones(k, bool))
    need = pc.or_(pc.or_(pc.is_null(node), pc.is_null(job)), pc.is_null(execution))
    need_any = bool(pc.any(need).as_py())
    if need_any or other:
        bad |= _np(pc.match_substring_regex(body, _OTHER_IDS))
        found = _ids_by_shape(x, idx, ls + pre, le)
        node, job, execution = (_coalesce(a, found[col]) for a, col in ((node, "node"), (job, "job"),
                                                                         (execution, "execution")))
    # the rows whose body holds `Qm`, `ID` or `-` (and `ID` or `Id`: every _KEYED key does)
    bs = ls + pre
    gm = _np(pc.or_(pc.is_null(node), pc.is_null(job)))
    gm &= _pair(x, idx, bs, le, b"I", b"dD") & (_pair(x, idx, bs, le, b"I", b"D") | _pair(x, idx, bs, le, b"Q", b"m")
                                                 | _pair(x, idx, bs, le, b"-", b""))
    if gm.any():
        named = {col: _first_match(body, rx, gm) for col, rx in _KEYED.items()}
        node, job, execution = (_coalesce(a, named[col]) for a, col in ((node, "node"), (job, "job"),
                                                                         (execution, "execution")))
    # detail: service, the fields left, caller, app_time (the console's time behind Docker's)
    front = pc.if_else(pc.not_equal(svc, ""), pc.binary_join_element_wise("service=", _fill(svc), ""), "")
    detail = _join(front, rest)
    detail = _join(detail, pc.if_else(pc.is_valid(caller), pc.binary_join_element_wise("caller=", _fill(caller), ""),
                                      ""))
    detail = _join(detail, pc.if_else(pa.array(has_dock), pc.binary_join_element_wise("app_time=", tod, ""), ""))
    level = _LEVEL_VALUES.take(pa.array(lvl_i))
    cols = {"kind": kind, "node": node, "job": job, "execution": execution,
            "state": state, "detail": _none_if_empty(detail), "level": level, "msg": msg}
    good = ~bad
    gm = pa.array(good)
    out = np.zeros(n, bool)
    out[idx[good]] = True
    return out, {key: pc.filter(v, gm) for key, v in cols.items()}, t[good], has_dock[good], need_any


def _lengths(text: pa.Array) -> np.ndarray:
    offs = np.frombuffer(text.buffers()[1], np.int64)[text.offset: text.offset + len(text) + 1]
    return np.diff(offs)


def _np_int(a: pa.Array, null: int) -> np.ndarray:
    return pc.fill_null(a, null).to_numpy(zero_copy_only=False).astype(np.int64)


def _substr(text: pa.Array, start: np.ndarray, stop: np.ndarray) -> pa.Array:
    """Each string's bytes [start, stop) (ASCII here, so characters): string views into its buffer, no gather."""
    s = text.cast(pa.large_string())
    offs = np.frombuffer(s.buffers()[1], np.int64)[s.offset: s.offset + len(s) + 1]
    buf = s.buffers()[2] if s.buffers()[2] is not None else pa.py_buffer(b"")
    p = offs[:-1] + start
    q = np.maximum(np.minimum(offs[:-1] + stop, offs[1:]), p)
    return _views(buf, 0, p, q, np.asarray(s.is_valid().to_numpy(zero_copy_only=False), bool),
                  _Bytes(np.frombuffer(buf, np.uint8)))


def _slice_from(text: pa.Array, start: np.ndarray) -> pa.Array:
    """Each string from its own ``start`` on."""
    return _substr(text, start, np.full(len(text), np.iinfo(np.int64).max // 4))
