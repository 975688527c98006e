"""tests/vectors/hostile.json through the Python package: every hostile input
raises the typed error the vector names, nothing reaches the emulator, and
the interpreter never crashes."""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, List, Tuple, Type

import pytest

import refundkit
from support import SECRETS, VECTORS, Emulator, remember

with open(VECTORS / "hostile.json", encoding="utf-8") as _f:
    _DOC = json.load(_f)
REFUND_CASES: List[Dict[str, Any]] = _DOC["refund_cases"]
WEBHOOK_CASES: List[Dict[str, Any]] = _DOC["webhook_cases"]

DEFAULT_KEY = "sk_live_0123456789abcdefghij"
SECRETS.append(DEFAULT_KEY)
for _case in REFUND_CASES:
    if "secret_key" in _case["client"]:
        SECRETS.append(_case["client"]["secret_key"])

CLASS_FOR_KIND: Dict[str, Type[refundkit.RefundKitError]] = {
    "invalid_input": refundkit.InvalidInputError,
    "configuration": refundkit.ConfigurationError,
    "webhook_verification": refundkit.WebhookVerificationError,
}


def _metadata(spec: Dict[str, int]) -> Dict[str, str]:
    out = {}
    for i in range(spec["entries"]):
        key = f"k{i}"
        out[key + "k" * max(0, spec["key_bytes"] - len(key))] = "v" * spec["value_bytes"]
    return out


@pytest.mark.parametrize("case", REFUND_CASES, ids=[c["name"] for c in REFUND_CASES])
def test_hostile_refund_input_is_refused_before_any_io(case: Dict[str, Any], emulator: Emulator) -> None:
    given = dict(case["input"])
    given.pop("representable_in_rust", None)
    if "metadata_generate" in given:
        given["metadata"] = _metadata(given.pop("metadata_generate"))
    expected = CLASS_FOR_KIND[case["expect"]["kind"]]
    before = emulator.refund_requests()
    with pytest.raises(refundkit.RefundKitError) as raised:
        client = refundkit.Client(
            case["client"].get("secret_key", DEFAULT_KEY),
            base_url=case["client"].get("base_url", emulator.url),
            max_retries=0,
        )
        client.refund(**given)
    error = raised.value
    remember(error)
    assert type(error) is expected, f"{type(error).__name__}: {error}"
    assert error.kind == case["expect"]["kind"]
    assert error.field == case["expect"]["field"], str(error)
    assert len(str(error)) < 1024, "the error echoes the hostile input"
    assert emulator.refund_requests() == before


def _body(case: Dict[str, Any]) -> bytes:
    if "body" in case:
        return str(case["body"]).encode()
    if "body_base64" in case:
        return base64.b64decode(case["body_base64"])
    g = case["body_generate"]
    return (g["prefix"] + g["repeat"] * g["count"] + g["suffix"]).encode()


@pytest.mark.parametrize("case", WEBHOOK_CASES, ids=[c["name"] for c in WEBHOOK_CASES])
def test_hostile_webhook_is_rejected_with_a_typed_error(case: Dict[str, Any]) -> None:
    expected = CLASS_FOR_KIND[case["expect"]["kind"]]
    pairs: List[Tuple[str, str]] = [(k, v) for k, v in case["header_pairs"]]
    with pytest.raises(refundkit.RefundKitError) as raised:
        verifier = refundkit.WebhookVerifier(case["secret"])
        # Pairs keep duplicated names, which a dict would silently merge.
        verifier.verify(pairs, _body(case), now=case["now"])
    error = raised.value
    remember(error)
    assert type(error) is expected, f"{type(error).__name__}: {error}"
    if "error_contains" in case["expect"]:
        assert case["expect"]["error_contains"] in str(error)
    if "field" in case["expect"]:
        assert error.field == case["expect"]["field"]
