"""Metrics declare themselves: how samples aggregate, in which rows, with which error, and
which way is better. One declaration serves the evaluator, merge, the lm-eval export and
bridge, the audit and the leaderboard.

A scorer gives each sample, per metric, a pair (numerator, denominator): Acc+ counts the
questions about present concepts answered right out of those asked. A metric's `aggregation`
makes its value from its samples' pairs: by default the ratio of the sums over samples
(questions of all samples weigh alike, as the paper counts them); a metric made of
`components` is the mean of their ratios (CapEval-QA's mean of Acc+ and Acc-). A plugin's
metric may bring an aggregation of its own (an `Aggregation` subclass). Standard errors are
bootstrap estimates that resample whole samples, since the questions of one caption move
together.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from covip_eval.errors import ConfigError

BOOTSTRAP_ITERATIONS = 1000

Parts = Mapping[str, tuple[float, float]]  # one sample's metric parts (numerator, denominator)


@dataclass(frozen=True)
class Estimate:
    """A value with its standard error (None where it cannot be told)."""

    value: float | None
    stderr: float | None = None


class Aggregation(ABC):
    """How a metric's samples make its value, from the (numerator, denominator) of each of its
    parts in each sample."""

    @abstractmethod
    def of_arrays(self, nums: np.ndarray, dens: np.ndarray) -> np.ndarray:
        """Numerators and denominators shaped (parts, ..., samples) to the metric over the last
        axis, shaped (...): NaN where it is undefined. It makes the value from (parts,
        samples) and the bootstrap's draws from (parts, resamples, samples)."""

    def value(self, nums: np.ndarray, dens: np.ndarray) -> float | None:
        found = float(self.of_arrays(nums, dens))
        return None if math.isnan(found) else found


