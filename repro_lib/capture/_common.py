"""Shared pieces of the log parser: regexes, time parsing, field tokens, message mapping.

Both the per-line parser (:func:`repro_lib.capture.logs.parse_line`) and the vectorised fast
path (:mod:`repro_lib.capture._fast`) follow the rules written here, so they agree row by row.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import re
import sys
from collections.abc import Iterator
from datetime import date as _date
from typing import Any

from repro_lib.capture import upstream as _up
from repro_lib.events import LOG_MESSAGES

__all__: list[str] = []


@contextlib.contextmanager
def system_pool() -> Iterator[None]:
    """Arrow allocates from the C library's allocator while this is open, then as before. Arrow's
    own jemalloc pool hands freed pages straight back to the kernel, so every multi-MB temporary of a
    big parse is faulted in and zeroed anew: on 1 M lines that was 2.3 s of a 5.0 s parse in the
    kernel; with the system pool the parse takes 2.1 s (benchmarks/bench_inspect.py: its
    ``jemalloc`` row). Scoped, so a notebook's own Arrow work keeps whatever pool it chose."""
    import pyarrow as pa

    _few_arenas()
    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(before)


@functools.cache
def _glibc() -> Any:
    """The C library when it is glibc on Linux (its ``mallopt`` and ``malloc_trim``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


@functools.cache
def _few_arenas() -> None:
    """glibc gives each thread that allocates beside another one a malloc arena of its own, up to 8 per
    core, and the pages an arena frees stay with it: with blocks parsed on two threads (``inspect``'s
    condensed reading) the system pool's peak rose by a third (fleet of 1 M lines: 0.84 to 1.19 GB).
    Two arenas keep it (``M_ARENA_MAX``: process-wide and kept afterwards, unlike the pool; only arenas
    not made yet; glibc only, elsewhere nothing)."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(-8, 2)  # M_ARENA_MAX


