"""What no payment attempt could pay, refused before one is recorded or an open one given
up: a method the provider does not take, or not in the claim's currency (iDEAL and
Bancontact move euros only), a card token sent to a provider whose page takes the card
(it would be ignored, and the fan think it was used), and a claim of nothing to pay (a SKU
priced 0 before prices had to be more than 0).

    refuse_unpayable(provider, claim, "ideal", "")  # InvalidInput for a dollar claim
"""

from __future__ import annotations

from soldout.domain.claims import Claim
from soldout.domain.errors import InvalidInput
from soldout.payments import PaymentProvider, usable_methods

__all__ = ["refuse_unpayable"]


def refuse_unpayable(provider: PaymentProvider, claim: Claim, method: str, token: str) -> None:
    if method not in provider.methods:
        names = ", ".join(sorted(provider.methods))
        raise InvalidInput(f"unknown payment method {method!r}; use {names}", field="method")
    usable = usable_methods(provider.methods, claim.currency)
    if method not in usable:
        raise InvalidInput(
            f"{method} does not pay in {claim.currency}; use {', '.join(usable)}",
            field="method",
            code="method_not_for_currency",
        )
    if token and provider.hosted:
        raise InvalidInput(
            "this shop takes the card on its payment provider's page: send no token",
            field="token",
        )
    if claim.total_amount <= 0:
        raise InvalidInput(
            "this unit's price is 0, and no payment provider takes a payment of 0: the shop"
            " must set a price",
            field=None,
            code="nothing_to_pay",
        )
