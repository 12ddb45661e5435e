"""Older and mangled line shapes, made readable before the per-line parser sees them:

- nats-server's own lines, ``[pid] 2021/09/29 02:23:05.189377 [INF] …`` (its banner included), and the same
  with no time (``logtime: false``: ``[INF] …``); a connection's ``ip:port - cid:N - `` (``rid``/``gid``/``lid``)
  and a NATS Streaming client's ``[Client:name]`` become fields (``cid=N remote=ip:port``, ``node_id=name``);
- a per-file structural prefix (lnav-style): when most of a file's lines carry the same shape of text before a
  record of a known shape (a quote's ``> ``, a Java logger's ``date time LEVEL pid --- [thread] class : ``…),
  the prefix is learnt from the file and the record behind it is read; journald, compose and Docker prefixes
  keep their own rules;
- a devstack's ``[pid] LVL caller > message`` with no time at all, and Rust tracing's
  ``2025-11-13T14:02:04.723800Z  INFO target: message``;
- ids named by key anywhere in a message (``"JobId":"…"``, ``NodeID: …``) become fields;
- Bacalhau's 2022 tab-separated lines, ``20h53m53.73<TAB>DEBUG<TAB>caller<TAB>message``;
- a devstack's ``[pid] DBG caller > message`` behind a journald prefix (its time is journald's);
- zerolog console records without the ``|`` or without a level
  (``04:58:12.616 pkg/x.go:151 > message``: the level is unknown, shown as ``???``);
- records hard-wrapped by a terminal or spread over several journald entries: a line that does not
  start a record (no time, level, JSON, prefix) continues the record above it when that record was
  cut — its last line ended in a space, a comma or an opening bracket, or is exactly a terminal's
  width (80, 100, 120 or 132 columns) —
  or when the line itself starts with ``>`` (the console's message marker) or a ``[key:value]``.

:func:`normalise` returns the lines to parse and, for each, the original text it came from (joined
physical lines keep their newlines), so ``line`` in the events is always what was written.
"""

from __future__ import annotations

import re

__all__ = ["normalise", "learn_prefix", "writer_of", "NATS_SERVER"]

_TAB2022 = re.compile(r"^(\d\d)h(\d\d)m(\d\d(?:\.\d+)?)\t(TRACE|DEBUG|INFO|WARN(?:ING)?|ERROR|FATAL|PANIC)\t"
                      r"(\S+)\t(.*)$")
#: nats-server's own log line (and its tools'): `[pid] 2021/09/29 02:23:05.189377 [INF] Starting nats-server`
NATS_SERVER = re.compile(r"^(?:\[(\d+)\] )?(\d{4})/(\d\d)/(\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) "
                         r"\[(TRC|DBG|INF|WRN|ERR|FTL)\] ?(.*)$")
#: the same with no time (`logtime: false`, or a paste that cut it): `[INF] STREAM: Starting …`
_NATS_NOTIME = re.compile(r"^(?:\[(\d+)\] )?\[(TRC|DBG|INF|WRN|ERR|FTL)\] ?(.*)$")
#: a connection's prefix on a nats-server message: `10.0.0.5:43468 - cid:28 - "v1.2:go:name" - Slow Consumer …`
_NATS_CONN = re.compile(r'^(?:(?P<addr>\S+) )?- (?P<kind>cid|rid|gid|lid):(?P<id>\d+)(?: - "(?P<name>[^"]*)")? - '
                        r"(?P<msg>.*)$", re.DOTALL)
_STAN_CLIENT = re.compile(r"^(?:STREAM: )?\[Client:(?P<name>[^\]\s]+)\] ")
#: Rust tracing's default line: `2025-11-13T14:02:04.723800Z  INFO async_nats: event: …`
_TRACING = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))\s+"
                      r"(TRACE|DEBUG|INFO|WARN|ERROR)\s+(?:([A-Za-z_][\w:]*): )?(.*)$", re.DOTALL)
_PID_CALLER = re.compile(r"^\[\d+\]\s+(TRC|DBG|INF|WRN|ERR|FTL|PNC)\s+(\S+\.go:\d+)\s+>\s*(.*)$", re.DOTALL)
#: an id named by its key inside a message (JSON, YAML or Go `%+v`): the key's kind decides the column
_KEYED_ID = re.compile(r"""["']?\b(?P<key>JobI[dD]|(?:Source|Target|Requester)?NodeI[dD]|ExecutionI[dD])["']?"""
                       r"""\s*[:=]\s*["']?(?P<id>[A-Za-z0-9][\w-]{7,})""")
