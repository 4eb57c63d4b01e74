#!/usr/bin/env python3
"""Runs `cargo bench --bench hot_path` several times and prints the hot-path ratios as a markdown
table. Each ratio is taken within one run (two medians measured minutes apart at most, so a
shared, noisy machine moves both sides alike), and the table gives the median of the runs'
ratios with their range.

    python3 scripts/bench-report.py [--runs 5] [--measurement-time 2] [--target-dir target]
    python3 scripts/bench-report.py --runs 0   # only read the last run's results

Each row names the measured benchmark and its comparator (criterion's `group/function`), the
ratio, and the two medians in nanoseconds. The scaling rows compare throughput: a 2-thread
run does twice the work in the wall time criterion reports, so `2 × t(1 thread) / t(2 threads)`
is the speed-up (2.0 would be perfect), divided by the floor's own speed-up.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys


def median(target, bench):
    path = os.path.join(target, "criterion", *bench.split("/"), "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except FileNotFoundError:
        sys.exit(f"no result for {bench} ({path}); run `cargo bench --bench hot_path` first")


ROWS = [
    ("HS256 authenticate ÷ bare `jsonwebtoken::decode`", "hs256/verify", "hs256/jsonwebtoken_decode", "≤ 0.5"),
    ("HS256 authenticate ÷ primitive floor", "hs256/verify", "hs256/floor", "≤ 1.1"),
    ("Ed25519 authenticate ÷ floor", "eddsa/verify", "eddsa/floor", "≤ 1.0"),
    ("the same token again (HS256) ÷ HS256 floor", "hs256/cached", "hs256/floor", "≤ 0.1"),
    ("the same token again (Ed25519) ÷ HS256 floor", "eddsa/cached", "hs256/floor", "≤ 0.1"),
    ("garbage ÷ HS256 authenticate", "hs256/garbage", "hs256/verify", "≤ 0.2"),
    ("API key, `MemoryStore` with 1 M keys ÷ floor", "api_key/memory_cached", "api_key/floor", "≤ 1.3"),
    ("API key, `MemoryStore` with 1 M keys, key cache off ÷ floor", "api_key/memory_uncached", "api_key/floor", "—"),
    ("API key, `SqlStore` on SQLite, steady state ÷ floor", "api_key/sqlite_cached", "api_key/floor", "≤ 2"),
]

SCALING = [
    ("2 threads ÷ 1 thread, ÷ the floor's own: full verification", "verify", "≥ 0.97"),
    ("2 threads ÷ 1 thread, ÷ the floor's own: cache hit", "cached", "≥ 0.97"),
]


def ratios(target):
    """The ratios of one run: {row name: value}."""
    out = {}
    for name, measured, against, _ in ROWS:
        out[name] = median(target, measured) / median(target, against)

    def speedup(fn):
        return 2 * median(target, f"scaling/{fn}_1t") / median(target, f"scaling/{fn}_2t")

    floor = speedup("floor")
    for name, fn, _ in SCALING:
        out[name] = speedup(fn) / floor
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", "target"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--measurement-time", default="2")
    args = parser.parse_args()

    runs = []
    for i in range(args.runs):
        print(f"run {i + 1} of {args.runs}...", file=sys.stderr)
        subprocess.run(
            ["cargo", "bench", "--bench", "hot_path", "--", "--noplot",
             "--warm-up-time", "1", "--measurement-time", args.measurement_time],
            check=True, stdout=subprocess.DEVNULL,
        )
        runs.append(ratios(args.target_dir))
    if not runs:
        runs.append(ratios(args.target_dir))

    goals = {name: goal for name, _, _, goal in ROWS}
    goals.update({name: goal for name, _, goal in SCALING})
    print(f"| path | ratio (median of {len(runs)} runs) | range | target |")
    print("|---|---|---|---|")
    for name in goals:
        values = [r[name] for r in runs]
        print(f"| {name} | {statistics.median(values):.2f} | "
              f"{min(values):.2f}–{max(values):.2f} | {goals[name]} |")


if __name__ == "__main__":
    main()
