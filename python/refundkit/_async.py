"""``AsyncClient``: the asyncio face of the native client."""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType
from typing import Mapping, Optional, Type

from refundkit import _native
from refundkit._native import Refund

__all__ = ["AsyncClient"]


class AsyncClient:
    """Refunds through the Checkout API from asyncio code.

    Calls run on refundkit's shared I/O threads (tokio), not on the event
    loop; any number may be in flight at once. Share one instance per
    process, and close it (or use ``async with``) when done.

    Cancellation: cancelling ``await client.refund(...)`` abandons the call;
    a request already sent may still refund. Every call has its idempotency
    key before anything is sent (``idempotency_key`` or a fresh UUIDv4), and
    the ``CancelledError`` carries it as ``.idempotency_key``. To be sure
    of it, make the key yourself (``refundkit.new_idempotency_key()``),
    store it, and pass it in; retrying with it never refunds twice.
    """

    __slots__ = ("_native",)

    def __init__(
        self,
        secret_key: str,
        base_url: Optional[str] = None,
        max_retries: int = 2,
        timeout: float = 30.0,
        total_timeout: float = 90.0,
    ) -> None:
        self._native = _native.AsyncClient(
            secret_key, base_url, max_retries, timeout, total_timeout
        )

    async def refund(
        self,
        checkout_id: str,
        amount: Optional[int] = None,
        metadata: Optional[Mapping[str, str]] = None,
        idempotency_key: Optional[str] = None,
    ) -> Refund:
        """Refunds ``checkout_id`` (all that is left, or ``amount`` cents).

        Raises a :class:`refundkit.RefundKitError` subclass on failure; its
        ``idempotency_key`` is the key to retry with.
        """
        key = idempotency_key if idempotency_key is not None else _native.new_idempotency_key()
        try:
            return await self._native.refund(checkout_id, amount, metadata, key)
        except asyncio.CancelledError as cancelled:
            setattr(cancelled, "idempotency_key", key)
            if sys.version_info >= (3, 11):
                cancelled.add_note(f"refundkit: the refund may have been sent; idempotency key {key}")
            raise

    def close(self) -> None:
        """Releases the connection pool; calls in flight finish first."""
        self._native.close()

    async def aclose(self) -> None:
        """Same as :meth:`close`, for ``contextlib.aclosing``."""
        self._native.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._native.close()

    def __repr__(self) -> str:
        return repr(self._native)
