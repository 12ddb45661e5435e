"""The analysis' column kernels by codes (issue 35): each gives what the per-row reading it replaced gives.

The references below are the readings the kernels replaced (per row, over object arrays or whole frames), kept
here as oracles; the inputs hold what real logs hold: missing values, Arrow-backed and object columns, ids
repeated across rows, values that only differ in case."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from repro_lib import load_scenario, run_scenario
from repro_lib.analysis import _columns as C
from repro_lib.analysis.delivery import _Coded, _Rows, delivery_table, relevant, source_roles
from repro_lib.analysis.diagnosis import _debug_seen, _unplaced_jobs

WORDS = ["dispatch", None, "state", "publish", "dispatch", "node", None, "Dispatch", "fault", "state"]


@pytest.mark.parametrize("dtype", ["str", object], ids=["arrow", "object"])
def test_coded_tests_match_the_text_comparisons(dtype: object) -> None:
    col = pd.Series(WORDS, dtype=dtype)
    coded = _Coded(col, len(col))
    values = C.obj(col)
    assert list(coded.values) == list(values)  # the same words, None where missing
    assert (coded.known() == ~C.isnull(values)).all()
    for words in (("dispatch",), ("state", "fault"), ("Dispatch",), ("absent",), ("absent", "node")):
        want = np.array([v in words for v in values])
        assert (coded.eq(*words) == want).all(), words
        rows = np.array([0, 2, 7, 9, 1])
        assert (coded.eq_at(rows, *words) == want[rows]).all(), words
    # one Python object per distinct word, however many rows hold it
    assert coded.values[0] is coded.values[4]


def test_a_missing_column_codes_as_all_missing() -> None:
    coded = _Coded(None, 4)
    assert not coded.known().any() and not coded.eq("x").any() and list(coded.values) == [None] * 4


@pytest.mark.parametrize("dtype", ["str", object], ids=["arrow", "object"])
def test_extract_matches_python_re_and_shares_one_string_per_value(dtype: object) -> None:
    details = pd.Series(["desired=running x", None, "desired=stopped", "nothing", "a desired=running",
                         "desired=running", "backoff=2s", "backoff=5"], dtype=dtype)
    got = C.extract(C.text(details), r"desired=(?P<d>[^\s]+)", ["d"])["d"]
    rx = re.compile(r"desired=([^\s]+)")
    want = [None if not isinstance(x, str) or not rx.search(x) else rx.search(x).group(1) for x in details]
    assert list(got) == want
    assert got[0] is got[4] is got[5]  # "running", one object
    # an optional group that does not take part reads "" (as Arrow gives it), a row with no match None
    found = C.extract(C.text(details), r"backoff=(?P<v>[0-9.]+)(?P<u>ms|s|m)?", ["v", "u"])
    assert list(found["v"][6:]) == ["2", "5"] and found["u"][6] == "s" and found["u"][7] in ("", None)
    assert found["v"][0] is None


def _unplaced_reference(events: pd.DataFrame, debug: bool = True) -> list[str]:
    """The reading _unplaced_jobs replaced: a copy of the frame after each job's deploy, per job."""
    jobs = events[(events["kind"] == "state") & events["execution"].isna() & events["job"].notna()]
    last = jobs.groupby("job", sort=False)["state"].last()
    with_execs = set(events.loc[events["execution"].notna(), "job"].dropna().unique())
    notes = []
    for job, state in last.items():
        if state not in ("pending", "queued") or job in with_execs:
            continue
        rows = jobs[jobs["job"] == job]
        t0 = float(rows["t_s"].iloc[0])
        after = events[events["t_s"] >= t0]
        evals = after[(after["kind"] == "eval") & (after["job"] == job)]
        restarts = after[(after["kind"] == "fault") & (after["state"] == "restart")]
        text = f"{job} is {state} with no execution: it was stored at {t0:.1f}s and "
        text += (f"{len(evals)} evaluation line(s) of it follow" if len(evals) else
                 "no evaluation of it appears afterwards" if debug else
                 "whether it was evaluated is not in these logs (evaluation lines are debug-level; none was captured)")
        if len(restarts):
            tr = float(restarts["t_s"].iloc[0])
            text += f"; the orchestrator was restarted at {tr:.1f}s ({tr - t0:.1f}s after it was stored)"
        notes.append(text)
    return notes


