"""Refund many checkouts concurrently from asyncio, safely re-runnable.

Each row's idempotency key is chosen and stored before the refund is sent,
so re-running the batch after a crash or a cancellation never refunds twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import refundkit


@dataclass(frozen=True)
class Row:
    checkout_id: str
    cents: Optional[int] = None


@dataclass(frozen=True)
class Outcome:
    checkout_id: str
    refund_id: Optional[str]
    error: Optional[str]


class KeyJournal:
    """Idempotency keys by checkout id, persisted before each call."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.keys: Dict[str, str] = json.loads(path.read_text()) if path.exists() else {}

    def key_for(self, checkout_id: str) -> str:
        if checkout_id not in self.keys:
            self.keys[checkout_id] = refundkit.new_idempotency_key()
            self.path.write_text(json.dumps(self.keys))
        return self.keys[checkout_id]


async def refund_all(
    client: refundkit.AsyncClient, rows: Sequence[Row], journal: KeyJournal, concurrency: int = 16
) -> List[Outcome]:
    limit = asyncio.Semaphore(concurrency)

    async def one(row: Row) -> Outcome:
        key = journal.key_for(row.checkout_id)
        async with limit:
            try:
                refund = await client.refund(row.checkout_id, amount=row.cents, idempotency_key=key)
            except refundkit.AlreadyRefundedError:
                return Outcome(row.checkout_id, None, "already refunded")
            except refundkit.RefundKitError as error:
                return Outcome(row.checkout_id, None, str(error))
        return Outcome(row.checkout_id, refund.refund_id, None)

    return await asyncio.gather(*(one(row) for row in rows))


async def main(checkout_ids: Sequence[str]) -> None:
    journal = KeyJournal(pathlib.Path("refund-keys.json"))
    async with refundkit.AsyncClient(
        os.environ["REFUNDKIT_SECRET_KEY"], base_url=os.environ.get("REFUNDKIT_BASE_URL")
    ) as client:
        for outcome in await refund_all(client, [Row(c) for c in checkout_ids], journal):
            print(outcome.checkout_id, outcome.refund_id or f"failed: {outcome.error}")


if __name__ == "__main__":
    import sys

    asyncio.run(main(sys.argv[1:]))
