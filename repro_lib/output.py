"""Writing files and folders safely: the one place the kit writes what it leaves on disk.

The promises (README, "What the kit promises"), each backed by a test:

- **Nothing the kit did not write is deleted or overwritten, and no edit is lost.** Every folder the
  kit writes into holds a record, :data:`WRITTEN` (JSON), of each file the kit put there with its
  size and SHA-256, and of the sub-folders the kit made. A destination file may be missing, or a file
  listed there and unchanged since (:func:`is_ours`). A destination folder may be missing, empty, or
  hold only such files and folders (:func:`is_ours_dir`). A file changed since the kit wrote it, a
  file or a folder the record does not list, is the user's: refused with one line saying how to
  replace it. Content alone never makes a file the kit's (a JSON with ``"written_by": "repro_lib"``
  written by someone else is theirs).
- **Nothing half-written.** Everything is written into a hidden temporary sibling
  (``.NAME.repro-tmp-…``) and renamed into place at the end, under a lock on the parent folder, so
  two runs into one destination cannot trip over each other. On an error, Ctrl-C or SIGTERM the
  temporary sibling is removed.
- **Checked before the work.** :func:`check_file` and :func:`check_dir` refuse a destination that
  cannot be written (a FIFO, a device, a symbolic link, ``/proc``, a read-only folder) before a
  long run or search starts.
- **One redaction.** Text goes through :func:`repro_lib.redact.redact` on its way to disk.
- **Errors name the path.** A full disk or a read-only filesystem met while writing is one line
  naming the file or folder that could not be written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from repro_lib.errors import ReproError

__all__ = ["WRITTEN", "OutputError", "check_dir", "check_file", "defer_signals", "folder", "is_ours",
           "is_ours_dir", "write_file", "write_with", "FIGURE_SUFFIXES", "MARK"]

#: the record in every folder the kit writes into (JSON: {"written_by": "repro_lib", "version": 2,
#: "files": {relative path: {"size": bytes, "sha256": hex}}, "dirs": [relative paths of the folders it made]})
WRITTEN = ".repro-written"
_VERSION = 2
#: the mark the kit leaves in the files it writes, so that it recognises them later
MARK = "repro_lib"
#: figure formats whose files carry the mark (matplotlib metadata)
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
_TMP = ".repro-tmp-"
_OLD = ".repro-old-"


class OutputError(ReproError):
    """A destination the kit may not or cannot write."""


def _kind(st: os.stat_result) -> str:
    m = st.st_mode
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(m):
            return name
    return "not a regular file"


def _nearest_existing(path: Path) -> Path:
    p = path
    while not os.path.lexists(p):
        if p.parent == p:
            break
        p = p.parent
    return p


def _check_parent(path: Path, what: str) -> None:
    """The folder that will hold ``path`` exists or can be made, and a file can be created in it."""
    parent = path.parent
    base = _nearest_existing(parent)
    if not base.is_dir():
        raise OutputError(f"{what} {path}: {base} is not a folder", hint="choose another destination")
    real = base.resolve()
    if str(real).startswith(("/proc", "/sys")):
        raise OutputError(f"{what} {path}: files cannot be written under {real}", hint="choose another destination")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path}: {base} is not writable", hint="choose a folder you can write")
    if base == parent:  # probe: some filesystems accept no new files whatever the mode bits say
        try:
            fd, probe = tempfile.mkstemp(prefix=f".{path.name}{_TMP}probe-", dir=parent)
        except OSError as e:
            raise OutputError(f"{what} {path}: cannot create files in {parent}: {e.strerror or e}",
                              hint="choose another destination") from None
        os.close(fd)
        os.unlink(probe)


def _digest(path: Path) -> dict[str, int | str]:
    """A file's size and SHA-256, as the record keeps them."""
    with path.open("rb") as f:
        h = hashlib.file_digest(f, "sha256")
    return {"size": path.stat().st_size, "sha256": h.hexdigest()}


