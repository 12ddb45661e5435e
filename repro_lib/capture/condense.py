"""Condensed reading: the rows a diagnosis can use, and counts of the rest, for inputs too big to hold.

A day of a big fleet's logs is millions of heartbeat and stats lines. :func:`condense` keeps, of one
parsed block, exactly the rows the analysis reads beyond counts — the first row of each source, every
row of a kind that bears on a verdict (``analysis.delivery.relevant``), every alarm line (panics,
fatal errors, the messages ``analysis.diagnosis.alarms`` looks for), every line only an edge writes
(``EDGE:`` lines, the upstream compute-side messages), the first ``DEBUG`` line, per source its
earliest and latest parsed row, per (source, node) the first and last parsed rows naming the node, per job one
row with an execution id, and the earliest and latest row by time — and counts the rest in
:class:`Totals`: lines and parsed lines per source, rows per kind, rows without a date. The analysis
functions read those counts where they would count rows (``inspect.sources_read``,
``analysis.delivery.edge_nodes``, ``Inspection.text``), so a condensed table gives the same verdict,
diagnosis and text as the full one: ``tests/test_condense.py`` checks it on generated fleets, on sim
runs in every format and on every real fixture, cut into 16 KiB blocks.

Zones are settled once every file is read, so what depends on the order of rows is kept per class —
rows in a zone settled later, the others, rows with no time — and sorted out when the table is.
Files the per-line parser reads (up to 4 MiB) are never cut, and a block ends only before a record
with a full date of its own (:func:`repro_lib.capture.reader.read_log_blocks`).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Totals", "condense", "count", "totals_of"]

#: what :func:`repro_lib.analysis.diagnosis.alarms` searches every line for (kept in step with it by a test)
ALARM_NEEDLES = ("panic:", "fatal error:", "error creating node", "execution not found")
_ALARM_RE2 = "|".join(re.escape(x) for x in ALARM_NEEDLES)


@dataclass
class Totals:
    """Counts over every row read, kept rows and dropped rows alike."""

    lines: Counter[str] = field(default_factory=Counter)   # rows per source
    parsed: Counter[str] = field(default_factory=Counter)  # rows per source that are not ``raw``
    kinds: Counter[str] = field(default_factory=Counter)   # rows per kind
    undated: int = 0                                       # rows with a time of day but no date
    kept: int = 0                                          # rows kept

    @property
    def rows(self) -> int:
        return sum(self.lines.values())

    def add(self, other: Totals) -> None:
        self.lines.update(other.lines)
        self.parsed.update(other.parsed)
        self.kinds.update(other.kinds)
        self.undated += other.undated
        self.kept += other.kept


def totals_of(events: pd.DataFrame) -> Totals | None:
    """The :class:`Totals` a condensed table carries (None for a full table)."""
    got = events.attrs.get("condensed")
    return got if isinstance(got, Totals) else None


class _Codes:
    """A text column as int codes (-1: no value) into its few distinct ``values`` (Arrow's dictionary
    encoding: one hash pass, no Python object per row)."""

    def __init__(self, frame: pd.DataFrame, col: str) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        from repro_lib.capture.zones import arrow_strings

        if col not in frame:
            self.codes = np.full(len(frame), -1, dtype=np.int64)
            self.dictionary = pa.array([], pa.string())
            return
        arr = arrow_strings(frame[col])
        if isinstance(arr, pa.ChunkedArray):  # one dictionary for all rows
            arr = arr.combine_chunks()
        enc = pc.dictionary_encode(arr)
        self.codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        self.dictionary = enc.dictionary  # the values as Arrow (for kernels over them)

    @functools.cached_property
    def values(self) -> list[str]:
        """The distinct values as Python strings (made when asked: a fleet's messages are many)."""
        return self.dictionary.to_pylist()

    def code(self, value: str) -> int:
        return self.values.index(value) if value in self.values else -2

    def mask(self, values: tuple[str, ...] | list[str]) -> np.ndarray:
        return np.isin(self.codes, [self.code(v) for v in values])


def _first_per(keys: np.ndarray, rows: np.ndarray, last: bool = False) -> np.ndarray:
    """Of ``rows`` (positions, in order), the first (or last) one of each distinct key."""
    if not len(rows):
        return rows
    k = keys[rows]
    if last:
        _, at = np.unique(k[::-1], return_index=True)
        return np.sort(rows[len(rows) - 1 - at])
    _, at = np.unique(k, return_index=True)
    return np.sort(rows[at])


def condense(block: pd.DataFrame, naive: np.ndarray | None = None) -> tuple[np.ndarray, Totals]:
    """(a mask of the rows of ``block`` to keep, the counts of all its rows). ``naive``: the rows whose
    time is read in a zone settled later (their earliest and latest are kept apart from the rest's,
    since the shift may reorder them)."""
    from repro_lib.capture._common import RELEVANT_KINDS, edge_side_mask
    from repro_lib.capture.zones import arrow_strings

    n = len(block)
    if not n:
        return np.zeros(0, dtype=bool), Totals()
    import pyarrow as pa
    import pyarrow.compute as pc

    src, kind = _Codes(block, "source"), _Codes(block, "kind")
    tot = _count(block, src, kind)
    parsed = kind.codes != kind.code("raw")

    keep = kind.mask(RELEVANT_KINDS)
    keep[_first_per(src.codes, np.arange(n))] = True  # every source read has a row (its role is judged per source)
    # panic/fatal levels, the first DEBUG line
    level = _Codes(block, "level")
    upper = [str(v).upper() for v in level.values]  # by code: no string per row
    keep |= np.isin(level.codes, [i for i, u in enumerate(upper) if u in ("PANIC", "FATAL")])
    keep[np.flatnonzero(np.isin(level.codes, [i for i, u in enumerate(upper) if u == "DEBUG"]))[:1]] = True
    # lines only an edge writes (one RE2 search over the distinct messages: a fleet's carry ids, so they are many)
    msg = _Codes(block, "msg")
    said = np.append(edge_side_mask(msg.dictionary), False)
    keep |= said[msg.codes]
    # alarms: the needles anywhere in the line (one case-blind pass), on the lines not kept already (a seed-format
    # log's are nearly all kept by their kind)
    rest = np.flatnonzero(~keep)
    if len(rest):
        text = arrow_strings(block["line"])
        text = text if len(rest) == n else text.take(pa.array(rest))
        keep[rest] |= pc.fill_null(pc.match_substring_regex(text, _ALARM_RE2, ignore_case=True), False).to_numpy(
            zero_copy_only=False)
    # per source: earliest and latest parsed row (edge_nodes' first_s/last_s); per (source, node): the first and
    # last parsed rows naming the node (the order nodes are named in, who speaks for it, and its latest id) — as the
    # sorted table will have them: by time, zoneless rows apart (their zone, settled later, moves them), rows with no
    # time after
    t = block["t"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    nat = t == np.iinfo(np.int64).min
    nv = np.zeros(n, dtype=bool) if naive is None else naive
    classes = (~nat & nv, ~nat & ~nv, nat)
    p_rows = np.flatnonzero(parsed)
    node = _Codes(block, "node")
    named = p_rows[node.codes[p_rows] >= 0]
    pair = src.codes * (len(node.values) + 1) + node.codes
    for cls in classes:
        for rows, keys, first in ((p_rows, src.codes, True), (named, pair, True)):
            sub = rows[cls[rows]]
            if not len(sub):
                continue
            order = sub[np.argsort(t[sub], kind="stable")]
            if first:
                keep[_first_per(keys, order)] = True
            keep[_first_per(keys, order, last=True)] = True
    # per job: one row with an execution id (a job "with executions")
    job, ex = _Codes(block, "job"), _Codes(block, "execution")
    keep[_first_per(job.codes, np.flatnonzero((ex.codes >= 0) & (job.codes >= 0)))] = True
    # the earliest and latest row by time (t0 and the end of the evidence), zoned and zoneless apart
    for part in (np.flatnonzero(~nat & nv), np.flatnonzero(~nat & ~nv)):
        if len(part):
            keep[part[np.argmin(t[part])]] = True
            keep[part[np.argmax(t[part])]] = True
    tot.kept = int(keep.sum())
    return keep, tot


def count(frame: pd.DataFrame) -> Totals:
    """The counts of every row of ``frame`` (``kept``: all of them)."""
    tot = _count(frame, _Codes(frame, "source"), _Codes(frame, "kind")) if len(frame) else Totals()
    tot.kept = len(frame)
    return tot


def _count(frame: pd.DataFrame, src: _Codes, kind: _Codes) -> Totals:
    from repro_lib.capture.logs import date_unknown

    tot = Totals()
    parsed = kind.codes != kind.code("raw")
    for into, codes, values in ((tot.lines, src.codes, src.values), (tot.parsed, src.codes[parsed], src.values),
                                (tot.kinds, kind.codes, kind.values)):
        got = np.bincount(codes + 1, minlength=len(values) + 1)  # slot 0: no value
        into.update({v: int(c) for v, c in zip([None, *values], got.tolist(), strict=True) if c})
    tot.undated = int(date_unknown(frame["t"]).sum())
    return tot
