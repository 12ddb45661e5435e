"""Column kernels for the analysis: string tests, look-ups and "last value per key" over whole
columns, in Arrow, pandas' hash tables or numpy — never a Python call per row.

Object columns hold ``str`` or ``None`` (``to_numpy(dtype=object, na_value=None)``); a missing value
is never a match. Where a column holds something other than text, the string tests fall back to
one Python call per *distinct* value (``pd.factorize``), still not one per row.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["arrow", "as_bool", "obj", "isnull", "isin", "is_str", "contains", "startswith", "extract", "per_value",
           "unique", "positions", "take", "first_in_order", "last_by_key", "dict_column", "PY_SPACE",
           "series_contains", "series_startswith", "bare", "obj_few", "as_object", "text", "one_chunk", "take_rows",
           "rows"]

#: Python's ``\s`` (``str.isspace``) as an RE2 class: RE2's own ``\s`` is ASCII whitespace only
PY_SPACE = (r"[\t\n\x{0b}\f\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
            r"\x{205f}\x{3000}]")


def obj(values: Any) -> np.ndarray:
    """``values`` as a 1-d object array, missing values as ``None``."""
    if isinstance(values, pd.Series | pd.Index):
        out = values.to_numpy(dtype=object, na_value=None)
        return out if out.flags.writeable else out.copy()
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:  # a list of tuples would make a 2-d array
        out = np.empty(len(values), dtype=object)
        out[:] = list(values)
        return out
    return arr


def obj_few(values: pd.Series) -> np.ndarray:
    """:func:`obj` of a text column with few distinct values (kind, state, source, node, job): Arrow's
    dictionary encoding, then one Python string per distinct value spread over the rows (the same strings,
    one object each: no string built per row, and hashing them later is cached)."""
    dtype = getattr(values, "dtype", None)
    if not isinstance(values, pd.Series) or getattr(dtype, "storage", None) != "pyarrow":
        return obj(values)
    return _spread(pa.array(values))


def as_object(col: pd.Series) -> np.ndarray:
    """``col.to_numpy(dtype=object)`` (missing text as the column's own missing value, NaN in a ``str`` column):
    an Arrow-backed text column as one Python string per distinct value spread over the rows, not one per row."""
    dtype = col.dtype
    if getattr(dtype, "storage", None) != "pyarrow" or not isinstance(col.array, pd.arrays.ArrowStringArray):
        return col.to_numpy(dtype=object)
    return _spread(pa.array(col), dtype.na_value)


def _spread(arr: pa.Array | pa.ChunkedArray, missing: Any = None) -> np.ndarray:
    """An Arrow text array as an object array, missing values as ``missing``: one Python string per distinct value
    (Arrow's dictionary encoding), spread over the rows."""
    arr = one_chunk(arr)
    enc = pc.dictionary_encode(arr)
    uniq = np.empty(len(enc.dictionary) + 1, dtype=object)  # the last slot: missing
    uniq[:-1] = enc.dictionary.to_numpy(zero_copy_only=False)
    uniq[-1] = missing
    return uniq[enc.indices.fill_null(-1).to_numpy(zero_copy_only=False)]


def isnull(values: np.ndarray) -> np.ndarray:
    """``None`` (or NaN) elementwise."""
    return pd.isna(values) if len(values) else np.zeros(0, dtype=bool)


def isin(values: np.ndarray, allowed: Iterable[Any]) -> np.ndarray:
    """Membership by hashing (numpy's ``isin`` sorts object arrays: seconds on 10^5 rows): a C loop of the
    set's own ``__contains__`` over the column."""
    allowed = set(allowed)
    return np.fromiter(map(allowed.__contains__, values), dtype=bool, count=len(values))


def is_str(values: np.ndarray) -> np.ndarray:
    """``isinstance(x, str)`` elementwise (a C loop over the builtin)."""
    return np.fromiter(map(isinstance, values, repeat(str)), dtype=bool, count=len(values))


def per_value(values: np.ndarray, fn: Callable[[Any], Any], dtype: Any = object, missing: Any = None) -> np.ndarray:
    """``fn`` applied once per distinct non-missing value, spread back over the rows; ``missing`` where
    the value is missing."""
    codes, uniq = pd.factorize(obj(values), use_na_sentinel=True)
    done = np.empty(len(uniq) + 1, dtype=dtype)
    done[:] = [fn(u) for u in uniq] + [missing]
    return done[codes]  # code -1 (missing) picks the last element


def arrow(values: np.ndarray | pa.Array) -> pa.Array | None:
    """``values`` as an Arrow string array (None where they are not all text); an Arrow array as it is."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def as_bool(result: pa.Array) -> np.ndarray:
    """An Arrow boolean result as a numpy one, null as False."""
    return result.fill_null(False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def contains(values: np.ndarray, needle: str) -> np.ndarray:
    """``needle in x`` elementwise (False where missing)."""
    if not len(values):
        return np.zeros(0, dtype=bool)
    arr = arrow(values)
    if arr is None:
        return per_value(values, lambda x: needle in str(x), bool, False)
    return as_bool(pc.match_substring(arr, needle))


def startswith(values: np.ndarray, prefix: str | tuple[str, ...]) -> np.ndarray:
    """``x.startswith(prefix)`` elementwise (False where missing)."""
    if not len(values):
        return np.zeros(0, dtype=bool)
    prefixes = (prefix,) if isinstance(prefix, str) else prefix
    arr = arrow(values)
    if arr is None:
        return per_value(values, lambda x: isinstance(x, str) and x.startswith(prefixes), bool, False)
    out = np.zeros(len(values), dtype=bool)
    for p in prefixes:
        out |= as_bool(pc.starts_with(arr, p))
    return out


def extract(values: np.ndarray, pattern: str, groups: Sequence[str], py_pattern: str | None = None
            ) -> dict[str, np.ndarray]:
    """The named ``groups`` of the first match of ``pattern`` (RE2 syntax, ``(?P<name>…)``) in each
    value, as object arrays with ``None`` where there is no match (Python's ``re.search`` of ``py_pattern``,
    default ``pattern``, where the values are not all text or RE2 does not take the pattern)."""
    n = len(values)
    if not n:
        return {g: np.empty(0, dtype=object) for g in groups}
    arr = arrow(values)
    if arr is not None:
        try:
            res = pc.extract_regex(arr, pattern)
        except pa.ArrowInvalid:  # a pattern RE2 does not take
            res = None
        if res is not None:
            out = {}
            for g in groups:  # an optional group that did not take part reads "" here (None in Python)
                out[g] = _spread(pc.struct_field(res, g))
            return out
    import re

    rx = re.compile(py_pattern or pattern)

    def one(x: Any) -> tuple[Any, ...]:
        m = rx.search(str(x))
        return tuple(m.group(g) for g in groups) if m else (None,) * len(groups)

    found = per_value(values, one, object, (None,) * len(groups))
    return {g: obj(list(map(operator.itemgetter(k), found))) for k, g in enumerate(groups)}


def unique(values: np.ndarray) -> np.ndarray:
    """The distinct values in order of first appearance (a dict's keys: hashing in C)."""
    return obj(list(dict.fromkeys(values)))


def positions(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each of ``values``, its position in the unique ``keys`` (-1 where absent)."""
    at = dict(zip(keys, range(len(keys)), strict=True))
    return np.fromiter(map(at.get, values, repeat(-1)), dtype=np.int64, count=len(values))


def take(column: np.ndarray, pos: np.ndarray, default: Any = None) -> np.ndarray:
    """``column[pos]`` with ``default`` where ``pos`` is -1."""
    out = np.empty(len(pos), dtype=object) if column.dtype == object else np.empty(len(pos), dtype=column.dtype)
    ok = pos >= 0
    out[ok] = column[pos[ok]]
    out[~ok] = default
    return out


def first_in_order(keys: np.ndarray) -> np.ndarray:
    """Row positions of each key's first appearance, in row order."""
    n = len(keys)
    first = dict(zip(keys[::-1], range(n - 1, -1, -1), strict=True))  # the last write is the first row
    return np.sort(np.fromiter(first.values(), dtype=np.int64, count=len(first)))


def last_by_key(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct keys in order of first appearance, the row of each one's last appearance): what
    ``d[key] = row`` over the rows leaves in a dict — built by exactly that, in C."""
    last = dict(zip(keys, range(len(keys)), strict=True))
    return obj(list(last)), np.fromiter(last.values(), dtype=np.int64, count=len(last))


def dict_column(rows: Sequence[dict[str, Any]], key: str, default: Any = None) -> np.ndarray:
    """``[row.get(key, default) for row in rows]`` as an object array (a C loop over ``dict.get``)."""
    out = np.empty(len(rows), dtype=object)
    out[:] = list(map(operator.methodcaller("get", key, default), rows))
    return out


def series_contains(col: pd.Series, needle: str) -> np.ndarray:
    """``needle in x`` over a text column, False where missing: Arrow's kernel on the column's own buffers
    (no object array in between)."""
    from repro_lib.capture.zones import arrow_strings

    return as_bool(pc.match_substring(arrow_strings(col), needle)) if len(col) else np.zeros(0, dtype=bool)


def series_startswith(col: pd.Series, prefix: str) -> np.ndarray:
    """``x.startswith(prefix)`` over a text column, False where missing (as :func:`series_contains`)."""
    from repro_lib.capture.zones import arrow_strings

    return as_bool(pc.starts_with(arrow_strings(col), prefix)) if len(col) else np.zeros(0, dtype=bool)


def bare(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without its attrs (a shallow copy): pandas deep-copies a frame's attrs into every column and
    slice taken from it (a condensed reading's counts per source: a fleet's thousand sources each time)."""
    if not frame.attrs:
        return frame
    attrs = frame.attrs
    frame.attrs = {}  # the shallow copy would deep-copy them first, to be dropped
    try:
        return frame.copy(deep=False)
    finally:
        frame.attrs = attrs


def text(col: pd.Series) -> np.ndarray | pa.Array:
    """A text column for the string kernels here: its own Arrow array where it is Arrow-backed (no Python string
    per row), else :func:`obj`."""
    if getattr(col.dtype, "storage", None) == "pyarrow":
        return one_chunk(pa.array(col))
    return obj(col)


def one_chunk(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """An Arrow array in one piece: a chunked array's only chunk as it is (``combine_chunks`` copies even one),
    several chunks joined (one copy)."""
    if not isinstance(arr, pa.ChunkedArray):
        return arr
    if arr.num_chunks == 1:
        return arr.chunk(0)
    return arr.combine_chunks()


def take_rows(arr: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """``arr.take(rows)`` without joining a chunked array's chunks first (Arrow's take of text from chunks
    copies every chunk into one: 160 MB of lines to take none of them): each chunk gives its own rows."""
    idx = np.asarray(rows, dtype=np.int64)
    if isinstance(arr, pa.ChunkedArray) and not arr.num_chunks:
        return pa.array([], type=arr.type).take(pa.array(idx, type=pa.int64()))
    if not isinstance(arr, pa.ChunkedArray) or arr.num_chunks <= 1:
        return one_chunk(arr).take(pa.array(idx, type=pa.int64())) if len(arr) else arr.take(pa.array(idx))
    starts = np.cumsum([0] + [len(c) for c in arr.chunks])
    ordered = bool(np.all(idx[1:] >= idx[:-1]))  # rows in order (np.flatnonzero's): no sort, no take back
    order = None if ordered else np.argsort(idx, kind="stable")
    got_idx = idx if order is None else idx[order]
    bounds = np.searchsorted(got_idx, starts)  # each chunk's rows: a run of the sorted rows
    parts = [arr.chunk(k).take(pa.array(got_idx[bounds[k]:bounds[k + 1]] - starts[k], type=pa.int64()))
             for k in range(arr.num_chunks) if bounds[k + 1] > bounds[k]]  # per chunk
    got = pa.concat_arrays(parts) if parts else pa.array([], type=arr.type)
    if order is None:
        return got
    back = np.empty(len(idx), dtype=np.int64)
    back[order] = np.arange(len(idx))
    return got.take(pa.array(back, type=pa.int64()))


def rows(frame: pd.DataFrame, keep: np.ndarray | None, cols: Sequence[str], *, join: bool = True) -> pd.DataFrame:
    """``frame.loc[keep, cols]`` (all rows where ``keep`` is None), each Arrow text column in one chunk: filtered
    chunk by chunk and joined (pandas' take of a chunked text column joins every chunk first, at each take; a
    condensed reading's columns come in a chunk per block). The same values, dtypes and row labels.
    ``join=False``: a text column stays in its chunks, and a chunk whose rows are all kept is the frame's own (no
    copy: the relevant rows of a condensed reading are nearly all of them); read such a frame's rows with this
    function, not pandas' take."""
    texts = [c for c in cols if isinstance(frame[c].array, pd.arrays.ArrowStringArray)]
    others = [c for c in cols if c not in texts]
    # the other columns as pandas selects them (their dtypes kept: an object column stays one)
    keep = None if keep is None else np.asarray(keep, dtype=bool)
    out = frame[others] if keep is None else frame.loc[keep, others]
    mask = None if keep is None else pa.array(keep)
    for c in texts:
        col = frame[c]
        data = pa.array(col)
        if not join:
            data = _filter_chunks(data, keep)
        else:
            if mask is not None:
                data = data.filter(mask)
            data = pa.chunked_array([one_chunk(data)], type=data.type)
        out[c] = type(col.array)(data, dtype=col.dtype)
    return out[list(cols)]


def _filter_chunks(arr: pa.Array | pa.ChunkedArray, keep: np.ndarray | None) -> pa.ChunkedArray:
    """``arr.filter(keep)`` as chunks: a chunk whose rows are all kept as it is (no copy), one with none left out."""
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    if keep is None:
        return pa.chunked_array(chunks, type=arr.type)
    out, start = [], 0
    for chunk in chunks:  # per chunk (a block of the reading)
        part = keep[start:start + len(chunk)]
        start += len(chunk)
        if part.all():
            out.append(chunk)
        elif part.any():
            out.append(chunk.filter(pa.array(part)))
    return pa.chunked_array(out, type=arr.type)
