"""One redaction function for everything the kit writes: text output, ``--events`` CSV,
``events.jsonl`` and the logs of run folders, figure labels, HTML reports, notebooks, result.json,
scenario.yaml and manifest.json.

:func:`redact` masks secrets by their *shape* (whoever wrote them) with :data:`MASK`, then every
secret *value* the environment or ``.env`` names (:class:`Redactor`: bootstrap token, API keys;
values shorter than 4 characters and everyday words are ignored, values shorter than 8 are masked only
where they stand whole: they would redact ordinary text). The shapes, in every
line format the kit reads (plain text, Go slog text/JSON, zerolog console/JSON, JSON nested or
escaped inside a JSON string, docker and docker-compose prefixes, HTML-escaped quotes):

- **key = value** where the key *ends* in a secret-ish word (``token``, ``secret``, ``password``,
  ``passwd``, ``pwd``, ``passphrase``, ``credentials``, ``authorization``, ``signature``,
  ``secret_key``/``secretKey``, ``secret_id``, ``api_key``/``apiKey``/``X-Api-Key``, ``access_key``,
  ``private_key``, ``client_key``, … ``db_pass``, ``_auth``), in snake, kebab, dotted, camel or
  UPPER_SNAKE case: ``k=v``, ``k = v``, ``k: v``, ``k := v``, ``"k":"v"``, ``\\"k\\":\\"v\\"``, ``[k:v]``,
  ``k='two words'``, ``k="two words"``, URL-encoded ``k%3Dv`` / ``k%3Av`` and query strings
  (``?token=abc%2Fdef&x=1``: the value ends at ``&``). An ``Authorization`` value keeps its scheme
  (``Bearer ***``); an unquoted value of a JSON key becomes ``"***"`` (the JSON stays valid). Not
  secrets, left alone: placeholders (``null``, ``true``, ``str``, ``<nil>``, ``{{ .Token }}``, ``***``),
  references (``$VAR``, ``${VAR}``, ``${VAR:?msg}``, compose's ``$$VAR``), values without a letter or
  digit, ``PWD=/path``, pagination cursors (``next_token``, ``--next-token Ok46MTox``, ``page_token``),
  paths (``/etc/passwd: …``), and a plain word after ``token:``, ``secret:``, ``authorization:``,
  ``credentials:`` + space (``invalid token: expired``, ``needing authorization: Error response``) —
  after a *password* key a plain word is masked (``passwd: swordfish``).
- **CLI flags** ``--token x``, ``-token x``, ``--api-key x``, ``--client-secret 'a b'`` (a value that does
  not start with ``-``; also ``"--token", "x"`` in argument lists), and ``--token=x`` as above.
- ``config set <key> <value>`` whose key ends in a secret-ish word (``node.auth.secret``,
  ``…authsecret``, ``auth.token``).
- ``password x`` / ``passphrase x`` (keyword, space, value) when the value is quoted or holds a digit or
  a symbol: ``password hunter2`` is masked, ``password reset`` is prose and stays.
- ``credentials 'user:pass'``, ``credentials "user:pass"``, ``credentials user:pass`` (unquoted: only
  a ``user:pass`` pair), ``credentials: …`` as key = value.
- **mysql-style** ``-pPASS``: ``-p`` glued to a value, only after a MySQL/MariaDB client name
  (``mysql``, ``mysqldump``, ``mysqladmin``, ``mysqlimport``, ``mysqlcheck``, ``mysqlshow``,
  ``mysqlpump``, ``mariadb``, ``mariadb-dump``, ``mariadb-admin``) earlier in the same command (not
  across ``|``, ``;``, ``&``), so ``find . -print``, ``docker run -p8080:80`` or ``ssh -p22`` stay;
  likewise ``sshpass -p X`` and ``redis-cli … -a X``.
- **URLs**: ``scheme://user:pass@host`` (the password), ``scheme://TOKEN@host`` (the whole userinfo)
  for NATS/TLS/WebSocket/Redis/AMQP/MQTT schemes or when it is 20+ characters with a digit
  (``ssh://git@host`` stays); Go MySQL DSNs ``user:pass@tcp(host)/db``.
- ``Bearer x`` / ``Basic x`` anywhere when ``x`` looks like a credential (8+ characters with a digit,
  ``+/=`` or inner capitals): ``bearer token``, ``Basic authentication`` stay.
- **PEM private keys** (``-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED |DSA |PGP ]PRIVATE KEY[ BLOCK]-----``):
  the body is masked, the markers stay — on one line (JSON-escaped ``\\n`` or spaces), across the lines
  of a multi-line text, and across consecutive rows of an events table (:func:`redact_frame`, per
  ``source``: a stateful pass from a row whose text opens a block). Body lines are base64 (or
  ``DEK-Info:``/``Proc-Type:`` headers, blank lines) after an optional docker timestamp, compose
  ``service  |`` prefix, DataFrame index or ``<td>`` (a notebook's DataFrame view); the block ends at
  END, or at the first line that is not body (a truncated key does not swallow the log after it).
- **Tables** (multi-line text and consecutive table rows): a vertical row ``│ TOKEN │ abc │`` masks its
  value cell; a header row whose cell is secret-ish (``│ NAME │ TOKEN │`` box-drawn or ``|``-separated,
  or an UPPERCASE whitespace-aligned header ``NAME   TOKEN``) masks that column in the rows below, until a
  line that is not a row of that table (box) or a blank line (whitespace-aligned).
- **Well-known token shapes** (case-sensitive, after detect-secrets and the vendors' documented
  formats; no entropy detector, so execution ids ``e-3f2a…`` and hex node ids stay readable): AWS key
  ids ``AKIA/ASIA/ABIA/ACCA/A3T…`` (20 chars), GitHub ``ghp_/gho_/ghu_/ghs_/ghr_`` (36+) and
  ``github_pat_``, GitLab ``glpat-`` & co., Slack ``xox[abposr]-…``, ``xapp-`` and webhooks, Stripe
  ``sk_/rk_live_/test_``, JWTs ``eyJ….….…``, npm ``npm_`` (36), OpenAI/Anthropic ``sk-…`` (32+ chars
  with a digit), Google ``AIza…``, SendGrid ``SG.….…``, PyPI ``pypi-AgE…``, Vault ``hvs./hvb./hvr.``,
  Hugging Face ``hf_…``, Square ``sq0atp-/sq0csp-``. The recognizable prefix is kept (``ghp_***``).
  Expanso/Bacalhau tokens have no published shape: they are caught by their keys
  (``EXPANSO_*_TOKEN=``, ``--token``, ``bootstrap_token:``) and by their values from the environment.

Known false positives and limits (shape rules trade precision for recall):

- prose with a secret-ish key and a separator loses the next word when it does not look like a plain
  word: ``the api_key: see docs`` → ``the api_key: *** docs``, ``token=missing`` → ``token=***``;
  conversely a plain all-letters word after ``token: `` (YAML) is taken for prose and kept;
- ``--token flag`` / ``password reset-link`` (a word with a symbol after ``password``) are masked, and so
  is a one-letter placeholder in documentation (``--api-key K``);
- an unquoted value ends at whitespace, quotes, ``,;&}])<`` or a backslash: a password holding those
  characters is only partly masked unless quoted; an unquoted YAML value with spaces keeps its words
  after the first;
- a secret with no secret-ish key and no known shape (``the password is hunter2``, a bare key value,
  a lone PEM body line given to :func:`redact` without its BEGIN line) is not found — only the
  environment's values catch it.

Speed (``benchmarks/bench_redact.py``): a line is first tested with one prefilter regex (:data:`_CHEAP`)
whose branches start at characters that are rare in logs, so a clean line costs one fast regex search
(about a third of a plain ``(?i)token|secret|password`` search). A line with a hit goes through the rules,
each behind a literal test (``@`` for URLs, ``mysql`` for ``-p``…), matched case-insensitively on a
lowercased copy (``re.I`` is slow); keys are found from the prefilter's hits, not by trying every position.
Multi-line text is scanned as one string and only the lines holding a hit (and the rows of an open PEM
block or table) are redacted; :func:`redact_frame` scans each text column joined into one string the same
way and rewrites only the rows that change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MASK", "SECRET_KEYS", "Redactor", "read_env_file", "redact", "redact_data", "redact_frame",
           "redact_yaml", "secrets_from"]

MASK = "***"
#: variables whose values are secrets wherever they come from
SECRET_KEYS = ("EXPANSO_EDGE_BOOTSTRAP_TOKEN", "EXPANSO_BOOTSTRAP_TOKEN", "EXPANSO_CLI_AUTH_API_KEY",
               "EXPANSO_API_KEY", "EXPANSO_TOKEN")
_SECRETISH = re.compile(r"(TOKEN|API_KEY|SECRET|PASSWORD)$", re.IGNORECASE)


def _env_value(raw: str) -> str:
    """One ``.env`` value as docker compose reads it: quoted values end at the closing quote
    (backslash escapes in double quotes), unquoted ones at `` #`` (an inline comment)."""
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        quote, out, i = raw[0], [], 1
        while i < len(raw):
            c = raw[i]
            if c == "\\" and quote == '"' and i + 1 < len(raw):
                nxt = raw[i + 1]
                out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
                i += 2
                continue
            if c == quote:
                return "".join(out)
            out.append(c)
            i += 1
        return raw  # no closing quote: take the line as written
    for marker in (" #", "\t#"):
        cut = raw.find(marker)
        if cut >= 0:
            raw = raw[:cut]
    return raw.rstrip()


