"""Benchmark: reading a Bluesky repository CAR (MST walk + record -> Post) against the bare
decode of the same file (libipld.decode_car), the floor any CAR reader pays.

    python bench/bench_bluesky_car.py [N_RECORDS] [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import libipld

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bluesky_car_build import Repo

from connectors.bluesky_car import BlueskyCarImporter

TID = "234567abcdefghijklmnopqrstuvwxyz"


def rkey(i: int) -> str:
    n, out = (1_700_000_000_000_000 + i * 1_000_000) << 10, ""
    for _ in range(13):
        out, n = TID[n & 31] + out, n >> 5
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    text = "Hi @bob.test read https://example.com/a"
    records = {}
    for i in range(n):
        records[f"app.bsky.feed.post/{rkey(i)}"] = {
            "$type": "app.bsky.feed.post",
            "text": f"{text} {i}",
            "langs": ["en"],
            "createdAt": "2024-03-01T12:00:00.000Z",
            "facets": [
                {
                    "index": {"byteStart": 3, "byteEnd": 12},
                    "features": [
                        {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:bob"}
                    ],
                }
            ],
        }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo.car"
        path.write_bytes(Repo("did:plc:alice", records).car())
        base, full = [], []
        for _ in range(runs):
            t = time.perf_counter()
            libipld.decode_car(path.read_bytes())
            base.append(time.perf_counter() - t)
            t = time.perf_counter()
            count = sum(1 for _ in BlueskyCarImporter(path).iter_items())
            full.append(time.perf_counter() - t)
        assert count == n
        size = path.stat().st_size
    print(f"{n} posts, CAR {size / 1e6:.1f} MB, {runs} runs")
    print(f"baseline libipld.decode_car: median {statistics.median(base):.3f} s")
    print(
        f"BlueskyCarImporter.iter_items: median {statistics.median(full):.3f} s "
        f"({n / statistics.median(full):,.0f} posts/s)"
    )


if __name__ == "__main__":
    main()
