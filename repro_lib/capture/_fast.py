"""Vectorised log parsing (pyarrow compute) that yields exactly what the per-line parser does.

Lines in the common, canonical shapes (Docker's fixed 9-digit prefix; slog text and JSON with
RFC 3339 times; zerolog console; plain lines) are handled column-wise. Anything unusual —
escapes, quoted values of the id fields, zerolog JSON key order, FAULT/ACTION messages, odd
whitespace — is handed to :func:`repro_lib.capture.logs._parse_one`, the reference parser.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from repro_lib.capture import _common as c
from repro_lib.events import LOG_MESSAGES

__all__: list[str] = []

_NAT = np.iinfo(np.int64).min
_DAY = 86400 * c.NS
_SEP = "\x1f"
_LEVELS = pa.array(["DEBUG", "INFO", "WARN", "ERROR"])
_TIME = (
    r"(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
)
_DOCKER = "^" + _TIME + r"\.\d{9}Z "
_DOCKER_LOOSE = r"^\d{4}-\d\d-\d\dT"
_RFC = "^" + _TIME + r"(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$"
_STR = r'"[^"\\\x00-\x1f]*"'
_KEY = r"[A-Za-z_][\w.\-]*"
_NUM = r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?"
_JSON = (
    r'^\{"time":"' + _TIME + r"(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
    r'","level":"(?:DEBUG|INFO|WARN|ERROR)","msg":' + _STR
    + r'(?:,"' + _KEY + r'":(?:' + _STR + "|" + _NUM + r"|true|false|null))*\}$"
)
_CONSOLE = (
    r"^(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})? \| (?:TRC|DBG|INF|WRN|ERR|FTL|PNC) "
)
_PRE_TOKENS = r'^(?:[^ ="\\]+=(?:"[^"\\]*"|[^ "\\]*) )*$'
_ROW_POS = {"kind": 1, "node": 2, "job": 3, "execution": 4, "state": 5, "detail": 6, "level": 8,
            "msg": 9}
_MSG_KEYS = pa.array(list(LOG_MESSAGES))
_MSG_KIND = pa.array([k for k, _s in LOG_MESSAGES.values()])
_MSG_STATE = pa.array([s or None for _k, s in LOG_MESSAGES.values()])


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


def _ts_ns(a: pa.Array) -> np.ndarray:
    ts = pc.cast(a, pa.timestamp("ns", "UTC"))
    return ts.cast(pa.int64()).to_numpy(zero_copy_only=False)


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


def _text(body: pa.Array) -> tuple[np.ndarray, dict[str, Any]]:
    """slog text rows → (ok mask, columns for the ok rows)."""
    parts = pc.split_pattern(body, " ", max_splits=2)
    ok = pc.equal(pc.list_value_length(parts), 3)
    p0, p1, p2 = (_fill(_el(parts, i)) for i in range(3))
    traw = pc.utf8_slice_codeunits(p0, 5)
    ok = pc.and_(ok, pc.match_substring_regex(traw, _RFC))
    ok = pc.and_(ok, pc.starts_with(p1, "level="))
    level = pc.utf8_slice_codeunits(p1, 6)
    ok = pc.and_(ok, pc.is_in(level, _LEVELS))
    ok = pc.and_(ok, pc.starts_with(p2, "msg="))
    quoted = pc.starts_with(p2, 'msg="')
    q = pc.split_pattern(pc.utf8_slice_codeunits(p2, 5), '"', max_splits=1)
    qm, qafter = _el(q, 0), _el(q, 1)
    q_ok = pc.and_(pc.invert(pc.is_null(qafter)), pc.invert(pc.match_substring(_fill(qm), "\\")))
    q_ok = pc.and_(q_ok, pc.or_(pc.equal(_fill(qafter), ""), pc.starts_with(_fill(qafter), " ")))
    b = pc.split_pattern(pc.utf8_slice_codeunits(p2, 4), " ", max_splits=1)
    bm, brest = _fill(_el(b, 0)), _fill(_el(b, 1))
    b_ok = pc.invert(pc.match_substring(bm, '"'))
    ok = pc.and_(ok, pc.if_else(quoted, q_ok, b_ok))
    ok = _fill_bool(ok)
    msg = pc.if_else(quoted, _fill(qm), bm)
    rest = pc.if_else(quoted, pc.utf8_slice_codeunits(_fill(qafter), 1), brest)
    okn = ok.to_numpy(zero_copy_only=False)
    cols = {
        "t": _ts_ns(pc.filter(traw, ok)),
        "level": pc.filter(level, ok),
        "msg": pc.filter(msg, ok),
        "rest": pc.filter(rest, ok),
        "app_time": pc.filter(traw, ok),
        "caller": None,
        "console": False,
    }
    return okn, cols


def _fill_bool(a: pa.Array) -> pa.Array:
    return pc.fill_null(a, False)


def _json(body: pa.Array) -> tuple[np.ndarray, dict[str, Any]]:
    ok = _fill_bool(pc.match_substring_regex(body, _JSON))
    sub = pc.filter(body, ok)
    s = pc.split_pattern(pc.utf8_slice_codeunits(sub, 9), '","level":"', max_splits=1)
    traw, r1 = _el(s, 0), _el(s, 1)
    s = pc.split_pattern(r1, '","msg":"', max_splits=1)
    level, r2 = _el(s, 0), _el(s, 1)
    s = pc.split_pattern(r2, '"', max_splits=1)
    msg, r3 = _el(s, 0), _el(s, 1)
    rr = pc.utf8_slice_codeunits(r3, 0, -1)
    rr = pc.replace_substring_regex(rr, r',"(' + _KEY + r')":"([^" =]+)"', r" \1=\2")
    rr = pc.replace_substring_regex(rr, r',"(' + _KEY + r')":("[^"]*")', r" \1=\2")
    rr = pc.replace_substring_regex(
        rr, r',"(' + _KEY + r')":(' + _NUM + r"|true|false|null)", r" \1=\2"
    )
    rest = pc.utf8_slice_codeunits(rr, 1)
    cols = {
        "t": _ts_ns(traw),
        "level": level,
        "msg": msg,
        "rest": rest,
        "app_time": traw,
        "caller": None,
        "console": False,
    }
    return ok.to_numpy(zero_copy_only=False), cols


def _console(body: pa.Array) -> tuple[np.ndarray, dict[str, Any]]:
    s = pc.split_pattern(body, " | ", max_splits=1)
    tod, r1 = _el(s, 0), _fill(_el(s, 1))
    lv = pc.utf8_slice_codeunits(r1, 0, 3)
    r2 = pc.utf8_slice_codeunits(r1, 4)
    s = pc.split_pattern(r2, " ", max_splits=1)
    w, r3 = _fill(_el(s, 0)), _fill(_el(s, 1))
    with_caller = pc.or_(pc.equal(r3, ">"), pc.starts_with(r3, "> "))
    no_caller = pc.or_(pc.equal(r2, ">"), pc.starts_with(r2, "> "))
    ok = pc.or_(with_caller, no_caller)
    arrow = pc.if_else(with_caller, r3, r2)
    tail = pc.utf8_slice_codeunits(arrow, 2)
    ok = pc.and_(ok, pc.invert(pc.match_substring(tail, _SEP)))
    ok = _fill_bool(ok)
    caller = pc.if_else(with_caller, w, pa.scalar(None, pa.string()))
    t2 = pc.replace_substring_regex(
        tail, r"^(.*?)(?:^| )([A-Za-z_][\w.\-]*=)", "\\1" + _SEP + "\\2", max_replacements=1
    )
    s = pc.split_pattern(t2, _SEP, max_splits=1)
    msg, rest = _el(s, 0), _fill(_el(s, 1))
    names = dict(c.CONSOLE_LEVELS)
    level = pc.take(
        pa.array(list(names.values())), pc.index_in(lv, value_set=pa.array(list(names)))
    )
    okf = ok
    tod_f = pc.filter(tod, okf)
    t = _ts_ns(pc.binary_join_element_wise("1970-01-01T", tod_f, "Z", ""))
    cols = {
        "t": t,
        "level": pc.filter(level, okf),
        "msg": pc.filter(msg, okf),
        "rest": pc.filter(rest, okf),
        "app_time": tod_f,
        "caller": pc.filter(caller, okf),
        "console": True,
    }
    return ok.to_numpy(zero_copy_only=False), cols


def _split_lines(data: bytes) -> pa.Array | None:
    """File bytes → string array of lines (no newlines), or None if not UTF-8."""
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
    arr = pa.Array.from_buffers(
        typ, n, [None, pa.py_buffer(offsets), pa.py_buffer(packed)]
    )
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        return None
    return arr


def columns_from_bytes(data: bytes, date_ns: int | None) -> dict[str, Any] | None:
    """File bytes → parser columns, or None to fall back to the per-line path."""
    arr = _split_lines(data)
    if arr is None:
        text = data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return columns_from_lines(lines, date_ns)
    return _columns(arr, date_ns, check_breaks=b"\r" in data)


def columns_from_lines(lines: list[str], date_ns: int | None) -> dict[str, Any] | None:
    try:
        arr = pa.array(lines, pa.string())
    except (pa.ArrowException, UnicodeEncodeError):
        return None
    return _columns(arr, date_ns)


def _columns(arr: pa.Array, date_ns: int | None, *, check_breaks: bool = True) -> dict[str, Any]:
    from repro_lib.capture.logs import _parse_one

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type == pa.large_string() and arr.nbytes < 2**31 - 1:
        arr = arr.cast(pa.string())
    n = len(arr)
    slow = np.zeros(n, dtype=bool)
    if check_breaks:
        odd = _fill_bool(pc.match_substring_regex(arr, r"[\r\n]"))
        slow |= odd.to_numpy(zero_copy_only=False)
    dock = _fill_bool(pc.match_substring_regex(arr, _DOCKER)).to_numpy(zero_copy_only=False)
    loose = _fill_bool(pc.match_substring_regex(arr, _DOCKER_LOOSE)).to_numpy(
        zero_copy_only=False
    )
    slow |= loose & ~dock
    dock &= ~slow
    t = np.full(n, _NAT, dtype=np.int64)
    dated = np.zeros(n, dtype=bool)
    idx_d = np.flatnonzero(dock)
    if len(idx_d):
        dsub = arr.take(pa.array(idx_d))
        try:
            t[idx_d] = _ts_ns(pc.utf8_slice_codeunits(dsub, 0, 30))
            dated[idx_d] = True
        except pa.ArrowInvalid:
            slow[idx_d] = True
            dock[idx_d] = False
            idx_d = idx_d[:0]
    idx_nd = np.flatnonzero(~dock & ~slow)
    if len(idx_d) == 0:
        body, order = arr.take(pa.array(idx_nd)) if len(idx_nd) < n else arr, idx_nd
    else:
        bd = pc.utf8_slice_codeunits(arr.take(pa.array(idx_d)), 31)
        bn = arr.take(pa.array(idx_nd))
        body = pa.concat_arrays([bd, bn.cast(bd.type)])
        order = np.concatenate([idx_d, idx_nd])
    groups: list[tuple[np.ndarray, dict[str, Any]]] = []
    is_text = pc.starts_with(body, "time=").to_numpy(zero_copy_only=False)
    is_json = pc.starts_with(body, '{"time":"').to_numpy(zero_copy_only=False)
    is_cons = _fill_bool(pc.match_substring_regex(body, _CONSOLE)).to_numpy(zero_copy_only=False)
    structured = is_text | is_json | is_cons
    maybe = (
        pc.starts_with(body, "{").to_numpy(zero_copy_only=False)
        | pc.starts_with(body, "level=").to_numpy(zero_copy_only=False)
        | pc.match_substring(body, " msg=").to_numpy(zero_copy_only=False)
        | _fill_bool(pc.match_substring_regex(body, r"^[0-9][0-9]")).to_numpy(
            zero_copy_only=False
        )
    )
    for mask, fn in ((is_text, _text), (is_json, _json), (is_cons & ~is_text, _console)):
        pos = np.flatnonzero(mask)
        if not len(pos):
            continue
        ok, cols = fn(body.take(pa.array(pos)))
        slow[order[pos[~ok]]] = True
        groups.append((order[pos[ok]], cols))
    # plain lines: `log` behind a Docker prefix, else `raw`
    plain = ~structured & ~maybe
    ppos = np.flatnonzero(plain)
    slow[order[~structured & maybe]] = True
    # structured rows: message mapping, id fields, detail
    s_idx_parts, s_cols = [], []
    for idx, cols in groups:
        s_idx_parts.append(idx)
        s_cols.append(cols)
    if s_idx_parts:
        s_idx = np.concatenate(s_idx_parts)
        sd = dock[s_idx]
        msg = pa.concat_arrays([g["msg"] for g in s_cols])
        rest = pa.concat_arrays([g["rest"] for g in s_cols])
        level = pa.concat_arrays([g["level"] for g in s_cols])
        app_time = pa.concat_arrays([g["app_time"] for g in s_cols])
        caller = pa.concat_arrays(
            [g["caller"] if g["caller"] is not None else pa.nulls(len(g["msg"]), pa.string())
             for g in s_cols]
        )
        is_c = np.concatenate([np.full(len(g["msg"]), g["console"]) for g in s_cols])
        own_t = np.concatenate([g["t"] for g in s_cols])
        sres = _structured(msg, rest, level, app_time, caller, sd)
        sbad = sres.pop("bad")
        slow[s_idx[sbad]] = True
        keep = ~sbad
        s_idx, own_t, is_c, sd = s_idx[keep], own_t[keep], is_c[keep], sd[keep]
        kmask = pa.array(keep)
        sres = {k: pc.filter(v, kmask) for k, v in sres.items()}
        t[s_idx[~sd]] = own_t[~sd]
        dated[s_idx[~sd & ~is_c]] = True
    else:
        s_idx = np.zeros(0, dtype=np.int64)
        is_c = sd = own_t = np.zeros(0, dtype=bool)
        sres = {}
    # slow rows through the reference parser (date context settled below)
    slow_idx = np.flatnonzero(slow)
    slow_lines = arr.take(pa.array(slow_idx)).to_pylist() if len(slow_idx) else []
    slow_rows = [_parse_one(x.rstrip("\r\n"), None) for x in slow_lines]
    for i, (row, dtd) in zip(slow_idx, slow_rows, strict=True):
        if dtd:
            t[i] = row[0]
            dated[i] = True
    # date context: the day of the previous dated line, else the caller's date
    day = np.where(dated, t - t % _DAY, _NAT)
    pos = np.where(dated, np.arange(n), -1)
    np.maximum.accumulate(pos, out=pos) if n else None
    prev = np.empty(n, dtype=np.int64)
    if n:
        prev[0] = -1
        prev[1:] = pos[:-1]
    init = _NAT if date_ns is None else date_ns
    ctx = np.where(prev >= 0, day[np.maximum(prev, 0)], init)
    # console rows without Docker prefix
    cons = is_c & ~sd
    unknown = np.zeros(len(s_idx), dtype=bool)
    if cons.any():
        cctx = ctx[s_idx[cons]]
        known = cctx != _NAT
        tt = own_t[cons].copy()
        tt[known] += cctx[known]
        t[s_idx[cons]] = tt
        unknown[np.flatnonzero(cons)[~known]] = True
    if unknown.any():
        sres["detail"] = pc.replace_with_mask(
            sres["detail"],
            pa.array(unknown),
            pc.filter(_join(sres["detail"], pa.scalar("date=unknown")), pa.array(unknown)),
        )
    if "detail" in sres:
        sres["detail"] = pc.if_else(
            pc.equal(_fill(sres["detail"]), ""), pa.scalar(None, pa.string()), sres["detail"]
        )
    for k, (i, (row, _dtd)) in enumerate(zip(slow_idx, slow_rows, strict=True)):
        if row[6] is not None and row[6].endswith("date=unknown") and ctx[i] != _NAT:
            slow_rows[k] = _parse_one(slow_lines[k].rstrip("\r\n"), int(ctx[i]))
    for i, (row, dtd) in zip(slow_idx, slow_rows, strict=True):
        if not dtd and row[0] is not None:
            t[i] = row[0]
    # assemble
    p_idx = order[ppos]
    p_dock = dock[p_idx]
    pmsg = pc.if_else(
        pa.array(p_dock), body.take(pa.array(ppos)), pa.scalar(None, pa.string())
    )
    names = ("kind", "node", "job", "execution", "state", "detail", "level", "msg")
    perm = np.concatenate([s_idx, p_idx, slow_idx])
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n)
    inv_a = pa.array(inv)
    out: dict[str, Any] = {"t": t}
    nulls_p = pa.nulls(len(p_idx), pa.string())
    for name in names:
        s_part = sres.get(name, pa.nulls(0, pa.string()))
        if name == "kind":
            p_part = pc.if_else(pa.array(p_dock), "log", "raw") if len(p_idx) else nulls_p
        elif name == "msg":
            p_part = pmsg
        else:
            p_part = nulls_p
        slow_part = pa.array([r[0][_ROW_POS[name]] for r in slow_rows], pa.string())
        parts = [x.cast(pa.string()) for x in (s_part, p_part, slow_part)]
        out[name] = pa.concat_arrays(parts).take(inv_a)
    line = arr
    fix = [k for k, x in enumerate(slow_lines) if x != slow_rows[k][0][7]]
    if fix:
        mask = np.zeros(n, dtype=bool)
        mask[slow_idx[fix]] = True
        line = pc.replace_with_mask(
            arr, pa.array(mask), pa.array([slow_rows[k][0][7] for k in fix], arr.type)
        )
    out["line"] = line
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
    is_state = pc.is_in(msg, value_set=pa.array(sorted(c.STATE_FIELD_MSGS)))
    has_state = pc.and_(is_state, pc.match_substring(rest, "state="))
    sval, rest, b = _take(rest, "state", is_state)
    bad |= b
    state = pc.if_else(has_state, sval, state)
    is_pub = pc.equal(msg, c.PUBLISH_CHECK_MSG)
    ce, _r, b1 = _take(rest, "connection_exists", is_pub, cut=False)
    ca, _r, b2 = _take(rest, "connection_alive", is_pub, cut=False)
    bad |= (b1 | b2)
    pub_ok = pc.and_(pc.equal(_fill(ce), "true"), pc.equal(_fill(ca), "true"))
    state = pc.if_else(is_pub, pc.if_else(pub_ok, "published", "refused"), state)
    is_created = pc.equal(msg, c.CREATED_MSG)
    trig, _r, b3 = _take(rest, "trigger", is_created, cut=False)
    bad |= b3
    add_trig = pc.and_(is_created, pc.is_null(trig))
    detail = _join(rest, pc.if_else(add_trig, "trigger=node-join", ""))
    detail = _join(detail, pc.if_else(pc.is_null(caller), "", pc.binary_join_element_wise(
        "caller=", _fill(caller), "")))
    detail = _join(detail, pc.if_else(pa.array(dock), pc.binary_join_element_wise(
        "app_time=", app_time, ""), ""))
    return {
        "kind": kind, "node": node, "job": job, "execution": execution, "state": state,
        "detail": detail, "level": level, "msg": msg, "bad": bad,
    }
