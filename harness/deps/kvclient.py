"""The harness's own connection to Redis: setup keys, state checks (PostgreSQL's are in
clients.py: each client library is imported only by a suite that has that kind)."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from harness.deps.base import Endpoint


class Redis:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.client = aioredis.Redis.from_url(endpoint.url, decode_responses=True)

    async def open(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()

    async def exists(self, key: str) -> bool:
        return bool(await self.client.exists(key))

    async def get(self, key: str) -> str | None:
        value = await self.client.get(key)
        return None if value is None else str(value)

    async def hgetall(self, key: str) -> dict[str, str]:
        raw = await self.client.hgetall(key)
        return {str(k): str(v) for k, v in raw.items()}

    async def ttl(self, key: str) -> int:
        return int(await self.client.ttl(key))

    async def setup(
        self, key: str, value: str | None, hash_: dict[str, str] | None, ttl: int | None
    ) -> None:
        if value is not None:
            await self.client.set(key, value)
        if hash_:
            mapping: Any = hash_  # redis-py's Mapping type is invariant in its key type
            await self.client.hset(key, mapping=mapping)
        if ttl is not None:
            await self.client.expire(key, ttl)