def _record(folder: Path) -> dict[str, object] | None:
    """The kit's record of ``folder`` (None: there is none, or it is no record of this version: an older
    repro's list of names holds no sizes or hashes, so it proves nothing)."""
    try:
        doc = json.loads((folder / WRITTEN).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or not str(doc.get("written_by", "")).startswith(MARK) \
            or doc.get("version") != _VERSION or not isinstance(doc.get("files"), dict):
        return None
    return doc


def _unchanged(path: Path, entry: object) -> bool:
    """``path`` is a regular file with the size and hash the record gives."""
    if not isinstance(entry, dict):
        return False
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_size != entry.get("size"):
            return False
        return _digest(path)["sha256"] == entry.get("sha256")
    except OSError:
        return False


def _why_not_ours(path: Path, entry: object) -> str:
    return "which repro did not write" if entry is None else "changed since repro wrote it"


def is_ours(path: str | Path) -> bool:
    """Whether an existing regular file was written by the kit and is unchanged since: the record of its
    folder (or of a folder above it) lists it with its size and hash. Its content is not looked at."""
    p = Path(path)
    if p.is_symlink() or not p.is_file():
        return False
    return _listing(p)[1]


def _listing(p: Path) -> tuple[object, bool]:
    """The record's entry for file ``p`` (the nearest folder above it whose record lists it) and whether
    the file is unchanged since."""
    here = p.absolute()
    for up in list(here.parents)[:32]:
        rec = _record(up)
        if rec is not None:
            entry = rec["files"].get(os.path.relpath(here, up))  # type: ignore[attr-defined]
            if entry is not None:
                return entry, _unchanged(p, entry)
    return None, False


def _foreign(folder: Path) -> str | None:
    """The first entry of ``folder`` the kit did not write or that changed since, with why (None: every
    entry is the kit's, as written)."""
    rec = _record(folder)
    if rec is None:
        try:
            old = json.loads((folder / WRITTEN).read_text())
            if isinstance(old, dict) and str(old.get("written_by", "")).startswith(MARK):
                return f"{WRITTEN}, an older repro's record without sizes and hashes"
        except (OSError, ValueError, UnicodeDecodeError):
            pass
    files: dict[str, object] = rec["files"] if rec else {}  # type: ignore[assignment]
    dirs = set(rec.get("dirs") or []) if rec else set()  # type: ignore[union-attr, arg-type]
    for root, subdirs, names in os.walk(folder):
        subdirs.sort()
        for name in sorted(names) + [d for d in subdirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if rel == WRITTEN and rec is not None:
                continue
            entry = files.get(rel)
            if entry is None or not _unchanged(Path(path), entry):
                return f"{rel}, {_why_not_ours(Path(path), entry)}"
        for d in subdirs:
            rel = os.path.relpath(os.path.join(root, d), folder)
            if rel not in dirs and not os.path.islink(os.path.join(root, d)):
                return f"{rel}/, a folder repro did not make"
    return None


def is_ours_dir(path: str | Path) -> bool:
    """Whether ``path`` is a folder whose every file and sub-folder the kit wrote, unchanged since."""
    p = Path(path)
    return p.is_dir() and not p.is_symlink() and _record(p) is not None and _foreign(p) is None


def _existing(out: Path, what: str, path: str | Path, link_hint: str) -> os.stat_result | None:
    """The destination's stat (None: it does not exist); a symbolic link, or one that cannot be
    looked at, is refused (writing through a link would change a file elsewhere)."""
    if os.path.islink(out):
        raise OutputError(f"{what} {path} is a symbolic link", hint=link_hint)
    try:
        return out.stat()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise OutputError(f"{what} {path}: {e.strerror or e}", hint="choose another destination") from None


def check_file(path: str | Path, what: str, *, suffixes: tuple[str, ...] | None = None) -> Path:
    """Refuse, before any work, a file destination the kit may not or cannot write."""
    out = Path(path)
    if str(path).endswith(os.sep) or out.name in ("", ".", ".."):
        raise OutputError(f"{what} {path} is a folder", hint="give a file name")
    if suffixes and out.suffix.lower() not in suffixes:
        raise OutputError(f"{what} {path}: cannot write a {out.suffix or 'suffix-less'} file",
                          hint=f"name it with one of {', '.join(suffixes)}")
    st = _existing(out, what, path, "name the file itself, or another name")
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"{what} {path} is {_kind(st)}", hint="give the name of a regular file")
        entry, same = _listing(out)
        if entry is None:
            raise OutputError(f"{what} {path} exists and was not written by repro",
                              hint="move it away or choose another name (the kit replaces only files it wrote)")
        if not same:
            raise OutputError(f"{what} {path} was changed since repro wrote it",
                              hint="to replace it, move it away or delete it yourself; or choose another name")
    _check_parent(out, what)
    return out


def check_dir(path: str | Path, what: str) -> Path:
    """Refuse, before any work, a folder destination that is not missing, empty, or the kit's own."""
    out = Path(path)
    st = _existing(out, what, path, "name a real folder")
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{what} {path} is {'a file' if stat.S_ISREG(st.st_mode) else _kind(st)}",
                              hint="name a folder (it is created if missing)")
        if out.resolve() in (Path.cwd().resolve(), Path(out.resolve().anchor)):
            raise OutputError(f"{what} {path} is the current folder", hint="name a new or empty folder, e.g. out/run")
        if any(out.iterdir()) and (bad := _foreign(out)) is not None:
            raise OutputError(f"{what} {path} holds {bad}",
                              hint="name a new or empty folder; to replace this one, move it away or "
                                   "remove it yourself first")
    _check_parent(out, what)
    return out


