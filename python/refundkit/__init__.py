"""refundkit: refunds through the Checkout API, done right.

::

    import refundkit

    client = refundkit.Client("sk_live_...")
    refund = client.refund("ch_...", metadata={"order": "42"})
    print(refund.refund_id, refund.status, refund.idempotency_key)

- :class:`Client` blocks (the GIL is released while it waits);
  :class:`AsyncClient` is its asyncio twin. Share one per process.
- Every call sends an idempotency key (yours or a fresh UUIDv4) on every
  attempt and retries connection failures, timeouts, 409, 429 and 5xx.
- Failures raise a :class:`RefundKitError` subclass carrying the status,
  the server's error code and request id, and the idempotency key.
- :class:`WebhookVerifier` checks Standard Webhooks signatures and returns
  a typed :class:`WebhookEvent`.
- Logs go to ``logging.getLogger("refundkit")``: DEBUG per attempt, WARNING
  when a refund's outcome is unknown (see the README, "Logs").
"""

from refundkit._async import AsyncClient
from refundkit._errors import (
    AlreadyRefundedError,
    ApiError,
    AuthenticationError,
    ConfigurationError,
    IdempotencyConflictError,
    IdempotencyMismatchError,
    InvalidInputError,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
    RateLimitError,
    RefundKitError,
    ServerError,
    TimeoutError,
    UnexpectedResponseError,
    WebhookVerificationError,
)
from refundkit._native import (
    Client,
    Refund,
    WebhookEvent,
    WebhookVerifier,
    __version__,
    idempotency_key_for,
    new_idempotency_key,
)

__all__ = [
    "__version__",
    "Client",
    "AsyncClient",
    "Refund",
    "WebhookVerifier",
    "WebhookEvent",
    "new_idempotency_key",
    "idempotency_key_for",
    "RefundKitError",
    "ConfigurationError",
    "InvalidInputError",
    "ApiError",
    "AuthenticationError",
    "NotFoundError",
    "InvalidRequestError",
    "AlreadyRefundedError",
    "IdempotencyConflictError",
    "IdempotencyMismatchError",
    "RateLimitError",
    "ServerError",
    "UnexpectedResponseError",
    "NetworkError",
    "TimeoutError",
    "WebhookVerificationError",
]