_KEYED_FIELD = {"jobid": "job_id", "nodeid": "node_id", "executionid": "execution_id", "requesternodeid": "node_id",
                "sourcenodeid": "node_id", "targetnodeid": "node_id"}
_NATS_LEVEL = {"TRC": "TRACE", "DBG": "DEBUG", "INF": "INFO", "WRN": "WARN", "ERR": "ERROR", "FTL": "FATAL"}
_LEVEL3 = {"TRACE": "TRC", "DEBUG": "DBG", "INFO": "INF", "WARN": "WRN", "WARNING": "WRN", "ERROR": "ERR",
           "FATAL": "FTL", "PANIC": "PNC"}
_JOURNAL = re.compile(r"^([A-Z][a-z]{2} [ \d]\d (\d\d:\d\d:\d\d))\s+(\S+) (.*)$", re.DOTALL)
_JOURNAL_UNIT = re.compile(r"^([^\s\[:]+(?:\[\d+\])?: )(.*)$")
_PID_LEVEL = re.compile(r"^\[\d+\]\s+(TRC|DBG|INF|WRN|ERR|FTL|PNC)\s+(.*)$")
_CONSOLE_LOOSE = re.compile(r"^(\d\d:\d\d:\d\d(?:\.\d{1,9})?)\s+(?:(TRC|DBG|INF|WRN|ERR|FTL|PNC)\s+)?"
                            r"(\S+\.go:\d+)\s+>\s*(.*)$", re.DOTALL)
_START = re.compile(r"^(?:\^C)?(?:\d\d:\d\d:\d\d|\d\dh\d\dm|\d{4}-\d\d-\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:|\{|\[\d+\]|"
                    r"\[(?:TRC|DBG|INF|WRN|ERR|FTL)\]|"
                    r"time=|level=|[A-Za-z][\w.-]*\s+\|\s|panic:|fatal error:|goroutine \d|\s)")
_GO_TRACE = re.compile(r"^(?:panic:|fatal error:|goroutine \d|\s)")  # a Go trace: grouped by the parser
_FIELD_LINE = re.compile(r"^\s*\[[A-Za-z_][\w.-]*:[^\]]*\]\s*$")
#: a terminal's width: a record line exactly this long, followed by a line that starts no record, was cut
_WRAP_WIDTHS = (80, 100, 120, 132)


def _continues(prev_last: str, line: str) -> bool:
    if _FIELD_LINE.match(line):
        return True  # one `[key:value]` field per line: the record's context fields
    if not line.strip() or _START.match(line):
        return False
    if line.startswith((">", "&{")) or re.match(r"^\S+\.go:\d+\s*$", line):
        return True  # the console's message marker, a Go `%+v` dump of a pointer (`&{ID:… Owner:…}`), a caller
    return prev_last.endswith((" ", ",", "(", "[", ":")) or len(prev_last) in _WRAP_WIDTHS


def _q(text: str) -> str:
    return text.strip().replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _nats_fields(msg: str) -> tuple[str, str]:
    """(message, extra logfmt fields) of a nats-server message: its connection and client name as fields."""
    extra = ""
    if (c := _NATS_CONN.match(msg)) is not None:
        extra = f" {c['kind']}={c['id']}" + (f" remote={c['addr']}" if c["addr"] else "")
        if c["name"]:
            extra += f' client="{_q(c["name"])}"'
        msg = c["msg"]
    if (s := _STAN_CLIENT.match(msg)) is not None:
        extra += f" node_id={s['name']}"
    return msg, extra


def _keyed_ids(text: str) -> str:
    """Fields for the ids a message names by key (`"JobId":"…"`), one per column."""
    out: dict[str, str] = {}
    for m in _KEYED_ID.finditer(text):
        out.setdefault(_KEYED_FIELD[m["key"].lower()], m["id"])
    return "".join(f" {k}={v}" for k, v in out.items())


#: docker compose's `service  | ` in front of a line
_COMPOSE = re.compile(r"^([A-Za-z][\w.-]*\s*\| )(.*)$", re.DOTALL)


