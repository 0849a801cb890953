"""An echo agent over https: POST /chat {"message"} -> {"reply": "you said: ..."}, with the
certificate and key in the files CERT and KEY, on PORT; GET /health over plain http on
HEALTH_PORT (so a harness that does not trust the certificate still sees it start)."""

from __future__ import annotations

import asyncio
import os
import ssl

from aiohttp import web


async def chat(request: web.Request) -> web.Response:
    data = await request.json()
    return web.json_response({"reply": f"you said: {data['message']}"})


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def serve() -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(os.environ["CERT"], os.environ["KEY"])
    app = web.Application()
    app.router.add_post("/chat", chat)
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(os.environ["PORT"]), ssl_context=context).start()
    await web.TCPSite(runner, "127.0.0.1", int(os.environ["HEALTH_PORT"])).start()
    await asyncio.Event().wait()


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
