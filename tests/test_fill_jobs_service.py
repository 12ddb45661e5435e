"""``fill_jobs`` reads each row's ``service=`` by Arrow's RE2 where Python's ``re`` would read the same."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from repro_lib.capture.logs import _SERVICE_RX, _service_in

_PIECES = ["service=", "service=edge-1", " service=orch", "xservice=a", "k=v", " ", "\t", "\n", "\v", "\x1c", "\x85",
           "\xa0", "\u2003", "é", "ß", "node", "=", "-", "_1", "svc", "service=é", "service=\u2003b"]


@pytest.mark.parametrize("seed", range(5))
def test_service_in_is_pandas_extract(seed: int) -> None:
    rng = random.Random(seed)
    rows = ["".join(rng.choice(_PIECES) for _ in range(rng.randrange(0, 8))) for _ in range(3_000)]
    rows[::97] = [None] * len(rows[::97])
    detail = pd.Series(rows, dtype="str", index=range(5, 5 + len(rows)))
    want = detail.astype("object").str.extract(_SERVICE_RX)[0].fillna("")
    got = _service_in(detail)
    assert got.tolist() == want.tolist()
    assert got.index.equals(detail.index)
    assert sum(1 for v in want if v) > 100  # the test reads services, not only blanks


def test_service_in_of_an_empty_column() -> None:
    assert _service_in(pd.Series([], dtype="str")).tolist() == []