def _rewrite(line: str) -> str:
    """One (possibly joined) record in a shape the per-line parser reads."""
    if line[:1].isalpha() and "| " in line[:64] and (c := _COMPOSE.match(line)) is not None \
            and (NATS_SERVER.match(c.group(2)) or _NATS_NOTIME.match(c.group(2))):
        return c.group(1) + _rewrite(c.group(2))  # nats-server behind compose: its record read, the service kept
    m = NATS_SERVER.match(line)
    if m:  # nats-server's own log: local time, no zone (capture.zones reads it in its zone)
        pid, y, mo, d, tod, lvl, msg = m.groups()
        msg, extra = _nats_fields(msg)
        pid_field = f" pid={pid}" if pid else ""
        return f'time={y}-{mo}-{d}T{tod} level={_NATS_LEVEL[lvl]} msg="{_q(msg)}"' + pid_field + extra
    m = _NATS_NOTIME.match(line)
    if m:  # no time written: none is given (a neighbour's is not borrowed)
        pid, lvl, msg = m.groups()
        msg, extra = _nats_fields(msg)
        return f'level={_NATS_LEVEL[lvl]} msg="{_q(msg)}"' + (f" pid={pid}" if pid else "") + extra
    m = _PID_CALLER.match(line)
    if m:  # a 2022 devstack line with no time: `[2207] DBG ipfs/utils.go:214 > message`
        lvl, caller, msg = m.groups()
        return f'level={_NATS_LEVEL.get(lvl, "PANIC")} caller={caller} msg="{_q(msg)}"' + _keyed_ids(msg)
    m = _TRACING.match(line)
    if m:
        ts, lvl, target, msg = m.groups()
        return f'time={ts} level={lvl} msg="{_q(msg)}"' + (f" target={target}" if target else "") + _keyed_ids(msg)
    m = _TAB2022.match(line)
    if m:
        h, mi, s, lvl, caller, msg = m.groups()
        return f"{h}:{mi}:{s} | {_LEVEL3[lvl]} {caller} > {msg}"
    m = _JOURNAL.match(line)
    if m:
        head, tod, host, body = m.groups()
        unit = _JOURNAL_UNIT.match(body)
        prefix, rest = (unit.group(1), unit.group(2)) if unit else ("", body)
        rest = re.sub(r"\s+", " ", rest) if "\n" in rest else rest
        if NATS_SERVER.match(rest) or _NATS_NOTIME.match(rest):
            rest = _rewrite(rest)  # nats-server's own line behind journald: its own date and time are read
        elif (p := _PID_LEVEL.match(rest)) is not None:
            rest = f"{tod}.000 | {p.group(1)} {p.group(2)}"
        elif (c := _CONSOLE_LOOSE.match(rest)) is not None:
            rest = f"{c.group(1)} | {c.group(2) or '???'} {c.group(3)} > {c.group(4)}"
        if not prefix:  # journald without a unit (a paste that lost it): the console record, its host kept
            return f"{rest} [host:{host}]" if re.match(r"\d\d:\d\d:\d\d", rest) else line
        return f"{head} {host} {prefix}{rest}"
    c = _CONSOLE_LOOSE.match(re.sub(r"\s*\n\s*", " ", line) if "\n" in line else line)
    if c is not None and " | " not in line[:20]:
        return f"{c.group(1)} | {c.group(2) or '???'} {c.group(3)} > {c.group(4)}"
    if "\n" in line and not line.lstrip().startswith(("{", "panic:", "goroutine")):
        first, rest = line.split("\n", 1)
        if not rest.startswith((" ", "\t")):  # a hard wrap: the record is one line again
            return first.rstrip() + " " + re.sub(r"\s*\n\s*", " ", rest).strip()
    return line


#: where a record of a known shape starts inside a line, behind some prefix
_RECORD_AT = re.compile(r"(?:\[\d+\] )?\d{4}/\d\d/\d\d \d\d:\d\d:\d\d|(?:\[\d+\] )?\[(?:TRC|DBG|INF|WRN|ERR|FTL)\] |"
                        r"\d\d:\d\d:\d\d(?:\.\d{1,9})? \| (?:TRC|DBG|INF|WRN|ERR|FTL|PNC|\?\?\?) |(?P<json>\{\")")
#: prefixes that have rules of their own (journald, compose's `svc  | `, Docker's RFC 3339 time), never learnt
_OWN_RULES = re.compile(r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d |[A-Za-z][\w.-]*\s+\|\s|\d{4}-\d\d-\d\dT\S+ |\s)")
#: go test's ``    file.go:369: `` in front of what a test logged (t.Log): a prefix with a rule of its own
GO_TEST = re.compile(r"^ {4}[\w.-]+\.go:\d+: (?=\S)")
_LEVEL_WORD = re.compile(r"\b(?:TRC|DBG|INF|WRN|ERR|FTL|TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\b")


