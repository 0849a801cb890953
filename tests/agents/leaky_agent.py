"""A real HTTP agent that leaks every secret it knows into its replies and its log: its
secret-named and plain environment variables, the credentials in its database URL, and the
secret headers it receives. The harness must write none of them to a run folder."""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit

from aiohttp import web

KNOWN = ("API_TOKEN", "PLAIN_VALUE", "MARKED_VALUE", "DATABASE_URL")


def leaks(request: web.Request) -> dict[str, str]:
    out = {name: os.environ.get(name, "") for name in KNOWN}
    out["db_password"] = urlsplit(os.environ.get("DATABASE_URL", "")).password or ""
    for header in ("Authorization", "X-Api-Key"):
        out[header] = request.headers.get(header, "")
    return out


async def chat(request: web.Request) -> web.Response:
    data = await request.json()
    secrets = leaks(request)
    # plain, URL-encoded, and inside JSON (the reply itself is JSON, so quotes get escaped)
    text = " ".join(f"{k}={v} url={quote(v, safe='')}" for k, v in secrets.items())
    print(f"turn {data.get('message')!r}: {text}", flush=True)
    return web.json_response({"reply": f"refund issued; {text}", "debug": secrets})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    print("starting with " + " ".join(f"{k}={os.environ.get(k)}" for k in KNOWN), flush=True)
    app = web.Application()
    app.router.add_post("/chat", chat)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)


if __name__ == "__main__":
    main()
