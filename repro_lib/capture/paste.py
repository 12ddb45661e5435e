"""What people paste from a terminal: find the CLI output in it wherever it stands.

A paste is rarely a bare table. It starts with the command (``$ bacalhau node list``, ``❯ bacalhau job
describe j-…``, ``root@host:~# …``, a fish or venv prompt), holds several tables one after another,
error lines, progress spinners, log lines, YAML. :func:`scan` reads it line by line and returns the
blocks it recognises — wherever a table header, a ``describe`` block, or YAML/JSON output stands —
each with the command that printed it, if one was pasted.

Table kinds: ``nodes`` (``node list``, also before 1.3: no STATUS column, ``Qm…`` ids), ``jobs``
(``job list``; the old ``bacalhau list``: CREATED ID JOB STATE VERIFIED PUBLISHED), ``executions``
(``job executions``), ``history`` (``job history``, a describe's Job/Execution History; with or
without LEVEL), ``progress`` (``job run``'s TIME EXEC. ID TOPIC EVENT), ``describe`` (text
``key = value`` or YAML of any API version). ANSI colour codes are dropped first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Block", "scan", "command_of", "strip_ansi", "header_kind", "header_cells", "PROMPT_RE", "CLI_PHRASES",
           "CLI_ERROR", "COLUMN_NAMES", "ID_ONLY",
           "aligned_header"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]")
# a shell prompt (optional) and a command of ours: `$ `, `❯ `, `→ `, `user@host:~/x$ `, `host:~# `,
# `user@host ~> ` (fish), `(venv) $ `, and the binary by any path or versioned name (v1.5.0/bacalhau,
# bacalhau-1.5.0, ./bin/expanso-cli) or `go run .` in a checkout
_PROMPT = (r"(?:\([\w.-]+\)\s*)?(?:[\w.-]+@[\w.-]+(?::\S*)?\s*[$#%>]|[\w.-]+@[\w.-]+\s+\S*\s*[$#%>]|"
           r"[\w.-]+:\S*[$#]|[$#%❯→➜»>⟩])\s*")
PROMPT_RE = re.compile(r"^\s*(?:" + _PROMPT + r")?(?P<cmd>(?:\S*/)?(?:bacalhau|expanso-cli|expanso)(?:-v?[\d.]+)?"
                       r"(?=\s|$).*|go\s+run\s+\.(?=\s|$).*)$")
_ANY_PROMPT_RE = re.compile(r"^\s*(?:\([\w.-]+\)\s*)?(?:[\w.-]+@[\w.-]+(?::\S*)?\s*[$#%>]|[$❯→➜»⟩])\s+\S")
#: lines only the CLI prints
CLI_PHRASES = re.compile(r"^\s*(?:Job successfully submitted|Checking job status|To get more details about the run|"
                         r"To fetch more records|Job stop successfully submitted|Job Results By Node|"
                         r"Error submitting job|Communicating with the network|Connecting to network|"
                         r"Waiting for logs\.\.\.|To download the results|Fetching results of job|"
                         r"[•*-] (?:Node [\w, -]+|\d+ runs on \d+ nodes?):|"
                         r"[A-Z][\w ,]{2,40} \.{3,} +(?:done|err|\S+ ))")
#: a line that is one id alone (``bacalhau job run --wait=false``, ``--id-only``)
ID_ONLY = re.compile(r"^\s*(?:[jen]-[0-9a-f]{8}(?:-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?|"
                     r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\s*$")
#: an error the CLI printed and exited with (``Error: …``, ``Unknown error``, ``failed request: …``): CLI output
#: when no log line stands beside it
CLI_ERROR = re.compile(r"^\s*(?:Error(?: [a-z]+ing [a-z]+)?: \S|Unknown error\b|[Jj]ob not found\b|"
                       r"[Ff]ailed [a-z][a-z ]{0,40}: \S)")
_LOGLIKE = re.compile(r"^\s*(?:\[\d+\]\s+)?(?:\d\d:\d\d:\d\d(?:\.\d+)?\s+\|?\s*(?:TRC|DBG|INF|WRN|ERR|FTL|PNC)\b|"
                      r"\d{4}-\d\d-\d\dT\d\d:\d\d|time=|level=|\{\s*\"(?:level|time|msg)\"|"
                      r"(?:TRC|DBG|INF|WRN|ERR|FTL)\s+\S+\.go:\d+\s+>|"
                      # nats-server's own lines (with or without a time), Go's log date, journald's prefix
                      r"(?:\[\d+\]\s+)?(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d|\[(?:TRC|DBG|INF|WRN|ERR|FTL)\] )|"
                      r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s:\[]+(?:\[\d+\])?: |"
                      # a JSON record on one line with a level or a time key, whatever its key order: a log line
                      r"\{\".*\"(?:level|lvl|severity|msg|message|time|ts|timestamp|@timestamp)\"\s*:.*\}\s*$)")
_BOX_LINE = re.compile(r"^\s*[|│┃║┌└├╭╰+]")
_BORDER = set("+-=─━┌┐┬╭╮┼╪═└┘┴╰╯├┤ |│┃║")
_SPLIT = re.compile(r"\s{2,}|\t|\s*[|│┃║]\s*")
_DESCRIBE_KV = re.compile(r"^\s*(?:ID|Name)\s+=\s+\S")
_YAML_TOP = re.compile(r"^(?:APIVersion|Job|ID|JobID|Metadata|State|Spec|Status|ClientID|JobState):(?:\s|$)")
_FOOTER = re.compile(r"^\s*To fetch more records")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def command_of(line: str) -> str | None:
    """The command on a pasted prompt line (``bacalhau node list``), or None."""
    m = PROMPT_RE.match(line)
    return m.group("cmd").strip() if m else None


def _cells(line: str) -> list[str]:
    return [c for c in _SPLIT.split(line.strip().strip("|│┃║")) if c.strip()]


def _norm(cell: str) -> str:
    return re.sub(r"[\s\-.]+", "_", cell.strip().rstrip(".").lower()).strip("_")


#: column names the readers map wherever a header says them (normalised: lower case, separators as `_`)
COLUMN_NAMES = frozenset({
    "id", "job_id", "job", "name", "exec_id", "execution_id", "execution", "node_id", "node", "node_name",
    "state", "status", "desired", "desired_state", "compute_state", "new_state", "previous_state", "job_state",
    "created", "creation_time", "modified", "time", "updated", "topic", "event", "type", "approval", "rev",
    "level", "comment", "details", "message", "labels", "cpu", "memory", "disk", "gpu", "verified", "published",
    "result", "count", "version", "namespace", "priority", "compute", "reason", "error", "host", "hostname",
    "address", "peer_id", "connection", "connection_state", "membership", "outputs", "shard", "shards"})
_CSV_HEAD = re.compile(r"^[A-Z][A-Z0-9 ._#/()-]*(?:,[A-Z][A-Z0-9 ._#/()-]*)+\s*$")
_SEPARATED = re.compile(r"\S(?:\s{2,}|\t|\s*[|│┃║]\s*)\S")
_HEAD_CELL = re.compile(r"[A-Z][A-Z0-9#/()_.-]*(?: [A-Z0-9#/()_.-]+){0,2}|[A-Z][a-z]+(?: [A-Z][a-z]*| ID){0,2}")


def header_cells(line: str) -> list[str] | None:
    """The column names of a table header line, by rule rather than by command: at least two upper-case (or
    Title Case) names separated by 2+ spaces, a tab or ``|``, at least two of them names a reader maps; None for
    anything else (a row has ids, numbers, times)."""
    if len(line) > 400 or not _SEPARATED.search(line) or _LOGLIKE.match(line) or PROMPT_RE.match(line):
        return None  # a header's names are separated by 2+ spaces, a tab or a bar
    cells = [c.strip() for c in re.split(r"\s{2,}|\t|\s*[|│┃║]\s*", line.strip().strip("|│┃║")) if c.strip()]
    if len(cells) < 2 or any(len(c) > 24 or not _HEAD_CELL.fullmatch(c) for c in cells):
        return None
    known = sum(1 for c in cells if _norm(c) in COLUMN_NAMES)
    upper = all(c.upper() == c for c in cells)
    if known >= 2 and (upper or known * 2 > len(cells)):
        return cells  # fewer known names: a table only over an aligned row (`aligned_header`)
    return None


def aligned_header(lines: list[str], i: int) -> bool:
    """Whether line ``i`` heads a table by alignment alone: two or more upper-case names separated by 2+ spaces,
    and the next line a row whose cells start where the header's columns do (at least two of them)."""
    ln = lines[i]
    if i + 1 >= len(lines) or len(ln) > 400 or ln.upper() != ln or "  " not in ln.strip() or _LOGLIKE.match(ln) \
            or PROMPT_RE.match(ln):
        return False
    spans = list(re.finditer(r"\S+(?: \S+)*", ln))
    if len(spans) < 2 or any(len(m.group(0)) > 24 or not _HEAD_CELL.fullmatch(m.group(0))
                             or m.group(0).upper() != m.group(0) for m in spans):
        return False
    row = lines[i + 1]
    if not row.strip() or header_cells(row) is not None or _LOGLIKE.match(row):
        return False
    starts = {m.start() for m in spans}
    cells = [m.start() for m in re.finditer(r"(?:(?<=\s\s)|^)\S", row)]
    return len(cells) >= 2 and sum(1 for c in cells if c in starts or c - 1 in starts or c + 1 in starts) >= 2


