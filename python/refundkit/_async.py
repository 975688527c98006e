"""``AsyncClient``: the asyncio face of the native client."""

from __future__ import annotations

import sys

# `typing` is needed by type checkers only; skipping it at run time keeps
# `import refundkit` fast (mypy treats TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from types import TracebackType
    from typing import Awaitable, Callable, Mapping, Optional, Type, Union
    from weakref import WeakKeyDictionary

from refundkit import _native
from refundkit._native import Refund

__all__ = ["AsyncClient"]

# One bridge per event loop (see bindings/python/src/runtime.rs); None for
# loops that cannot watch a socket, which fall back to pyo3-async-runtimes.
_bridges: Optional[WeakKeyDictionary[AbstractEventLoop, Optional[_native.LoopBridge]]] = None


def _bridge_for(loop: AbstractEventLoop) -> Optional[_native.LoopBridge]:
    global _bridges
    if _bridges is None:
        from weakref import WeakKeyDictionary

        _bridges = WeakKeyDictionary()
    try:
        return _bridges[loop]
    except KeyError:
        pass
    bridge: Optional[_native.LoopBridge] = None
    if hasattr(_native, "LoopBridge"):
        bridge = _native.LoopBridge()
        try:
            loop.add_reader(bridge.fileno(), bridge.drain)
        except NotImplementedError:
            bridge = None
    _bridges[loop] = bridge
    return bridge


class AsyncClient:
    """Refunds through the Checkout API from asyncio code.

    Calls run on refundkit's shared I/O threads (tokio), not on the event
    loop; any number may be in flight at once. Share one instance per
    process, and close it (or use ``async with``) when done.

    Cancellation: cancelling ``await client.refund(...)`` abandons the call;
    a request already sent may still refund. Every call has its idempotency
    key before anything is sent (``idempotency_key`` or a fresh UUIDv4, fixed
    by the Rust core when the call starts), and the ``CancelledError`` raised out of ``await client.refund(...)`` carries
    it as ``.idempotency_key`` (asyncio re-creates the error when it crosses
    a Task boundary before Python 3.11, and the attribute is lost there).
    If a refund may be cancelled (timeouts, shutdown, task groups), make the
    key yourself with ``refundkit.new_idempotency_key()``, store it, and pass
    it in: retrying with it never refunds twice.
    """

    __slots__ = ("_native", "_loop")

    def __init__(
        self,
        secret_key: str,
        base_url: Optional[str] = None,
        max_retries: int = _native.DEFAULT_MAX_RETRIES,
        timeout: float = _native.DEFAULT_TIMEOUT,
        total_timeout: float = _native.DEFAULT_TOTAL_TIMEOUT,
        *,
        proxy: Optional[str] = None,
    ) -> None:
        self._native = _native.AsyncClient(
            secret_key, base_url, max_retries, timeout, total_timeout, proxy=proxy
        )
        self._loop: Optional[AbstractEventLoop] = None

    @classmethod
    def for_relay(
        cls,
        base_url: str,
        token_provider: Callable[[bool], Union[str, Awaitable[str]]],
        max_retries: int = _native.DEFAULT_MAX_RETRIES,
        timeout: float = _native.DEFAULT_TIMEOUT,
        total_timeout: float = _native.DEFAULT_TOTAL_TIMEOUT,
    ) -> AsyncClient:
        """A token-mode client for apps: refunds go to the merchant's relay
        at ``base_url`` with bearer tokens from ``token_provider``, which is
        called as ``token_provider(force_refresh)`` and may be sync or async.
        After a 401 from the relay it is called once with
        ``force_refresh=True`` and the attempt is repeated with the same
        idempotency key. An async provider runs on the event loop the refund
        is awaited on.
        """
        self = cls.__new__(cls)
        self._loop = None

        def provide(force_refresh: bool) -> object:
            token = token_provider(force_refresh)
            if isinstance(token, str):
                return token
            import asyncio

            loop = self._loop
            if loop is None:
                raise RuntimeError("no event loop to run the async token provider on")

            async def awaited() -> object:
                return await token  # type: ignore[misc]

            return asyncio.run_coroutine_threadsafe(awaited(), loop)

        self._native = _native.AsyncClient.for_relay(
            base_url, provide, max_retries, timeout, total_timeout
        )
        return self

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
        # asyncio is loaded by now (a loop is running); importing it here
        # keeps it out of `import refundkit` for sync-only programs.
        import asyncio

        loop = asyncio.get_running_loop()
        self._loop = loop
        bridge = _bridge_for(loop)
        call = None
        key = None
        try:
            if bridge is None:
                pending, key = self._native.refund(checkout_id, amount, metadata, idempotency_key)
                return await pending
            future: asyncio.Future[Refund] = loop.create_future()
            call, key = self._native.start_refund(
                bridge, future, checkout_id, amount, metadata, idempotency_key
            )
            return await future
        except asyncio.CancelledError as cancelled:
            if bridge is not None and call is not None:
                bridge.cancel(call)
            if key is not None:
                setattr(cancelled, "idempotency_key", key)
                if sys.version_info >= (3, 11):
                    cancelled.add_note(
                        f"refundkit: the refund may have been sent; idempotency key {key}"
                    )
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