def read_env_file(path: str | Path) -> dict[str, str]:
    """A ``.env`` file as compose reads it: ``KEY=VALUE`` lines, ``#`` comments (also inline after
    an unquoted value), optional quotes, an optional ``export`` prefix."""
    out: dict[str, str] = {}
    p = Path(path)
    if not p.is_file():
        return out
    for line in p.read_text(errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        out[key] = _env_value(value)
    return out


def secrets_from(*envs: Mapping[str, str]) -> list[str]:
    """Secret values among ``envs``: the known keys and anything named like *_TOKEN / *_API_KEY."""
    found: list[str] = []
    for env in envs:
        for k, v in env.items():
            if v and (k in SECRET_KEYS or _SECRETISH.search(k)) and v not in found:
                found.append(v)
    return found


#: a value the environment names that is an everyday word (``test``, ``changeme``, ``Password``): never
#: masked where it appears, it would blank ordinary text (``new-test-job``); the shapes still mask it after its key
_COMMON_WORD = re.compile(r"[A-Za-z][a-z]{0,11}|[A-Z]{1,12}")
#: values shorter than this are masked only where they stand whole, never inside a longer word
_WHOLE_ONLY_BELOW = 8


class Redactor:
    """``redactor(text)`` → text with every secret value replaced by :data:`MASK`. A value shorter than
    4 characters, or an everyday word, is ignored; one shorter than 8 is masked only where it stands
    whole (not inside ``a-b-c`` or a longer word); longer ones wherever they appear."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        self._whole: re.Pattern[str] | None = None
        self._whole_b: re.Pattern[bytes] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for s in secrets:
            if s and len(s) >= 4 and not _COMMON_WORD.fullmatch(s) and s not in self.secrets:
                self.secrets.append(s)
        self.secrets.sort(key=len, reverse=True)  # longest first: a secret containing another
        short = [s for s in self.secrets if len(s) < _WHOLE_ONLY_BELOW]
        alt = "|".join(map(re.escape, short))
        whole = rf"(?<![\w-])(?<!\w\.)(?:{alt})(?![\w-]|\.\w)"  # a sentence's full stop ends it, a.b does not
        self._whole = re.compile(whole) if short else None
        self._whole_b = re.compile(whole.encode()) if short else None

    @classmethod
    def from_environment(cls, env_file: str | Path | None = None) -> Redactor:
        envs: list[Mapping[str, str]] = [os.environ]
        if env_file is not None:
            envs.append(read_env_file(env_file))
        return cls(secrets_from(*envs))

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            if len(s) >= _WHOLE_ONLY_BELOW and s in text:
                text = text.replace(s, MASK)
        if self._whole is not None:
            text = self._whole.sub(MASK, text)
        return text

    def redact_bytes(self, data: bytes) -> bytes:
        if not self.secrets:
            return data
        for secret in self.secrets:  # byte-wise: text that is not UTF-8 passes through untouched
            if len(secret) >= _WHOLE_ONLY_BELOW:
                data = data.replace(secret.encode(), MASK.encode())
        if self._whole_b is not None:
            data = self._whole_b.sub(MASK.encode(), data)
        return data

    def __bool__(self) -> bool:
        return bool(self.secrets)


# -- the prefilter ------------------------------------------------------------------------------------
#: Every shape below holds one of these in its line, so a line without a match is clean. Each branch
#: starts at a character that is rare in logs (then looks behind/ahead for the rest), so that ``re``
#: skips most positions with a character-set test: ``token``/``key`` at ``k``, ``secret``/``credential``
#: at ``c``, ``password``/``pwd`` at ``p``, ``auth`` at ``h``, ``bearer``/``basic`` at ``b``, ``signature``
#: at ``g``, ``mysql`` at ``q``, URL user info and DSNs at ``@``, and the token prefixes.
_CHEAP = re.compile(
    r"c(?:(?i:re[td])|(?<=redis-c)li)|C(?i:re[td])"
    r"|b(?:(?i:earer|asic)|(?<=mariadb))|B(?i:earer|asic)"
    r"|g(?:(?i:nat)|h[pousr]_|ithub_pat_|l(?:pat|oas|dt|rt|cbt|ptt|ft|imt|agent|soat)-|(?<=[?&;]sig)(?==))"
    r"|G(?:(?i:nat)|(?<=SG)\.)|d(?<=(?i:cate)[_-]d)(?=(?i:ata))|S(?=[UAONCXP][A-Z2-7]{56}(?![A-Za-z0-9]))"
    r"|p(?:(?i:ass|wd)|(?<=np)m_|ypi-)|P(?i:ass|wd)"
    r"|h(?:(?<=(?i:aut)h)|f_|v[sbr]\.)|H(?<=(?i:aut)H)"
    r"|k(?:(?i:e[ny])|(?<=[rs]k)_(?:live|test)_|(?<=sk)-|(?<=hooks\.slack)\.com|(?<=(?i:coo)k)(?=(?i:ie)))"
    r"|K(?:(?i:e[ny])|(?<=(?i:coo)K)(?=(?i:ie)))"
    r"|A(?:KIA|SIA|BIA|CCA|3T|Iza)|x(?:ox|app-)|J(?:(?<=eyJ)|(?=WT-----))|q(?:(?<=sq)0(?:atp|csp)-|(?<=mysq)l)"
    r"|Q(?<=MYSQ)L|@|-(?<=[ \t]-)(?=[uU]|p[ \t]|-(?:proxy-)?user\b)")


def _lower(line: str) -> str:
    """``line.lower()`` with the same length (offsets of a match in it are offsets in ``line``)."""
    low = line.lower()
    if len(low) == len(line):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in line)


#: a rule's replacement: the end of the replaced span (it starts where the match starts) and its text
_Repl = tuple[int, str] | None
_Rule = Callable[[re.Match[str], str, str], _Repl]


def _apply(line: str, rx: re.Pattern[str], fn: _Rule, *, lower: bool = True) -> str:
    """Match ``rx`` on the lowercased line (rules are written in lowercase: case-insensitive without
    ``re.I``, which is slow) and splice ``fn(match, line, lowered)``'s replacements into ``line``."""
    low = _lower(line) if lower else line
    out: list[str] = []
    last = 0
    for m in rx.finditer(low):
        if m.start() < last:
            continue  # inside a value already masked
        r = fn(m, line, low)
        if r is None:
            continue
        out += (line[last:m.start()], r[1])
        last = r[0]
    if not out:
        return line
    out.append(line[last:])
    return "".join(out)


# -- key = value ----------------------------------------------------------------------------------------
#: a key that ends in a secret-ish word (snake, kebab, dotted, camel and UPPER_SNAKE case alike)
_KEY_END = re.compile(
    r"(?:token|secret|secret[_.-]?(?:key|id)|passw(?:or)?d|passphrase|pwd|credentials?|authorization|signature"
    r"|(?:api|app|auth|access|account|client|private|priv|service|db|database|signing|encryption|session|master"
    r"|ssh)[_.-]?key|keypass|(?:^|[_.-])pass|(?:^|[_.-])_auth|basic[_.-]?auth|http[_.-]?auth"
    r"|client[_.-]?(?:key|certificate)[_.-]?data)$")
_NOT_SECRET_KEY = re.compile(r"(?:next|page|continuation|pagination|cursor|resume|sync)[_.-]?token$")
#: values that are no secret: empty, null-ish, types (``token: str``), already masked, placeholders
#: (``<token>``, ``{{ .Token }}``) and references (``$TOKEN``, ``${TOKEN:?set it}``, compose's ``$$TOKEN``)
_PLACEHOLDER = re.compile(r"(?i)(?:null|nil|none|true|false|undefined|str|string|bytes|int|bool|\*+|<[^<>]*>"
                          r"|\$\$?\{?[A-Za-z_]\w*(?:\}|:[-?=+][^}]*\}?)?|\{\{[^{}]*\}\}|\[?redacted\]?)")
_QUOTED = (r"\\\"(?:[^\"\\]|\\(?!\"))*\\\"|\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|&quot;(?:(?!&quot;).)*&quot;"
           r"|&#3[49];(?:(?!&#3[49];).)*&#3[49];")
_SCHEME = re.compile(r"(?i)(?:bearer|basic|token|digest|negotiate|apikey)[ \t]+(?=\S)")
_QUOTES = ("&quot;", "&#34;", "&#39;", '\\"', '"', "'")
#: after a key: its separator (a closing quote, then ``=``, ``:``, ``:=``, ``%3D``/``%3A``)
_KV_SEP = re.compile(r"(?:\\?[\"']|&quot;|&#3[49];)?(?:[ \t]*:=?[ \t]*|[ \t]+=[ \t]*|=|%3[ad])")
#: after a CLI flag: whitespace, or ``", "`` in an argument list
_FLAG_SEP = re.compile(r"[ \t]+|\\?[\"'][ \t]*,[ \t]*(?=\\?[\"'])")
_KV_VALUE = re.compile(rf"(?P<q>{_QUOTED})|(?P<scheme>(?:bearer|basic|token|digest|negotiate|apikey)[ \t]+)?"
                       r"(?P<v>[^\s\"',;&}\])<\\]+)")
#: after ``%3D``: a URL-encoded value, which ends at an encoded ``&`` too
_KV_VALUE_ENCODED = re.compile(r"(?P<v>(?:(?!%26)[^\s\"',;&}\])<\\])+)")


def _secret_key(key: str) -> bool:
    """``key`` (lowercased) names a secret: it ends in a secret-ish word and is no pagination cursor."""
    return bool(_KEY_END.search(key)) and not _NOT_SECRET_KEY.search(key)


def _no_secret(value: str) -> bool:
    """A placeholder, or no letter or digit at all (``token=`` before a backtick, ``key: (``)."""
    return not any(c.isalnum() for c in value) or bool(_PLACEHOLDER.fullmatch(value))


def _masked_value(line: str, m: re.Match[str], *, key: str = "", json_key: bool = False) -> _Repl:
    """The replacement of the value matched by ``m`` (a ``_KV_VALUE``-like match): quotes and an
    ``Authorization`` scheme kept, placeholders left alone; an unquoted value of a JSON key becomes
    ``"***"`` so that the JSON stays valid."""
    groups = m.groupdict()
    if groups.get("q") is not None:
        q = line[m.start("q"):m.end("q")]
        quote = next(x for x in _QUOTES if q.startswith(x))
        inner = q[len(quote):len(q) - len(quote)]
        scheme = _SCHEME.match(inner)
        if _no_secret(inner[scheme.end():] if scheme else inner):
            return None
        return m.end(), line[m.start():m.start("q")] + quote + (scheme.group() if scheme else "") + MASK + quote
    v = line[m.start("v"):m.end("v")]
    if _no_secret(v) or (v[:1] in "/~" and key in ("pwd", "oldpwd")):
        return None  # PWD=/home/x is the working directory
    scheme = groups.get("scheme")
    masked = f'"{MASK}"' if json_key and not scheme else MASK
    return m.end(), line[m.start():m.start("v")] + masked


#: keys that are also everyday words: ``invalid token: expired``, ``needing authorization: Error response``
_WORD_KEYS = frozenset({"token", "secret", "authorization", "credential", "credentials", "signature"})
_PLAIN_WORD = re.compile(r"[A-Z]?[a-z]{1,15}")


def _prose_after_colon(line: str, key: str, sep: re.Match[str], v: re.Match[str]) -> bool:
    """``token: expired`` in a sentence: a bare everyday key, a colon and a space, then a plain word
    (lowercase or Capitalized, under 16 letters) — not a secret, which is quoted or holds digits,
    symbols or inner capitals. Password keys are excluded: people do choose words as passwords."""
    return (key in _WORD_KEYS and sep.group().rstrip().endswith(":") and sep.group()[-1:] in " \t"
            and v.groupdict().get("v") is not None and not v.groupdict().get("scheme")
            and bool(_PLAIN_WORD.fullmatch(line[v.start("v"):v.end("v")])))


def _key_at(low: str, at: int) -> tuple[int, int]:
    """The span of the key (a run of ``[\\w.-]``) around position ``at``."""
    end = at
    n = len(low)
    while end < n and (low[end].isalnum() or low[end] in "_.-"):
        end += 1
    start = at
    while start > 0 and (low[start - 1].isalnum() or low[start - 1] in "_.-"):
        start -= 1
    return start, end


def _keyed(line: str) -> str:
    """``key=value`` pairs and ``--flag value`` whose key is secret-ish. The keys are found from the
    prefilter's hits (a secret-ish word holds one), not by trying every position of the line."""
    low = _lower(line)
    out: list[str] = []
    last = seen = 0
    for h in _CHEAP.finditer(line):
        if h.start() < seen:
            continue
        start, end = _key_at(low, h.start())
        seen = end
        if start < last or (start and low[start - 1] in "/$") or low[max(0, start - 2):start] == "${" \
                or not _secret_key(key := low[start:end]):
            continue  # inside a masked value; a path (/etc/passwd:); a reference (${TOKEN:?x}); not secret-ish
        r: _Repl = None
        if sep := _KV_SEP.match(low, end):
            v = (_KV_VALUE_ENCODED if sep.group().startswith("%") else _KV_VALUE).match(low, sep.end())
            if v is not None and not _prose_after_colon(line, key, sep, v):
                r = _masked_value(line, v, key=key, json_key=sep.group().startswith('"'))
        elif key.startswith("-") and (sep := _FLAG_SEP.match(low, end)):
            r = _spaced_value(line, low, sep.end())
        if r is not None:
            out += (line[last:start], line[start:sep.end()] + r[1])  # type: ignore[union-attr]
            last = seen = r[0]
    if not out:
        return line
    out.append(line[last:])
    return "".join(out)


# -- key, space, value ----------------------------------------------------------------------------------
_PROSE = frozenset("is are was were be been must should will would can may required optional flag option "
                   "not no and or the a an to for of in on at with from by if when value argument arguments "
                   "file path string int bool duration".split())
_SPACED_VALUE = re.compile(rf"(?!-)(?:(?P<q>{_QUOTED})|(?:\\?[\"'])?(?P<v>[^\s\"'\\]+))")
_CONFIG_SET = re.compile(r"(?<![\w-])config[ \t]+set[ \t]+(?P<key>[\w.-]+)(?P<sep>[ \t]+)")
_PASSWORD_WORD = re.compile(r"(?<![\w/.-])(?P<key>passw(?:or)?d|passphrase)(?P<sep>[ \t]+)")
_CREDENTIALS_WORD = re.compile(r"(?<![\w/.-])(?P<key>credentials?)(?P<sep>[ \t]+)")
_TOKENISH = re.compile(r"(?=[^\s\"'<>()\[\]{},;]*[0-9!@#$%^&*+=~_/\\-])[^\s\"'<>()\[\]{},;]{3,}")
_PAIR = re.compile(r"[^\s\"'<>()\[\]{},;:]+:[^\s\"'<>()\[\]{},;]+")


def _spaced_value(line: str, low: str, at: int, check: Callable[[str], bool] | None = None) -> _Repl:
    """The value after a key and whitespace (a quoted string, or a word that is not prose)."""
    v = _SPACED_VALUE.match(low, at)
    if v is None:
        return None
    if v.group("v") is not None:
        word = line[v.start("v"):v.end("v")]
        if word.lower() in _PROSE or (check is not None and not check(word)):
            return None
    return _masked_value(line, v)


def _spaced(m: re.Match[str], line: str, low: str, check: Callable[[str], bool] | None = None) -> _Repl:
    """A key, whitespace, then its value (``config set``, ``password x``)."""
    r = _spaced_value(line, low, m.end(), check)
    return None if r is None else (r[0], line[m.start():m.end()] + r[1])


def _config_set(m: re.Match[str], line: str, low: str) -> _Repl:
    return _spaced(m, line, low) if _secret_key(m.group("key")) else None


def _password_word(m: re.Match[str], line: str, low: str) -> _Repl:
    return _spaced(m, line, low, lambda w: bool(_TOKENISH.fullmatch(w)))


def _credentials_word(m: re.Match[str], line: str, low: str) -> _Repl:
    return _spaced(m, line, low, lambda w: bool(_PAIR.fullmatch(w)))


# -- commands with their own password flags -------------------------------------------------------------
_CMD_VALUE = r"(?P<v>'[^'\n]*'|\"[^\"\n]*\"|[^\s'\"]+)"
#: matched on the original line: ``-p`` is case-sensitive (``-P`` is mysql's port, sshpass's prompt)
_DB_CLIENT_P = re.compile(r"(?<![\w-])(?i:mysql(?:dump|admin|import|check|show|pump)?|mariadb(?:-?dump|-?admin)?)"
                          r"(?:\.exe)?\b[^|;&\n]{0,300}?[ \t]-p" + _CMD_VALUE)
_SSHPASS = re.compile(r"(?<![\w-])sshpass(?:[ \t]+-[a-oq-zA-Z]\S*)*[ \t]+-p[ \t]*" + _CMD_VALUE)
_REDIS_A = re.compile(r"(?<![\w-])redis-cli\b[^|;&\n]{0,300}?[ \t]-a[ \t]+" + _CMD_VALUE)
#: ``curl -u user:PW`` / ``--user`` / ``-U`` / ``--proxy-user`` (also wget's ``--http-password`` by its key): the
#: password after the user's colon
_CURL = re.compile(r"(?<![\w-])curl\b[^|;&\n]*")
_CURL_USER = re.compile(r"(?<=[ \t])(?:-[uU][ \t]*|--(?:proxy-)?user(?:[ \t]+|=))['\"]?[^\s:'\"]*:(?P<v>[^\s'\"]+)")
#: ``docker login -p PW`` (podman, nerdctl, buildah, skopeo, helm registry alike)
_LOGIN_P = re.compile(r"(?<![\w-])(?:docker|podman|nerdctl|buildah|skopeo|helm(?:[ \t]+registry)?)[ \t]+login\b"
                      r"[^|;&\n]{0,300}?[ \t]-p[ \t]*" + _CMD_VALUE)


def _cmd(m: re.Match[str], line: str, low: str) -> _Repl:
    return m.end(), line[m.start():m.start("v")] + MASK


def _curl(m: re.Match[str], line: str, low: str) -> _Repl:
    """Every ``-u``/``--user``/``-U``/``--proxy-user`` password of one curl command."""
    cmd = line[m.start():m.end()]
    return m.end(), _CURL_USER.sub(lambda u: u.group()[:u.start("v") - u.start()] + MASK, cmd)


# -- URLs, headers ----------------------------------------------------------------------------------------
_URL_USERPASS = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/:@'\"<>]*:(?P<v>[^\s/@'\"<>]+)@")
_URL_USER = re.compile(r"\b(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<v>[^\s/:@'\"<>]+)@")
_TOKEN_URL_SCHEMES = frozenset({"nats", "tls", "ws", "wss", "redis", "rediss", "amqp", "amqps", "mqtt", "mqtts"})
_DSN = re.compile(r"(?<![\w/:.@-])[\w.-]+:(?P<v>[^\s/@:'\"]+)@(?:tcp|unix)\(")
_BEARER = re.compile(r"\b(?:bearer|basic)[ \t]+(?P<v>[a-z0-9._~+/-]{8,}=*)")
_CREDENTIAL_LIKE = re.compile(r"\d|[+/=]|[a-z][A-Z]|[A-Z][a-z]*[A-Z]")


