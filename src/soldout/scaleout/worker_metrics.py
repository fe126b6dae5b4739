"""The workers' claims in the owner's `/metrics`.

Each worker counts its claims on its hot path as one process does (`metrics.ClaimMeter`:
answers by code, the decided ones timed) and adds what it counted since its last push to
one Redis hash every `worker.REFRESH` seconds (`HINCRBY`, in one pipeline). The owner
reads the hash before each scrape and serves the sums as `soldout_worker_claims{code}`
and `soldout_worker_claim_duration_seconds`, beside its own `soldout_claims`. The sums
are counters: a worker started again adds to them; Redis started empty resets them (a
counter reset, as Prometheus reads one).

    push = ClaimsPush(meter, client, prefix)      # a worker: await push() every round
    sums = WorkerClaims(client, prefix)           # the owner: a collector and a refresher
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client.metrics_core import Metric

from soldout.metrics import ClaimMeter
from soldout.scaleout.redis_allocator import Client

__all__ = ["KEY", "ClaimsPush", "WorkerClaims"]

log = logging.getLogger(__name__)

KEY = "metrics:claims"  # the hash, after the deployment's prefix
NS = "ns"  # its field of the decided claims' summed time; `c:CODE` and `b:BUCKET` the others


class ClaimsPush:
    """A worker's counts, added to the shared hash (see the module)."""

    def __init__(self, meter: ClaimMeter, client: Client, prefix: str) -> None:
        self._meter = meter
        self._client = client
        self._key = f"{prefix}:{KEY}"
        self._codes: dict[str, int] = {}
        self._buckets = [0] * len(meter.buckets)
        self._ns = 0

    async def __call__(self) -> None:
        """Adds what was counted since the last push that went through (nothing is lost
        when Redis is out of reach: it is added at the next push that succeeds)."""
        meter = self._meter
        codes = dict(meter.codes)
        buckets = list(meter.buckets)
        ns = meter.ns
        fields: dict[str, int] = {}
        for code, count in codes.items():
            if count != self._codes.get(code, 0):
                fields[f"c:{code}"] = count - self._codes.get(code, 0)
        for i, count in enumerate(buckets):
            if count != self._buckets[i]:
                fields[f"b:{i}"] = count - self._buckets[i]
        if ns != self._ns:
            fields[NS] = ns - self._ns
        if not fields:
            return
        async with self._client.pipeline(transaction=True) as pipe:  # all or nothing
            for name, delta in fields.items():
                pipe.hincrby(self._key, name, delta)
            await pipe.execute()
        self._codes, self._buckets, self._ns = codes, buckets, ns


class WorkerClaims:
    """The owner's view of every worker's counts: `refresh` (awaited before a scrape)
    reads the hash, `collect` serves it (a Prometheus collector)."""

    def __init__(self, client: Client, prefix: str) -> None:
        self._client = client
        self._key = f"{prefix}:{KEY}"
        self._sums = ClaimMeter("soldout_worker_claims")

    async def refresh(self) -> None:
        """Reads the sums (kept as last read while Redis is out of reach: a scrape still
        answers, and says so in the log)."""
        try:
            raw = await self._client.hgetall(self._key)
        except Exception as exc:
            log.warning("the workers' claim counts cannot be read: %s", exc)
            return
        sums = ClaimMeter("soldout_worker_claims")
        for name, value in raw.items():
            field = name.decode() if isinstance(name, bytes) else str(name)
            count = int(value)
            if field == NS:
                sums.ns = count
            elif field.startswith("c:"):
                sums.codes[field[2:]] = count
            elif field.startswith("b:") and field[2:].isdigit() and int(field[2:]) < 64:
                sums.buckets[int(field[2:])] = count
        self._sums = sums

    def collect(self) -> Iterable[Metric]:
        return self._sums.collect()
