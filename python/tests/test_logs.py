"""refundkit's logs in Python's `logging` (logger "refundkit"): one DEBUG
record per attempt with its fields, a WARNING when the outcome is unknown,
the logger's level honoured and a change applied at the next call, and no
secret key or token in any record, even when a server echoes the key."""

from __future__ import annotations

import asyncio
import http.server
import logging
import subprocess
import sys
import threading
from typing import Iterator, List

import pytest

import refundkit
from support import LIVE_KEY, SECRETS, Emulator
from test_token_mode import Relay, jwt, relay  # noqa: F401 - `relay` is a fixture
from test_zz_secrets import secret_material

ATTEMPT_FIELDS = ("checkout_id", "idempotency_key", "attempt", "outcome", "elapsed_ms", "decision")


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def attempts(self) -> List[logging.LogRecord]:
        return [r for r in self.records if r.getMessage().startswith("refund attempt")]

    def warnings(self) -> List[logging.LogRecord]:
        return [r for r in self.records if r.levelno == logging.WARNING]

    def assert_no_secret(self, *extra_secrets: str) -> None:
        for record in self.records:
            text = logging.Formatter().format(record) + repr(vars(record))
            for secret in [*SECRETS, *extra_secrets]:
                material = secret_material(secret)
                if len(material) >= 8:  # shorter ones: malformed-key vectors
                    assert material not in text, f"a secret is in a log record: {text}"


@pytest.fixture
def captured() -> Iterator[Captured]:
    logger = logging.getLogger("refundkit")
    handler = Captured()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
    handler.assert_no_secret()


def test_each_attempt_of_a_retried_refund_is_a_debug_record_with_its_fields(
    emulator: Emulator, captured: Captured
) -> None:
    checkout_id = emulator.paid_checkout()
    emulator.set_faults(error_5xx=1.0)
    client = emulator.client(max_retries=2)
    with pytest.raises(refundkit.ServerError) as raised:
        client.refund(checkout_id, idempotency_key="logs-5xx-key")

    records = captured.attempts()
    assert [r.attempt for r in records] == [1, 2, 3]  # type: ignore[attr-defined]
    for record in records:
        assert record.name == "refundkit" and record.levelno == logging.DEBUG
        for field in ATTEMPT_FIELDS:
            assert hasattr(record, field), (field, vars(record))
        assert record.checkout_id == checkout_id  # type: ignore[attr-defined]
        assert record.idempotency_key == "logs-5xx-key"  # type: ignore[attr-defined]
        assert record.status == 500 and record.outcome == "server"  # type: ignore[attr-defined]
        assert isinstance(record.elapsed_ms, int)  # type: ignore[attr-defined]
        assert f"checkout_id={checkout_id}" in record.getMessage()
    assert [r.decision for r in records] == ["retry", "retry", "stop"]  # type: ignore[attr-defined]
    assert all(r.delay_ms > 0 for r in records[:2])  # type: ignore[attr-defined]
    if raised.value.request_id is not None:
        assert records[-1].request_id == raised.value.request_id  # type: ignore[attr-defined]
    # A 5xx may have refunded: the call ends with the warning.
    [warning] = captured.warnings()
    assert warning.attempts == 3 and warning.idempotency_key == "logs-5xx-key"  # type: ignore[attr-defined]


def test_a_connection_cut_after_commit_logs_a_warning_naming_the_key(
    emulator: Emulator, captured: Captured
) -> None:
    checkout_id = emulator.paid_checkout()
    emulator.set_faults(drop_after=1.0)
    with pytest.raises(refundkit.NetworkError) as raised:
        emulator.client(max_retries=1).refund(checkout_id)
    error = raised.value
    assert error.outcome_unknown
    assert [r.decision for r in captured.attempts()] == ["retry", "stop"]  # type: ignore[attr-defined]
    assert all(not hasattr(r, "status") for r in captured.attempts())
    [warning] = captured.warnings()
    assert warning.name == "refundkit"
    assert warning.getMessage().startswith("refund outcome unknown")
    assert warning.idempotency_key == error.idempotency_key  # type: ignore[attr-defined]
    assert warning.checkout_id == checkout_id  # type: ignore[attr-defined]


def test_a_successful_refund_logs_its_one_attempt(emulator: Emulator, captured: Captured) -> None:
    refund = emulator.client().refund(emulator.paid_checkout())
    [record] = captured.records
    assert record.decision == "done" and record.outcome == "refunded"  # type: ignore[attr-defined]
    assert record.idempotency_key == refund.idempotency_key  # type: ignore[attr-defined]
    assert record.status in (200, 201, 202)  # type: ignore[attr-defined]


def test_the_level_is_honoured_and_a_change_applies_to_the_next_call(
    emulator: Emulator, captured: Captured
) -> None:
    logger = logging.getLogger("refundkit")
    client = emulator.client(max_retries=0)

    logger.setLevel(logging.WARNING)
    client.refund(emulator.paid_checkout())
    assert captured.records == []

    logger.setLevel(logging.DEBUG)
    client.refund(emulator.paid_checkout())
    assert len(captured.attempts()) == 1

    logger.setLevel(logging.WARNING)
    emulator.set_faults(drop_after=1.0)
    with pytest.raises(refundkit.NetworkError):
        client.refund(emulator.paid_checkout())
    assert [r.levelno for r in captured.records] == [logging.DEBUG, logging.WARNING]

    logger.setLevel(logging.CRITICAL)
    with pytest.raises(refundkit.NetworkError):
        client.refund(emulator.paid_checkout())
    assert len(captured.records) == 2

    logging.disable(logging.WARNING)
    try:
        logger.setLevel(logging.DEBUG)
        with pytest.raises(refundkit.NetworkError):
            client.refund(emulator.paid_checkout())
        assert len(captured.records) == 2
    finally:
        logging.disable(logging.NOTSET)


