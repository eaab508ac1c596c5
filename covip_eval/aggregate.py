"""Aggregation: ratios over samples, per number of concepts, with bootstrap standard errors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_ITERATIONS = 1000


def ratio(parts: Sequence[tuple[float, float]]) -> float | None:
    den = sum(d for _, d in parts)
    return None if den == 0 else sum(n for n, _ in parts) / den


def bootstrap_stderr(parts: Sequence[tuple[float, float]], seed: int,
                     iterations: int = BOOTSTRAP_ITERATIONS) -> float | None:
    """Standard error of the ratio, resampling whole samples (questions of one caption move
    together, so they are not treated as independent)."""
    if len(parts) < 2:
        return None
    nums = np.array([n for n, _ in parts], dtype=np.float64)
    dens = np.array([d for _, d in parts], dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(parts), size=(iterations, len(parts)))
    den_sums = dens[idx].sum(axis=1)
    valid = den_sums > 0
    if valid.sum() < 2:
        return None
    ratios = nums[idx].sum(axis=1)[valid] / den_sums[valid]
    return float(ratios.std(ddof=1))