def _frame(rows: list[tuple[float, str, str | None, str | None, str | None]], dtype: object) -> pd.DataFrame:
    t, kind, job, execution, state = zip(*rows, strict=True)
    return pd.DataFrame({"t_s": t, "kind": pd.Series(kind, dtype=dtype), "job": pd.Series(job, dtype=dtype),
                         "execution": pd.Series(execution, dtype=dtype), "state": pd.Series(state, dtype=dtype),
                         "level": pd.Series(["INFO"] * len(rows), dtype=dtype)})


@pytest.mark.parametrize("dtype", ["str", object], ids=["arrow", "object"])
def test_unplaced_jobs_say_what_the_per_job_reading_said(dtype: object) -> None:
    rows = [
        (0.0, "state", "a", None, "pending"),      # a: pending, evaluated twice after, a restart after
        (1.0, "eval", "a", None, "created"),
        (2.0, "state", "b", None, "queued"),       # b: queued, never evaluated; the restart after it too
        (2.5, "eval", "a", None, "processed"),
        (3.0, "state", "c", None, "pending"),      # c: has an execution: not unplaced
        (3.5, "state", "c", "e-1", "pending"),
        (4.0, "fault", None, None, "restart"),
        (5.0, "state", "d", None, "running"),      # d: running: not unplaced
        (6.0, "state", "e", None, "pending"),      # e: after the restart, no evaluation
        (float("nan"), "eval", "e", None, "created"),  # a row with no time is never "after"
        (7.0, "state", "f", None, "running"),
        (8.0, "state", "f", None, "pending"),      # f: its last word is pending, stored at its first line
        (9.0, "eval", "f", None, "created"),
    ]
    ev = _frame(rows, dtype)
    for debug in (True, False):
        got = _unplaced_jobs(ev, debug)
        assert got == _unplaced_reference(ev, debug)
        assert [n.split(" ")[0] for n in got] == ["a", "b", "e", "f"]
    assert "2 evaluation line(s) of it follow; the orchestrator was restarted at 4.0s" in got[0]


@pytest.mark.parametrize("levels", [["INFO", "debug"], ["INFO", None], [None, None], ["WARN", "DEBUG"]])
def test_debug_seen_per_distinct_level(levels: list[str | None]) -> None:
    for dtype in ("str", object):
        ev = pd.DataFrame({"level": pd.Series(levels * 3, dtype=dtype)})
        assert _debug_seen(ev) == bool((ev["level"].astype(str).str.upper() == "DEBUG").any())


@pytest.fixture(scope="module")
def core_events() -> pd.DataFrame:
    return run_scenario(load_scenario("scenarios/core-395.yaml")).events


def test_each_pending_execution_is_created_at_its_first_row(core_events: pd.DataFrame) -> None:
    """created_s, job and node of each pending execution: its first row that names it (and has the value), read
    here per execution over the frame."""
    ev = core_events
    tab = delivery_table(ev, t_end=float(ev["t_s"].max()))
    assert len(tab)
    rel = relevant(ev)
    for row in tab.itertuples():
        mine = rel[rel["execution"] == row.execution]
        assert row.created_s == float(mine["t_s"].dropna().iloc[0])
        if isinstance(row.job, str):
            assert row.job in set(mine["job"].dropna())
        if isinstance(row.node, str):
            assert row.node in set(mine["node"].dropna())


def test_rows_read_the_same_values_as_object_columns(core_events: pd.DataFrame) -> None:
    rel = relevant(core_events)
    r = _Rows(rel)
    for name in ("kind", "state", "node", "job", "execution"):
        assert list(getattr(r, name)) == list(C.obj(rel[name])), name
    assert (r.has_execution == rel["execution"].notna().to_numpy()).all()


