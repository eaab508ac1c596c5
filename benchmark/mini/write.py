"""Building the mini benchmark into a dataset folder, in parallel, with a progress bar."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmark.features import CONFIGS
from benchmark.mini.generate import GENERATOR_VERSION, MiniSizes, describe, generate_sample
from benchmark.rows import sample_to_row
from benchmark.storage import AtomicFolder, write_config, write_manifest


def _row(job: tuple[int, str, int, MiniSizes]) -> dict[str, Any]:
    seed, config, index, sizes = job
    return sample_to_row(generate_sample(seed, config, index, sizes))


def build_mini(
    out: Path, seed: int = 0, sizes: MiniSizes | None = None, workers: int | None = None,
    progress: bool = True, overwrite: bool = False,
) -> Path:
    """Generate every configuration into `out` (written atomically). Returns `out`."""
    from tqdm import tqdm

    sizes = sizes or MiniSizes()
    workers = workers or min(16, os.cpu_count() or 1)
    jobs = {c: [(seed, c, i, sizes) for i in range(sizes.count(c))] for c in CONFIGS}
    total = sum(len(j) for j in jobs.values())
    with AtomicFolder(out, overwrite=overwrite) as tmp:
        bar = tqdm(total=total, desc="building builtin:mini", unit="sample", disable=not progress)
        with ProcessPoolExecutor(workers) if workers > 1 else _Inline() as pool:
            for config, config_jobs in jobs.items():
                rows = []
                for row in pool.map(_row, config_jobs, chunksize=8):
                    rows.append(row)
                    bar.update()
                write_config(tmp, config, rows)
        bar.close()
        write_manifest(tmp, {
            "name": "builtin:mini",
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "spec": describe(seed, sizes),
            "counts": {c: len(j) for c, j in jobs.items()},
        })
    return out


class _Inline:
    """A stand-in for a process pool that maps in this process (one worker)."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, fn, items, chunksize: int = 1):
        return map(fn, items)
