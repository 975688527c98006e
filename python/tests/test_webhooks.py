"""WebhookVerifier beyond the vectors: the header and body types web
frameworks hand over, rotation, and a real delivery from the emulator
(the in-process one of `refundkit.testing`)."""

from __future__ import annotations

import email.message
import http.server
import json
import queue
import threading
from typing import Any, Dict, Iterator, Mapping

import pytest

import refundkit
from refundkit import testing
from support import SECRETS, expect_error, load_vectors, remember

CASE = next(c for c in load_vectors("webhooks") if c["name"] == "refund_succeeded")
SECRET = CASE["secret"]
NOW = CASE["now"]
BODY = CASE["body"]


class CaseInsensitiveHeaders(Mapping[str, str]):
    """Like the headers objects of Starlette, Django and Flask."""

    def __init__(self, pairs: Dict[str, str]) -> None:
        self._pairs = {k.title(): v for k, v in pairs.items()}

    def __getitem__(self, name: str) -> str:
        return self._pairs[name.title()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)


def test_accepts_a_case_insensitive_mapping_a_pair_list_and_an_email_message() -> None:
    verifier = refundkit.WebhookVerifier(SECRET)
    message = email.message.Message()
    for name, value in CASE["headers"].items():
        message[name] = value
    for headers in (
        CaseInsensitiveHeaders(CASE["headers"]),
        list(CASE["headers"].items()),
        message.items(),
    ):
        event = verifier.verify(headers, BODY.encode(), now=NOW)
        assert event.refund_id == "rfd_abc"


def test_body_may_be_str_or_bytearray() -> None:
    verifier = refundkit.WebhookVerifier(SECRET)
    assert verifier.verify(CASE["headers"], BODY, now=NOW).id == "evt_1"
    assert verifier.verify(CASE["headers"], bytearray(BODY.encode()), now=NOW).id == "evt_1"


def test_payload_is_the_same_plain_dict_each_time() -> None:
    event = refundkit.WebhookVerifier(SECRET).verify(CASE["headers"], BODY, now=NOW)
    assert event.payload is event.payload
    assert event.payload == json.loads(BODY)["payload"]
    assert event.payment_id == "p_xyz" and event.currency == "ZAR" and event.mode == "live"


def test_default_clock_rejects_an_old_delivery() -> None:
    error = expect_error(
        refundkit.WebhookVerificationError, refundkit.WebhookVerifier(SECRET).verify, CASE["headers"], BODY
    )
    assert "too old" in str(error)
    assert error.retryable is False and error.status is None


def test_bad_secrets_and_types_are_refused() -> None:
    error = expect_error(refundkit.ConfigurationError, refundkit.WebhookVerifier, "whsec_not base64!")
    assert error.field == "secret"
    assert expect_error(refundkit.ConfigurationError, refundkit.WebhookVerifier, []).field == "secret"
    assert expect_error(refundkit.ConfigurationError, refundkit.WebhookVerifier, SECRET, tolerance=-1).field == "tolerance"
    expect_error(TypeError, refundkit.WebhookVerifier, 42)
    verifier = refundkit.WebhookVerifier(SECRET)
    expect_error(TypeError, verifier.verify, CASE["headers"], 42, now=NOW)
    expect_error(TypeError, verifier.verify, {"webhook-id": 1}, BODY, now=NOW)


def test_repr_shows_no_secret() -> None:
    verifier = refundkit.WebhookVerifier([SECRET, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"], tolerance=180)
    remember(verifier)
    assert repr(verifier) == "refundkit.WebhookVerifier(secrets=2, tolerance=180)"


class Receiver(http.server.ThreadingHTTPServer):
    deliveries: "queue.Queue[Dict[str, Any]]"


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.deliveries.put({"headers": self.headers, "body": body})
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - overrides the stdlib signature
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), ReceiverHandler)
    server.deliveries = queue.Queue()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_real_refund_webhook_verifies_and_matches_the_refund(
    refundkit_emulator: testing.Emulator, receiver: Receiver
) -> None:
    emulator = refundkit_emulator
    SECRETS.append(emulator.secret_key)
    host, port = receiver.server_address[:2]
    registered = emulator.register_webhook(f"http://{host!s}:{port}/hook", "python-tests")
    SECRETS.append(registered.secret)
    verifier = refundkit.WebhookVerifier(registered.secret)
    checkout_id = emulator.paid_checkout(3_000)
    refund = emulator.client().refund(checkout_id, amount=1_000)

    events = []
    while True:
        delivery = receiver.deliveries.get(timeout=30)
        event = verifier.verify(delivery["headers"].items(), delivery["body"])
        events.append(event.type)
        if event.type == "refund.succeeded":
            break
    assert set(events) <= {"payment.succeeded", "refund.succeeded"}
    assert event.refund_id == refund.refund_id
    assert event.checkout_id == checkout_id
    assert event.amount == 1_000
    assert event.status == "succeeded"
    assert event.failure_reason is None