def header_kind(line: str) -> str | None:
    """The kind of table whose header ``line`` is: a known kind by its column names, ``table`` for any other
    header (:func:`header_cells`), or None."""
    if not line.strip() or _LOGLIKE.match(line) or PROMPT_RE.match(line):
        return None
    cells = _cells(line)
    known = _known_kind(cells) if len(cells) >= 3 and not any(len(c) > 24 for c in cells) else None
    if known is not None:
        return known
    generic = header_cells(line)
    if generic is None:
        return None
    h = {_norm(c) for c in generic}
    if "time" in h and h & {"topic", "event"} and not h & {"exec_id", "execution_id"}:
        return "history"  # a describe's Job History, whatever printed it
    return "table"


def _known_kind(cells: list[str]) -> str | None:
    h = {_norm(c) for c in cells}
    if not all(re.fullmatch(r"[a-z_#]+", x) for x in h):
        return None  # a header is words: a row has ids, numbers, times
    node = h & {"node", "node_id", "node_name"}
    state = h & {"state", "status", "compute", "compute_state", "desired", "desired_state", "new_state"}
    if "time" in h and h & {"exec_id", "execution_id"} and h & {"topic", "event"} and not h & {"rev"}:
        return "progress"
    if "time" in h and (h & {"rev", "level"}) and (h & {"state", "new_state", "topic", "event"}):
        return "history"
    if "id" in h and node and state:
        return "executions"
    if "id" in h and h & {"status", "state", "approval"} and not node and not h & {"job", "name", "desired"}:
        return "nodes"
    if "id" in h and "type" in h and h & {"labels", "cpu", "memory", "disk"} and not h & {"job", "state"}:
        return "nodes"  # node list before 1.3: no STATUS column
    if h & {"state", "status"} and h & {"type"} and h & {"name", "job", "id"} and not node:
        return "jobs"
    if "id" in h and "job" in h and "state" in h and h & {"created", "creation_time", "verified", "published",
                                                           "result"}:
        return "jobs"  # the old `bacalhau list`
    return None


