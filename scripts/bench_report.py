#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the raw output of scripts/bench.

    python3 scripts/bench_report.py OUT_DIR DURATION SEQ CONC [--quick]
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List


def sh(cmd: str) -> str:
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:  # noqa: BLE001 - a missing tool only blanks a line
        return "?"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def table_lines(text: str) -> List[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def criterion_rows(text: str) -> List[str]:
    rows = []
    name = None
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s+time:\s+\[(\S+ \S+) (\S+ \S+) (\S+ \S+)\]", line)
        if m:
            rows.append(f"| {m.group(1)} | {m.group(3)} | [{m.group(2)}, {m.group(4)}] |")
            name = None
            continue
        m = re.match(r"^\s+time:\s+\[(\S+ \S+) (\S+ \S+) (\S+ \S+)\]", line)
        if m and name:
            rows.append(f"| {name} | {m.group(2)} | [{m.group(1)}, {m.group(3)}] |")
            name = None
            continue
        m = re.match(r"^(\S+/\S+|\S+)$", line.strip())
        if m and not line.startswith(" ") and "Benchmarking" not in line and "Found" not in line:
            name = m.group(1)
        m = re.match(r"^\s+thrpt:\s+\[(\S+ \S+) (\S+ \S+) (\S+ \S+)\]", line)
        if m and rows:
            rows[-1] = rows[-1][:-1] + f" {m.group(2)} |"
    return rows


def main() -> None:
    out = Path(sys.argv[1])
    duration, seq, conc = sys.argv[2], sys.argv[3], sys.argv[4]
    quick = len(sys.argv) > 5 and sys.argv[5] == "--quick"
    wrk: Dict[str, int] = {}
    for line in (out / "wrk.txt").read_text().splitlines():
        parts = line.split()
        wrk[parts[0]] = int(parts[1])
    sizes = {}
    for line in (out / "sizes.txt").read_text().splitlines():
        parts = line.split()
        sizes[parts[0]] = (int(parts[1]), " ".join(parts[2:]))
    client = (out / "client.txt").read_text()
    # Columns: series | runtime | conc | calls | refunds/s | client CPU.
    sdk_c64 = {
        cells[2]: float(cells[5])
        for cells in (l.split("|") for l in table_lines(client))
        if len(cells) > 6 and "refundkit::Client" in cells[1] and cells[3].strip() == "64"
    }
    sdk_c64 = {k.strip(): v for k, v in sdk_c64.items()}
    mb = lambda n: f"{n / 1e6:.2f} MB"  # noqa: E731

    p = print
    p("# Benchmarks")
    p()
    if quick:
        p("**Quick run (`scripts/bench --quick`): short durations, indicative only.**")
        p()
    ran = datetime.fromtimestamp((out / "wrk.txt").stat().st_mtime, timezone.utc)
    p(f"Written by `scripts/bench` from its run of {ran:%Y-%m-%d %H:%M} UTC. Every figure below comes")
    p("from that one run, each side by side with its peer. Timings are never asserted in tests.")
    p()
    p("## Machine")
    p()
    p(f"- CPU: {cpu_model()}, {os.cpu_count()} cores (shared by the server under test and the client)")
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    p(f"- Memory: {mem_kib / 1024 / 1024:.1f} GiB; kernel {platform.release()}")
    p(f"- Load average when the report was written: {load}")
    p(f"- {sh('rustc --version')}; Python {sh('target/venv-python/bin/python -V')}; {sh('java -version 2>&1 | head -1')}")
    p("- Release profile: thin LTO, 4 codegen units; `dist` profile: fat LTO, 1 codegen unit, symbols stripped")
    p()
    p("## 1. The limit: the emulator under a load generator")
    p()
    p(f"`wrk` (keep-alive, {duration} s per row, `scripts/refund.lua`): every request is a real one-cent")
    p("refund of one large paid checkout. The reference is `minimal-server` (tools/): the same hyper/axum")
    p("stack answering a fixed 202 and doing nothing else, i.e. the loopback round trip.")
    p()
    p("| server | connections | requests/s | emulator / minimal |")
    p("|---|---:|---:|---:|")
    for c in ("c1", "c64"):
        e, m = wrk.get(f"emulator-{c}", 0), wrk.get(f"minimal-{c}", 0)
        p(f"| emulator (refunds) | {c[1:]} | {e:,} | {e / m:.0%} |" if m else f"| emulator | {c[1:]} | {e:,} | |")
        p(f"| minimal-server | {c[1:]} | {m:,} | |")
    ledger = (out / "ledger.txt").read_text().strip()
    p()
    p(f"Refunds in the emulator's ledger after the wrk runs: {ledger} (every request was a real refund).")
    p(f"Target ≥ 20,000 refunds/s at 64 connections: **{'met' if wrk.get('emulator-c64', 0) >= 20000 else 'missed'}**.")
    p()
    p("## 2. The core end to end: `refundkit::Client` vs a bare reqwest POST")
    p()
    p(f"`target/release/bench-client --base-url URL --sequential {seq} --concurrent {conc}` against one")
    p("`refundkit emulator`. The peer is a bare reqwest POST of the same request (authorization,")
    p("content-type, a fresh UUIDv4 key, `{\"amount\":1}`) on a pooled client, answer parsed as JSON. The")
    p("SDK also sends `User-Agent` and `Accept`, and adds validation, the retry loop, a per-attempt")
    p("timeout, typed parsing and error finishing. Each series runs as a task on tokio's multi-thread")
    p("runtime (the `#[tokio::main]` default); at concurrency 64 also on one current-thread runtime, and")
    p("thread per core (`2 × current-thread`: two threads, each with its own runtime, client and 32 calls")
    p("in flight, the way `wrk -t2 -c64` runs). SDK and peer alternate over 5 rounds; the median round")
    p("is shown. Client CPU is this process's user + system time per call, from `/proc/self/stat`.")
    p()
    for line in client.splitlines():
        p(line)
    c64 = wrk.get("emulator-c64", 0)
    if c64 and sdk_c64:
        p()
        p("SDK at concurrency 64 vs the load generator (`wrk -t2 -c64`) in this run (target ≥ 70%):")
        p()
        for rt, rate in sdk_c64.items():
            p(f"- {rt} runtime: {rate:,.0f} / {c64:,} = **{rate / c64:.0%}**")
    p()
    p("## 3. Pure functions (criterion)")
    p()
    p("`cargo bench -p refundkit --bench protocol` (median, [low, high] of the 95% interval; throughput for webhooks):")
    p()
    p("| benchmark | median | interval |")
    p("|---|---:|---|")
    for row in criterion_rows((out / "criterion.txt").read_text()):
        p(row)
    p()
    p("## 4. Size")
    p()
    p("| artifact | release (stripped) | dist (stripped) |")
    p("|---|---:|---:|")
    if "cli_release" in sizes:
        p(f"| CLI `refundkit` (includes the emulator) | {mb(sizes['cli_release'][0])} | "
          f"{mb(sizes['cli_dist'][0]) if 'cli_dist' in sizes else 'not built'} |")
    if "uniffi_release" in sizes:
        p(f"| uniffi cdylib `librefundkit_uniffi.so` | {mb(sizes['uniffi_release'][0])} | "
          f"{mb(sizes['uniffi_dist'][0]) if 'uniffi_dist' in sizes else 'not built'} |")
    if "wheel" in sizes:
        p(f"| Python wheel `{sizes['wheel'][1]}` (release) | {mb(sizes['wheel'][0])} | |")
    p()
    p("`panic = \"abort\"` is not used: the bindings rely on unwinding to turn a panic into an error")
    p("instead of killing the host process.")
    p()
    p("## 5. Python (`scripts/bench_python.py`)")
    p()
    p("`REFUNDKIT_BIN=target/release/refundkit target/venv-python/bin/python scripts/bench_python.py`:")
    p()
    for line in (out / "python.txt").read_text().splitlines():
        p(line)
    p()
    p("## 6. JVM (`scripts/bench_jvm`)")
    p()
    for line in (out / "jvm.txt").read_text().splitlines():
        if line.startswith("|") or line.startswith("refunds of"):
            p(line)
    p()
    p("## Reproduce")
    p()
    p("```sh")
    p("scripts/test          # once: builds the Python venv and the Kotlin classes")
    p("scripts/bench         # writes this file; raw output in target/bench/")
    p("```")


if __name__ == "__main__":
    main()
