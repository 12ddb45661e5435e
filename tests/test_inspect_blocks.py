"""The condensed reading's block threads: the table sorted column by column, the first block's prefix decision."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repro_lib import inspect as I
from repro_lib.capture.logs import FAST_MIN_BYTES


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = pd.Series(pd.to_datetime(rng.integers(0, 20, n), unit="s", utc=True))  # many equal times: stability shows
    t[rng.random(n) < 0.1] = pd.NaT
    return pd.DataFrame({"t": t, "kind": pd.Series([f"k{i % 7}" for i in range(n)], dtype="str"),
                         "line": pd.Series([f"line {i}" if i % 5 else None for i in range(n)], dtype="str"),
                         "x": np.arange(n, dtype=float)})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_by_time_is_a_stable_sort_with_nat_last(seed: int) -> None:
    df = _table(5_000, seed)
    df.attrs["file"] = "edge1"
    want = df.sort_values("t", kind="stable").reset_index(drop=True)
    got = I._by_time(df.copy())
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs == {"file": "edge1"}
    assert got["t"].isna().to_numpy()[-int(want["t"].isna().sum()):].all()


def test_by_time_leaves_a_table_in_order_as_it_is() -> None:
    df = _table(1_000, 3).dropna(subset=["t"]).sort_values("t", kind="stable")
    got = I._by_time(df)
    pd.testing.assert_frame_equal(got, df.reset_index(drop=True))


def _log(path: Path, lines: int) -> None:
    rng = random.Random(5)
    with path.open("w") as fh:
        for i in range(lines):
            fh.write(f"edge-{rng.randrange(50)}-1  | 2026-12-02T05:{i // 6000 % 60:02d}:{i // 100 % 60:02d}Z "
                     f"level=INFO msg=\"heartbeat sent\" node_id=n-{rng.randrange(50)} seq={i}\n")


def test_every_block_reads_the_first_blocks_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first block is parsed on a block thread beside the others; they apply the service prefix it decided
    (``compose`` here): the condensed sources are the services, as the full reading has them."""
    path = tmp_path / "fleet.log"
    _log(path, 60_000)
    assert path.stat().st_size > FAST_MIN_BYTES
    monkeypatch.setattr(I, "BLOCK_BYTES", 1 << 20)
    cond = I.events_from_logs([path], condense=True)
    full = I.events_from_logs([path])
    assert set(cond["source"]) == set(full["source"]) == {f"edge-{k}" for k in range(50)}
    assert cond.attrs["condensed"].lines == full["source"].value_counts().to_dict()


def test_an_error_in_the_first_block_stops_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocks waiting for the first block's decision get its error, not a wait that never ends."""
    path = tmp_path / "fleet.log"
    _log(path, 60_000)
    monkeypatch.setattr(I, "BLOCK_BYTES", 1 << 20)
    calls = []

    def broken(frame: pd.DataFrame) -> str | None:
        calls.append(len(frame))
        raise ValueError("no prefix decided")

    monkeypatch.setattr(I, "_service_mode", broken)
    with pytest.raises(ValueError, match="no prefix decided"):
        I.events_from_logs([path], condense=True)
    assert len(calls) == 1
