"""Refund one checkout from a script or a web request handler.

    REFUNDKIT_SECRET_KEY=sk_live_... python sync_refund.py ch_... [cents]

Set REFUNDKIT_BASE_URL=http://127.0.0.1:PORT to use `refundkit emulator`.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import refundkit


def refund_order(client: refundkit.Client, checkout_id: str, order_id: str, cents: Optional[int]) -> Optional[str]:
    """Refunds an order and returns the refund id, or None if already done."""
    # A key derived from the order makes the call safe to repeat: a second
    # run (or a retry after a crash) gets the first answer back.
    key = f"order-{order_id}-refund"
    try:
        refund = client.refund(checkout_id, amount=cents, metadata={"order": order_id}, idempotency_key=key)
    except refundkit.AlreadyRefundedError:
        return None
    except refundkit.RefundKitError as error:
        if error.outcome_unknown:
            print(f"refund of {checkout_id} may have been made; retry later with key {error.idempotency_key}", file=sys.stderr)
        raise
    print(f"refund {refund.refund_id} {refund.status} (attempts: {refund.attempts}, replayed: {refund.replayed})")
    return refund.refund_id


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    checkout_id = sys.argv[1]
    cents = int(sys.argv[2]) if len(sys.argv) > 2 else None
    client = refundkit.Client(
        os.environ["REFUNDKIT_SECRET_KEY"],
        base_url=os.environ.get("REFUNDKIT_BASE_URL"),
        timeout=10.0,
    )
    try:
        refund_order(client, checkout_id, order_id=checkout_id[-6:], cents=cents)
    except refundkit.InvalidInputError as error:
        print(f"bad argument {error.field}: {error.message}", file=sys.stderr)
        return 2
    except refundkit.RefundKitError as error:
        print(f"refund failed: {error}", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