def learn_prefix(lines: list[str]) -> re.Pattern[str] | None:
    """The structural prefix most of a file's lines share before a record of a known shape, as a pattern, or
    None. lnav does the same when it tests candidate formats against a file's sample lines: the rule is learnt per
    file, never from a list of known prefixes. Prefixes are compared token by token (whitespace-separated): a
    token the same on every line stays literal, one that varies (a pod's name, a pid, a time) matches any
    non-space run (digits alone: digits)."""
    groups: dict[tuple[str, ...], list[list[str]]] = {}
    n = 0
    for ln in lines[:2000]:
        if not ln.strip():
            continue
        n += 1
        m = _RECORD_AT.search(ln, 1)
        if m is None:
            continue
        pre = ln[:m.start()]
        if _OWN_RULES.match(pre) or pre[-1:] not in (" ", "\t") or (m["json"] and _LEVEL_WORD.search(pre)):
            continue  # a JSON body after a level is a message's payload, not a record behind a prefix
        parts = re.split(r"(\s+)", pre)  # tokens at even places, separators at odd ones
        seps = tuple(re.sub(r" +", " ", x) for x in parts[1::2])
        groups.setdefault(seps, []).append(parts[0::2])
    if not groups:
        return None
    seps, toks = max(groups.items(), key=lambda kv: len(kv[1]))
    if len(toks) < 2 or len(toks) * 2 < n:
        return None
    pat = "^"
    for k, column in enumerate(zip(*toks, strict=True)):
        if len(set(column)) == 1:
            pat += re.escape(column[0])
        elif all(re.fullmatch(r"\d+", c) for c in column):
            pat += r"\d+"
        elif all(re.sub(r"\d+", "0", c) == re.sub(r"\d+", "0", column[0]) for c in column):
            pat += r"\d+".join(re.escape(x) for x in re.sub(r"\d+", "0", column[0]).split("0"))
        else:
            pat += r"\S+"
        if k < len(seps):
            pat += r"\s+" if "\t" in seps[k] or len(set(seps[k])) > 1 else re.escape(seps[k]).replace(" ", " +")
    return re.compile(pat)


#: a quote's ``> `` (markdown, mail) before a record of a known shape, on any line (a quote that covers a few)
_QUOTE = re.compile(r"^>+ ?(?=(?:\[\d+\] )?\d{4}/\d\d/\d\d |(?:\[\d+\] )?\[(?:TRC|DBG|INF|WRN|ERR|FTL)\] |"
                    r"\d\d:\d\d:\d\d(?:\.\d{1,9})? \| |\{\")")


def strip_prefix(prefix: re.Pattern[str] | None, line: str) -> str:
    """``line`` without the file's learnt prefix (when it carries it), a quote's ``> `` before a record and go
    test's ``file.go:N: ``."""
    if prefix is not None:
        line = prefix.sub("", line, count=1)
    if line[:1] == ">":
        line = _QUOTE.sub("", line, count=1)
    return GO_TEST.sub("", line, count=1) if line.startswith("    ") else line


#: ``kubectl logs --prefix``: ``[pod/NAME/CONTAINER] `` in front of each line
KUBECTL = re.compile(r"^\[pod/([a-z0-9][-a-z0-9.]*)/([a-z0-9][-a-z0-9.]*)\] ")
#: a Kubernetes object's name (RFC 1123 subdomain): a pod's or a container's
_K8S_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?")


def writer_of(prefix: re.Pattern[str] | None, line: str) -> str | None:
    """The pod and container that wrote ``line`` (``pod/container``), named by its prefix, or None:
    ``kubectl logs --prefix``'s ``[pod/NAME/CONTAINER] ``, or a file's learnt prefix (:func:`learn_prefix`) of
    exactly two Kubernetes names, ``POD CONTAINER `` (stern's and ``kubectl``-tail tools' columns)."""
    if line[:5] == "[pod/":
        m = KUBECTL.match(line)
        return f"{m[1]}/{m[2]}" if m is not None else None
    if prefix is None or (m := prefix.match(line)) is None:
        return None
    toks = m.group(0).split()
    if len(toks) == 2 and all(_K8S_NAME.fullmatch(x) and not x.isdigit() for x in toks):
        return f"{toks[0]}/{toks[1]}"
    return None


def normalise(lines: list[str]) -> tuple[list[str], list[str], re.Pattern[str] | None]:
    """(lines to parse, the original text of each, the prefix learnt from the file)."""
    prefix = learn_prefix(lines)
    bare = [strip_prefix(prefix, ln) for ln in lines]
    records: list[list[int]] = []
    for i, ln in enumerate(bare):
        if records and _continues(bare[records[-1][-1]], ln) and _START.match(bare[records[-1][0]]) \
                and not _GO_TRACE.match(bare[records[-1][0]]):
            records[-1].append(i)
        else:
            records.append([i])
    originals = ["\n".join(lines[i] for i in r) for r in records]
    return [_rewrite("\n".join(bare[i] for i in r)) for r in records], originals, prefix