@dataclass
class Block:
    """One recognised piece of CLI output: its kind, its text and where it stood."""

    kind: str            # nodes | jobs | executions | history | progress | describe | yaml
    text: str
    start: int           # first line (0-based) in the paste
    end: int             # one past its last line
    command: str | None  # the pasted command that printed it, if any
    title: str = ""      # for history: "Job History" or "Execution e-… History"


def _table_end(lines: list[str], i: int, boxed: bool) -> int:
    n = len(lines)
    j = i + 1
    base = len(lines[i]) - len(lines[i].lstrip())
    while j < n:
        ln = lines[j]
        if boxed:
            if not _BOX_LINE.match(ln):
                break
        elif (not ln.strip() or _FOOTER.match(ln) or PROMPT_RE.match(ln) or _ANY_PROMPT_RE.match(ln)
              or _LOGLIKE.match(ln) or CLI_PHRASES.match(ln)
              or (len(ln) - len(ln.lstrip()) <= base + 2 and header_kind(ln))  # further right: a wrapped header
              or (not ln.startswith((" ", "\t")) and ln.rstrip().endswith(":") and len(_cells(ln)) == 1)):
            break
        j += 1
    return j


def _describe_end(lines: list[str], i: int) -> int:
    """A text describe runs until the next prompt (its sections are separated by blank lines)."""
    j = i + 1
    while j < len(lines) and not (PROMPT_RE.match(lines[j]) or _ANY_PROMPT_RE.match(lines[j])
                                  or _LOGLIKE.match(lines[j])):
        j += 1
    return j


