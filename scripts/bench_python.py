#!/usr/bin/env python3
"""Benchmarks of the Python package against the usual Python alternatives.

One run, one emulator (`refundkit emulator`, found like the tests find it:
$REFUNDKIT_BIN, else the newest target/{release,debug}/refundkit):

- sequential refunds/s: refundkit.Client vs httpx.Client vs requests.Session,
  each sending the same POST (1-cent partial refund of a large paid
  checkout, fresh UUIDv4 idempotency key, keep-alive) and parsing the JSON;
- refunds/s at concurrency 32: refundkit.AsyncClient vs aiohttp and
  httpx.AsyncClient, each with a pool of 32 connections (the ratio is
  against the faster of the two), and the same at 1, 4, 16 and 64 for the
  chart (--json);
- webhook verifications/s on a 1 KB body: refundkit.WebhookVerifier vs the
  `standardwebhooks` package (whose verify includes json.loads);
- `import` time (fresh interpreter, median) and the RSS of a process
  holding a client that has made one refund.

Each throughput figure is the median of --rounds rounds, clients
interleaved so that background load hits all of them alike.

    pip install aiohttp httpx requests standardwebhooks   # plus refundkit itself
    python scripts/bench_python.py [--rounds 5] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import statistics
import subprocess
import sys
import urllib.request
import uuid
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Dict, List

import aiohttp
import httpx
import requests
import standardwebhooks

import refundkit
from bench_timing import sequential, timed_workers

REPO = pathlib.Path(__file__).resolve().parents[1]
KEY = "sk_live_benchmark0000000000000000"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def find_binary() -> str:
    configured = os.environ.get("REFUNDKIT_BIN")
    if configured:
        return configured
    found = [p for p in (REPO / "target" / d / "refundkit" for d in ("release", "debug")) if p.is_file()]
    if not found:
        sys.exit("build the CLI first: cargo build --release -p refundkit-cli (or set REFUNDKIT_BIN)")
    return str(max(found, key=lambda p: p.stat().st_mtime))


class Emulator:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [find_binary(), "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            sys.exit(f"emulator did not start: {line!r}")
        self.url = line[len("listening on ") :]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    def big_paid_checkout(self) -> str:
        checkout_id = str(self.call("POST", "/api/checkouts", {"amount": 2**52, "currency": "ZAR"})["id"])
        self.call("POST", f"/_emulator/checkouts/{checkout_id}/pay")
        return checkout_id

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


BODY = b'{"amount":1}'


def refund_path(checkout_id: str) -> str:
    return f"/api/checkouts/{checkout_id}/refund"


def check(status: int, data: Dict[str, Any]) -> str:
    if status != 202:
        raise RuntimeError(f"refund failed: {status} {data}")
    return str(data["refundId"])


def concurrent(make: Callable[[], Awaitable[object]], n: int, concurrency: int) -> float:
    return asyncio.run(timed_workers(make, n, concurrency))


def bench_sync(emulator: Emulator, rounds: int, n: int) -> Dict[str, List[float]]:
    rk = refundkit.Client(KEY, base_url=emulator.url)
    hx = httpx.Client(base_url=emulator.url, headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"})
    rq = requests.Session()
    rq.headers.update({"authorization": f"Bearer {KEY}", "content-type": "application/json"})
    results: Dict[str, List[float]] = {"refundkit.Client": [], "httpx.Client": [], "requests.Session": []}
    for _ in range(rounds):
        checkout = emulator.big_paid_checkout()
        results["refundkit.Client"].append(sequential(lambda: rk.refund(checkout, amount=1), n))

        checkout = emulator.big_paid_checkout()
        path = refund_path(checkout)

        def httpx_call() -> str:
            r = hx.post(path, content=BODY, headers={"idempotency-key": str(uuid.uuid4())})
            return check(r.status_code, r.json())

        results["httpx.Client"].append(sequential(httpx_call, n))

        checkout = emulator.big_paid_checkout()
        url = emulator.url + refund_path(checkout)

        def requests_call() -> str:
            r = rq.post(url, data=BODY, headers={"idempotency-key": str(uuid.uuid4())})
            return check(r.status_code, r.json())

        results["requests.Session"].append(sequential(requests_call, n))
    rk.close()
    hx.close()
    rq.close()
    return results


def bench_async(emulator: Emulator, rounds: int, n: int, concurrency: int) -> Dict[str, List[float]]:
    """Refunds/s at `concurrency`: refundkit.AsyncClient against aiohttp and
    httpx.AsyncClient, each peer with a pool sized for the concurrency (a
    smaller pool churns connections and measures the pool, not the client)."""
    names = {
        "refundkit": f"refundkit.AsyncClient (c={concurrency})",
        "aiohttp": f"aiohttp.ClientSession (limit={concurrency}, c={concurrency})",
        "httpx": f"httpx.AsyncClient (Limits({concurrency}, {concurrency}), c={concurrency})",
    }
    results: Dict[str, List[float]] = {name: [] for name in names.values()}
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    for _ in range(rounds):
        checkout = emulator.big_paid_checkout()
        rk = refundkit.AsyncClient(KEY, base_url=emulator.url)
        results[names["refundkit"]].append(concurrent(lambda: rk.refund(checkout, amount=1), n, concurrency))
        rk.close()

        path = refund_path(emulator.big_paid_checkout())

        async def run_aiohttp() -> float:
            connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
            async with aiohttp.ClientSession(emulator.url, connector=connector, headers=headers) as session:

                async def call() -> str:
                    async with session.post(path, data=BODY, headers={"idempotency-key": str(uuid.uuid4())}) as r:
                        return check(r.status, await r.json())

                return await timed_workers(call, n, concurrency)

        results[names["aiohttp"]].append(asyncio.run(run_aiohttp()))

        path = refund_path(emulator.big_paid_checkout())

        async def run_httpx() -> float:
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            async with httpx.AsyncClient(base_url=emulator.url, headers=headers, limits=limits) as hx:

                async def call() -> str:
                    r = await hx.post(path, content=BODY, headers={"idempotency-key": str(uuid.uuid4())})
                    return check(r.status_code, r.json())

                # The client must live inside the loop that runs it.
                return await timed_workers(call, n, concurrency)

        results[names["httpx"]].append(asyncio.run(run_httpx()))
    return results


def fastest_peer(section: Dict[str, List[float]]) -> str:
    """The peer (not refundkit) with the highest median."""
    peers = [name for name in section if not name.startswith("refundkit")]
    return max(peers, key=lambda name: statistics.median(section[name]))


def webhook_body() -> str:
    event = {
        "id": "evt_" + "A" * 24,
        "type": "refund.succeeded",
        "createdDate": "2026-11-26T09:00:00Z",
        "payload": {
            "id": "rfd_" + "B" * 24,
            "type": "refund",
            "createdDate": "2026-11-26T09:00:00Z",
            "amount": 5000,
            "currency": "ZAR",
            "paymentId": "p_" + "C" * 24,
            "status": "succeeded",
            "mode": "live",
            "metadata": {"checkoutId": "ch_" + "D" * 24},
            "refundableAmount": 0,
        },
    }
    base = json.dumps(event, separators=(",", ":"))
    event["payload"]["metadata"]["note"] = "x" * (1024 - len(base) - len(',"note":""'))  # type: ignore[index]
    body = json.dumps(event, separators=(",", ":"))
    assert len(body) == 1024, len(body)
    return body


def bench_webhooks(rounds: int, n: int) -> Dict[str, List[float]]:
    body = webhook_body()
    raw = body.encode()
    signer = standardwebhooks.Webhook(SECRET)
    now = datetime.now(tz=timezone.utc)
    headers = {
        "webhook-id": "msg_bench",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign("msg_bench", now, body),
    }
    ours = refundkit.WebhookVerifier(SECRET)
    theirs = standardwebhooks.Webhook(SECRET)
    assert ours.verify(headers, raw).payload == theirs.verify(raw, headers)["payload"]
    results: Dict[str, List[float]] = {
        "refundkit.WebhookVerifier.verify": [],
        "refundkit verify + .payload dict": [],
        "standardwebhooks verify (+json.loads)": [],
    }
    for _ in range(rounds):
        results["refundkit.WebhookVerifier.verify"].append(sequential(lambda: ours.verify(headers, raw), n))
        results["refundkit verify + .payload dict"].append(sequential(lambda: ours.verify(headers, raw).payload, n))
        results["standardwebhooks verify (+json.loads)"].append(sequential(lambda: theirs.verify(raw, headers), n))
    return results


def import_time(module: str, runs: int = 15) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(runs)]
    return statistics.median(times) * 1000


RSS_CODE = """
import sys
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
kind, url, checkout, key = sys.argv[1:]
if kind == "refundkit":
    import refundkit
    c = refundkit.Client(key, base_url=url)
    c.refund(checkout, amount=1)
