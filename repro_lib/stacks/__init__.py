"""Stacks: one :class:`Stack` protocol, one module per backend (DESIGN.md, "Layers").

- :mod:`.protocol` — :class:`Stack` (what a scenario step may ask of a backend) and
  :class:`StackGuards` (the argument checks every backend shares);
- :mod:`.sim` — :class:`~repro_lib.stacks.sim.SimStack`, the model in virtual time over the
  in-process core-NATS bus of :mod:`.simbus` (the embedded default);
- :mod:`.base` — :class:`~repro_lib.stacks.base.LiveStack`, what every live stack shares:
  real time, waits with timeouts, CLI/API snapshots, events from the captured logs;
- :mod:`.local` — the emulator (:mod:`repro_lib.emulator`) as local processes over ``nats-server``;
- :mod:`.compose` — ``docker-compose.debug.yml`` via the docker SDK and the compose CLI, with
  :mod:`.images` (building the emulated images) and :mod:`.dockerlogs` (log + Docker event capture);
- :mod:`.cloud` — the edges of ``docker-compose.yml`` against an Expanso Cloud endpoint.

Stacks use the model, the emulator (as processes) and capture; they never import the scenario
runner, a :class:`~repro_lib.run.Run`, analysis or the faces (CLI, widgets, report).
Importing this package is cheap: a backend module is imported only when :func:`make_stack`
asks for it.
"""

from __future__ import annotations

import importlib
from typing import Any

from repro_lib.errors import StackError
from repro_lib.stacks.protocol import BACKENDS, Stack, StackGuards

__all__ = ["BACKENDS", "STACKS", "Stack", "StackGuards", "make_stack"]

#: backend -> "module:factory"; a factory takes ``(scenario, seed, **options)``
STACKS: dict[str, Any] = {
    "sim": "repro_lib.stacks.sim:make_sim_stack",
    "local": "repro_lib.stacks.local:make_local_stack",
    "compose": "repro_lib.stacks.compose:make_compose_stack",
    "cloud": "repro_lib.stacks.cloud:make_cloud_stack",
}


def make_stack(backend: str, sc: Any, seed: int, **options: Any) -> Stack:
    """The stack for ``backend`` (``sim``, ``local``, ``compose``, ``cloud``) running scenario ``sc``."""
    target = STACKS.get(backend)
    if target is None:
        raise StackError(f"unknown backend {backend!r}", hint=f"use one of {', '.join(STACKS)}")
    if isinstance(target, str):  # imported only when asked for
        module, _, attr = target.partition(":")
        try:
            target = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise StackError(f"backend {backend!r} is not available ({e})") from None
    return target(sc, seed, **options)
