"""The duplicate-buyer rule `cancel` on workers: the fans it flags, kept in Redis by the
owner.

Whether a fan is one of too many accounts behind one address or phone needs every fan's
contacts (`services.gate`'s `DuplicateIndex`), which only the owner holds. So the owner
writes, for each limit a live launch's `cancel` rule uses, the set of fans that limit
flags (`dup:LIMIT`, after the deployment's prefix): whole when a launch first needs it
(and again whenever a launch using it is rebuilt), then as fans join (a new account can
only flag its group) and change their address (the limit's set is written again). A
worker refuses a flagged fan's claim with `duplicate_buyer`, as one process does
(`ScaleOutClaims`), one `SMISMEMBER` per claim of such a launch; a set without its
`WRITTEN` member (not written yet, or lost with Redis) is not trusted: the claim is
forwarded to the owner, which decides it from its own index.

Each write is made before the change that caused it is answered (a fan's sign-up, an
address saved): a flagged fan's next claim is refused on every worker. Redis out of
reach: the write is logged, and the set is written whole again at the owner's next round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from soldout.domain.duplicates import DuplicateRule
from soldout.domain.fans import Fan
from soldout.engine.book import LaunchBook
from soldout.scaleout.mirror import SyncClient
from soldout.services.gate import Gate

__all__ = ["WRITTEN", "DuplicateSets", "duplicates_key"]

log = logging.getLogger(__name__)


WRITTEN = "~written"  # a member of every set the owner wrote whole (no fan id has a "~")


def duplicates_key(prefix: str, limit: int) -> str:
    return f"{prefix}:dup:{limit}"


class DuplicateSets:
    """The owner's side (see the module): `ensure` a launch's set, `joined` and `moved`
    as fans sign up and change their contacts, `forget` when Redis was rebuilt."""

    def __init__(self, gate: Gate, client: SyncClient, prefix: str) -> None:
        self._gate = gate
        self._client = client
        self._prefix = prefix
        self._written: set[int] = set()  # the limits whose sets are in Redis
        self._failed: set[int] = set()  # the limits whose last write failed

    def ensure(self, book: LaunchBook, *, again: bool = False) -> None:
        """The set the launch's rule reads is in Redis (written whole if not yet, or
        `again`: the launch is being rebuilt, and the set may have gone with Redis)."""
        rules = book.launch.rules
        if rules.duplicate_rule is not DuplicateRule.CANCEL or book.launch.rehearsal:
            return
        if again or rules.duplicate_limit not in self._written:
            self._write_whole(rules.duplicate_limit)

    def retry(self) -> None:
        """Each owner round: the sets whose last write failed are written whole again."""
        for limit in list(self._failed):
            self._write_whole(limit)

    def forget(self) -> None:
        """Redis was rebuilt (or may have lost the sets): each is written again when a
        launch is loaded."""
        self._written.clear()

    def joined(self, fan: Fan) -> None:
        """A new account: it may complete a group (only ever flagging more fans)."""
        if fan.rehearsal or not (fan.address or fan.phone):
            return
        for limit in list(self._written):
            index = self._gate.duplicates(limit)
            if index.flagged(fan.id):  # (only the flagged: a group by phone may not be)
                group = sorted(f for f in index.group_of(fan.id) if index.flagged(f))
                self._run(limit, self._adding(group))

    def _adding(self, fans: list[str]) -> Callable[[str], object]:
        return lambda key: self._client.sadd(key, *fans)

    def moved(self, fan: Fan) -> None:
        """A fan's address or phone changed: groups may have split as well as grown."""
        if fan.rehearsal:
            return
        for limit in list(self._written):
            self._write_whole(limit)

    def _write_whole(self, limit: int) -> None:
        flagged = self._gate.duplicates(limit).every_flagged()

        def write(key: str) -> None:
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(key)
            pipe.sadd(key, WRITTEN, *sorted(flagged))
            pipe.execute()

        if self._run(limit, write):
            self._written.add(limit)

    def _run(self, limit: int, write: Callable[[str], object]) -> bool:
        key = duplicates_key(self._prefix, limit)
        try:
            write(key)
        except Exception as exc:
            log.error("the duplicate buyers of limit %s could not be written: %s", limit, exc)
            self._written.discard(limit)
            self._failed.add(limit)  # written whole at the next round (`retry`)
            return False
        self._failed.discard(limit)
        return True