def give_back() -> None:
    """Hand the C library's freed pages back to the kernel (``malloc_trim``; glibc only, else nothing): Arrow's
    system pool frees a block's temporaries into the arenas, which keep them; trimmed after each block of the
    condensed reading, its RSS follows what is held (seed format, 1 M lines: 923 MB before the analysis, 570 MB
    trimmed; a trim takes ~3 ms)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


NS = 1_000_000_000
_EPOCH_ORD = _date(1970, 1, 1).toordinal()

# Docker's `--timestamps` prefix (RFC 3339, up to 9 fractional digits, Z or offset) + one space.
DOCKER_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) ", re.ASCII
)
RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(Z|z|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)
# slog TextHandler: time=… level=… msg=… (the first three attributes, in this order)
TEXT_HEAD_RE = re.compile(
    r'time=([^ ]+) level=([^ ]+) msg=("(?:[^"\\]|\\.)*"|[^ "]*)(?: (.*))?', re.DOTALL
)
# one logfmt token: key=value with a quoted or bare value, or a bare word
# (tokens are separated by single spaces only, so tabs and the like stay inside values)
TOKEN_RE = re.compile(r'([^ ="]+)=("(?:[^"\\]|\\.)*"(?= |\Z)|[^ ]*)|([^ ]+)', re.DOTALL)
STRICT_KV_RE = re.compile(r'([^ ="]+)=("(?:[^"\\]|\\.)*"|[^ "]*)(?= |\Z)', re.DOTALL)
# zerolog ConsoleWriter: `15:04:05.999 | INF [caller ]> msg k=v`
CONSOLE_RE = re.compile(
    r"(\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?) \| ([A-Z?]{3}) (?:([^ ]+) )?>(?: (.*))?",
    re.DOTALL | re.ASCII,
)
CONSOLE_TOD_RE = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?", re.ASCII)
# where the key=value fields start in a console message tail
CONSOLE_FIELDS_RE = re.compile(r"(?:^| )([A-Za-z_][\w.\-]*=)", re.ASCII)

CONSOLE_LEVELS = {
    "TRC": "TRACE",
    "DBG": "DEBUG",
    "INF": "INFO",
    "WRN": "WARN",
    "ERR": "ERROR",
    "FTL": "FATAL",
    "PNC": "PANIC",
}

# prefixes of messages that carry meaning; everything else is noise for the fast path
INSTRUMENTED = (
    "DISPATCH", "PUBLISH", "REEVALUATOR", "RECONCILER", "EDGE", "NODE", "EXECUTION", "JOB",
    "FAULT", "ACTION", "HANDSHAKE", "NATS", "EVAL",
)
STATE_FIELD_MSGS = frozenset(
    m for m, (kind, _st) in LOG_MESSAGES.items() if kind in ("node", "state")
)
CREATED_MSG = "REEVALUATOR: Created evaluation for job"
# the one plain `log` message whose detail the fast path keeps (it names the edge's node)
EDGE_CONNECTED_MSG = "Edge connected to orchestrator"
PUBLISH_CHECK_MSG = "PUBLISH: Checking node connection"
# other spellings of the id keys that Go logs use (docs/seed-style-logs.md): camelCase with a lower-case
# "Id", short forms; read after ours and the upstream ones
ALIAS_KEYS = {"exec_id": "execution", "executionId": "execution", "execID": "execution", "exec": "execution",
              "nodeId": "node", "targetNode": "node", "target_node_id": "node", "jobId": "job"}
# our instrumented keys first, then the upstream (Bacalhau) ones — repro_lib.capture.upstream — then the aliases
NODE_KEYS = ("node_id", "target_node", *(k for k, v in _up.FIELD_KEYS.items() if v == "node" and k != "node_id"),
             *(k for k, v in ALIAS_KEYS.items() if v == "node"))
JOB_KEYS = ("job", "job_id", *(k for k, v in _up.FIELD_KEYS.items() if v == "job" and k not in ("job", "job_id")),
            *(k for k, v in ALIAS_KEYS.items() if v == "job"))
EXEC_KEYS = ("execution_id",
             *(k for k, v in _up.FIELD_KEYS.items() if v == "execution" and k != "execution_id"),
             *(k for k, v in ALIAS_KEYS.items() if v == "execution"))
#: keys that carry a job's name (not its id) on a job line or a reconciler line; ``name`` only there
JOB_NAME_KEYS = ("job_name", "jobName", "jobname", "JobName", "name")
_OURS = {"node_id", "target_node", "job", "job_id", "execution_id"}
# a line that may hold something only the per-line parser reads: an upstream key, a `[Key:value]`
# field, an upstream message text, a console line without `>` (zerolog >= 1.6), a compose, journald
# or collector prefix, colour codes. The vectorised path sends such lines to the per-line parser.
_UP_KEYS = sorted({k for k in (*_up.FIELD_KEYS, *_up.LIST_FIELD_KEYS, *ALIAS_KEYS)} - _OURS)
UPSTREAM_HINT = (
    r"(?:^|[ ,{\[])(?:" + "|".join(re.escape(k) for k in _UP_KEYS) + r')(?:=|":|:)'
    + "|" + "|".join(re.escape(m) if not m.startswith("re:") else m[3:].lstrip("^").rstrip("$")
                     for m, _k, _s, _c in _up.MESSAGES)
    + r"|^\d\d:\d\d:\d\d(?:\.\d+)? \| [A-Z?]{3} [^>]*$"
    + r"|^[A-Za-z][\w.-]*\s*\| |^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d |^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[^\t]*\t"
    + r"|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \| |^[a-z][\w.-]* \d\d:\d\d:\d\d\.\d+ [A-Z]+ +==>"
    + r"|\x1b\[|^\^C|\[[A-Za-z_][\w.-]*:[^\]]*\]\s*$"
    + r"|(?:^|[ ,{\[])(?:name|Name|Server)(?:=|\":\"|:)[nje]-[0-9a-f]{8}"
)
#: an id written by its shape in the text (:func:`ids_by_shape`): the vectorised path reads those ids itself on the
#: lines it parses by columns, and sends the rest to the per-line parser
SHAPE_HINT = r"(?:^|[^=\"\w.-])[nje]-[0-9a-f]{8}"
# ids by their shape where no key names them: in the message text or a bracket field (not after `=`
# or a quote, which is a key's value), or under a key that holds a node id upstream (name=n-…)
_UUID_TAIL = r"[0-9a-f]{8}(?:-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?"
SHAPE_FREE_RE = re.compile(r"(?:^|[^=\"\w.-])(?P<id>(?P<kind>[nje])-" + _UUID_TAIL + r")(?![\w-])")
SHAPE_KEYED_RE = re.compile(r"(?:^|[ ,{\[])(?:name|Name|Server)(?:=|\":\"|:)(?P<id>(?P<kind>[nje])-"
                            + _UUID_TAIL + r")(?![\w-])")
_SHAPE_COL = {"n": "node", "j": "job", "e": "execution"}


#: ids named by their key anywhere in a message (a Go ``%+v`` struct, YAML, JSON): ``JobID:…``, ``SourceNodeID:…``
_KEYED_ID_RE = re.compile(r"""["']?\b(?P<key>JobI[dD]|(?:Source|Target|Requester)?NodeI[dD]|ExecutionI[dD])["']?"""
                          r"""\s*[:=]\s*["']?(?P<id>[A-Za-z0-9][\w-]{7,})""")
