"""Secrets out of every log line and report: known passwords and common credential shapes."""

from __future__ import annotations

import re
from collections.abc import Iterable

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


#: names of environment variables whose values are secrets (API_TOKEN, DB_PASSWORD, ...)
SECRET_NAME = re.compile(r"(?i)(passw|secret|token|api_?key|private_?key|credential)")


class Redactor:
    """Masks the secrets it was told about, and anything shaped like a credential."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text


redact = Redactor()
