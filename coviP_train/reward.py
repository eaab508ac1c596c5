"""The caption reward: the paper's shape, computed from any judge of the harness.

For a caption of a sample with P positive-concept questions and N negative-concept questions:
    positive    = +reward_positive for each positive question the judge answers correctly
    negative    = -reward_negative / N for each negative question not answered D (the paper's
                  `total` scale), or -reward_negative for each (`per_question`: a leak costs
                  the same however many concepts the sample has, so naming a concept only
                  pays when it is likely to be the one shown)
    degenerate  = -reward_degenerate if the caption is empty, repeats itself heavily or hit the
                  length cap
Each term is its own reward function, so TRL logs them apart; the three share one judge call
per training step, over every generation of the step.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmark import CapEvalSample
from covip_eval.engine.scoring import CapEvalMCQAScorer, score_outputs
from covip_eval.errors import CovipError
from covip_eval.judges import Judge
from tasks.metrics import tokens

NEGATIVE_SCALES = ("total", "per_question")


@dataclass(frozen=True)
class RewardWeights:
    positive: float = 1 / 3
    negative: float = 1.0
    degenerate: float = 1.0
    repetition_threshold: float = 0.5
    negative_scale: str = "total"  # total: `negative` shared by the N questions; per_question

    def __post_init__(self) -> None:
        if self.negative_scale not in NEGATIVE_SCALES:
            raise CovipError(f"reward_negative_scale={self.negative_scale!r}: choose one of "
                             f"{', '.join(NEGATIVE_SCALES)}")


def repeats_itself(text: str, threshold: float) -> bool:
    """Heavy repetition: few distinct 4-grams among all 4-grams of the caption."""
    words = tokens(text)
    grams = [tuple(words[i:i + 4]) for i in range(len(words) - 3)]
    return len(grams) >= 8 and len(set(grams)) / len(grams) < threshold


def completion_text(completion: Any) -> str:
    """TRL passes conversational completions as message lists."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") if isinstance(m.get("content"), str) else
                       "".join(p.get("text", "") for p in m["content"]) for m in completion)
    return str(completion)


class CaptionReward:
    """Computes the three terms for a step's completions, judging each caption once.

    Captions are scored exactly as CapEval-QA scores them (the same scorer, the same judge
    items): the positive term counts the correct answers on present concepts, the negative
    term the questions on absent concepts not answered D.

    A caption whose judging failed (a call that failed, or a reply with no parsable answer) is
    not evidence of a leak: it gets no reward at all (None, which TRL leaves out). Each step's
    failures are recorded in `step_failures`; above `max_failure_rate` of a step's captions the
    step fails loudly."""

    def __init__(self, judge: Judge, weights: RewardWeights, max_completion_length: int,
                 samples: Mapping[str, CapEvalSample], max_failure_rate: float = 0.5):
        self.judge, self.weights = judge, weights
        self.max_completion_length = max_completion_length
        self.samples = samples
        self.max_failure_rate = max_failure_rate
        self.scorer = CapEvalMCQAScorer()
        self._memo: dict[tuple[str, str], tuple[float, float] | None] = {}
        self.seen = hashlib.sha256()  # the completions this process judged, in order
        self.round_seconds: list[float] = []  # the judge's time, one entry a reward round
        self.step_failures: list[dict[str, int]] = []

    def terms(self, completions: Sequence[Any], sample_ids: Sequence[str],
              completion_ids: Sequence[Sequence[int]] | None
              ) -> list[tuple[float, float, float] | tuple[None, None, None]]:
        texts = [completion_text(c) for c in completions]
        keys = list(zip(texts, sample_ids))
        for text, sample_id in keys:
            self.seen.update(f"{sample_id}\x00{text}\x00".encode())
        missing = [k for k in dict.fromkeys(keys) if k not in self._memo]
        if missing:  # a new step: keep only this step's judgements
            self._memo = {k: v for k, v in self._memo.items() if k in set(keys)}
            self._judge(missing)
        out: list[tuple[float, float, float] | tuple[None, None, None]] = []
        for i, key in enumerate(keys):
            judged = self._memo[key]
            if judged is None:
                out.append((None, None, None))
                continue
            positive, negative = judged
            length = len(completion_ids[i]) if completion_ids is not None else 0
            degenerate = (not key[0].strip()
                          or repeats_itself(key[0], self.weights.repetition_threshold)
                          or length >= self.max_completion_length)
            out.append((positive, negative, -self.weights.degenerate if degenerate else 0.0))
        return out

    def _judge(self, keys: list[tuple[str, str]]) -> None:
        start = time.perf_counter()
        scores = score_outputs([(self.scorer, self.samples[sample_id], text)
                                for text, sample_id in keys], self.judge)  # one judge call
        self.round_seconds.append(time.perf_counter() - start)
        failures = {"captions": len(keys), "judge_failures": 0, "parse_failures": 0}
        for key, score in zip(keys, scores):
            if score.judge_failure or score.counts.get("judge_parse_failures"):
                failures["judge_failures" if score.judge_failure else "parse_failures"] += 1
                self._memo[key] = None
                continue
            correct = score.metrics["acc_pos"][0]
            kept, n_negative = score.metrics["acc_neg"]
            leaked = n_negative - kept
            shared_by = n_negative if self.weights.negative_scale == "total" else 1
            negative = -self.weights.negative * leaked / shared_by if n_negative else 0.0
            self._memo[key] = (self.weights.positive * correct, negative)
        self.step_failures.append(failures)
        failed = failures["judge_failures"] + failures["parse_failures"]
        if failed > self.max_failure_rate * len(keys):
            raise CovipError(f"the reward's judge failed on {failed} of {len(keys)} captions "
                             f"this step (above max_reward_failure_rate={self.max_failure_rate})"
                             "; check the judge server")

    @property
    def completions_digest(self) -> str:
        """A digest of the completions this process judged, in order (the ranks of one
        distributed run judge different ones)."""
        return self.seen.hexdigest()[:16]

    @property
    def judge_seconds(self) -> float:
        return sum(self.round_seconds)

    def close(self) -> None:
        """Close the judge (a served judge's connections)."""
        self.judge.close()

    def reward_functions(self) -> list:
        """Three TRL reward functions (positive, negative, degenerate) sharing this object."""
        def make(index: int, name: str):
            def reward(prompts, completions, sample_id, completion_ids=None, **_: Any):
                return [t[index] for t in self.terms(completions, sample_id, completion_ids)]

            reward.__name__ = name
            return reward

        return [make(0, "reward_positive"), make(1, "reward_negative"),
                make(2, "reward_degenerate")]