_KEY_COL = {"jobid": "job", "executionid": "execution"}
_B58 = "1-9A-HJ-NP-Za-km-z"
#: a libp2p peer id (Bacalhau's node id before 1.2: ``Qm`` + 44 base58, or its 8-character short form) where
#: the text names a node: after ``node``/``Node``/``peer``, in brackets (``[QmXjEWN5]``), or as a bullet's list
_PEER_RE = re.compile(r"(?:\b(?:[Nn]ode|[Pp]eer|NodeI[dD])s?:?\s+(?:[" + _B58 + r"]+, )*|\[|, )"
                      r"(?P<id>Qm[" + _B58 + r"]{44}|Qm[" + _B58 + r"]{6})(?![" + _B58 + r"])")
#: a full peer id anywhere but where a content id (CID) is meant (``/ipfs/``, ``ipfs://``, ``CID``)
_PEER_FULL_RE = re.compile(r"(?<![/\w])(?<!CID: )(?<!ipfs://)(?P<id>Qm[" + _B58 + r"]{44})(?![" + _B58 + r"/])")
#: a 2022 job id: a bare UUID written as a shard (``uuid:0``, ``uuid_0``) or after ``job``/``shard``
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_JOB_UUID_RE = re.compile(r"(?:\b(?:[Jj]ob|[Ss]hard)(?: ID)?:?\s+(?P<a>" + _UUID + r")|(?P<b>" + _UUID
                          + r")[:_]\d+\b)(?![\w-])")


def ids_by_grammar(text: str) -> dict[str, str]:
    """{column: id} for ids that no field names, read by their kind's grammar and what the text says they are:
    a key (``SourceNodeID:Qm…``), a peer id where a node is meant, a UUID written as a job or a shard. Prose
    and elisions are never ids: every id matches its kind's grammar."""
    out: dict[str, str] = {}
    for m in _KEYED_ID_RE.finditer(text):
        out.setdefault(_KEY_COL.get(m["key"].lower(), "node"), m["id"])
    if "node" not in out and "Qm" in text:
        m = _PEER_RE.search(text) or _PEER_FULL_RE.search(text)
        if m is not None:
            out["node"] = m["id"]
    if "job" not in out and (m := _JOB_UUID_RE.search(text)) is not None:
        out["job"] = m["a"] or m["b"]
    return out


def ids_by_shape(text: str) -> dict[str, str]:
    """{column: id} for ids written by their shape in ``text`` (the first of each kind)."""
    out: dict[str, str] = {}
    for rx in (SHAPE_FREE_RE, SHAPE_KEYED_RE):
        for m in rx.finditer(text):
            out.setdefault(_SHAPE_COL[m.group("kind")], m.group("id"))
    return out
_UP_ROWS = [(re.compile(m[3:]) if m.startswith("re:") else m, k, st) for m, k, st, _c in _up.MESSAGES]
# upstream messages that only a compute node (an edge) writes, by the file that writes them
_COMPUTE_SIDE = ("pkg/compute/", "pkg/transport/nclprotocol/compute/", "pkg/transport/bprotocol/compute/",
                 "pkg/node/compute")