@contextlib.contextmanager
def _locked(parent: Path) -> Iterator[None]:
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _tmp_sibling(out: Path, *, folder: bool) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        return Path(tempfile.mkdtemp(prefix=f".{out.name}{_TMP}", dir=out.parent))
    fd, name = tempfile.mkstemp(prefix=f".{out.name}{_TMP}", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    return Path(name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def write_with(path: str | Path, writer: Callable[[Path], object], *, what: str = "output") -> Path:
    """Call ``writer(tmp)`` to write a temporary sibling, then rename it onto ``path`` and list it, with
    its size and hash, in the folder's :data:`WRITTEN`; ``path`` must be missing or the kit's own and
    unchanged (checked again at the rename)."""
    out = check_file(path, what).absolute()
    tmp = _tmp_sibling(out, folder=False)
    try:
        writer(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        entry = _digest(tmp)
        with _locked(out.parent), defer_signals():
            check_file(out, what)
            rec = _record_for_update(out.parent, what)
            os.replace(tmp, out)
            rec["files"][out.name] = entry  # type: ignore[index]
            _write_record(out.parent, rec)
    except OSError as e:
        _remove(tmp)
        raise OutputError(f"cannot write {what} {out}: {e.strerror or e}") from None
    except BaseException:
        _remove(tmp)
        raise
    return out


def _record_for_update(parent: Path, what: str) -> dict[str, object]:
    """The record of ``parent`` to add a file to: the kit's (a fresh one over an older repro's list),
    or a new one; a ``.repro-written`` that is no record of the kit's is someone's file, and refused."""
    rec = _record(parent)
    if rec is not None:
        return rec
    marker = parent / WRITTEN
    if os.path.lexists(marker):
        try:
            old = json.loads(marker.read_text())
            ours = isinstance(old, dict) and str(old.get("written_by", "")).startswith(MARK)
        except (OSError, ValueError, UnicodeDecodeError):
            ours = False
        if not ours or marker.is_symlink():
            raise OutputError(f"{what}: {marker} exists and is not repro's record",
                              hint="move it away or write into another folder")
    return {"written_by": MARK, "version": _VERSION, "files": {}, "dirs": []}


def _write_record(folder: Path, rec: dict[str, object]) -> None:
    """Replace ``folder``'s record atomically (a temporary sibling renamed over it)."""
    fd, name = tempfile.mkstemp(prefix=f"{WRITTEN}{_TMP}", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(rec, f, indent=0, sort_keys=True)
            f.write("\n")
        os.chmod(name, 0o666 & ~_umask())
        os.replace(name, folder / WRITTEN)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise


@contextlib.contextmanager
def defer_signals() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends (main thread only; elsewhere a no-op), then
    deliver the first one as its handler would have: a finished result is put in place whole, then the
    interrupt goes on."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {s: signal.getsignal(s) for s in sigs}
    for s in sigs:
        signal.signal(s, lambda signum, _frame: got.append(signum))
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        if got:
            signal.raise_signal(got[0])


def write_file(path: str | Path, content: str | bytes, *, what: str = "output", redact: bool = True) -> Path:
    """``content`` (text is redacted unless ``redact=False``) written to ``path`` atomically."""
    if isinstance(content, str):
        if redact:
            from repro_lib.redact import redact as _redact
            from repro_lib.redact import redact_yaml

            content = redact_yaml(content) if Path(path).suffix.lower() in (".yaml", ".yml") else _redact(content)
        data = content.encode()
    else:
        data = content
    return write_with(path, lambda tmp: tmp.write_bytes(data), what=what)


@contextlib.contextmanager
def folder(path: str | Path, what: str = "output folder", *, keep_on_error: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder to fill; at the end it replaces ``path`` (missing, empty or
    the kit's own), with :data:`WRITTEN` recording its files (size, hash) and folders. On an error
    (Ctrl-C, SIGTERM included) the temporary folder is removed — or, with ``keep_on_error``, put in
    place as a partial result. A write that fails (a full disk) is one line naming ``path``."""
    out = check_dir(path, what).absolute()
    tmp = _tmp_sibling(out, folder=True)
    try:
        yield tmp
    except BaseException as e:
        if keep_on_error:
            with contextlib.suppress(Exception):
                _commit(tmp, out, what)
        _remove(tmp)
        if isinstance(e, OSError) and not isinstance(e, ReproError):
            raise _write_error(e, what, out, tmp) from None
        raise
    try:
        _commit(tmp, out, what)
    except OSError as e:
        _remove(tmp)
        raise _write_error(e, what, out, tmp) from None
    except BaseException:
        _remove(tmp)
        raise


def _write_error(e: OSError, what: str, out: Path, tmp: Path) -> OutputError:
    """``e`` (met writing into ``tmp``) as one line naming the destination, and the file within it."""
    inner = ""
    if e.filename and str(e.filename).startswith(str(tmp)):
        inner = f" ({os.path.relpath(e.filename, tmp)})"
    elif e.filename:
        inner = f" ({e.filename})"
    return OutputError(f"cannot write {what} {out}{inner}: {e.strerror or e}",
                       hint="free some space or choose another destination" if e.errno == 28 else None)


def _commit(tmp: Path, out: Path, what: str) -> None:
    files: dict[str, object] = {}
    dirs: list[str] = []
    for r, ds, fs in os.walk(tmp):
        dirs += (os.path.relpath(os.path.join(r, d), tmp) for d in ds)
        for f in fs:
            if not (r == str(tmp) and f == WRITTEN):
                path = os.path.join(r, f)
                if not os.path.islink(path):
                    files[os.path.relpath(path, tmp)] = _digest(Path(path))
    _write_record(tmp, {"written_by": MARK, "version": _VERSION, "files": dict(sorted(files.items())),
                        "dirs": sorted(dirs)})
    os.chmod(tmp, 0o777 & ~_umask())
    with _locked(out.parent), defer_signals():
        check_dir(out, what)  # again: it may have changed during the work
        old = None
        if out.exists() and any(out.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}{_OLD}", dir=out.parent))
            os.replace(out, old / out.name)
        elif out.exists():
            out.rmdir()  # empty: nothing of anyone's is lost
        os.replace(tmp, out)
    if old is not None:
        if _foreign(old / out.name) is None:
            shutil.rmtree(old, ignore_errors=True)
        else:  # something appeared in it while we worked: keep it, and say where
            raise OutputError(f"{what} {out}: the previous folder gained files while repro worked; "
                              f"it was kept at {old / out.name}")


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK_VALUE = _read_umask()  # once, at import: os.umask is process-wide and not thread-safe


def _umask() -> int:
    return _UMASK_VALUE
