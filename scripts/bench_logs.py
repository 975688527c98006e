#!/usr/bin/env python3
"""The cost of refundkit's logs in Python (issue 14; ADR 0019).

Sequential refunds/s (refundkit.Client) and refunds/s at concurrency 32
(refundkit.AsyncClient) against one `refundkit emulator` (found like the
tests find it: $REFUNDKIT_BIN, else the newest target/{release,debug}/refundkit),
with the `refundkit` logger at each setting below; rounds interleaved,
median of --rounds. Run it once per installed wheel to compare builds
(e.g. the wheel before logging existed, and the current one):

    python scripts/bench_logs.py [--rounds 7] [--requests 1000]

Settings: `off`: the logger at WARNING (Python's default), so DEBUG
records are dropped in Rust; `debug`: DEBUG on with one handler that
discards, the cost of producing and delivering every record. A build
without logging ignores the level.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import pathlib
import statistics
import subprocess
import sys
import urllib.request
from typing import Any, Dict, List

import refundkit
from bench_timing import sequential, timed_workers

REPO = pathlib.Path(__file__).resolve().parents[1]
KEY = "sk_live_benchmark0000000000000000"


def find_binary() -> str:
    configured = os.environ.get("REFUNDKIT_BIN")
    if configured:
        return configured
    found = [REPO / "target" / p / "refundkit" for p in ("release", "debug")]
    found = [c for c in found if c.is_file()]
    if not found:
        sys.exit("build the CLI first: cargo build --release -p refundkit-cli (or set REFUNDKIT_BIN)")
    return str(max(found, key=lambda p: p.stat().st_mtime))


def big_paid_checkout(url: str) -> str:
    def call(path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            url + path,
            data=None if body is None else json.dumps(body).encode(),
            method="POST",
            headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    checkout_id = str(call("/api/checkouts", {"amount": 2**52, "currency": "ZAR"})["id"])
    call(f"/_emulator/checkouts/{checkout_id}/pay")
    return checkout_id


class Discard(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    logger = logging.getLogger("refundkit")
    logger.propagate = False
    logger.addHandler(Discard())
    levels = {"off": logging.WARNING, "debug": logging.DEBUG}
    process = subprocess.Popen([find_binary(), "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip().removeprefix("listening on ")
    results: Dict[str, List[float]] = {f"{k} {m}": [] for k in levels for m in ("sequential", "async c32")}
    try:
        checkout = big_paid_checkout(url)
        client = refundkit.Client(KEY, base_url=url)

        async def run_async() -> float:
            async with refundkit.AsyncClient(KEY, base_url=url) as aclient:
                return await timed_workers(lambda: aclient.refund(checkout, amount=1), args.requests, args.concurrency)

        for _ in range(args.rounds):
            for name, level in levels.items():
                logger.setLevel(level)
                seq = sequential(lambda: client.refund(checkout, amount=1), args.requests)
                results[f"{name} sequential"].append(seq)
                results[f"{name} async c32"].append(asyncio.run(run_async()))
    finally:
        process.terminate()
        process.wait()
    print(f"refundkit {refundkit.__version__} from {pathlib.Path(refundkit.__file__).parent}")
    for name, values in results.items():
        print(
            f"{name:>18}: {statistics.median(values):7.0f} refunds/s "
            f"(median of {len(values)}; min {min(values):.0f}, max {max(values):.0f})"
        )


if __name__ == "__main__":
    main()
