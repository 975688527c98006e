"""Refunds against the emulator: what a successful call returns.

These run on the in-process emulator (`refundkit_emulator`, the fixture the
package registers with pytest): one fresh emulator per test, no process."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

import refundkit

from refundkit.testing import Emulator
from support import SECRETS, remember


@pytest.fixture
def emulator(refundkit_emulator: Emulator) -> Iterator[Emulator]:
    """The package's fixture, its key added to the suite's secret check."""
    SECRETS.append(refundkit_emulator.secret_key)
    yield refundkit_emulator


def test_full_refund_returns_the_documented_fields(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(5_000)
    refund = emulator.client().refund(checkout_id)
    remember(refund)

    assert refund.checkout_id == checkout_id
    assert refund.refund_id.startswith("rfd_")
    assert refund.status == "successful"
    assert refund.message == "Your refund has been processed"
    assert uuid.UUID(refund.idempotency_key).version == 4
    assert refund.replayed is False
    assert refund.attempts == 1
    assert refund.succeeded is True
    assert refund.request_id
    assert refund.elapsed > 0
    [row] = emulator.refunds(checkout_id)
    assert row.refund_id == refund.refund_id
    assert row.amount == 5_000
    assert row.idempotency_key == refund.idempotency_key


def test_partial_refund_sends_amount_and_metadata(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(5_000)
    refund = emulator.client().refund(checkout_id, amount=150, metadata={"order": "42"}, idempotency_key="order-42-r1")

    assert refund.idempotency_key == "order-42-r1"
    [row] = emulator.refunds(checkout_id)
    assert row.amount == 150
    assert row.metadata == {"order": "42"}
    assert row.idempotency_key == "order-42-r1"


def test_metadata_accepts_any_mapping(emulator: Emulator) -> None:
    from types import MappingProxyType

    checkout_id = emulator.paid_checkout(10_000)
    emulator.client().refund(checkout_id, amount=1, metadata=MappingProxyType({"a": "1"}))
    assert emulator.refunds(checkout_id)[0].metadata == {"a": "1"}


def test_same_key_twice_is_replayed_and_refunds_once(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(10_000)
    client = emulator.client()
    first = client.refund(checkout_id, amount=100, idempotency_key="replay-me")
    second = client.refund(checkout_id, amount=100, idempotency_key="replay-me")

    assert first.replayed is False
    assert second.replayed is True
    assert second.refund_id == first.refund_id
    assert [r.idempotency_key for r in emulator.refunds(checkout_id)] == ["replay-me"]


def test_each_call_without_a_key_gets_a_fresh_one(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(10_000)
    client = emulator.client()
    a = client.refund(checkout_id, amount=1)
    b = client.refund(checkout_id, amount=1)

    assert a.idempotency_key != b.idempotency_key
    assert a.refund_id != b.refund_id
    assert len(emulator.refunds(checkout_id)) == 2


def test_async_client_refunds_and_closes(emulator: Emulator) -> None:
    import asyncio

    checkout_id = emulator.paid_checkout(10_000)

    async def main() -> None:
        async with refundkit.AsyncClient(emulator.secret_key, base_url=emulator.url) as client:
            refund = await client.refund(checkout_id, amount=7, metadata={"k": "v"})
            assert refund.checkout_id == checkout_id
            assert refund.attempts == 1
            assert uuid.UUID(refund.idempotency_key).version == 4
        try:
            await client.refund(checkout_id, amount=7)
        except RuntimeError as closed:
            assert "closed" in str(closed)
        else:
            raise AssertionError("a closed client refunded")

    asyncio.run(main())
    [row] = emulator.refunds(checkout_id)
    assert row.amount == 7


def test_sync_client_closes_as_a_context_manager(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(10_000)
    with emulator.client() as client:
        client.refund(checkout_id, amount=1)
    try:
        client.refund(checkout_id, amount=1)
    except RuntimeError as closed:
        assert "closed" in str(closed)
    else:
        raise AssertionError("a closed client refunded")
    assert len(emulator.refunds(checkout_id)) == 1