EDGE_SIDE_PATTERNS = tuple(re.compile(m[3:] if m.startswith("re:") else re.escape(m))
                           for m, _k, _s, cit in _up.MESSAGES if cit.startswith(_COMPUTE_SIDE))


#: the kinds of row that can bear on a verdict (``analysis.delivery.relevant``; ``condense`` keeps them all)
RELEVANT_KINDS = ("state", "dispatch", "publish", "deliver", "node", "fault", "eval", "action", "reconcile")
#: the first words of the lines only an edge of ours writes
EDGE_MESSAGES = ("EDGE:", "Edge connected to orchestrator")


def edge_side(msg: str | None) -> bool:
    """Whether a message is one only an edge (compute node) writes: ours (``EDGE:``, the connect
    line) or an upstream compute-side one."""
    if not msg:
        return False
    if msg.startswith(EDGE_MESSAGES):
        return True
    return any(rx.search(msg) for rx in EDGE_SIDE_PATTERNS)


def edge_side_mask(msgs: Any) -> Any:
    """:func:`edge_side` of every message of an Arrow string array (null: False), as a numpy bool array: one
    RE2 search for the compute-side texts, no Python per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = msgs if isinstance(msgs, pa.Array | pa.ChunkedArray) else pa.array(msgs, pa.string())
    hit = pc.or_(pc.starts_with(arr, EDGE_MESSAGES[0]), pc.starts_with(arr, EDGE_MESSAGES[1]))
    hit = pc.or_(hit, pc.match_substring_regex(arr, EDGE_SIDE_RE2))
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)


#: :data:`EDGE_SIDE_PATTERNS` as one RE2 search (Arrow's ``match_substring_regex``)
EDGE_SIDE_RE2 = "|".join("(?:" + rx.pattern + ")" for rx in EDGE_SIDE_PATTERNS)
_EXEC_CHANGED = re.compile(_up.EXEC_STATE_CHANGED_RE)
_DESIRED_CHANGED = re.compile(_up.EXEC_DESIRED_STATE_CHANGED_RE)
_HANDSHAKE = re.compile(_up.HANDSHAKE_SUCCESS_RE)
_IDS_IN_MSG = (re.compile(_up.NODE_UNHEALTHY_RE), re.compile(_up.EVAL_ENQUEUED_RE),
               re.compile(r"^(?:Accepting|Rejecting) bid for execution (?P<execution>\S+)"),
               re.compile(r"^Execution (?P<execution>e-\S+) (?:completed|failed)$"))


def map_upstream(msg: str) -> tuple[str, str | None, dict[str, str]]:
    """(kind, state, ids found in the text) for an upstream (Bacalhau) message; ``log`` if none."""
    for match, kind, state in _UP_ROWS:
        hit = match.search(msg) if isinstance(match, re.Pattern) else (match in msg)
        if not hit:
            continue
        ids: dict[str, str] = {}
        st: str | None = state or None
        if kind == "state":
            m = _EXEC_CHANGED.search(msg)
            if m:
                st = m.group("new")
                if m.group("new_desired"):
                    ids["desired"] = _up.DESIRED_STATE_OURS.get(m.group("new_desired"), m.group("new_desired").lower())
            elif (m := _DESIRED_CHANGED.search(msg)) is not None:
                ids["desired"] = _up.DESIRED_STATE_OURS.get(m.group("new_desired"), m.group("new_desired").lower())
            st = _up.COMPUTE_STATE_OURS.get(st, st.lower()) if st else None
        elif kind == "node" and (m := _HANDSHAKE.search(msg)) is not None:
            ids["node"] = m.group("node")
        for rx in _IDS_IN_MSG:
            if (m := rx.search(msg)) is not None:
                ids.update({k: v for k, v in m.groupdict().items() if v and k in ("node", "job", "execution")})
        return kind, st, ids
    return "log", None, {}


def ns_from_parts(
    y: int, mo: int, d: int, h: int, mi: int, s: int, frac: str | None, off_s: int
) -> int | None:
    """Nanoseconds since the epoch, or None when the parts are no valid date/time."""
    if not (1678 <= y <= 2261) or h > 23 or mi > 59 or s > 59:
        return None
    try:
        days = _date(y, mo, d).toordinal() - _EPOCH_ORD
    except ValueError:
        return None
    frac_ns = int(frac.ljust(9, "0")) if frac else 0
    return (days * 86400 + h * 3600 + mi * 60 + s - off_s) * NS + frac_ns


def parse_rfc3339(text: str) -> int | None:
    """``2025-12-25T20:14:03.512Z`` (any fraction, Z/offset/none = UTC) → ns, else None."""
    m = RFC3339_RE.fullmatch(text)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    off = 0
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        z = zone[1:].replace(":", "")
        off = sign * (int(z[:2]) * 3600 + int(z[2:]) * 60)
    return ns_from_parts(int(y), int(mo), int(d), int(h), int(mi), int(s), frac, off)


def parse_unix(raw: str) -> int | None:
    """A zerolog unix time (s, ms, µs or ns, chosen by magnitude) → ns, else None."""
    try:
        from decimal import Decimal, InvalidOperation

        v = Decimal(raw)
    except (InvalidOperation, ValueError):
        return None
    if not v.is_finite():
        return None
    mag = abs(v)
    scale = NS if mag < 10**11 else 10**6 if mag < 10**14 else 10**3 if mag < 10**17 else 1
    ns = int(v * scale)
    return ns if -(2**62) < ns < 2**62 else None


def parse_tod(text: str) -> int | None:
    """``20:14:03.512`` → ns since midnight, else None."""
    m = CONSOLE_TOD_RE.fullmatch(text)
    if m is None:
        return None
    h, mi, s, frac = m.groups()
    if int(h) > 23 or int(mi) > 59 or int(s) > 59:
        return None
    return (int(h) * 3600 + int(mi) * 60 + int(s)) * NS + (int(frac.ljust(9, "0")) if frac else 0)


def unquote(v: str) -> str:
    """The value of a logfmt token: Go-quoted strings are unescaped, bare ones kept."""
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        inner = v[1:-1]
        if "\\" not in inner:
            return inner
        try:
            out = json.loads(v)
        except ValueError:
            try:
                out = ast.literal_eval(v)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return inner
        return out if isinstance(out, str) else inner
    return v


def render(v: object) -> str:
    """A JSON value as a logfmt value (numbers arrive as their raw text)."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if not isinstance(v, str):
        v = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    if v == "" or any(c in v for c in ' ="\\\n\t'):
        return json.dumps(v, ensure_ascii=False)
    return v


