"""The secrets corpus (tests/fixtures/secrets/) through :func:`repro_lib.redact.redact` and
:func:`~repro_lib.redact.redact_frame`: every planted value (they all contain ``PLANT``) is masked in every
line format, the rest of each line survives, and ordinary text — the real logs and CLI outputs of the other
fixtures, and prose — comes through unchanged."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from repro_lib import redact as redact_module
from repro_lib.redact import MASK, Redactor, redact, redact_frame, secrets_from

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "secrets"
#: files whose every line stands alone (the others need the lines before: a table header, a BEGIN line)
LINE_FILES = ("01-plain.txt", "02-slog-text.log", "03-zerolog-console.log", "04-json-lines.log",
              "08-token-shapes.txt", "09-compose-prefixed.log", "10-more-shapes.txt")
CONTEXT_FILES = ("05-cli-tables.txt", "06-pem-private-keys.txt", "07-pem-compose-rows.log",
                 "11-prefixed-keys.log")
#: the false-positive review: ordinary text whose lines redact() may change (reviewed: none does)
CLEAN_DIRS = ("tests/fixtures/real", "tests/fixtures/logs", "tests/fixtures/cli", "data/reference-run/logs")
REVIEWED_CHANGES: set[tuple[str, int]] = set()

_WORD = re.compile(r"[A-Za-z0-9_.:/+-]+")  # a base64 line is one word


def _words(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text))


def _kept(before: str, after: str) -> list[str]:
    """The words of ``before`` that hold no planted value and are missing from ``after``."""
    want = Counter({w: n for w, n in _words(before).items() if "PLANT" not in w})
    return sorted((want - _words(after)).elements())


def _lines(name: str) -> list[str]:
    return (CORPUS / name).read_text().splitlines()


def _cases() -> list[tuple[str, int, str]]:
    return [(name, i, line) for name in LINE_FILES for i, line in enumerate(_lines(name), 1)]


def test_the_corpus_has_every_format() -> None:
    names = {p.name for p in CORPUS.iterdir()}
    assert names == {*LINE_FILES, *CONTEXT_FILES, "README.md"}
    for name in LINE_FILES:  # every line of a line-format file holds a planted value
        assert all("PLANT" in line for line in _lines(name)), name


@pytest.mark.parametrize(("name", "lineno", "line"), _cases(), ids=lambda x: str(x)[:24])
def test_every_planted_value_is_masked_line_by_line(name: str, lineno: int, line: str) -> None:
    out = redact(line)
    assert "PLANT" not in out, out
    assert MASK in out
    assert _kept(line, out) == [], out


@pytest.mark.parametrize("name", LINE_FILES + CONTEXT_FILES)
def test_a_whole_file_is_masked_and_keeps_its_lines(name: str) -> None:
    text = (CORPUS / name).read_text()
    out = redact(text)
    assert "PLANT" not in out
    assert len(out.splitlines()) == len(text.splitlines()) and out.endswith("\n")
    assert _kept(text, out) == []
    assert redact(out) == out  # idempotent
    if name in LINE_FILES:  # the fast path over a whole text does what line by line does
        assert out == "".join(redact(line) + "\n" for line in text.splitlines())


def test_messages_levels_and_json_survive() -> None:
    slog = redact(_lines("02-slog-text.log")[0])
    assert slog == 'time=2024-05-01T10:00:00Z level=INFO msg="connecting" token=***'
    console = redact(_lines("03-zerolog-console.log")[0])
    assert console == "10:00:00.123 INF pkg/x.go:12 > connecting token=***"
    for line in _lines("04-json-lines.log"):
        before, after = json.loads(line), json.loads(redact(line))  # still JSON
        assert after.keys() == before.keys()
        clean = [k for k, v in before.items() if "PLANT" not in json.dumps(v)]  # level, msg, time …
        assert [after[k] for k in clean] == [before[k] for k in clean]
    assert redact('{"token":123,"msg":"x"}') == '{"token":"***","msg":"x"}'  # a number becomes a JSON string
    assert redact(_lines("09-compose-prefixed.log")[1]) == \
        'edge1-1  | {"level":"info","token":"***","msg":"connecting"}'


@pytest.mark.parametrize(("text", "expected"), [
    ("--api-key x --token x --password x --client-secret x", "--api-key *** --token *** --password *** "
                                                             "--client-secret ***"),
    ("--api-key=x", "--api-key=***"),
    ("password hunter2", "password ***"),
    ("password='two words' password=\"two words\" token: \"a b\"", "password='***' password=\"***\" token: \"***\""),
    ("?token=abc%2Fdef&x=1", "?token=***&x=1"),
    ("a=1&password%3Dhunter2%26b%3D2 api_key%3Aabc", "a=1&password%3D***%26b%3D2 api_key%3A***"),
    ("nats://TOKEN@host:4222 nats://user:pass@host", "nats://***@host:4222 nats://user:***@host"),
    ("Authorization: token abc", "Authorization: token ***"),
    ("Authorization: Bearer abc", "Authorization: Bearer ***"),
    ("Authorization: Basic abc", "Authorization: Basic ***"),
    ("authorization=abc X-Api-Key: abc", "authorization=*** X-Api-Key: ***"),
    ("client_secret=a secret_id=b clientSecret=c secretKey=d", "client_secret=*** secret_id=*** clientSecret=*** "
                                                              "secretKey=***"),
    ("EXPANSO_API_KEY=a AWS_SECRET_ACCESS_KEY=b", "EXPANSO_API_KEY=*** AWS_SECRET_ACCESS_KEY=***"),
    ("mysql -uroot -pS3cret db", "mysql -uroot -p*** db"),
    ("config set node.auth.secret V", "config set node.auth.secret ***"),
    ("config set x.authsecret V && config set auth.token V",
     "config set x.authsecret *** && config set auth.token ***"),
    ("default credentials 'user:pass'", "default credentials '***'"),
    ('credentials "user:pass"', 'credentials "***"'),
    ("credentials: user:pass", "credentials: ***"),
    ("-----BEGIN PRIVATE KEY-----\\nMIIEabc\\n-----END PRIVATE KEY-----",
     "-----BEGIN PRIVATE KEY-----\\n***\\n-----END PRIVATE KEY-----"),
    ("AKIAIOSFODNN7EXAMPLE", "AKIA***"),
    ("passwd: swordfish token: 9f8e7d secret: Xy7Qw", "passwd: *** token: *** secret: ***"),
])
def test_the_reviewed_shapes(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "tokens used: 12, 3 tokens left",
    "password reset requested for ops",
    "the secret sauce is patience",
    "a bearer token and Basic authentication",
    "To fetch more records use `--next-token Ok46MTox`",
    "DOCKER_USERNAME and DOCKER_PASSWORD environment variables",
    "open /etc/passwd: permission denied",
    "find . -print; docker run -p8080:80 img; ssh -p22 host; mysql -P 3306 -p",
    "execution e-3f2a9c1b on node n-7f3a9c21, job 6f1c0a7e-1f2b-4c3d-9e8f-0a1b2c3d4e5f",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "PWD=/home/ops OLDPWD=~/src",
    'token=null password="" secret=${EXPANSO_TOKEN} api_key=<your-key> token=***',
    "EXPANSO_EDGE_BOOTSTRAP_TOKEN: ${EXPANSO_EDGE_BOOTSTRAP_TOKEN:?set it in .env}",
    "ssh://git@github.com/org/repo https://user@host/x nats://nats:4222",
    "NAME   STATUS   TOKENS",
    "invalid token: expired; registry needing authorization: Error response from daemon",
    "│ edge1 │ running │",
])
def test_ordinary_text_survives(text: str) -> None:
    assert redact(text) == text


def test_no_false_positive_on_real_logs_and_cli_outputs() -> None:
    """The review: redact() over every file of the real fixtures, the log fixtures, the CLI fixtures and the
    reference run changes exactly the lines listed in REVIEWED_CHANGES (none), line by line and as a whole."""
    changed: set[tuple[str, int]] = set()
    files = [p for d in CLEAN_DIRS for p in sorted((ROOT / d).rglob("*")) if p.is_file()]
    assert len(files) > 50
    for path in files:
        text = path.read_text(errors="replace")
        rel = str(path.relative_to(ROOT))
        changed |= {(rel, i) for i, line in enumerate(text.splitlines(), 1) if redact(line) != line}
        if not any(rel == r for r, _ in REVIEWED_CHANGES):
            assert redact(text) == text, rel
    assert changed == REVIEWED_CHANGES


def _frame(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame({"source": [s for s, _ in rows], "line": [x for _, x in rows],
                         "n": range(len(rows))}).astype({"source": "str", "line": "str"})


@pytest.mark.parametrize("name", CONTEXT_FILES)
def test_blocks_and_tables_over_rows_of_an_events_table(name: str) -> None:
    """One row per line, interleaved with another source's rows: the block is followed per source."""
    lines = _lines(name)
    rows: list[tuple[str, str]] = []
    for i, line in enumerate(lines):
        rows.append(("edge1", line))
        if i % 3 == 0:
            rows.append(("orchestrator", f"time=2024-05-01T10:00:0{i % 10}Z level=INFO msg=\"heartbeat\" seq={i}"))
    out = redact_frame(_frame(rows))
    assert not out["line"].str.contains("PLANT").any()
    kept = out[out["source"] == "orchestrator"]["line"]
    assert list(kept) == [x for s, x in rows if s == "orchestrator"]  # the other source's rows untouched
    mine = list(out[out["source"] == "edge1"]["line"])
    assert [x for x in mine if "-----" in x] == [x for x in lines if "-----" in x]  # BEGIN/END markers kept
    assert list(out["n"]) == list(range(len(rows))) and out["source"].dtype == _frame(rows)["source"].dtype


