"""Inspect what is on disk: a run folder, or log files saved from ``docker logs``.

What was read is said per source (lines, parsed, raw share) before any conclusion, and whether an
edge's side of the story is there is decided from the lines that could be read, not from file
names."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date as _date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repro_lib.analysis import Diagnosis, diagnose
from repro_lib.analysis.delivery import NOT_EDGE_SOURCES, edge_nodes, source_roles
from repro_lib.capture.legacy import NATS_SERVER
from repro_lib.errors import ReproError
from repro_lib.run import NO_SNAPSHOT, Run, load_run

__all__ = ["Inspection", "SourceRead", "inspect_paths", "events_from_logs", "sources_read", "parse_date", "check_text"]


@dataclass(frozen=True)
class SourceRead:
    """What one source contributed: its rows, how many were parsed, which nodes it speaks for."""

    source: str
    lines: int
    parsed: int
    nodes: tuple[str, ...] = ()
    role: str = "other"   # orchestrator | edge | other, judged from its lines (analysis.delivery.source_roles)
    notes: str = ""       # what reading did: encoding, bytes replaced, lines cut
    nats: bool = False    # a nats-server's own log, by its lines (behind any prefix: a pod's, a collector's)

    @property
    def raw_pct(self) -> float:
        return 100.0 * (self.lines - self.parsed) / self.lines if self.lines else 0.0


def sources_read(events: pd.DataFrame, diagnosis: Diagnosis | None = None) -> list[SourceRead]:
    """Per source: rows, parsed rows (not ``raw``) and, for edge logs, the node ids they speak for
    (the roles and edge logs ``diagnosis`` worked out from these events, when given)."""
    if events.empty:
        return []
    from repro_lib.analysis import _columns as C
    from repro_lib.capture.condense import totals_of

    tot = totals_of(events)
    read = events.attrs.get("read") or {}
    if diagnosis is not None and diagnosis.edges is not None:
        roles, en = diagnosis.roles, diagnosis.edges
    else:
        roles = source_roles(events)
        en = edge_nodes(events, roles)
    events = C.bare(events)
    if tot is not None:  # a condensed table: the counts of every row read
        rows = pd.Series({str(k): v for k, v in tot.lines.items()}, dtype=int)
        parsed = pd.Series({str(k): v for k, v in tot.parsed.items()}, dtype=int)
    else:
        src = events["source"].astype(str)
        rows = src.value_counts(sort=False)
        parsed = src[events["kind"] != "raw"].value_counts(sort=False)
    speaks = en.groupby("source", sort=False)["node"].agg(tuple) if len(en) else pd.Series(dtype=object)
    return [SourceRead(s, int(rows[s]), int(parsed.get(s, 0)), tuple(speaks.get(s, ())), roles.get(s, "other"),
                       read[s].describe() if s in read else "",
                       s == "nats" or s.startswith("nats@") or (roles.get(s, "other") == "other"
                                                                and _nats_lines(events, s)))
            for s in sorted(rows.index)]


_NATS_ANYWHERE = re.compile(r"\[\d+\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d")


def _nats_lines(events: pd.DataFrame, source: str) -> bool:
    """Are most of a source's first 200 lines a nats-server's own (``[pid] 2024/01/02 10:00:00.000 [INF]``), behind
    whatever prefix (a pod's, a collector's)?"""
    if "line" not in events:
        return False
    head = events.loc[events["source"] == source, "line"].head(200).fillna("").astype(str)
    return bool(len(head)) and int(head.str.contains(_NATS_ANYWHERE).sum()) * 2 >= len(head)


@dataclass
class Inspection:
    events: pd.DataFrame
    diagnosis: Diagnosis
    run: Run | None
    title: str
    sources: list[str]
    read: list[SourceRead] = field(default_factory=list)

    def text(self) -> str:
        head = [self.title]
        if self.events.empty:
            head.append("no log events: only CLI output was given" if self.title.startswith("no logs")
                        else "no events: the files are empty")
            return "\n".join(head) + "\n\n" + self.diagnosis.text()
        head.append("read:")
        for r in self.read:
            line = f"  {r.source:<14}{r.lines:>10,} lines, {r.parsed:>10,} parsed ({r.raw_pct:.0f}% raw)"
            if r.role == "edge":
                line += (f"; an edge log, speaks for node {', '.join(r.nodes)}" if r.nodes else
                         "; an edge log that names no node id: it cannot show what an edge received")
            elif r.role == "orchestrator":
                line += "; an orchestrator log"
            elif r.nats:  # nats, nats@<family> (one of several servers), or a pod's nats-server
                line += "; a NATS server's log (by its lines)"
            elif r.source not in NOT_EDGE_SOURCES:
                line += "; read as neither an orchestrator's nor an edge's log"
            if r.notes:
                line += f" ({r.notes})"
            if n_inf := self.diagnosis.jobs_inferred.get(r.source, 0):
                line += (f"; [I] {n_inf:,} dispatch line(s) named no job: each took the job of the nearest job line "
                         "before its execution's first dispatch in this log (our reading)")
            head.append(line)
        from repro_lib.capture.condense import totals_of
        from repro_lib.capture.logs import date_undated_note

        tot = totals_of(self.events)
        if tot is not None:
            head.append(f"condensed: {tot.kept:,} of {tot.rows:,} rows kept, those a diagnosis reads; the rest are "
                        "counted (--no-condense holds every row)")
        if (note := date_undated_note(self.events, None if tot is None else tot.undated)):
            head.append(note)
        for note in self.events.attrs.get("zones") or []:
            head.append(f"times: {note}")
        kinds = self.events["kind"].value_counts().to_dict() if tot is None else dict(tot.kinds)
        n = len(self.events) if tot is None else tot.rows
        head.append(f"{n:,} events: " + ", ".join(f"{k}={v:,}" for k, v in sorted(kinds.items())))
        return "\n".join(head) + "\n\n" + self.diagnosis.text()


def events_from_logs(paths: list[Path], date: _date | None = None, tz: str | None = None, *,
                     condense: bool = False, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Parse each log file (source from its name, ``edge1-debug.log`` -> edge1) into one table; lines
    with no zone are read in the zone their file (or ``tz``) shows (``attrs["zones"]`` says how).

    ``condense``: read the files in blocks and keep only the rows a diagnosis reads, with counts of
    the rest in ``attrs["condensed"]`` (:mod:`repro_lib.capture.condense`): memory bounded by the
    evidence, not the input; ``progress(bytes read, bytes in all)`` after each block read."""
    from repro_lib.capture._common import system_pool

    with system_pool():
        if condense:
            return _condensed(paths, date, tz, progress)
        return _full(paths, date, tz)


