"""Reconciliation reads every transaction the provider has for a payment: money paid
outside soldout (the provider's dashboard or API) can carry a payment's reference too, and
was hidden behind the first one when only one transaction per reference was read."""

from __future__ import annotations

from datetime import UTC, datetime

from soldout.domain.payments import PaymentRecord, PaymentState
from soldout.payments import Transaction
from soldout.services.reconcile import Mismatch, Snapshot, reconcile

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def payment(state: PaymentState, pay_id: str = "pay_1") -> PaymentRecord:
    return PaymentRecord(
        pay_id, "clm_1", "fan_1", "stripe", "card", 4900, "EUR", "k1", "f" * 64, NOW, NOW,
        state, reference="pi_first",
    )  # fmt: skip


def line(reference: str, captured: int, refunded: int = 0, to: str = "pay_1") -> Transaction:
    status = "refunded" if refunded >= captured > 0 else "captured"
    return Transaction(reference, "card", 4900, "EUR", status, captured, refunded, to)


def found(payments: list[PaymentRecord], lines: list[Transaction]) -> list[Mismatch]:
    return reconcile(Snapshot([], [], [], [], payments, lines, NOW, "stripe"))


def test_one_transaction_for_one_payment_agrees() -> None:
    assert found([payment(PaymentState.CAPTURED)], [line("pi_first", 4900)]) == []


def test_a_second_charge_with_a_payments_reference_is_named() -> None:
    both = [line("pi_first", 4900), line("pi_2", 4900)]
    said = {m.kind: m for m in found([payment(PaymentState.CAPTURED)], both)}
    assert set(said) == {"charged_twice", "payment_mismatch"}  # 9800 held for 4900
    assert said["charged_twice"].subject == "pay_1"
    assert "pi_first" in said["charged_twice"].detail
    assert "pi_2" in said["charged_twice"].detail


def test_a_refund_of_soldouts_own_charge_is_not_hidden_by_another() -> None:
    """soldout would refund its own transaction, already refunded, and keep the other."""
    lines = [line("pi_first", 4900, refunded=4900), line("pi_2", 4900)]
    said = {m.kind: m.detail for m in found([payment(PaymentState.CAPTURED)], lines)}
    assert set(said) == {"payment_mismatch"}
    assert "pi_first refunded 4900/4900" in said["payment_mismatch"]


def test_a_double_charge_put_right_agrees_again() -> None:
    lines = [line("pi_first", 4900), line("pi_2", 4900, refunded=4900)]
    assert found([payment(PaymentState.CAPTURED)], lines) == []
    both_back = [line("pi_first", 4900, refunded=4900), line("pi_2", 4900, refunded=4900)]
    assert found([payment(PaymentState.REFUNDED)], both_back) == []


def test_a_refunded_payment_with_money_still_held_says_where() -> None:
    lines = [line("pi_first", 4900, refunded=4900), line("pi_2", 4900)]
    [missing] = found([payment(PaymentState.REFUNDED)], lines)
    assert (missing.kind, missing.subject) == ("refund_missing", "pay_1")
    assert "still holds 4900" in missing.detail
    assert "pi_2 captured 4900/0" in missing.detail


def test_a_hold_beside_a_capture_is_named_whatever_the_payments_state() -> None:
    held = Transaction("pi_2", "card", 4900, "EUR", "authorized", 0, 0, "pay_1")
    captured = found([payment(PaymentState.CAPTURED)], [line("pi_first", 4900), held])
    assert [m.kind for m in captured] == ["hold_not_released"]
    failed = found([payment(PaymentState.FAILED)], [held, line("pi_first", 4900)])
    assert sorted(m.kind for m in failed) == ["hold_not_released", "money_without_order"]


def test_money_for_an_unknown_payment_is_summed_over_its_transactions() -> None:
    lines = [line("pi_a", 4900, to="pay_unknown"), line("pi_b", 4900, to="pay_unknown")]
    [stray] = found([], lines)
    assert (stray.kind, stray.subject) == ("money_without_order", "pay_unknown")
    assert "captured 9800" in stray.detail
