"""Structured log records (the sim's, or the emulator's) → the events table, no text parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from repro_lib.logfmt import LogRecord

__all__ = ["EPOCH", "records_frame"]

EPOCH = datetime(2025, 12, 25, 20, 0, 0, tzinfo=UTC)  # the sim's wall clock at t=0


def records_frame(records: list[LogRecord], epoch: datetime = EPOCH) -> pd.DataFrame:
    """The events table for structured records (the sim's, or the emulator's), built by columns
    (:mod:`repro_lib.eventframe`: the same table :func:`~repro_lib.events.event_from_fields` gives row by row)."""
    from repro_lib.eventframe import records_frame as by_columns

    return by_columns(records, epoch)