# ---- seed-style messages (docs/seed-style-logs.md) ----------------------------------------------
# The instrumented messages with words after them ("REEVALUATOR: Created evaluation for job j-1 (trigger=…)")
# read as the message they extend; a bare "PUBLISH:" (the seed README's "PUBLISH: connection_exists=true
# connection_alive=true", whose fields a console writer puts after the message) is the connection check.
_EXTENDABLE = sorted((k for k in LOG_MESSAGES if re.match(r"[A-Z]+: ", k)), key=len, reverse=True)
EXTENDED_RE = re.compile(r"^(?:" + "|".join(re.escape(k) for k in _EXTENDABLE) + r")[ (:,.;-]|^PUBLISH:$")


def canonical(msg: str | None) -> str | None:
    """The :data:`LOG_MESSAGES` key a message is (exactly), or extends, or None."""
    if msg is None:
        return None
    if msg in LOG_MESSAGES:
        return msg
    if msg == "PUBLISH:":
        return PUBLISH_CHECK_MSG
    if EXTENDED_RE.match(msg):
        return next(k for k in _EXTENDABLE if msg.startswith(k))
    return None


_NODE_VERBS = {"connected": "connected", "reconnected": "connected", "joined": "connected", "rejoined": "connected",
               "disconnected": "disconnected", "left": "disconnected", "lost": "lost"}
