"""Sampled requests through transformers: the same output whatever batch they are in, another
one for another seed, and the warpers' settings still hold."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from benchmark import load_benchmark  # noqa: E402
from covip_eval.engine.request_builder import direct_request  # noqa: E402
from covip_eval.models.covip_tiny import CovipTinyModel  # noqa: E402
from covip_eval.models.seeded_sampling import PerRequestSampler, request_seed  # noqa: E402
from covip_eval.registry import TaskIndex  # noqa: E402
from covip_eval.requests import GenParams  # noqa: E402

SAMPLED = GenParams(max_new_tokens=24, temperature=0.7, top_p=0.8, top_k=20, seed=0)


@pytest.fixture(scope="module")
def model() -> CovipTinyModel:
    return CovipTinyModel(batch_size=8)


@pytest.fixture(scope="module")
def requests(small_dataset: Path):
    prompts = TaskIndex().tasks["lsd_direct"].prompt_templates()
    return [direct_request(s, prompts, SAMPLED)
            for s in load_benchmark(str(small_dataset), "lsd").samples[:4]]


def test_a_sampled_request_writes_the_same_alone_and_in_any_batch(model, requests) -> None:
    alone = [model.generate([r])[0].text for r in requests]
    assert model.generate(requests)[::-1] == model.generate(requests[::-1])
    assert [g.text for g in model.generate(requests)] == alone
    assert [g.text for g in model.generate(requests[2:] + requests[:2])] == alone[2:] + alone[:2]


def test_another_seed_or_sample_index_draws_otherwise(model, requests) -> None:
    base = [g.text for g in model.generate(requests)]
    reseeded = [replace(r, params=replace(SAMPLED, seed=1)) for r in requests]
    resampled = [replace(r, sample_index=1) for r in requests]
    assert [g.text for g in model.generate(reseeded)] != base
    assert [g.text for g in model.generate(resampled)] != base
    assert len({request_seed(r) for r in requests + reseeded + resampled}) == 12


def test_the_draw_keeps_to_top_k_and_leaves_one_token() -> None:
    scores = torch.tensor([[5.0, 4.0, 3.0, -1.0, -2.0]] * 300)
    sampler = PerRequestSampler(GenParams(temperature=1.0, top_k=2), list(range(300)))
    out = sampler(torch.zeros(300, 1, dtype=torch.long), scores)
    drawn = out.argmax(dim=1)
    assert set(drawn.tolist()) == {0, 1}  # both of the top two, nothing outside them
    assert bool((torch.isfinite(out).sum(dim=1) == 1).all())
