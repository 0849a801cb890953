"""Secrets out of every log line, report and run folder: known secrets in every form they
can take on the way (plain, JSON-escaped, URL-encoded), and common credential shapes.

The process keeps one `redact`; whatever learns a secret (a dependency's password, an
agent's secret-named variable, a header with a secret-like name, a value the suite marks
secret) adds it there, and the run log masks every byte it writes through it.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

import orjson

MASK = "***"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # credentials inside URLs: scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]*:)[^@\s/]+@", re.I), rf"\g<1>{MASK}@"),
    # key=value and key: value forms
    (
        re.compile(
            r"(?i)\b(password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)"
            r"(\"?\s*[:=]\s*\"?)([^\s\"',;&]+)"
        ),
        rf"\g<1>\g<2>{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\g<1> {MASK}"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), MASK),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), MASK),
]
#: what every pattern above starts with, on lower-cased bytes: a text holding none of these
#: needs no pattern at all. Each regex starts with a literal (which `re` finds with its fast
#: substring search): ~2.5x faster than one alternation; the words that share a first letter
#: or an ending share a regex, one pass over the text fewer each (`api[_-]?key`,
#: `access[_-]?key` and `private[_-]?key` are a `key` that one of them ends). A URL counts
#: only with credentials in it (user:password@): URLs are in every conversation's calls.
_KEYS = "|".join(
    f"(?<={word}{sep}key)" for word in ("api", "access", "private") for sep in ("", "_", "-")
)
_TRIGGERS = tuple(
    re.compile(p)
    for p in (
        rb"://[^/\s\"@]*@",
        rb"passw",
        rb"s(?:ecret|k-)",
        rb"token",
        rb"key(?:" + _KEYS.encode() + rb")",
        rb"b(?:earer|asic)",
        rb"akia",
        rb"gh[pousr]_",
    )
)


def _may_hold_credentials(data: bytes) -> bool:
    low = data.lower()
    for trigger in _TRIGGERS:  # noqa: SIM110 - a plain loop: a generator costs what it saves
        if trigger.search(low) is not None:
            return True
    return False


#: names of variables and headers whose values are secrets (API_TOKEN, DB_PASSWORD,
#: X-Api-Key, Authorization, Cookie ...)
SECRET_NAME = re.compile(
    r"(?i)(passw|secret|token|api[_-]?key|private[_-]?key|credential|auth(?!or(?!i[sz]))|cookie"
    r"|session[_-]?key)"
)  # AUTH_TOKEN, Authorization, X-Auth; never GIT_AUTHOR_NAME or AUTHORITY
MIN_SECRET = 4  # shorter values would mask ordinary words
SWITCHES = frozenset({"true", "false", "null", "none"})  # never a secret-named value's secret


@functools.lru_cache(maxsize=1024)
def secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def forms(secret: str) -> set[str]:
    """Every form a secret takes on its way into a record: as is, inside a JSON string (as
    orjson writes it, and with non-ASCII escaped as Python's json and many others write it),
    URL-encoded (path and query forms)."""
    out = {
        secret,
        orjson.dumps(secret).decode()[1:-1],
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
    }
    return {f for f in out if len(f) >= MIN_SECRET}


class Redactor:
    """Masks the secrets it was told about, and anything shaped like a credential."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self._bytes: list[bytes] = []
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < MIN_SECRET:
            return
        new = forms(secret) - set(self._secrets)
        if new:
            self._secrets = sorted({*self._secrets, *new}, key=len, reverse=True)
            # as bytes of a JSON document: each form as is, and inside a JSON string (a reply
            # that quotes the secret JSON-escaped is escaped once more when it is stored)
            found = {f.encode() for f in self._secrets}
            found |= {orjson.dumps(f)[1:-1] for f in self._secrets}
            self._bytes = sorted(found, key=len, reverse=True)

    def add_named(self, values: Mapping[str, str]) -> None:
        """The values of every secret-named variable or header among `values`; a switch such
        variables hold (AUTH_ENABLED=true) is no secret, and masking it would rewrite every
        `true` of the evidence."""
        for name, value in values.items():
            if secret_name(name) and value.strip().lower() not in SWITCHES:
                self.add(value)

    def add_environment(self) -> None:
        """Every value of a secret-named variable in the harness's own environment."""
        self.add_named(os.environ)

    @property
    def known(self) -> int:
        return len(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if _may_hold_credentials(text.encode("utf-8", errors="replace")):
            for pattern, repl in _PATTERNS:
                text = pattern.sub(repl, text)
        return text

    def _suspect(self, data: bytes, strings: bytes | None = None) -> bool:
        if self._bytes and any(secret in data for secret in self._bytes):
            return True
        return _may_hold_credentials(data if strings is None else strings)

    def text(self, data: bytes) -> bytes:
        """A text file's bytes (a log), masked; the fast path when it holds nothing to mask."""
        if not self._suspect(data):
            return data
        return self(data.decode("utf-8", errors="replace")).encode()

    def json(self, data: bytes, option: int = 0, strings: bytes | None = None) -> bytes:
        """Serialized JSON, masked string by string (keys too) and written again, so it stays
        valid JSON whatever the mask replaces; the fast path when it holds nothing to mask.

        `strings`: the same document's strings serialized without the keys its writer knows
        hold no credential shape (the run log's records: `core.types.strings_of`). No shape
        can reach across a string's quotes, so looking for them there gives the same answer
        on half the bytes; the known secrets are looked for in `data` itself."""
        if not self._suspect(data, strings):
            return data
        return orjson.dumps(self.data(orjson.loads(data)), option=option)

    def data(self, value: Any) -> Any:
        """JSON data with every string masked, and the text value of a secret-named key
        (`"access_token": "..."` in an agent's JSON reply) masked whole."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {
                self(str(k)): MASK
                if isinstance(v, str) and len(v) >= MIN_SECRET and secret_name(str(k))
                else self.data(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value


redact = Redactor()
