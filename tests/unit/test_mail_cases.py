"""E-mails whose case needs its own words: a late payment that was only authorized is
voided, not refunded (the fan is told no money was taken, not "refunded in full", which
sends them looking at their statement); an order's first ship date did not "move"."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.test_mail_compose import Scene, bodies, mail, scene

__all__ = ["scene"]  # (the fixture, used by name)


async def test_a_hold_released_is_no_refund(scene: Scene) -> None:
    first = scene.notes["payment_refunded"]
    released = replace(first, data={**first.data, "why": "late", "released": True})
    message = await mail(scene, released)
    words = " ".join(bodies(message)[0].split())
    assert message["Subject"] == "Your payment was cancelled: nothing was charged"
    assert "cancelled before any money was taken" in words
    assert "refunded" not in words
    dutch = await mail(scene, released, "nl", "Europe/Amsterdam")
    assert dutch["Subject"] == "Je betaling is geannuleerd: er is niets afgeschreven"


async def test_a_first_ship_date_is_no_move(scene: Scene) -> None:
    moved = scene.notes["ship_date_changed"]
    first = replace(moved, data={**moved.data, "before": None})
    words = " ".join(bodies(await mail(scene, first))[0].split())
    assert "Your order has a ship date" in words
    assert "moved" not in words
    assert "Your ship date moved" in " ".join(bodies(await mail(scene, moved))[0].split())


async def test_a_refund_soldout_made_is_given_its_reason_in_the_fans_language(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Dutch fan who cancelled read "Reden: cancelled by the fan"; a maker's own words
    are shown as written."""
    note = scene.notes["order_refunded"]
    maker = " ".join(bodies(await mail(scene, note, "nl"))[0].split())
    assert "cancelled the colour" in maker  # (the scene's refund, as the maker wrote it)

    async def fan_cancelled(order_id: str) -> str:
        return "cancelled by the fan"  # (what services/fans.py writes)

    monkeypatch.setattr(scene.composer._facts, "refund_reason", fan_cancelled)
    dutch = " ".join(bodies(await mail(scene, note, "nl"))[0].split())
    assert "je hebt deze bestelling geannuleerd" in dutch
    assert "cancelled by the fan" not in dutch
