"""One redaction function for everything the kit writes: text output, ``--events`` CSV,
``events.jsonl`` and the logs of run folders, figure labels and HTML reports.

:func:`redact` masks secrets by their *shape*, whoever wrote them:

- ``token=…``, ``password: …``, ``secret=…``, ``api_key=…`` and the like, in logfmt, YAML or JSON
  (``"Token":"…"``), short values as well as long ones;
- ``Authorization: Bearer …`` / ``Basic …``;
- credentials in URLs, ``scheme://user:pass@host``;

and, on top, every secret *value* the environment or ``.env`` names
(:class:`repro_lib.compose.redact.Redactor`: bootstrap token, API keys), wherever it appears.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any

import pandas as pd

__all__ = ["redact", "redact_frame", "MASK"]

MASK = "***"
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
    from repro_lib.compose.redact import Redactor

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
