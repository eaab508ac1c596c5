"""Metric declarations: one ratio of sums, composite means, declared once, and the paired
bootstrap of a difference between two runs over the same samples."""

from __future__ import annotations

import numpy as np
import pytest

from covip_eval.errors import ConfigError
from covip_eval.metrics import Metric, metric, ratio_of_sums, register_metric


def test_ratio_of_sums_weighs_questions_not_samples() -> None:
    acc = metric("acc_pos")
    samples = [{"acc_pos": (3.0, 3.0)}, {"acc_pos": (0.0, 1.0)}]
    assert acc.value(samples) == pytest.approx(3 / 4)  # not the mean of 1.0 and 0.0
    assert acc.value([{"acc_pos": (0.0, 0.0)}]) is None
    assert ratio_of_sums([]) is None
    assert metric("acc_mean").value([{"acc_pos": (1.0, 2.0), "acc_neg": (3.0, 3.0)}]) == 0.75
    assert not metric("keyword_leak").higher_is_better and metric("acc_neg").per_count


def test_a_name_is_declared_once_and_unknown_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="declared twice"):
        register_metric(Metric("acc_pos", "again"))
    with pytest.raises(ConfigError, match="components .* not declared"):
        register_metric(Metric("odd_mean", "x", components=("acc_pos", "no_such")))
    with pytest.raises(ConfigError, match="no metric 'accuracyy'"):
        metric("accuracyy")


def _runs(n: int, seed: int) -> tuple[dict, dict]:
    """Two runs over the same samples whose per-sample scores share most of their spread."""
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0, 1, n)
    base = {f"s{i}": {"acc_pos": (float(rng.random() < d), 1.0)} for i, d in enumerate(difficulty)}
    target = {k: {"acc_pos": (min(1.0, v["acc_pos"][0] + float(rng.random() < 0.1)), 1.0)}
              for k, v in base.items()}
    return base, target


def test_paired_difference_is_tighter_than_unpaired_errors() -> None:
    acc = metric("acc_pos")
    base, target = _runs(400, seed=1)
    paired = acc.paired_difference(base, target, seed=0)
    assert paired.value == pytest.approx(acc.value(list(target.values()))
                                         - acc.value(list(base.values())))
    unpaired = np.hypot(acc.estimate(list(base.values()), 0).stderr,
                        acc.estimate(list(target.values()), 0).stderr)
    assert paired.stderr is not None and paired.stderr < 0.6 * unpaired
    # scoring a run against itself: no difference, and no spread
    same = acc.paired_difference(base, base, seed=0)
    assert same.value == 0 and same.stderr == 0


def test_paired_difference_refuses_different_samples() -> None:
    base, target = _runs(10, seed=2)
    del target["s3"]
    with pytest.raises(ConfigError, match="different samples .*cannot be paired"):
        metric("acc_pos").paired_difference(base, target, seed=0)


def test_paired_difference_pairs_by_key_not_by_order() -> None:
    base, target = _runs(50, seed=3)
    shuffled = dict(reversed(list(target.items())))
    acc = metric("acc_pos")
    assert acc.paired_difference(base, shuffled, 0) == acc.paired_difference(base, target, 0)
