#!/usr/bin/env python3
"""Draws refunds/s against concurrency, one PNG per language, from the JSON
files the benchmarks write (`{"language", "unit", "series": {name: {c: rate}}}`).

    python scripts/bench_charts.py OUT_DIR target/bench/*.json

Needs matplotlib (scripts/bench installs it into the Python venv).
"""

from __future__ import annotations

import json
import pathlib
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first


def draw(doc: dict, out: pathlib.Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for name, points in doc["series"].items():
        xs = sorted(int(c) for c in points)
        ours = name.lower().startswith(("refundkit", "client.refund", "binding"))
        ax.plot(xs, [points[str(x)] for x in xs], marker="o", linewidth=2.4 if ours else 1.4,
                linestyle="-" if ours else "--", label=name)
    ax.set_xscale("log", base=2)
    ticks = sorted({int(c) for points in doc["series"].values() for c in points})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("concurrency (requests in flight)")
    ax.set_ylabel(doc.get("unit", "refunds/s"))
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title(f"{doc['language']}: refunds/s against the emulator (2 cores, same machine)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main() -> None:
    out_dir = pathlib.Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sys.argv[2:]:
        doc = json.loads(pathlib.Path(path).read_text())
        slug = re.sub(r"[^a-z0-9]+", "-", doc["language"].lower()).strip("-")
        target = out_dir / f"refunds-{slug}.png"
        draw(doc, target)
        print(target)


if __name__ == "__main__":
    main()