def _mask_v(m: re.Match[str], line: str, low: str = "") -> _Repl:
    """Mask group ``v``, keep the rest of the match."""
    if line[m.start("v"):m.end("v")] == MASK:
        return None
    return m.end(), line[m.start():m.start("v")] + MASK + line[m.end("v"):m.end()]


def _url_user(m: re.Match[str], line: str, low: str) -> _Repl:
    user = m.group("v")
    if m.group("scheme") in _TOKEN_URL_SCHEMES or (len(user) >= 20 and any(c.isdigit() for c in user)):
        return _mask_v(m, line)
    return None


#: ``Cookie: a=1; b=2`` (every value) and ``Set-Cookie: sid=…; Path=/`` (the first pair: the rest are attributes)
_COOKIE = re.compile(r"(?<![\w-])(?P<set>set-)?cookie(?:\\?[\"'])?[ \t]*[:=][ \t]*(?:\\?[\"'])?")
_COOKIE_PAIR = re.compile(r"[ \t]*(?P<name>[^=;\s\"'\\]+)=(?P<v>[^;\s\"'\\]*)[ \t]*;?")
#: an Azure SAS (or any query string's) ``sig=`` signature
_SAS_SIG = re.compile(r"(?:[?&]|&amp;)sig=(?P<v>[^&\s\"'<>]+)")
#: ``KEY   VALUE`` (two or more spaces, or a tab): a row of a whitespace table without its header
_WS_KV = re.compile(r"(?:^|(?<=[|│]))[ \t]*(?P<key>[\w.-]+)(?:[ \t]{2,}|\t)[ \t]*(?P<v>[^\s|│]+)"
                    r"(?=[ \t]*$|[ \t]{2,}\S)")


