"""Keep secrets out of everything the kit prints or writes: captured logs, Docker events, CLI
output saved in run folders, error messages and progress lines.

A :class:`Redactor` knows the secret *values* (bootstrap token, API keys — read from the
environment and ``.env``) and replaces each occurrence with ``***``. Values shorter than 4
characters are ignored (they would redact ordinary text)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["Redactor", "SECRET_KEYS", "MASK", "read_env_file", "secrets_from"]

MASK = "***"
#: variables whose values are secrets wherever they come from
SECRET_KEYS = ("EXPANSO_EDGE_BOOTSTRAP_TOKEN", "EXPANSO_BOOTSTRAP_TOKEN", "EXPANSO_CLI_AUTH_API_KEY",
               "EXPANSO_API_KEY", "EXPANSO_TOKEN")
_SECRETISH = re.compile(r"(TOKEN|API_KEY|SECRET|PASSWORD)$", re.IGNORECASE)


def read_env_file(path: str | Path) -> dict[str, str]:
    """A ``.env`` file as compose reads it: ``KEY=VALUE`` lines, ``#`` comments, optional quotes."""
    out: dict[str, str] = {}
    p = Path(path)
    if not p.is_file():
        return out
    for line in p.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
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
        return self(data.decode("utf-8", errors="replace")).encode()

    def __bool__(self) -> bool:
        return bool(self.secrets)
