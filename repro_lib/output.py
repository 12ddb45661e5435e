"""Writing files and folders safely: the one place the kit writes what it leaves on disk.

The promises (README, "What the kit promises"), each backed by a test:

- **Nothing the kit did not write is deleted or overwritten.** A destination file may be missing,
  or a file the kit wrote earlier (recognised by its content: :func:`is_ours`). A destination
  folder may be missing, empty, or a folder the kit wrote earlier that holds nothing else: every
  folder the kit writes lists its files in :data:`WRITTEN`. Anything else is refused with one line.
- **Nothing half-written.** Everything is written into a hidden temporary sibling
  (``.NAME.repro-tmp-…``) and renamed into place at the end, under a lock on the parent folder, so
  two runs into one destination cannot trip over each other. On an error, Ctrl-C or SIGTERM the
  temporary sibling is removed.
- **Checked before the work.** :func:`check_file` and :func:`check_dir` refuse a destination that
  cannot be written (a FIFO, a device, a symbolic link, ``/proc``, a read-only folder) before a
  long run or search starts.
- **One redaction.** Text goes through :func:`repro_lib.redact.redact` on its way to disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from repro_lib.errors import ReproError

__all__ = ["WRITTEN", "OutputError", "check_dir", "check_file", "folder", "is_ours", "is_ours_dir",
           "write_file", "write_with", "FIGURE_SUFFIXES", "MARK"]

#: the list of files in every folder the kit writes (JSON: {"written_by": …, "files": [...]})
WRITTEN = ".repro-written"
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


def is_ours(path: str | Path) -> bool:
    """Whether an existing regular file was written by the kit (judged from its content)."""
    p = Path(path)
    try:
        if not p.is_file() or p.is_symlink():
            return False
        suffix = p.suffix.lower()
        if suffix == ".json":
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                doc = json.loads(p.read_text())
                return isinstance(doc, dict) and str(doc.get("written_by", "")).startswith(MARK)
            return False
        if suffix == ".csv":
            with p.open("rb") as f:
                head = f.readline()
                return head.startswith(b"t,date,") and b",source,kind," in head  # events_for_csv's header
        if suffix in (".yaml", ".yml"):
            with p.open("rb") as f:
                head = f.readline()
                # search's counterexamples; inspect --scenario's reconstructions and their job files
                return head.startswith((b"# found by: repro search", b"# reconstructed by: repro inspect"))
        if suffix in FIGURE_SUFFIXES:
            if p.stat().st_size > 64 << 20:
                return False
            return f"{MARK} ".encode() in p.read_bytes()
    except OSError:
        return False
    return False


def _listed(folder: Path) -> set[str] | None:
    """The files a kit folder says it holds, or None when it is not one."""
    try:
        doc = json.loads((folder / WRITTEN).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or not str(doc.get("written_by", "")).startswith(MARK):
        return None
    files = doc.get("files")
    return {str(f) for f in files} if isinstance(files, list) else None


def _foreign(folder: Path) -> str | None:
    """The first entry of ``folder`` the kit did not write (None: every entry is the kit's)."""
    listed = _listed(folder)
    for root, dirs, files in os.walk(folder):
        for name in sorted(files) + [d for d in sorted(dirs) if os.path.islink(os.path.join(root, d))]:
            rel = os.path.relpath(os.path.join(root, name), folder)
            if rel == WRITTEN and listed is not None:
                continue
            if listed is None or rel not in listed:
                return rel
    return None


def is_ours_dir(path: str | Path) -> bool:
    """Whether ``path`` is a folder the kit wrote that holds nothing but what the kit wrote."""
    p = Path(path)
    return p.is_dir() and not p.is_symlink() and _listed(p) is not None and _foreign(p) is None


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
        if not is_ours(out):
            raise OutputError(f"{what} {path} exists and was not written by repro",
                              hint="move it away or choose another name (the kit overwrites only its own files)")
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
            raise OutputError(f"{what} {path} holds {bad}, which repro did not write",
                              hint="name a new or empty folder; to replace it, remove it yourself first")
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
    """Call ``writer(tmp)`` to write a temporary sibling, then rename it onto ``path``; ``path`` must
    be missing or the kit's own (checked again at the rename)."""
    out = check_file(path, what).absolute()
    tmp = _tmp_sibling(out, folder=False)
    try:
        writer(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        with _locked(out.parent):
            check_file(out, what)
            os.replace(tmp, out)
    except OSError as e:
        _remove(tmp)
        raise OutputError(f"cannot write {what} {out}: {e.strerror or e}") from None
    except BaseException:
        _remove(tmp)
        raise
    return out


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
    the kit's own), with :data:`WRITTEN` listing its files. On an error (Ctrl-C, SIGTERM included)
    the temporary folder is removed — or, with ``keep_on_error``, put in place as a partial result."""
    out = check_dir(path, what).absolute()
    tmp = _tmp_sibling(out, folder=True)
    try:
        yield tmp
    except BaseException:
        if keep_on_error:
            with contextlib.suppress(Exception):
                _commit(tmp, out, what)
        _remove(tmp)
        raise
    try:
        _commit(tmp, out, what)
    except BaseException:
        _remove(tmp)
        raise


def _commit(tmp: Path, out: Path, what: str) -> None:
    files = sorted(os.path.relpath(os.path.join(r, f), tmp) for r, _, fs in os.walk(tmp) for f in fs
                   if not (r == str(tmp) and f == WRITTEN))
    (tmp / WRITTEN).write_text(json.dumps({"written_by": MARK, "files": files}, indent=0) + "\n")
    os.chmod(tmp, 0o777 & ~_umask())
    with _locked(out.parent):
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
