"""Reports: execute a notebook once (papermill), keep the executed ``.ipynb``, render HTML from that
same execution (nbconvert, images embedded), and bundle the run folder next to it.

The HTML must show everything with no kernel and no network: widget views are dead in a static
page (and anything drawn inside an ``Output`` widget is gone), so the notebooks draw every figure
and table that matters as a plain cell output; here we drop the widget views and their state,
and every script nbconvert would fetch from a CDN (require.js, MathJax, the widget manager)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro_lib.errors import ReproError

__all__ = ["Report", "render_report", "make_offline", "redact_notebook", "ReportError"]

_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_EXTERNAL = re.compile(r"""<(script|link)\b[^>]*\b(src|href)=["']https?://[^"']*["'][^>]*>(\s*</script>)?""", re.I)
_MODULE_LOADER = re.compile(r"<script\b[^>]*>(?:(?!</script>).)*?https?://(?:(?!</script>).)*?</script>", re.S | re.I)


class ReportError(ReproError):
    """A notebook failed to execute; the partial executed notebook is kept."""

    def __init__(self, message: str, *, cell: int | None = None, notebook: Path | None = None,
                 hint: str | None = None) -> None:
        self.cell = cell
        self.notebook = notebook
        super().__init__(message, hint=hint)


@dataclass
class Report:
    html: Path
    notebook: Path
    run_dir: Path | None
    seconds: float


def _map_text(nb: Any, fn: Callable[[str], str], *, keyed: Callable[[str, str], str] | None = None) -> Any:
    """``fn`` over every text a notebook holds: the metadata (papermill records the parameters there),
    each cell's source and metadata, and every output (streams, text/*, JSON data, error values).
    ``keyed(key, text)`` is also applied to each text stored under a key in a mapping (metadata,
    JSON data), where the key alone may say that the text is a secret."""
    def walk(obj: Any, key: str | None = None) -> Any:
        if isinstance(obj, dict):
            return {k: walk(v, k) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v, key) for v in obj]
        if isinstance(obj, str):
            obj = fn(obj)
            return keyed(key, obj) if keyed and key else obj
        return obj

    def text(value: Any) -> Any:
        value = "".join(value) if isinstance(value, list) else value
        return fn(value) if isinstance(value, str) else value

    nb["metadata"] = type(nb["metadata"])(walk(dict(nb["metadata"])))
    for cell in nb.cells:
        cell["source"] = text(cell.get("source") or "")
        if isinstance(cell.get("metadata"), dict):
            cell["metadata"] = type(cell["metadata"])(walk(dict(cell["metadata"])))
        for out in cell.get("outputs", []):
            for key in ("text", "evalue"):
                if key in out:
                    out[key] = text(out[key])
            if isinstance(out.get("traceback"), list):
                out["traceback"] = [text(x) for x in out["traceback"]]
            for mime, value in list(out.get("data", {}).items()):
                if mime.startswith("text/") or (mime.startswith("application/") and mime.endswith("json")):
                    out["data"][mime] = walk(value) if isinstance(value, dict) else text(value)
    return nb


def redact_notebook(nb: Any) -> Any:
    """Every text a notebook holds through :func:`repro_lib.redact.redact` (a papermill parameter, a
    printed log line, a table cell, a traceback); figures were redacted when they were drawn. A value
    stored under a secret-looking key (``{"TOKEN": "…"}`` in papermill's parameters) is masked whole."""
    from repro_lib.redact import MASK, redact

    def keyed(key: str, value: str) -> str:
        probe = f"{key}={value}"
        return MASK if value and value != MASK and redact(probe) != probe else value

    return _map_text(nb, redact, keyed=keyed)


def make_offline(nb: Any) -> Any:
    """Strip widget views (dead in static HTML) and the widget state from an executed notebook."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if _WIDGET_MIME in data:
                rest = {k: v for k, v in data.items() if k not in (_WIDGET_MIME, "text/plain")}
                if not rest:
                    continue  # a widget view only: nothing to show without a kernel
                out["data"] = rest
            kept.append(out)
        cell["outputs"] = kept
    return nb


def _html(nb: Any, *, no_input: bool) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", embed_images=True, exclude_input=no_input,
                            exclude_input_prompt=no_input)
    body, _ = exporter.from_notebook_node(nb)
    body = _EXTERNAL.sub("", body)
    body = _MODULE_LOADER.sub("", body)  # e.g. the mermaid loader importing from a CDN
    # long log lines wrap (at spaces first, inside a word only when it alone is wider than the page),
    # so `connection_exists=true connection_alive=true` at the end of a line is on the page, not scrolled off
    return body.replace("</head>", _WRAP + "</head>", 1)


_WRAP = ("<style>.jp-OutputArea-output pre{white-space:pre-wrap;word-break:normal;"
         "overflow-wrap:anywhere}</style>")


def relativize_notebook(nb: Any, root: Path) -> Any:
    """Paths under ``root`` (the repository) shown relative to it: a report sent to a maintainer shows
    ``reports/walkthrough/run``, not the folder it was made in."""
    prefix = str(root.resolve()).rstrip("/") + "/"
    return _map_text(nb, lambda text: text.replace(prefix, ""))


def render_report(notebook: str | Path, out_dir: str | Path, *, parameters: dict[str, Any] | None = None,
                  no_input: bool = False, run_param: str | None = "RUN_DIR", timeout: int = 600,
                  cwd: str | Path | None = None) -> Report:
    """Execute ``notebook`` with ``parameters`` into ``out_dir``: NAME.ipynb, NAME.html, run/.

    ``out_dir`` is written through :func:`repro_lib.output.folder` (missing, empty or a report
    folder the kit wrote; checked before the notebook runs). A notebook that fails or is
    interrupted (Ctrl-C, SIGTERM) still leaves its partly executed notebook there — redacted like
    everything else; the kernel's connection file (it holds the kernel's key) never outlives the call."""
    import nbformat
    import papermill as pm

    from repro_lib.output import check_dir, folder

    warnings.filterwarnings("ignore", message="Cell is missing an id field")  # nbformat's, on older notebooks

    src = Path(notebook)
    if not src.is_file():
        raise ReportError(f"notebook {src} not found", hint="e.g. notebooks/01-walkthrough.ipynb")
    declared = _parameters_of(src)
    params = dict(parameters or {})
    unknown = sorted(set(params) - set(declared) - ({run_param} if run_param in declared else set()))
    if unknown:
        raise ReportError(f"{src.name} has no parameter(s) {', '.join(unknown)}",
                          hint=f"its parameters are: {', '.join(declared) or 'none'}")
    out = check_dir(out_dir, "report folder")
    final_run = (out / "run").resolve() if run_param and run_param in declared else None
    t0 = time.perf_counter()
    with folder(out, "report folder", keep_on_error=True) as tmp, _private_runtime_dir():
        executed = tmp / src.name
        if final_run is not None:
            params.setdefault(run_param, str(tmp.resolve() / "run"))  # type: ignore[index]
        for name, rel in _paths_in_default_folder(src).items():  # e.g. notebook 05's OUT: inside the report
            params.setdefault(name, str(tmp.resolve() / rel))

        def finish() -> Any:  # the executed notebook as it is shared: redacted, paths as a reader sees them
            nb = nbformat.read(executed, as_version=4)
            nb = _map_text(nb, lambda text: text.replace(tmp.name, out.name))  # the temp folder's unique name
            nb = relativize_notebook(redact_notebook(nb), Path.cwd())
            nbformat.write(nb, executed)
            return nb

        try:
            _execute(lambda: pm.execute_notebook(
                str(src), str(executed), parameters=params, kernel_name="python3",
                cwd=str(cwd or src.resolve().parent), progress_bar=False, execution_timeout=timeout,
                # the kernel talks to papermill over loopback TCP; its warning about that is noise
                # to a reader of `make demo` (errors still show)
                extra_arguments=["--IPKernelApp.log_level=ERROR"]))
        except BaseException as e:
            _keep_partial(executed, finish)
            if isinstance(e, pm.PapermillExecutionError):
                raise ReportError(f"{src.name} failed in cell {e.exec_count}: {e.ename}: {e.evalue}",
                                  cell=e.cell_index, notebook=out / src.name,
                                  hint=f"the partly executed notebook is at {out / src.name}") from None
            if isinstance(e, OSError) and e.errno is not None:  # a full disk, a read-only folder: not the notebook
                where = e.filename if e.filename and not str(e.filename).startswith(str(tmp)) else out / src.name
                raise ReportError(f"cannot write {where}: {e.strerror or e}", notebook=out / src.name,
                                  hint="free some space or choose another --out" if e.errno == 28 else None) from None
            if isinstance(e, Exception) and not isinstance(e, ReproError):
                first = (str(e).strip().splitlines() or [""])[0][:200]
                raise ReportError(f"{src.name} could not be executed: {type(e).__name__}: {first}",
                                  hint="check that it is a valid notebook (jupyter nbconvert --to notebook)") from None
            raise
        nb = make_offline(finish())
        (tmp / (src.stem + ".html")).write_text(_html(nb, no_input=no_input))
    return Report(html=out / (src.stem + ".html"), notebook=out / src.name,
                  run_dir=final_run if final_run and final_run.exists() else None,
                  seconds=time.perf_counter() - t0)


def _keep_partial(executed: Path, finish: Callable[[], Any]) -> None:
    """A partly executed notebook is kept only redacted: one that cannot be read whole is removed."""
    if not executed.exists():
        return
    try:
        finish()
    except BaseException:  # noqa: BLE001 - half-written JSON, a second Ctrl-C: never keep it unredacted
        executed.unlink(missing_ok=True)


def _execute(call: Callable[[], object]) -> None:
    """Run papermill in a worker thread while this thread waits, so that Ctrl-C and SIGTERM reach
    *us*: nbclient's own signal handlers (main thread only) would swallow them and leave the run
    hanging. On an interrupt the kernel this call started is stopped, then the interrupt goes on."""
    box: dict[str, BaseException] = {}

    def work() -> None:
        try:
            call()
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = e

    before = _children()
    worker = threading.Thread(target=work, name="repro-papermill", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except BaseException:
        _stop(_children() - before)
        worker.join(10)  # nbclient notices the dead kernel and unwinds (its clean-up included)
        raise
    if "error" in box:
        raise box["error"]


def _children() -> set[int]:
    """This process's child processes (the kernel papermill starts is one)."""
    me, found = os.getpid(), set()
    for d in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if d.isdigit():
            try:
                if int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                    found.add(int(d))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _stop(pids: set[int], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds, to each of ``pids``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        end = time.monotonic() + grace
        while time.monotonic() < end:
            for pid in list(pids):
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        pids.discard(pid)
            if not pids:
                return
            time.sleep(0.05)


@contextlib.contextmanager
def _private_runtime_dir() -> Iterator[None]:
    """The kernel's connection file (it holds the key that signs the kernel's messages) goes into a
    folder of our own, removed at the end whatever happens: jupyter_client makes it with
    ``tempfile.mkstemp`` (so in ``tempfile.tempdir``), or in ``JUPYTER_RUNTIME_DIR``."""
    runtime = tempfile.mkdtemp(prefix="repro-kernel-")
    before = os.environ.get("JUPYTER_RUNTIME_DIR"), tempfile.tempdir
    os.environ["JUPYTER_RUNTIME_DIR"] = runtime
    tempfile.tempdir = runtime
    try:
        yield
    finally:
        if before[0] is None:
            os.environ.pop("JUPYTER_RUNTIME_DIR", None)
        else:
            os.environ["JUPYTER_RUNTIME_DIR"] = before[0]
        tempfile.tempdir = before[1]
        shutil.rmtree(runtime, ignore_errors=True)


def _paths_in_default_folder(path: Path) -> dict[str, str]:
    """Parameters whose default is a path inside the notebook's default report folder
    (``reports/<notebook>/…``), each with that path relative to the folder: a report puts what they
    name inside its own folder, wherever ``--out`` puts it — never beside it."""
    base = Path("reports") / path.stem
    found: dict[str, str] = {}
    for name, value in _parameter_defaults(path).items():
        if isinstance(value, str) and value.strip():
            p = Path(value)
            if not p.is_absolute() and p != base and p.is_relative_to(base) and ".." not in p.parts:
                found[name] = str(p.relative_to(base))
    return found


def _parameter_defaults(path: Path) -> dict[str, object]:
    """The literal values assigned in the cell tagged ``parameters`` (names whose value is no literal
    are left out)."""
    import ast

    try:
        nb = json.loads(path.read_text())
        cells = nb.get("cells", []) if isinstance(nb, dict) else []
    except (ValueError, UnicodeDecodeError, OSError):
        return {}
    for cell in cells:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("tags"), list) and "parameters" in meta["tags"]:
            raw = cell.get("source", "")
            src = "".join(map(str, raw)) if isinstance(raw, list) else str(raw)
            try:
                tree = ast.parse(src)
            except SyntaxError:
                return {}
            out: dict[str, object] = {}
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        out[node.targets[0].id] = ast.literal_eval(node.value)
                    except (ValueError, TypeError, SyntaxError, RecursionError):
                        continue
            return out
    return {}


def _parameters_of(path: Path) -> list[str]:
    """Names assigned in the cell tagged ``parameters``."""
    try:
        nb = json.loads(path.read_text())
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list) \
                or not all(isinstance(c, dict) for c in nb["cells"]):
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        raise ReportError(f"{path} is not a Jupyter notebook", hint="e.g. notebooks/01-walkthrough.ipynb") from None
    for cell in nb["cells"]:
        tags = (cell.get("metadata") or {}).get("tags") if isinstance(cell.get("metadata"), dict) else None
        if isinstance(tags, list) and "parameters" in tags:
            raw = cell.get("source", "")
            src = "".join(map(str, raw)) if isinstance(raw, list) else str(raw)
            return re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=", src, flags=re.M)
    return []
