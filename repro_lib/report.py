"""Reports: execute a notebook once (papermill), keep the executed ``.ipynb``, render HTML from that
same execution (nbconvert, images embedded), and bundle the run folder next to it.

The HTML must show everything with no kernel and no network: widget views are dead in a static
page (and anything drawn inside an ``Output`` widget is gone), so the notebooks draw every figure
and table that matters as a plain cell output; here we drop the widget views and their state,
and every script nbconvert would fetch from a CDN (require.js, MathJax, the widget manager)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
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


def _map_text(nb: Any, fn: Callable[[str], str]) -> Any:
    """``fn`` over every text a notebook holds: the metadata (papermill records the parameters there),
    each cell's source, and every text output (streams, text/* and JSON data, error values)."""
    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return fn(obj) if isinstance(obj, str) else obj

    def text(value: Any) -> Any:
        value = "".join(value) if isinstance(value, list) else value
        return fn(value) if isinstance(value, str) else value

    nb["metadata"] = type(nb["metadata"])(walk(dict(nb["metadata"])))
    for cell in nb.cells:
        cell["source"] = text(cell.get("source") or "")
        for out in cell.get("outputs", []):
            for key in ("text", "evalue"):
                if key in out:
                    out[key] = text(out[key])
            for mime, value in list(out.get("data", {}).items()):
                if mime.startswith("text/") or mime == "application/json":
                    out["data"][mime] = text(value)
    return nb


def redact_notebook(nb: Any) -> Any:
    """Every text a notebook holds through :func:`repro_lib.redact.redact` (a papermill parameter, a
    printed log line, a table cell); figures were redacted when they were drawn."""
    from repro_lib.redact import redact

    return _map_text(nb, redact)


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
    # long log lines stay on one line and scroll, instead of breaking mid-word
    return body.replace("</head>", _NOWRAP + "</head>", 1)


_NOWRAP = ("<style>.jp-OutputArea-output pre{white-space:pre;overflow-x:auto;word-break:normal;"
           "overflow-wrap:normal}</style>")


def relativize_notebook(nb: Any, root: Path) -> Any:
    """Paths under ``root`` (the repository) shown relative to it: a report sent to a maintainer shows
    ``reports/walkthrough/run``, not the folder it was made in."""
    prefix = str(root.resolve()).rstrip("/") + "/"
    return _map_text(nb, lambda text: text.replace(prefix, ""))


def render_report(notebook: str | Path, out_dir: str | Path, *, parameters: dict[str, Any] | None = None,
                  no_input: bool = False, run_param: str | None = "RUN_DIR", timeout: int = 600,
                  cwd: str | Path | None = None) -> Report:
    """Execute ``notebook`` with ``parameters`` into ``out_dir``: NAME.ipynb, NAME.html, run/."""
    import nbformat
    import papermill as pm

    src = Path(notebook)
    if not src.is_file():
        raise ReportError(f"notebook {src} not found", hint="e.g. notebooks/01-walkthrough.ipynb")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    executed = out / src.name
    params = dict(parameters or {})
    run_dir = None
    declared = _parameters_of(src)
    if run_param and run_param in declared:
        run_dir = (out / "run").resolve()
        params.setdefault(run_param, str(run_dir))
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ReportError(f"{src.name} has no parameter(s) {', '.join(unknown)}",
                          hint=f"its parameters are: {', '.join(declared) or 'none'}")
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(src), str(executed), parameters=params, kernel_name="python3",
                            cwd=str(cwd or src.resolve().parent), progress_bar=False,
                            execution_timeout=timeout,
                            # the kernel talks to papermill over loopback TCP; its warning about that
                            # is noise to a reader of `make demo` (errors still show)
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except pm.PapermillExecutionError as e:
        raise ReportError(f"{src.name} failed in cell {e.exec_count}: {e.ename}: {e.evalue}",
                          cell=e.cell_index, notebook=executed,
                          hint=f"the partly executed notebook is at {executed}") from None
    nb = relativize_notebook(redact_notebook(nbformat.read(executed, as_version=4)), Path.cwd())
    nbformat.write(nb, executed)  # the executed notebook is shared too
    nb = make_offline(nb)
    html = out / (src.stem + ".html")
    html.write_text(_html(nb, no_input=no_input))
    return Report(html=html, notebook=executed, run_dir=run_dir if run_dir and run_dir.exists() else None,
                  seconds=time.perf_counter() - t0)


def _parameters_of(path: Path) -> list[str]:
    """Names assigned in the cell tagged ``parameters``."""
    try:
        nb = json.loads(path.read_text())
        if not isinstance(nb, dict) or "cells" not in nb:
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        raise ReportError(f"{path} is not a Jupyter notebook", hint="e.g. notebooks/01-walkthrough.ipynb") from None
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            return re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=", src, flags=re.M)
    return []
