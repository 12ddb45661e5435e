"""Run the emulator by file path, without importing ``repro_lib/__init__`` (which pulls in
pandas for the analysis side):

    python3 repro_lib/emulator/standalone.py orchestrator run --log-level debug
    python3 repro_lib/emulator/standalone.py cli node list

The emulated images and the local-process stack both start the emulator this way, and a meta
path hook refuses pandas, numpy, matplotlib, pyarrow, Jupyter and the docker SDK: if the
emulator ever needs them, it fails loudly here instead of silently bloating the images.
"""

from __future__ import annotations

import importlib.abc
import sys
import types
from pathlib import Path

BLOCKED = ("pandas", "numpy", "matplotlib", "pyarrow", "IPython", "ipykernel", "ipywidgets", "jupyter",
           "jupyterlab", "nbformat", "papermill", "docker")


class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"the emulator must not import {name} (the emulated images do not carry it)")
        return None


def setup() -> None:
    """Make ``repro_lib`` importable without its ``__init__`` and refuse the heavy packages."""
    here = Path(__file__).resolve().parent
    # running a file puts its folder first on sys.path; our module names must not shadow anything
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    if "repro_lib" not in sys.modules:
        pkg = types.ModuleType("repro_lib")
        pkg.__path__ = [str(here.parent)]
        sys.modules["repro_lib"] = pkg
    if not any(isinstance(f, _Block) for f in sys.meta_path):
        sys.meta_path.insert(0, _Block())


def main() -> int:
    setup()
    from repro_lib.emulator.__main__ import main as emulator_main

    return emulator_main()


if __name__ == "__main__":
    sys.exit(main())