def _yaml_end(lines: list[str], i: int) -> int:
    j = i + 1
    while j < len(lines):
        ln = lines[j]
        if PROMPT_RE.match(ln) or _ANY_PROMPT_RE.match(ln) or _LOGLIKE.match(ln):
            break
        if ln.strip() and not ln.startswith((" ", "\t", "-")) and not _YAML_TOP.match(ln) \
                and not re.match(r"^[A-Z]\w*:", ln):
            break
        j += 1
    return j


def scan(text: str) -> list[Block]:
    """Every piece of CLI output in ``text``, in order."""
    lines = strip_ansi(text).replace("\r\n", "\n").split("\n")
    blocks: list[Block] = []
    command: str | None = None
    section = ""
    no_object_until = json_tries = 0
    i, n = 0, len(lines)
    while i < n:
        ln = lines[i]
        cmd = command_of(ln)
        if cmd is not None:
            command, section = cmd, ""
            i += 1
            continue
        if _ANY_PROMPT_RE.match(ln):
            command, section = None, ""  # another program's command: what follows is not ours
            i += 1
            continue
        stripped = ln.strip()
        if stripped in ("Job History", "Executions") or re.fullmatch(r"Execution \S+ History", stripped):
            section = stripped
            i += 1
            continue
        if _DESCRIBE_KV.match(ln) and (i + 1 < n and re.match(r"^\s*\w[\w .]*\s+=\s", lines[i + 1])):
            j = _describe_end(lines, i)
            blocks.append(Block("describe", "\n".join(lines[i:j]), i, j, command))
            i += 1  # past its `key = value` head: its tables are blocks of their own, inside it
            while i < j and re.match(r"^\s*\w[\w .]*\s+=\s", lines[i]):
                i += 1
            continue
        if _YAML_TOP.match(ln) and (command is None or _describe_cmd(command) or ln.startswith(("APIVersion", "Job:"))):
            j = _yaml_end(lines, i)
            body = "\n".join(lines[i:j])
            if re.search(r"^\s*(?:JobID|ID|ComputeReference|NodeI[dD]):", body, re.M):
                blocks.append(Block("yaml", body, i, j, command))
                i = j
                continue
        if json_tries < 200 and _JSON_OPEN.match(ln) and not _LOGLIKE.match(ln):
            json_tries += 1  # a file of brackets that open no document is not tried line after line
            if (j := _json_end(lines, i)) < 0:
                json_tries = 200
            elif j > i:
                blocks.append(Block("object", "\n".join(lines[i:j]), i, j, command, section))
                i = j
                continue
        if i >= no_object_until:
            j, found = _object_end(lines, i)
            if found:
                blocks.append(Block("object", "\n".join(lines[i:j]), i, j, command, section))
                i = j
                continue
            no_object_until = j  # a run of `Key: value` lines that names no id: not tried again line by line
        if "," in ln and _CSV_HEAD.match(ln) and header_kind(ln.replace(",", "\t")) is not None:
            j = i + 1  # `--output csv`: read as the tab-separated table it is
            while j < n and lines[j].strip() and "," in lines[j] and not _LOGLIKE.match(lines[j]):
                j += 1
            if j > i + 1:
                import csv

                tabbed = "\n".join("\t".join(c.strip() for c in row) for row in csv.reader(lines[i:j]))
                blocks.append(Block(header_kind(ln.replace(",", "\t")) or "table", tabbed, i, j, command, section))
                i = j
                continue
        boxed = bool(_BOX_LINE.match(ln))
        probe = ln if not (boxed and set(stripped) <= _BORDER) else ""
        kind = header_kind(probe) if probe else None
        if kind is None and boxed and set(stripped) <= _BORDER and i + 1 < n:
            kind = header_kind(lines[i + 1])  # a box's top border, then the header
            if kind is not None:
                j = _table_end(lines, i + 1, True)
                blocks.append(Block(kind, "\n".join(lines[i:j]), i, j, command, section))
                i = j
                continue
        if kind is None and not boxed and aligned_header(lines, i):
            kind = "table"  # upper-case names no reader maps, over a row aligned to them (`bacalhau version`)
        if kind is not None:
            j = _table_end(lines, i, boxed)
            blocks.append(Block(kind, "\n".join(lines[i:j]), i, j, command, section))
            i = j
            continue
        i += 1
    return blocks


