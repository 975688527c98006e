"""Token mode end to end: the Python client → `refundkit relay` → the
emulator, all real processes over loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import pathlib
import subprocess
import threading
import time
from typing import Iterator, List

import pytest

import refundkit
from support import LIVE_KEY, SECRETS, Emulator, expect_error, find_binary, remember

JWT_SECRET = "python-token-mode-tests-secret-0123456789abc"
ISSUER = "https://auth.example.com"
AUDIENCE = "refundkit-relay"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(sub: str, lifetime: int = 600) -> str:
    """An HS256 token the relay accepts (or, with a negative lifetime, one it
    refuses as expired)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "roles": ["cashier"], "exp": int(time.time()) + lifetime}
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(JWT_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{_b64(signature)}"
    SECRETS.append(token)
    return token


class Relay:
    """A running `refundkit relay` in front of the emulator."""

    def __init__(self, upstream: str, workdir: pathlib.Path) -> None:
        auth = workdir / "auth.toml"
        auth.write_text(
            f'[jwt]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n'
            'hs256_secret_env = "RELAY_JWT_SECRET"\nleeway_seconds = 0\n\n'
            '[[roles]]\nname = "cashier"\nmax_amount = 50000\nallow_full = true\n'
        )
        env = dict(os.environ, REFUNDKIT_SECRET_KEY=LIVE_KEY, RELAY_JWT_SECRET=JWT_SECRET)
        self.process = subprocess.Popen(
            [find_binary(), "relay", "--upstream", upstream, "--auth", str(auth),
             "--port", "0", "--journal", str(workdir / "relay.db")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline().strip()
        if not first.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"the relay did not start: {first!r}")
        self.url = first[len("listening on ") :]
        self.output: List[str] = [first]
        self._drains = [
            threading.Thread(target=self.output.extend, args=(stream,), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for drain in self._drains:
            drain.start()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for drain in self._drains:
            drain.join(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def relay(emulator_process: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    running = Relay(emulator_process.url, tmp_path_factory.mktemp("relay"))
    yield running
    running.stop()
    remember(*running.output)


def test_a_sync_provider_refunds_through_the_relay(emulator: Emulator, relay: Relay) -> None:
    calls: List[bool] = []

    def provider(force_refresh: bool) -> str:
        calls.append(force_refresh)
        return jwt("cashier-1")

    client = refundkit.Client.for_relay(relay.url, provider, max_retries=0)
    checkout_id = emulator.paid_checkout(5_000)
    refund = client.refund(checkout_id, amount=1_250)
    remember(refund, client)
    assert refund.succeeded and refund.refund_id.startswith("rfd_")
    assert calls == [False]
    [row] = emulator.ledger(checkout_id)
    assert row["amount"] == 1_250
    assert "token_provider" in repr(client)


def test_an_expired_token_is_refreshed_once_and_the_same_key_refunds_once(emulator: Emulator, relay: Relay) -> None:
    calls: List[bool] = []

    def provider(force_refresh: bool) -> str:
        calls.append(force_refresh)
        return jwt("cashier-2") if force_refresh else jwt("cashier-2", lifetime=-3600)

    client = refundkit.Client.for_relay(relay.url, provider, max_retries=0)
    checkout_id = emulator.paid_checkout(5_000)
    refund = client.refund(checkout_id, amount=100, idempotency_key="py-token-refresh-1")
    assert calls == [False, True]
    assert refund.attempts == 2
    again = client.refund(checkout_id, amount=100, idempotency_key="py-token-refresh-1")
    assert again.replayed and again.refund_id == refund.refund_id
    assert len(emulator.ledger(checkout_id)) == 1


def test_an_async_provider_refunds_through_the_relay(emulator: Emulator, relay: Relay) -> None:
    calls: List[bool] = []

    async def provider(force_refresh: bool) -> str:
        calls.append(force_refresh)
        await asyncio.sleep(0)
        return jwt("cashier-3")

    async def main() -> refundkit.Refund:
        async with refundkit.AsyncClient.for_relay(relay.url, provider, max_retries=0) as client:
            return await client.refund(checkout_id, amount=300)

    checkout_id = emulator.paid_checkout(5_000)
    refund = asyncio.run(main())
    remember(refund)
    assert refund.succeeded
    assert calls == [False]
    assert len(emulator.ledger(checkout_id)) == 1


def test_a_secret_key_as_the_token_is_refused_before_anything_is_sent(emulator: Emulator, relay: Relay) -> None:
    client = refundkit.Client.for_relay(relay.url, lambda force: LIVE_KEY, max_retries=0)
    before = emulator.refund_requests()
    error = expect_error(refundkit.ConfigurationError, client.refund, emulator.paid_checkout())
    remember(error)
    assert error.field == "token"
    assert error.attempts == 0
    assert emulator.refund_requests() == before


def test_a_failing_provider_is_an_authentication_error(relay: Relay) -> None:
    def provider(force_refresh: bool) -> str:
        raise LookupError("no session")

    client = refundkit.Client.for_relay(relay.url, provider, max_retries=0)
    error = expect_error(refundkit.AuthenticationError, client.refund, "ch_1")
    assert "LookupError: no session" in error.message
