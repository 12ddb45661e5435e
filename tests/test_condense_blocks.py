"""The per-block steps of the condensed reading that search every line: `zone_evidence` (the zone written first in
each line, found by an anchored search where the line starts with one) and `condense`'s alarm search (run only on
the lines no other rule keeps), each against a plain reference."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pandas as pd

from repro_lib.capture.condense import condense
from repro_lib.capture.logs import frame_from_bytes
from repro_lib.capture.zones import _EXPLICIT_RE2, _LEAD_RE2, _LEAD_ZONED_RE2, _offset, zone_evidence

LINES = [
    "2025-03-01T10:00:00.123456789Z time=2025-03-01T10:00:00.123+01:00 level=INFO msg=\"API: listening\"",
    "2025-03-01T10:00:01+02:00 level=INFO msg=hello start_time=2025-03-01T08:00:00Z",
    "10:00:02.5 | INF > a console line at=2025-03-01 10:00:02 -0700",
    "10:00:03 | INF > a console line with no zone",
    "2025-03-01 10:00:04,5 +05:30 a space before the zone",
    "no time at all",
    "[12] 2025/03/01 10:00:05.000000 [INF] a nats-server line started_at=2025-03-01T10:00:05-03:00",
    "2025-03-01T10:00:06Z",
]


def _reference(lines: list[str]) -> Counter[timedelta]:
    rx = re.compile(_EXPLICIT_RE2, re.ASCII)
    out: Counter[timedelta] = Counter()
    for line in lines:
        m = rx.search(line)
        if m:
            out[_offset(m.group("zone"))] += 1
    return out


def test_zone_evidence_counts_the_first_zone_of_each_line() -> None:
    lines = LINES * 3
    f = frame_from_bytes(("\n".join(lines) + "\n").encode(), "orchestrator", fast=False)
    _naive, offsets = zone_evidence(f)
    want = _reference(list(f["line"]))
    assert offsets == want
    assert set(want) == {timedelta(0), timedelta(hours=2), timedelta(hours=-7), timedelta(hours=5, minutes=30),
                         timedelta(hours=-3)}


def _state(i: int) -> str:
    return (f'2025-03-01T10:00:{i:02d}Z time=2025-03-01T10:00:{i:02d}Z level=INFO msg="EXECUTION: state changed" '
            f"execution_id=e-{i:08x} job_id=j node_id=n-00000001 state=pending desired=running")


def test_an_alarm_among_kept_rows_is_kept_and_a_plain_line_is_not() -> None:
    lines = [_state(i) for i in range(40)]
    lines[10] = '2025-03-01T10:00:10Z time=2025-03-01T10:00:10Z level=INFO msg="worker said" why="FATAL Error: boom"'
    lines[20] = '2025-03-01T10:00:20Z time=2025-03-01T10:00:20Z level=INFO msg="worker said" why="nothing odd"'
    f = frame_from_bytes(("\n".join(lines) + "\n").encode(), "orchestrator", fast=True)
    keep, tot = condense(f)
    rows = {str(x): k for x, k in zip(f["line"], keep, strict=True)}
    assert rows[lines[10]] and not rows[lines[20]]
    assert tot.kept == len(lines) - 1


def test_zone_evidence_on_generated_lines_with_z_and_offsets_in_any_order() -> None:
    """Lines holding `Z` times, offset times (with or without a colon, after spaces, with `.`/`,` fractions) and
    broken ones, in random order and number: the first zone of each line counted as the reference counts it."""
    import random

    rng = random.Random(7)
    parts = ["2025-03-01T10:00:00Z", "2025-03-01 10:00:00.5 +05:30", "2025-03-01T10:00:00,25-0700",
             "2025-03-01T10:00:00.123456789Z", "2025-03-01T10:00:00+02:00", "2025-03-01T10:00:00.Z",
             "2025-03-01T10:00:00 UTC", "12025-03-01T10:00:00Z", "10:00:00 | INF >", "x=", " ", "msg=\"a b\""]
    lines = ["".join(rng.choice(parts) for _ in range(rng.randrange(0, 5))) or "empty" for _ in range(3000)]
    f = frame_from_bytes(("\n".join(lines) + "\n").encode(), "orchestrator", fast=False)
    naive, offsets = zone_evidence(f)
    want = _reference(list(f["line"]))
    assert offsets == want and list(offsets) == list(want)  # the counts, in the order first seen
    assert len(want) == 4 and min(want.values()) > 100
    lead, zoned = re.compile(_LEAD_RE2, re.ASCII), re.compile(_LEAD_ZONED_RE2, re.ASCII)
    ref = [bool(lead.search(x)) and not zoned.search(x) and t is not pd.NaT
           for x, t in zip(f["line"], f["t"], strict=True)]
    assert naive.tolist() == ref and 100 < sum(ref) < len(ref) - 100


def test_starts_with_digit_reads_each_lines_first_byte() -> None:
    import pyarrow as pa

    from repro_lib.capture.zones import _starts_with_digit

    rows = ["1a", "", "a1", "9", " 1", "é1", "0", ""]
    want = [True, False, False, True, False, False, True, False]
    arr = pa.array(rows)
    assert _starts_with_digit(arr).tolist() == want
    assert _starts_with_digit(arr.slice(2, 4)).tolist() == want[2:6]
    assert _starts_with_digit(arr.cast(pa.large_string())).tolist() == want
    assert _starts_with_digit(pa.chunked_array([arr.slice(0, 3), arr.slice(3)])).tolist() == want
    assert _starts_with_digit(pa.array(["", ""])).tolist() == [False, False]
