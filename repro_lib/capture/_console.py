"""Zerolog console lines behind ``docker compose``'s prefix, read by columns (Arrow's RE2 kernels).

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
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from repro_lib.capture import _common as c
from repro_lib.capture import upstream as up
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
_ANY_UPSTREAM = "|".join("(?:" + (p if rx else re.escape(p)) + ")" for p, rx, _k, _s in _UPSTREAM)


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


def _first_match(text: pa.Array, pattern: str, where: np.ndarray | None = None) -> pa.Array:
    """The ``id`` group of the first match of ``pattern`` in each row (null where none, or not ``where``). The rows
    are found by a match first (RE2's DFA), and only those are extracted (submatches cost ~10x more)."""
    hit = _np(pc.match_substring_regex(text, pattern))
    if where is not None:
        hit &= where
    out = pa.nulls(len(text), pa.string())
    if not hit.any():
        return out
    idx = np.flatnonzero(hit)
    got = pc.extract_regex(text.take(pa.array(idx)), pattern)  # a search: a leading `.*?` would be ~15x slower
    mask = np.zeros(len(text), bool)
    mask[idx] = True
    return pc.replace_with_mask(out, pa.array(mask), _f(got, "id").cast(pa.string()))


def _group(text: pa.Array, pattern: str, name: str, where: np.ndarray) -> pa.Array:
    """Group ``name`` of the first match of ``pattern`` in the rows ``where`` (null elsewhere)."""
    return _first_match(text, pattern.replace(f"(?P<{name}>", "(?P<id>"), where)


def _coalesce(*arrays: pa.Array) -> pa.Array:
    return pc.coalesce(*arrays)


def read_console(lines: pa.Array) -> tuple[np.ndarray, dict[str, pa.Array], np.ndarray, np.ndarray]:
    """Lines → (the rows read here, their columns, their time, whether it is dated).

    The columns (``kind``, ``node``, ``job``, ``execution``, ``state``, ``detail``, ``level``, ``msg``) are
    the per-line parser's for the rows read, except ``date=unknown``, which the caller adds once the date
    context is known; the time is Docker's (dated) or the console's time of day in ns (not dated)."""
    n = len(lines)
    empty = np.zeros(0, np.int64)
    if not n:
        return np.zeros(0, bool), {}, empty, np.zeros(0, bool)
    # ASCII without control bytes, the shape, no " msg=" (slog text would be tried first)
    plain = _np(pc.match_substring_regex(lines, r"^[ -~]*$"))
    plain &= ~_np(pc.match_substring(lines, " msg="))
    cand = np.flatnonzero(plain)
    if not len(cand):
        return np.zeros(n, bool), {}, empty, np.zeros(0, bool)
    sub = lines.take(pa.array(cand))
    m = pc.extract_regex(sub, _SHAPE)
    ok = _np(pc.is_valid(m))
    # the compose prefix counts only when its `| ` starts within the line's first 79 characters
    ok &= ~_np(pc.greater(pc.utf8_length(_f(m, "svcp")), 78))
    idx = cand[ok]
    if not len(idx):
        return np.zeros(n, bool), {}, empty, np.zeros(0, bool)
    if not ok.all():
        okm = pa.array(ok)
        m = m.filter(okm)
        sub = sub.filter(okm)
    k = len(idx)
    bad = np.zeros(k, bool)
    pre, svc, dock, tod, lvl, tail_all = (_f(m, x) for x in ("pre", "svc", "dock", "tod", "lvl", "tail"))
    # the console's time of day
    parts = [pc.cast(pc.utf8_slice_codeunits(tod, a, a + 2), pa.int64()) for a in (0, 3, 6)]
    hh, mi, ss = (p.to_numpy(zero_copy_only=False) for p in parts)
    bad |= (hh > 23) | (mi > 59) | (ss > 59)
    frac = pc.utf8_rpad(pc.utf8_slice_codeunits(tod, 9, 18), 9, "0")
    tod_ns = (hh * 3600 + mi * 60 + ss) * c.NS + pc.cast(frac, pa.int64()).to_numpy(zero_copy_only=False)
    # Docker's time: the byte pass's own RFC 3339 reader (equal values to parse_rfc3339)
    has_dock = _np(pc.not_equal(dock, ""))  # an optional group that took nothing is "", not null
    t = tod_ns.astype(np.int64)
    if has_dock.any():
        from repro_lib.capture._bytes import _Bytes, _rfc

        dk = pc.fill_null(dock, "").cast(pa.string())
        offs = np.frombuffer(dk.buffers()[1], np.int32)[dk.offset: dk.offset + k + 1].astype(np.int64)
        data = dk.buffers()[2]
        raw = np.frombuffer(data, np.uint8)[offs[0]: offs[-1]].copy() if data is not None else np.zeros(0, np.uint8)
        ns, d_ok = _rfc(_Bytes(raw), offs[:-1] - offs[0], offs[1:] - offs[0])
        bad |= has_dock & ~d_ok
        t = np.where(has_dock, ns, t)
    # caller and `>` (CONSOLE_RE), else the 1.6 shape
    cm = pc.extract_regex(tail_all, _CALLER)
    is_old = _np(pc.is_valid(cm))
    caller = pc.if_else(pa.array(is_old), _f(cm, "caller"), pa.scalar(None, pa.string()))
    caller = pc.if_else(pc.equal(_fill(caller), ""), pa.scalar(None, pa.string()), caller)
    tail = pc.if_else(pa.array(is_old), _fill(_f(cm, "tail")), tail_all)
    # trailing [Key:value] fields (looked for only in the rows that end with `]`)
    bracket_fields = pa.nulls(k, pa.string())
    has_b = _np(pc.match_substring_regex(tail, r"\]\s*$"))
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
    # the message ends where the first `key=` field starts (CONSOLE_FIELDS_RE)
    tail = tail.cast(pa.large_string())
    fm = _f(pc.extract_regex(tail, _FIELDS), "rest").cast(pa.string())
    t_len = _lengths(tail)
    r_len = _np_int(pc.utf8_length(fm), -1)
    m_len = np.where(r_len < 0, t_len, np.maximum(t_len - r_len - 1, 0))
    msg = _substr(tail, np.zeros(k, np.int64), m_len)
    rest = _join(fm, bracket_fields)
    bad |= _np(pc.match_substring_regex(msg, _MAP_MSG))
    bad |= _np(pc.match_substring_regex(sub, c.SEED_HINT))
    bad |= _np(pc.match_substring_regex(rest, r"[\"\\]| $"))  # quotes, escapes, a trailing space
    execution, rest = _take_first(rest, c.EXEC_KEYS)
    node, rest = _take_first(rest, c.NODE_KEYS)
    job, rest = _take_first(rest, c.JOB_KEYS)
    # upstream (Bacalhau) messages: the first that matches, in map_upstream's order
    kind = np.full(k, "log", object)
    state = np.full(k, None, object)
    matched = np.zeros(k, bool)
    live = _np(pc.match_substring_regex(msg, _ANY_UPSTREAM))  # one pass; then each text on the rows it may be
    for pattern, regex, kd, st in _UPSTREAM:
        todo = np.flatnonzero(live & ~matched)
        if not len(todo):
            break
        sm = msg.take(pa.array(todo))
        hit = _np(pc.match_substring_regex(sm, pattern) if regex else pc.match_substring(sm, pattern))
        at = todo[hit]
        matched[at] = True
        kind[at] = kd
        s = st or None
        if kd == "state" and s:
            s = up.COMPUTE_STATE_OURS.get(s, s.lower())
        state[at] = s
    bad |= matched & (kind == "state") & _np(pc.match_substring_regex(msg, _STATE_CHANGED))
    if matched.any():
        ids: dict[str, pa.Array] = {col: pa.nulls(k, pa.string()) for col in ("node", "job", "execution")}
        ids["node"] = _group(msg, up.HANDSHAKE_SUCCESS_RE, "node", matched & (kind == "node"))
        for rx in _IDS_IN_MSG:
            for name in re.compile(rx).groupindex:
                if name in ids:
                    v = _group(msg, rx, name, matched)
                    ids[name] = pc.coalesce(v, ids[name])
        node, job, execution = (_coalesce(a, ids[col]) for a, col in ((node, "node"), (job, "job"),
                                                                       (execution, "execution")))
    # the body the id rules read: the line from the console time on
    body = _slice_from(sub, pc.utf8_length(pre).to_numpy(zero_copy_only=False).astype(np.int64))
    need = pc.or_(pc.or_(pc.is_null(node), pc.is_null(job)), pc.is_null(execution))
    if pc.any(need).as_py():
        bad |= _np(pc.match_substring_regex(body, _OTHER_IDS))
        found = {col: _first_match(body, rx) for col, rx in _SHAPE_IDS.items()}
        node, job, execution = (_coalesce(a, found[col]) for a, col in ((node, "node"), (job, "job"),
                                                                         (execution, "execution")))
    gram = pc.and_(pc.or_(pc.is_null(node), pc.is_null(job)),
                   pc.match_substring_regex(body, r"Qm|ID|-"))
    if pc.any(gram).as_py():
        gm = _np(gram)
        named = {col: _first_match(body, rx, gm) for col, rx in _KEYED.items()}
        node, job, execution = (_coalesce(a, named[col]) for a, col in ((node, "node"), (job, "job"),
                                                                         (execution, "execution")))
    # detail: service, the fields left, caller, app_time (the console's time behind Docker's)
    front = pc.if_else(pc.not_equal(svc, ""), pc.binary_join_element_wise("service=", _fill(svc), ""), "")
    detail = _join(front, rest)
    detail = _join(detail, pc.if_else(pc.is_valid(caller), pc.binary_join_element_wise("caller=", _fill(caller), ""),
                                      ""))
    detail = _join(detail, pc.if_else(pa.array(has_dock), pc.binary_join_element_wise("app_time=", tod, ""), ""))
    level = pc.take(pa.array([c.CONSOLE_LEVELS[x] for x in ("TRC", "DBG", "INF", "WRN", "ERR", "FTL", "PNC")]),
                    pc.index_in(lvl, value_set=pa.array(["TRC", "DBG", "INF", "WRN", "ERR", "FTL", "PNC"])))
    cols = {"kind": pa.array(kind, pa.string()), "node": node, "job": job, "execution": execution,
            "state": pa.array(state, pa.string()), "detail": _none_if_empty(detail), "level": level, "msg": msg}
    good = ~bad
    gm = pa.array(good)
    out = np.zeros(n, bool)
    out[idx[good]] = True
    return out, {key: pc.filter(v, gm) for key, v in cols.items()}, t[good], has_dock[good]


def _lengths(text: pa.Array) -> np.ndarray:
    offs = np.frombuffer(text.buffers()[1], np.int64)[text.offset: text.offset + len(text) + 1]
    return np.diff(offs)


def _np_int(a: pa.Array, null: int) -> np.ndarray:
    return pc.fill_null(a, null).to_numpy(zero_copy_only=False).astype(np.int64)


def _substr(text: pa.Array, start: np.ndarray, stop: np.ndarray) -> pa.Array:
    """Each string's bytes [start, stop) (ASCII here, so characters): string views into its buffer, no gather."""
    from repro_lib.capture._bytes import _Bytes, _views

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
