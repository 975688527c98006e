"""Many calls at once: asyncio, threads, cancellation and Ctrl-C."""

from __future__ import annotations

import _thread
import asyncio
import os
import signal
import threading
import warnings
from typing import List, Optional

import pytest

import refundkit
from support import Emulator, remember


def test_100_concurrent_async_refunds_all_land_once(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(100_000)

    async def main() -> List[refundkit.Refund]:
        async with emulator.async_client() as client:
            return await asyncio.gather(*(client.refund(checkout_id, amount=1) for _ in range(100)))

    refunds = asyncio.run(main())

    assert len({r.refund_id for r in refunds}) == 100
    assert len({r.idempotency_key for r in refunds}) == 100
    ledger = emulator.ledger(checkout_id)
    assert sorted(r["idempotencyKey"] for r in ledger) == sorted(r.idempotency_key for r in refunds)


def test_one_client_shared_by_8_threads(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(100_000)
    client = emulator.client()
    refunds: List[refundkit.Refund] = []
    failures: List[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                refunds.append(client.refund(checkout_id, amount=1))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert failures == []
    assert len({r.refund_id for r in refunds}) == 80
    assert len(emulator.ledger(checkout_id)) == 80


def test_cancelled_async_refund_keeps_its_key_and_the_loop_survives(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    emulator.set_faults(delay=1.0, delay_ms=1500)
    seen_before = emulator.refund_requests()

    async def main() -> Optional[str]:
        keys: List[Optional[str]] = []
        async with emulator.async_client() as client:

            async def refund() -> None:
                try:
                    await client.refund(checkout_id, amount=100)
                except asyncio.CancelledError as cancelled:
                    remember(cancelled)
                    keys.append(getattr(cancelled, "idempotency_key", None))
                    raise

            task = asyncio.ensure_future(refund())
            await asyncio.get_running_loop().run_in_executor(None, emulator.wait_for_refund_requests, seen_before + 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return keys[0]

    key = asyncio.run(main())
    assert key

    # A fresh loop and the same key: at most one refund, whatever the
    # abandoned request did.
    emulator.clear_faults()

    async def retry() -> refundkit.Refund:
        async with emulator.async_client(max_retries=6) as client:
            return await client.refund(checkout_id, amount=100, idempotency_key=key)

    refund = asyncio.run(retry())
    assert refund.idempotency_key == key
    assert [r["idempotencyKey"] for r in emulator.ledger(checkout_id)] == [key]


def test_cancelling_many_calls_at_once_is_harmless(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(100_000)
    emulator.set_faults(delay=1.0, delay_ms=500)

    async def main() -> None:
        client = emulator.async_client()
        tasks = [asyncio.ensure_future(client.refund(checkout_id, amount=1)) for _ in range(50)]
        await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, (asyncio.CancelledError, refundkit.Refund)) for r in results)
        client.close()

    asyncio.run(main())
    # Cancelled futures whose Rust side finishes later must not disturb a new loop.
    emulator.clear_faults()

    async def after() -> refundkit.Refund:
        async with emulator.async_client() as client:
            return await client.refund(checkout_id, amount=1)

    assert asyncio.run(after()).status == "successful"


def test_ctrl_c_during_a_blocking_refund_raises_with_the_key(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    emulator.set_faults(delay=1.0, delay_ms=3000)
    seen_before = emulator.refund_requests()

    def interrupt_once_sent() -> None:
        emulator.wait_for_refund_requests(seen_before + 1)
        _thread.interrupt_main()

    # A process started in the background (as CI may start us) inherits
    # SIGINT ignored, and then interrupt_main() does nothing: install
    # Python's own handler for the duration of the test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt_once_sent, daemon=True).start()
        with pytest.raises(KeyboardInterrupt) as interrupted:
            emulator.client().refund(checkout_id, amount=100, idempotency_key="interrupted-key")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert getattr(interrupted.value, "idempotency_key", None) == "interrupted-key"

    emulator.clear_faults()
    refund = emulator.client(max_retries=6).refund(checkout_id, amount=100, idempotency_key="interrupted-key")
    assert refund.idempotency_key == "interrupted-key"
    assert [r["idempotencyKey"] for r in emulator.ledger(checkout_id)] == ["interrupted-key"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_child_forked_after_the_first_call_gets_an_error_not_a_hang(emulator: Emulator) -> None:
    client = emulator.client()
    client.refund(emulator.paid_checkout(), amount=1)  # the I/O threads now run here
    checkout_id = emulator.paid_checkout()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "fork() of a multi-threaded process"
        pid = os.fork()
    if pid == 0:
        code = 3
        try:
            client.refund(checkout_id, amount=1)
            code = 1
        except RuntimeError as error:
            code = 0 if "fork" in str(error) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert emulator.ledger(checkout_id) == []
    assert client.refund(checkout_id, amount=1).attempts == 1  # the parent is unaffected


EXIT_WITH_CALLS_IN_FLIGHT = """
import asyncio, sys, threading, refundkit

url, key, checkout_id = sys.argv[1:]

def sync_forever():
    client = refundkit.Client(key, base_url=url)
    while True:
        client.refund(checkout_id, amount=1)

async def main():
    client = refundkit.AsyncClient(key, base_url=url)
    calls = [asyncio.ensure_future(client.refund(checkout_id, amount=1)) for _ in range(40)]
    await asyncio.gather(*calls[:20])
    # the other 20 are still in flight when asyncio.run cancels them

threading.Thread(target=sync_forever, daemon=True).start()
asyncio.run(main())
"""


def test_the_interpreter_exits_cleanly_with_calls_in_flight(emulator: Emulator) -> None:
    # Runtime threads must not touch Python while it shuts down (a race that
    # aborts the process); repeat a few times since it is timing-dependent.
    import subprocess
    import sys

    from support import LIVE_KEY

    checkout_id = emulator.paid_checkout(1_000_000)
    for _ in range(5):
        done = subprocess.run(
            [sys.executable, "-c", EXIT_WITH_CALLS_IN_FLIGHT, emulator.url, LIVE_KEY, checkout_id],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-2000:]
