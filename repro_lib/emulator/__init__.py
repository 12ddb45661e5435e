"""The live emulator: the sans-IO model (:mod:`repro_lib.model`) driven by real time and a real
NATS server through nats-py — what the emulated Docker images and the local-process stack run.

- :mod:`.orchestrator` — the orchestrator process (NATS + the HTTP API the CLI uses)
- :mod:`.edge` — one edge process (identity and executions kept in its data dir)
- :mod:`.cli` — ``expanso-cli``: ``node list``, ``job deploy FILE``, ``job list``,
  ``execution list``, ``--format json``, ``--no-style``
- :mod:`.runtime` — the asyncio driver shared by both processes (clock, timers, log output)
- :mod:`.render` — CLI tables/JSON, byte-identical to :mod:`repro_lib.capture.cli` without pandas
- :mod:`.standalone` — start any of them by file path, without ``repro_lib/__init__`` (pandas)
- :mod:`.local_stack` — :class:`LocalStack`, the emulator as local processes (host only)
- :mod:`.stackbase` — what every live stack shares: waits, snapshots, events from captured logs

Everything but ``local_stack`` and ``stackbase`` imports only the model, ``logfmt``, ``jobs``,
``timings`` and the standard library plus nats-py and PyYAML: the images carry no pandas, and
``standalone`` refuses to import it.
"""

__all__: list[str] = []
