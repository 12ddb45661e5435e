"""The reference per-line parser: one log line of any supported format → one row tuple.

:mod:`.logs` uses it for short inputs and :mod:`._fast` for the unusual lines of long ones, so
both paths agree line for line; it never raises (an unparseable line becomes ``raw``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from datetime import date as _date
from typing import Any

from repro_lib.capture import _common as c
from repro_lib.capture.ids import named_ids
from repro_lib.capture.legacy import NATS_SERVER
from repro_lib.capture.legacy import _rewrite as rewrite

__all__ = ["parse_one", "day_ns"]

_DAY = 86400 * c.NS


class _Num(str):
    """A JSON number kept as its text."""


class _Pairs(list):
    """A JSON object kept as ordered (key, value) pairs."""


def _pairs_to_obj(v: object) -> object:
    if isinstance(v, _Pairs):
        return {k: _pairs_to_obj(x) for k, x in v}
    if isinstance(v, list):
        return [_pairs_to_obj(x) for x in v]
    if isinstance(v, _Num):
        return json.loads(v) if v.lstrip("-").replace(".", "", 1).isdigit() else str(v)
    return v


def _render_json(v: object) -> str:
    if isinstance(v, _Num):
        return str(v)
    if isinstance(v, _Pairs | list):
        v = json.dumps(_pairs_to_obj(v), ensure_ascii=False, separators=(",", ":"))
    return c.render(v)


def day_ns(d: _date | datetime | None) -> int | None:
    if d is None:
        return None
    if isinstance(d, datetime):
        d = (d.astimezone(UTC) if d.tzinfo else d).date()
    return (d.toordinal() - c._EPOCH_ORD) * _DAY


def _cut(rest: str, key: str) -> tuple[str | None, str, bool]:
    """Remove the first ``key=value`` token from ``rest``: (value or None, new rest, found)."""
    for m in c.TOKEN_RE.finditer(rest):
        if m.group(1) == key:
            val = c.unquote(m.group(2))
            pre = rest[: m.start()].rstrip(" ")
            post = rest[m.end():].lstrip(" ")
            return (val or None), pre + (" " if pre and post else "") + post, True
    return None, rest, False


def _peek(rest: str, key: str) -> str | None:
    for m in c.TOKEN_RE.finditer(rest):
        if m.group(1) == key:
            return c.unquote(m.group(2))
    return None


def _take_first(rest: str, keys: Sequence[str]) -> tuple[str | None, str]:
    """Cut the first ``key=value`` token of the first of ``keys`` (in their order) that ``rest`` holds: one
    pass over the tokens, however many keys."""
    if "=" not in rest:
        return None, rest
    best: re.Match[str] | None = None
    rank = len(keys)
    for m in c.TOKEN_RE.finditer(rest):
        k = m.group(1)
        if k is not None and k in keys:
            r = keys.index(k)
            if r < rank:
                best, rank = m, r
                if r == 0:
                    break
    if best is None:
        return None, rest
    val = c.unquote(best.group(2))
    pre = rest[: best.start()].rstrip(" ")
    post = rest[best.end():].lstrip(" ")
    return (val or None), pre + (" " if pre and post else "") + post


_JSON_TIME_KEYS = ("time", "ts", "timestamp", "@timestamp")


def _parse_json(body: str) -> tuple[Any, ...] | None:
    """slog/zerolog JSON → (t_ns, level, msg, rest, front, app_time) or None."""
    try:
        obj = json.loads(
            body,
            parse_int=_Num,
            parse_float=_Num,
            parse_constant=_Num,
            object_pairs_hook=_Pairs,
        )
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, _Pairs):
        return None
    special: dict[str, object] = {}
    fields: list[str] = []
    for k, v in obj:
        if k in _JSON_TIME_KEYS and "time" not in special:
            special["time"] = v  # zerolog/slog `time`, zap's Unix-seconds `ts`, nats/logrus-style `timestamp`
        elif k in ("level", "msg") and k not in special:
            special[k] = v
        elif k == "message" and "message" not in special and "msg" not in special:
            special["message"] = v
        else:
            fields.append(f"{k}={_render_json(v)}")
    t_ns = None
    app_time = None
    if "time" in special:
        tv = special["time"]
        if isinstance(tv, _Num):
            t_ns = c.parse_unix(tv)
        elif isinstance(tv, str):
            t_ns = c.parse_rfc3339(tv)
        if t_ns is None:
            fields.insert(0, f"time={_render_json(tv)}")
        else:
            app_time = _render_json(tv)
    lv = special.get("level")
    level = None if lv is None else (lv.upper() if isinstance(lv, str) else _render_json(lv))
    mv = special.get("msg", special.get("message"))
    msg = None if mv is None else (mv if isinstance(mv, str) else _render_json(mv))
    return t_ns, level, msg, " ".join(fields), "", app_time


def _parse_text(body: str) -> tuple[Any, ...] | None:
    """slog TextHandler → (t_ns, level, msg, rest, front, app_time) or None."""
    m = c.TEXT_HEAD_RE.fullmatch(body)
    if m is not None:
        traw, level, mraw, rest = m.groups()
        t_ns = c.parse_rfc3339(traw)
        front = "" if t_ns is not None else f"time={traw}"
        return t_ns, level.upper(), c.unquote(mraw), rest or "", front, traw
    # any other complete logfmt line with level= and msg= (e.g. with AddSource)
    pos = 0
    toks: list[tuple[str, str, str]] = []
    for tm in c.STRICT_KV_RE.finditer(body):
        if tm.start() != pos:
            return None
        toks.append((tm.group(1), tm.group(2), tm.group(0)))
        pos = tm.end() + 1
    if not toks or pos - 1 != len(body):
        return None
    keys = [k for k, _v, _r in toks]
    if "level" not in keys or "msg" not in keys:
        return None
    t_ns = None
    app_time = None
    level = msg = None
    rest: list[str] = []
    seen: set[str] = set()
    for k, v, raw in toks:
        if k == "time" and k not in seen and (tn := c.parse_rfc3339(v)) is not None:
            t_ns, app_time = tn, v
        elif k == "level" and k not in seen:
            level = c.unquote(v).upper()
        elif k == "msg" and k not in seen:
            msg = c.unquote(v)
        else:
            rest.append(raw)
        seen.add(k)
    return t_ns, level, msg, " ".join(rest), "", app_time


def parse_one(line: str, date_ns: int | None) -> tuple[tuple[Any, ...], bool]:
    """One line → (row tuple without source, dated). Never raises."""
    try:
        return _parse_one_inner(line, date_ns)
    except Exception:  # noqa: BLE001 - a parser of arbitrary text must not raise
        return (None, "raw", None, None, None, None, None, line, None, None), False


_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# docker compose logs: `service  | …`
_COMPOSE_RE = re.compile(r"([A-Za-z][\w.-]*)\s*\| (.*)", re.DOTALL)
# journalctl: `Sep 30 16:10:44 host unit[pid]: …`
_JOURNAL_RE = re.compile(r"([A-Z][a-z]{2}) ([ \d]\d) (\d\d:\d\d:\d\d) (\S+) ([^\s\[:]+)(?:\[\d+\])?: (.*)",
                         re.DOTALL)
_DAY_NS = 86400 * c.NS
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                       "Dec"), 1)}
# a bitnami container's own lines: `nats 21:53:39.29 INFO  ==> ** Starting NATS setup **`
_BITNAMI_RE = re.compile(r"([a-z][\w.-]*) (\d\d:\d\d:\d\d(?:\.\d{1,9})?) "
                         r"(TRACE|DEBUG|INFO|WARN|ERROR|FATAL) +==> ?(.*)", re.DOTALL)
# a log collector's `2021-03-10 15:08:19 | …` (no zone written: read like the tab-separated one)
_COLLECTOR_PIPE_RE = re.compile(r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,9})?) \| (.*)", re.DOTALL)
# a log collector's `2024-08-29 18:13:39 PDT<TAB>…`
_COLLECTOR_RE = re.compile(
    r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,9})?)(?: ?([A-Z]{2,5}|Z|[+-]\d\d:?\d\d))?\t(.*)", re.DOTALL)
_UTC_ZONES = (None, "Z", "UTC", "GMT", "+00:00", "+0000", "-00:00")
# zerolog console >= 1.6 at info level: `12:09:07 | INF msg k=v` (no caller, no `>`)
_CONSOLE16_RE = re.compile(r"(\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?) \| ([A-Z?]{3}) (.*)", re.DOTALL | re.ASCII)
# zerolog console <= 1.5 context fields at the end: `… [NodeID:n-a4e0671b] [JobID:]`
_BRACKETS_RE = re.compile(r"((?: ?\[[A-Za-z_][\w.\-]*:[^\]]*\])+)\s*$")
_BRACKET_RE = re.compile(r"\[([A-Za-z_][\w.\-]*):([^\]]*)\]")


# zerolog's ConsoleWriter with its default parts (and Go's default slog handler): `[time ]LVL [caller > ]msg k=v`,
# no `|`; the time RFC 3339, `2006/01/02 15:04:05`, a time of day or zerolog's default `3:04PM`
_LEVEL_LINE_RE = re.compile(
    r"(?:(?P<time>\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
    r"|\d{1,2}:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:[AP]M)?) )?"
    r"(?P<level>TRC|DBG|INF|WRN|ERR|FTL|PNC|TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|PANIC) (?P<tail>.*)",
    re.DOTALL | re.ASCII)
_KITCHEN_RE = re.compile(r"(\d{1,2}):(\d\d)([AP]M)")
_LEVEL_WORDS = {**c.CONSOLE_LEVELS, "WARNING": "WARN"}


def _level_line(body: str, prefixed: bool) -> tuple[Any, ...] | None:
    """A `[time ]LVL msg k=v` body → (t_ns, level, msg, rest, front, app_time, caller, tod) or None. Without a
    time of its own it is read only behind a prefix that dates it (``prefixed``): a bare "ERROR …" stays text."""
    m = _LEVEL_LINE_RE.fullmatch(body)
    if m is None or (m.group("time") is None and not prefixed):
        return None
    traw, lv, tail = m.group("time"), m.group("level"), m.group("tail")
    t_ns = tod = None
    if traw is not None:
        if len(traw) > 11:
            t_ns = c.parse_rfc3339(traw.replace("/", "-", 2).replace(",", ".", 1))
        elif (km := _KITCHEN_RE.fullmatch(traw)) is not None:
            h, mi = int(km.group(1)), int(km.group(2))
            if 1 <= h <= 12 and mi <= 59:
                tod = ((h % 12 + (12 if km.group(3) == "PM" else 0)) * 3600 + mi * 60) * c.NS
        else:
            tod = c.parse_tod(traw if traw.count(":") == 2 else traw + ":00")
            if tod is None and len(traw.split(":")[0]) == 1:
                tod = c.parse_tod("0" + traw if traw.count(":") == 2 else "0" + traw + ":00")
        if t_ns is None and tod is None:
            return None
    caller = None
    cm = re.match(r"(?:([^ >]+) )?>(?: |$)", tail)
    if cm is not None:
        caller, tail = cm.group(1), tail[cm.end():]
    tail, bracket_fields = _brackets(tail)
    fm = c.CONSOLE_FIELDS_RE.search(tail)
    msg, rest = (tail[: fm.start()], tail[fm.start(1):]) if fm else (tail, "")
    rest = " ".join(x for x in (rest, bracket_fields) if x)
    return t_ns, _LEVEL_WORDS.get(lv, lv), msg, rest, "", traw, caller, tod


_BRACKET_LIST_RE = re.compile(r",\s*(?=[A-Za-z_][\w.-]*:\s)")


def _bracket_pairs(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``[NodeID: Qm…, ShardID: uuid_0]`` (2022) holds several ``Key: value`` pairs: one field each."""
    out = []
    for k, v in found:
        first, *more = _BRACKET_LIST_RE.split(v)
        out.append((k, first.strip()))
        out += [(a.strip(), b.strip()) for a, b in (x.split(":", 1) for x in more)]
    return out


