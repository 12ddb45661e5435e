"""The byte pass's RFC 3339 reader (`_bytes._rfc`: SWAR digits, the zone read as one word, days from year and month
tables) against the per-line reader (`_common.parse_rfc3339`) on every shape it accepts and many it must not, and
its day tables against the civil-date formula on every date it reads; the string views of byte spans read back."""

from __future__ import annotations

import random
import re

import numpy as np
import pyarrow as pa

from repro_lib.capture import _bytes
from repro_lib.capture._common import parse_rfc3339


def test_day_tables_equal_the_civil_formula_on_every_date_read() -> None:
    y, mo, dd = (a.ravel() for a in np.meshgrid(np.arange(1678, 2262), np.arange(1, 13), np.arange(1, 32),
                                                indexing="ij"))
    yi = y - _bytes._Y0
    leap = _bytes._LEAP[yi]
    got = _bytes._YEAR_DAYS[yi] + _bytes._MONTH_DAYS[mo - 1] + ((mo > 2) & leap) + dd - 1
    assert (got == _bytes._days(y, mo, dd)).all()
    assert _bytes._LEAP.sum() == sum(1 for v in range(1678, 2262) if v % 4 == 0 and (v % 100 != 0 or v % 400 == 0))


def _texts(seed: int, k: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(k):
        y = rng.choice([1677, 1678, 1970, 2000, 2024, 2025, 2100, 2261, 2262, rng.randrange(1000, 9999)])
        text = (f"{y:04d}-{rng.randrange(0, 14):02d}-{rng.randrange(0, 33):02d}T{rng.randrange(0, 25):02d}:"
                f"{rng.randrange(0, 61):02d}:{rng.randrange(0, 61):02d}")
        if rng.random() < 0.6:
            text += "." + "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 11)))
        text += rng.choice(["Z", "Z", "+00:00", "-07:00", "+05:30", "+23:59", "+24:00", "-0700", "+05:3x", "*05:30",
                            "+05;30", "z", "", "+é5:30"])
        if rng.random() < 0.1:  # a stray byte anywhere
            i = rng.randrange(len(text))
            text = text[:i] + rng.choice("x-:.é9 ") + text[i + 1:]
        out.append(text)
    return out


def test_rfc_reads_what_the_per_line_reader_reads_and_nothing_else() -> None:
    texts = _texts(1, 20000)
    raw = " ".join(texts).encode()
    ends = np.cumsum([len(t.encode()) + 1 for t in texts]) - 1
    starts = ends - np.array([len(t.encode()) for t in texts])
    ns, ok = _bytes._rfc(_bytes._Bytes(np.frombuffer(raw, np.uint8), own=True), starts, ends)
    ref = [parse_rfc3339(t) for t in texts]
    shape = re.compile(r"(\d{4})-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)", re.ASCII)
    want = [r is not None and (m := shape.fullmatch(t)) is not None and 1678 <= int(m.group(1)) <= 2261
            for t, r in zip(texts, ref, strict=True)]
    assert ok.tolist() == want  # the strict shape with a valid date, and only that
    assert [v for v, o in zip(ns.tolist(), want, strict=True) if o] == [r for r, o in zip(ref, want, strict=True) if o]
    assert 3000 < sum(want) < len(texts) - 3000


def test_views_are_the_byte_spans_asked_short_and_long_inline_or_not() -> None:
    """`_views` (string_view structs: up to 12 bytes inline, longer ones by buffer offset, from a base) reads back
    every span [p, q) of the buffer, null where not valid, empty spans included."""
    rng = np.random.default_rng(3)
    text = bytes(rng.integers(32, 127, 50_000).astype(np.uint8))
    base = 1000
    buf = b"\x00" * base + text
    m = 5000
    p = rng.integers(0, len(text) - 40, m)
    q = p + rng.integers(0, 30, m)
    valid = rng.random(m) < 0.8
    got = _bytes._views(pa.py_buffer(buf), base, p, q, valid, _bytes._Bytes(np.frombuffer(text, np.uint8), own=True))
    want = [text[a:b].decode() if v else None for a, b, v in zip(p.tolist(), q.tolist(), valid.tolist(), strict=True)]
    assert got.to_pylist() == want
    assert {len(w) for w in want if w is not None} >= {0, 4, 8, 12, 13, 29}
