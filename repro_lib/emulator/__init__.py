"""The live emulator: the sans-IO model (:mod:`repro_lib.model`) driven by real time and a real
NATS server through nats-py — what the emulated Docker images and the local-process stack run.

- :mod:`.orchestrator` — the orchestrator process (NATS + the HTTP API the CLI uses)
- :mod:`.edge` — one edge process (identity and executions kept in its data dir)
- :mod:`.cli` — ``expanso-cli``: ``node list``, ``job deploy FILE``, ``job list``,
  ``execution list``, ``--format json``, ``--no-style`` (tables and JSON from
  :mod:`repro_lib.clirender`, byte-identical to what :mod:`repro_lib.capture.cli` parses)
- :mod:`.runtime` — the asyncio driver shared by both processes (clock, timers, log output)
- :mod:`.standalone` — start any of them by file path, without ``repro_lib/__init__`` (pandas)

Only the live processes live here: nothing in this package imports a scenario, a run, a stack,
capture or analysis (``tests/test_layout.py`` checks it). Every module imports only the model,
``logfmt``, ``jobs``, ``timings``, ``clirender`` and the standard library plus nats-py and PyYAML:
the images carry no pandas, and ``standalone`` refuses to import it. The stacks that start these
processes are :mod:`repro_lib.stacks.local` and :mod:`repro_lib.stacks.compose`.
"""

__all__: list[str] = []
