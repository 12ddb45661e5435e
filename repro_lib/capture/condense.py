"""Condensed reading: the rows a diagnosis can use, and counts of the rest, for inputs too big to hold.

A day of a big fleet's logs is millions of heartbeat and stats lines. :func:`condense` keeps, of one
parsed block, exactly the rows the analysis reads beyond counts — the first row of each source, every
row of a kind that bears on a verdict (``analysis.delivery.relevant``), every alarm line (panics,
fatal errors, the messages ``analysis.diagnosis.alarms`` looks for), every line only an edge writes
(``EDGE:`` lines, the upstream compute-side messages), the first ``DEBUG`` line, per source its
earliest and latest parsed row, per (source, node) the last parsed row naming the node, per job one
row with an execution id, and the earliest and latest row by time — and counts the rest in
:class:`Totals`: lines and parsed lines per source, rows per kind, rows without a date. The analysis
functions read those counts where they would count rows (``inspect.sources_read``,
``analysis.delivery.edge_nodes``, ``Inspection.text``), so a condensed table gives the same verdict,
diagnosis and text as the full one: ``tests/test_condense.py`` checks it on generated fleets, on sim
runs in every format and on every real fixture, cut into 16 KiB blocks.

Two counts are taken per block before the zones are settled (they are decided once every file is
read): rows without a date, and so the "no date" note, count a zoneless time-of-day row shifted
across midnight by its zone where the full table would not — our reading of a case no log we have
shows.
"""

from __future__ import annotations

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


def _first_per(keys: np.ndarray, rows: np.ndarray, last: bool = False) -> np.ndarray:
    """Of ``rows`` (positions, in order), the first (or last) one of each distinct key."""
    if not len(rows):
        return rows
    k = pd.Series(keys[rows])
    pick = ~k.duplicated(keep="last" if last else "first").to_numpy()
    return rows[pick]


def condense(block: pd.DataFrame, naive: np.ndarray | None = None) -> tuple[np.ndarray, Totals]:
    """(a mask of the rows of ``block`` to keep, the counts of all its rows). ``naive``: the rows whose
    time is read in a zone settled later (their earliest and latest are kept apart from the rest's,
    since the shift may reorder them)."""
    from repro_lib.capture._common import EDGE_MESSAGES, RELEVANT_KINDS, edge_side
    from repro_lib.capture.zones import arrow_strings

    n = len(block)
    if not n:
        return np.zeros(0, dtype=bool), Totals()
    import pyarrow.compute as pc

    tot = count(block)
    src = block["source"].to_numpy(dtype=object, na_value=None)
    kind = block["kind"].to_numpy(dtype=object, na_value=None)
    parsed = kind != "raw"

    keep = np.isin(kind, list(RELEVANT_KINDS))
    keep[_first_per(src, np.arange(n))] = True  # every source read has a row (its role is judged per source)
    # alarms: the needles anywhere in the line (one case-blind pass), and panic/fatal levels
    text = arrow_strings(block["line"])
    keep |= pc.fill_null(pc.match_substring_regex(text, _ALARM_RE2, ignore_case=True), False).to_numpy(
        zero_copy_only=False)
    if "level" in block:
        codes, uniq = pd.factorize(block["level"].to_numpy(dtype=object, na_value=None), use_na_sentinel=False)
        level = np.array([str(u).upper() for u in uniq], dtype=object)[codes]
    else:
        level = np.full(n, "", dtype=object)
    keep |= np.isin(level, ["PANIC", "FATAL"])
    debug = np.flatnonzero(level == "DEBUG")
    keep[debug[:1]] = True
    # lines only an edge writes (decided once per distinct message: a fleet repeats a few hundred)
    if "msg" in block:
        codes, uniq = pd.factorize(block["msg"].to_numpy(dtype=object, na_value=None))
        said = np.array([isinstance(m, str) and (m.startswith(EDGE_MESSAGES) or edge_side(m)) for m in uniq],
                        dtype=bool)
        if said.any():
            keep |= (codes >= 0) & said[np.maximum(codes, 0)]
    # per source: earliest and latest parsed row (edge_nodes' first_s/last_s) and rows with no time
    t = block["t"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    nat = t == np.iinfo(np.int64).min
    p_rows = np.flatnonzero(parsed)
    if len(p_rows):
        order = p_rows[np.argsort(t[p_rows], kind="stable")]
        keep[_first_per(src, order)] = True
        keep[_first_per(src, order[~nat[order]], last=True)] = True
        keep[_first_per(src, p_rows[nat[p_rows]])] = True
    # per (source, node): the last parsed row naming the node (who speaks for it, and its latest id)
    node = block["node"].to_numpy(dtype=object, na_value=None)
    named = np.flatnonzero(parsed & (node != None))  # noqa: E711 - elementwise
    if len(named):
        s_code = pd.factorize(src[named])[0].astype(np.int64)
        n_code = pd.factorize(node[named])[0].astype(np.int64)
        keep[named[_first_per(s_code * (int(n_code.max()) + 1) + n_code, np.arange(len(named)), last=True)]] = True
    # per job: one row with an execution id (a job "with executions")
    job, ex = block["job"].to_numpy(dtype=object, na_value=None), block["execution"].to_numpy(dtype=object,
                                                                                              na_value=None)
    with_ex = np.flatnonzero((ex != None) & (job != None))  # noqa: E711
    keep[_first_per(job, with_ex)] = True
    # the earliest and latest row by time (t0 and the end of the evidence), zoned and zoneless apart
    nv = np.zeros(n, dtype=bool) if naive is None else naive
    for part in (np.flatnonzero(~nat & nv), np.flatnonzero(~nat & ~nv)):
        if len(part):
            keep[part[np.argmin(t[part])]] = True
            keep[part[np.argmax(t[part])]] = True
    tot.kept = int(keep.sum())
    return keep, tot


def count(frame: pd.DataFrame) -> Totals:
    """The counts of every row of ``frame`` (``kept``: all of them)."""
    from repro_lib.capture.logs import date_unknown

    tot = Totals(kept=len(frame))
    if not len(frame):
        return tot
    src = frame["source"].to_numpy(dtype=object, na_value=None)
    kind = frame["kind"].to_numpy(dtype=object, na_value=None)
    for into, values in ((tot.lines, src), (tot.parsed, src[kind != "raw"]), (tot.kinds, kind)):
        codes, uniq = pd.factorize(values, use_na_sentinel=False)
        into.update(dict(zip(uniq.tolist(), np.bincount(codes, minlength=len(uniq)).tolist(), strict=True)))
    tot.undated = int(date_unknown(frame["t"]).sum())
    return tot
