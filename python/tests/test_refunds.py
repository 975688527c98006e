"""Refunds against the emulator: what a successful call returns."""

from __future__ import annotations

import uuid

from support import Emulator, remember


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
    [row] = emulator.ledger(checkout_id)
    assert row["refundId"] == refund.refund_id
    assert row["amount"] == 5_000
    assert row["idempotencyKey"] == refund.idempotency_key


def test_partial_refund_sends_amount_and_metadata(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout(5_000)
    refund = emulator.client().refund(checkout_id, amount=150, metadata={"order": "42"}, idempotency_key="order-42-r1")

    assert refund.idempotency_key == "order-42-r1"
    [row] = emulator.ledger(checkout_id)
    assert row["amount"] == 150
    assert row["metadata"] == {"order": "42"}
    assert row["idempotencyKey"] == "order-42-r1"


def test_metadata_accepts_any_mapping(emulator: Emulator) -> None:
    from types import MappingProxyType

    checkout_id = emulator.paid_checkout()
    emulator.client().refund(checkout_id, amount=1, metadata=MappingProxyType({"a": "1"}))
    assert emulator.ledger(checkout_id)[0]["metadata"] == {"a": "1"}


def test_same_key_twice_is_replayed_and_refunds_once(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    client = emulator.client()
    first = client.refund(checkout_id, amount=100, idempotency_key="replay-me")
    second = client.refund(checkout_id, amount=100, idempotency_key="replay-me")

    assert first.replayed is False
    assert second.replayed is True
    assert second.refund_id == first.refund_id
    assert [r["idempotencyKey"] for r in emulator.ledger(checkout_id)] == ["replay-me"]


def test_each_call_without_a_key_gets_a_fresh_one(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    client = emulator.client()
    a = client.refund(checkout_id, amount=1)
    b = client.refund(checkout_id, amount=1)

    assert a.idempotency_key != b.idempotency_key
    assert a.refund_id != b.refund_id
    assert len(emulator.ledger(checkout_id)) == 2


def test_async_client_refunds_and_closes(emulator: Emulator) -> None:
    import asyncio

    checkout_id = emulator.paid_checkout()

    async def main() -> None:
        async with emulator.async_client() as client:
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
    [row] = emulator.ledger(checkout_id)
    assert row["amount"] == 7


def test_sync_client_closes_as_a_context_manager(emulator: Emulator) -> None:
    checkout_id = emulator.paid_checkout()
    with emulator.client() as client:
        client.refund(checkout_id, amount=1)
    try:
        client.refund(checkout_id, amount=1)
    except RuntimeError as closed:
        assert "closed" in str(closed)
    else:
        raise AssertionError("a closed client refunded")
    assert len(emulator.ledger(checkout_id)) == 1
