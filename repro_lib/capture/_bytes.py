"""Byte-level primitives of the vectorised log reader: unaligned 8-byte loads over a chunk, sorted byte
positions, RFC 3339 times read with SWAR arithmetic, and Arrow ``string_view`` arrays over a chunk's bytes.
Shared by :mod:`repro_lib.capture._fast` and :mod:`repro_lib.capture._console`."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pyarrow as pa

from repro_lib.capture import _common as c

_BIG = np.int64(2**62)
_M = [np.uint64((1 << (8 * k)) - 1) for k in range(8)] + [np.uint64(2**64 - 1)]
_MASKS = np.array(_M, np.uint64)


def _code(text: bytes) -> np.uint64:
    return np.uint64(int.from_bytes(text, "little"))


_LOCAL = threading.local()


def _scratch(name: str, size: int, dtype: Any) -> np.ndarray:
    """A per-thread work array of at least ``size`` items, reused from chunk to chunk: fresh
    pages for every multi-MB temporary (page faults, zeroing) cost more than the work on them."""
    buf = getattr(_LOCAL, name, None)
    if buf is None or len(buf) < size:
        buf = np.empty(size + size // 4 + (1 << 16), dtype)  # room for the next, larger chunk
        setattr(_LOCAL, name, buf)
    return buf[:size]


class _Bytes:
    """Unaligned little-endian loads from one chunk's bytes; positions past the end read 0
    (negative ones read position 0). Valid until the thread's next chunk (a scratch copy)."""

    def __init__(self, d: np.ndarray, own: bool = False) -> None:
        self.n = n = len(d)
        # own: a copy of its own, which later chunks of the thread do not overwrite
        pad = np.empty(n + 16, np.uint8) if own else _scratch("pad", n + 16, np.uint8)
        pad[:n] = d
        pad[n:] = 0
        self.d = pad
        self.d8 = np.ndarray((n + 9,), "<u8", buffer=pad, strides=(1,))

    def u8(self, q: np.ndarray) -> np.ndarray:
        return self.d8[np.clip(q, 0, self.n)]

    def byte(self, q: np.ndarray) -> np.ndarray:
        return self.d[np.clip(q, 0, self.n)]

    def bytes(self, q: np.ndarray, k: int) -> np.ndarray:
        """(len(q), 8*k) matrix of the bytes from q on."""
        return np.stack([self.u8(q + 8 * i) for i in range(k)], axis=1).view(np.uint8)

    def eq(self, q: np.ndarray, text: bytes) -> np.ndarray:
        """Does ``text`` start at q (bytes only; the caller checks the line end)?"""
        ok = np.ones(len(q), bool)
        for i in range(0, len(text), 8):
            part = text[i: i + 8]
            ok &= (self.u8(q + i) & _M[len(part)]) == _code(part)
        return ok


def _positions(d: np.ndarray, value: int) -> np.ndarray:
    """Sorted positions of one byte value, with a sentinel far past the end."""
    p = np.flatnonzero(np.equal(d, value, out=_scratch("mask", len(d), bool)))
    out = np.empty(len(p) + 1, np.int64)
    out[:-1] = p
    out[-1] = _BIG
    return out


def _nxt(pos: np.ndarray, q: np.ndarray) -> np.ndarray:
    """First position >= q (the sentinel when none)."""
    return pos[np.minimum(np.searchsorted(pos, q), len(pos) - 1)]


