"""Receive refund webhooks: verify, deduplicate, acknowledge.

    REFUNDKIT_WEBHOOK_SECRET=whsec_... python webhook_handler.py 8000

The same `verify(headers, body)` call works with the headers object of
Starlette/FastAPI (`request.headers`), Django (`request.headers`) or Flask
(`request.headers`) and the raw body bytes (`await request.body()`,
`request.body`, `request.get_data()`).
"""

from __future__ import annotations

import http.server
import os
import sys
import threading
from typing import Set

import refundkit

# Old and new secret while rotating: either signature is accepted.
VERIFIER = refundkit.WebhookVerifier(os.environ["REFUNDKIT_WEBHOOK_SECRET"].split(","), tolerance=300)
SEEN: Set[str] = set()
SEEN_LOCK = threading.Lock()


def handle_event(event: refundkit.WebhookEvent) -> None:
    if event.type == "refund.succeeded":
        print(f"refund {event.refund_id} of {event.checkout_id} succeeded: {event.amount} cents")
    elif event.type == "refund.failed":
        print(f"refund {event.refund_id} of {event.checkout_id} failed: {event.failure_reason}")
    else:
        print(f"ignoring {event.type} {event.id}")


class WebhookHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            event = VERIFIER.verify(self.headers.items(), body)
        except refundkit.WebhookVerificationError as error:
            self.send_error(400, str(error))
            return
        with SEEN_LOCK:
            first_delivery = event.webhook_id not in SEEN
            SEEN.add(event.webhook_id)
        if first_delivery:
            handle_event(event)
        self.send_response(204)
        self.end_headers()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    http.server.ThreadingHTTPServer(("127.0.0.1", port), WebhookHandler).serve_forever()
