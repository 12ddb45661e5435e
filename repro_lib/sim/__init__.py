"""The embedded simulated stack: the model in virtual time."""

from repro_lib.sim.bus import Bus
from repro_lib.sim.driver import SimStack

__all__ = ["Bus", "SimStack"]
