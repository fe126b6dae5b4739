"""The team, sessions, tokens and throttles as services, on the in-memory store with a
fake clock (the HTTP side: tests/integration/test_admin_team.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest

from soldout.api.proxies import TrustedProxies
from soldout.clock import FakeClock
from soldout.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthorized,
)
from soldout.domain.sessions import SessionKind
from soldout.domain.team import BOOTSTRAP, Admin, Role
from soldout.services import Platform
from soldout.services.passwords import FAST_FOR_TESTS, Passwords
from soldout.services.ratelimit import TokenBuckets
from soldout.services.throttle import ThrottleSettings
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore

ADMIN = "adm_unit_token_of_at_least_32_characters"
PASSWORD = "correct horse battery staple"
HERE = "192.0.2.1"


def make(
    store: InMemoryStore, clock: FakeClock, passwords: Passwords | None = None, **throttle: int
) -> Platform:
    return Platform(
        store,
        TokenSigner(b"k" * 32, ADMIN),
        clock=clock,
        passwords=passwords or Passwords(FAST_FOR_TESTS),
        throttle=ThrottleSettings(**throttle),
    )


class HookedPasswords(Passwords):
    """Runs `before_hash` once, just before the next hash is made: the moment between a
    password change's check and its write, where another change can slip in."""

    def __init__(self) -> None:
        super().__init__(FAST_FOR_TESTS)
        self.before_hash: Callable[[], Awaitable[None]] | None = None

    async def hash(self, password: str) -> str:
        hook, self.before_hash = self.before_hash, None
        if hook is not None:
            await hook()
        return await super().hash(password)


@pytest.fixture
async def shop(clock: FakeClock) -> AsyncIterator[Platform]:
    platform = make(InMemoryStore(), clock)
    await platform.start(sweep=False)
    yield platform
    await platform.stop()


async def owner_of(shop: Platform) -> Admin:
    """The first owner, made from the bootstrap token's session."""
    raw = await shop.team.sign_in_with_token(ADMIN, HERE)
    bootstrap = shop.team.who(raw)
    assert bootstrap is not None
    assert bootstrap.is_bootstrap
    _, session = await shop.team.create_first_owner(bootstrap, "ada@example.com", "Ada", PASSWORD)
    owner = shop.team.who(session)
    assert owner is not None
    return owner


async def test_the_bootstrap_token_makes_the_first_owner_once(shop: Platform) -> None:
    raw = await shop.team.sign_in_with_token(ADMIN, HERE)
    bootstrap = shop.team.who(raw)
    assert bootstrap == Admin(BOOTSTRAP, Role.OWNER, shop.tokens.admin_actor)
    assert bootstrap.actor.startswith("admin:")  # as the audit log named the token before
    with pytest.raises(InvalidInput) as weak:
        await shop.team.create_first_owner(bootstrap, "ada@example.com", "Ada", "short")
    assert weak.value.code == "weak_password"
    account, session = await shop.team.create_first_owner(
        bootstrap, "Ada@Example.com", " Ada  Lovelace ", PASSWORD
    )
    assert (account.email, account.name, account.role) == (
        "ada@example.com",
        "Ada Lovelace",
        Role.OWNER,
    )
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash
    assert shop.team.who(session) == Admin(account.id, Role.OWNER, account.actor, account)
    with pytest.raises(Conflict):
        await shop.team.create_first_owner(bootstrap, "eve@example.com", "Eve", PASSWORD)
    owner = shop.team.who(session)
    assert owner is not None
    with pytest.raises(Forbidden):  # only the token makes the first owner
        await shop.team.create_first_owner(owner, "eve@example.com", "Eve", PASSWORD)
    (entry,) = await shop.store.audit.recent(10)
    assert (entry.actor, entry.action) == (bootstrap.actor, "team.owner")


async def test_a_password_signs_in_the_same_way_for_a_wrong_one_or_no_account(
    shop: Platform,
) -> None:
    await owner_of(shop)
    session = await shop.team.sign_in("ADA@example.com", PASSWORD, HERE)
    admin = shop.team.who(session)
    assert admin is not None
    assert admin.actor == "Ada <ada@example.com>"
    for email, password in (("ada@example.com", "wrong password!"), ("bob@example.com", PASSWORD)):
        with pytest.raises(Unauthorized) as refused:
            await shop.team.sign_in(email, password, HERE)
        assert str(refused.value) == "that e-mail and password do not match an account"
    with pytest.raises(Unauthorized, match="not the admin token"):
        await shop.team.sign_in_with_token(ADMIN + "x", HERE)


