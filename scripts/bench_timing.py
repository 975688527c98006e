"""Timing loops shared by the Python benchmarks (bench_python.py,
bench_logs.py): calls/s after a warm-up, sequential or N at a time."""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

# Calls made before timing starts (at most n), so pools and caches are warm.
WARM_UP = 100


def sequential(call: Callable[[], object], n: int) -> float:
    for _ in range(min(WARM_UP, n)):
        call()
    started = time.perf_counter()
    for _ in range(n):
        call()
    return n / (time.perf_counter() - started)


async def timed_workers(make: Callable[[], Awaitable[object]], n: int, concurrency: int) -> float:
    """Calls/s of `n` awaits of `make()`, `concurrency` at a time, after a warm-up."""
    left = min(WARM_UP, n)

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await make()

    await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm-up
    left = n
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)