def _brackets(tail: str) -> tuple[str, str]:
    """(message part, ``key=value`` fields) of a console tail that ends in ``[Key:value]`` fields."""
    m = _BRACKETS_RE.search(tail)
    if m is None:
        return tail, ""
    fields = " ".join(f"{k}={c.render(v) if v else ''}" for k, v in _bracket_pairs(_BRACKET_RE.findall(m.group(1))))
    return tail[: m.start()].rstrip(), fields


def journal_day(mon: str, day: str, date_ns: int | None) -> tuple[int, bool] | None:
    """(midnight UTC ns of journald's ``Jan 04``, whether its year was assumed): the year is the ``date``
    given, else this year's (last year's when that would lie more than a day ahead, as syslog readers do)."""
    month = _MONTHS.get(mon)
    if month is None or not day.strip().isdigit():
        return None
    assumed = date_ns is None
    now = datetime.now(UTC)
    year = now.year if assumed else datetime.fromtimestamp(date_ns / c.NS, UTC).year
    try:
        when = datetime(year, month, int(day), tzinfo=UTC)
        if assumed and (when - now).days >= 1:
            when = when.replace(year=year - 1)
    except ValueError:  # Feb 29 of a year that has none
        return None
    return int(when.timestamp()) * c.NS, assumed


