"""A search run in this process stops on Ctrl-C even when the interrupt lands inside a shard, in code that takes
a ``KeyboardInterrupt`` for its own (hypothesis' engine catches ``BaseException``): the signal sets a flag the
search reads between shards, and nothing raised can be swallowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import importlib, os, signal
from repro_lib.search import search

E = importlib.import_module("repro_lib.search.explore")  # the module (the package's `explore` is its function)

run_shard = E.run_shard
calls = [0]

def swallowing(*a, **k):
    calls[0] += 1
    try:
        if calls[0] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # the interrupt arrives while a shard runs ...
        return run_shard(*a, **k)
    except KeyboardInterrupt:  # ... where something takes it for its own
        return run_shard(*a, **k)

E.run_shard = swallowing
report = search("scenarios/core-395.yaml", fixes=["none"], runs=1000, workers=1)
print(report.complete, report.interrupted, calls[0])
"""


def test_an_interrupt_inside_a_shard_stops_the_search() -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    complete, interrupted, shards = out.stdout.split()
    assert complete == "False" and interrupted == "SIGINT"
    assert int(shards) == 2  # the shard it arrived in finished; no other began (1,000 runs: 20 shards)
