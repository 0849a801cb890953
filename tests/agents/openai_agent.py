"""An OpenAI-compatible test agent that calls client-side tools.

POST /v1/chat/completions, deterministic:
- the last message is the user's and asks for a refund: `finish_reason: tool_calls` with one
  call of `lookup_order`, arguments {"order_id": "<the number in the message>"};
- the last message is a tool result: `finish_reason: stop` with text quoting it
  ("lookup_order said: {...}. ..."), and the call's id it answered;
- anything else: `stop` with an echo of the user's message.
MODE=loop asks for `lookup_order` again after every tool result (for max_tool_rounds).
`usage` counts whitespace words; `stream: true` answers with chat.completion.chunk events
(tool calls too, their arguments in two pieces) and `data: [DONE]`. With API_KEY set, requests
need `Authorization: Bearer <API_KEY>` (else 401). Every request goes to REQUEST_LOG.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from request_log import log_requests

MODE = os.environ.get("MODE", "tools")
API_KEY = os.environ.get("API_KEY")
ORDER = re.compile(r"#?\b(\d+)\b")
_calls = itertools.count(1)


def error(status: int, message: str, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return web.json_response(body, status=status)


def words(value: Any) -> int:
    return len(value.split()) if isinstance(value, str) else 0


def decide(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant's next message and finish reason for this history."""
    last = messages[-1]
    if last.get("role") == "tool" and MODE != "loop":
        result = last.get("content")
        text = (
            f"lookup_order said: {result}. "
            f"(answering {last.get('tool_call_id')}) Your refund request is noted."
        )
        return {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    asks = str(last.get("content") or "")
    if last.get("role") == "tool" or (last.get("role") == "user" and "refund" in asks.lower()):
        asked_by = next((m for m in reversed(messages) if m.get("role") == "user"), {"content": ""})
        found = ORDER.search(str(asked_by.get("content") or ""))
        call = {
            "id": f"call_{next(_calls)}",
            "type": "function",
            "function": {
                "name": "lookup_order",
                "arguments": json.dumps({"order_id": found.group(1) if found else None}),
            },
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return {"message": message, "finish_reason": "tool_calls"}
    return {
        "message": {"role": "assistant", "content": f"echo: {asks}"},
        "finish_reason": "stop",
    }


async def completions(request: web.Request) -> web.StreamResponse:
    if API_KEY and request.headers.get("Authorization") != f"Bearer {API_KEY}":
        return error(401, "Incorrect API key provided.", "invalid_api_key")
    try:
        body = await request.json()
    except ValueError:
        return error(400, "the body is not JSON")
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages or not isinstance(body.get("model"), str):
        return error(400, "model and a non-empty messages array are required")
    request["conversation"] = body.get("user")
    choice = decide(messages)
    prompt = sum(words(m.get("content")) for m in messages if isinstance(m, dict))
    done = words(choice["message"].get("content")) + sum(
        words(c["function"]["arguments"]) for c in choice["message"].get("tool_calls", [])
    )
    usage = {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}
    head = {"id": f"chatcmpl-{next(_calls)}", "created": int(time.time()), "model": body["model"]}
    if body.get("stream") is not True:
        return web.json_response(
            {**head, "object": "chat.completion", "choices": [{"index": 0, **choice}]}
            | {"usage": usage}
        )
    return await stream(request, head, choice, usage)


async def stream(
    request: web.Request, head: dict[str, Any], choice: dict[str, Any], usage: dict[str, int]
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)

    async def send(delta: dict[str, Any], finish: str | None, **extra: Any) -> None:
        chunk = {**head, "object": "chat.completion.chunk"}
        chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
        await response.write(f"data: {json.dumps(chunk | extra)}\n\n".encode())

    message = choice["message"]
    await send({"role": "assistant", "content": ""}, None)
    for i, call in enumerate(message.get("tool_calls", [])):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        start = {"name": call["function"]["name"], "arguments": arguments[:half]}
        opening = {"index": i, "id": call["id"], "type": "function", "function": start}
        await send({"tool_calls": [opening]}, None)
        rest = {"index": i, "function": {"arguments": arguments[half:]}}
        await send({"tool_calls": [rest]}, None)
    for word in re.findall(r"\S+\s*", message.get("content") or ""):
        await send({"content": word}, None)
    await send({}, choice["finish_reason"], usage=usage)
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    app = web.Application(middlewares=[log_requests])
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)


if __name__ == "__main__":
    main()