def test_the_level_comes_from_the_parent_when_unset_and_a_disabled_logger_gets_nothing(
    emulator: Emulator, captured: Captured
) -> None:
    logger = logging.getLogger("refundkit")
    root = logging.getLogger()
    root_level = root.level
    client = emulator.client(max_retries=0)
    try:
        logger.setLevel(logging.NOTSET)
        root.setLevel(logging.DEBUG)
        client.refund(emulator.paid_checkout())
        assert len(captured.attempts()) == 1

        root.setLevel(logging.INFO)
        client.refund(emulator.paid_checkout())
        assert len(captured.attempts()) == 1

        logger.setLevel(logging.DEBUG)
        logger.disabled = True
        client.refund(emulator.paid_checkout())
        assert len(captured.attempts()) == 1
    finally:
        logger.disabled = False
        root.setLevel(root_level)


def test_importing_refundkit_leaves_logging_unimported_and_a_warning_never_reaches_stderr(
    emulator: Emulator,
) -> None:
    # A fresh interpreter: `import refundkit` must stay fast (no `logging`);
    # once the application imports `logging`, refundkit's logger gets a
    # NullHandler, so an unconfigured app sees no "outcome unknown" warning
    # on stderr (logging's last-resort handler would print it).
    checkout_id = emulator.paid_checkout()
    emulator.set_faults(drop_after=1.0)
    script = (
        "import sys, refundkit\n"
        "assert 'logging' not in sys.modules, 'import refundkit imported logging'\n"
        "import logging\n"
        f"client = refundkit.Client({LIVE_KEY!r}, base_url={emulator.url!r}, max_retries=0)\n"
        "try:\n"
        f"    client.refund({checkout_id!r})\n"
        "except refundkit.NetworkError as error:\n"
        "    assert error.outcome_unknown\n"
        "handlers = logging.getLogger('refundkit').handlers\n"
        "assert [type(h).__name__ for h in handlers] == ['NullHandler'], handlers\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
    assert done.stderr == ""


def test_the_async_client_logs_every_attempt_before_its_await_returns(
    emulator: Emulator, captured: Captured
) -> None:
    checkout_id = emulator.paid_checkout()
    emulator.set_faults(error_5xx=1.0)

    async def main() -> List[str]:
        async with emulator.async_client(max_retries=1) as client:
            with pytest.raises(refundkit.ServerError):
                await client.refund(checkout_id, idempotency_key="logs-async-key")
            return [r.getMessage() for r in captured.records if r.getMessage().startswith("refund ")]

    seen = asyncio.run(main())
    assert [r.attempt for r in captured.attempts()] == [1, 2]  # type: ignore[attr-defined]
    assert [m.split(" checkout_id=")[0] for m in seen] == [
        "refund attempt",
        "refund attempt",
        "refund outcome unknown: retry later with the same idempotency key",
    ]
    assert {r.thread for r in captured.records} == {threading.main_thread().ident}


def test_token_mode_logs_no_token(emulator: Emulator, relay: Relay, captured: Captured) -> None:  # noqa: F811
    tokens: List[str] = []

    def provider(force_refresh: bool) -> str:
        tokens.append(jwt("cashier-logs"))
        return tokens[-1]

    client = refundkit.Client.for_relay(relay.url, provider, max_retries=0)
    client.refund(emulator.paid_checkout(5_000), amount=100)
    assert len(captured.attempts()) == 1
    captured.assert_no_secret(*tokens)


class _EchoingServer(http.server.BaseHTTPRequestHandler):
    """Answers 500 and then 202, with the caller's bearer credential in
    `x-request-id` every time: a hostile or broken server."""

    answered = 0

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        self.rfile.read(int(self.headers.get("content-length", "0")))
        credential = self.headers.get("authorization", "").removeprefix("Bearer ")
        _EchoingServer.answered += 1
        if _EchoingServer.answered == 1:
            status, body = 500, b'{"errorMessage":"boom"}'
        else:
            status, body = 202, b'{"id":"ch_echo","refundId":"rfd_echo","message":"ok","status":"successful"}'
        self.send_response(status)
        self.send_header("x-request-id", f"req_{credential}")
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_echoing_the_key_in_the_request_id_never_puts_it_in_a_record(captured: Captured) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoingServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = refundkit.Client(LIVE_KEY, base_url=f"http://127.0.0.1:{server.server_port}", max_retries=1)
        refund = client.refund("ch_echo")
    finally:
        server.shutdown()
        server.server_close()
    assert refund.attempts == 2
    records = captured.attempts()
    assert [r.request_id.startswith("req_sk_live_…") for r in records] == [True, True]  # type: ignore[attr-defined]
    captured.assert_no_secret(LIVE_KEY)
