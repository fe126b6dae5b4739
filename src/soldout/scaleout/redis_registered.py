"""The scripts of `redis_scripts`, registered on a client (a SHA1 each, sent as EVALSHA;
nothing is sent until the first call)."""

from __future__ import annotations

from typing import Any

from soldout.scaleout import redis_scripts

__all__ = ["RedisScripts"]


class RedisScripts:
    """The scripts, registered once per client (a SHA1 each; nothing is sent until the
    first call). Share one between the `RedisAllocator`s of a client."""

    def __init__(self, client: Any) -> None:
        self.take = client.register_script(redis_scripts.TAKE)
        self.move = client.register_script(redis_scripts.MOVE)
        self.set_aside = client.register_script(redis_scripts.SET_ASIDE)
        self.codes = client.register_script(redis_scripts.CODES)
        self.restore_claims = client.register_script(redis_scripts.RESTORE_CLAIMS)
        self.init = client.register_script(redis_scripts.INIT)
        self.update = client.register_script(redis_scripts.UPDATE)
