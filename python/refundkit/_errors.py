"""The exceptions refundkit raises.

Every one carries the same fields, so a handler can always find the HTTP
status, the server's error code and request id, and above all the
idempotency key to retry with::

    RefundKitError
    ├── ConfigurationError          bad secret key, base URL or limit
    ├── InvalidInputError           (also ValueError) bad argument; nothing was sent
    ├── ApiError                    the service answered with an error
    │   ├── AuthenticationError     401/403
    │   ├── NotFoundError           404
    │   ├── InvalidRequestError     400
    │   │   └── AlreadyRefundedError
    │   ├── IdempotencyConflictError   409
    │   ├── IdempotencyMismatchError   422
    │   ├── RateLimitError          429
    │   ├── ServerError             5xx
    │   └── UnexpectedResponseError an answer the API does not document
    ├── NetworkError                no HTTP answer
    │   └── TimeoutError            (also the builtin TimeoutError)
    └── WebhookVerificationError

The native module builds these through :func:`_from_native`; this is the
only place that maps an error kind to a class.
"""

from __future__ import annotations

import builtins

# `typing` is needed by type checkers only; skipping it at run time keeps
# `import refundkit` fast (mypy treats TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar, Dict, Optional, Type

__all__ = [
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

class RefundKitError(Exception):
    """Base class of every refundkit error.

    ``str(error)`` is a sentence for people (never the secret key). When
    ``outcome_unknown`` is true the refund may have been made although the
    call failed: retry later with ``idempotency_key`` and the service will
    answer for the first request instead of refunding twice.
    """

    KIND: ClassVar[str] = "unknown"

    #: A stable snake_case name of what went wrong, e.g. ``"not_found"``.
    kind: str
    #: The explanation: the server's message when it gave one.
    message: str
    #: The HTTP status, when the service answered.
    status: Optional[int]
    #: The service's ``errorCode``, when it sent one.
    error_code: Optional[str]
    #: The service's request id (``x-request-id``), when it sent one.
    request_id: Optional[str]
    #: The idempotency key the call sent (None when nothing was sent).
    idempotency_key: Optional[str]
    #: The raw response body, when there was one.
    body: Optional[str]
    #: Whether the same request (same key) may succeed later.
    retryable: bool
    #: Whether the refund may have been made although this call failed.
    outcome_unknown: bool
    #: How many HTTP attempts were made (0 when nothing was sent).
    attempts: int
    #: For invalid input and configuration: the argument at fault.
    field: Optional[str]
    #: The service's ``Retry-After`` in seconds, when it sent one.
    retry_after: Optional[float]

    def __init__(
        self,
        message: str,
        *,
        kind: Optional[str] = None,
        display: Optional[str] = None,
        status: Optional[int] = None,
        error_code: Optional[str] = None,
        request_id: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        body: Optional[str] = None,
        retryable: bool = False,
        outcome_unknown: bool = False,
        attempts: int = 0,
        field: Optional[str] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(display if display is not None else message)
        self.kind = kind if kind is not None else self.KIND
        self.message = message
        self.status = status
        self.error_code = error_code
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        self.body = body
        self.retryable = retryable
        self.outcome_unknown = outcome_unknown
        self.attempts = attempts
        self.field = field
        self.retry_after = retry_after


class ConfigurationError(RefundKitError):
    """The client or verifier was given a bad secret, base URL or limit."""

    KIND = "configuration"


class InvalidInputError(RefundKitError, ValueError):
    """An argument failed validation (``field`` names it); nothing was sent."""

    KIND = "invalid_input"


class ApiError(RefundKitError):
    """The service answered with an error; ``status`` is set."""


class AuthenticationError(ApiError):
    """401/403: the secret key is missing or wrong."""

    KIND = "authentication"


class NotFoundError(ApiError):
    """404: the checkout does not exist for this key."""

    KIND = "not_found"


class InvalidRequestError(ApiError):
    """400: the refund was refused (validation or a declined refund)."""

    KIND = "invalid_request"


class AlreadyRefundedError(InvalidRequestError):
    """400: nothing is left to refund on this checkout."""

    KIND = "already_refunded"


class IdempotencyConflictError(ApiError):
    """409: a request with this idempotency key is still being processed."""

    KIND = "idempotency_conflict"


class IdempotencyMismatchError(ApiError):
    """422: this idempotency key was used for a different request."""

    KIND = "idempotency_mismatch"


class RateLimitError(ApiError):
    """429: too many requests; see ``retry_after``."""

    KIND = "rate_limited"


class ServerError(ApiError):
    """5xx: the service failed."""

    KIND = "server"


class UnexpectedResponseError(ApiError):
    """An answer the API does not document (an odd status or body)."""

    KIND = "unexpected_response"


class NetworkError(RefundKitError):
    """No HTTP answer: connection refused or reset, TLS or DNS failure."""

    KIND = "network"


class TimeoutError(NetworkError, builtins.TimeoutError):
    """No answer in time (per attempt or in total)."""

    KIND = "timeout"


class WebhookVerificationError(RefundKitError):
    """A webhook failed its signature, timestamp or format checks."""

    KIND = "webhook_verification"


_CLASS_BY_KIND: Dict[str, Type[RefundKitError]] = {
    cls.KIND: cls
    for cls in (
        ConfigurationError,
        InvalidInputError,
        AuthenticationError,
        NotFoundError,
        InvalidRequestError,
        AlreadyRefundedError,
        IdempotencyConflictError,
        IdempotencyMismatchError,
        RateLimitError,
        ServerError,
        UnexpectedResponseError,
        NetworkError,
        TimeoutError,
        WebhookVerificationError,
    )
}


# Shown as `refundkit.NotFoundError` in tracebacks, and pickled under that name.
for _cls in (RefundKitError, ApiError, *_CLASS_BY_KIND.values()):
    _cls.__module__ = "refundkit"
del _cls


def _from_native(message: str, *, kind: str, **fields: object) -> RefundKitError:
    """Builds the exception for a core error (called by the native module)."""
    import logging  # here, not at import time: errors are rare, imports are not

    cls = _CLASS_BY_KIND.get(kind, RefundKitError)
    error = cls(message, kind=kind, **fields)  # type: ignore[arg-type]
    logging.getLogger("refundkit").debug("%s: %s", cls.__name__, error)
    return error