def _cookie(m: re.Match[str], line: str, low: str) -> _Repl:
    out, at = [line[m.start():m.end()]], m.end()
    while (pair := _COOKIE_PAIR.match(line, at)) is not None and pair.end() > at:
        v = line[pair.start("v"):pair.end("v")]
        masked = MASK if v and not _no_secret(v) else v
        out.append(line[at:pair.start("v")] + masked + line[pair.end("v"):pair.end()])
        at = pair.end()
        if m.group("set"):
            break
    return (at, "".join(out)) if at > m.end() else None


def _ws_kv(m: re.Match[str], line: str, low: str) -> _Repl:
    v = line[m.start("v"):m.end("v")]
    if not _secret_key(m.group("key")) or v.lower() in _PROSE or _no_secret(v):
        return None
    return _mask_v(m, line)


def _bearer(m: re.Match[str], line: str, low: str) -> _Repl:
    return _mask_v(m, line) if _CREDENTIAL_LIKE.search(line[m.start("v"):m.end("v")]) else None


# -- well-known token shapes: matched on the original line, group 1 (the recognizable prefix) is kept ------
_SHAPES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = tuple((lits, re.compile(p)) for lits, p in (
    (("AKIA", "ASIA", "ABIA", "ACCA", "A3T"), r"\b(AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"),
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"\b(gh[pousr]_)[A-Za-z0-9_]{36,}\b"),
    (("github_pat_",), r"\b(github_pat_)[A-Za-z0-9_]{22,}\b"),
    (("gl",), r"\b((?:glpat|gloas|gldt|glrt|glcbt|glptt|glft|glimt|glagent|glsoat)-)[A-Za-z0-9_-]{20,}"),
    (("xox",), r"\b(xox[abposr]-)(?:\d+-)+[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"),
    (("xapp-",), r"\b(xapp-)\d-[A-Za-z0-9-]{10,}"),
    (("hooks.slack.com",), r"(https://hooks\.slack\.com/services/)T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"),
    (("k_live_", "k_test_"), r"\b([rs]k_(?:live|test)_)[0-9a-zA-Z]{24,}\b"),
    (("eyJ",), r"\b()eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"),
    (("npm_",), r"\b(npm_)[A-Za-z0-9]{36,}\b"),
    (("sk-",), r"\b(sk-)(?=[\w-]*\d)[A-Za-z0-9_-]{32,}"),
    (("AIza",), r"\b(AIza)[0-9A-Za-z_-]{35}"),
    (("SG.",), r"\b(SG\.)[\w-]{22}\.[\w-]{43}"),
    (("pypi-",), r"\b(pypi-)AgE[A-Za-z0-9_-]{50,}"),
    (("hvs.", "hvb.", "hvr."), r"\b(hv[sbr]\.)[A-Za-z0-9_-]{24,}"),
    (("hf_",), r"\b(hf_)[A-Za-z0-9]{34,}\b"),
    (("sq0",), r"\b(sq0(?:atp|csp)-)[0-9A-Za-z_-]{22,}"),
    (("SU", "SA", "SO", "SN", "SC", "SX", "SP"), r"\b(S[UAONCXP])[A-Z2-7]{56}(?![A-Za-z0-9])"),  # NATS nkey seeds
))