def _full(paths: list[Path], date: _date | None, tz: str | None) -> pd.DataFrame:
    from repro_lib.capture import parse_file
    from repro_lib.capture.zones import parse_tz, settle_zones

    frames = [_by_service(parse_file(p, date=date)) for p in paths]
    for p, f in zip(paths, frames, strict=True):
        f.attrs["file"] = p.stem
    zones = settle_zones(frames, parse_tz(tz))
    read = {}
    for f in frames:
        if len(f) and "read" in f.attrs:
            read[str(f["source"].iloc[0])] = f.attrs["read"]
    return _finish(_concat(frames) if frames else pd.DataFrame(), read, zones)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames as one (emptying ``frames``: the caller's list no longer holds the pieces, so a column
    dropped from the result is memory given back)."""
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    frames.clear()
    return df


def _by_time(df: pd.DataFrame) -> pd.DataFrame:
    """``df.sort_values("t", kind="stable").reset_index(drop=True)`` with at most one column copied at a time:
    each column is taken in order and dropped from ``df`` (which is emptied), so the peak is the table and one
    column, not two tables; a table already in order is not copied at all."""
    t = df["t"]
    if t.is_monotonic_increasing:  # False with any NaT: those sort last
        return df.reset_index(drop=True)
    ns = t.to_numpy(dtype="datetime64[ns]").view(np.int64)
    key = np.where(ns == np.iinfo(np.int64).min, np.iinfo(np.int64).max, ns)  # NaT last, as sort_values puts it
    order = np.argsort(key, kind="stable")
    del ns, key
    from repro_lib.capture._common import give_back

    cols: dict[str, Any] = {}
    for c in list(df.columns):
        cols[c] = df[c].take(order).reset_index(drop=True)
        del df[c]
        give_back()  # the column's pieces, freed: too small for the next column's one piece to reuse
    out = pd.DataFrame(cols, copy=False)
    out.attrs.update(df.attrs)
    return out


def _finish(df: pd.DataFrame, read: dict[str, Any], zones: list[str]) -> pd.DataFrame:
    if len(df):
        from repro_lib.capture import add_t_s, resolve_fault_nodes

        df = _by_time(df)
        df = add_t_s(df)
        # docker events name the edge (target=edge1); give each fault the node id it had then
        edges = [str(n) for n in df.loc[df["kind"] == "fault", "node"].dropna().unique()]
        if edges:
            df = resolve_fault_nodes(df, edges)
    df.attrs["read"] = read
    df.attrs["zones"] = zones
    return df


def _condensed(paths: list[Path], date: _date | None, tz: str | None,
               progress: Callable[[int, int], None] | None) -> pd.DataFrame:
    """:func:`events_from_logs` with ``condense``: per block, parse, settle its zone evidence and keep
    what :func:`repro_lib.capture.condense.condense` keeps; the zones are decided once every file is read."""
    from collections import Counter

    from repro_lib.capture._common import give_back
    from repro_lib.capture.condense import Totals
    from repro_lib.capture.logs import FAST_MIN_BYTES, source_from_path
    from repro_lib.capture.reader import read_log_blocks
    from repro_lib.capture.zones import _shift, decide_zone, parse_tz

    zone_arg = parse_tz(tz)
    sizes = [p.stat().st_size for p in paths]
    total, before = Totals(), 0
    # bytes read so far; freed pages go back to the kernel only over the last eighth of the reading and at its end:
    # the reading's peak is at its end, where the kept rows are most, and pages given back earlier are faulted in
    # again by the next block (malloc_trim after every block: ~1 s of system time per million seed-format lines,
    # 12 s of the 10 M-line fleet day's; over the last quarter, 5.3-5.7 s; over the last eighth, 3.8-4.4 s, the
    # same peaks)
    at = [0]
    files: list[tuple[Path, pd.DataFrame, np.ndarray, Counter[Any], int]] = []
    fams: list[tuple[str, bool]] = []  # each file's family and whether it is a nats-server's log alone
    read: dict[str, Any] = {}
    for p, size in zip(paths, sizes, strict=True):
        src = source_from_path(p)
        kept: list[pd.DataFrame] = []
        naive_kept: list[np.ndarray] = []
        offsets: Counter[Any] = Counter()
        n_naive, notes, family = 0, None, None

        def tick(done: int, _size: int, base: int = before) -> None:
            at[0] = base + done
            if progress is not None:
                progress(base + done, sum(sizes))

        blocks = read_log_blocks(p, block_bytes=BLOCK_BYTES, first_at_least=FAST_MIN_BYTES + 1, progress=tick)
        # the parser the full reading would pick: by the length read, known once a second block comes
        # (the first holds more than FAST_MIN_BYTES then) or the first is the whole file
        head = list(itertools.islice(blocks, 2))
        fast = len(head) > 1 or (len(head) == 1 and len(head[0][0]) > FAST_MIN_BYTES)

        def each(head: list[tuple[bytes, Any]] = head, rest: Iterator[tuple[bytes, Any]] = blocks
                 ) -> Iterator[tuple[bytes, Any]]:
            while head:  # handed on and let go: no block outlives its turn
                yield head.pop(0)
            yield from rest

        def keep(done: tuple[pd.DataFrame, np.ndarray, Any, int, Any, tuple[str, bool] | None],
                 kept: list[pd.DataFrame] = kept, naive_kept: list[np.ndarray] = naive_kept,
                 offsets: Counter[Any] = offsets) -> tuple[str, bool] | None:
            """Take a block's digest in; its file's family when it is the first block."""
            nonlocal n_naive
            rows, naive_rows, off, n, tot, fam = done
            offsets.update(off)
            n_naive += n
            total.add(tot)
            kept.append(rows)
            naive_kept.append(naive_rows)
            if at[0] * 8 >= sum(sizes) * 7:
                give_back()  # near the end, where the peak is: the block's temporaries, freed, back to the kernel
            return fam

        # every block parsed on BLOCK_WORKERS threads while the next one is read (Arrow's kernels run without
        # the GIL), kept in file order, at most BLOCK_WORKERS in flight beside the one read; the first block decides
        # the service prefix (``mode``: the others wait for it only once their own lines are parsed) and the family
        mode: Future[str | None] = Future()
        with _BlockPool() as pool:
            for i, (data, got) in enumerate(each()):
                notes = got
                pool.submit(_parse_first if i == 0 else _parse_digest, data, src, date, fast, mode)
                del data
                while pool.full():
                    family = keep(pool.oldest()) or family
            while pool.pending():
                family = keep(pool.oldest()) or family
        before += size
        frame = _concat(kept) if kept else _no_events()  # `kept` emptied: the pieces live in `frame` alone
        if len(frame) and notes is not None:
            # keyed as the full reading keys it: by the source of the file's earliest row
            first = frame.index.get_loc(frame["t"].idxmin()) if frame["t"].notna().any() else 0
            read[str(frame["source"].iloc[first])] = notes
        files.append((p, frame, np.concatenate(naive_kept) if naive_kept else np.zeros(0, bool), offsets, n_naive))
        naive_kept.clear()
        fams.append(family or ("empty", False))
    # files of different families never lend each other a zone, and unrelated nats-servers stay apart
    # (capture/zones.py: settle_zones, group_families — the same rules, the same notes)
    nats = {fam for fam, only_nats in fams if only_nats}
    if len(nats) > 1:
        for (_p, frame, *_), (fam, only_nats) in zip(files, fams, strict=True):
            if only_nats and len(frame):
                frame["source"] = "nats@" + re.sub(r"[^\w./-]+", "-", fam.removeprefix("nats-server ")).strip("-")
    every: dict[str, Counter[Any]] = {}
    for (*_, offsets, _n), (fam, _) in zip(files, fams, strict=True):
        every.setdefault(fam, Counter()).update(offsets)
    zones = []
    if len({fam for fam, _ in fams}) > 1:
        members: dict[str, list[str]] = {}
        for (p, *_), (fam, _) in zip(files, fams, strict=True):
            members.setdefault(fam, []).append(p.stem)
        zones.append(f"files grouped into {len(members)} families by writer (format, server or host, day); zones "
                     "are never borrowed across them: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in members.items()))
    for (p, frame, naive, offsets, n), (fam, _) in zip(files, fams, strict=True):
        if not n:
            continue
        note, zone = decide_zone(p.stem, n, offsets, every[fam], zone_arg)
        if zone is not None and naive.any():
            _shift(frame, pd.Series(naive, index=frame.index), zone)
        zones.append(note)
    frames = [f for _, f, *_ in files if len(f)]
    files.clear()
    give_back()  # before the table is sorted and diagnosed
    frame = naive = None  # the last file's, held by these names: the table below is their only holder
    df = _finish(_concat(frames) if frames else _no_events(), read, zones)
    df.attrs["condensed"] = total
    return df


def _digest(f: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, Any, int, Any]:
    """A block's frame (its service applied) → (the rows kept, their naive-time mask, its zone evidence,
    its naive rows, its counts) (:func:`_condensed`)."""
    from repro_lib.capture.condense import condense
    from repro_lib.capture.zones import zone_evidence

    naive, off = zone_evidence(f)
    mask, tot = condense(f, naive)
    return f.loc[mask], naive[mask], off, int(naive.sum()), tot


def _parse_digest(data: bytes, src: str, date: _date | None, fast: bool, mode: Future[str | None]
                  ) -> tuple[pd.DataFrame, np.ndarray, Any, int, Any, None]:
    """:func:`_digest` of a block's bytes, once the first block has decided ``mode`` (run on the block threads)."""
    f = _parse(data, src, date, fast)
    del data
    return (*_digest(_apply_service(f, mode.result())), None)