elif kind == "httpx":
    import httpx, uuid
    c = httpx.Client(base_url=url, headers={"authorization": "Bearer " + key})
    c.post(f"/api/checkouts/{checkout}/refund", content=b'{"amount":1}', headers={"idempotency-key": str(uuid.uuid4())})
elif kind == "requests":
    import requests, uuid
    c = requests.Session()
    c.post(f"{url}/api/checkouts/{checkout}/refund", data=b'{"amount":1}', headers={"authorization": "Bearer " + key, "idempotency-key": str(uuid.uuid4())})
print(rss())
"""


def rss_mb(kind: str, emulator: Emulator, checkout: str) -> float:
    out = subprocess.check_output([sys.executable, "-c", RSS_CODE, kind, emulator.url, checkout, KEY], text=True)
    return float(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000, help="refunds per client per round")
    parser.add_argument("--verifications", type=int, default=20000, help="webhook verifications per round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sweep", type=int, nargs="*", default=[1, 4, 16, 64], help="concurrencies for the chart")
    parser.add_argument("--json", help="write the sweep's medians here (for scripts/bench_charts.py)")
    args = parser.parse_args()

    emulator = Emulator()
    try:
        rows: List[tuple[str, str, str]] = []

        def add(section: Dict[str, List[float]], unit: str, baseline: str) -> None:
            base = statistics.median(section[baseline])
            for name, values in section.items():
                med = statistics.median(values)
                rows.append((name, f"{med:,.0f} {unit}", f"{med / base:.2f}x"))

        sync = bench_sync(emulator, args.rounds, args.requests)
        add(sync, "refunds/s", "httpx.Client")
        conc = bench_async(emulator, args.rounds, args.requests, args.concurrency)
        add(conc, "refunds/s", fastest_peer(conc))
        sweep: Dict[str, Dict[str, float]] = {}
        for c in args.sweep:
            # The chart's points: fewer rounds than the table's figure.
            rounds = max(1, min(args.rounds, 3))
            for name, values in bench_async(emulator, rounds, args.requests // 2, c).items():
                sweep.setdefault(name.split(" (")[0], {})[str(c)] = statistics.median(values)
        if args.json:
            pathlib.Path(args.json).write_text(json.dumps({"language": "Python", "unit": "refunds/s", "series": sweep}))
        hooks = bench_webhooks(args.rounds, args.verifications)
        add(hooks, "verifications/s", "standardwebhooks verify (+json.loads)")

        for module in ("refundkit", "httpx", "requests", "standardwebhooks"):
            rows.append((f"import {module}", f"{import_time(module):.1f} ms", ""))
        checkout = emulator.big_paid_checkout()
        baseline = rss_mb("none", emulator, checkout)
        rows.append(("RSS: python, nothing imported", f"{baseline:.1f} MB", ""))
        for kind in ("refundkit", "httpx", "requests"):
            rows.append((f"RSS: {kind} client after one refund", f"{rss_mb(kind, emulator, checkout):.1f} MB", ""))
    finally:
        emulator.stop()

    print(
        f"Python {sys.version.split()[0]}, refundkit {refundkit.__version__}, httpx {httpx.__version__}, "
        f"aiohttp {aiohttp.__version__}, "
        f"requests {requests.__version__}; {os.cpu_count()} CPUs; median of {args.rounds} rounds; "
        f"{args.requests} refunds per client per round; {args.verifications} verifications per round"
    )
    width = max(len(r[0]) for r in rows)
    print(f"| {'benchmark'.ljust(width)} | result | vs baseline |")
    print(f"|{'-' * (width + 2)}|--------|-------------|")
    for name, value, ratio in rows:
        print(f"| {name.ljust(width)} | {value} | {ratio} |")


if __name__ == "__main__":
    main()