def _shape_repl(m: re.Match[str]) -> str:
    return m.group(1) + MASK


# -- PEM private keys -------------------------------------------------------------------------------------
#: private keys, and a NATS ``.creds`` file's seed and user JWT (whose markers have five or six dashes)
_PEM_MARK = r"(?:[A-Z0-9]+ )*(?:PRIVATE KEY(?: BLOCK)?|NKEY SEED|NATS USER JWT)-----"
_PEM = re.compile(rf"(-{{5,6}}BEGIN {_PEM_MARK}-?)(.*?)(-{{5,6}}END {_PEM_MARK}-?|$)", re.S)
_PEM_END = re.compile(rf"-----END {_PEM_MARK}")
_PEM_LITERALS = ("PRIVATE KEY", "NKEY SEED", "NATS USER JWT")
_PEM_OPEN_BODY = re.compile(r"(?:[A-Za-z0-9+/=\s:,.-]|\\[nrt])*")
_PEM_SEP = re.compile(r"(?s)((?:\\[nrt]|\s)*)(.*?)((?:\\[nrt]|\s)*)")
#: a row inside a PEM block: docker timestamp / compose service / DataFrame index / ``<td>`` before the
#: body (base64, or a ``DEK-Info:`` header's value; cut short with ``...`` in a DataFrame view)
_TS = r"(?:\d{4}-\d\d-\d\dT[\d:.]+Z?[ \t]+)?"
_PEM_ROW = re.compile(rf"(?P<pre>{_TS}(?:[\w.-]+[ \t]+\|[ \t]?)?{_TS}(?:\d+[ \t]+)?[ \t]*(?:<td>)?[ \t]*"
                      r"(?:DEK-Info:[ \t]*(?:[\w-]+,)?|Comment:[ \t]*)?)(?P<body>(?:[A-Za-z0-9+/,-]+={0,3})?)"
                      r"(?P<post>(?:\.\.\.|…)?[ \t]*(?:</td>)?\s*)")