def test_pem_rows_parsed_from_a_log_file(tmp_path: Path) -> None:
    """Through the real parser: one events row per line of a compose log, the key's rows masked."""
    from repro_lib.capture.logs import parse_file

    events = parse_file(CORPUS / "07-pem-compose-rows.log")
    assert events["line"].str.contains("PLANT").sum() >= 6
    out = redact_frame(events)
    assert not out.astype(str).apply(lambda c: c.str.contains("PLANT")).any().any()
    assert out["line"].str.contains("-----BEGIN OPENSSH PRIVATE KEY-----", regex=False).any()


def test_a_truncated_block_ends_at_the_first_line_that_is_no_key() -> None:
    text = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCPLANT\ntime=2024 level=INFO msg=\"next\" seq=1\nMIIEnot\n"
    assert redact(text) == ("-----BEGIN RSA PRIVATE KEY-----\n***\ntime=2024 level=INFO msg=\"next\" seq=1\n"
                            "MIIEnot\n")
    # a BEGIN without END on one line masks what follows it on that line, and keeps a JSON string closed
    assert redact('{"log":"-----BEGIN PRIVATE KEY-----\\nMIIEPLANT\\n","stream":"stdout"}') == \
        '{"log":"-----BEGIN PRIVATE KEY-----\\n***\\n","stream":"stdout"}'


