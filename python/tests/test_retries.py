"""Retries under emulator faults: same key on every attempt, one refund."""

from __future__ import annotations

import threading
import time

import refundkit
from support import Emulator, expect_error, remember


def clear_faults_after(emulator: Emulator, counter: str) -> threading.Thread:
    """Clears the faults once the emulator has injected one more `counter`
    fault, so that exactly the first attempt(s) fail, however fast the
    client retries."""
    before = emulator.stats()["faults"][counter]

    def watch() -> None:
        for _ in range(3000):
            if emulator.stats()["faults"][counter] > before:
                emulator.clear_faults()
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def test_retries_5xx_with_the_same_key(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    injected_before = emulator.stats()["faults"]["error5xx"]
    emulator.set_faults(error_5xx=1.0)
    watcher = clear_faults_after(emulator, "error5xx")
    refund = emulator.client(max_retries=10).refund(checkout_id, amount=100)
    watcher.join()
    remember(refund)

    injected = emulator.stats()["faults"]["error5xx"] - injected_before
    assert injected >= 1
    assert refund.attempts == injected + 1
    assert refund.replayed is False  # a 500 was never committed
    assert [r["idempotencyKey"] for r in emulator.ledger(checkout_id)] == [refund.idempotency_key]


def test_cut_after_commit_is_retried_and_replayed(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    # The answer is lost after the refund is committed; a retry with the
    # same key gets the stored answer instead of making a second refund.
    dropped_before = emulator.stats()["faults"]["dropAfter"]
    emulator.set_faults(drop_after=1.0)
    watcher = clear_faults_after(emulator, "dropAfter")
    refund = emulator.client(max_retries=10).refund(checkout_id, amount=100)
    watcher.join()

    dropped = emulator.stats()["faults"]["dropAfter"] - dropped_before
    assert dropped >= 1
    assert refund.attempts == dropped + 1
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
