"""Ctrl-C while ``repro`` is still importing its libraries prints one line, not a traceback.

``repro_lib/__init__`` imports this first, before pandas and matplotlib: when the process is the ``repro``
command (the console script, or ``python -m repro_lib.cli``), a ``KeyboardInterrupt`` that escapes before
:func:`repro_lib.cli.main` takes over is reported as ``repro: interrupted (Ctrl-C) …`` and the process
exits 2, like any interrupted command. A library user (a notebook, a script) keeps Python's own behaviour.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType

__all__ = ["cli_started"]

_previous = sys.excepthook


def _is_cli() -> bool:
    argv0 = os.path.basename(sys.argv[0]) if sys.argv else ""
    orig = list(getattr(sys, "orig_argv", []))
    return argv0 == "repro" or any(a == "-m" and b == "repro_lib.cli" for a, b in zip(orig, orig[1:], strict=False))


def _hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        try:
            sys.stderr.write("repro: interrupted (Ctrl-C) while starting; nothing was started\n")
            sys.stderr.flush()
        finally:
            os._exit(2)
    _previous(kind, exc, tb)


def cli_started() -> None:
    """:func:`repro_lib.cli.main` handles interrupts from here on: Python's own hook is put back."""
    if sys.excepthook is _hook:
        sys.excepthook = _previous


if _is_cli():
    sys.excepthook = _hook
