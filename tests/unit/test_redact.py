"""The mask (harness/redact.py): secrets in every form they take, credential shapes, and a
serialized record that stays valid JSON whatever is masked in it."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import orjson
import pytest

from harness.redact import MASK, Redactor, secret_name

HOSTILE_TEXTS = [
    'Your reset token: "A1B2C3" expires soon',
    'X-Api-Key="k-123456789"',
    'never prints a line like token: "abc"',
    'secret: "',
    "password=hunter22&next=1",
    'api_key: \\"escaped\\" and a trailing backslash token=abc\\',
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_a_masked_record_is_still_the_same_json_with_the_credential_gone(text: str) -> None:
    record = {"reply": text, "nested": [{"text": text}], text: 1}
    raw = orjson.dumps(record)
    masked = Redactor().json(raw)
    back = orjson.loads(masked)  # valid JSON: the mask never eats an escape
    assert set(back) == {"reply", "nested", Redactor()(text)}
    assert back["reply"] == Redactor()(text) == back["nested"][0]["text"]


def test_a_secret_is_masked_in_every_form_it_takes_in_a_record() -> None:
    secret = 'c\u00e4n"ary/\u03baey+1 &x'
    r = Redactor([secret])
    quoted_by_python = json.dumps(secret)  # non-ASCII escaped as \\u00e4
    quoted_by_orjson = orjson.dumps(secret).decode()
    replies = [
        f"plain {secret} here",
        f"the agent quoted it: {quoted_by_python}",
        f"and so: {quoted_by_orjson}",
        f"in a URL: https://x/?k={quote_plus(secret)}&p={quote(secret, safe='')}",
    ]
    stored = r.json(orjson.dumps({"turns": [{"reply": t} for t in replies]}))
    text = stored.decode()
    assert "c\\u00e4n" not in text and "\u00e4n" not in text and "ary/" not in text
    assert [t["reply"].count(MASK) for t in orjson.loads(stored)["turns"]] == [1, 1, 1, 2]


def test_an_ascii_secret_quoted_json_escaped_by_the_agent_is_masked_in_the_record() -> None:
    secret = 'ab"c\\d/e+f&g h'
    r = Redactor([secret])
    reply = "PARTNER_API_KEY -> " + json.dumps(secret)
    stored = r.json(orjson.dumps({"reply": reply}))
    assert orjson.loads(stored)["reply"] == f'PARTNER_API_KEY -> "{MASK}"'


def test_nothing_to_mask_is_the_same_bytes() -> None:
    raw = orjson.dumps({"reply": "Refund of 12.50 EUR issued", "n": 3})
    assert Redactor(["s3cr3t-value"]).json(raw) is raw


def test_log_text_is_masked_as_text() -> None:
    log = b"connecting with password=hunter22\nplain line\n"
    assert Redactor().text(log) == f"connecting with password={MASK}\nplain line\n".encode()


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("AUTH_TOKEN", True),
        ("Authorization", True),
        ("X-Auth", True),
        ("OAUTH_CLIENT", True),
        ("GIT_AUTHOR_NAME", False),
        ("AUTHORITY", False),
        ("DB_PASSWORD", True),
        ("X-Shop-Token", True),
        ("CUSTOMER_NAME", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert secret_name(name) is secret


def test_a_secret_named_field_of_an_agents_json_is_masked_whole() -> None:
    reply = {"reply": "logged in", "data": {"access_token": "eyJhbGciOi.x.y", "tokens": 3}}
    stored = orjson.loads(Redactor().json(orjson.dumps(reply)))
    assert stored == {"reply": "logged in", "data": {"access_token": MASK, "tokens": 3}}


def test_the_shared_trigger_regexes_answer_as_one_regex_per_word_would() -> None:
    """`_may_hold_credentials` runs 8 regexes (words sharing a first letter or an ending share
    one); it says yes exactly where the 12 words' own regexes find one."""
    import random
    import re

    from harness.redact import _may_hold_credentials

    words = [
        rb"://[^/\s\"@]*@", rb"passw", rb"secret", rb"token", rb"api[_-]?key",
        rb"access[_-]?key", rb"private[_-]?key", rb"bearer", rb"basic", rb"sk-", rb"akia",
        rb"gh[pousr]_",
    ]  # fmt: skip
    one_each = [re.compile(w) for w in words]
    pieces = [
        "api", "apikey", "api_key", "api-key", "api key", "ACCESS", "access_key", "accesskey",
        "access-key", "private", "private_key", "privatekey", "key", "secret", "secre", "sk-",
        "sk", "bearer", "basic", "bas", "token", "tok", "passw", "akia", "ghp_", "gh_", "ghx_",
        "http://a:b@c", "http://a/b@c", "://@", " ", "_", "-", '"', "@", "s", "b", "x",
    ]  # fmt: skip
    rng = random.Random(1)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 4))).encode()
        expected = any(r.search(text.lower()) for r in one_each)
        assert _may_hold_credentials(text) is expected, text


def test_a_switch_in_a_secret_named_variable_is_not_a_secret() -> None:
    # AUTH_ENABLED=true must not turn every `true` of the evidence into ***; a real value
    # of such a variable still is one, in every form
    mask = Redactor()
    mask.add_named({"AUTH_ENABLED": "true", "COOKIE_SECURE": "False", "SESSION_TOKEN": "null",
                    "API_TOKEN": "tok-3141592653", "GIT_AUTHOR_NAME": "Zoë"})  # fmt: skip
    record = orjson.dumps({"verified": True, "state": "true", "note": None, "t": "tok-3141592653"})
    masked = orjson.loads(mask.json(record))
    assert masked == {"verified": True, "state": "true", "note": None, "t": "***"}
    assert mask.known > 0 and "Zoë" not in mask._secrets
