"""Each launch's `RedisAllocator` of one Redis client, made when first asked for, all
sharing the client's registered scripts."""

from __future__ import annotations

from soldout.scaleout.redis_allocator import Client, RedisAllocator
from soldout.scaleout.redis_registered import RedisScripts
from soldout.scaleout.redis_values import FanRate

__all__ = ["Allocators"]


class Allocators:
    """One `RedisAllocator` per launch of a client, made when first asked for, all
    sharing the client's registered scripts: `allocators("lch_1").take(...)`."""

    def __init__(
        self,
        client: Client,
        prefix: str = "soldout",
        rate: FanRate | None = None,
        address_rate: FanRate | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._rate = rate
        self._address_rate = address_rate
        self._scripts = RedisScripts(client)
        self._made: dict[str, RedisAllocator] = {}

    def __call__(self, launch_id: str) -> RedisAllocator:
        found = self._made.get(launch_id)
        if found is None:
            found = self._made[launch_id] = RedisAllocator(
                self._client,
                launch_id,
                prefix=self._prefix,
                scripts=self._scripts,
                rate=self._rate,
                address_rate=self._address_rate,
            )
        return found
