"""Behaviour pinned: every baseline's full results on builtin:mini equal the golden file."""

from __future__ import annotations

import json

import pytest
from golden_results import GOLDEN


@pytest.mark.slow
def test_baseline_results_equal_the_golden_file(baseline_results: dict[str, dict]) -> None:
    golden = json.loads(GOLDEN.read_text())
    assert sorted(baseline_results) == sorted(golden)
    for model, results in baseline_results.items():
        assert results == golden[model], f"{model}: results moved from the golden file"
