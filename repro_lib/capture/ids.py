"""The grammar of an id, per kind: what may stand in a node, job or execution column.

Bacalhau and Expanso print their ids in a few shapes, whole or cut to a prefix by the CLI (``--wide`` prints
them whole):

- ``j-``/``e-``/``n-`` + a UUID (1.2 on), or its first 8 hex digits: ``e-0e2ff6bd``;
- a bare UUID (jobs and executions before 1.2, and ``job describe <uuid>``), or its first 8 hex digits;
- a libp2p peer id (node ids before 1.2): ``Qm`` + 44 base58 characters (CIDv0 shape), or ``12D3KooW`` + 44,
  or the 8-character prefix the CLI prints (``QmXaXu9N``);
- a node's name (``node-0``, ``compute-1``, a host name) — only where a column or a key says "node": a word
  in prose is never a node.

Prose and elisions are never ids: ``ed for brevi`` (a cut ``... (trimmed for brevity) ...``), ``... [Addit``,
``Docker ubuntu echo h...``, ``<none>``, ``-``. :func:`id_of` checks one value against a kind's grammar;
:func:`ids_in` finds every id a text writes by its shape alone (no column needed: only shapes no prose has).
"""

from __future__ import annotations

import re

__all__ = ["id_of", "ids_in", "kind_by_shape", "B58", "ID_TOKEN"]

B58 = "1-9A-HJ-NP-Za-km-z"
_HEX8 = r"[0-9a-f]{8}"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_PREFIXED = re.compile(rf"(?P<k>[jen])-(?:{_UUID}|{_HEX8})")
_BARE = re.compile(rf"{_UUID}|{_HEX8}")
_PEER = re.compile(rf"Qm[{B58}]{{44}}|Qm[{B58}]{{6}}|12D3KooW[{B58}]{{44}}|12D3KooW[{B58}]{{4,8}}")
#: a node's name where a column or key says node: a host-name-like token with a letter, no spaces, no elision
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{1,62}")
_NOT_NAMES = frozenset({"id", "ids", "list", "none", "null", "nil", "n/a", "na", "unknown", "node", "nodes", "true",
                        "false", "yes", "no", "all", "local", "remote", "requester", "compute", "hybrid",
                        "connected", "disconnected", "approved", "pending", "rejected"})
_ELLIPSIS = re.compile(r"(?:\.\.\.|…)$")
#: every token that may be an id, for scanning a text (shape only: a name needs a column)
ID_TOKEN = re.compile(rf"(?<![\w./-])(?:[jen]-(?:{_UUID}|{_HEX8})|{_UUID}|Qm[{B58}]{{44}}|12D3KooW[{B58}]{{44}})"
                      rf"(?![\w-])")
_COL = {"j": "job", "e": "execution", "n": "node"}


def kind_by_shape(value: str) -> str | None:
    """The kind an id's shape alone tells (``job``, ``execution``, ``node``), ``uuid`` for a bare UUID or
    8-hex prefix (its kind is its column's), or None when ``value`` is no id of any shape."""
    v = value.strip()
    if (m := _PREFIXED.fullmatch(v)) is not None:
        return _COL[m["k"]]
    if _PEER.fullmatch(v):
        return "node"
    if _BARE.fullmatch(v):
        return "uuid"
    return None


def id_of(value: object, kind: str) -> str | None:
    """``value`` as an id of ``kind`` (``node``, ``job``, ``execution``) when it matches that kind's grammar,
    else None. A trailing ``...`` (a cut cell) is dropped when what is left is still an id; a node may be a
    name (the caller has a column or key that says node)."""
    if not isinstance(value, str):
        return None
    v = value.strip().strip("'\"`")
    if _ELLIPSIS.search(v):
        v = _ELLIPSIS.sub("", v)
        if kind_by_shape(v) is None:
            return None  # an elided cell that is no id's prefix: prose
    shape = kind_by_shape(v)
    if shape == kind or shape == "uuid":
        return v
    if shape is not None:
        return None  # an id of another kind
    if kind == "node" and _NAME.fullmatch(v) and v.lower() not in _NOT_NAMES and re.search(r"[A-Za-z]", v) \
            and not v.endswith((".", ":")):
        return v
    return None


def ids_in(text: str) -> dict[str, list[str]]:
    """Every id ``text`` writes by a shape no prose has ({kind: ids in order, distinct}); bare UUIDs under
    ``uuid`` (their kind is the context's). Short prefixes (``e-0e2ff6bd``, ``QmXaXu9N``) count only
    when written with their kind's letter or a ``Qm`` and followed by no other word character."""
    out: dict[str, list[str]] = {}
    for m in ID_TOKEN.finditer(text or ""):
        k = kind_by_shape(m.group(0)) or "uuid"
        if k == "uuid" and len(m.group(0)) < 36:
            continue  # 8 hex digits alone: a hash, a port, a colour — not an id without a column
        lst = out.setdefault(k, [])
        if m.group(0) not in lst:
            lst.append(m.group(0))
    for m in re.finditer(rf"(?<![\w/])Qm[{B58}]{{6}}(?![\w])", text or ""):
        lst = out.setdefault("node", [])
        if m.group(0) not in lst:
            lst.append(m.group(0))
    return out


_WORD_KIND = {"job": "job", "jobs": "job", "shard": "job", "execution": "execution", "exec": "execution",
              "node": "node", "nodes": "node", "server": "node", "peer": "node", "host": "node"}
#: an id named by what the text says it is: a key in any case and separator (``job_id``, ``"JobID"``, ``nodeId``,
#: ``Node ID``), a word and an id (``job 'c133…'``, ``Job (id: 65a1…)``, ``Server (id: Qm…)``), a libp2p address's
#: peer (``/p2p/Qm…``), a results folder's host (``…-host-Qm…``)
_ANY_ID = (rf"[jen]-{_UUID}|[jen]-{_HEX8}|{_UUID}(?:[:_]\d+)?|{_HEX8}|Qm[{B58}]{{44}}|Qm[{B58}]{{6}}"
           rf"|12D3KooW[{B58}]{{44}}")
_NAMED = re.compile(
    r"""(?<!=)(?i:(?P<w>\b(?:job|shard|execution|exec|node|server|peer)(?:[ _-]?id)?)"""
    r"""["']?\s*(?:\(\s*id\s*)?[:=-]?\s*)"""
    rf"""["'(]?(?P<id>{_ANY_ID})(?!\w)|/p2p/(?P<p>Qm[{B58}]{{44}}|12D3KooW[{B58}]{{44}})|-host-(?P<h>Qm[{B58}]{{44}})""")


def named_ids(text: str) -> dict[str, str]:
    """{column: the first id of each kind ``text`` names by a key or a word} — each checked against its kind's
    grammar, so ``job failed``, ``node list`` or ``… (trimmed for brevity) …`` name none."""
    out: dict[str, str] = {}
    for m in _NAMED.finditer(text or ""):
        if m["p"] or m["h"]:
            out.setdefault("node", m["p"] or m["h"])
            continue
        kind = _WORD_KIND[re.sub(r"[ _-]?id$", "", m["w"].lower())]
        v = m["id"]
        if kind == "job" and (s := re.fullmatch(r"(" + _UUID + r")[:_]\d+", v)):
            v = s.group(1)  # a shard: `uuid:0`
        shape = kind_by_shape(v)
        if shape is None or (shape == "uuid" and len(v) < 36 and (kind == "node" or v.isdigit())):
            continue  # a name needs a column or a key; prose is none
        if (got := id_of(v, kind)) is not None:
            out.setdefault(kind, got)
    return out
