"""Older and mangled line shapes, made readable before the per-line parser sees them:

- nats-server's own lines, ``[pid] 2021/09/29 02:23:05.189377 [INF] …`` (its banner included);
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

__all__ = ["normalise", "NATS_SERVER"]

_TAB2022 = re.compile(r"^(\d\d)h(\d\d)m(\d\d(?:\.\d+)?)\t(TRACE|DEBUG|INFO|WARN(?:ING)?|ERROR|FATAL|PANIC)\t"
                      r"(\S+)\t(.*)$")
#: nats-server's own log line (and its tools'): `[pid] 2021/09/29 02:23:05.189377 [INF] Starting nats-server`
NATS_SERVER = re.compile(r"^(?:\[(\d+)\] )?(\d{4})/(\d\d)/(\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) "
                         r"\[(TRC|DBG|INF|WRN|ERR|FTL)\] ?(.*)$")
_NATS_LEVEL = {"TRC": "TRACE", "DBG": "DEBUG", "INF": "INFO", "WRN": "WARN", "ERR": "ERROR", "FTL": "FATAL"}
_LEVEL3 = {"TRACE": "TRC", "DEBUG": "DBG", "INFO": "INF", "WARN": "WRN", "WARNING": "WRN", "ERROR": "ERR",
           "FATAL": "FTL", "PANIC": "PNC"}
_JOURNAL = re.compile(r"^([A-Z][a-z]{2} [ \d]\d (\d\d:\d\d:\d\d))\s+(\S+) (.*)$", re.DOTALL)
_JOURNAL_UNIT = re.compile(r"^([^\s\[:]+(?:\[\d+\])?: )(.*)$")
_PID_LEVEL = re.compile(r"^\[\d+\]\s+(TRC|DBG|INF|WRN|ERR|FTL|PNC)\s+(.*)$")
_CONSOLE_LOOSE = re.compile(r"^(\d\d:\d\d:\d\d(?:\.\d{1,9})?)\s+(?:(TRC|DBG|INF|WRN|ERR|FTL|PNC)\s+)?"
                            r"(\S+\.go:\d+)\s+>\s*(.*)$", re.DOTALL)
_START = re.compile(r"^(?:\^C)?(?:\d\d:\d\d:\d\d|\d\dh\d\dm|\d{4}-\d\d-\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:|\{|\[\d+\]|"
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
    if line.startswith(">") or re.match(r"^\S+\.go:\d+\s*$", line):
        return True
    return prev_last.endswith((" ", ",", "(", "[", ":")) or len(prev_last) in _WRAP_WIDTHS


def _rewrite(line: str) -> str:
    """One (possibly joined) record in a shape the per-line parser reads."""
    m = NATS_SERVER.match(line)
    if m:  # nats-server's own log: local time, no zone (capture.zones reads it in its zone)
        pid, y, mo, d, tod, lvl, msg = m.groups()
        text = msg.strip().replace("\\", "\\\\").replace('"', '\\"')
        return f'time={y}-{mo}-{d}T{tod} level={_NATS_LEVEL[lvl]} msg="{text}"' + (f" pid={pid}" if pid else "")
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
        if (p := _PID_LEVEL.match(rest)) is not None:
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


def normalise(lines: list[str]) -> tuple[list[str], list[str]]:
    """(lines to parse, the original text of each)."""
    records: list[list[str]] = []
    for ln in lines:
        if records and _continues(records[-1][-1], ln) and _START.match(records[-1][0]) \
                and not _GO_TRACE.match(records[-1][0]):
            records[-1].append(ln)
        else:
            records.append([ln])
    originals = ["\n".join(r) for r in records]
    return [_rewrite(o) for o in originals], originals
