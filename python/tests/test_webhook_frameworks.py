"""The README's webhook receivers for Flask, FastAPI and Django, served for
real: the emulator delivers a signed `refund.succeeded` to each over HTTP
and the example verifies the raw body it was given. A tampered delivery is
refused, and a body parsed by the framework is refused with the way out."""

from __future__ import annotations

import json
import queue
import socket
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

import refundkit
from support import LIVE_KEY, SECRETS, Emulator, expect_error

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))


@contextmanager
def flask_server(verifier: refundkit.WebhookVerifier, on_event: Callable[[refundkit.WebhookEvent], None]) -> Iterator[str]:
    from werkzeug.serving import make_server

    import webhooks_flask

    server = make_server("127.0.0.1", 0, webhooks_flask.create_app(verifier, on_event), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/webhooks/refundkit"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def fastapi_server(verifier: refundkit.WebhookVerifier, on_event: Callable[[refundkit.WebhookEvent], None]) -> Iterator[str]:
    import uvicorn

    import webhooks_fastapi

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(webhooks_fastapi.create_app(verifier, on_event), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks/refundkit"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def django_server(verifier: refundkit.WebhookVerifier, on_event: Callable[[refundkit.WebhookEvent], None]) -> Iterator[str]:
    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.urls import clear_url_caches, path
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    import webhooks_django

    urls = types.ModuleType("refundkit_webhook_test_urls")
    urls.urlpatterns = [path("webhooks/refundkit", webhooks_django.make_view(verifier, on_event))]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="not-secret-for-tests-only",
            ALLOWED_HOSTS=["127.0.0.1"],
            ROOT_URLCONF=urls.__name__,
            MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
            USE_TZ=True,
        )
        django.setup()
    clear_url_caches()

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

    server = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/webhooks/refundkit"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


SERVERS = {"flask": flask_server, "fastapi": fastapi_server, "django": django_server}


@pytest.mark.parametrize("framework", sorted(SERVERS))
def test_the_framework_example_verifies_a_real_delivery(framework: str, emulator: Emulator) -> None:
    events: "queue.Queue[refundkit.WebhookEvent]" = queue.Queue()
    received: List[str] = []

    def on_event(event: refundkit.WebhookEvent) -> None:
        received.append(event.type)
        events.put(event)

    secret_holder: List[str] = []
    verifier_ready = threading.Event()

    # The secret is issued when the endpoint is registered, and the endpoint
    # needs the server's port: start the server with a verifier that waits.
    class LateVerifier:
        def verify(self, headers: Any, body: Any) -> refundkit.WebhookEvent:
            verifier_ready.wait(30)
            return refundkit.WebhookVerifier(secret_holder[0]).verify(headers, body)

    with SERVERS[framework](LateVerifier(), on_event) as url:  # type: ignore[arg-type]
        with emulator_webhook(emulator, url) as secret:
            secret_holder.append(secret)
            verifier_ready.set()
            checkout_id = emulator.paid_checkout(4_000)
            refund = emulator.client().refund(checkout_id, amount=1_500)
            while True:
                event = events.get(timeout=30)
                if event.type == "refund.succeeded":
                    break
            assert event.refund_id == refund.refund_id
            assert event.checkout_id == checkout_id
            assert event.amount == 1_500

            # Someone else's body under a real signature: refused with 400.
            tampered = urllib.request.Request(
                url,
                data=b'{"id":"evt_forged","type":"refund.succeeded"}',
                headers={
                    "content-type": "application/json",
                    "webhook-id": "msg_1",
                    "webhook-timestamp": str(int(time.time())),
                    "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                },
                method="POST",
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(tampered, timeout=30)
            refused.value.close()
            assert refused.value.code == 400
    assert set(received) <= {"payment.succeeded", "refund.succeeded"}


@contextmanager
def emulator_webhook(emulator: Emulator, url: str) -> Iterator[Any]:
    registered = emulator.call("POST", "/api/webhooks", {"name": "framework-tests", "url": url}, key=LIVE_KEY)
    SECRETS.append(registered["secret"])
    try:
        yield registered["secret"]
    finally:
        emulator.call("DELETE", f"/api/webhooks/{registered['id']}", key=LIVE_KEY)


def test_a_parsed_body_is_refused_with_the_way_to_the_raw_bytes() -> None:
    from test_webhooks import CASE, NOW, SECRET

    verifier = refundkit.WebhookVerifier(SECRET)
    for parsed in (json.loads(CASE["body"]), [json.loads(CASE["body"])]):
        error = expect_error(TypeError, verifier.verify, CASE["headers"], parsed, now=NOW)
        assert "raw request bytes" in str(error)
        assert "request.get_data()" in str(error) and "await request.body()" in str(error)
    # Parsed and serialised again: the signature no longer matches, and the
    # error says why that usually happens.
    reserialised = json.dumps(json.loads(CASE["body"]))
    error = expect_error(refundkit.WebhookVerificationError, verifier.verify, CASE["headers"], reserialised, now=NOW)
    assert "raw request bytes" in str(error)
    assert verifier.verify(CASE["headers"], CASE["body"], now=NOW).id == "evt_1"
