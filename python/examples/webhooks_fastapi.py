"""Refund webhooks in FastAPI (and any Starlette app): verify `await request.body()`.

Declaring the body as a pydantic model or `dict` hands you a parsed copy,
which no longer matches the signature; take the `Request` instead.
"""

from __future__ import annotations

from typing import Callable

from fastapi import FastAPI, Request, Response

import refundkit


def create_app(verifier: refundkit.WebhookVerifier, on_event: Callable[[refundkit.WebhookEvent], None]) -> FastAPI:
    """A FastAPI app that verifies deliveries at `POST /webhooks/refundkit`."""
    app = FastAPI()

    @app.post("/webhooks/refundkit")
    async def refundkit_webhook(request: Request) -> Response:
        try:
            event = verifier.verify(request.headers, await request.body())
        except refundkit.WebhookVerificationError:
            return Response(status_code=400)
        on_event(event)
        return Response(status_code=204)

    return app