def _parse_first(data: bytes, src: str, date: _date | None, fast: bool, mode: Future[str | None]
                 ) -> tuple[pd.DataFrame, np.ndarray, Any, int, Any, tuple[str, bool]]:
    """The first block's :func:`_parse_digest`: it decides the file's service prefix (``mode``, set for the
    other blocks, or set to the error that stops them) and returns the file's family."""
    from repro_lib.capture.zones import file_family

    try:
        f = _parse(data, src, date, fast)
        del data
        got = _service_mode(f)
    except BaseException as e:
        mode.set_exception(e)
        raise
    mode.set_result(got)
    f = _apply_service(f, got)
    family = (file_family(f), bool(len(f)) and bool((f["source"] == "nats").all()))
    return (*_digest(f), family)


def _parse(data: bytes, src: str, date: _date | None, fast: bool) -> pd.DataFrame:
    from repro_lib.capture._fast import one_thread
    from repro_lib.capture.logs import frame_from_bytes

    with one_thread():  # the blocks are the parallel work
        return frame_from_bytes(data, src, date=date, fast=fast)


#: threads that parse the condensed reading's blocks (each holds one block's frame at the peak)
BLOCK_WORKERS = 2


class _BlockPool:
    """Blocks parsed on :data:`BLOCK_WORKERS` threads, their results taken back in submission order.
    On an error or an interrupt in the reader, blocks not started are dropped and the ones running
    are not waited for (a block finishes in about a second; nothing of theirs is written)."""

    def __init__(self) -> None:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(BLOCK_WORKERS, thread_name_prefix="repro-block")
        self._queue: deque[Future[Any]] = deque()

    def __enter__(self) -> _BlockPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_exc: object) -> None:
        self._pool.shutdown(wait=kind is None, cancel_futures=True)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._queue.append(self._pool.submit(fn, *args))

    def full(self) -> bool:
        return len(self._queue) >= BLOCK_WORKERS

    def pending(self) -> bool:
        return bool(self._queue)

    def oldest(self) -> Any:
        return self._queue.popleft().result()


