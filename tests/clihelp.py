"""``repro …`` in-process, as the tests run it: (exit code, what it printed on stdout)."""

from __future__ import annotations

import contextlib
import io

from repro_lib.cli import main


def run_cli(*args: str) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            rc = main(list(args))
        except SystemExit as e:
            rc = int(e.code or 0)
    return rc, buf.getvalue()
