"""Where the block reader cuts: the date hint that skips windows must never change the cut."""

from __future__ import annotations

import random

import pytest

from repro_lib.capture import reader


def _cut_without_hint(buf: bytes, loose: bool, floor: int = 0) -> tuple[int, bool]:
    """:func:`reader._safe_cut` as it was before the hint: every window searched with the look-ahead."""
    saved = reader._DATE_HINT
    reader._DATE_HINT = type("Always", (), {"search": staticmethod(lambda *a: True)})()
    try:
        return reader._safe_cut(buf, loose, floor)
    finally:
        reader._DATE_HINT = saved


_DATED = "2026-12-02T05:00:{s:02d}.469Z level=INFO msg=\"NATS: connected\" url=nats://nats:4222"
_DOCKER = "2026-12-02T05:00:40.469268000Z time=2026-12-02T05:00:{s:02d}.469Z level=INFO msg=\"API: listening\""
_FLEET = "edge-{n}-1       | 00:00:{s:02d} | DBG heartbeat sent node_id=n-ac6289f7-e85a-1ee9-508d-be225edf44c0 seq=2"
_TRAP = "orchestrator-1  | 00:00:{s:02d} | INF id 12-34-56 not a date; 2026-1-2 neither"


def _buffer(rng: random.Random, n: int, dated_every: int) -> bytes:
    lines = []
    for i in range(n):
        s = i % 60
        if dated_every and rng.randrange(dated_every) == 0:
            lines.append(rng.choice([_DATED, _DOCKER]).format(s=s))
        else:
            lines.append(rng.choice([_FLEET, _TRAP]).format(n=rng.randrange(1000), s=s))
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("dated_every", [0, 3, 1_000, 10_000])
def test_cut_is_the_same_with_and_without_the_hint(dated_every: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "_WINDOW", 4096)  # many windows, dates on their edges
    rng = random.Random(dated_every)
    buf = _buffer(rng, 6_000, dated_every)
    for loose in (False, True):
        for floor in (0, len(buf) // 3, len(buf) - 10):
            assert reader._safe_cut(buf, loose, floor) == _cut_without_hint(buf, loose, floor)


def test_a_date_just_inside_a_window_is_still_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "_WINDOW", 256)
    plain = _FLEET.format(n=1, s=1).encode() + b"\n"
    dated = _DATED.format(s=2).encode() + b"\n"
    buf = plain * 40 + dated + plain * 40
    cut, loose = reader._safe_cut(buf, False)
    assert (cut, loose) == (len(plain) * 40, False)
    assert (cut, loose) == _cut_without_hint(buf, False)


def test_a_file_of_lines_that_start_with_their_date_is_cut_before_a_dated_record(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """zerolog with an RFC 3339 time first: every line is a record with a date of its own, so no cut is loose."""
    monkeypatch.setattr(reader, "_BLOCK", 64 << 10)
    path = tmp_path / "edge.log"
    line = "2026-12-02T05:{m:02d}:{s:02d}Z INF heartbeat sent node_id=n-ac6289f7 seq={i}\n"
    path.write_text("".join(line.format(m=i // 60 % 60, s=i % 60, i=i) for i in range(60_000)))
    blocks = list(reader.read_log_blocks(path, block_bytes=256 << 10))
    assert len(blocks) > 4
    assert blocks[-1][1].loose_cuts == 0
    assert all(b.startswith(b"2026-") for b, _ in blocks)
    assert b"".join(b for b, _ in blocks) == path.read_bytes()


def _fleet_file(path, n: int, first: str = "") -> bytes:
    rng = random.Random(n)
    text = first + "".join(_FLEET.format(n=rng.randrange(1000), s=i % 60) + "\n" for i in range(n))
    path.write_text(text)
    return text.encode()


def test_a_loose_block_with_no_date_in_it_is_read_in_block_sized_pieces(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet's compose lines carry no date: the reader waits four blocks for one, then cuts loosely; the
    loose block is handed on in block-sized pieces (each before a timed record), not whole."""
    monkeypatch.setattr(reader, "_BLOCK", 64 << 10)
    data = _fleet_file(tmp_path / "fleet.log", 40_000)
    size = 256 << 10
    blocks = list(reader.read_log_blocks(tmp_path / "fleet.log", block_bytes=size))
    assert b"".join(b for b, _ in blocks) == data
    assert len(blocks) >= len(data) // (2 * size)
    assert max(len(b) for b, _ in blocks[:-1]) <= size * 3 // 2 + 256
    assert all(b.startswith(b"edge-") for b, _ in blocks)
    assert blocks[-1][1].loose_cuts == len(blocks) - 1


def test_a_loose_block_that_opens_with_a_dated_record_is_not_cut_again(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first line's date dates the times of day after it: pieces would lose it, so the block stays whole."""
    monkeypatch.setattr(reader, "_BLOCK", 64 << 10)
    path = tmp_path / "fleet.log"
    data = _fleet_file(path, 40_000, first=_DATED.format(s=1) + "\n")
    size = 256 << 10
    blocks = list(reader.read_log_blocks(path, block_bytes=size))
    assert b"".join(b for b, _ in blocks) == data
    assert len(blocks[0][0]) > 3 * size  # the loose cut only, after four blocks


def test_blocks_end_near_their_size_not_a_whole_read_past_it(tmp_path) -> None:
    """The reader reads half a block at a time (not its 16 MiB reads): a block of a dated file ends within half a
    block and a line of its size, so a block's parse holds what its size says."""
    path = tmp_path / "orchestrator.log"
    line = "2026-12-02T05:{m:02d}:{s:02d}.000Z level=INFO msg=\"heartbeat received\" node_id=n-ac6289f7 seq={i}\n"
    path.write_text("".join(line.format(m=i // 60 % 60, s=i % 60, i=i) for i in range(40_000)))
    size = 256 << 10
    blocks = list(reader.read_log_blocks(path, block_bytes=size))
    assert len(blocks) >= path.stat().st_size // (2 * size)
    assert max(len(b) for b, _ in blocks[:-1]) <= size + size // 2 + 200
    assert b"".join(b for b, _ in blocks) == path.read_bytes()


@pytest.mark.parametrize("seed", range(3))
def test_hinted_is_the_date_hint_search(seed: int) -> None:
    """:func:`reader._hinted` (numpy over the dashes, for long ranges) finds exactly what ``_DATE_HINT`` finds: a
    dash-and-digit text with no date-like run in it, then one put in, with ranges that just hold it or just miss
    its first or last byte."""
    rng = random.Random(seed)
    base = bytearray(rng.choice(b"-0123456789a-") for _ in range(300_000))
    while (m := reader._DATE_HINT.search(base)) is not None:
        base[m.end() - 1] = ord("a")
    assert not reader._hinted(base, 0, len(base))
    for _ in range(15):
        buf = bytearray(base)
        at = rng.randrange(80_000, 200_000)
        buf[at - 1:at + 7] = b"a-12-08a"  # no date-like run across its edges
        for lo, hi, want in ((at - 70_000, at + 6, True), (at, at + 70_000, True), (at + 1, at + 70_000, False),
                             (at - 70_000, at + 5, False), (at - rng.randrange(0, 70_000), at + 70_000, True)):
            got = reader._DATE_HINT.search(buf, lo, hi) is not None
            assert got is want, (lo, hi)
            assert reader._hinted(buf, lo, hi) is want, (at, lo, hi)
            assert reader._hinted(bytes(buf), lo, hi) is want