_SERVICE = re.compile(r"^(?:\S+Z\s+)?([A-Za-z][\w.-]*?)(?:[-_]\d+)?\s+\|\s")


def _service_mode(frame: pd.DataFrame) -> str | None:
    """``compose`` when the lines carry ``docker compose logs``' service prefix, ``nats`` when they are
    a nats-server's own; decided on the first 2,000 lines."""
    if not len(frame) or "line" not in frame:
        return None
    head = frame["line"].iloc[:2000].fillna("").astype(str).str.split("\n", n=1).str[0]
    if head.str.match(_SERVICE).sum() * 2 >= len(head):  # a compose file, not a stray `|` in a message
        return "compose"
    if (head.str.match(NATS_SERVER) & head.str.startswith("[")).sum() * 2 >= len(head):  # nats-server's own
        return "nats"
    return None


def _apply_service(frame: pd.DataFrame, mode: str | None) -> pd.DataFrame:
    if mode == "compose":
        from repro_lib.capture.logs import first_group

        svc = first_group(frame["line"], _SERVICE)  # = .str.extract(_SERVICE)[0], by RE2 (no Python per row)
        frame["source"] = svc.fillna(frame["source"])
    elif mode == "nats":
        frame["source"] = "nats"
    return frame


def _by_service(frame: pd.DataFrame) -> pd.DataFrame:
    """``docker compose logs`` output names its service in front of each line (``edge1-1  | …``):
    that service is the line's source (so one file of several services reads as several logs)."""
    return _apply_service(frame, _service_mode(frame))


