"""One redaction function for everything the kit writes: text output, ``--events`` CSV,
``events.jsonl`` and the logs of run folders, figure labels and HTML reports.

:func:`redact` masks secrets by their *shape*, whoever wrote them:

- ``token=…``, ``password: …``, ``secret=…``, ``api_key=…`` and the like, in logfmt, YAML or JSON
  (``"Token":"…"``), short values as well as long ones;
- ``Authorization: Bearer …`` / ``Basic …``;
- credentials in URLs, ``scheme://user:pass@host``;

and, on top, every secret *value* the environment or ``.env`` names
(:class:`Redactor`: bootstrap token, API keys — read from the environment and ``.env``), wherever
it appears. Values shorter than 4 characters are ignored (they would redact ordinary text).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["MASK", "SECRET_KEYS", "Redactor", "read_env_file", "redact", "redact_frame", "secrets_from"]

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


class Redactor:
    """``redactor(text)`` → text with every secret value replaced by :data:`MASK`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for s in secrets:
            if s and len(s) >= 4 and s not in self.secrets:
                self.secrets.append(s)
        self.secrets.sort(key=len, reverse=True)  # longest first: a secret containing another

    @classmethod
    def from_environment(cls, env_file: str | Path | None = None) -> Redactor:
        envs: list[Mapping[str, str]] = [os.environ]
        if env_file is not None:
            envs.append(read_env_file(env_file))
        return cls(secrets_from(*envs))

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, MASK)
        return text

    def redact_bytes(self, data: bytes) -> bytes:
        if not self.secrets:
            return data
        for secret in self.secrets:  # byte-wise: text that is not UTF-8 passes through untouched
            data = data.replace(secret.encode(), MASK.encode())
        return data

    def __bool__(self) -> bool:
        return bool(self.secrets)

_KEY = (r"(?:[\w.-]*?(?:token|secret|passw(?:or)?d|passwd|pwd|api[_-]?key|apikey|access[_-]?key|"
        r"private[_-]?key|client[_-]?secret|credentials?))")
_PATTERNS = (
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):([^/\s@]+)@"), lambda m: f"{m.group(1)}:{MASK}@"),
    # Authorization: Bearer xyz / Basic xyz
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+"), lambda m: f"{m.group(1)}{m.group(2)}{MASK}"),
    # key=value, key: value, "key":"value" (quoted values may hold spaces)
    (re.compile(r"(?i)(?<![\w-])(" + _KEY + r")((?:\\?['\"])?\s*[=:]\s*)\"(?:[^\"\\]|\\.)*\""),
     lambda m: f'{m.group(1)}{m.group(2)}"{MASK}"'),
    # (also inside an escaped JSON string: note="{\"Token\":\"…\"}")
    (re.compile(r"(?i)(?<![\w-])(" + _KEY + r")((?:\\?['\"])?\s*[=:]\s*(?:\\?['\"])?)([^\s\"',;&}\]\\]+)"),
     lambda m: f"{m.group(1)}{m.group(2)}{MASK}"),
)


@lru_cache(maxsize=1)
def _known() -> Any:
    env_file = ".env" if os.path.isfile(".env") else None
    return Redactor.from_environment(env_file)


def redact(text: str) -> str:
    """``text`` with every secret masked (``***``): by shape, then the known secret values."""
    if not text:
        return text
    for rx, repl in _PATTERNS:
        text = rx.sub(repl, text)
    known = _known()
    return known(text) if known else text


def redact_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of an events table with every text column redacted (one pass per column)."""
    out = df.copy()
    for col in out.columns:
        if col in ("t", "t_s") or not (out[col].dtype == object or str(out[col].dtype) in ("str", "string")):
            continue
        values = out[col].to_numpy(dtype=object)
        hit = [i for i, v in enumerate(values) if isinstance(v, str) and _maybe(v)]
        if hit:
            values = values.copy()
            for i in hit:
                values[i] = redact(values[i])
            out[col] = pd.Series(values, index=out.index, dtype=out[col].dtype)
    return out


_CHEAP = re.compile(r"(?i)token|secret|passw|pwd|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential|"
                    r"bearer|basic|://")


def _maybe(text: str) -> bool:
    """A quick test before the full patterns (most lines hold no secret-ish word)."""
    return bool(_CHEAP.search(text)) or bool(_known())
