"""Sampling for transformers' `generate` that does not depend on the batch.

`generate` draws every row of a batch from torch's one global generator, so a sampled request's
output depended on which requests shared its batch and on `batch_size`: covip-tiny's LSD-direct
answers (sampled at temperature 0.7, as the protocol asks) differed in 15 of 16 samples
between batch sizes 1 and 8. Here each request draws from a generator of its own, seeded from
its content and the run's seed (as vLLM seeds each request), through transformers' own
temperature, top-k, top-p and min-p warpers; `generate` then decodes the drawn token greedily.
"""

from __future__ import annotations

from typing import Any

from covip_eval.requests import ChatRequest, GenParams, stable_hash


def request_seed(request: ChatRequest) -> int:
    """A seed from the request's content, settings (its `seed` included) and sample index."""
    return int(stable_hash(request.canonical())[:15], 16)


class PerRequestSampler:
    """A logits processor that samples each row with that row's generator and leaves only the
    drawn token possible."""

    def __init__(self, params: GenParams, seeds: list[int]):
        from transformers import (
            LogitsProcessorList,
            MinPLogitsWarper,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        warpers: list[Any] = [TemperatureLogitsWarper(params.temperature)]
        if params.top_k:
            warpers.append(TopKLogitsWarper(params.top_k))
        if params.top_p is not None and params.top_p < 1:
            warpers.append(TopPLogitsWarper(params.top_p))
        if params.min_p:
            warpers.append(MinPLogitsWarper(params.min_p))
        self.warpers = LogitsProcessorList(warpers)
        self.seeds = seeds
        self.generators: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if not self.generators:  # made on the first step, on the logits' device
            self.generators = [torch.Generator(scores.device).manual_seed(seed)
                               for seed in self.seeds]
        probs = torch.softmax(self.warpers(input_ids, scores).float(), dim=-1)
        drawn = torch.cat([torch.multinomial(row, 1, generator=generator)
                           for row, generator in zip(probs, self.generators)])
        only = torch.full_like(scores, float("-inf"))
        return only.scatter_(1, drawn[:, None], 0.0)