async def test_an_invite_works_once_and_expires(shop: Platform, clock: FakeClock) -> None:
    owner = await owner_of(shop)
    invite, key = await shop.team.invite(owner, "bob@example.com", Role.STAFF)
    assert invite.id != key
    assert key not in repr(await shop.store.team.invites())
    assert await shop.team.invite_for(key) == invite
    account, session = await shop.team.accept(key, "Bob", PASSWORD, HERE)
    assert (account.role, account.invited_by) == (Role.STAFF, owner.actor)
    assert shop.team.who(session) is not None
    with pytest.raises(NotFound):
        await shop.team.accept(key, "Mallory", PASSWORD, HERE)
    assert await shop.team.invite_for(key) is None

    _, late = await shop.team.invite(owner, "carol@example.com", Role.READ_ONLY)
    clock.advance(timedelta(days=3).total_seconds())
    with pytest.raises(NotFound):
        await shop.team.accept(late, "Carol", PASSWORD, HERE)
    actions = [e.action for e in await shop.store.audit.recent(10)]
    assert actions == ["team.invite", "team.join", "team.invite", "team.owner"]


async def test_only_an_owner_runs_the_team_and_one_owner_always_stays(shop: Platform) -> None:
    owner = await owner_of(shop)
    _, key = await shop.team.invite(owner, "bob@example.com", Role.STAFF)
    bob, bob_session = await shop.team.accept(key, "Bob", PASSWORD, HERE)
    staff = shop.team.who(bob_session)
    assert staff is not None
    assert staff.role is Role.STAFF
    with pytest.raises(Forbidden):
        await shop.team.invite(staff, "carol@example.com", Role.OWNER)
    with pytest.raises(Forbidden):
        await shop.team.change_role(staff, bob.id, Role.OWNER)
    assert owner.account is not None
    with pytest.raises(Conflict) as last:
        await shop.team.change_role(owner, owner.account.id, Role.STAFF)
    assert last.value.code == "last_owner"
    with pytest.raises(Conflict):
        await shop.team.remove(owner, owner.account.id)

    await shop.team.change_role(owner, bob.id, Role.READ_ONLY)
    assert shop.team.who(bob_session) is None  # a role change ends their sessions
    again = shop.team.who(await shop.team.sign_in("bob@example.com", PASSWORD, HERE))
    assert again is not None
    assert again.role is Role.READ_ONLY
    await shop.team.remove(owner, bob.id)
    with pytest.raises(Unauthorized, match="do not match"):
        await shop.team.sign_in("bob@example.com", PASSWORD, HERE)


async def test_a_member_changes_their_own_password_and_their_other_sessions_end(
    shop: Platform,
) -> None:
    owner = await owner_of(shop)
    _, key = await shop.team.invite(owner, "rita@example.com", Role.READ_ONLY)
    rita, here = await shop.team.accept(key, "Rita", PASSWORD, HERE)
    elsewhere = await shop.team.sign_in("rita@example.com", PASSWORD, "198.51.100.5")
    owners = await shop.team.sign_in("ada@example.com", PASSWORD, HERE)
    by = shop.team.who(here)
    assert by is not None
    new = "a read-only member may change this"  # their own account, not the shop's
    session = await shop.team.change_password(by, PASSWORD, new, new, HERE)
    after = shop.team.who(session)
    assert after is not None
    assert (after.subject, after.role, after.actor) == (rita.id, Role.READ_ONLY, rita.actor)
    assert shop.team.who(elsewhere) is None
    assert shop.team.who(here) is None  # this browser goes on in `session`, a new id
    assert shop.team.who(owners) is not None  # someone else's sessions are theirs
    with pytest.raises(Unauthorized):
        await shop.team.sign_in("rita@example.com", PASSWORD, HERE)
    assert shop.team.who(await shop.team.sign_in("rita@example.com", new, HERE)) is not None
    stored = shop.store.team.rows[rita.id].password_hash
    assert stored.startswith("$argon2id$")
    assert stored != rita.password_hash
    (entry, *_) = await shop.store.audit.recent(5)
    assert (entry.actor, entry.action, entry.subject) == (
        rita.actor,
        "team.password_changed",
        rita.id,
    )
    assert entry.detail == {"email": "rita@example.com", "other_sessions_ended": "1"}
    assert PASSWORD not in repr(entry)
    assert new not in repr(entry)