def test_source_roles_judge_a_relevant_row_with_no_source() -> None:
    """A dispatch row whose source is missing names the role of "None", as the per-row reading did (str of it)."""
    ev = pd.DataFrame({"t_s": [0.0, 1.0, 2.0], "source": pd.Series(["orchestrator", None, "edge1"], dtype=object),
                       "kind": ["dispatch", "dispatch", "deliver"], "state": ["attempt", "attempt", "delivered"],
                       "node": [None, None, "n-1"], "job": [None] * 3, "execution": ["e-1", "e-2", "e-1"],
                       "detail": [None] * 3, "msg": ["DISPATCH: x", "DISPATCH: x", "EDGE: received"]})
    roles = source_roles(ev)
    assert roles == {"orchestrator": "orchestrator", "edge1": "edge", "None": "orchestrator"}


def _chunked(values: list[str | None], cuts: list[int]) -> pa.ChunkedArray:
    whole = pa.array(values, type=pa.large_string())
    bounds = [0, *cuts, len(values)]
    return pa.chunked_array([pa.concat_arrays([whole.slice(a, b - a)]) for a, b in zip(bounds[:-1], bounds[1:],
                                                                                        strict=True)])


@pytest.mark.parametrize("cuts", [[], [3], [1, 4, 4, 8]], ids=["one", "two", "five-with-empty"])
def test_take_rows_takes_from_each_chunk_in_the_order_asked(cuts: list[int]) -> None:
    values = [f"line {i}" if i % 4 else None for i in range(10)]
    arr = _chunked(values, cuts)
    for rows in ([], [0], [9, 0, 5, 5, 3], list(range(10))[::-1], [2, 7, 8]):
        assert C.take_rows(arr, np.array(rows, dtype=np.int64)).to_pylist() == [values[i] for i in rows]
    assert C.one_chunk(arr).to_pylist() == values


def test_rows_is_loc_of_a_chunked_frame_in_one_chunk() -> None:
    values = [f"detail {i}" if i % 3 else None for i in range(9)]
    frame = pd.DataFrame({"t_s": np.arange(9, dtype=float),
                          "detail": pd.arrays.ArrowStringArray(_chunked(values, [2, 5]),
                                                               dtype=pd.StringDtype("pyarrow", np.nan)),
                          "t": pd.to_datetime(["2024-01-01"] * 9, utc=True)}, index=np.arange(10, 19))
    frame["job"] = pd.Series(["j", None, "k"] * 3, dtype=object, index=frame.index)  # an object column, kept so
    assert frame["job"].dtype == object and frame["detail"].notna().sum() == 6
    assert pa.array(frame["detail"]).num_chunks == 3
    keep = np.array([i % 2 == 0 for i in range(9)])
    for mask in (keep, None):
        got = C.rows(frame, mask, ["detail", "t_s", "job", "t"])
        want = frame.loc[keep if mask is not None else slice(None), ["detail", "t_s", "job", "t"]]
        pd.testing.assert_frame_equal(got, want)
        assert got["job"].dtype == object  # an object column stays one (pandas would infer str from its strings)
        assert getattr(pa.array(got["detail"]), "num_chunks", 1) == 1


