"""Reading a log file someone handed us: refuse what is not a file, sniff the encoding, cap lines.

:func:`read_log` returns UTF-8 bytes ready for the parser and a :class:`ReadNotes` saying what was
done to them. It streams the file in blocks, so a 200 MB file that is one line costs one block of
memory plus the capped line, never the whole line:

- a FIFO, socket or device is refused by type (reading a FIFO would block forever);
- a UTF-8 BOM is dropped; UTF-16 (with a BOM, as PowerShell's ``>`` writes it, or without one when
  every other byte is NUL) is decoded and re-encoded as UTF-8;
- undecodable bytes are replaced (U+FFFD) and counted;
- a line longer than ``max_line`` bytes keeps its first ``max_line`` bytes and a marker
  ``…[line cut: N bytes]`` — the parser and the ``line`` column never see more.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repro_lib.errors import ReproError

__all__ = ["ReadNotes", "read_log", "read_log_blocks", "check_log_path", "MAX_LINE", "cut_marker"]

MAX_LINE = 64 * 1024
_BLOCK = 16 << 20
_LONE_CR = re.compile(rb"\r(?!\n)")
_REPLACEMENT = "\ufffd"


@dataclass
class ReadNotes:
    """What reading did to the bytes: encoding, undecodable bytes replaced, lines cut."""

    encoding: str = "utf-8"
    undecodable: int = 0
    cut_lines: int = 0
    bytes_read: int = 0
    loose_cuts: int = 0  # blocks of a condensed reading cut with no record of its own date near (read_log_blocks)

    def describe(self) -> str:
        parts = []
        if self.encoding != "utf-8":
            parts.append(f"read as {self.encoding}")
        if self.undecodable:
            parts.append(f"{self.undecodable:,} undecodable byte(s) replaced")
        if self.cut_lines:
            parts.append(f"{self.cut_lines:,} line(s) longer than {MAX_LINE // 1024} KiB cut")
        if self.loose_cuts:
            parts.append(f"{self.loose_cuts:,} block(s) cut with no dated record near: times of day next to the cut "
                         "dated within their block (our reading)")
        return "; ".join(parts)


def cut_marker(total: int) -> bytes:
    return f"…[line cut: {total:,} bytes]".encode()


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def check_log_path(path: Path) -> None:
    """Raise a one-line :class:`ReproError` unless ``path`` is a readable regular file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ReproError(f"not found: {path}", hint="pass a run folder or log files") from None
    except OSError as e:
        raise ReproError(f"cannot read {path}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ReproError(f"{path} is a directory", hint="pass log files, or a run folder on its own")
    for test, what in _KINDS:
        if test(st.st_mode):
            raise ReproError(f"{path} is {what}, not a file",
                             hint="save the logs to a file first, e.g. docker logs --timestamps NAME > NAME.log")
    if not os.access(path, os.R_OK):
        raise ReproError(f"cannot read {path}: permission denied")


def _sniff(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:4096]
    if len(sample) >= 16:  # ASCII text in UTF-16 without a BOM: (nearly) every other byte NUL, the rest not
        even, odd = sample[0::2], sample[1::2]
        for nul, other, enc in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
            if nul.count(0) >= 0.9 * len(nul) and other.count(0) <= 0.05 * len(other):
                return enc
    return "utf-8"


class _Capper:
    """Streams UTF-8 bytes out with every line longer than ``max_line`` cut. A block whose lines are
    all short (the usual case) is checked with numpy and passed through whole."""

    def __init__(self, max_line: int) -> None:
        self.max = max_line
        self.out: list[bytes] = []
        self.cur = 0       # bytes of the current (unfinished) line seen so far
        self.cut = 0       # lines cut
        self._cr = False   # the last block ended with a CR

    def feed(self, data: bytes) -> None:
        if self._cr:  # the block before ended with a CR: is it half of a CRLF?
            data, self._cr = b"\r" + data, False
        if b"\r" in data:  # a lone CR ends a line too (old Mac files, terminal progress lines)
            if data.endswith(b"\r"):
                data, self._cr = data[:-1], True
            data = _LONE_CR.sub(b"\n", data)
        nl = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
        if len(nl):
            first, last = int(nl[0]), len(data) - int(nl[-1]) - 1
            longest = int((np.diff(nl) - 1).max()) if len(nl) > 1 else 0
            if self.cur + first <= self.max and longest <= self.max and last <= self.max:
                self.out.append(data)
                self.cur = last
                return
        elif self.cur + len(data) <= self.max:
            self.out.append(data)
            self.cur += len(data)
            return
        self._feed_slowly(data)

    def _feed_slowly(self, data: bytes) -> None:
        start, n = 0, len(data)
        while start < n:
            nl = data.find(b"\n", start)
            end = n if nl < 0 else nl
            room = self.max - self.cur
            if room > 0:
                self.out.append(data[start:start + min(end - start, room)])
            self.cur += end - start
            if nl < 0:
                return
            self._end_line()
            self.out.append(b"\n")
            start = nl + 1

    def _end_line(self) -> None:
        if self.cur > self.max:
            self.out.append(cut_marker(self.cur))
            self.cut += 1
        self.cur = 0

    def finish(self) -> bytes:
        if self._cr:  # the file ended with a lone CR
            self._cr = False
            self.feed(b"\n")
        self._end_line()
        return self.out[0] if len(self.out) == 1 else b"".join(self.out)


def _clean(path: Path, max_line: int) -> bytes | bytearray | None:
    """The whole file in one buffer, when it is UTF-8 (no BOM) with no line over ``max_line``:
    the usual case, read without a copy. None as soon as it is not (the first block is checked
    before the file's full size is allocated, so a file that is one huge line costs one block)."""
    size = path.stat().st_size
    if size <= 0:
        return None  # /proc and friends report 0: read them the careful way
    strict = codecs.getincrementaldecoder("utf-8")(errors="strict")
    cur = 0

    def ok(block: bytes | memoryview) -> bool:
        nonlocal cur
        arr = np.frombuffer(block, np.uint8)
        if int(arr.max(initial=0)) >= 128 or strict.getstate()[0]:
            try:
                strict.decode(block)
            except UnicodeDecodeError:
                return False
        cr = np.flatnonzero(arr == 13)
        if len(cr) and (int(cr[-1]) == len(arr) - 1 or bool((arr[cr + 1] != 10).any())):
            return False  # lone CRs end lines: the careful path turns them into newlines
        nl = np.flatnonzero(arr == 10)
        if len(nl):
            longest = int((np.diff(nl) - 1).max()) if len(nl) > 1 else 0
            if cur + int(nl[0]) > max_line or longest > max_line:
                return False
            cur = len(block) - int(nl[-1]) - 1
        else:
            cur += len(block)
        return cur <= max_line

    with path.open("rb") as fh:
        first = fh.read(_BLOCK)
        if _sniff(first[:4096]) != "utf-8" or not ok(first):
            return None
        if len(first) >= size:
            return None if fh.read(1) else first
        buf = bytearray(size)
        buf[: len(first)] = first
        view = memoryview(buf)
        pos = len(first)
        del first
        while pos < size:
            got = fh.readinto(view[pos:pos + _BLOCK])
            if not got:
                break
            if not ok(view[pos:pos + got]):
                return None
            pos += got
        if fh.read(1):
            return None  # it grew while we read: take it the careful way
    del view
    del buf[pos:]
    return buf


def _decoder(first: bytes, notes: ReadNotes) -> tuple[str, codecs.IncrementalDecoder]:
    """The file's encoding, sniffed from its first block (said in ``notes``), and a decoder for it."""
    enc = _sniff(first)
    notes.encoding = "utf-8" if enc == "utf-8-sig" else enc
    return enc, codecs.getincrementaldecoder(enc)(errors="replace")


def _feed(raw: bytes, enc: str, dec: codecs.IncrementalDecoder, cap: _Capper, notes: ReadNotes, *,
          final: bool = False) -> None:
    """One raw block (or, ``final``, the decoder's tail) decoded into ``cap``, counted in ``notes``."""
    if final:
        tail = dec.decode(b"", final=True)
        if tail:
            notes.undecodable += tail.count(_REPLACEMENT)
            cap.feed(tail.encode("utf-8"))
        return
    notes.bytes_read += len(raw)
    if enc == "utf-8" and raw.isascii() and not dec.getstate()[0]:
        cap.feed(raw)  # plain ASCII: nothing to decode
        return
    text = dec.decode(raw)
    had = raw.count(_REPLACEMENT.encode()) if enc.startswith("utf-8") else 0
    notes.undecodable += text.count(_REPLACEMENT) - had
    cap.feed(text.encode("utf-8"))


def read_log(path: str | Path, *, max_line: int = MAX_LINE) -> tuple[bytes | bytearray, ReadNotes]:
    """The file's text as UTF-8 bytes (BOM dropped, UTF-16 converted, bad bytes replaced, long lines
    cut) and what was done. Raises :class:`ReproError` for anything that is not a readable file."""
    path = Path(path)
    check_log_path(path)
    notes = ReadNotes()
    try:
        clean = _clean(path, max_line)
        if clean is not None:
            notes.bytes_read = len(clean)
            return clean, notes
        cap = _Capper(max_line)
        with path.open("rb") as fh:
            block = fh.read(_BLOCK)
            enc, dec = _decoder(block, notes)
            while block:
                _feed(block, enc, dec, cap, notes)
                block = fh.read(_BLOCK)
            _feed(b"", enc, dec, cap, notes, final=True)
    except OSError as e:
        raise ReproError(f"cannot read {path}: {e.strerror or e}") from None
    notes.cut_lines = cap.cut
    return cap.finish(), notes


#: a line that may start a record with a date of its own: not indented, a full date near its start
# (the date may start the line: a look-ahead of one non-space character, then one for the date)
_DATED_START = re.compile(rb"\n(?=[^\s])(?=[^\n]{0,201}?\d{4}-\d\d-\d\d)")
_WINDOW = 1 << 20
#: what every match of :data:`_DATED_START` holds within the searched range (a window without it holds no
#: match: Python's ``re`` finds this literal-led pattern ~10x faster than the look-ahead, which tries 200
#: characters after every line end)
_DATE_HINT = re.compile(rb"-\d\d-\d\d")


def _hinted(buf: bytes | bytearray, lo: int, hi: int) -> bool:
    """``_DATE_HINT.search(buf, lo, hi) is not None``, by numpy over the dashes for a long range: a fleet's
    lines hold many dashes and no date, and ``re`` scans them holding the GIL the block threads want."""
    if hi - lo < 1 << 16:
        return _DATE_HINT.search(buf, lo, hi) is not None
    a = np.frombuffer(buf, np.uint8, count=hi - lo, offset=lo) if hi > lo else np.zeros(0, np.uint8)
    at = np.flatnonzero(a[:-5] == 45)  # a dash with five bytes after it in the range
    for k in (3, 1, 2, 4, 5):  # then a dash three on, digits between and after
        if not len(at):
            return False
        b = a[at + k]
        at = at[b == 45] if k == 3 else at[(b >= 48) & (b <= 57)]
    return bool(len(at))


def _own_dated_record(line: bytes | bytearray) -> bool:
    """Whether ``line`` reads as a record (never a continuation: only time-less raw rows are attached)
    that carries a full date of its own (so the time-of-day lines after it are dated from it)."""
    from repro_lib.capture.line import parse_one

    row, dated = parse_one(bytes(line).decode("utf-8", errors="replace").rstrip("\r"), None)
    return dated and row[1] != "raw" and row[0] is not None


def _timed_record(line: bytes | bytearray) -> bool:
    from repro_lib.capture.line import parse_one

    row, _ = parse_one(bytes(line).decode("utf-8", errors="replace").rstrip("\r"), None)
    return row[1] != "raw" and row[0] is not None


def _safe_cut(buf: bytes | bytearray, loose: bool, floor: int = 0) -> tuple[int, bool]:
    """(where a block of ``buf`` may end — 0: nowhere yet —, whether only loosely): before the last
    complete line that is a record with its own full date — nothing before it continues past it, and
    the lines after it are dated from it as in the whole file. With ``loose`` (the buffer has grown far
    past a block with no such line), before the last record with a time, else at the last line end.
    ``floor``: the complete lines before it were searched already and hold no such record (not again)."""
    end = buf.rfind(b"\n")  # the last line may be incomplete: never a candidate
    if end <= 0:
        return 0, False
    floor = min(max(floor, 0), end)
    hi, lo = end, max(floor, end - _WINDOW)
    while True:
        hinted = _hinted(buf, lo, hi)
        starts = [m.start() + 1 for m in _DATED_START.finditer(buf, lo, hi)] if hinted else []
        for st in reversed(starts[-64:]):  # a few tries per window: the parse is the judge
            if _own_dated_record(buf[st:buf.index(b"\n", st)]):
                return st, False
        if lo <= floor:
            break
        hi, lo = lo + 1, max(floor, lo - 8 * _WINDOW)
    if not loose:
        return 0, False
    st = end
    for _ in range(4096):
        st = buf.rfind(b"\n", 0, st - 1) + 1 if st > 0 else 0
        if st <= 0:
            break
        if _timed_record(buf[st:buf.index(b"\n", st)]):
            return st, True
    return end + 1, True


def _loose_pieces(buf: bytes | bytearray, cut: int, size: int) -> Iterator[int]:
    """Where ``buf[:cut]`` — a loose block — may be cut again into pieces of about ``size`` bytes, each
    before a timed record (as the loose cut itself is), when nothing in it looks like a date (not even its
    first line, which the search for a cut never judges): then no line of a piece is dated from a line of
    another, the pieces read as the whole does, and a piece's parse needs ~10x its size, not the whole's."""
    if _hinted(buf, 0, cut):
        return
    at = 0
    while cut - at > size + size // 2:
        st = buf.rfind(b"\n", 0, at + size) + 1
        for _ in range(4096):
            if st <= at or st >= cut:
                return
            if _timed_record(buf[st:buf.index(b"\n", st)]):
                break
            st = buf.index(b"\n", st) + 1
        else:
            return
        yield st
        at = st


def _copy(buf: bytearray, start: int, end: int) -> bytes:
    """``bytes(buf[start:end])`` in one copy, not two (a bytearray's slice is a copy of its own)."""
    with memoryview(buf) as view:
        return view[start:end].tobytes()


def read_log_blocks(path: str | Path, *, block_bytes: int = 32 << 20, max_line: int = MAX_LINE,
                    first_at_least: int = 0,
                    progress: Callable[[int, int], None] | None = None) -> Iterator[tuple[bytes, ReadNotes]]:
    """The file as :func:`read_log` would return it, in blocks of about ``block_bytes``, for inputs too
    big to hold at once. A block ends before a record with a full date of its own (so no multi-line
    record is split, and the time-of-day lines after the cut are dated as in the whole file); only when
    none turns up within four blocks is a block cut before any timed record (``loose_cuts`` in the
    notes). No block is yielded before ``first_at_least`` bytes are read: a file shorter than that is
    one block, the whole of it. Each item is (block, the notes so far); ``progress(bytes read, file
    size)`` is called after each raw read."""
    path = Path(path)
    check_log_path(path)
    notes = ReadNotes()
    size = path.stat().st_size
    cap = _Capper(max_line)
    buf = bytearray()  # what is read and not yet handed on: grown in place, its head dropped after each cut
    searched = 0  # the carried lines before this offset hold no record to cut before
    try:
        # reads of at most half a block, so a block ends near ``block_bytes``, not a whole read past it
        step = min(_BLOCK, max(block_bytes // 2, 64 << 10))
        with path.open("rb") as fh:
            raw = fh.read(step)
            enc, dec = _decoder(raw, notes)
            while raw:
                _feed(raw, enc, dec, cap, notes)
                if progress is not None:
                    progress(notes.bytes_read, size)
                raw = fh.read(step)
                if not raw:
                    break
                if len(buf) + sum(map(len, cap.out)) < max(block_bytes, first_at_least):
                    continue
                for piece in cap.out:
                    buf += piece
                cap.out = []
                cut, loose = _safe_cut(buf, len(buf) >= 4 * max(block_bytes, max_line), searched)
                if cut <= 0:  # no place to cut yet: keep reading (what was searched is not searched again)
                    searched = max(buf.rfind(b"\n"), 0)
                    continue
                searched = 0
                notes.loose_cuts += loose
                notes.cut_lines = cap.cut
                start = 0
                if loose:  # no dated record in all of it: block-sized pieces, each cut before a timed record
                    for at in _loose_pieces(buf, cut, max(block_bytes, first_at_least)):
                        notes.loose_cuts += 1
                        yield _copy(buf, start, at), notes
                        start = at
                first_at_least = 0
                yield _copy(buf, start, cut), notes
                del buf[:cut]
            _feed(b"", enc, dec, cap, notes, final=True)
    except OSError as e:
        raise ReproError(f"cannot read {path}: {e.strerror or e}") from None
    last = bytes(buf) + cap.finish()
    del buf
    notes.cut_lines = cap.cut
    if last:
        yield last, notes
