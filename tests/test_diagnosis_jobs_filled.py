"""The diagnosis's second fill of dispatch jobs (a condensed reading parses block by block) reads and sets only the
columns fill_jobs reads and sets: the same frame as fill_jobs on a full copy, and the events passed in unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repro_lib.analysis.diagnosis import _jobs_filled
from repro_lib.capture.logs import JOB_BY_NOTE, fill_jobs


@pytest.mark.parametrize("dtype", ["str", object], ids=["arrow", "object"])
def test_jobs_filled_is_fill_jobs_on_a_copy(dtype: object) -> None:
    rows = [  # source, kind, state, job, execution, detail, msg
        ("orch", "state", "pending", "j-1", None, "job stored", "JOB: stored"),
        ("orch", "dispatch", "attempt", None, "e-1", "event_type=Run", "DISPATCH: Attempting"),  # the job line's
        ("orch", "state", "pending", "j-2", "e-2", "desired=running", "EXEC: pending"),
        ("orch", "dispatch", "attempt", None, "e-2", None, "DISPATCH: Attempting"),  # its state line's job
        ("edge1", "deliver", "delivered", None, "e-9", "x", "EDGE: received"),
        ("orch", "dispatch", "attempt", "j-3", "e-3", "", "DISPATCH: Attempting"),
        ("orch", "state", "pending", "j-4", None, "job stored", "JOB: stored"),  # a later job line
        ("orch", "state", "running", "j-3", "e-3", "desired=running", "EXEC: running"),  # another execution's
        ("orch", "dispatch", "attempt", None, "e-4", None, "DISPATCH: Attempting"),  # the later job line's
        ("orch", "deliver", "delivered", None, "e-4", "x", "NATS: message delivered"),
        ("orch", "dispatch", "attempt", None, "e-2", "again", "DISPATCH: Attempting"),  # its state line's job
    ]
    cols = ["source", "kind", "state", "job", "execution", "detail", "msg"]
    index = np.arange(40, 40 + len(rows))
    frame = pd.DataFrame({c: pd.Series([r[k] for r in rows], dtype=dtype, index=index) for k, c in enumerate(cols)})
    frame.insert(0, "t_s", np.arange(len(rows), dtype=float))
    frame["node"] = pd.Series(["n-1"] * len(rows), dtype=dtype, index=frame.index)
    before = frame.copy()
    want = frame.copy()
    assert fill_jobs(want) == 2  # e-1 and e-4 took the job line's job
    got = _jobs_filled(frame)
    pd.testing.assert_frame_equal(got, want)
    assert got.loc[41, "job"] == "j-1" and got.loc[41, "detail"].endswith(JOB_BY_NOTE)
    assert got.loc[43, "job"] == got.loc[50, "job"] == "j-2" and got.loc[48, "job"] == "j-4"
    assert got.loc[45, "detail"] == "" and pd.isna(got.loc[49, "job"])
    pd.testing.assert_frame_equal(frame, before)  # the events passed in are not changed