def _prefixes(body: str, date_ns: int | None = None) -> tuple[str, int | None, int | None, list[str], int | None]:
    """Strip what collectors put in front of a line: compose service, Docker time, journald (its date kept:
    a dated prefix), a collector's time, a bitnami container's name and time. Returns (body, time ns if a
    dated prefix, time-of-day ns if an undated one, detail fields, the day journald wrote)."""
    prefix_ns = tod_ns = day_ns = None
    front: list[str] = []
    for _ in range(3):
        dm = c.DOCKER_RE.match(body)
        if dm is not None and prefix_ns is None and (ns := c.parse_rfc3339(dm.group(1))) is not None:
            # a second RFC 3339 time (docker's, then the app's own) stays: the body's parser reads it
            prefix_ns, body = ns, body[dm.end():]
            continue
        if body[:1].isalpha() and "| " in body[:80] and not body.startswith(("time=", "level=")):
            m = _COMPOSE_RE.fullmatch(body)
            if m is not None:
                front.append(f"service={m.group(1)}")
                body = m.group(2)
                continue
        if body[:1].isupper() and (m := _JOURNAL_RE.fullmatch(body)) is not None:
            tod_ns = c.parse_tod(m.group(3))
            front += [f"host={m.group(4)}", f"unit={m.group(5)}"]
            body = m.group(6)
            day = journal_day(m.group(1), m.group(2), date_ns)
            if day is not None and tod_ns is not None and prefix_ns is None:
                day_ns = day[0]  # journald wrote the date: it is kept (the line's finer time of day with it)
                if day[1]:
                    front.append("year=assumed")
            continue
        if body[:1].isdigit() and " | " in body[:32] and (m := _COLLECTOR_PIPE_RE.fullmatch(body)) is not None:
            if prefix_ns is None:
                prefix_ns = c.parse_rfc3339(m.group(1).replace(" ", "T"))
            body = m.group(2)
            continue
        if body[:1].islower() and "==>" in body[:48] and (m := _BITNAMI_RE.fullmatch(body)) is not None:
            front.append(f"service={m.group(1)}")
            tod_ns = c.parse_tod(m.group(2))
            body = f"{m.group(3)} {m.group(4)}"
            continue
        if body[:1].isdigit() and "\t" in body[:40] and (m := _COLLECTOR_RE.fullmatch(body)) is not None:
            if m.group(2) in _UTC_ZONES:
                prefix_ns = c.parse_rfc3339(m.group(1).replace(" ", "T"))
            else:
                front.append(f"collector_time={c.render(m.group(1) + ' ' + m.group(2))}")
            body = m.group(3)
            continue
        break
    return body, prefix_ns, tod_ns, front, day_ns


