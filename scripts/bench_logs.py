#!/usr/bin/env python3
"""The cost of refundkit's logs in Python (issue 14; ADR 0019).

Sequential refunds/s (refundkit.Client) and refunds/s at concurrency 32
(refundkit.AsyncClient) against one `refundkit emulator` (found like the
tests find it: $REFUNDKIT_BIN, else the newest target/{release,debug}/refundkit),
with the `refundkit` logger at each setting below; rounds interleaved,
median of --rounds. Besides refunds/s it prints the client process's CPU
time per refund (all its threads), which a loaded machine disturbs less.
To compare wheels in one run, give one interpreter per wheel (each round
runs every interpreter in turn against the same emulator):

    python scripts/bench_logs.py [--rounds 7] [--requests 1000] \
        [--python venv-before/bin/python --python venv-after/bin/python]

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
import time
import urllib.request
from typing import Any, Dict, List

import refundkit
from bench_timing import WARM_UP, sequential, timed_workers

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


LEVELS = {"off": logging.WARNING, "debug": logging.DEBUG}


class Discard(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        pass


def measure(url: str, checkout: str, setting: str, requests: int, concurrency: int) -> Dict[str, float]:
    """One round at one logging setting: refunds/s and client CPU µs per
    refund (every thread of this process, runtime threads included),
    sequential and at `concurrency`."""
    logger = logging.getLogger("refundkit")
    logger.setLevel(LEVELS[setting])
    client = refundkit.Client(KEY, base_url=url)
    calls = requests + min(WARM_UP, requests)  # the timing loops warm up first

    async def run_async() -> float:
        async with refundkit.AsyncClient(KEY, base_url=url) as aclient:
            return await timed_workers(lambda: aclient.refund(checkout, amount=1), requests, concurrency)

    cpu = time.process_time()
    seq = sequential(lambda: client.refund(checkout, amount=1), requests)
    seq_cpu = (time.process_time() - cpu) / calls * 1e6
    cpu = time.process_time()
    conc = asyncio.run(run_async())
    conc_cpu = (time.process_time() - cpu) / calls * 1e6
    return {
        f"{setting} sequential refunds/s": seq,
        f"{setting} sequential CPU µs/refund": seq_cpu,
        f"{setting} async c{concurrency} refunds/s": conc,
        f"{setting} async c{concurrency} CPU µs/refund": conc_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        help="an interpreter with a refundkit wheel installed; give it twice or more to compare wheels in one run",
    )
    parser.add_argument("--child", nargs=2, metavar=("URL", "CHECKOUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    logger = logging.getLogger("refundkit")
    logger.propagate = False
    logger.addHandler(Discard())
    if args.child:
        url, checkout = args.child
        results = {}
        for setting in LEVELS:
            results.update(measure(url, checkout, setting, args.requests, args.concurrency))
        print(json.dumps({"where": str(pathlib.Path(refundkit.__file__).parent), "results": results}))
        return

    interpreters = args.python or [sys.executable]
    process = subprocess.Popen([find_binary(), "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip().removeprefix("listening on ")
    runs: Dict[str, Dict[str, List[float]]] = {}
    wheels: Dict[str, str] = {}
    try:
        checkout = big_paid_checkout(url)
        for _ in range(args.rounds):
            for python in interpreters:  # alternated, so load drifts hit every wheel alike
                child = subprocess.run(
                    [python, __file__, "--child", url, checkout, "--requests", str(args.requests),
                     "--concurrency", str(args.concurrency)],
                    check=True, capture_output=True, text=True,
                )
                out = json.loads(child.stdout)
                wheels[python] = out["where"]
                for name, value in out["results"].items():
                    runs.setdefault(name, {}).setdefault(python, []).append(value)
    finally:
        process.terminate()
        process.wait()
    for python in interpreters:
        print(f"{python}: refundkit from {wheels[python]}")
    header = " | ".join(pathlib.Path(p).parent.parent.name or p for p in interpreters)
    print(f"median of {args.rounds} interleaved rounds x {args.requests} refunds; columns: {header}")
    for name, by_python in runs.items():
        cells = " | ".join(f"{statistics.median(by_python[p]):9.1f}" for p in interpreters)
        print(f"{name:>34}: {cells}")


if __name__ == "__main__":
    main()
