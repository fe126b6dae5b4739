"""The `Allocator` port's contract, through the port alone: proven here for the in-process
allocator (`BookAllocator`); a scaled-out one joins the `allocator` fixture's params."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from soldout.domain import errors
from soldout.domain.claims import Claim, ClaimState
from soldout.domain.codes import PriorityCode
from soldout.domain.launches import Launch, LaunchRules
from soldout.domain.money import Money
from soldout.domain.products import Product, Sku
from soldout.engine.allocator import Allocator
from soldout.engine.book import LaunchBook
from soldout.engine.book_allocator import BookAllocator

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
LAUNCH = "lch_1"

Open = Callable[..., Allocator]


def in_process(batch: dict[str, int], per_fan_limit: int = 1) -> Allocator:
    skus = tuple(Sku(c, c, Money(1000, "EUR"), Money(900, "EUR")) for c in batch)
    product = Product("prd_1", "Model One", "", skus, NOW)
    rules = LaunchRules(per_fan_limit=per_fan_limit)
    launch = Launch(LAUNCH, product.id, "t", NOW - timedelta(seconds=1), rules, batch, NOW)
    return BookAllocator({LAUNCH: LaunchBook.open(launch, product)})


@pytest.fixture(params=[in_process], ids=["in-process"])
def open_sale(request: pytest.FixtureRequest) -> Open:
    opener: Open = request.param
    return opener


def claim_of(fan: str, sku: str = "A", quantity: int = 1, code: str | None = None) -> Claim:
    return Claim(
        f"clm_{fan}_{sku}",
        LAUNCH,
        fan,
        sku,
        quantity,
        1000,
        "EUR",
        NOW,
        NOW + timedelta(minutes=15),
        f"key-{fan}",
        priority_code=code,
    )


def take(allocator: Allocator, claim: Claim) -> Claim:
    allocator.take(LAUNCH, claim.fan_id, claim.sku, claim.quantity, NOW, claim.priority_code)
    if claim.priority_code is not None:
        allocator.redeem(claim)
    return claim


def code_for(sku: str, name: str = "F-AAAA-BBBB-CCCC") -> PriorityCode:
    return PriorityCode(name, LAUNCH, sku, NOW, expires_at=NOW + timedelta(hours=1))


def test_a_released_unit_can_be_taken_again(open_sale: Open) -> None:
    allocator = open_sale({"A": 2})
    first = take(allocator, claim_of("fan_1"))
    take(allocator, claim_of("fan_2"))
    with pytest.raises(errors.SoldOut):
        allocator.take(LAUNCH, "fan_3", "A", 1, NOW)
    first.state = ClaimState.EXPIRED
    allocator.release(first, ClaimState.EXPIRED)
    allocator.take(LAUNCH, "fan_3", "A", 1, NOW)


def test_the_per_fan_limit_counts_every_sku(open_sale: Open) -> None:
    allocator = open_sale({"A": 5, "B": 5}, per_fan_limit=2)
    a = take(allocator, claim_of("fan_1", "A"))
    take(allocator, claim_of("fan_1", "B"))
    with pytest.raises(errors.LimitReached):
        allocator.take(LAUNCH, "fan_1", "A", 1, NOW)
    assert allocator.units_of(LAUNCH, "fan_1") == 2
    allocator.release(a, ClaimState.CANCELLED)
    assert allocator.units_of(LAUNCH, "fan_1") == 1


def test_a_key_replays_to_the_claim_it_made_on_its_launch_until_forgotten(
    open_sale: Open,
) -> None:
    allocator = open_sale({"A": 2})
    claim = take(allocator, claim_of("fan_1"))
    assert allocator.replay("fan_1", LAUNCH, "key-fan_1") is None
    allocator.remember(claim)
    assert allocator.replay("fan_1", LAUNCH, "key-fan_1") is claim
    assert allocator.replay("fan_2", LAUNCH, "key-fan_1") is None
    assert allocator.replay("fan_1", "lch_other", "key-fan_1") is None  # a key is per launch
    allocator.forget(claim_of("fan_1", "B"))  # another claim: the key stays its first's
    assert allocator.replay("fan_1", LAUNCH, "key-fan_1") is claim
    allocator.forget(claim)
    assert allocator.replay("fan_1", LAUNCH, "key-fan_1") is None


def test_untake_reverses_a_take_and_its_code(open_sale: Open) -> None:
    allocator = open_sale({"A": 1})
    claim = take(allocator, claim_of("fan_1"))
    allocator.untake(claim)
    assert allocator.units_of(LAUNCH, "fan_1") == 0
    with_code = open_sale({"A": 1})
    assert with_code.set_aside(LAUNCH, "A", 1) == ["A"]
    with_code.add_codes([code_for("A")])
    spent = take(with_code, claim_of("fan_1", code="F-AAAA-BBBB-CCCC"))
    with_code.untake(spent)
    take(with_code, claim_of("fan_2", code="F-AAAA-BBBB-CCCC"))  # the code works again


def test_paid_units_are_sold_until_refunded_before_shipping(open_sale: Open) -> None:
    allocator = open_sale({"A": 1})
    claim = take(allocator, claim_of("fan_1"))
    allocator.settle(claim)
    with pytest.raises(errors.SoldOut):
        allocator.take(LAUNCH, "fan_2", "A", 1, NOW)
    allocator.unsettle(claim)  # its order was not recorded: held again
    allocator.settle(claim)
    allocator.unsell(claim)
    assert allocator.units_of(LAUNCH, "fan_1") == 0
    allocator.take(LAUNCH, "fan_2", "A", 1, NOW)


def test_a_unit_set_aside_is_for_its_code_alone(open_sale: Open) -> None:
    allocator = open_sale({"A": 1})
    with pytest.raises(errors.Conflict) as too_many:
        allocator.set_aside(LAUNCH, "A", 2)
    assert too_many.value.code == "insufficient_stock"
    assert too_many.value.message == "only 1 unit is open to set aside"
    allocator.set_aside(LAUNCH, "A", 1)
    allocator.add_codes([code_for("A")])
    with pytest.raises(errors.SoldOut):
        allocator.take(LAUNCH, "fan_1", "A", 1, NOW)
    take(allocator, claim_of("fan_2", code="F-AAAA-BBBB-CCCC"))
    with pytest.raises(errors.Conflict) as spent:
        allocator.take(LAUNCH, "fan_3", "A", 1, NOW, "F-AAAA-BBBB-CCCC")
    assert spent.value.code == "code_spent"


def test_an_expired_code_gives_its_unit_back_once(open_sale: Open) -> None:
    allocator = open_sale({"A": 1})
    allocator.set_aside(LAUNCH, None, 1)
    allocator.add_codes([code_for("A")])
    later = NOW + timedelta(hours=2)
    assert allocator.expire_code(LAUNCH, "F-AAAA-BBBB-CCCC", NOW) is None  # not yet
    assert allocator.expire_code(LAUNCH, "F-AAAA-BBBB-CCCC", later) == "A"
    assert allocator.expire_code(LAUNCH, "F-AAAA-BBBB-CCCC", later) is None
    allocator.take(LAUNCH, "fan_1", "A", 1, later)


def test_withdrawn_codes_free_their_units(open_sale: Open) -> None:
    allocator = open_sale({"A": 1})
    allocator.set_aside(LAUNCH, "A", 1)
    code = code_for("A")
    allocator.add_codes([code])
    allocator.withdraw_codes([code])
    with pytest.raises(errors.InvalidInput):
        allocator.take(LAUNCH, "fan_1", "A", 1, NOW, code.code)
    allocator.take(LAUNCH, "fan_1", "A", 1, NOW)


def test_restored_claims_and_codes_count_as_before(open_sale: Open) -> None:
    allocator = open_sale({"A": 2})
    paid = claim_of("fan_1")
    paid.state = ClaimState.PAID
    allocator.restore(paid)
    allocator.restore_code(code_for("A"), NOW)
    assert allocator.units_of(LAUNCH, "fan_1") == 1
    with pytest.raises(errors.SoldOut):
        allocator.take(LAUNCH, "fan_2", "A", 1, NOW)