async def test_a_new_password_follows_the_rules_of_a_new_account(shop: Platform) -> None:
    owner = await owner_of(shop)
    refusals: list[tuple[str, str, str, str | None]] = [
        (PASSWORD, "too short", "too short", "new_password"),
        (PASSWORD, "x" * 1025, "x" * 1025, "new_password"),
        (PASSWORD, "a long new password", "a long new passwork", "repeat_password"),
        ("not the password", "a long new password", "a long new password", "current_password"),
        (PASSWORD, PASSWORD, PASSWORD, "new_password"),
    ]
    codes = []
    for current, new, repeated, field in refusals:
        with pytest.raises((InvalidInput, Unauthorized)) as refused:
            await shop.team.change_password(owner, current, new, repeated, HERE)
        assert refused.value.field == field
        codes.append(refused.value.code)
    assert codes == [
        "weak_password",
        "invalid",
        "password_mismatch",
        "unauthorized",
        "same_password",
    ]
    assert shop.team.who(await shop.team.sign_in("ada@example.com", PASSWORD, HERE)) is not None
    bootstrap = shop.team.who(await shop.team.sign_in_with_token(ADMIN, HERE))
    assert bootstrap is not None
    with pytest.raises(Forbidden) as token:
        await shop.team.change_password(bootstrap, "", "a long new password" * 2, "", HERE)
    assert token.value.code == "no_password"
    assert [e.action for e in await shop.store.audit.recent(5)] == ["team.owner"]


async def test_a_wrong_current_password_is_a_failed_sign_in(clock: FakeClock) -> None:
    shop = make(InMemoryStore(), clock, failed_per_account=2)
    await shop.start(sweep=False)
    owner = await owner_of(shop)
    new = "a long new password"
    for _ in range(2):
        with pytest.raises(Unauthorized, match="the current password is not right"):
            await shop.team.change_password(owner, "a wrong guess!", new, new, HERE)
    with pytest.raises(RateLimited) as limited:  # even the right one
        await shop.team.change_password(owner, PASSWORD, new, new, HERE)
    assert limited.value.retry_after == 60
    with pytest.raises(RateLimited):  # the account's bucket: signing in waits too
        await shop.team.sign_in("ada@example.com", PASSWORD, "192.0.2.77")
    clock.advance(60)
    await shop.team.change_password(owner, PASSWORD, new, new, HERE)
    for _ in range(3):  # a right one is never counted
        await shop.team.sign_in("ada@example.com", new, HERE)


async def test_a_role_change_made_during_a_password_change_stays(clock: FakeClock) -> None:
    passwords = HookedPasswords()
    shop = make(InMemoryStore(), clock, passwords)
    await shop.start(sweep=False)
    owner = await owner_of(shop)
    _, key = await shop.team.invite(owner, "bob@example.com", Role.STAFF)
    bob, session = await shop.team.accept(key, "Bob", PASSWORD, HERE)
    staff = shop.team.who(session)
    assert staff is not None

    async def demote() -> None:
        await shop.team.change_role(owner, bob.id, Role.READ_ONLY)

    passwords.before_hash = demote
    new = "a long new password"
    again = await shop.team.change_password(staff, PASSWORD, new, new, HERE)
    after = shop.team.who(again)
    assert after is not None
    assert after.role is Role.READ_ONLY  # the owner's change was not written over
    assert shop.store.team.rows[bob.id].role is Role.READ_ONLY
    await shop.team.sign_in("bob@example.com", new, HERE)


