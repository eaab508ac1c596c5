"""Time building the default mini benchmark; print samples/s and peak memory.

    python bench/bench_build_mini.py [--workers N] [--seed S]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from benchmark.mini import MiniSizes, build_mini


def _peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = MiniSizes()
    total = sum(sizes.count(c) for c in ("capeval_qa", "lsd", "lar", "itr"))
    print("| workers | samples | seconds | samples/s | peak RSS MiB (max process) |")
    print("|--------:|--------:|--------:|----------:|---------------------------:|")
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            build_mini(Path(tmp) / "mini", seed=args.seed, sizes=sizes, workers=workers,
                       progress=False)
            seconds = time.perf_counter() - start
        print(f"| {workers} | {total} | {seconds:.1f} | {total / seconds:.1f} | "
              f"{_peak_rss_mib():.0f} |")


if __name__ == "__main__":
    main()
