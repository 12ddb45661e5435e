"""``logs.first_group`` equals pandas' ``str.extract`` (Python's ``re``) on any lines: inspect's compose pattern,
read by byte positions and by RE2 once per distinct prefix, and any other pattern, read by RE2 on every line."""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro_lib.capture import logs
from repro_lib.capture.logs import first_group
from repro_lib.inspect import _SERVICE

# pieces of compose lines and of what breaks them: `|` in names and messages, whitespace RE2 and Python read
# apart (\v, \x1c, \x85, \u00a0), non-ASCII names, `-1`/`_2` suffixes, Docker's time, words ending in Z
_PIECE = st.sampled_from(["edge-17-1", "orchestrator", "nats_2", "-1", "_2", "-", "_", "1", " ", "   ", "\t", "\n",
                          "|", " | ", "||", "|x", " |\t", "| |", "2025-12-25T20:14:03Z ", "Z", "xZ", "é", "ü-3",
                          "\u00a0", "\x0b", "\x1c", "\x85", "\u2003", "heartbeat sent", "k=v", "a|b=c", "\x00"])
_LINE = st.lists(_PIECE, max_size=10).map("".join)
_LINES = st.lists(st.one_of(st.none(), _LINE, st.text(max_size=24)), max_size=30)


def _values(col: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else v for v in col]


def _want(col: pd.Series, pattern: re.Pattern[str]) -> list[str | None]:
    return _values(col.fillna("").astype(str).str.extract(pattern)[0])


def test_the_compose_pattern_is_inspects() -> None:
    """The byte path is taken for inspect's pattern (it is written out in logs.py: the two must not drift)."""
    assert _SERVICE.pattern == logs._COMPOSE_SERVICE


@settings(max_examples=400, deadline=None)
@given(_LINES, st.sampled_from(["str", "object"]), st.integers(0, 3), st.sampled_from([0, 1, 16]))
def test_compose_service_is_pandas_extract(lines: list[str | None], dtype: str, skip: int, words: int) -> None:
    """Lines as pandas holds them (Arrow-backed or objects), on an index of their own and sliced (the Arrow array
    then starts at an offset into its buffers); the `|` searched word by word for 0, 1 or 16 words, then among the
    sorted positions."""
    col = pd.Series(lines, dtype=dtype, index=[f"r{i}" for i in range(len(lines))]).iloc[skip:]
    kept = logs._PREFIX_WORDS
    logs._PREFIX_WORDS = words
    try:
        got = first_group(col, _SERVICE)
    finally:
        logs._PREFIX_WORDS = kept
    assert list(got.index) == list(col.index)
    assert _values(got) == _want(col, _SERVICE)


def test_prefix_past_the_words_searched() -> None:
    """A `|` and whitespace past the 128 bytes searched word by word (a long Docker time and service, a long line
    with a `|` late in it) is found among the sorted positions; a long line without one has no service."""
    lines = ["2025-12-25T20:14:03.512300000Z " + "x" * 150 + "-1  | 12:09:07 | INF a",
             "y" * 300 + "|x" + " " * 3 + "| m",
             "z" * 500,
             "w" * 140 + "|" + "\t" + "| q"]
    col = pd.Series(lines, dtype="str")
    assert _values(first_group(col, _SERVICE)) == _want(col, _SERVICE) == ["x" * 150, None, None, None]


@settings(max_examples=150, deadline=None)
@given(_LINES)
def test_other_patterns_are_pandas_extract(lines: list[str | None]) -> None:
    pattern = re.compile(r"^(?:\S+Z\s+)?([A-Za-z][\w.-]*?)\s+\|")  # not the compose pattern: every line by RE2
    col = pd.Series(lines, dtype="str")
    assert _values(first_group(col, pattern)) == _want(col, pattern)


def test_fleet_prefixes_read_once_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fleet's lines: RE2 reads each distinct prefix once, and the lines without a prefix give NA."""
    seen: list[int] = []
    real = pc.extract_regex
    monkeypatch.setattr(pc, "extract_regex", lambda a, p, seen=seen, real=real: seen.append(len(a)) or real(a, p))
    lines = [f"edge-{i % 50}-1{' ' * (i % 3)}  | 12:09:07 | INF heartbeat sent a|b seq={i}" for i in range(5000)]
    lines += ["no prefix here", "2025-12-25T20:14:03Z orchestrator-1  | x", "edge-1-1 |x", "edge-1-1 ||\tx"]
    col = pd.Series(lines, dtype="str")
    got = first_group(col, _SERVICE)
    assert _values(got) == _want(col, _SERVICE)
    assert seen == [150 + 2]  # 50 services x 3 paddings, the docker-timed line, `edge-1-1 ||\t`
    assert got.iloc[0] == "edge-0" and pd.isna(got.iloc[-4]) and got.iloc[-3] == "orchestrator"


def test_large_and_small_offsets_read_alike() -> None:
    """Arrow strings with 32-bit offsets (an ArrowDtype column) and 64-bit ones (pandas' str) read alike."""
    lines = ["edge-3-1  | x", None, "nats_2\t|\ty", "é | z", "xé-1 | z"]
    small = first_group(pd.Series(pd.array(pa.array(lines, pa.string()), dtype=pd.ArrowDtype(pa.string()))),
                        _SERVICE)
    assert _values(small) == ["edge-3", None, "nats", None, "xé"]
    assert _values(first_group(pd.Series(lines, dtype="str"), _SERVICE)) == _values(small)
