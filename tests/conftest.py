"""Shared fixtures: the repo root, and running from it (job files resolve against the cwd)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _temp_files_under_pytest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What the kit leaves in the system temp folder on purpose (a live run's capture, kept so no log
    is lost) goes under pytest's own temp folder during the tests, which pytest prunes: the suite
    leaves no ``repro-local-*`` folders behind."""
    import tempfile

    base = tmp_path_factory.mktemp("systmp")
    old, old_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(base)
    os.environ["TMPDIR"] = str(base)
    try:
        yield
    finally:
        tempfile.tempdir = old
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    return ROOT


# CI runs the property tests with a fixed seed (a failure reproduces exactly); locally they explore.
try:
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        settings.load_profile("ci")
except ImportError:  # pragma: no cover
    pass