def test_dataframe_views_of_a_key() -> None:
    """A notebook showing the lines in a DataFrame: its text and HTML views are followed row by row."""
    lines = _lines("06-pem-private-keys.txt")[:8]
    df = pd.DataFrame({"line": lines})
    for view in (repr(df), df._repr_html_()):
        assert "PLANT" in view
        assert "PLANT" not in redact(view)


def test_known_values_in_rows_without_any_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact_module, "_known", lambda: Redactor(["zz-known-1234"]))
    df = _frame([("edge1", "plain zz-known-1234 here"), ("edge1", "token=abc"), ("edge1", "nothing")])
    assert list(redact_frame(df)["line"]) == ["plain *** here", "token=***", "nothing"]
    assert redact("a zz-known-1234\nb token=x\n") == "a ***\nb token=***\n"


def test_prefilter_finds_every_planted_line() -> None:
    """Each shape needs a prefilter hit in its line (or a table header / BEGIN line before it)."""
    for name in LINE_FILES:
        for line in _lines(name):
            assert redact_module._CHEAP.search(line), line


# -- issue 29: the shapes that leaked through --events, the line column, environment values ------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("curl -u admin:pw1 https://h/x", "curl -u admin:*** https://h/x"),
    ("curl --proxy-user p:pw3 -U p:pw4 h; curl -uadmin:x1", "curl --proxy-user p:*** -U p:*** h; curl -uadmin:***"),
    ("docker login -u ci -p pw5 registry", "docker login -u ci -p *** registry"),
    ("Cookie: session=abc; theme=dark", "Cookie: session=***; theme=***"),
    ("Set-Cookie: sid=abc; Path=/; HttpOnly", "Set-Cookie: sid=***; Path=/; HttpOnly"),
    ("GET /c?sv=2022-11-02&sig=abc%2Bdef%3D&se=x", "GET /c?sv=2022-11-02&sig=***&se=x"),
    ("  client-key-data: LS0tabc", "  client-key-data: ***"),
    ("  client-certificate-data: LS0tabc", "  client-certificate-data: ***"),
    ("api.auth.token      X", "api.auth.token      ***"),
])
def test_the_issue_29_shapes(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "ps -u root; find . -user bob; docker run -p 8080:80 img",
    "cookie jar emptied; 3 cookies set",
    "signature verified; the design=ok",
    "NAME   TOKEN   AGE",
    "SUMMARY OF THE DAY",  # an S-word is no nkey seed
    "node.token.count   12 tokens",
])
def test_ordinary_text_survives_the_issue_29_shapes(text: str) -> None:
    assert redact(text) == text


