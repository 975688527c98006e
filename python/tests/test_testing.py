"""`refundkit.testing`: the in-process emulator users put in their own
tests, checked by real refunds through the real client against it."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
from typing import Iterator, List, Tuple

import pytest

import refundkit
from refundkit.testing import Emulator
from support import SECRETS, expect_error, remember


@pytest.fixture
def emulator(refundkit_emulator: Emulator) -> Iterator[Emulator]:
    """The fixture the package registers with pytest (no conftest code)."""
    SECRETS.append(refundkit_emulator.secret_key)
    yield refundkit_emulator


def test_the_fixture_is_a_running_emulator_with_its_own_live_key(emulator: Emulator) -> None:
    assert isinstance(emulator, Emulator)
    assert emulator.url == f"http://127.0.0.1:{emulator.port}"
    assert emulator.secret_key.startswith("sk_live_")
    remember(emulator)
    assert emulator.secret_key not in repr(emulator)


def test_a_paid_checkout_is_refunded_and_the_ledger_shows_it(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(5_000)
    refund = emulator.client().refund(checkout_id, amount=1_200, metadata={"order": "42"})

    [row] = emulator.refunds(checkout_id)
    remember(row)
    assert (row.refund_id, row.checkout_id) == (refund.refund_id, checkout_id)
    assert (row.amount, row.currency, row.status, row.mode) == (1_200, "ZAR", "succeeded", "live")
    assert row.idempotency_key == refund.idempotency_key
    assert row.metadata == {"order": "42"}
    assert row.payment_id is not None and row.payment_id.startswith("p_")
    assert [r.refund_id for r in emulator.refunds()] == [refund.refund_id]


def test_another_key_is_refused(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(5_000)
    client = refundkit.Client("sk_live_notTheEmulatorsKey0000", base_url=emulator.url)
    expect_error(refundkit.AuthenticationError, client.refund, checkout_id)
    assert emulator.refunds(checkout_id) == []


def test_a_bad_amount_is_refused_before_anything_is_made(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="at least 200"):
        emulator.paid_checkout(199)


def test_a_lost_answer_is_retried_with_the_same_key_and_refunds_once(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(5_000)
    emulator.faults(drop_after=1.0)
    error = expect_error(refundkit.NetworkError, emulator.client(max_retries=2).refund, checkout_id)
    assert error.outcome_unknown is True
    assert error.attempts == 3
    [row] = emulator.refunds(checkout_id)
    assert row.idempotency_key == error.idempotency_key

    emulator.faults()
    again = emulator.client().refund(checkout_id, idempotency_key=error.idempotency_key)
    assert again.replayed is True
    assert [r.refund_id for r in emulator.refunds(checkout_id)] == [again.refund_id]


def test_server_errors_are_retried_and_nothing_is_refunded(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(5_000)
    assert emulator.faults(error_5xx=1.0)["error_5xx"] == 1.0
    error = expect_error(refundkit.ServerError, emulator.client(max_retries=1).refund, checkout_id)
    assert error.attempts == 2
    assert emulator.refunds(checkout_id) == []


def test_faults_take_the_emulators_names_and_refuse_others(emulator: Emulator) -> None:
    set_now = emulator.faults(rate_limit=0.5, retry_after_secs=1, seed=7)
    assert (set_now["rate_limit"], set_now["retry_after_secs"], set_now["seed"]) == (0.5, 1, 7)
    with pytest.raises(ValueError, match="unknown field `error_500`.*error_5xx"):
        emulator.faults(error_500=1.0)
    with pytest.raises(ValueError, match="drop_before must be a probability"):
        emulator.faults(drop_before=2.0)
    assert emulator.faults() == {**set_now, "rate_limit": 0.0, "retry_after_secs": 0, "seed": None}


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: List[Tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_a_refund_event_is_signed_and_sent_to_a_registered_url(emulator: Emulator) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
        subscription = emulator.register_webhook(url)
        SECRETS.append(subscription.secret)
        remember(subscription)
        checkout_id = emulator.paid_checkout(5_000)
        refund = emulator.client().refund(checkout_id, amount=500)

        [delivery] = emulator.wait_for_deliveries("refund.succeeded")
        remember(delivery)
        assert (delivery.url, delivery.status, delivery.error, delivery.attempt) == (url, 204, None, 1)
        event = refundkit.WebhookVerifier(subscription.secret).verify(delivery.headers, delivery.body)
        assert (event.type, event.refund_id, event.checkout_id, event.amount) == (
            "refund.succeeded",
            refund.refund_id,
            checkout_id,
            500,
        )
        # What the receiver got is exactly what the log holds.
        received = [(h, b) for h, b in _Receiver.received if h["webhook-id"] == delivery.webhook_id]
        assert received == [(received[0][0], delivery.body)]
        assert received[0][0]["webhook-signature"] == delivery.headers["webhook-signature"]
    finally:
        server.shutdown()
        server.server_close()


def test_deliveries_to_a_url_nobody_serves_are_logged_signed(emulator: Emulator) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    subscription = emulator.register_webhook(f"http://127.0.0.1:{port}/nobody")
    SECRETS.append(subscription.secret)
    emulator.paid_checkout(5_000)

    first, second = emulator.wait_for_deliveries("payment.succeeded", count=2)
    assert (first.attempt, second.attempt) == (1, 2)
    assert first.status is None and first.error
    assert first.webhook_id == second.webhook_id
    event = refundkit.WebhookVerifier(subscription.secret).verify(second.headers, second.body)
    assert event.type == "payment.succeeded"
    with pytest.raises(TimeoutError, match="refund.succeeded"):
        emulator.wait_for_deliveries("refund.succeeded", timeout=0.05)


def test_two_emulators_at_once_are_separate() -> None:
    with Emulator() as one, Emulator() as two:
        SECRETS.extend([one.secret_key, two.secret_key])
        assert one.port != two.port
        assert one.secret_key != two.secret_key
        checkout_id = one.paid_checkout(1_000)
        one.client().refund(checkout_id)
        assert len(one.refunds()) == 1 and two.refunds() == []
        expect_error(refundkit.NotFoundError, two.client().refund, checkout_id)


def test_closing_frees_the_port_and_ends_the_emulator() -> None:
    emulator = Emulator()
    SECRETS.append(emulator.secret_key)
    port, client = emulator.port, emulator.client(max_retries=0)
    checkout_id = emulator.paid_checkout(1_000)
    client.refund(checkout_id, amount=1)  # leaves a keep-alive connection open
    emulator.close()
    emulator.close()  # twice is fine

    assert emulator.closed and "closed" in repr(emulator)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with socket.socket() as rebind:
        # As any server binds (the connections it closed linger in TIME_WAIT);
        # this fails while something still listens on the port.
        rebind.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        rebind.bind(("127.0.0.1", port))
        rebind.listen()
    with pytest.raises(RuntimeError, match="closed"):
        emulator.refunds()
    expect_error(refundkit.NetworkError, client.refund, checkout_id, amount=1)


def test_the_package_imports_without_pytest() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import refundkit.testing\n"
        "with refundkit.testing.Emulator() as e: print(e.paid_checkout(300)[:3])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "ch_"), out.stderr