def test_relevant_rows_of_a_chunked_frame_keep_the_chunks_they_fill() -> None:
    """A chunk whose rows are all relevant is the frame's own (no copy of a condensed reading's columns); the chunk
    with a row left out is filtered; the values and labels are those of pandas' selection."""
    n = 12
    kinds = ["log" if i == 5 else "dispatch" for i in range(n)]
    frame = pd.DataFrame({"t_s": np.arange(n, dtype=float), "kind": pd.Series(kinds, dtype="str"),
                          "detail": pd.arrays.ArrowStringArray(_chunked([f"d{i}" for i in range(n)], [4, 8]),
                                                               dtype=pd.StringDtype("pyarrow", np.nan))})
    frame["job"] = pd.Series([None, "j"] * 6, dtype=object, index=frame.index)
    assert pa.array(frame["detail"]).num_chunks == 3 and frame["detail"].notna().all()
    rel = relevant(frame)
    pd.testing.assert_frame_equal(rel, frame.loc[frame["kind"] != "log", ["t_s", "kind", "detail", "job"]])
    assert rel["job"].dtype == object
    before, after = pa.array(frame["detail"]).chunks, pa.array(rel["detail"]).chunks
    assert [len(c) for c in after] == [4, 3, 4]
    assert [c.buffers()[2].address for c in after[::2]] == [c.buffers()[2].address for c in before[::2]]
    assert after[1].buffers()[2].address != before[1].buffers()[2].address
    assert relevant(rel) is rel  # relevant already: not copied again
    # rows read from those chunks, chunk by chunk, are pandas' rows of them
    keep = np.array([i % 3 == 0 for i in range(len(rel))])
    got = C.rows(rel, keep, ["detail", "job"])
    pd.testing.assert_frame_equal(got, rel.loc[keep, ["detail", "job"]])
    assert getattr(pa.array(got["detail"]), "num_chunks", 1) == 1
    assert C.take_rows(pa.array(rel["detail"]), np.array([10, 0, 4])).to_pylist() == ["d11", "d0", "d4"]


@pytest.mark.parametrize("dtype", ["str", object], ids=["arrow", "object"])
def test_bus_rows_told_by_message_else_by_source(dtype: object) -> None:
    """What NATS itself logged: by the message where a row has one, by the source (nats) where it has none."""
    rel = pd.DataFrame({"t_s": np.arange(5, dtype=float),
                        "kind": pd.Series(["deliver"] * 5, dtype=dtype),
                        "source": pd.Series(["nats", "nats", "edge1", "edge1", None], dtype=dtype),
                        "msg": pd.Series(["NATS: message delivered", None, "EDGE: received", "NATS: x", None],
                                         dtype=dtype)})
    assert list(_Rows(rel).bus) == [True, True, False, True, False]
    every = rel.assign(msg=pd.Series(["NATS: a", "EDGE: b", "NATS: c", "EDGE: d", "NATS: e"], dtype=dtype))
    assert list(_Rows(every).bus) == [True, False, True, False, True]


@pytest.mark.parametrize("dtype", ["str", pd.StringDtype("pyarrow"), object], ids=["str", "string", "object"])
def test_as_object_reads_a_column_as_to_numpy_does_one_string_per_value(dtype: object) -> None:
    """What the verdict's table reads: the values and missing values of ``to_numpy(dtype=object)`` (NaN in a str
    column, pd.NA in a string one, None in an object one), the strings of an Arrow column one per distinct value."""
    col = pd.Series(["lost", None, "refused", "lost", None, "lost"], dtype=dtype)
    got, want = C.as_object(col), col.to_numpy(dtype=object)
    assert got.dtype == object and len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert type(g) is type(w) and (g == w if isinstance(w, str) else pd.isna(g))
    if dtype is not object:
        assert got[0] is got[3] is got[5]  # one Python string for the three rows


@pytest.mark.parametrize("cuts", [[], [0], [3, 3, 7], [1, 2, 3, 4, 5]], ids=["one", "empty-first", "empty-mid", "many"])
def test_coded_arrow_column_is_pandas_factorize(cuts: list[int]) -> None:
    """Arrow's dictionary encoding, chunk by chunk, gives pandas' codes and values (first appearance, -1 missing)."""
    values = ["b", None, "a", "b", "c", None, "a", "d", "b", "e"]
    col = pd.Series(pd.arrays.ArrowStringArray(_chunked(values, cuts), dtype=pd.StringDtype("pyarrow", np.nan)))
    coded = _Coded(col, len(col))
    codes, uniq = pd.factorize(col, use_na_sentinel=True)
    assert coded.codes.tolist() == codes.tolist() and coded.uniq.tolist() == list(uniq)
    assert coded.codes.dtype == np.int32 and list(coded.values) == values
    assert coded.eq("a", "e").tolist() == [v in ("a", "e") for v in values]
