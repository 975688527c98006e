"""The public Python surface: names, the exception hierarchy, immutable
results, secret-free reprs. No network."""

from __future__ import annotations

import builtins
import pathlib
import pickle
from typing import Any, Dict, List, Tuple

import pytest

import refundkit
from support import LIVE_KEY, expect_error, load_vector_document, remember


def test_the_documented_names_are_exported() -> None:
    for name in refundkit.__all__:
        assert hasattr(refundkit, name), name
    assert (pathlib.Path(refundkit.__file__).parent / "py.typed").is_file()


def test_exception_hierarchy_matches_the_design() -> None:
    api = refundkit.ApiError
    expected_parents = {
        refundkit.ConfigurationError: refundkit.RefundKitError,
        refundkit.InvalidInputError: refundkit.RefundKitError,
        refundkit.ApiError: refundkit.RefundKitError,
        refundkit.AuthenticationError: api,
        refundkit.NotFoundError: api,
        refundkit.InvalidRequestError: api,
        refundkit.AlreadyRefundedError: refundkit.InvalidRequestError,
        refundkit.IdempotencyConflictError: api,
        refundkit.IdempotencyMismatchError: api,
        refundkit.RateLimitError: api,
        refundkit.ServerError: api,
        refundkit.UnexpectedResponseError: api,
        refundkit.NetworkError: refundkit.RefundKitError,
        refundkit.TimeoutError: refundkit.NetworkError,
        refundkit.WebhookVerificationError: refundkit.RefundKitError,
    }
    for cls, parent in expected_parents.items():
        assert cls.__bases__[0] is parent, cls
    assert issubclass(refundkit.InvalidInputError, ValueError)
    assert issubclass(refundkit.TimeoutError, builtins.TimeoutError)
    assert refundkit.TimeoutError is not builtins.TimeoutError


def test_every_exception_has_the_common_fields_and_pickles() -> None:
    for name in refundkit.__all__:
        cls = getattr(refundkit, name)
        if not (isinstance(cls, type) and issubclass(cls, refundkit.RefundKitError)):
            continue
        error = cls("went wrong", status=500, idempotency_key="k1", outcome_unknown=True)
        for field in ("status", "error_code", "message", "idempotency_key", "request_id", "body", "retryable", "outcome_unknown", "attempts", "field"):
            assert hasattr(error, field), (name, field)
        assert str(error) == "went wrong"
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is cls and copy.idempotency_key == "k1" and copy.status == 500


def test_refund_is_immutable_hashable_and_has_a_plain_repr() -> None:
    def make(**changes: object) -> refundkit.Refund:
        fields: dict[str, object] = {"checkout_id": "ch_1", "refund_id": "rfd_1", "status": "successful", "idempotency_key": "k1"}
        fields.update(changes)
        return refundkit.Refund(**fields)  # type: ignore[arg-type]

    refund = make()
    assert refund == make() and hash(refund) == hash(make())
    assert refund != make(replayed=True)
    assert len({refund, make(), make(attempts=2)}) == 2
    with pytest.raises(AttributeError):
        refund.status = "failed"  # type: ignore[misc]
    assert repr(refund) == (
        "Refund(checkout_id='ch_1', refund_id='rfd_1', status='successful', succeeded=True, replayed=False, attempts=1, idempotency_key='k1')"
    )
    assert make(status="queued_for_bank").status == "queued_for_bank"


def test_client_repr_masks_the_key() -> None:
    client = refundkit.Client(LIVE_KEY, base_url="http://127.0.0.1:9")
    async_client = refundkit.AsyncClient(LIVE_KEY)
    remember(client, async_client)
    assert repr(client) == "refundkit.Client(secret_key='sk_live_…0042', base_url='http://127.0.0.1:9')"
    assert repr(async_client) == "refundkit.AsyncClient(secret_key='sk_live_…0042', base_url='https://payments.yoco.com')"


def test_bad_settings_raise_configuration_errors_naming_the_setting() -> None:
    cases: List[Tuple[Dict[str, Any], str]] = [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 11}, "max_retries"),
        ({"timeout": 0.0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"total_timeout": -5.0}, "total_timeout"),
        ({"base_url": "http://payments.example.com"}, "base_url"),
    ]
    for kwargs, field in cases:
        for cls in (refundkit.Client, refundkit.AsyncClient):
            error = expect_error(refundkit.ConfigurationError, cls, LIVE_KEY, **kwargs)
            assert error.field == field


def test_non_str_ids_and_keys_raise_type_error_before_any_io() -> None:
    client = refundkit.Client(LIVE_KEY, base_url="http://127.0.0.1:9")
    expect_error(TypeError, client.refund, 42)
    expect_error(TypeError, client.refund, "ch_1", idempotency_key=b"k")


def test_amounts_and_metadata_of_the_wrong_type_are_invalid_input_naming_the_field() -> None:
    # Money arguments get the typed error of hostile.json, so one `except
    # InvalidInputError` (a ValueError) covers every bad amount or metadata.
    client = refundkit.Client(LIVE_KEY, base_url="http://127.0.0.1:9")
    for kwargs, field in [
        ({"amount": 1.5}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": "100"}, "amount"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"metadata": ["k", "v"]}, "metadata"),
    ]:
        error = expect_error(refundkit.InvalidInputError, client.refund, "ch_1", **kwargs)
        assert isinstance(error, ValueError)
        assert error.field == field


def test_huge_amounts_are_invalid_input_not_overflow() -> None:
    client = refundkit.Client(LIVE_KEY, base_url="http://127.0.0.1:9")
    assert expect_error(refundkit.InvalidInputError, client.refund, "ch_1", amount=10**40).field == "amount"
    assert expect_error(refundkit.InvalidInputError, client.refund, "ch_1", amount=-(10**40)).field == "amount"


def test_new_idempotency_key_is_a_uuid4() -> None:
    import uuid

    keys = {refundkit.new_idempotency_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(uuid.UUID(k).version == 4 for k in keys)


def test_defaults_are_the_shared_vector() -> None:
    import inspect

    from refundkit import _native

    d = load_vector_document("defaults")["defaults"]
    assert _native.DEFAULT_BASE_URL == d["base_url"]
    assert _native.DEFAULT_MAX_RETRIES == d["max_retries"]
    assert _native.DEFAULT_TIMEOUT == d["timeout_seconds"]
    assert _native.DEFAULT_TOTAL_TIMEOUT == d["total_timeout_seconds"]
    assert _native.DEFAULT_WEBHOOK_TOLERANCE == d["webhook_tolerance_seconds"]
    params = inspect.signature(refundkit.AsyncClient).parameters
    assert params["max_retries"].default == d["max_retries"]
    assert params["timeout"].default == d["timeout_seconds"]
    assert params["total_timeout"].default == d["total_timeout_seconds"]
    verifier = refundkit.WebhookVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert f"tolerance={d['webhook_tolerance_seconds']}" in repr(verifier)


def test_a_proxy_that_is_not_http_is_a_configuration_error_naming_it() -> None:
    error = expect_error(refundkit.ConfigurationError, refundkit.Client, LIVE_KEY, proxy="socks5://127.0.0.1:1080")
    assert error.field == "proxy"
    remember(error)