@dataclass(frozen=True)
class RatioOfSums(Aggregation):
    """Each part's sum of numerators over its sum of denominators, and the mean over parts."""

    def of_arrays(self, nums: np.ndarray, dens: np.ndarray) -> np.ndarray:
        sums, totals = nums.sum(axis=-1), dens.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = np.where(totals > 0, sums / np.where(totals > 0, totals, 1.0), np.nan)
        return ratios.mean(axis=0)

    def value(self, nums: np.ndarray, dens: np.ndarray) -> float | None:
        # Python's float sum, not numpy's pairwise one: the values stay those of every
        # earlier run to the last digit
        ratios = [ratio_of_sums(list(zip(n.tolist(), d.tolist()))) for n, d in zip(nums, dens)]
        if any(r is None for r in ratios):
            return None
        return ratios[0] if len(ratios) == 1 else sum(ratios) / len(ratios)  # type: ignore


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    higher_is_better: bool = True
    per_count: bool = False  # also a row per number of concepts (CapEval-QA's subtasks)
    components: tuple[str, ...] = ()  # the parts it aggregates, if not its own
    aggregation: Aggregation = field(default=RatioOfSums())

    @property
    def parts(self) -> tuple[str, ...]:
        """The scorer metrics whose (numerator, denominator) pairs it aggregates."""
        return self.components or (self.name,)

    def value(self, samples: Sequence[Parts]) -> float | None:
        """None when there is nothing to score (a part has no denominator in any sample)."""
        return self.aggregation.value(*self._arrays(samples))

    def estimate(self, samples: Sequence[Parts], seed: int,
                 iterations: int = BOOTSTRAP_ITERATIONS) -> Estimate:
        value = self.value(samples)
        if value is None or len(samples) < 2:
            return Estimate(value)
        nums, dens = self._arrays(samples)
        draws = [self._draws(nums, dens, rows)
                 for rows in _resamples(len(samples), seed, iterations)]
        return Estimate(value, _stderr(np.concatenate(draws)))

    def paired_difference(self, base: Mapping[str, Parts], target: Mapping[str, Parts],
                          seed: int, iterations: int = BOOTSTRAP_ITERATIONS) -> Estimate:
        """`target - base` over the same samples (keyed alike), and the standard error of the
        difference from resampling samples, each drawn with both its scores. Pairing removes
        what the samples themselves contribute to the spread, so it is far smaller than the
        two errors combined."""
        if set(base) != set(target):
            raise ConfigError(f"{self.name}: the two runs scored different samples "
                              f"({len(set(base) ^ set(target))} in one only), so their "
                              "scores cannot be paired")
        keys = sorted(base)
        a, b = self.value([base[k] for k in keys]), self.value([target[k] for k in keys])
        if a is None or b is None:
            return Estimate(None)
        if len(keys) < 2:
            return Estimate(b - a)
        after = self._arrays([target[k] for k in keys])
        before = self._arrays([base[k] for k in keys])
        draws = [self._draws(*after, rows) - self._draws(*before, rows)
                 for rows in _resamples(len(keys), seed, iterations)]
        return Estimate(b - a, _stderr(np.concatenate(draws)))

    def _arrays(self, samples: Sequence[Parts]) -> tuple[np.ndarray, np.ndarray]:
        """Numerators and denominators, shaped (parts, samples)."""
        pairs = np.array([[s.get(p, (0.0, 0.0)) for s in samples] for p in self.parts],
                         dtype=np.float64).reshape(len(self.parts), len(samples), 2)
        return pairs[..., 0], pairs[..., 1]

    def _draws(self, nums: np.ndarray, dens: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The metric over each resample (a row of sample indices)."""
        return self.aggregation.of_arrays(nums[:, rows], dens[:, rows])


def ratio_of_sums(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Sum of numerators over sum of denominators; None with no denominator."""
    den = sum(d for _, d in pairs)
    return None if den == 0 else sum(n for n, _ in pairs) / den


RESAMPLE_BLOCK = 2**18  # sample indices drawn at once (2 MB): memory does not grow with n


def _resamples(n: int, seed: int, iterations: int) -> Iterator[np.ndarray]:
    """The bootstrap's resamples of `n` samples, a block of them at a time: the same draws
    as one (iterations, n) matrix, whose size would grow with the dataset."""
    rng = np.random.default_rng(seed)
    block = max(1, RESAMPLE_BLOCK // n)
    for start in range(0, iterations, block):
        yield rng.integers(0, n, size=(min(block, iterations - start), n))


def _stderr(draws: np.ndarray) -> float | None:
    draws = draws[~np.isnan(draws)]
    return float(draws.std(ddof=1)) if len(draws) >= 2 else None


_METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Declare a metric (a plugin's too); a name is declared once."""
    if _METRICS.get(metric.name, metric) != metric:
        raise ConfigError(f"metric {metric.name!r} is declared twice")
    unknown = [c for c in metric.components if c not in _METRICS]
    if unknown:
        raise ConfigError(f"metric {metric.name!r}: its components {unknown} are not declared")
    _METRICS[metric.name] = metric
    return metric


def metric(name: str) -> Metric:
    try:
        return _METRICS[name]
    except KeyError:
        raise ConfigError(f"no metric {name!r}; declared: {', '.join(sorted(_METRICS))} (a "
                          "plugin declares its own with covip_eval.metrics.register_metric)"
                          ) from None


for _metric in (
    Metric("acc_pos", "Acc+: questions about present concepts answered right", per_count=True),
    Metric("acc_neg", "Acc-: questions about absent concepts answered 'cannot be determined'",
           per_count=True),
    Metric("recognition_f1", "F1 of the concepts a caption names against those shown",
           per_count=True),
    Metric("token_f1", "LSD: token F1 of the answer (the official rule)"),
    Metric("token_f1_content", "LSD: token F1 over content words"),
    Metric("accuracy", "LAR: the judge finds the last action"),
    Metric("keyword_recall", "ITR: the planted keyword appears (the official rule)"),
    Metric("keyword_leak", "ITR: a keyword planted with an absent concept appears",
           higher_is_better=False),
    Metric("keyword_clean", "ITR: the right keyword and no other"),
):
    register_metric(_metric)
register_metric(Metric("acc_mean", "the mean of Acc+ and Acc-: saying nothing and saying "
                       "everything both score 50", per_count=True,
                       components=("acc_pos", "acc_neg")))
