"""The instrumented lines' fields read by fields (`_fast._fields_plain`, one split for every key) give what
`_fast._take` gives key after key (`_fast._fields_take`, the rules the per-line parser is matched against): the
same rows sent to the per-line parser, and on the others the same ids, state, connection and trigger fields and
the same rest. Fixed edge cases (keys ending in another key, repeated keys, quoted and empty values) and generated
rows of the plain grammar."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from repro_lib.capture import _fast

_KEYS = ("execution_id", "node_id", "target_node", "job", "job_id", "state", "desired_state", "connection_exists",
         "connection_alive", "trigger", "xjob", "node", "name", "version", "root_cause", "event_type",
         # keys shorter than a key read, ending in part of one, longer, not ASCII (its bytes before the `=` read)
         "id", "_id", "made_id", "onnection_exists", "xonnection_exists", "node_idx", "é_node_id",
         "the_very_long_key_connection_exists")
_VALUES = ("e-1", "n-d35ac2d3", "true", "false", "running", "x", "nats://nats:4222", "e-1,e-2", "a\\b", '"quoted"',
           '"two words"', '""', '"a  b"', "-", "1")

EDGES = [
    "",
    "execution_id=e-1 node_id=n-1 job_id=j state=pending desired=running",
    "execution_id=e-1 target_node=n-2 job_id=j",
    "node_id=n-1 target_node=n-2 job=j job_id=k",
    "desired_state=running",  # `state=` found, in another key: bad where read
    "state=a desired_state=b",
    "state=a state=b",
    "execution_id=e-1 execution_id=e-2",
    'root_cause="a b c" job_id=j trigger=node-join',
    'job_id="quoted"',  # a quoted value: bad
    'job_id="two words" node_id=n-1',
    "connection_exists=true connection_alive=false",
    "connection_exists=true connection_alive=true trigger=x",
    "xjob=1 job=2",
    "node=n-1 node_id=n-2",
    'a="x  y" state=s',
]


def _rows(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        k = rnd.randrange(0, 7)
        out.append(" ".join(f"{rnd.choice(_KEYS)}={rnd.choice(_VALUES)}" for _ in range(k)))
    return out


def _compare(rows: list[str], seed: int) -> int:
    rnd = np.random.default_rng(seed)
    m = len(rows)
    rest = pa.array(rows, pa.string())
    is_state, is_pub, is_created = (rnd.random(m) < 0.5 for _ in range(3))
    ref = _fast._fields_take(rest, is_state, is_pub, is_created)
    got = _fast._fields(rest, is_state, is_pub, is_created)
    assert got["bad"].tolist() == ref["bad"].tolist()
    good = pa.array(~ref["bad"])
    for k in ("execution", "node", "job", "has_state", "connection_exists", "connection_alive", "trigger", "rest"):
        assert pc.filter(got[k], good).to_pylist() == pc.filter(ref[k], good).to_pylist(), k
    has_state = np.asarray(ref["has_state"].to_numpy(zero_copy_only=False), bool) & ~ref["bad"]
    assert pc.filter(got["state"], pa.array(has_state)).to_pylist() == \
        pc.filter(ref["state"], pa.array(has_state)).to_pylist()
    return int((~ref["bad"]).sum())


def test_the_edge_cases_read_alike() -> None:
    rows = [r for r in EDGES for _ in range(3)]
    plain = pc.fill_null(pc.match_substring_regex(pa.array(rows), _fast._PLAIN_FIELDS), False)
    assert pc.all(plain).as_py()  # all of them take the split: the comparison is of the two ways
    good = _compare(rows, 0)
    assert 0 < good < len(rows)  # some are sent on, some are read


@pytest.mark.parametrize("seed", range(4))
def test_generated_fields_read_alike(seed: int) -> None:
    rows = _rows(3000, seed)
    rows += ['msg2="a=b" job=j', "job= x", "job=j  node_id=n", " job=j", 'q="a\\"b" job=j']  # not plain: _take
    assert _compare(rows, seed) > 300


@pytest.mark.parametrize("rows", [["", ""], ["name=x", "version=1 name=y", ""], ['root_cause="a b"']])
def test_rows_with_no_field_or_none_taken(rows: list[str]) -> None:
    got = _fast._fields_plain(pa.array(rows), np.ones(len(rows), bool), np.ones(len(rows), bool),
                              np.ones(len(rows), bool))
    assert got["rest"].to_pylist() == rows and not got["bad"].any()
    assert got["execution"].null_count == len(rows) and got["trigger"].null_count == len(rows)
    _compare(rows * 2, 1)


def test_the_rows_of_the_plain_grammar_only_are_split() -> None:
    plain = pc.match_substring_regex(pa.array(['job=j', 'a="x" job=j', 'a="x=y"', "a=b  c=d", "a= b", "a=b\\c",
                                               'a="b\\c"', "=b"]), _fast._PLAIN_FIELDS)
    assert plain.to_pylist() == [True, True, False, False, False, False, False, False]
