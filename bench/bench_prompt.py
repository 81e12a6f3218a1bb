"""Benchmark: `engage prompt` against a bare `python3 -c pass`, measured in the same run.

Builds the demo database (which writes the goal cache) in a temporary ENGAGE_HOME, then times
N alternating runs of each command as subprocesses and prints the medians.

    python bench/bench_prompt.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    engage = shutil.which("engage")
    if engage is None:
        print("engage is not installed (pip install -e .)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, ENGAGE_HOME=home)
        subprocess.run([engage, "demo"], env=env, stdout=subprocess.DEVNULL, check=True)
        db = os.path.join(home, "demo", "demo.duckdb")
        prompt = [engage, "--db", db, "prompt", "--ignore-quiet-hours"]
        out = subprocess.run(prompt, env=env, capture_output=True, text=True, check=True)
        print(f"engage prompt prints: {out.stdout.strip()!r}")
        bare = [sys.executable, "-c", "pass"]
        for cmd in (bare, prompt):  # warm the page cache and .pyc files
            timed(cmd, env)
        t_bare, t_prompt = [], []
        for _ in range(args.runs):
            t_bare.append(timed(bare, env))
            t_prompt.append(timed(prompt, env))
    mb, mp = statistics.median(t_bare), statistics.median(t_prompt)
    print(f"runs: {args.runs} each, alternating")
    print(f"python3 -c pass   median {mb * 1000:6.1f} ms")
    print(f"engage prompt     median {mp * 1000:6.1f} ms   ({mp / mb:.2f}x the bare interpreter)")
    ok = mp <= 3 * mb
    print("within 3x python3 -c pass:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
