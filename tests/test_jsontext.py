"""``repro_lib.jsontext.dumps`` writes what ``json.dumps(obj, indent=N)`` writes, byte for byte."""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from enum import StrEnum
from typing import Any

import pytest

from repro_lib.jsontext import dumps


class _State(StrEnum):
    PENDING = "pending"


# strings that look like the separators and structure the fast paths rely on, raw and escaped
_STRINGS = ["", "edge1", "}\x1f{", "}\x1e{", '"}, {"', "a\nb", "tab\there", "é ü 漢", "\u2014", "\x00\x1f\x7f",
            "}", "{", "[", "]", ",", ": ", "\\", '"', "\ud83d\ude00", "e-7ca5d302"]
_SCALARS: list[Any] = [*_STRINGS, None, True, False, 0, -1, 10**20, 1.5, -0.0, 1e16, 1e-7, 3696.499915656659,
                       float("nan"), float("inf"), -float("inf")]


def _value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 3 or r < 0.35:
        return rng.choice([*_SCALARS, _State.PENDING])
    if r < 0.5:  # a list of flat objects, the shape of a run's nodes and executions
        keys = rng.sample(_STRINGS + ["id", "job", "node"], rng.randint(0, 4))
        return [{k: rng.choice(_SCALARS) for k in keys} for _ in range(rng.randint(0, 4))]
    if r < 0.75:
        keys = [*_STRINGS, "id", 1, 2.5, None, True]
        d = {rng.choice(keys): _value(rng, depth + 1) for _ in range(rng.randint(0, 5))}
        return d if rng.random() < 0.9 else OrderedDict(d)
    items = [_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return items if rng.random() < 0.9 else tuple(items)


@pytest.mark.parametrize("indent", [1, 2, 4])
def test_random_values_are_written_as_json_dumps_writes_them(indent: int) -> None:
    rng = random.Random(indent)
    for _ in range(2000):
        obj = _value(rng)
        assert dumps(obj, indent) == json.dumps(obj, indent=indent), obj


def test_a_run_shaped_document() -> None:
    rows = [{"id": f"e-{i:08x}", "job": "new-test-job", "node": f"edge{i}", "state": "pending", "pending_s": i * 0.5,
             "cause": None, "ok": i % 2 == 0} for i in range(500)]
    doc = {"scenario": "fleet", "seed": 0, "reasons": ["a \u2014 b"], "expected": {"verdict": "reproduced"},
           "params": {}, "executions": rows, "stuck": [], "classes": {"lost": 5}, "counts": {"lost": 1, "x": 2}}
    assert dumps(doc) == json.dumps(doc, indent=2)