def parse_date(text: str | None) -> _date | None:
    """``--date YYYY-MM-DD`` → a date, or a one-line error."""
    if not text:
        return None
    try:
        return _date.fromisoformat(text)
    except ValueError:
        raise ReproError(f"--date must be a date like 2025-12-25, got {text!r}") from None


def _log_files(folder: Path) -> list[Path]:
    """The ``*.log`` files below a folder (a directory that happens to be called ``x.log`` is not one)."""
    from repro_lib.capture.reader import check_log_path

    found = sorted(p for p in folder.rglob("*.log") if not p.is_dir())
    for p in found:
        check_log_path(p)  # a FIFO or device among them: refused, not read forever
    return found


#: the condensed reading's block: parsing one costs ~10× its size at the peak (measured: bench_inspect.py); 8 MiB
#: keeps 200 MB of lines no format reads under 1 GB (32 MiB: 1.4 GB; benchmarks/bench_worst_inputs.py)
BLOCK_BYTES = 8 << 20
#: logs bigger than this (in all) are read condensed unless told otherwise (:mod:`repro_lib.capture.condense`)
CONDENSE_BYTES = 64 << 20
#: a reading that holds every row (``--no-condense``, ``--scenario``) costs ~10× the bytes: refused above this,
#: so any input stays within 1 GB (benchmarks/bench_worst_inputs.py)
FULL_MAX_BYTES = 80 << 20
#: the head of a file judged for text before it is read
SNIFF_BYTES = 64 << 10
_MAGIC = ((b"\x1f\x8b", "gzip-compressed", "unpack it first: gunzip -k FILE"),
          (b"PK\x03\x04", "a zip archive", "unpack it first: unzip FILE"),
          (b"\x28\xb5\x2f\xfd", "zstd-compressed", "unpack it first: zstd -d FILE"),
          (b"\xfd7zXZ\x00", "xz-compressed", "unpack it first: unxz -k FILE"),
          (b"BZh", "bzip2-compressed", "unpack it first: bunzip2 -k FILE"),
          (b"\x7fELF", "a program (ELF)", None), (b"\x89PNG", "a PNG image", None),
          (b"\xff\xd8\xff", "a JPEG image", None),
          (b"%PDF-", "a PDF", None), (b"SQLite format 3\x00", "an SQLite database", None))