#: HTML table structure between the rows of a DataFrame view (``<tr>``, ``<th>12</th>``): not the body
_HTML_ROW_MARKUP = re.compile(r"\s*(?:</?(?:tr|th|td|tbody)\b[^>]*>\s*\d*\s*)+")
_PEM_MAX_ROWS = 2000
#: lines of other writers (another prefix) a prefixed block may be interleaved with before it is given up
_PEM_MAX_SKIPS = 50


def _mask_body(body: str) -> str:
    lead, core, trail = _PEM_SEP.fullmatch(body).groups()  # type: ignore[union-attr]
    return f"{lead}{MASK}{trail}" if core else body


def _pem_sub(line: str) -> tuple[str, str | None]:
    """Mask PEM bodies on one line; also give, when a block stays open (BEGIN without END), the text
    before its BEGIN (a log line's prefix, which the block's next lines repeat)."""
    opened: str | None = None

    def repl(m: re.Match[str]) -> str:
        nonlocal opened
        if m.group(3):
            return m.group(1) + _mask_body(m.group(2)) + m.group(3)
        opened = line[:m.start()]  # no END on this line: mask what looks like key material, keep the rest
        body = _PEM_OPEN_BODY.match(m.group(2)).group(0)  # type: ignore[union-attr]
        return m.group(1) + _mask_body(body) + m.group(2)[len(body):]

    return _PEM.sub(repl, line), opened


_PREFIX_PART = re.compile(r"(?P<d>\d+)|(?P<s>\s+)|(?P<c>.)", re.S)
_PREFIXED_BODY = re.compile(r"(?P<pre>[ \t]*(?:DEK-Info:[ \t]*(?:[\w-]+,)?|Comment:[ \t]*)?)"
                            r"(?P<body>(?:[A-Za-z0-9+/,-]+={0,3})?)(?P<post>\s*)")


def _prefix_pattern(prefix: str) -> re.Pattern[str] | None:
    """A log line's prefix (journald, klog, zerolog, a console's) as a pattern its next lines match: the
    same text, with any number where it has a number and any blank where it has one."""
    if not prefix.strip():
        return None
    parts = []
    for m in _PREFIX_PART.finditer(prefix[-200:]):
        parts.append(r"\d+" if m.group("d") else r"\s+" if m.group("s") else re.escape(m.group()))
    return re.compile("".join(parts))


def _pem_body_row(line: str, prefix: re.Pattern[str] | None = None) -> str | None:
    """A row inside an open PEM block, masked; ``None`` if it is not key material. ``prefix``: the
    pattern of the prefix the BEGIN line had, which each body line repeats."""
    if _HTML_ROW_MARKUP.fullmatch(line) or "Proc-Type:" in line:
        return line  # markup between a DataFrame view's rows; ``Proc-Type: 4,ENCRYPTED`` says nothing
    m = _PEM_ROW.fullmatch(line)
    if m is None:
        p = prefix.match(line) if prefix is not None else None
        b = _PREFIXED_BODY.fullmatch(line, p.end()) if p is not None else None
        if b is None:
            return None
        return line[:b.start("body")] + MASK + b.group("post") if b.group("body") else line
    return m.group("pre") + MASK + m.group("post") if m.group("body") else line


# -- tables -----------------------------------------------------------------------------------------------
_SECRET_WORDS = (r"(?:[a-z0-9]+[ _.-])*(?:token|secret|passw(?:or)?d|passphrase|credentials?"
                 r"|(?:api|access|secret|private|client|auth)[ _.-]?key)")
_SECRET_HEADER = re.compile(rf"(?i){_SECRET_WORDS}")
_BOX_SEP = re.compile(r"([│┃║|])")
_BOX_HEADER_CELL = re.compile(r"[A-Za-z][A-Za-z _./()#-]{0,40}")  # column names hold no digits
_BORDER = re.compile(r"[\s─━═┄┈┼╋╬├┤┝┥┠┨╟╢┌┐└┘╭╮╰╯┬┴┏┓┗┛╔╗╚╝+=:-]*")
_WS_CELL = re.compile(r"\S+(?: \S+)*")
_WS_HEADER_CELL = re.compile(r"[A-Z][A-Z0-9_./()#-]*(?: [A-Z][A-Z0-9_./()#-]*)*")
_TABLE_KV = re.compile(rf"^(?P<pre>[ \t]*[│┃║|][ \t]*(?P<key>{_SECRET_WORDS})[ \t]*[│┃║|][ \t]*)"
                       r"(?P<v>[^│┃║|\s](?:[^│┃║|]*[^│┃║|\s])?)")
_TABLE_MAX_ROWS = 100_000


def _secret_header(cell: str) -> bool:
    return bool(_SECRET_HEADER.fullmatch(cell)) and not _NOT_SECRET_KEY.search(cell.replace(" ", "_"))


def _pad(cell: str) -> str:
    """``cell`` with its content replaced by MASK, keeping its width where it can."""
    core = cell.strip()
    if not core or _BORDER.fullmatch(core):
        return cell
    i = cell.index(core)
    return cell[:i] + MASK.ljust(len(core)) + cell[i + len(core):]


class _Table:
    """A table whose header names secret columns: masks those cells in the rows that follow."""

    def __init__(self, box: bool, width: int, cols: list[int], ends: list[int] | None = None) -> None:
        self.box, self.width, self.cols, self.ends, self.rows = box, width, cols, ends or [], 0

    @classmethod
    def from_header(cls, line: str) -> _Table | None:
        if _BOX_SEP.search(line):
            parts = _BOX_SEP.split(line)
            cells = [p.strip() for p in parts[::2]]
            named = [c for c in cells if c]
            if len(named) == 2 and _secret_header(named[0]) and not named[1].isupper():
                return None  # a key and its value: │ Token │ abc │
            if len(named) >= 2 and all(_BOX_HEADER_CELL.fullmatch(c) for c in named):
                cols = [i for i, c in enumerate(cells) if c and _secret_header(c)]
                if cols:
                    return cls(True, len(parts), cols)
            return None
        cells = list(_WS_CELL.finditer(line))
        if len(cells) >= 2 and all(_WS_HEADER_CELL.fullmatch(c.group()) for c in cells):
            cols = [k for k, c in enumerate(cells) if _secret_header(c.group())]
            if cols:
                starts = [c.start() for c in cells] + [1 << 30]
                return cls(False, len(cells), [starts[k] for k in cols], [starts[k + 1] for k in cols])
        return None

    def row(self, line: str) -> str | None:
        """``line`` with the secret cells masked, or ``None`` when the table ended before it."""
        self.rows += 1
        if self.rows > _TABLE_MAX_ROWS or not line.strip():
            return None
        if self.box:
            if not _BOX_SEP.search(line):
                return line if _BORDER.fullmatch(line) else None
            parts = _BOX_SEP.split(line)
            if len(parts) != self.width:
                return None
            for k in self.cols:
                parts[2 * k] = _pad(parts[2 * k])
            return "".join(parts)
        out, last = [], 0
        for start, end in zip(self.cols, self.ends, strict=True):
            for c in _WS_CELL.finditer(line):
                if c.end() > start and c.start() < end and c.start() >= last:
                    out.append(line[last:c.start()] + MASK.ljust(len(c.group())))
                    last = c.end()
                    break
        return "".join(out) + line[last:]


