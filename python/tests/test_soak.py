"""A small fault soak through the Python binding (the Rust soak's little
sibling): 300 refunds from 8 threads under 30% faults, reconciled with the
emulator's ledger. Nothing refunded twice, nothing lost, every unknown
outcome converges when re-run with its key."""

from __future__ import annotations

import collections
import concurrent.futures
from typing import Dict, List, Optional, Tuple

import refundkit
from support import Emulator, remember

CALLS = 300


def test_faulty_refunds_are_neither_doubled_nor_lost(emulator: Emulator) -> None:
    checkout = emulator.paid_checkout(amount=1_000_000)
    client = emulator.client(max_retries=2, timeout=0.25, total_timeout=10.0)
    emulator.set_faults(drop_before=0.1, drop_after=0.1, error_5xx=0.1, delay=0.02, delay_ms=500, seed=11)

    def one(_: int) -> Tuple[str, Optional[refundkit.Refund], Optional[refundkit.RefundKitError]]:
        key = refundkit.new_idempotency_key()
        try:
            return key, client.refund(checkout, amount=1, idempotency_key=key), None
        except refundkit.RefundKitError as error:
            remember(error)
            return key, None, error

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(CALLS)))
    emulator.clear_faults()

    refunded: Dict[str, bool] = {}
    failures: collections.Counter[str] = collections.Counter()
    unknown: List[str] = []
    for key, refund, error in results:
        if refund is not None:
            assert refund.idempotency_key == key
            refunded[key] = True
        else:
            assert error is not None and error.idempotency_key == key
            failures[error.kind] += 1
            if error.outcome_unknown:
                unknown.append(key)
            else:
                refunded[key] = False
    retried = sum(r.attempts - 1 for _, r, _ in results if r is not None)
    assert retried > 0, "faults were on, so some calls must have retried"
    for key in unknown:
        again = client.refund(checkout, amount=1, idempotency_key=key)
        assert again.idempotency_key == key
        refunded[key] = True

    ledger = emulator.ledger(checkout)
    per_key = collections.Counter(str(entry["idempotencyKey"]) for entry in ledger)
    duplicates = [k for k, n in per_key.items() if n > 1]
    lost = [k for k, ok in refunded.items() if ok and k not in per_key]
    phantom = [k for k in per_key if not refunded.get(k, False)]
    assert (duplicates, lost, phantom) == ([], [], []), f"failures {dict(failures)}"
    assert len(ledger) == sum(refunded.values())
