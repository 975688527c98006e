# Type stubs of the native module (bindings/python). Checked against the
# built module by `python -m mypy.stubtest refundkit._native`.

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Callable, final

__all__ = [
    "AsyncClient",
    "Client",
    "LoopBridge",
    "Refund",
    "WebhookEvent",
    "WebhookVerifier",
    "TestEmulator",
    "LedgerRefund",
    "WebhookSubscription",
    "Delivery",
    "new_idempotency_key",
    "idempotency_key_for",
    "__version__",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "DEFAULT_WEBHOOK_TOLERANCE",
]

__version__: str
DEFAULT_BASE_URL: str
DEFAULT_MAX_RETRIES: int
DEFAULT_TIMEOUT: float
DEFAULT_TOTAL_TIMEOUT: float
DEFAULT_WEBHOOK_TOLERANCE: float

def idempotency_key_for(namespace: str, *parts: str) -> str:
    """A deterministic idempotency key (a UUIDv5) for `parts` within
    `namespace`: the same arguments give the same key in every language,
    so a retry after a restart replays instead of refunding twice."""

def new_idempotency_key() -> str:
    """A fresh idempotency key (a UUIDv4), as the clients make when none is given."""

@final
class Client:
    """Refunds through the Checkout API, blocking the calling thread.

    One instance is meant to be shared by every thread of a process: it
    pools connections, and the GIL is released while a call waits.
    """

    def __new__(
        cls,
        secret_key: str,
        base_url: str | None = None,
        max_retries: int = ...,
        timeout: float = ...,
        total_timeout: float = ...,
        *,
        proxy: str | None = None,
    ) -> Client: ...
    @staticmethod
    def for_relay(
        base_url: str,
        token_provider: Callable[[bool], str],
        max_retries: int = ...,
        timeout: float = ...,
        total_timeout: float = ...,
    ) -> Client:
        """A token-mode client: an app's client of the merchant's relay at
        `base_url`, authenticating with `token_provider(force_refresh)`'s
        bearer tokens instead of a secret key."""
    def refund(
        self,
        checkout_id: str,
        amount: int | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Refund:
        """Refunds `checkout_id` (all that is left, or `amount` cents).

        Raises a `refundkit.RefundKitError` subclass on failure. If Ctrl-C
        interrupts the call, the `KeyboardInterrupt` carries the key that
        was being sent as `.idempotency_key`.
        """
    def close(self) -> None:
        """Releases the connection pool; later calls raise `RuntimeError`."""
    def __enter__(self) -> Client: ...
    def __exit__(
        self,
        *_exc_info: type[BaseException] | BaseException | TracebackType | None,
    ) -> None: ...

@final
class AsyncClient:
    """The native half of `refundkit.AsyncClient`; use that class instead."""

    def __new__(
        cls,
        secret_key: str,
        base_url: str | None = None,
        max_retries: int = ...,
        timeout: float = ...,
        total_timeout: float = ...,
        *,
        proxy: str | None = None,
    ) -> AsyncClient: ...
    @staticmethod
    def for_relay(
        base_url: str,
        token_provider: Callable[[bool], object],
        max_retries: int = ...,
        timeout: float = ...,
        total_timeout: float = ...,
    ) -> AsyncClient:
        """A token-mode client: an app's client of the merchant's relay at
        `base_url`, authenticating with `token_provider(force_refresh)`'s
        bearer tokens instead of a secret key."""
    def refund(
        self,
        checkout_id: str,
        amount: int | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[asyncio.Future[Refund], str]:
        """Starts a refund; returns its future, delivered by
        pyo3-async-runtimes (for loops without `add_reader`), and the
        idempotency key the call sends."""
    def start_refund(
        self,
        bridge: LoopBridge,
        future: asyncio.Future[Refund],
        checkout_id: str,
        amount: int | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, str]:
        """Starts a refund whose outcome completes `future` (a future of the
        loop `bridge` serves); returns the call's number for `bridge.cancel`
        and the idempotency key the call sends. Unix only."""
    def close(self) -> None: ...

@final
class LoopBridge:
    """Hands calls finished on the I/O threads back to one asyncio loop,
    without those threads touching Python. Unix only; made by
    `refundkit.AsyncClient`, one per loop."""

    def __new__(cls) -> LoopBridge: ...
    def fileno(self) -> int:
        """The socket to watch for reading."""
    def drain(self) -> None:
        """Completes the futures of every finished call (the reader callback)."""
    def cancel(self, call: int) -> None:
        """Abandons call `call` (its future was cancelled)."""

@final
class Refund:
    """An accepted refund. Immutable and hashable; equal when every field is."""

    def __new__(
        cls,
        *,
        checkout_id: str,
        refund_id: str,
        status: str,
        idempotency_key: str,
        message: str | None = None,
        replayed: bool = False,
        attempts: int = 1,
        request_id: str | None = None,
        elapsed: float = 0.0,
    ) -> Refund: ...
    @property
    def checkout_id(self) -> str:
        """The refunded checkout (`ch_…`)."""
    @property
    def refund_id(self) -> str:
        """The refund (`rfd_…`); webhooks carry the same id."""
    @property
    def status(self) -> str:
        """The status the service reported, as sent (`successful`, `pending`, …)."""
    @property
    def succeeded(self) -> bool:
        """Whether `status` says the refund was made (`successful` or
        `succeeded`); `pending`, `failed` and anything else are not."""
    @property
    def message(self) -> str | None:
        """The service's message, e.g. `Your refund has been processed`."""
    @property
    def idempotency_key(self) -> str:
        """The idempotency key actually sent: persist it to retry safely."""
    @property
    def replayed(self) -> bool:
        """Whether the service replayed an earlier answer for this key."""
    @property
    def attempts(self) -> int:
        """How many HTTP attempts the call made."""
    @property
    def request_id(self) -> str | None:
        """The service's request id, when it sent one."""
    @property
    def elapsed(self) -> float:
        """Seconds from the first attempt's start to the answer, backoff included."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class WebhookVerifier:
    """Verifies Standard Webhooks signatures and parses the events.

    `secret` is one `whsec_…` secret, or a sequence of them while rotating.
    `tolerance` is how many seconds `webhook-timestamp` may be from now.
    """

    def __new__(cls, secret: str | Sequence[str], tolerance: float = ...) -> WebhookVerifier: ...
    def verify(
        self,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes | bytearray | str,
        *,
        now: int | None = None,
    ) -> WebhookEvent:
        """Verifies one delivery and returns its event.

        `headers`: any mapping of header names to values (names compare
        case-insensitively) or an iterable of `(name, value)` pairs.
        `body`: the raw body as received. `now` (Unix seconds) replaces the
        clock. Raises `refundkit.WebhookVerificationError` with the reason.
        """

@final
class WebhookEvent:
    """A verified webhook event. Fields absent from the payload are `None`."""

    @property
    def id(self) -> str:
        """The event id (`evt_…`)."""
    @property
    def webhook_id(self) -> str:
        """The `webhook-id` header: deduplicate deliveries on this."""
    @property
    def type(self) -> str:
        """The event type, e.g. `refund.succeeded`."""
    @property
    def created_date(self) -> str | None:
        """`createdDate`, as sent."""
    @property
    def payload(self) -> dict[str, Any]:
        """The raw `payload` object as `json.loads` would give it (the same
        dict on every access; empty when the event has no payload)."""
    @property
    def refund_id(self) -> str | None:
        """The refund (`rfd_…`) of a `refund.*` event."""
    @property
    def checkout_id(self) -> str | None:
        """The checkout refunded or paid (`ch_…`)."""
    @property
    def payment_id(self) -> str | None:
        """The payment refunded or made (`p_…`)."""
    @property
    def amount(self) -> int | None:
        """Cents refunded by this refund, or paid."""
    @property
    def currency(self) -> str | None:
        """Currency code, e.g. `ZAR`."""
    @property
    def status(self) -> str | None:
        """`succeeded` or `failed`."""
    @property
    def mode(self) -> str | None:
        """`live` or `test`."""
    @property
    def failure_reason(self) -> str | None:
        """Why the refund failed (`refund.failed` only)."""

@final
class TestEmulator:
    """The native half of `refundkit.testing.Emulator`; use that class instead."""

    def __new__(cls, webhook_time_scale: float) -> TestEmulator: ...
    @property
    def url(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def secret_key(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def paid_checkout(self, amount: int, metadata: Mapping[str, str] | None = None) -> str: ...
    def refunds(self, checkout_id: str | None = None) -> list[LedgerRefund]: ...
    def set_faults(self, faults_json: str) -> str:
        """Sets the faults from their JSON object; answers them as JSON."""
    def faults_json(self) -> str:
        """The current faults, as JSON."""
    def register_webhook(self, url: str, name: str) -> WebhookSubscription: ...
    def deliveries(self) -> list[Delivery]: ...
    def wait_for_deliveries(
        self, event_type: str | None, count: int, timeout: float
    ) -> list[Delivery]: ...
    def reset(self) -> None: ...
    def close(self) -> None:
        """Stops the server (gracefully, up to 10 s); the port is free once
        this returns. Closing twice is allowed."""

@final
class LedgerRefund:
    """A refund the emulator actually made (one row of its ledger)."""

    @property
    def refund_id(self) -> str: ...
    @property
    def checkout_id(self) -> str: ...
    @property
    def payment_id(self) -> str | None: ...
    @property
    def amount(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def status(self) -> str:
        """`succeeded`, or `failed` for checkouts set up to fail."""
    @property
    def mode(self) -> str: ...
    @property
    def idempotency_key(self) -> str | None: ...
    @property
    def metadata(self) -> dict[str, str] | None: ...
    @property
    def created_date(self) -> str: ...

@final
class WebhookSubscription:
    """A webhook subscription; `secret` is what `WebhookVerifier` needs."""

    @property
    def id(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def secret(self) -> str: ...

@final
class Delivery:
    """One webhook delivery attempt: where, how it ended, and the signed
    request (`headers`, `body`) to give to `WebhookVerifier.verify`."""

    @property
    def webhook_id(self) -> str: ...
    @property
    def subscription_id(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def status(self) -> int | None:
        """The receiver's status; `None` when it did not answer."""
    @property
    def error(self) -> str | None: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def headers(self) -> dict[str, str]:
        """`webhook-id`, `webhook-timestamp`, `webhook-signature`."""
    @property
    def body(self) -> bytes: ...