def _table_kv(m: re.Match[str], line: str, low: str) -> _Repl:
    if _Table.from_header(line) or _NOT_SECRET_KEY.search(m.group("key").replace(" ", "_")):
        return None  # a header row, not a key and its value
    return m.end(), line[m.start():m.start("v")] + MASK.ljust(m.end("v") - m.start("v"))


# -- one line ---------------------------------------------------------------------------------------------
_BOX_CHARS = ("│", "┃", "║", "|")


def _redact_line(line: str) -> tuple[str, str | None]:
    """One line (that passed the prefilter) with every shape masked, and, when a PEM block opened on it,
    the text before its BEGIN (else None).
    Each rule runs only when its literal is in the line."""
    opened: str | None = None
    if any(s in line for s in _PEM_LITERALS):
        line, opened = _pem_sub(line)
    low = _lower(line)
    if "@" in low:
        if "://" in low:
            line = _apply(line, _URL_USERPASS, _mask_v)
            line = _apply(line, _URL_USER, _url_user)
        if "@tcp(" in low or "@unix(" in low:
            line = _apply(line, _DSN, _mask_v)
    if any(c in line for c in _BOX_CHARS):
        line = _apply(line, _TABLE_KV, _table_kv)
    if "config" in low:
        line = _apply(line, _CONFIG_SET, _config_set)
    line = _keyed(line)
    if "passw" in low or "passph" in low:
        line = _apply(line, _PASSWORD_WORD, _password_word)
    if "credential" in low:
        line = _apply(line, _CREDENTIALS_WORD, _credentials_word)
    if "mysql" in low or "mariadb" in low:
        line = _apply(line, _DB_CLIENT_P, _cmd, lower=False)
    if "sshpass" in low:
        line = _apply(line, _SSHPASS, _cmd, lower=False)
    if "redis-cli" in low:
        line = _apply(line, _REDIS_A, _cmd, lower=False)
    if "curl" in low:
        line = _apply(line, _CURL, _curl, lower=False)
    if "login" in low:
        line = _apply(line, _LOGIN_P, _cmd, lower=False)
    if "cookie" in low:
        line = _apply(line, _COOKIE, _cookie)
    if "sig=" in low:
        line = _apply(line, _SAS_SIG, _mask_v)
    if ("  " in line or "\t" in line) and _Table.from_header(line) is None:
        line = _apply(line, _WS_KV, _ws_kv)
    if "bearer" in low or "basic" in low:
        line = _apply(line, _BEARER, _bearer)
    for lits, rx in _SHAPES:
        if any(s in line for s in lits):
            line = rx.sub(_shape_repl, line)
    return line, opened


class _Stream:
    """Redacts consecutive lines (of a text, or rows of one source), carrying PEM and table context."""

    def __init__(self) -> None:
        self.pem_rows = 0
        self.pem_prefix: re.Pattern[str] | None = None
        self.pem_skips = 0
        self.table: _Table | None = None

    @property
    def active(self) -> bool:
        return bool(self.pem_rows) or self.table is not None

    def feed(self, line: str) -> str:
        if self.pem_rows:
            if _PEM_END.search(line):
                self.pem_rows = 0
            else:
                body = _pem_body_row(line, self.pem_prefix)
                if body is not None:
                    self.pem_rows -= 1
                    self.pem_skips = 0
                    return body
                if self.pem_prefix is not None and not self.pem_prefix.match(line) \
                        and self.pem_skips < _PEM_MAX_SKIPS:
                    self.pem_skips += 1  # another writer's line between the key's lines: the block stays open
                else:
                    self.pem_rows = 0  # a truncated block: this line is something else
        if self.table is not None:
            row = self.table.row(line)
            if row is None:
                self.table = None
            else:
                line = row
        if not _CHEAP.search(line):
            return line
        if self.table is None and (table := _Table.from_header(line)):
            self.table = table
            return line
        line, opened = _redact_line(line)
        if opened is not None:
            self.pem_rows = _PEM_MAX_ROWS
            self.pem_prefix = _prefix_pattern(opened)
            self.pem_skips = 0
        return line


def _redact_text(text: str) -> str:
    """Multi-line text: only the lines holding a prefilter hit (and open PEM blocks, tables) are redacted."""
    out: list[str] = []
    pos, n = 0, len(text)
    stream = _Stream()
    while pos < n:
        if not stream.active:
            m = _CHEAP.search(text, pos)
            if m is None:
                out.append(text[pos:])
                break
            start = text.rfind("\n", pos, m.start()) + 1 or pos
            out.append(text[pos:start])
            pos = start
        end = text.find("\n", pos)
        if end < 0:
            end = n
        out.append(stream.feed(text[pos:end]))
        if end < n:
            out.append("\n")
        pos = end + 1
    return "".join(out)


@lru_cache(maxsize=1)
def _known() -> Any:
    env_file = ".env" if os.path.isfile(".env") else None
    return Redactor.from_environment(env_file)


def redact(text: str) -> str:
    """``text`` with every secret masked (``***``): by shape, then the known secret values. ``text`` may
    be one line or a whole file (PEM blocks and tables spanning lines are followed)."""
    if not text:
        return text
    if "\n" in text:
        text = _redact_text(text)
    elif _CHEAP.search(text):
        text = _redact_line(text)[0]
    known = _known()
    return known(text) if known else text


# -- events tables ----------------------------------------------------------------------------------------
def _next_rows(df: pd.DataFrame) -> np.ndarray:
    """For each row position, the position of the next row of the same ``source`` (-1: none)."""
    n = len(df)
    nxt = np.full(n, -1, dtype=np.int64)
    if n < 2:
        return nxt
    if "source" in df.columns:
        codes, _ = pd.factorize(df["source"], use_na_sentinel=False)
        order = np.lexsort((np.arange(n), codes))
        same = codes[order[:-1]] == codes[order[1:]]
        nxt[order[:-1][same]] = order[1:][same]
    else:
        nxt[:-1] = np.arange(1, n)
    return nxt


def _hit_rows(values: np.ndarray, known: Redactor | None) -> tuple[list[int], list[int]]:
    """Rows whose text passes the prefilter, and rows holding a known secret value: the column is
    joined into one string and scanned once (a hit's row is found by bisection)."""
    texts = list(map(str, values))  # NaN and numbers are scanned too, only ``str`` rows are rewritten
    big = "\n".join(texts)
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1
    starts = np.cumsum(lens) - lens

    def rows_of(find: Callable[[int], int]) -> list[int]:
        rows: list[int] = []
        pos = 0
        while (at := find(pos)) >= 0:
            row = int(np.searchsorted(starts, at, side="right")) - 1
            rows.append(row)
            pos = int(starts[row] + lens[row])
        return rows

    def cheap(pos: int) -> int:
        m = _CHEAP.search(big, pos)
        return m.start() if m else -1

    known_rows: set[int] = set()
    for secret in known.secrets if known else ():
        if secret in big:
            known_rows.update(rows_of(lambda pos, s=secret: big.find(s, pos)))
    return rows_of(cheap), sorted(known_rows)