#: bytes no text log holds: NUL and the C0 controls other than tab, LF, VT, FF, CR and ESC (colours), and DEL
_CONTROL = np.zeros(256, bool)
_CONTROL[[*range(9), *range(14, 27), *range(28, 32), 127]] = True


def check_text(path: Path) -> None:
    """Refuse, in one line, a file whose first 64 KiB are not text: a known binary format by its magic bytes,
    or more than 5 % control bytes, or more than 25 % bytes that are not UTF-8. UTF-16 (with a BOM, or ASCII
    with every other byte NUL) is text: the reader decodes it."""
    if path.is_dir():
        return
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head:
        return
    what, hint = None, None
    for magic, name, how in _MAGIC:
        if head.startswith(magic):
            what, hint = name, how and how.replace("FILE", path.name)
            break
    if what is None:
        if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_ascii(head):
            return
        arr = np.frombuffer(head, np.uint8)
        control = float(_CONTROL[arr].mean())
        bad = head.decode("utf-8", "replace").count("\ufffd") / len(head)
        if control <= 0.05 and bad <= 0.25:
            return
        what = f"{100 * control:.0f}% control bytes" if control > 0.05 else f"{100 * bad:.0f}% bytes that are not UTF-8"
        what += f" in its first {min(len(head), SNIFF_BYTES) >> 10 or 1} KiB"
    raise ReproError(f"{path} is not a text log ({what})",
                     hint=hint or "pass logs saved as text, e.g. docker logs --timestamps NAME > NAME.log")


def _utf16_ascii(head: bytes) -> bool:
    sample = head[:4096]
    if len(sample) < 16:
        return False
    even, odd = sample[0::2], sample[1::2]
    return any(nul.count(0) >= 0.9 * len(nul) and other.count(0) <= 0.05 * len(other)
               for nul, other in ((odd, even), (even, odd)))


def inspect_paths(paths: list[str], *, date: str | None = None, all: bool = False,  # noqa: A002
                  tz: str | None = None, condense: bool | None = None,
                  progress: Callable[[int, int], None] | None = None) -> Inspection:
    """Diagnose a run folder (one path) or any number of log files; ``all`` lists every finding.
    ``condense`` (default: when the logs exceed :data:`CONDENSE_BYTES`) keeps only the rows a
    diagnosis reads; ``progress(bytes read, bytes in all)`` is called while they are read."""
    from repro_lib.capture._common import system_pool

    with system_pool():
        return _inspect_paths(paths, date=date, all=all, tz=tz, condense=condense, progress=progress)


