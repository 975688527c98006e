"""Every case of tests/vectors/*.json, through the public Python API."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from typing import Any, Dict, Iterator, List, Optional, Type

import pytest

import refundkit
from support import SECRETS, Emulator, load_vector_document, load_vectors, remember

ERROR_CLASS_BY_KIND: Dict[str, Type[refundkit.RefundKitError]] = {
    "configuration": refundkit.ConfigurationError,
    "invalid_input": refundkit.InvalidInputError,
    "authentication": refundkit.AuthenticationError,
    "not_found": refundkit.NotFoundError,
    "invalid_request": refundkit.InvalidRequestError,
    "already_refunded": refundkit.AlreadyRefundedError,
    "idempotency_conflict": refundkit.IdempotencyConflictError,
    "idempotency_mismatch": refundkit.IdempotencyMismatchError,
    "rate_limited": refundkit.RateLimitError,
    "server": refundkit.ServerError,
    "network": refundkit.NetworkError,
    "timeout": refundkit.TimeoutError,
    "unexpected_response": refundkit.UnexpectedResponseError,
    "webhook_verification": refundkit.WebhookVerificationError,
}

WEBHOOK_CASES = load_vectors("webhooks")
ERROR_CASES = load_vectors("errors")
ERROR_CHECKOUT_ID: str = load_vector_document("errors")["checkout_id"]
VALIDATION_CASES = load_vectors("validation")

for case in WEBHOOK_CASES:
    SECRETS.extend(case.get("secrets", [case["secret"]]))
for case in VALIDATION_CASES:
    if "secret_key" in case["input"]:
        SECRETS.append(case["input"]["secret_key"])
SECRETS.append("sk_live_0123456789abcdefghij")


# --- webhooks.json -----------------------------------------------------------


@pytest.mark.parametrize("case", WEBHOOK_CASES, ids=[c["name"] for c in WEBHOOK_CASES])
def test_webhook_vector(case: Dict[str, Any]) -> None:
    secrets = case.get("secrets", case["secret"])
    if "tolerance" in case:
        verifier = refundkit.WebhookVerifier(secrets, tolerance=case["tolerance"])
    else:
        verifier = refundkit.WebhookVerifier(secrets)
    remember(verifier)
    expect = case["expect"]
    if not expect["ok"]:
        with pytest.raises(refundkit.WebhookVerificationError) as raised:
            verifier.verify(case["headers"], case["body"].encode(), now=case["now"])
        remember(raised.value)
        assert expect["error_contains"] in str(raised.value)
        assert raised.value.kind == "webhook_verification"
        return
    event = verifier.verify(case["headers"], case["body"].encode(), now=case["now"])
    remember(event)
    for field in ("id", "type", "created_date", "refund_id", "checkout_id", "amount", "status", "failure_reason"):
        assert getattr(event, field) == expect[field], field
    assert event.webhook_id == case["headers"].get("webhook-id", event.webhook_id)
    assert event.payload == json.loads(case["body"]).get("payload", {})


# --- errors.json: a scripted server answers, the real client parses ----------


class ScriptedServer(http.server.ThreadingHTTPServer):
    """Answers every request with `self.case`; remembers what it received."""

    case: Dict[str, Any]
    received: List[Dict[str, Any]]


class ScriptedHandler(http.server.BaseHTTPRequestHandler):
    server: ScriptedServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        self.server.received.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
        case = self.server.case
        payload = case["body"].encode()
        self.send_response(case["status"])
        for name, value in case["headers"].items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - overrides the stdlib signature
        pass


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer(("127.0.0.1", 0), ScriptedHandler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c["name"] for c in ERROR_CASES])
def test_error_vector(case: Dict[str, Any], scripted: ScriptedServer) -> None:
    scripted.case = case
    scripted.received.clear()
    host, port = scripted.server_address[:2]
    client = refundkit.Client("sk_live_0123456789abcdefghij", base_url=f"http://{host!s}:{port}", max_retries=0)
    checkout_id = ERROR_CHECKOUT_ID
    expect = case["expect"]

    if expect["ok"]:
        refund = client.refund(checkout_id, idempotency_key="vector-key")
        remember(refund)
        for field in ("checkout_id", "refund_id", "status", "message", "replayed", "request_id"):
            assert getattr(refund, field) == expect[field], field
        assert refund.succeeded is (expect["status"] in ("successful", "succeeded"))
        assert refund.idempotency_key == "vector-key"
        assert refund.attempts == 1
    else:
        with pytest.raises(refundkit.RefundKitError) as raised:
            client.refund(checkout_id, idempotency_key="vector-key")
        error = raised.value
        remember(error)
        assert type(error) is ERROR_CLASS_BY_KIND[expect["kind"]]
        assert error.kind == expect["kind"]
        assert error.message == expect["message"]
        assert error.retryable is expect["retryable"]
        assert error.outcome_unknown is expect["outcome_unknown"]
        assert error.error_code == expect["error_code"]
        assert error.request_id == expect["request_id"]
        assert error.status == case["status"]
        assert error.idempotency_key == "vector-key"
        assert error.body == (case["body"] or None)
        assert error.attempts == 1
        assert isinstance(error, refundkit.ApiError)

    [request] = scripted.received
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert request["path"] == f"/api/checkouts/{checkout_id}/refund"
    assert headers["idempotency-key"] == "vector-key"
    assert headers["authorization"] == "Bearer sk_live_0123456789abcdefghij"
    assert headers["user-agent"].startswith(f"refundkit/{refundkit.__version__} (python; ")
    assert request["body"] == b"{}"


# --- validation.json: refused before any I/O ---------------------------------


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("case", VALIDATION_CASES, ids=[c["name"] for c in VALIDATION_CASES])
def test_validation_vector(case: Dict[str, Any], emulator: Emulator) -> None:
    given = dict(case["input"])
    kind: Optional[str] = case["expect"]["kind"]
    secret_key = given.pop("secret_key", "sk_live_0123456789abcdefghij")
    # Invalid calls aim at the emulator, whose counters prove nothing was
    # sent; valid ones at a closed port, where they may only fail to connect.
    base_url = given.pop("base_url", emulator.url if kind else closed_port_url())
    before = emulator.refund_requests()

    error: refundkit.RefundKitError
    if kind == "configuration":
        with pytest.raises(refundkit.ConfigurationError) as configuration:
            refundkit.Client(secret_key, base_url=base_url)
        error = configuration.value
    else:
        client = refundkit.Client(secret_key, base_url=base_url, max_retries=0)
        remember(client)
        expected = refundkit.NetworkError if kind is None else refundkit.InvalidInputError
        with pytest.raises(expected) as refused:
            client.refund(**given)
        error = refused.value
    remember(error)

    if kind is not None:
        assert type(error) is ERROR_CLASS_BY_KIND[kind]
        assert error.kind == kind
        assert error.field == case["expect"]["field"]
        assert error.status is None
        assert error.attempts == 0
        assert isinstance(error, ValueError) == (kind == "invalid_input")
    assert emulator.refund_requests() == before


# --- a server that echoes the secret key in every field it sends ------------

ECHOED_KEY = "sk_live_echoedBackByTheServer0123"
SECRETS.append(ECHOED_KEY)


@pytest.mark.parametrize("status", [202, 400, 500])
def test_a_server_echoing_the_key_everywhere_shows_it_nowhere(status: int, scripted: ScriptedServer) -> None:
    k = ECHOED_KEY
    scripted.case = {
        "status": status,
        "headers": {"x-request-id": f"req_{k}"},
        "body": json.dumps({"refundId": f"rfd_{k}", "message": k, "status": k, "errorCode": k, "errorMessage": k}),
    }
    host, port = scripted.server_address[:2]
    client = refundkit.Client(k, base_url=f"http://{host!s}:{port}", max_retries=0)
    texts: List[str] = []
    if status == 202:
        refund = client.refund("ch_1")
        remember(refund)
        texts += [repr(refund), str(refund), refund.refund_id, refund.status, str(refund.message), str(refund.request_id)]
        assert refund.refund_id.startswith("rfd_sk_live_…")
    else:
        with pytest.raises(refundkit.RefundKitError) as raised:
            client.refund("ch_1")
        error = raised.value
        remember(error)
        texts += [repr(error), str(error), error.message, str(error.body), str(error.error_code), str(error.request_id)]
        assert error.request_id == "req_sk_live_…0123"
    hidden = k.removeprefix("sk_live_")[:-4]
    assert not [t for t in texts if hidden in t]


# --- keys.json: idempotency_key_for -----------------------------------------

KEYS = load_vector_document("keys")


@pytest.mark.parametrize("case", KEYS["cases"], ids=[c["name"] for c in KEYS["cases"]])
def test_key_vector(case: Dict[str, Any]) -> None:
    assert refundkit.idempotency_key_for(case["namespace"], *case["parts"]) == case["key"]


@pytest.mark.parametrize("case", KEYS["invalid"], ids=[c["name"] for c in KEYS["invalid"]])
def test_invalid_key_vector(case: Dict[str, Any]) -> None:
    with pytest.raises(refundkit.InvalidInputError) as raised:
        refundkit.idempotency_key_for(case["namespace"], *case["parts"])
    assert raised.value.field == case["field"]
