"""``redact_data`` redacts each distinct string and key once; its result is the value-by-value reading's."""

from __future__ import annotations

import json
import random
from enum import StrEnum
from typing import Any

from repro_lib.redact import MASK, _no_secret, _secret_key, redact, redact_data


def _one_by_one(obj: Any) -> Any:
    """The reading ``redact_data`` must agree with: every string and key redacted where it stands."""
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            key = redact(k) if isinstance(k, str) else k
            if isinstance(v, str) and isinstance(k, str) and _secret_key(k.lower()) and not _no_secret(v):
                out[key] = MASK
            else:
                out[key] = _one_by_one(v)
        return out
    if isinstance(obj, list | tuple):
        return [_one_by_one(v) for v in obj]
    return redact(obj) if isinstance(obj, str) else obj


class _State(StrEnum):
    PENDING = "pending"


_TEXTS = ["pending", "edge1", "curl -u admin:hunter2hunter2 http://x", "Authorization: Bearer sk_live_abcdefghijklmnop",
          "nats://s3cr3tT0kenValue@nats:4222", "password=correct-horse-battery", "ghp_" + "a1B2" * 9, "", "***",
          "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "new-test-job"]
_KEYS = ["api_token", "token", "password", "name", "id", "next_token", "state", "Authorization",
         "curl -u a:bbbbbbbbbbb"]


def _value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 3 or r < 0.4:
        return rng.choice([*_TEXTS, None, 1, 2.5, True, _State.PENDING])
    if r < 0.7:
        return {rng.choice([*_KEYS, 3]): _value(rng, depth + 1) for _ in range(rng.randint(0, 5))}
    items = [_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return items if rng.random() < 0.8 else tuple(items)


def test_repeated_strings_and_keys_read_as_one_by_one() -> None:
    rng = random.Random(7)
    for _ in range(500):
        obj = _value(rng)
        got, want = redact_data(obj), _one_by_one(obj)
        assert got == want
        assert json.dumps(got, default=str) == json.dumps(want, default=str)


def test_a_secret_under_a_secret_key_is_masked_each_time_it_repeats() -> None:
    rows = [{"api_token": "abcdefgh", "name": "edge1", "note": "password=correct-horse-battery"}] * 3
    got = redact_data(rows)
    assert [r["api_token"] for r in got] == [MASK] * 3
    assert all("correct-horse" not in r["note"] and r["name"] == "edge1" for r in got)
