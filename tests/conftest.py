"""Shared fixtures: an isolated cache folder and small built datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmark.mini import MiniSizes, build_mini

SMALL = MiniSizes(capeval_per_count=3, lsd=4, lar=4, itr=4)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep generated datasets and request caches out of the user's home."""
    folder = Path(os.environ.get("COVIP_TEST_CACHE_DIR") or tmp_path_factory.mktemp("cache"))
    os.environ["COVIP_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small mini benchmark folder (12 CapEval-QA samples, 4 items per diagnostic task)."""
    out = tmp_path_factory.mktemp("data") / "mini_small"
    return build_mini(out, seed=7, sizes=SMALL, workers=1, progress=False)


@pytest.fixture(scope="session")
def baseline_results(isolated_cache: Path) -> dict[str, dict]:
    """Every baseline on the full default builtin:mini with the offline judge (normalized as
    in the golden file)."""
    from golden_results import baseline_results as run_baselines

    return run_baselines()
