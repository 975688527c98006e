"""Refund webhooks in Django: verify `request.body`, never `json.loads` of it.

Route it with `path("webhooks/refundkit", make_view(verifier, on_event))`.
Webhooks carry no CSRF token, so the view is exempt; the signature is what
authenticates them.
"""

from __future__ import annotations

from typing import Callable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import refundkit


def make_view(
    verifier: refundkit.WebhookVerifier, on_event: Callable[[refundkit.WebhookEvent], None]
) -> Callable[[HttpRequest], HttpResponse]:
    """A Django view that verifies deliveries."""

    @csrf_exempt
    @require_POST
    def refundkit_webhook(request: HttpRequest) -> HttpResponse:
        try:
            event = verifier.verify(request.headers, request.body)
        except refundkit.WebhookVerificationError:
            return HttpResponse(status=400)
        on_event(event)
        return HttpResponse(status=204)

    return refundkit_webhook
