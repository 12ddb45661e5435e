"""Judgement over the events table (DESIGN.md, ``repro_lib.analysis``).

- :mod:`.delivery` — each pending execution's delivery history and its class
  (lost, refused, blocked, retrying, scheduled, in_flight, delivered, awaiting_node, unknown);
- :mod:`.verdict` — reproduced / not_reproduced / inconclusive, from those classes;
- :mod:`.diagnosis` — what happened to each pending execution, honest about missing evidence;
- :mod:`.counts` — dispatch counts that mean what the README says;
- :mod:`.timeline` and :mod:`.plots` — derived intervals and the figures.
"""

from repro_lib.analysis.counts import event_counts
from repro_lib.analysis.delivery import CLASSES, STUCK_CLASSES, delivery_table, stuck_after
from repro_lib.analysis.diagnosis import (
    CAUSE_BLOCKED,
    CAUSE_LOST,
    CAUSE_NEVER_RETURNED,
    CAUSE_NOT_DISPATCHED,
    CAUSE_PROBABLE_LOST,
    CAUSE_RECOVERING,
    CAUSE_REFUSED,
    CAUSE_RETRYING,
    NO_DISPATCH_HINT,
    Diagnosis,
    Finding,
    diagnose,
)
from repro_lib.analysis.verdict import Stuck, Verdict, verdict_of

__all__ = [
    "CLASSES", "STUCK_CLASSES", "delivery_table", "stuck_after", "event_counts",
    "Stuck", "Verdict", "verdict_of", "Finding", "Diagnosis", "diagnose", "NO_DISPATCH_HINT",
    "CAUSE_LOST", "CAUSE_PROBABLE_LOST", "CAUSE_REFUSED", "CAUSE_NEVER_RETURNED", "CAUSE_NOT_DISPATCHED",
    "CAUSE_RECOVERING", "CAUSE_RETRYING", "CAUSE_BLOCKED",
]