def _is_text(dtype: Any) -> bool:
    return str(dtype) in ("object", "str", "string")


def redact_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of an events table with every text column redacted. Each column is scanned as one string
    and only its rows with a prefilter hit are rewritten; a PEM block or a table spread over consecutive
    rows of one ``source`` is followed row by row."""
    out = df.copy()
    known = _known() or None
    nxt: np.ndarray | None = None
    touched: dict[str, list[int]] = {}
    for k, col in enumerate(out.columns):
        if col in ("t", "t_s") or not _is_text(out.dtypes.iloc[k]):
            continue
        values = out.iloc[:, k].to_numpy(dtype=object)
        hits, known_rows = _hit_rows(values, known)
        if not hits and not known_rows:
            continue
        if nxt is None:
            nxt = _next_rows(out)
        new: dict[int, str] = {}
        for i in hits:
            v = values[i]
            if i in new or not isinstance(v, str):
                continue
            if "\n" in v:
                new[i] = _redact_text(v)
                continue
            stream = _Stream()
            new[i] = stream.feed(v)
            j = i
            while stream.active and (j := int(nxt[j])) >= 0:
                if isinstance(values[j], str):
                    new[j] = stream.feed(values[j]) if "\n" not in values[j] else _redact_text(values[j])
        for i in known_rows:
            if isinstance(values[i], str):
                new[i] = known(new.get(i, values[i]))  # type: ignore[misc]
        changed = [i for i, v in new.items() if v != values[i]]
        if changed:
            out.iloc[changed, k] = [new[i] for i in changed]
            touched[col] = changed
    if "line" in out.columns and touched:
        _agree_with_line(df, out, touched)
    return out


def _agree_with_line(df: pd.DataFrame, out: pd.DataFrame, touched: dict[str, list[int]]) -> None:
    """The ``line`` column (the whole log line) and the columns parsed from it (``msg``, ``detail`` …) are
    masked alike: a text masked in a parsed column is masked where ``line`` still holds it, and a parsed
    cell whose text ``line`` lost to a mask (a key's body row, known only from the rows around it) is
    masked whole."""
    li = out.columns.get_loc("line")
    lines = out["line"].to_numpy(dtype=object)
    orig_lines = df["line"].to_numpy(dtype=object)
    fixed: dict[int, str] = {}
    for col, rows in touched.items():
        if col == "line":
            continue
        k = out.columns.get_loc(col)
        for i in rows:
            before, after, line = df.iat[i, k], out.iat[i, k], fixed.get(i, lines[i])
            if isinstance(before, str) and before and isinstance(line, str) and before in line:
                fixed[i] = line.replace(before, after)
    for i in touched.get("line", []):
        for k, col in enumerate(out.columns):
            if col in ("line", "t", "t_s") or not _is_text(out.dtypes.iloc[k]):
                continue
            v, line = out.iat[i, k], fixed.get(i, lines[i])
            if isinstance(v, str) and len(v) >= 8 and isinstance(orig_lines[i], str) and v in orig_lines[i] \
                    and isinstance(line, str) and v not in line:
                out.iat[i, k] = MASK
    if fixed:
        rows = sorted(fixed)
        out.iloc[rows, li] = [fixed[i] for i in rows]


def redact_data(obj: Any) -> Any:
    """A JSON/YAML-like value with every string in it redacted, and a text under a secret-ish key masked
    whole (``{"api_token": "abc"}``): redacted *before* it is serialised, so that a secret inside a string
    that holds JSON (escaped once in the value, twice in the file) is masked as the value it is. Each
    distinct string and key is redacted once (a run's JSON repeats its states, names and keys 10^5 times)."""
    return _redact_data(obj, {}, {})


def _redact_data(obj: Any, texts: dict[str, str], keys: dict[str, tuple[str, bool]]) -> Any:
    """:func:`redact_data` with what it has seen: ``texts`` a plain string's redaction, ``keys`` a key's
    redaction and whether it names a secret."""
    if isinstance(obj, dict):
        return _redact_dict(obj, texts, keys)
    if isinstance(obj, list | tuple):  # a run's rows: dicts, each redacted without the type tests below
        return [_redact_dict(v, texts, keys) if type(v) is dict else _redact_data(v, texts, keys) for v in obj]
    if type(obj) is str:
        done = texts.get(obj)
        return done if done is not None else texts.setdefault(obj, redact(obj))
    if isinstance(obj, str):
        return redact(obj)
    return obj


#: values :func:`_redact_data` returns as they are (None too)
_AS_IS = frozenset((int, float, bool))


def _redact_dict(obj: dict[Any, Any], texts: dict[str, str], keys: dict[str, tuple[str, bool]]) -> dict[Any, Any]:
    """:func:`_redact_data` of a dict."""
    out: dict[Any, Any] = {}
    for k, v in obj.items():
        if type(k) is str:
            seen = keys.get(k)
            if seen is None:
                seen = keys[k] = (redact(k), _secret_key(k.lower()))
            key, secretish = seen
        else:
            key, secretish = (redact(k), _secret_key(k.lower())) if isinstance(k, str) else (k, False)
        if type(v) is str:
            if secretish and not _no_secret(v):
                out[key] = MASK
            else:
                done = texts.get(v)
                out[key] = done if done is not None else texts.setdefault(v, redact(v))
        elif v is None or type(v) in _AS_IS:
            out[key] = v
        elif secretish and isinstance(v, str) and not _no_secret(v):
            out[key] = MASK
        else:
            out[key] = _redact_data(v, texts, keys)
    return out


#: a bare mask where YAML reads a value (after ``key:``, ``- ``, ``[``, ``,`` or ``{``): ``***`` would be an alias
_YAML_BARE_MASK = re.compile(r"([:\-\[,{][ \t]+)\*\*\*(?=[ \t]*(?:[,}\]]|#|$))", re.M)


def _in_quoted_scalar(line: str) -> bool:
    """Whether the end of ``line`` is inside a single- or double-quoted YAML scalar (``''`` is an escaped
    quote in single quotes, ``\\"`` in double quotes)."""
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote == "'":
            if c == "'" and line[i + 1:i + 2] == "'":
                i += 1
            elif c == "'":
                quote = ""
        elif quote == '"':
            if c == "\\":
                i += 1
            elif c == '"':
                quote = ""
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return False  # a comment: nothing after it is a scalar
        elif c in "'\"" and (i == 0 or line[i - 1] in " \t:[{,-"):
            quote = c
        i += 1
    return bool(quote)


def _yaml_mask(m: re.Match[str]) -> str:
    line_start = m.string.rfind("\n", 0, m.start()) + 1
    if _in_quoted_scalar(m.string[line_start:m.start(1) + len(m.group(1))]):
        return m.group()  # inside a quoted scalar ``'{k: ***}'``: text, not a YAML value — quoting it would break it
    return f"{m.group(1)}'***'"


def redact_yaml(text: str) -> str:
    """:func:`redact` for a YAML document the kit will read again: a masked value is written ``'***'`` (a bare
    ``***`` is a YAML alias, and the file would no longer load); inside a quoted scalar it stays as it is."""
    return _YAML_BARE_MASK.sub(_yaml_mask, redact(text))
