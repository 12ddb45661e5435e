"""Structured log records (the sim's, or the emulator's) → the events table, no text parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from repro_lib.events import COLUMNS, event_from_fields
from repro_lib.logfmt import LogRecord

__all__ = ["EPOCH", "records_frame"]

EPOCH = datetime(2025, 12, 25, 20, 0, 0, tzinfo=UTC)  # the sim's wall clock at t=0


def records_frame(records: list[LogRecord], epoch: datetime = EPOCH) -> pd.DataFrame:
    """The events table for structured records (the sim's, or the emulator's)."""
    rows = [event_from_fields(r.t, r.source, r.msg, dict(r.fields)) for r in records]
    df = pd.DataFrame(rows, columns=["t_s", "source", "kind", "node", "job", "execution", "state",
                                     "detail", "line"])
    df["level"] = [r.level for r in records]
    df["msg"] = [r.msg for r in records]
    df.insert(0, "t", pd.Timestamp(epoch) + pd.to_timedelta(df["t_s"], unit="s"))
    return df[list(COLUMNS) + ["level", "msg"]]