def _parse_one_inner(line: str, date_ns: int | None) -> tuple[tuple[Any, ...], bool]:
    body = _ANSI_RE.sub("", line) if "\x1b" in line else line
    if body.startswith("^C"):  # a terminal's echo of Ctrl-C, pasted along with the log
        body = body[2:]
    body, docker_ns, prefix_tod, pre_front, journal_ns = _prefixes(body, date_ns)
    if docker_ns is not None and body[:1] == "[" and (nats := NATS_SERVER.match(body)) is not None:
        body = rewrite(nats.group(0))  # nats-server's own line behind a collector's prefix
    caller = None
    unknown_date = is_console = False
    parsed: tuple[Any, ...] | None = None
    if body.startswith("{"):
        parsed = _parse_json(body)
    elif body.startswith(("time=", "level=")) or " msg=" in body:
        parsed = _parse_text(body)
    if parsed is None and body[:2].isdigit():
        cm = c.CONSOLE_RE.fullmatch(body)
        if cm is not None and c.parse_tod(cm.group(1)) is not None:
            traw, lv, caller, tail = cm.groups()
        elif (cm := _CONSOLE16_RE.fullmatch(body)) is not None and c.parse_tod(cm.group(1)) is not None:
            (traw, lv, tail), caller = cm.groups(), None
        else:
            cm = None
        if cm is not None:
            tod = c.parse_tod(traw)
            tail, bracket_fields = _brackets(tail or "")
            fm = c.CONSOLE_FIELDS_RE.search(tail)
            msg, rest = (tail[: fm.start()], tail[fm.start(1):]) if fm else (tail, "")
            rest = " ".join(x for x in (rest, bracket_fields) if x)
            if date_ns is None:
                unknown_date = docker_ns is None
                t_ns = tod
            else:
                t_ns = date_ns + tod
            parsed = (t_ns, c.CONSOLE_LEVELS.get(lv, lv), msg, rest, "", traw)
            is_console = True
    if parsed is None and (lvl := _level_line(body, docker_ns is not None or prefix_tod is not None)) is not None:
        t_ns, level_w, msg_w, rest_w, front_w, traw, caller, tod = lvl
        if tod is not None and prefix_tod is not None and traw.endswith("M"):
            tod = prefix_tod  # `3:04PM` has no seconds: the journal's time of day is the finer one
        if tod is not None:  # a time of day: dated like a console line
            unknown_date = date_ns is None and docker_ns is None
            t_ns, is_console = (tod if date_ns is None else date_ns + tod), True
        elif t_ns is None and prefix_tod is not None:  # no time of its own: the journal's
            unknown_date = date_ns is None
            t_ns, is_console, traw = (prefix_tod if date_ns is None else date_ns + prefix_tod), True, None
        parsed = (t_ns, level_w, msg_w, rest_w, front_w, traw)
    if parsed is None and prefix_tod is not None and docker_ns is None:
        # journald around a plain line: the message, at the journal's time of day
        parsed = (prefix_tod if date_ns is None else date_ns + prefix_tod, None, body.strip(), "", "", None)
        is_console, unknown_date = True, date_ns is None
    if parsed is None:
        if docker_ns is not None:  # a dated prefix around a plain line: its ids by their shape and grammar
            ids = {**c.ids_by_grammar(body), **c.ids_by_shape(body)}
            return (docker_ns, "log", ids.get("node"), ids.get("job"), ids.get("execution"), None,
                    " ".join(pre_front) or None, line, None, body), True
        return (None, "raw", None, None, None, None, None, line, None, None), False
    t_ns, level, msg, rest, front, app_time = parsed
    if t_ns is None and prefix_tod is not None and docker_ns is None:  # no time of its own: its prefix's (journald)
        t_ns = prefix_tod if date_ns is None else date_ns + prefix_tod
        is_console, unknown_date = True, date_ns is None
    if journal_ns is not None and is_console and t_ns is not None and docker_ns is None:
        t_ns, is_console, unknown_date = journal_ns + t_ns % _DAY_NS, False, False  # journald's date kept
    dated = t_ns is not None and not is_console
    if docker_ns is not None:
        dated = True
        if t_ns is None or app_time is None:
            app_time = None
        t_ns = docker_ns
    else:
        app_time = None
    kind, state = c.map_msg(msg)
    canon = c.canonical(msg)
    seed = c.match_seed(msg) if kind != "log" and canon is None and msg not in c.LOG_MESSAGES else None
    execution, rest = _take_first(rest, c.EXEC_KEYS)
    node, rest = _take_first(rest, c.NODE_KEYS)
    job, rest = _take_first(rest, c.JOB_KEYS)
    extra: list[str] = []
    if seed is not None and seed[2] and node is None:  # "node n-1 connected": the node named in the message
        node = seed[2]
    if kind == "reconcile" or (seed is not None and kind == "state" and state == "pending"):
        # a job line or the reconciler's: the job's name as `name=` (its id is the job column); on a job line
        # a bare `id=` is the job's id
        if job is None and kind == "state":
            job, rest = _take_first(rest, ("id",))
        name, rest = _take_first(rest, c.JOB_NAME_KEYS)
        if name is not None:
            job = job or name
            rest = f"name={c.render(name)}" + (f" {rest}" if rest else "")
    if kind == "log" and msg:  # an upstream (Bacalhau) message: repro_lib.capture.upstream
        kind, state, ids = c.map_upstream(msg)
        node = node or ids.get("node")
        job = job or ids.get("job")
        execution = execution or ids.get("execution")
        if "desired" in ids:
            extra.append(f"desired={ids['desired']}")
    front = " ".join(x for x in (*pre_front, front) if x)
    if node is None or job is None or execution is None:
        shaped = c.ids_by_shape(body)
        node = node or shaped.get("node")
        job = job or shaped.get("job")
        execution = execution or shaped.get("execution")
    if (node is None or job is None) and ("Qm" in body or "ID" in body or "-" in body):
        named = c.ids_by_grammar(body)
        node = node or named.get("node")
        job = job or named.get("job")
        execution = execution or named.get("execution")
    if node is None or job is None or execution is None:  # an id named by a key or a word, in its kind's grammar
        said = named_ids(body)
        node = node or said.get("node")
        job = job or said.get("job")
        execution = execution or said.get("execution")
    if canon in c.STATE_FIELD_MSGS:
        val, rest, found = _cut(rest, "state")
        if found:
            state = val
    elif kind in ("fault", "action"):
        if node is None:
            node, rest = _take_first(rest, ("target",))
    elif canon == c.PUBLISH_CHECK_MSG:
        ok = _peek(rest, "connection_exists") == "true" == _peek(rest, "connection_alive")
        state = "published" if ok else "refused"
    elif canon == c.CREATED_MSG and _peek(rest, "trigger") is None:
        extra.append("trigger=node-join")
    if caller is not None:
        extra.append(f"caller={caller}")
    if app_time is not None:
        extra.append(f"app_time={app_time}")
    if unknown_date:
        extra.append("date=unknown")
    detail = " ".join(p for p in (front, rest, *extra) if p) or None
    row = (t_ns, kind, node, job, execution, state, detail, line, level, msg)
    return row, dated
