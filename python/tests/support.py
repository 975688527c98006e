"""Test helpers: the emulator process and its control API (plain urllib),
the shared vectors, and the record of every text the suite produced."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import threading
import time
import urllib.request
from typing import Any, Callable, Dict, Iterator, List, Optional, Type, TypeVar

import refundkit

REPO = pathlib.Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors"

# The keys the emulator accepts. Nothing the SDK prints may contain them.
LIVE_KEY = "sk_live_pyT3stKEYmustNEVERleak0042"
TEST_KEY = "sk_test_pyT3stKEYmustNEVERleak0042"
# Well formed, but refused by the emulator (403).
OTHER_KEY = "sk_live_someoneELSEsKeyNEVERleak9876"

# Every str()/repr() of a result, client or exception, and every log line.
PRODUCED_TEXT: List[str] = []
# Everything that must appear in none of it.
SECRETS: List[str] = [LIVE_KEY, TEST_KEY, OTHER_KEY]


def remember(*objects: object) -> None:
    """Adds the str() and repr() of each object to the secret check."""
    for obj in objects:
        PRODUCED_TEXT.append(str(obj))
        PRODUCED_TEXT.append(repr(obj))


E = TypeVar("E", bound=BaseException)


def expect_error(cls: Type[E], call: Callable[..., object], *args: Any, **kwargs: Any) -> E:
    """Calls `call`, asserts it raises exactly `cls`, records its text."""
    try:
        result = call(*args, **kwargs)
    except BaseException as error:  # noqa: BLE001 - re-raised when unexpected
        if type(error) is not cls:
            raise AssertionError(f"expected {cls.__name__}, got {type(error).__name__}: {error}") from error
        remember(error)
        return error
    raise AssertionError(f"expected {cls.__name__}, got a result: {result!r}")


def load_vectors(name: str) -> List[Dict[str, Any]]:
    with open(VECTORS / f"{name}.json", encoding="utf-8") as f:
        cases: List[Dict[str, Any]] = json.load(f)["cases"]
    return cases


def load_vector_document(name: str) -> Dict[str, Any]:
    """The whole of tests/vectors/<name>.json."""
    with open(VECTORS / f"{name}.json", encoding="utf-8") as f:
        document: Dict[str, Any] = json.load(f)
    return document


def find_binary() -> str:
    """The `refundkit` CLI: $REFUNDKIT_BIN, else the newest of
    target/release/refundkit and target/debug/refundkit."""
    configured = os.environ.get("REFUNDKIT_BIN")
    if configured:
        return configured
    candidates = [REPO / "target" / p / "refundkit" for p in ("release", "debug")]
    found = [c for c in candidates if c.is_file()]
    if not found:
        raise RuntimeError(
            "the refundkit CLI is not built: run `cargo build -p refundkit-cli` "
            "or set REFUNDKIT_BIN"
        )
    return str(max(found, key=lambda p: p.stat().st_mtime))


class Emulator:
    """A running `refundkit emulator` and its control endpoints."""

    def __init__(self, binary: str) -> None:
        self.process = subprocess.Popen(
            [
                binary,
                "emulator",
                "--port",
                "0",
                "--secret-key",
                LIVE_KEY,
                "--secret-key",
                TEST_KEY,
                "--webhook-time-scale",
                "0.001",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        first = self.process.stdout.readline().strip()
        prefix = "listening on "
        if not first.startswith(prefix):
            self.process.kill()
            raise RuntimeError(f"the emulator did not start: {first!r} {self.process.stderr.read()!r}")
        self.url = first[len(prefix) :]
        self.output: List[str] = [first]
        self._drains = [
            threading.Thread(target=self._drain, args=(stream,), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for drain in self._drains:
            drain.start()

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self.output.append(line)

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

    def call(self, method: str, path: str, body: Optional[object] = None, key: Optional[str] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        if key is not None:
            request.add_header("authorization", f"Bearer {key}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def create_checkout(self, amount: int = 10_000, key: str = LIVE_KEY, metadata: Optional[Dict[str, str]] = None) -> str:
        body: Dict[str, object] = {"amount": amount, "currency": "ZAR"}
        if metadata is not None:
            body["metadata"] = metadata
        checkout: Dict[str, Any] = self.call("POST", "/api/checkouts", body, key=key)
        return str(checkout["id"])

    def pay(self, checkout_id: str) -> None:
        self.call("POST", f"/_emulator/checkouts/{checkout_id}/pay")

    def paid_checkout(self, amount: int = 10_000, key: str = LIVE_KEY) -> str:
        checkout_id = self.create_checkout(amount, key=key)
        self.pay(checkout_id)
        return checkout_id

    def ledger(self, checkout_id: str) -> List[Dict[str, Any]]:
        refunds: List[Dict[str, Any]] = self.call("GET", f"/_emulator/refunds?checkoutId={checkout_id}")["refunds"]
        return refunds

    def set_faults(self, **faults: object) -> None:
        self.call("PUT", "/_emulator/faults", faults)

    def clear_faults(self) -> None:
        self.call("PUT", "/_emulator/faults", {})

    def stats(self) -> Dict[str, Any]:
        stats: Dict[str, Any] = self.call("GET", "/_emulator/stats")
        return stats

    def refund_requests(self) -> int:
        return int(self.stats()["refundRequests"])

    def wait_for_refund_requests(self, at_least: int) -> None:
        """Polls the counters until the emulator has seen `at_least` refund
        requests (bounded; fails loudly rather than hanging)."""
        for _ in range(3000):
            if self.refund_requests() >= at_least:
                return
            time.sleep(0.01)
        raise AssertionError(f"the emulator never saw {at_least} refund requests")

    def client(self, key: str = LIVE_KEY, **kwargs: Any) -> refundkit.Client:
        client = refundkit.Client(key, base_url=self.url, **kwargs)
        remember(client)
        return client

    def async_client(self, key: str = LIVE_KEY, **kwargs: Any) -> refundkit.AsyncClient:
        client = refundkit.AsyncClient(key, base_url=self.url, **kwargs)
        remember(client)
        return client


def keys_of(refunds: List[Dict[str, Any]]) -> Iterator[str]:
    return (str(r["idempotencyKey"]) for r in refunds)
