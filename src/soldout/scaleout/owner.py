"""The owner: the one process that runs what follows the claims, beside N workers.

With `--redis`, one process owns the PostgreSQL store (its advisory lock: a second
owner is refused while it lives) and runs the engine as one process does, except that
claims are decided in Redis by whichever worker got them (`scaleout.claims`) and every
move of units is made in Redis first (`scaleout.mirror`). The lock is the lease: expiry,
the reaper, payments and priority codes run in exactly one process, whatever the number
of workers.
`OwnerSync` keeps Redis and the owner's engine together:

- **launches**: each one's counts are put in Redis at start if Redis lacks them (with its
  claims, codes and reservations read back from the record), and every change the maker
  makes (times, pause, batch, publication, prices) is written there before it is answered;
- **claims from workers**: read from each live launch's `made` stream and adopted by the
  engine (its expiry scheduled, its pages and payment served here);
- **the reaper**: a claim taken but never confirmed (its worker died, or its write
  failed silently) is confirmed from its row once its deadline passed, or its units go
  back (`redis_pending`);
- **Redis lost**: a launch whose counts are gone from Redis (a restart without its data),
  or every launch when Redis answers as another server than before (its `run_id`: a
  restart, or a failover to a replica that may have missed writes), is rebuilt from
  PostgreSQL (`RedisAllocator.load(..., replace=True)`). Meanwhile workers answer 503
  `storage_unavailable`; a worker whose claim was taken before the loss finds it gone at
  its confirm and cancels its row, so nothing rebuilt is sold twice;
- **where it is**: the owner's address is kept in Redis for the workers that forward to
  it (`OWNER_KEY`, renewed every `BEAT` seconds, gone `3 * BEAT` after it stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.exceptions

from soldout.domain.claims import Claim
from soldout.domain.duplicates import DuplicateRule
from soldout.engine.book import LaunchBook
from soldout.engine.engine import SaleEngine
from soldout.scaleout import redis_pending, redis_scripts
from soldout.scaleout.allocators import Allocators
from soldout.scaleout.duplicates import DuplicateSets
from soldout.scaleout.mirror import MirrorAllocator, launch_keys
from soldout.scaleout.redis_allocator import Client, RedisAllocator
from soldout.scaleout.redis_values import _state_args, micros
from soldout.scaleout.terms import CHANGED, TERMS, Terms
from soldout.store.postgresql import PostgresStore

__all__ = ["BEAT", "OWNER_KEY", "RUN_KEY", "OwnerSync", "fence", "terms_of"]

log = logging.getLogger(__name__)

BEAT = 1.0  # seconds between the owner's rounds (address, reaper, rebuild check)
START_WAIT = 120.0  # seconds the owner waits at start for Redis to answer
READ_EVERY = 0.02  # seconds between reads of the workers' confirmed claims
READ_IDLE = 0.32  # seconds between reads, at most, while no claim comes
READ_COUNT = 2000  # of one launch's, at most, per read
OWNER_KEY = "owner"
RUN_KEY = "run"  # the run_id of the Redis server the counts were built on


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def fence(prefix: str) -> Callable[[Any], Awaitable[None]]:
    """A worker's connect hook (`redis_connect_func`): a connection is refused unless
    the server it reached is the one the owner built the counts on (its `run_id` is the
    one the owner wrote under `RUN_KEY`). A server restarted empty, restored from an old
    snapshot, or a replica promoted after missing writes answers with another `run_id`
    (a key restored with it holds the old one): no worker sells on it until the owner
    has rebuilt it from PostgreSQL and written its `run_id`. Checked once per connection,
    not per claim: a new server always means new connections."""

    async def connect(connection: Any) -> None:
        await connection.on_connect()
        await connection.send_command("INFO", "server")
        info = _text(await connection.read_response())
        run = next(
            (line[7:].strip() for line in info.splitlines() if line.startswith("run_id:")), ""
        )
        await connection.send_command("GET", f"{prefix}:{RUN_KEY}")
        built_on = await connection.read_response()
        if built_on is None or _text(built_on) != run:
            raise redis.exceptions.ConnectionError(
                "this Redis server's counts are not built yet (the owner rebuilds them)"
            )

    return connect


def terms_of(book: LaunchBook) -> Terms:
    launch, rules = book.launch, book.launch.rules
    cancel = rules.duplicate_rule is DuplicateRule.CANCEL
    prices = {s.code: (s.price.amount, s.price.currency) for s in book.product.skus}
    return Terms(
        public=launch.published and launch.rehearsal is None,
        alone=not (
            launch.is_draw
            or cancel
            or rules.waiting_room_rate is not None
            or rules.pow_difficulty is not None
        ),
        workers=not launch.is_draw,
        window=rules.payment_window_seconds,
        prices=prices,
        opens=launch.sale_opens_at.timestamp(),
        room=rules.waiting_room_rate is not None,
        pow=rules.pow_difficulty or 0,
        dup=rules.duplicate_limit if cancel else 0,
    )


class OwnerSync:
    def __init__(
        self,
        engine: SaleEngine,
        allocator: MirrorAllocator,
        client: Client,
        store: PostgresStore,
        *,
        prefix: str = "soldout",
        address: str | None = None,
        duplicates: DuplicateSets | None = None,
    ) -> None:
        self._engine = engine
        self._duplicates = duplicates  # the duplicate rule's sets, for the workers
        self._mirror = allocator
        self._client = client
        self._store = store
        self._prefix = prefix
        self._address = address
        self.allocator = Allocators(client, prefix)  # each launch's, by id
        self._after: dict[str, str] = {}  # live launch -> the last `made` entry read
        self._reader: asyncio.Task[None] | None = None
        self._read_lock = asyncio.Lock()  # one read of the streams at a time
        self._read_at = 0.0  # when the last read began (monotonic)
        self._beat: asyncio.Task[None] | None = None
        self._run_id: str | None = None
        self._run_key = f"{prefix}:{RUN_KEY}"
        self.rebuilt = 0  # launches rebuilt from the record (for tests and logs)
        self.reaped = 0  # pending claims the reaper settled
        sync = allocator.client
        self._init = sync.register_script(redis_scripts.INIT)
        self._update = sync.register_script(redis_scripts.UPDATE)
        engine.launch_books.watchers.append(self.push)
        engine.launch_books.reserve_watchers.append(self.reserved)

    # -- start and stop --------------------------------------------------------------------
    async def start(self) -> None:
        """After the engine loaded: every launch in Redis, the workers' claims adopted,
        the rounds started."""
        self._run_id = await self._redis_up()
        # Redis built by an owner on this very server is kept; any other (restarted,
        # restored from a snapshot, failed over) is rebuilt from the record.
        built_on = await self._client.get(self._run_key)
        same = built_on is not None and _text(built_on) == self._run_id
        for book in self._engine.books():
            await self._load(book, replace=not same)
        await self._client.set(self._run_key, self._run_id)
        loop = asyncio.get_running_loop()
        self._beat = loop.create_task(self._rounds())
        self._reader = loop.create_task(self._reading())

    async def _redis_up(self) -> str:
        """Redis's `run_id`, once it answers (it may start after the owner)."""
        deadline = time.monotonic() + START_WAIT
        while True:
            try:
                return await self._server_id()
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("waiting for Redis: %s", exc)
            await asyncio.sleep(BEAT)  # Redis is starting, or out of reach

    async def stop(self) -> None:
        tasks = [task for task in (self._reader, self._beat) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._address is not None:
            with contextlib.suppress(Exception):
                await self._let_go(f"{self._prefix}:{OWNER_KEY}")

    # -- launches ------------------------------------------------------------------------
    async def _load(self, book: LaunchBook, *, replace: bool) -> None:
        launch = book.launch
        allocator = self.allocator(launch.id)
        claims = await self._store.claims.of_launches([launch.id]) if not book.summary else []
        loaded = await allocator.load(
            launch,
            now=self._engine.now(),
            reserved=list(book.reservations),
            codes=list(book.codes.values()),
            claims=claims,
            replace=replace,
        )
        if self._duplicates is not None:
            self._duplicates.ensure(book, again=replace)  # (before the terms that name it)
        await self._client.hset(allocator.keys[0], TERMS, terms_of(book).encode())
        if loaded:
            self.rebuilt += replace
            for claim in claims:  # a row whose stream entry was lost with Redis
                self.adopt(claim)
        if not book.summary:
            self._after.setdefault(launch.id, "0")

    def push(self, book: LaunchBook) -> None:
        """A launch was added or changed (watched on `LaunchBooks`): Redis decides the next
        claims by it, before the change is answered."""
        if self._beat is None:
            return  # not started: `start` loads every launch whole
        keys = launch_keys(self._prefix, book.launch.id)
        args: list[str | int] = [*_state_args(book.launch), len(book.launch.batch)]
        for sku, batch in book.launch.batch.items():
            args += [sku, batch]
        if not self._update(keys=keys, args=args):
            init: list[str | int] = ["0", *_state_args(book.launch, log=True)]
            init.append(len(book.launch.batch))
            for sku, batch in book.launch.batch.items():
                init += [sku, batch]
            self._init(keys=keys, args=init)
            self._update(keys=keys, args=[1, "ready", "1", 0])
        if self._duplicates is not None:
            self._duplicates.ensure(book)  # (before the terms that name it)
        self._mirror.client.hset(keys[0], TERMS, terms_of(book).encode())
        self._mirror.client.publish(f"{self._prefix}:{CHANGED}", book.launch.id)
        if not book.summary:
            self._after.setdefault(book.launch.id, "0")

    def reserved(self, book: LaunchBook, fan_id: str) -> None:
        if self._beat is not None:
            self._mirror.client.sadd(launch_keys(self._prefix, book.launch.id)[3], fan_id)

    # -- the workers' claims ---------------------------------------------------------------
    def adopt(self, claim: Claim) -> None:
        """A claim a worker (or this process) made: the engine keeps it from now on."""
        ledger = self._engine.ledger
        book = self._engine.launch_books.by_id.get(claim.launch_id)
        if book is not None and not book.summary and ledger.find(claim.id) is None:
            ledger.restore(claim)

    async def _reading(self) -> None:
        """Every `READ_EVERY` seconds while claims come (less often, up to `READ_IDLE`,
        while none do), the claims confirmed since the last read of each live launch's
        `made` stream, in one pipelined round trip: one task and one connection at a
        time, however many launches. (A claim asked about before it is read is adopted
        from the store: `Archive.claim`; every request catches up first: `catch_up`.)"""
        pause = READ_EVERY
        while True:
            try:
                async with self._read_lock:
                    read = await self._read_round()
                pause = READ_EVERY if read else min(pause * 2, READ_IDLE)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reading the workers' claims from Redis: %s", exc)
                await asyncio.sleep(BEAT)  # Redis out of reach: the rounds rebuild it
                continue
            await asyncio.sleep(pause)

    async def catch_up(self) -> None:
        """Adopt every claim confirmed before this call (one read, shared by the calls
        that wait for the same one). Redis out of reach: nothing to wait for."""
        asked = time.monotonic()
        async with self._read_lock:
            if self._read_at >= asked:
                return  # a read that began after this call was made has just ended
            with contextlib.suppress(Exception):
                await self._read_round()

    async def _read_round(self) -> int:
        """Adopts what was confirmed since the last read; how many launches had some."""
        self._read_at = time.monotonic()
        launches = list(self._after)
        if not launches:
            return 0
        async with self._client.pipeline(transaction=False) as pipe:
            for launch_id in launches:
                key = self.allocator(launch_id).keys[8]
                pipe.xread({key: self._after[launch_id]}, count=READ_COUNT)
            replies = await pipe.execute()
        read = []
        for launch_id, reply in zip(launches, replies, strict=True):
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    self._after[launch_id] = _text(entry_id)
                    raw = fields.get(b"c") if b"c" in fields else fields.get("c")
                    self.adopt(redis_pending.claim_from_json(raw))
                read.append(launch_id)
        if read:  # what is adopted is on record: the stream keeps only what is not yet
            async with self._client.pipeline(transaction=False) as pipe:
                for launch_id in read:
                    pipe.xtrim(self.allocator(launch_id).keys[8], minid=self._after[launch_id])
                await pipe.execute()
        return len(read)

    # -- the rounds ------------------------------------------------------------------------
    async def _rounds(self) -> None:
        while True:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("owner round: %s", exc)
            await asyncio.sleep(BEAT)

    async def _round(self) -> None:
        """Advertise this owner (while its store writes), rebuild what Redis misses, reap
        the claims whose rows never came. Each launch's two reads go in one pipelined
        round trip for all launches: a round stays short however many launches there
        are, so the address (`OWNER_KEY`, kept `3 * BEAT`) never lapses while it lives."""
        await self._advertise()
        server = await self._server_id()
        moved = server != self._run_id
        if moved:
            log.warning("Redis answers as another server (%s): rebuilding from the record", server)
        self._run_id = server
        if self._duplicates is not None:
            if moved:
                self._duplicates.forget()  # written again as each launch is loaded
            self._duplicates.retry()
        stale, self._mirror.stale = self._mirror.stale, set()
        books = list(self._engine.books())
        now = micros(self._engine.now())
        async with self._client.pipeline(transaction=False) as pipe:
            for book in books:
                keys = self.allocator(book.launch.id).keys
                pipe.hget(keys[0], "ready")
                pipe.zrangebyscore(keys[7], "-inf", now, start=0, num=200)
            replies = await pipe.execute() if books else []
        for i, book in enumerate(books):
            ready, due = replies[2 * i], replies[2 * i + 1]
            if moved or ready is None or book.launch.id in stale:
                await self._load(book, replace=True)
            elif due and not book.summary:
                await self._reap(self.allocator(book.launch.id))
        # workers connect only to a server whose counts were built here (`fence`)
        await self._client.set(self._run_key, server)
        await self._advertise()

    async def _advertise(self) -> None:
        """Where workers forward: this owner's address, renewed every round, unless its
        store stopped writing (its database session was cut: a standby may own the store
        now, and a worker must not be sent here)."""
        if self._address is None:
            return
        key = f"{self._prefix}:{OWNER_KEY}"
        if self._store.writer.failed is None:
            await self._client.set(key, self._address, px=int(3 * BEAT * 1000))
        else:
            await self._let_go(key)

    async def _let_go(self, key: str) -> None:
        """Remove the address only if it is this owner's (a standby may have written its
        own)."""
        if _text(await self._client.get(key)) == self._address:
            await self._client.delete(key)

    async def _reap(self, allocator: RedisAllocator) -> None:
        for claim_id in await redis_pending.due(allocator, self._engine.now()):
            row = await self._store.claims.get(claim_id)
            if row is not None:
                await redis_pending.confirm(allocator, row)
            else:
                await allocator.untake(claim_id)
            self.reaped += 1
            log.warning("claim %s reaped: %s", claim_id, "confirmed" if row else "given back")

    async def _server_id(self) -> str:
        info = await self._client.info("server")
        if isinstance(info, dict) and "run_id" in info:
            return str(info["run_id"])
        # a Cluster answers per node: the set of its nodes' ids
        ids = sorted(str(v.get("run_id")) for v in info.values() if isinstance(v, dict))
        return ",".join(ids)
