"""The layers of DESIGN.md, checked on the source: who may import whom, and no import cycles.

Every ``import`` counts, also the ones inside functions (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "repro_lib"

#: modules every layer may use: the shared vocabulary (no layer of their own; the only I/O is output's
#: safe writing and redact's reading of .env)
VOCABULARY = {"errors", "durations", "timings", "jobs", "logfmt", "events", "snapshot", "clirender", "redact",
              "output", "schema"}
#: the upper layers: drivers and faces
DRIVERS = {"scenario", "run", "session", "experiments", "search"}
FACES = {"cli", "widgets", "report", "inspect", "incident"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every ``repro_lib`` module ``name`` imports, resolved to the module (a ``from pkg import
    mod`` names the submodule ``pkg.mod`` when there is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "repro_lib")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "repro_lib":
                continue
            subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known}
            out.update(subs or {target})
            if len(subs) < len(node.names):  # names that are not submodules come from the package
                out.add(target)
    out.discard(name)
    return {m for m in out if m in known}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def _layer(module: str) -> str:
    """``repro_lib.stacks.sim`` → ``stacks``; ``repro_lib.run`` → ``run``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _violations(graph: dict[str, set[str]], layer: str, forbidden: set[str]) -> list[str]:
    return sorted(f"{m} imports {d}" for m, deps in graph.items() if _layer(m) == layer
                  for d in deps if _layer(d) in forbidden)


def test_the_checker_sees_imports(graph: dict[str, set[str]]) -> None:
    """The checker itself: it finds top-level and lazy (in-function) imports where we know they are."""
    assert "repro_lib.model.orchestrator" in graph["repro_lib.emulator.orchestrator"]
    assert "repro_lib.capture.records" in graph["repro_lib.stacks.base"]  # inside events_frame()
    assert "repro_lib.stacks" in graph["repro_lib.scenario"]
    assert "repro_lib.analysis.delivery" in graph["repro_lib.analysis.verdict"]


def test_model_imports_only_its_own_types(graph: dict[str, set[str]]) -> None:
    assert _violations(graph, "model", {_layer(m) for m in graph} - {"model", "logfmt", "jobs", "timings",
                                                                     "durations", "errors"}) == []


def test_emulator_is_only_the_live_processes(graph: dict[str, set[str]]) -> None:
    """No scenario, run, stack, capture or analysis in the emulator (it runs in the images)."""
    allowed = {"emulator", "model", "logfmt", "jobs", "timings", "durations", "errors", "clirender"}
    assert _violations(graph, "emulator", {_layer(m) for m in graph} - allowed) == []


def test_stacks_never_reach_up(graph: dict[str, set[str]]) -> None:
    """Stacks use the model, the emulator and capture; never the driver that drives them."""
    assert _violations(graph, "stacks", DRIVERS | FACES | {"analysis"}) == []


@pytest.mark.parametrize("layer", ["capture", "analysis"])
def test_capture_and_analysis_import_no_stack_or_driver(graph: dict[str, set[str]], layer: str) -> None:
    assert _violations(graph, layer, DRIVERS | FACES | {"stacks", "emulator", "widgets"}) == []


def test_vocabulary_imports_no_layer(graph: dict[str, set[str]]) -> None:
    bad = sorted(f"{m} imports {d}" for m, deps in graph.items() if _layer(m) in VOCABULARY
                 for d in deps if _layer(d) not in VOCABULARY)
    assert bad == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components: each one with more than one module is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_cycle_finder_finds_cycles() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(g) == [["a", "b", "c"]]


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    assert _cycles(graph) == []


def test_no_emulator_stackbase_anywhere() -> None:
    """The live base moved to ``repro_lib.stacks.base``; nothing imports the old place."""
    pattern = "(from|import) +repro_lib[.]emulator[.]stackbase"
    out = subprocess.run(["git", "grep", "-nE", pattern, "--", "repro_lib", "tests", "notebooks", "benchmarks",
                          "README.md", "docs"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode not in (0, 1):
        pytest.skip(f"git grep failed: {out.stderr.strip()}")
    assert out.stdout == ""