# (regex on the message, kind, state): the words around the seed's lines in a maintainer's own log. Each
# reads a line no exact, extended or upstream rule read; the node rule's ``id`` group is the node when no key
# names it. Case-blind, anchored at the message's start.
SEED_MESSAGES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    # a job line: "job deployed", "Job submitted", "created job", "JOB: registered new job" → the job's deploy
    (re.compile(r"(?i)^(?:job:\s*)?(?:job\s+(?:deployed|submitted|created|registered|stored|accepted)"
                r"|(?:deployed|deploying|submitted|created|registered|stored|accepted)\s+(?:a\s+)?(?:new\s+)?job)"
                r"(?!\s*eval)\b"), "state", "pending"),
    # the orchestrator's belief about a node: "node connected", "Node joined", "node n-1 disconnected"
    (re.compile(r"(?i)^(?:node:\s*)?node(?:\s+(?P<id>[^\s=]+))?\s+(?:is\s+(?:now\s+)?)?"
                r"(?P<verb>connected|reconnected|joined|rejoined|disconnected|left|lost)\b"), "node", ""),
    # the reconciler's warning: "reconciler: job stuck in deploying", "stuck job detected"
    (re.compile(r"(?i)^(?:reconciler:?\s*)?(?:.*\bjobs?\b.*\bstuck\b|.*\bstuck\b.*\b(?:jobs?|deploying)\b)"),
     "reconcile", "stuck"),
    # an edge's receipt of a run request, other words than the instrumented "EDGE: Received RunExecutionRequest"
    (re.compile(r"(?i)^(?:edge:\s*)?received\s+(?:an?\s+)?(?:RunExecutionRequest|run\s+(?:execution\s+)?request"
                r"|execution\s+request)\b"), "deliver", "delivered"),
    # an execution running on its edge: "execution running", "execution e-1 started", "pipeline started"
    (re.compile(r"(?i)^(?:edge:\s*)?(?:execution|pipeline)(?:\s+[^\s=]+)?\s+(?:is\s+)?(?:started|running)\b"),
     "state", "running"),
)
#: the seed rules for Arrow's RE2 on a whole line: a line whose message may be read by one of them goes to the
#: per-line parser on the vectorised path (a superset: the per-line parser decides). Only messages that do not
#: start like an instrumented one need it (the vectorised parser sends those that do to the per-line parser
#: unless they are one exactly), so it looks where a message starts: after ``msg=``, ``"msg":"``,
#: ``"message":"`` or a level token (and its caller); "stuck" anywhere.
_MSG_START = (r'(?:^|msg="?|"(?:msg|message)"\s*:\s*"|(?:^|[^=\w])(?:TRC|DBG|INF|WRN|ERR|FTL|PNC|TRACE|DEBUG|INFO'
              r"|WARN|WARNING|ERROR|FATAL|PANIC) (?:(?:\S+ )?> )?)")
# the rules' optional heads, in the cases an instrumented head does not take (the vectorised parser sends "EDGE: …",
# "JOB: …", "NODE: …", "RECONCILER: …" lines that are no instrumented message to the per-line parser itself)
_SEED_HEADS = r"(?:[jJ]ob:\s*|[nN]ode:\s*|[rR]econciler:?\s*|[eE]dge:\s*)?"
SEED_HINT = (r"(?i:\bstuck\b)|" + _MSG_START + _SEED_HEADS + r"(?i:"
             r"job\s+(?:deployed|submitted|created|registered|stored|accepted)"
             r"|(?:deployed|deploying|submitted|created|registered|stored|accepted)\s+(?:a\s+)?(?:new\s+)?job"
             r'|node\b[^=\n"]*\b(?:connected|reconnected|joined|rejoined|disconnected|left|lost)\b'
             r"|received\s+(?:an?\s+)?(?:RunExecutionRequest|run\s|execution\s+request)"
             r'|(?:execution|pipeline)\b[^=\n"]*\b(?:started|running)\b)')