async def test_of_two_password_changes_at_once_the_first_wins(clock: FakeClock) -> None:
    passwords = HookedPasswords()
    shop = make(InMemoryStore(), clock, passwords)
    await shop.start(sweep=False)
    owner = await owner_of(shop)
    first = "the first new password"

    async def other_tab() -> None:
        await shop.team.change_password(owner, PASSWORD, first, first, "192.0.2.8")

    passwords.before_hash = other_tab  # runs while this change's hash is being made
    second = "the second new password"
    with pytest.raises(Conflict, match="changed meanwhile"):
        await shop.team.change_password(owner, PASSWORD, second, second, HERE)
    await shop.team.sign_in("ada@example.com", first, HERE)
    with pytest.raises(Unauthorized):
        await shop.team.sign_in("ada@example.com", second, HERE)
    actions = [e.action for e in await shop.store.audit.recent(5)]
    assert actions == ["team.password_changed", "team.owner"]


async def test_sessions_survive_a_restart_end_on_sign_out_and_expire(clock: FakeClock) -> None:
    store = InMemoryStore()
    first = make(store, clock)
    await first.start(sweep=False)
    owner = await owner_of(first)
    assert owner.account is not None
    session = await first.team.sign_in("ada@example.com", PASSWORD, HERE)
    fan_session = await first.sessions.open(SessionKind.FAN, "fan_1")
    ended = await first.sessions.open(SessionKind.FAN, "fan_1")
    await first.sessions.end(ended)

    reborn = make(store.crash_copy(), clock)
    await reborn.start(sweep=False)
    assert reborn.team.who(session) == first.team.who(session)
    assert reborn.sessions.fan_of(fan_session) == "fan_1"
    assert reborn.sessions.fan_of(ended) is None
    assert reborn.sessions.fan_of(session) is None  # an admin session is not a fan's
    assert reborn.team.who(fan_session) is None
    assert session not in repr(store.sessions.rows)  # only digests are kept

    clock.advance(timedelta(hours=12).total_seconds())
    assert reborn.team.who(session) is None  # admin sessions last 12 hours
    assert reborn.sessions.fan_of(fan_session) == "fan_1"
    clock.advance(timedelta(days=30).total_seconds())
    assert reborn.sessions.fan_of(fan_session) is None  # fan sessions 30 days


async def test_fan_tokens_expire_and_sign_out_everywhere_revokes_them(clock: FakeClock) -> None:
    store = InMemoryStore()
    shop = make(store, clock)
    await shop.start(sweep=False)
    fan, token = await shop.fans.register("ann@fans.test", "Ann")
    browser = await shop.sessions.open(SessionKind.FAN, fan.id)
    assert shop.tokens.fan_of(token) == fan.id
    assert shop.tokens.expires_at(token) == clock.now().replace(microsecond=0) + timedelta(days=30)
    clock.advance(timedelta(days=30).total_seconds() - 1)
    assert shop.tokens.fan_of(token) == fan.id
    renewed = shop.tokens.fan_token(fan.id)
    clock.advance(1)
    assert shop.tokens.fan_of(token) is None  # expired
    assert shop.tokens.fan_of(renewed) == fan.id

    assert await shop.sessions.sign_out_fan_everywhere(fan.id) == 1
    assert shop.tokens.fan_of(renewed) is None
    assert shop.sessions.fan_of(browser) is None
    after = shop.tokens.fan_token(fan.id)
    assert shop.tokens.fan_of(after) == fan.id  # a token made after it works

    reborn = make(store.crash_copy(), clock)
    await reborn.start(sweep=False)
    assert reborn.tokens.fan_of(renewed) is None  # also after a restart
    assert reborn.tokens.fan_of(after) == fan.id
    forged = after.rsplit(".", 2)[0] + ".9999999999." + after.rsplit(".", 1)[1]
    assert reborn.tokens.fan_of(forged) is None


async def test_failed_sign_ins_are_throttled_per_address_and_per_account(
    clock: FakeClock,
) -> None:
    shop = make(InMemoryStore(), clock, failed_per_address=3, failed_per_account=2)
    await shop.start(sweep=False)
    await owner_of(shop)
    for _ in range(5):  # good sign-ins are never counted
        await shop.team.sign_in("ada@example.com", PASSWORD, HERE)
    for address in ("192.0.2.10", "192.0.2.11"):  # one account, from anywhere
        with pytest.raises(Unauthorized, match="do not match"):
            await shop.team.sign_in("ada@example.com", "guess " * 3, address)
    with pytest.raises(RateLimited) as limited:
        await shop.team.sign_in("ada@example.com", PASSWORD, "192.0.2.12")  # even the right one
    assert limited.value.retry_after == 60
    clock.advance(60)
    await shop.team.sign_in("ada@example.com", PASSWORD, "192.0.2.12")

    for email in ("x@example.com", "y@example.com", "z@example.com"):  # one address
        with pytest.raises(Unauthorized, match="do not match"):
            await shop.team.sign_in(email, PASSWORD, "198.51.100.7")
    with pytest.raises(RateLimited):
        await shop.team.sign_in_with_token(ADMIN, "198.51.100.7")
    await shop.team.sign_in_with_token(ADMIN, HERE)  # another address is not slowed


