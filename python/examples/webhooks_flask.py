"""Refund webhooks in Flask: verify `request.get_data()`, never `request.json`.

Parsing the body and serialising it again changes the bytes the signature
covers, so `verify` must see the body exactly as it arrived.
"""

from __future__ import annotations

from typing import Callable

from flask import Flask, Response, request

import refundkit


def create_app(verifier: refundkit.WebhookVerifier, on_event: Callable[[refundkit.WebhookEvent], None]) -> Flask:
    """A Flask app that verifies deliveries at `POST /webhooks/refundkit`."""
    app = Flask(__name__)

    @app.post("/webhooks/refundkit")
    def refundkit_webhook() -> Response:
        try:
            event = verifier.verify(request.headers, request.get_data())
        except refundkit.WebhookVerificationError:
            return Response(status=400)
        on_event(event)
        return Response(status=204)

    return app