def _inspect_paths(paths: list[str], *, date: str | None, all: bool,  # noqa: A002
                   tz: str | None, condense: bool | None, progress: Callable[[int, int], None] | None) -> Inspection:
    ps = [Path(p) for p in paths]
    missing = [str(p) for p in ps if not p.exists()]
    if missing:
        raise ReproError(f"not found: {', '.join(missing)}", hint="pass a run folder or log files")
    d = parse_date(date)
    if len(ps) > 1 and (dirs := [str(p) for p in ps if p.is_dir()]):
        raise ReproError(f"{dirs[0]} is a directory", hint="pass log files, or a run folder on its own")
    if len(ps) == 1 and ps[0].is_dir():
        if (ps[0] / "events.jsonl").is_file():
            run = load_run(ps[0])
            diag = diagnose(run.events, run.final, run.timings, fix=run.fix, all=all)
            title = f"run {run.scenario.name} ({run.backend}) from {ps[0]}"
            if run.final.label == NO_SNAPSHOT:
                title += f"\n{ps[0]}/snapshots.json holds no snapshot: the final state is what the events show"
            return Inspection(run.events, diag, run, title,
                              sorted(run.events["source"].dropna().unique()), sources_read(run.events, diag))
        ps = _log_files(ps[0])
        if not ps:
            raise ReproError(f"{paths[0]} has neither events.jsonl nor *.log files",
                             hint="pass a run folder written by `repro run --out` or log files")
    from repro_lib.capture.reader import check_log_path
    from repro_lib.capture.tables import read_paste, snapshot_from_tables

    for p in ps:  # a FIFO, a device, a photo or a gzip file: one line before any reading
        check_log_path(p)
        check_text(p)
    tables, logs, table_files, pasted = [], [], [], []
    for p in ps:
        paste = read_paste(p)
        if paste is None:
            logs.append(p)
            continue
        tables += paste.tables
        kinds = list(dict.fromkeys(paste.kinds)) or ["no table"]
        table_files.append(f"{p} ({', '.join(kinds)}{'; log lines too' if paste.also_log else ''})")
        if paste.also_log:  # a paste with log lines in it: they are read as a log as well
            logs.append(p)
            pasted.append(paste.events[paste.events["kind"] != "raw"])
        else:
            pasted.append(paste.events)
    size = sum(p.stat().st_size for p in logs)
    if condense is None:
        condense = size > CONDENSE_BYTES
    elif not condense and size > FULL_MAX_BYTES:
        raise ReproError(f"{size / 2**20:,.0f} MiB of logs is too much to hold every row (at most "
                         f"{FULL_MAX_BYTES >> 20} MiB: a row costs ~10x its bytes)",
                         hint="leave out --no-condense, --scenario and --conformance (a condensed reading keeps "
                              "what a diagnosis reads), or pass the logs of a shorter period")
    events = events_from_logs(logs, d, tz, condense=condense, progress=progress) if logs else _no_events()
    if pasted:  # every table row and pasted line reaches the events table (and --events)
        from repro_lib.capture import add_t_s

        attrs = dict(events.attrs)
        if (tot := attrs.get("condensed")) is not None:  # pasted rows are all kept: count them in
            from repro_lib.capture.condense import count

            for f in pasted:
                tot.add(count(f))
        frames = [f for f in (events, *pasted) if len(f)]
        events = pd.concat(frames, ignore_index=True) if frames else events
        events = add_t_s(events.sort_values("t", kind="stable", na_position="last").reset_index(drop=True))
        events.attrs.update(attrs)
    snap = None
    if tables:  # the CLI's latest node/job/execution lists are the final state the verdict reads
        t0 = events["t"].min().timestamp() if len(events) and events["t"].notna().any() else None
        snap = snapshot_from_tables(tables, float(events["t_s"].max()) if len(events) else 0.0, t0)
    title = "logs: " + ", ".join(str(p) for p in logs) if logs else "no logs"
    if table_files:
        title += "; CLI output: " + ", ".join(table_files)
    diag = diagnose(events, snap, all=all)
    return Inspection(events, diag, None, title,
                      sorted(events["source"].dropna().unique()) if len(events) else [], sources_read(events, diag))


def _no_events() -> pd.DataFrame:
    from repro_lib.capture.logs import FRAME_COLUMNS

    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns, UTC]" if c == "t" else float if c == "t_s" else "str")
                         for c in FRAME_COLUMNS})