# lines that may hold a seed-style message: the per-line parser reads them (unless their message is an instrumented
# one exactly, which no seed rule reads: the vectorised path keeps those)
#: ids the per-line parser reads by their grammar (:func:`ids_by_grammar`: a key like ``NodeID:``, a peer id, a UUID
#: written as a job or a shard), as a superset for RE2: such lines go to the per-line parser on the vectorised path
GRAMMAR_HINT = (r"Qm[1-9A-HJ-NP-Za-km-z]{6}|I[dD][\"']?\s*[:=]|(?:[Jj]ob|[Ss]hard)(?: ID)?:?\s+[0-9a-f]{8}-"
                r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[:_]\d")
UPSTREAM_HINT += "|" + GRAMMAR_HINT
#: ids the per-line parser reads named by a key or a word (:func:`repro_lib.capture.ids.named_ids`) where the byte
#: pass does not read them, as a superset for RE2: a key in an odd place (after `=`, `(`, `'`, `:"`…), or a word and
#: an id that carries no `n-`/`j-`/`e-` of its own (those go by :data:`SHAPE_HINT`)
_NAMED_WORD = r"(?i:job|shard|execution|exec|node|server|peer)"
NAMED_HINT = (r'(?:^|[^ ,{["\w.-]|[^,{]")' + _NAMED_WORD + r"(?:[ _-]?[iI][dD])?[\"']?\s*(?:\(\s*[iI][dD]\s*)?[:=-]?"
              r"""\s*["'(]?(?:[jen]-[0-9a-f]{8}|[0-9a-f]{8}|Qm|12D3KooW)"""
              r"|\b" + _NAMED_WORD + r"(?:[ _-]?[iI][dD])?[\"']?\s*(?:\(\s*[iI][dD]\s*)?[:=-]?"
              r"""\s*["'(]?(?:[0-9a-f]{8}|Qm|12D3KooW)""")
UPSTREAM_HINT += "|" + NAMED_HINT
#: nats-server's own texts that :func:`map_msg` reads (:data:`NATS_SERVER_MESSAGES`), unanchored (a superset)
UPSTREAM_HINT += r"|Slow Consumer Detected|Stale Client Connection - Closing|connection closed: Stale Connection"
UPSTREAM_HINT += r"|Timed out on heartbeats"
#: every hint but :data:`SEED_HINT` and :data:`SHAPE_HINT`
OTHER_HINT = UPSTREAM_HINT
UPSTREAM_HINT = OTHER_HINT + "|" + SEED_HINT + "|" + SHAPE_HINT


def match_seed(msg: str | None) -> tuple[str, str, str | None] | None:
    """(kind, state, node id named in the message) for a seed-style message, else None."""
    if not msg:
        return None
    for rx, kind, state in SEED_MESSAGES:
        m = rx.match(msg)
        if m is not None:
            if kind == "node":
                return kind, _NODE_VERBS[m.group("verb").lower()], m.group("id")
            return kind, state, None
    return None


#: nats-server's and NATS Streaming's own texts for a connection the server closed (server/client.go,
#: nats-streaming-server/server/server.go): the faults that lose what the server still held for it
NATS_SERVER_MESSAGES = (
    (re.compile(r"^Slow Consumer Detected\b"), "fault", "slow_consumer"),
    (re.compile(r"^Stale Client Connection - Closing\b|connection closed: Stale Connection\b"), "fault", "stale_close"),
    (re.compile(r"^(?:STREAM: )?\[Client:[^\]]+\] Timed out on heartbeats\b"), "node", "disconnected"),
)


def map_msg(msg: str | None) -> tuple[str, str | None]:
    """(kind, state) for a message: exact LOG_MESSAGES match, then FAULT:/ACTION: prefixes, then an
    instrumented message with words after it, then the seed-style rules (:data:`SEED_MESSAGES`) where no
    upstream (Bacalhau) text matches."""
    if msg is None:
        return "log", None
    hit = LOG_MESSAGES.get(msg)
    if hit is not None:
        kind, state = hit
        return kind, (state or None)
    for prefix, kind in (("FAULT:", "fault"), ("ACTION:", "action")):
        if msg.startswith(prefix):
            words = msg[len(prefix):].split()
            return kind, (words[0] if words else None)
    key = canonical(msg)
    if key is not None:
        kind, state = LOG_MESSAGES[key]
        return kind, (state or None)
    for pattern, kind, state in NATS_SERVER_MESSAGES:
        if pattern.search(msg):
            return kind, state
    if (seed := match_seed(msg)) is not None and map_upstream(msg)[0] == "log":  # an upstream text wins
        return seed[0], seed[1] or None
    return "log", None