def _prefixed_rows() -> list[str]:
    return _lines("11-prefixed-keys.log")


def test_the_line_column_is_redacted_like_msg_behind_any_prefix() -> None:
    """A key logged line by line behind a journald, klog, console or zerolog prefix: the ``line`` column
    (the whole line, prefix included) of every row loses its body, the prefixes and markers stay."""
    lines = _prefixed_rows()
    out = redact_frame(_frame([("edge1", x) for x in lines]))
    assert not out["line"].str.contains("PLANT").any(), [x for x in out["line"] if "PLANT" in x]
    for before, after in zip(lines, out["line"], strict=True):
        if "PLANT" in before:  # the prefix kept: everything before the body
            assert after.endswith(MASK) and after[:-len(MASK)] == before[:len(after) - len(MASK)]
        else:
            assert after == before


def test_the_events_table_of_a_prefixed_key_through_the_parser(tmp_path: Path) -> None:
    """The real path of ``repro inspect --events``: parsed, then written by events_for_csv."""
    from repro_lib.capture.logs import events_for_csv, parse_file

    events = parse_file(CORPUS / "11-prefixed-keys.log")
    assert events.astype(str).apply(lambda c: c.str.contains("PLANT")).any().any()
    out = events_for_csv(events)
    leaked = out.astype(str).apply(lambda c: c.str.contains("PLANT"))
    assert not leaked.any().any(), out[leaked.any(axis=1)].to_dict("records")[:3]


def test_environment_values_are_never_masked_inside_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """``API_TOKEN=test`` must not turn ``new-test-job`` into ``new-***-job``: everyday words are never
    masked by value, values under 8 characters only where they stand whole; long ones everywhere."""
    r = Redactor(["test", "changeme", "Password", "ab12cd", "zz-known-1234"])
    assert r.secrets == ["zz-known-1234", "ab12cd"]
    assert r("new-test-job changeme") == "new-test-job changeme"
    assert r("pw=ab12cd new-ab12cd-x ab12cdef ab12cd. a.ab12cd.b") == "pw=*** new-ab12cd-x ab12cdef ***. a.ab12cd.b"
    assert r("xzz-known-1234y") == "x***y"
    assert r.redact_bytes(b"new-ab12cd-x ab12cd\n") == b"new-ab12cd-x ***\n"
    monkeypatch.setattr(redact_module, "_known", lambda: Redactor(secrets_from({"API_TOKEN": "test"})))
    assert redact("job new-test-job created") == "job new-test-job created"


def test_a_masked_msg_is_masked_in_its_line_too() -> None:
    """The leak issue 29 found: ``msg`` masked (its stream saw the BEGIN row), ``line`` not (a prefix the
    block's rows do not share). The line loses what its msg lost."""
    df = pd.DataFrame({
        "source": ["edge1", "edge1", "edge1"],
        "msg": ["-----BEGIN PRIVATE KEY-----", "MIIEvQIBADANPLANTmsg01", "connected to nats"],
        "line": ["svc|a 1: -----BEGIN PRIVATE KEY-----", "other writer 22 x: MIIEvQIBADANPLANTmsg01",
                 "svc|a 3: connected to nats"],
    })
    out = redact_frame(df)
    assert list(out["msg"]) == ["-----BEGIN PRIVATE KEY-----", MASK, "connected to nats"]
    assert list(out["line"]) == ["svc|a 1: -----BEGIN PRIVATE KEY-----", f"other writer 22 x: {MASK}",
                                 "svc|a 3: connected to nats"]
