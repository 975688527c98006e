"""An emulator of the Checkout API for your own tests, running inside the
test process: no binary to find, no port to pick.

::

    from refundkit.testing import Emulator

    with Emulator() as emulator:
        client = emulator.client()
        checkout_id = emulator.paid_checkout(5000)
        refund = client.refund(checkout_id, amount=2000)
        assert [r.amount for r in emulator.refunds(checkout_id)] == [2000]

With pytest, the ``refundkit_emulator`` fixture gives each test its own
emulator (registered by the package, no conftest code needed).

It is the same emulator as ``refundkit emulator`` (the CLI), with one live
secret key of its own (``.secret_key``; any other key gets 403) and webhook
retries a thousand times faster.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any, Dict, List, Optional, Type, Union

from refundkit._native import Client, Delivery, LedgerRefund, TestEmulator, WebhookSubscription

__all__ = ["Emulator", "Delivery", "LedgerRefund", "WebhookSubscription"]

#: Webhook retry delays are multiplied by this: 5 minutes become 0.3 s.
DEFAULT_WEBHOOK_TIME_SCALE = 0.001


class Emulator:
    """A running emulator on ``127.0.0.1`` and a free port, until
    :meth:`close` (or the end of a ``with`` block)."""

    def __init__(self, *, webhook_time_scale: float = DEFAULT_WEBHOOK_TIME_SCALE) -> None:
        self._native = TestEmulator(webhook_time_scale)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the ``base_url`` of your client."""
        return self._native.url

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self._native.port

    @property
    def secret_key(self) -> str:
        """The one key it accepts (``sk_live_…``, made up per emulator)."""
        return self._native.secret_key

    def client(self, **options: Any) -> Client:
        """A :class:`refundkit.Client` for this emulator; ``options`` are
        the client's (``max_retries``, ``timeout``, …)."""
        return Client(self.secret_key, base_url=self.url, **options)

    def paid_checkout(self, amount: int, metadata: Optional[Dict[str, str]] = None) -> str:
        """Creates a live checkout of ``amount`` cents (ZAR, at least 200),
        pays it, and returns its id, ready to refund. Checkout metadata
        ``{"emulator.refund": "fail"}`` makes its refunds fail
        (``refund.failed``). Raises ``ValueError`` for a bad amount."""
        return self._native.paid_checkout(amount, metadata)

    def refunds(self, checkout_id: Optional[str] = None) -> List[LedgerRefund]:
        """The ledger, oldest first: every refund actually made, of one
        checkout or of all. Retries that replayed are not in it twice."""
        return self._native.refunds(checkout_id)

    def faults(self, **probabilities: Union[float, int, None]) -> Dict[str, Any]:
        """Replaces the faults of the refund endpoint and returns them.

        Names as in the emulator's faults JSON: ``drop_before``,
        ``drop_after`` (refund made, answer lost), ``error_5xx``,
        ``rate_limit`` with ``retry_after_secs``, ``delay`` with
        ``delay_ms``, and ``seed``. Probabilities are 0 to 1. No arguments
        clears every fault. An unknown name or a bad value raises
        ``ValueError`` naming the known ones."""
        return dict(json.loads(self._native.set_faults(json.dumps(probabilities))))

    def register_webhook(self, url: str, name: str = "refundkit tests") -> WebhookSubscription:
        """Registers ``url``: every later event is signed and POSTed there
        (and logged in :meth:`deliveries`, even if nothing answers).
        ``.secret`` on the result verifies them."""
        return self._native.register_webhook(url, name)

    def deliveries(self) -> List[Delivery]:
        """Every webhook delivery attempt so far, oldest first, with the
        exact signed ``headers`` and ``body``."""
        return self._native.deliveries()

    def wait_for_deliveries(
        self, event_type: Optional[str] = None, count: int = 1, timeout: float = 10.0
    ) -> List[Delivery]:
        """Waits until at least ``count`` attempts of ``event_type`` (any
        when ``None``) are logged and returns them, oldest first. Raises
        ``TimeoutError`` after ``timeout`` seconds."""
        return self._native.wait_for_deliveries(event_type, count, timeout)

    def reset(self) -> None:
        """Forgets every checkout, refund, idempotency key, webhook,
        delivery and fault."""
        self._native.reset()

    def close(self) -> None:
        """Stops the server; the port is free once this returns."""
        self._native.close()

    @property
    def closed(self) -> bool:
        return self._native.closed

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.url
        return f"refundkit.testing.Emulator({state})"
