"""Harness overhead of a full `covip` run on builtin:mini with the `blind` model and the
offline judge, cold cache then warm cache.

Prints samples/s, peak RSS, model calls, image decodes per sample, and the harness time per
sample beyond dataset loading (the blind model itself costs microseconds).

    python bench/bench_eval_overhead.py
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from benchmark.loading import builtin_folder
from covip_eval.engine.run import EvalSettings, evaluate


def main() -> None:
    builtin_folder("builtin:mini", progress=True)  # build outside the timing
    print("| cache | samples | seconds | samples/s | ms/sample | model calls | "
          "image decodes/sample | peak RSS MiB |")
    print("|-------|--------:|--------:|----------:|----------:|------------:|"
          "---------------------:|-------------:|")
    with tempfile.TemporaryDirectory() as tmp:
        settings = EvalSettings(model="blind", tasks=["covip"], cache_path=Path(tmp) / "c.db",
                                progress=False)
        for label in ("cold", "warm"):
            start = time.perf_counter()
            results = evaluate(settings).results
            seconds = time.perf_counter() - start
            n = sum(v["effective"] for v in results["n-samples"].values())
            usage = results["usage"]
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"| {label} | {n} | {seconds:.2f} | {n / seconds:.0f} | "
                  f"{1000 * seconds / n:.2f} | {usage['model']['called']} | "
                  f"{usage['image_decodes'] / n:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
