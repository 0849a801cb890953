"""The demo refund desk reached through its conversation API or its OpenAI-compatible endpoint,
as a python-adapter callable `send(message, session_id)`, so the harness as it is today can
play the demo suite through those doors (tests/quality/test_demo_doors.py).

DEMO_DOOR: conversation (POST /conversations under the session id, then each message streamed
as SSE and joined) | openai (the whole history each turn, `user` = the session id, streamed).
DEMO_URL: the agent's base URL.
"""

from __future__ import annotations

import json
import os
from typing import Any

import aiohttp

_opened: set[str] = set()
_history: dict[str, list[dict[str, Any]]] = {}


def _data(text: str) -> list[str]:
    """An SSE body's `data:` payloads; the last must be [DONE], or the stream was cut."""
    data = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    if not data or data[-1] != "[DONE]":
        raise ValueError(f"the stream did not end with [DONE]: {text[-200:]!r}")
    return data[:-1]


async def _conversation(http: aiohttp.ClientSession, base: str, message: str, sid: str) -> str:
    if sid not in _opened:
        async with http.post(base + "/conversations", json={"conversation_id": sid}) as r:
            if r.status != 201:
                raise RuntimeError(f"POST /conversations answered {r.status}: {await r.text()}")
        _opened.add(sid)
    url = f"{base}/conversations/{sid}/messages?stream=sse"
    async with http.post(url, json={"message": message}) as r:
        if r.status != 200:
            raise RuntimeError(f"{url} answered {r.status}: {await r.text()}")
        events = [json.loads(d) for d in _data(await r.text())]
    joined = "".join(e["delta"] for e in events)
    if joined != events[-1]["reply"]:
        raise ValueError(f"the deltas {joined!r} are not the reply {events[-1]['reply']!r}")
    return joined


async def _openai(http: aiohttp.ClientSession, base: str, message: str, sid: str) -> str:
    history = _history.setdefault(sid, [{"role": "system", "content": "You are the desk."}])
    history.append({"role": "user", "content": message})
    body = {"model": "refund-desk-1", "messages": history, "stream": True, "user": sid}
    async with http.post(base + "/v1/chat/completions", json=body) as r:
        if r.status != 200:
            raise RuntimeError(f"/v1/chat/completions answered {r.status}: {await r.text()}")
        chunks = [json.loads(d) for d in _data(await r.text())]
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    history.append({"role": "assistant", "content": content})
    return content


async def send(message: str, session_id: str) -> str:
    door, base = os.environ["DEMO_DOOR"], os.environ["DEMO_URL"]
    async with aiohttp.ClientSession() as http:
        if door == "conversation":
            return await _conversation(http, base, message, session_id)
        return await _openai(http, base, message, session_id)
