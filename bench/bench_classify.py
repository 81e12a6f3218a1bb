"""Labelling speed of the classifier, single-threaded, against a plain baseline.

    python bench/bench_classify.py [--posts 100000] [--runs 5]

Takes the corpus posts, repeats them (with fresh ids and shifted times) into accounts of about
2,000 posts each, loads the shipped model once, then times ``classify_posts`` end to end:
HTML stripping, placeholders, text hashing, structural and account-context features (own
domains, recurring links and wording, scheduled minutes), the definitional rules, the model and
the reasons. The baseline in the same command is a plain ``TfidfVectorizer`` (word 1-2-grams) +
``LogisticRegression`` fitted on the same corpus and timed on the same texts (text only, no
context, no reasons). Prints the median posts/second of ``--runs`` runs, per second of this
thread's CPU time and per wall-clock second.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from datetime import timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.base import Post  # noqa: E402
from engage import classify  # noqa: E402


def make_posts(n: int, per_account: int = 2000) -> tuple[list[Post], list[str]]:
    corpus = classify.load_corpus()
    posts: list[Post] = []
    groups: list[str] = []
    i = 0
    while len(posts) < n:
        for row in corpus:
            if len(posts) >= n:
                break
            p = row.post
            shift = timedelta(days=7 * (i // len(corpus)))
            posts.append(replace(p, post_id=f"{p.post_id}-{i}", created_at=p.created_at + shift))
            groups.append(f"{row.group}-{len(posts) // per_account}")
            i += 1
    return posts, groups


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration):
        mem = "unknown RAM"
    return f"nproc {os.cpu_count()}, {cpu}, {mem}, Python {platform.python_version()}"


def main() -> int:
    ap = argparse.ArgumentParser(description="classifier labelling speed")
    ap.add_argument("--posts", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    posts, groups = make_posts(args.posts)
    model = classify.load_shipped_model()
    settings = classify._default_settings()
    classify.classify_posts(posts[:1000], model=model, settings=settings)  # warm-up

    corpus = classify.load_corpus()
    baseline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=1000))
    baseline.fit([r.post.text for r in corpus], [r.label for r in corpus])
    texts = [p.text for p in posts]

    # Throughput per second of CPU time of this (single) thread, and per wall-clock second: on a
    # shared machine the wall clock also counts time spent waiting for other processes.
    ours: list[float] = []
    ours_wall: list[float] = []
    base: list[float] = []
    base_wall: list[float] = []
    for _ in range(args.runs):
        w0, c0 = time.perf_counter(), time.process_time()
        preds = classify.classify_posts(posts, model=model, settings=settings, groups=groups)
        ours.append(len(posts) / (time.process_time() - c0))
        ours_wall.append(len(posts) / (time.perf_counter() - w0))
        assert len(preds) == len(posts) and all(p.reason for p in preds)
        w0, c0 = time.perf_counter(), time.process_time()
        baseline.predict(texts)
        base.append(len(posts) / (time.process_time() - c0))
        base_wall.append(len(posts) / (time.perf_counter() - w0))

    def fmt(xs: list[float]) -> str:
        return f"{statistics.median(xs):,.0f} posts/s (runs: {', '.join(f'{x:,.0f}' for x in xs)})"

    print(machine())
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"{len(posts)} posts in {len(set(groups))} accounts, {args.runs} runs, one thread")
    print("engage classify_posts (features + context + rules + model + reasons):")
    print(f"  per CPU second:  median {fmt(ours)}")
    print(f"  per wall second: median {fmt(ours_wall)}")
    print("baseline TfidfVectorizer(1,2) + LogisticRegression, text only:")
    print(f"  per CPU second:  median {fmt(base)}")
    print(f"  per wall second: median {fmt(base_wall)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