#: where a JSON document or a Python literal may open: a bracket alone, or one before a key, a string or another
#: bracket (`[INF] …`, `[1] 2021/…`, `[2207] DBG …` open none)
_JSON_OPEN = re.compile(r"^\s*(?:[{\[]\s*$|\{\s*[\"']|\[\s*[{\[\"'\]])")


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')


def _json_end(lines: list[str], i: int, limit: int = 1_000_000, budget: int = 64 << 20) -> int:
    """One past the last line of a JSON document (``--output json``, an API's answer) or a Python literal (a
    ``pprint``) that starts at line ``i`` and names an id (:mod:`repro_lib.capture.objects`); ``i`` when none
    does, -1 when its brackets never close (a cut paste: no later bracket is tried). Brackets are counted
    outside quoted strings (neither spans lines), line by line."""
    import json

    from repro_lib.capture.objects import _python, object_rows

    depth = 0
    for j in range(i, min(len(lines), i + limit)):
        budget -= len(lines[j])
        if budget < 0:
            return -1  # a bracket never closed within the budget: no document
        bare = _QUOTED.sub("", lines[j]) if ("\"" in lines[j] or "'" in lines[j]) else lines[j]
        depth += bare.count("{") + bare.count("[") - bare.count("}") - bare.count("]")
        if depth <= 0:
            block = "\n".join(lines[i:j + 1])
            try:
                tree = json.loads(block)
            except (ValueError, RecursionError):
                tree = _python(block)  # a Python SDK's pprint after a `>>>` prompt: parsed, never evaluated
            return j + 1 if isinstance(tree, dict | list) and object_rows(tree) else i
    return -1


def _object_end(lines: list[str], i: int) -> tuple[int, bool]:
    """(one past the last line of the run of ``Key: value`` / ``key = value`` lines by indentation that starts
    at line ``i``, whether that run is a printed object naming an id by a known key or by its own shape)."""
    from repro_lib.capture.objects import KV_LINE, indent_tree, object_rows

    if not KV_LINE.match(lines[i]) or _LOGLIKE.match(lines[i]) or _ANY_PROMPT_RE.match(lines[i]):
        return i, False
    j, kv = i, 0
    base = len(lines[i]) - len(lines[i].lstrip())
    while j < len(lines):
        ln = lines[j]
        if j > i and _YAML_TOP.match(ln) and (ln.rstrip().endswith(":") or ln.startswith("APIVersion")):
            break  # a YAML document of its own (`Job:` over its keys, `APIVersion:`): read as one
        if KV_LINE.match(ln) and not _LOGLIKE.match(ln) and not PROMPT_RE.match(ln) and not _ANY_PROMPT_RE.match(ln):
            kv += 1
        elif not ln.strip() or len(ln) - len(ln.lstrip()) <= base or header_kind(ln):
            break  # a wrapped value or an elision is indented below its key
        j += 1
    if kv < 2:
        return max(j, i + 1), False
    tree = indent_tree(lines[i:j])
    return max(j, i + 1), tree is not None and bool(object_rows(tree))


def _describe_cmd(command: str) -> bool:
    return bool(re.search(r"\b(?:describe|get)\b", command))
