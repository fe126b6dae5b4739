"""What the owner publishes of each launch for the workers (`Terms`, in the launch's state
hash under `TERMS`, changes named on the `CHANGED` channel), and what a worker's gate
checks a claim against (`Gated`)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

__all__ = ["CHANGED", "TERMS", "Gated", "Terms"]

CHANGED = "launches"  # the channel the owner names a changed launch on
TERMS = "terms"  # the field of the launch's state hash the owner writes them to


@dataclass(frozen=True, slots=True)
class Terms:
    """What the owner publishes of a launch for workers: whether a worker may sell it
    alone (a draw or a rehearsal's launch is sold by the owner, which has what those
    need), the gate a worker checks itself (the waiting room's admission, proof of work,
    the duplicate rule `cancel` from the owner's sets), the payment window, the prices."""

    public: bool  # published and not a rehearsal's
    alone: bool  # no gate at all (what workers before the gate's checks sell alone)
    window: int  # seconds
    prices: dict[str, tuple[int, str]]  # sku -> (minor units, currency)
    opens: float  # the sale's opening, unix seconds (a `not_open` is kept no later)
    room: bool = False  # a waiting room: a claim carries its admission
    pow: int = 0  # proof of work's difficulty in bits (0: none)
    dup: int = 0  # the duplicate rule `cancel`'s limit (0: not that rule)
    # a worker that checks the gate itself may sell it (not a draw's); a separate field,
    # so that a worker of an older release, reading `alone`, keeps forwarding gated claims
    # while a rolling upgrade runs
    workers: bool = True

    @property
    def gated(self) -> bool:
        return self.room or self.pow > 0

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "public": self.public,
                "alone": self.alone,
                "window": self.window,
                "prices": self.prices,
                "opens": self.opens,
                "room": self.room,
                "pow": self.pow,
                "dup": self.dup,
                "workers": self.workers,
            }
        )

    @staticmethod
    def decode(raw: bytes | str) -> Terms:
        v = orjson.loads(raw)
        prices = {sku: (int(p[0]), str(p[1])) for sku, p in v["prices"].items()}
        return Terms(
            bool(v["public"]),
            bool(v["alone"]),
            int(v["window"]),
            prices,
            v["opens"],
            bool(v.get("room", False)),
            int(v.get("pow", 0)),
            int(v.get("dup", 0)),
            bool(v.get("workers", v["alone"])),
        )


@dataclass(frozen=True, slots=True)
class Gated:
    """What a worker's gate checks a claim against (`worker.WorkerGate.check`)."""

    launch_id: str
    terms: Terms