async def test_guesses_sent_at_once_are_counted_before_any_is_checked(
    clock: FakeClock,
) -> None:
    shop = make(InMemoryStore(), clock, failed_per_account=5)
    await shop.start(sweep=False)
    await owner_of(shop)
    guesses = [
        shop.team.sign_in("ada@example.com", f"guess number {i}", f"192.0.2.{100 + i}")
        for i in range(20)
    ]
    outcomes = await asyncio.gather(*guesses, return_exceptions=True)
    assert sum(isinstance(o, Unauthorized) for o in outcomes) == 5  # checked: the allowance
    assert sum(isinstance(o, RateLimited) for o in outcomes) == 15  # refused unchecked


async def test_sign_ups_are_throttled_per_address(clock: FakeClock) -> None:
    shop = make(InMemoryStore(), clock, signups_per_address=2)
    shop.throttle.sign_up(HERE)
    shop.throttle.sign_up(HERE)
    with pytest.raises(RateLimited) as limited:
        shop.throttle.sign_up(HERE)
    assert limited.value.retry_after == 30
    shop.throttle.sign_up("192.0.2.99")
    clock.advance(30)
    shop.throttle.sign_up(HERE)
    off = make(InMemoryStore(), clock, signups_per_address=0)
    for _ in range(100):
        off.throttle.sign_up(HERE)


def test_waiting_looks_without_taking() -> None:
    buckets = TokenBuckets(rate_per_second=1, burst=2)
    assert buckets.waiting("k", 0.0) == 0.0
    assert buckets.take("k", 0.0) == 0.0
    assert buckets.waiting("k", 0.0) == 0.0
    assert buckets.take("k", 0.0) == 0.0
    assert buckets.waiting("k", 0.0) == pytest.approx(1.0)
    assert buckets.waiting("k", 0.0) == pytest.approx(1.0)  # looking took nothing
    assert buckets.waiting("k", 1.0) == 0.0
    buckets.refund("k")  # the last take did not count after all
    assert buckets.waiting("k", 0.0) == 0.0


def test_forwarded_headers_are_believed_only_from_trusted_proxies() -> None:
    nobody = TrustedProxies.parse("")
    assert not nobody
    assert nobody.client_of("127.0.0.1", "203.0.113.9") == "127.0.0.1"
    assert nobody.scheme_of("127.0.0.1", "http", "https") == "http"
    proxies = TrustedProxies.parse("127.0.0.1, 10.0.0.0/8")
    assert proxies.client_of("127.0.0.1", "203.0.113.9") == "203.0.113.9"
    assert proxies.client_of("192.0.2.1", "203.0.113.9") == "192.0.2.1"  # not a proxy of ours
    # the client wrote the left part itself: the rightmost untrusted address is theirs
    assert proxies.client_of("127.0.0.1", "6.6.6.6, 203.0.113.9, 10.1.2.3") == "203.0.113.9"
    assert proxies.client_of("::ffff:127.0.0.1", "203.0.113.9") == "203.0.113.9"
    assert proxies.scheme_of("10.9.9.9", "http", "https") == "https"
    assert proxies.scheme_of("10.9.9.9", "http", "gopher") == "http"
    scope = {
        "type": "http",
        "scheme": "http",
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-forwarded-for", b"203.0.113.9"), (b"x-forwarded-proto", b"https")],
    }
    rewritten = proxies.rewrite(scope)
    assert (rewritten["scheme"], rewritten["client"][0]) == ("https", "203.0.113.9")
    assert scope["scheme"] == "http"  # the original is left alone
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not an IP address"):
        TrustedProxies.parse("127.0.0.1,10.0.0.0/33")
