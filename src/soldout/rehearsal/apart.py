"""A rehearsal beside a real shop: refused unless asked for, and removable afterwards.

Everything a run makes is marked with its run id on the server (`/api/v1/rehearsals`),
kept out of the storefront, exports and reports, and removed with one command:

    soldout rehearse --clean --target URL            # every rehearsal run on the server
    soldout rehearse --clean --run a1b2c3d4 --target URL
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from soldout.rehearsal.client import Api
from soldout.rehearsal.stage import RehearsalError

__all__ = ["ShopData", "refuse_real_data", "remove_runs"]

REHEARSALS = "/api/v1/rehearsals"


@dataclass(frozen=True, slots=True)
class ShopData:
    """What the target's real shop holds."""

    products: int
    launches: int
    fans: int
    orders: int

    @property
    def empty(self) -> bool:
        return not (self.products or self.launches or self.fans or self.orders)

    def __str__(self) -> str:
        return (
            f"{self.products} products, {self.launches} launches, {self.fans} fans,"
            f" {self.orders} orders"
        )


async def refuse_real_data(api: Api, admin_token: str, *, allowed: bool) -> ShopData:
    """The target's real data; `RehearsalError` if it has any and `allowed` is false, or
    if the target cannot keep a rehearsal apart from it (an older soldout)."""
    answer = await api.call("check", "GET", REHEARSALS, actor="check", token=admin_token)
    if answer.status == 404:
        raise RehearsalError(
            "the target cannot keep a rehearsal apart from its real data (no"
            f" {REHEARSALS}: an older soldout); refusing to rehearse on it"
        )
    if answer.status != 200 or not isinstance(answer.data, dict):
        raise RehearsalError(
            f"reading {REHEARSALS}: the server answered {answer.status} ({answer.code})"
        )
    real = _shop(answer.data.get("real"))
    if not real.empty and not allowed:
        raise RehearsalError(
            f"the target holds real data ({real}). A rehearsal there would be kept apart"
            " from it (never shown to fans, out of exports and reports, removable with"
            " `soldout rehearse --clean`), but it loads the server like a launch does:"
            " pass --allow-real-data to run it anyway"
        )
    return real


async def refuse_real_money(api: Api) -> None:
    """`RehearsalError` if the target takes real money: a rehearsal's fans pay with the
    test provider's cards, and must never open a real provider's payment pages."""
    answer = await api.call("check", "GET", "/api/v1/payments", actor="check")
    if answer.status == 404:
        return  # an older soldout: it has only the test provider
    provider = answer.data.get("provider") if isinstance(answer.data, dict) else None
    if answer.status != 200 or provider is None:
        raise RehearsalError(f"reading /api/v1/payments: the server answered {answer.status}")
    if provider != "test":
        raise RehearsalError(
            f"the target takes real money ({provider}): a rehearsal pays with test cards."
            " Rehearse on a server with SOLDOUT_PAYMENTS=test"
        )


def _shop(data: Any) -> ShopData:
    if not isinstance(data, dict):
        raise RehearsalError(f"{REHEARSALS} answered in an unexpected shape")
    try:
        return ShopData(
            int(data["products"]), int(data["launches"]), int(data["fans"]), int(data["orders"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RehearsalError(f"{REHEARSALS} answered in an unexpected shape ({exc})") from None


def remove_runs(base_url: str, admin_token: str, run: str | None = None) -> list[dict[str, Any]]:
    """Remove one rehearsal run (or every run) from the target, while it serves; what each
    removal deleted. `RehearsalError` if the server refuses."""
    headers = {"authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        try:
            if run is None:
                listing = client.get(REHEARSALS)
                _check(listing, "listing the rehearsals")
                runs = [str(r["run"]) for r in listing.json()["runs"]]
            else:
                runs = [run]
            removed = []
            for one in runs:
                answer = client.delete(f"{REHEARSALS}/{one}")
                _check(answer, f"removing rehearsal {one}")
                removed.append(answer.json())
        except httpx.HTTPError as exc:
            raise RehearsalError(f"{base_url}: {exc}") from None
    return removed


def _check(answer: httpx.Response, what: str) -> None:
    if answer.status_code == 200:
        return
    try:
        error = answer.json()["error"]
        detail = f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        detail = answer.text[:200]
    raise RehearsalError(f"{what}: the server answered {answer.status_code} ({detail})")
