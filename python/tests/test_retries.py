"""Retries under emulator faults: same key on every attempt, one refund."""

from __future__ import annotations

import refundkit
from support import Emulator, expect_error, remember


def test_retries_5xx_with_the_same_key(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    # Seeded: the first attempt draws a 500, so at least one retry happens.
    injected_before = emulator.stats()["faults"]["error5xx"]
    emulator.set_faults(error_5xx=0.6, seed=3)
    refund = emulator.client(max_retries=10).refund(checkout_id, amount=100)
    remember(refund)

    injected = emulator.stats()["faults"]["error5xx"] - injected_before
    assert injected >= 1
    assert refund.attempts == injected + 1
    assert [r["idempotencyKey"] for r in emulator.ledger(checkout_id)] == [refund.idempotency_key]


def test_cut_after_commit_is_retried_and_replayed(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    # Every first answer is lost after the refund is committed; the retry
    # with the same key gets the stored answer instead of a second refund.
    emulator.set_faults(drop_after=1.0)
    refund = emulator.client(max_retries=2).refund(checkout_id, amount=100)

    assert refund.attempts == 2
    assert refund.replayed is True
    [row] = emulator.ledger(checkout_id)
    assert row["idempotencyKey"] == refund.idempotency_key
    assert row["refundId"] == refund.refund_id


def test_exhausted_retries_leave_a_key_that_refunds_once_later(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    emulator.set_faults(drop_before=1.0)
    error = expect_error(refundkit.NetworkError, emulator.client(max_retries=2).refund, checkout_id, amount=100)

    assert error.attempts == 3
    assert error.outcome_unknown is True
    assert error.retryable is True
    assert emulator.ledger(checkout_id) == []

    emulator.clear_faults()
    client = emulator.client()
    first = client.refund(checkout_id, amount=100, idempotency_key=error.idempotency_key)
    again = client.refund(checkout_id, amount=100, idempotency_key=error.idempotency_key)
    assert again.replayed and again.refund_id == first.refund_id
    assert [r["idempotencyKey"] for r in emulator.ledger(checkout_id)] == [error.idempotency_key]