def _prv(pos: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Last position < q (-1 when none)."""
    i = np.searchsorted(pos, q) - 1
    return np.where(i >= 0, pos[np.maximum(i, 0)], -1)


_DIM = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
_POW9 = 10 ** np.arange(8, -1, -1, dtype=np.int64)
_DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]


def _days(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


# days since 1970-01-01 of each year's 1 January, leap years, days before each month (non-leap), for the years
# _rfc accepts (the table lookups replace _days' divisions; equal to it on every valid date, which a test checks)
_Y0 = 1678
_YEAR_DAYS = _days(np.arange(_Y0, 2262), np.ones(2262 - _Y0, np.int64), np.ones(2262 - _Y0, np.int64))
_YEARS = np.arange(_Y0, 2262)
_LEAP = ((_YEARS % 4 == 0) & (_YEARS % 100 != 0)) | (_YEARS % 400 == 0)
_MONTH_DAYS = np.concatenate([[0], np.cumsum(_DIM)[:-1]]).astype(np.int64)


def _digits(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Byte matrix → (digit values as int32, is-a-digit)."""
    dg = mat - np.uint8(48)
    return dg.astype(np.int32), dg < 10


def _frac(dg: np.ndarray, isd: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First ``count`` (0..9) digit columns of dg → (nanoseconds, all digits)."""
    use = np.arange(9)[None, :] < count[:, None]
    ok = np.where(use, isd[:, :9], True).all(axis=1)
    return (np.where(use, dg[:, :9], 0).astype(np.int64) * _POW9).sum(axis=1), ok


_U = np.uint64
_X30 = _U(0x3030303030303030)
_X76 = _U(0x7676767676767676)
_X80 = _U(0x8080808080808080)
_X0F = _U(0x0F0F0F0F0F0F0F0F)


def _dgt(x: np.ndarray, k: int) -> np.ndarray:
    """Byte k of the words x (already xor-ed with '0's) as int64."""
    return ((x >> _U(8 * k)) & _U(0xFF)).astype(np.int64)


def _digits_ok(x: np.ndarray, mask: int) -> np.ndarray:
    """Are the bytes of x (xor-ed with '0's; all bytes ASCII) selected by ``mask`` digits?"""
    hi = _U(mask) & _X80
    return (((x + _X76) | x) & hi) == 0


def _frac_swar(bb: _Bytes, p: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``count`` (0..9) digits from p on → (nanoseconds as if padded with zeros, all digits)."""
    keep = _MASKS[np.minimum(count, 8)]
    x = (bb.u8(p) ^ _X30) & keep
    ok = (((x + _X76) | x) & keep & _X80) == 0
    # 8 digits, first digit in the lowest byte → their value (SWAR)
    v = ((x & _X0F) * _U(2561)) >> _U(8)
    v = ((v & _U(0x00FF00FF00FF00FF)) * _U(6553601)) >> _U(16)
    v = ((v & _U(0x0000FFFF0000FFFF)) * _U(42949672960001)) >> _U(32)
    ninth = count >= 9
    d9 = bb.byte(p + 8).astype(np.int64) - 48
    ok &= ~ninth | ((d9 >= 0) & (d9 <= 9))
    return v.astype(np.int64) * 10 + np.where(ninth, d9, 0), ok


_W0_SEP = _code(b"\x00\x00\x00\x00-\x00\x00-")
_W0_SEPM = _code(b"\x00\x00\x00\x00\xff\x00\x00\xff")
_W1_SEP = _code(b"\x00\x00T\x00\x00:\x00\x00")
_W1_SEPM = _code(b"\x00\x00\xff\x00\x00\xff\x00\x00")
_W0_DIG = 0x00FFFF00FFFFFFFF
_ZONE_DIG = 0x0000FFFF00FFFF00  # the zone word's HH and MM
_W1_DIG = 0xFFFF00FFFF00FFFF
_W2_DIG = 0x0000000000FFFF00


def _rfc(bb: _Bytes, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strict RFC 3339 text in [p, q): ``YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`` → (ns, ok).

    A subset of what :func:`_common.parse_rfc3339` and ``DOCKER_RE`` accept, with equal values.
    Digits are read from 8-byte words (SWAR), not byte matrices.
    """
    m = len(p)
    if not m:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    w0, w1, w2 = bb.u8(p), bb.u8(p + 8), bb.u8(p + 16)
    x0, x1, x2 = w0 ^ _X30, w1 ^ _X30, w2 ^ _X30
    ln = q - p
    ok = (ln >= 20) & _digits_ok(x0, _W0_DIG) & _digits_ok(x1, _W1_DIG) & _digits_ok(x2, _W2_DIG)
    ok &= ((w0 & _W0_SEPM) == _W0_SEP) & ((w1 & _W1_SEPM) == _W1_SEP)
    ok &= (w2 & _U(0xFF)) == _U(58)
    y = _dgt(x0, 0) * 1000 + _dgt(x0, 1) * 100 + _dgt(x0, 2) * 10 + _dgt(x0, 3)
    mo = _dgt(x0, 5) * 10 + _dgt(x0, 6)
    dd = _dgt(x1, 0) * 10 + _dgt(x1, 1)
    hh = _dgt(x1, 3) * 10 + _dgt(x1, 4)
    mi = _dgt(x1, 6) * 10 + _dgt(x1, 7)
    ss = _dgt(x2, 1) * 10 + _dgt(x2, 2)
    ok &= (y >= 1678) & (y <= 2261) & (mo >= 1) & (mo <= 12) & (dd >= 1)
    ok &= (hh <= 23) & (mi <= 59) & (ss <= 59)
    mo = np.clip(mo, 1, 12)
    yi = np.clip(y - _Y0, 0, len(_YEAR_DAYS) - 1)
    leap = _LEAP[yi]
    ok &= dd <= _DIM[mo - 1] + ((mo == 2) & leap)
    # the zone: `Z` or `±HH:MM` in the 6 bytes before q (read as one word, like the digits above)
    zw = bb.u8(q - 6)
    xz = zw ^ _X30
    sign = zw & _U(0xFF)
    is_z = ((zw >> _U(40)) & _U(0xFF)) == _U(90)
    z_ok = ((sign == _U(43)) | (sign == _U(45))) & (((zw >> _U(24)) & _U(0xFF)) == _U(58))
    z_ok &= _digits_ok(xz, _ZONE_DIG)
    off = (_dgt(xz, 1) * 10 + _dgt(xz, 2)) * 3600 + (_dgt(xz, 4) * 10 + _dgt(xz, 5)) * 60
    off = np.where(is_z, 0, np.where(sign == _U(45), -off, off))
    ok &= is_z | z_ok
    fl = ln - 19 - np.where(is_z, 1, 6)
    frac, f_ok = _frac_swar(bb, p + 20, np.clip(fl - 1, 0, 9))
    ok &= (fl == 0) | ((fl >= 2) & (fl <= 10) & ((w2 >> _U(24)) & _U(0xFF) == _U(46)) & f_ok)
    days = _YEAR_DAYS[yi] + _MONTH_DAYS[mo - 1] + ((mo > 2) & leap) + dd - 1  # = _days(y, mo, dd) where ok
    ns = (days * 86400 + hh * 3600 + mi * 60 + ss - off) * c.NS + frac
    return np.where(ok, ns, 0), ok


def _view_structs(base: int, p: np.ndarray, q: np.ndarray, valid: np.ndarray, bb: _Bytes
                  ) -> np.ndarray:
    """Arrow ``string_view`` structs (m, 4) uint32 of the strings [p, q) of a chunk whose data
    buffer holds the chunk's bytes from ``base`` on (buffer index 0; zero where not valid)."""
    m = len(p)
    if not m:
        return np.zeros((0, 4), np.uint32)
    ln = np.where(valid, q - p, 0)
    pos = np.where(valid, p, 0)
    short = ln <= 12
    # as two little-endian words: length and the first 4 bytes; then the next 8 bytes (short strings, zero past the
    # end) or buffer 0 and the offset (long ones)
    lo = bb.u8(pos) & _MASKS[np.minimum(ln, 8)]
    hi = bb.u8(pos + 8) & _MASKS[np.clip(ln - 8, 0, 4)]
    v = np.empty((m, 2), np.uint64)
    v[:, 0] = ln.astype(np.uint64) | (lo << _U(32))
    v[:, 1] = np.where(short, (lo >> _U(32)) | (hi << _U(32)), (pos + base).astype(np.uint64) << _U(32))
    return v.view(np.uint32)


def _views(buf: pa.Buffer, base: int, p: np.ndarray, q: np.ndarray, valid: np.ndarray,
           bb: _Bytes) -> pa.Array:
    """Strings [p, q) of a chunk (null where not valid) without a pass over the chunk: a
    string_view array over its buffer, cast to a plain string array."""
    m = len(p)
    if not m:
        return pa.array([], pa.string())
    v = _view_structs(base, p, q, valid, bb)
    nulls = m - int(valid.sum())
    bits = None if not nulls else pa.array(valid).buffers()[1]
    arr = pa.Array.from_buffers(pa.string_view(), m, [bits, pa.py_buffer(v), buf],
                                null_count=nulls)
    return arr.cast(pa.string())
