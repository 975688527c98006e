"""Every exception class, each from a real emulator answer (or a real
network failure), with the fields a handler relies on."""

from __future__ import annotations

import builtins
import socket
import threading
from typing import List, Union

import refundkit
from support import LIVE_KEY, OTHER_KEY, TEST_KEY, Emulator, expect_error, remember


def test_wrong_key_raises_authentication_error(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    error = expect_error(refundkit.AuthenticationError, emulator.client(OTHER_KEY).refund, checkout_id)

    assert error.status == 403
    assert error.error_code == "invalid_secret_key"
    assert error.retryable is False
    assert error.outcome_unknown is False
    assert error.idempotency_key
    assert isinstance(error, refundkit.ApiError)
    assert emulator.ledger(checkout_id) == []


def test_unknown_checkout_raises_not_found(emulator: Emulator) -> None:
    error = expect_error(refundkit.NotFoundError, emulator.client().refund, "ch_doesNotExist000000000000")
    assert error.status == 404
    assert error.error_code
    assert error.body and error.error_code in error.body


def test_unpaid_checkout_raises_invalid_request(emulator: Emulator) -> None:
    checkout_id = emulator.create_checkout()
    error = expect_error(refundkit.InvalidRequestError, emulator.client().refund, checkout_id)
    assert error.status == 400
    assert error.message == "Checkout has not been paid."
    assert error.retryable is False


def test_test_mode_checkout_raises_invalid_request(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(key=TEST_KEY)
    error = expect_error(refundkit.InvalidRequestError, emulator.client(TEST_KEY).refund, checkout_id)
    assert error.status == 400
    assert "test-mode" in error.message


def test_refunding_twice_raises_already_refunded(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    client = emulator.client()
    client.refund(checkout_id)
    error = expect_error(refundkit.AlreadyRefundedError, client.refund, checkout_id)

    assert isinstance(error, refundkit.InvalidRequestError)
    assert error.status == 400
    assert error.message == "Payment has already been refunded."
    assert len(emulator.ledger(checkout_id)) == 1


def test_same_key_different_request_raises_mismatch(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    client = emulator.client()
    client.refund(checkout_id, amount=100, idempotency_key="mismatch-key")
    error = expect_error(refundkit.IdempotencyMismatchError, client.refund, checkout_id, amount=200, idempotency_key="mismatch-key")

    assert error.status == 422
    assert error.idempotency_key == "mismatch-key"
    assert error.retryable is False
    assert len(emulator.ledger(checkout_id)) == 1


def test_same_key_in_flight_raises_conflict_so_sync_calls_release_the_gil(emulator: Emulator) -> None:
    # Two threads share one client and send the same key while the emulator
    # holds the first request. They can only overlap (and so meet a 409) if
    # a waiting call releases the GIL; serialised, the second would be a
    # replay instead.
    checkout_id = emulator.paid_checkout()
    emulator.set_faults(delay=1.0, delay_ms=1500)
    client = emulator.client(max_retries=0)
    start = threading.Barrier(2)
    outcomes: List[Union[refundkit.Refund, BaseException]] = []

    def call() -> None:
        start.wait()
        try:
            outcomes.append(client.refund(checkout_id, amount=100, idempotency_key="conflict-key"))
        except BaseException as error:  # noqa: BLE001 - inspected below
            outcomes.append(error)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    remember(*outcomes)

    conflicts = [o for o in outcomes if isinstance(o, refundkit.IdempotencyConflictError)]
    refunds = [o for o in outcomes if isinstance(o, refundkit.Refund)]
    assert len(conflicts) == 1 and len(refunds) == 1, outcomes
    assert conflicts[0].status == 409
    assert conflicts[0].retryable is True
    assert conflicts[0].idempotency_key == "conflict-key"
    assert [r["idempotencyKey"] for r in emulator.ledger(checkout_id)] == ["conflict-key"]


def test_server_error_without_retries_raises_server_error(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    emulator.set_faults(error_5xx=1.0)
    error = expect_error(refundkit.ServerError, emulator.client(max_retries=0).refund, checkout_id)

    assert error.status == 500
    assert error.retryable is True
    assert error.outcome_unknown is True
    assert error.attempts == 1
    assert emulator.ledger(checkout_id) == []


def test_rate_limited_answer_raises_rate_limit_error_with_retry_after(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    emulator.set_faults(rate_limit=1.0, retry_after_secs=7)
    error = expect_error(refundkit.RateLimitError, emulator.client(max_retries=0).refund, checkout_id)

    assert isinstance(error, refundkit.ApiError)
    assert error.status == 429
    assert error.error_code == "rate_limited"
    assert error.retry_after == 7.0
    assert error.retryable is True
    assert error.outcome_unknown is False  # a 429 is answered before processing
    assert error.attempts == 1
    assert emulator.ledger(checkout_id) == []


def test_closed_port_raises_network_error(emulator: Emulator) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = refundkit.Client(LIVE_KEY, base_url=f"http://127.0.0.1:{port}", max_retries=0)
    error = expect_error(refundkit.NetworkError, client.refund, "ch_1")

    assert error.status is None
    assert error.retryable is True
    assert error.outcome_unknown is False  # never connected, so nothing was sent
    assert error.attempts == 1
    assert error.idempotency_key


def test_slow_answer_raises_timeout_error_which_is_the_builtin_too(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    emulator.set_faults(delay=1.0, delay_ms=2000)
    error = expect_error(refundkit.TimeoutError, emulator.client(max_retries=0, timeout=0.2).refund, checkout_id)

    assert isinstance(error, builtins.TimeoutError)
    assert isinstance(error, refundkit.NetworkError)
    assert error.outcome_unknown is True
    assert error.retryable is True
    assert error.idempotency_key and error.idempotency_key in str(error)

    # Retrying later with the key from the error settles it: one refund.
    emulator.clear_faults()
    retried = emulator.client(max_retries=6).refund(checkout_id, idempotency_key=error.idempotency_key)
    assert retried.idempotency_key == error.idempotency_key
    assert [r["idempotencyKey"] for r in emulator.ledger(checkout_id)] == [error.idempotency_key]
