"""No shortcuts in builtin:mini, checked from what the data shows (drawn pixels, dialogue
text), and baselines that see only what a model sees."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from benchmark import load_benchmark
from benchmark.mini import generate
from benchmark.mini.appearance import PALETTE
from benchmark.timeline import MONTHS
from covip_eval.cache import RequestCache
from covip_eval.generation import GenerationRunner
from covip_eval.models.base import Capabilities, ModelAdapter
from covip_eval.registry import TaskIndex, make_model
from covip_eval.request_builder import cag_request, caption_request, direct_request
from covip_eval.requests import ChatRequest, GenParams, Generation
from tests.conftest import SMALL

_DATE = re.compile(r"\b(\d{1,2}) (" + "|".join(MONTHS) + r") (\d{4})\b")
_PLANTED = re.compile(r"say the word '([A-Z]+)'")


def _palette_colours(sprite) -> frozenset[str]:
    """The palette colours a drawing shows on at least 40 pixels."""
    pixels = np.asarray(sprite)
    visible = pixels[pixels[..., 3] > 0][:, :3]
    return frozenset(name for name, rgb in PALETTE.items()
                     if np.all(visible == rgb, axis=1).sum() >= 40)


def test_negatives_look_different_from_every_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every drawing that went into a sample's context images, recorded as it is drawn: a
    negative of the same kind as a positive shows other colours than it does."""
    drawn: list = []
    real = generate.draw_sprite

    def recording(appearance):
        sprite = real(appearance)
        drawn.append(sprite)
        return sprite

    monkeypatch.setattr(generate, "draw_sprite", recording)
    checked = 0
    for index in range(80):
        drawn.clear()
        sample = generate.capeval_sample(0, index, SMALL)
        colours = [_palette_colours(s) for s in drawn[:len(sample.context)]]
        for k, concept in enumerate(sample.context):
            if k in sample.positive_indices:
                continue
            for p in sample.positive_indices:
                if sample.context[p].category == concept.category:
                    assert colours[k] != colours[p], (sample.sample_id, concept.name)
                    checked += 1
    assert checked > 100


def _latest_place(sample) -> tuple[int, int]:
    """(place of the latest target encounter among the target's encounters, how many)."""
    dates = []
    for i in sample.positive_indices:
        day, month, year = _DATE.search(sample.context[i].dialogue).groups()
        dates.append((int(year), MONTHS.index(month), int(day)))
    return dates.index(max(dates)), len(dates)


def test_latest_encounter_is_anywhere_among_the_targets(isolated_cache: Path) -> None:
    """Read from the dialogues: the latest encounter comes first as often as chance says."""
    places = [_latest_place(s) for task in ("lsd", "lar", "itr")
              for s in load_benchmark("builtin:mini", task, progress=False).samples]
    for position in ("first", "last"):
        observed = sum((p == 0) if position == "first" else (p == n - 1) for p, n in places)
        expected = sum(1 / n for _, n in places)
        assert abs(observed - expected) < 3 * expected ** 0.5, (position, observed, expected)


def test_itr_distractors_carry_keywords_of_their_own(small_dataset: Path) -> None:
    for sample in load_benchmark(str(small_dataset), "itr").samples:
        planted = {k: _PLANTED.findall(c.dialogue) for k, c in enumerate(sample.context)}
        target = [w for k in sample.positive_indices for w in planted[k]]
        assert target == [sample.keyword]  # one target encounter holds it
        others = [planted[k] for k in planted if k not in sample.positive_indices]
        assert all(len(words) == 1 for words in others)
        assert len({w[0] for w in others} | {sample.keyword}) == len(others) + 1


def _stripped(sample):
    """The sample without the structured columns a model never sees (names, categories,
    facts, questions)."""
    context = tuple(replace(c, name="", category="", facts=MappingProxyType({}), qas=())
                    for c in sample.context)
    return replace(sample, context=context)


@pytest.mark.parametrize("model", ["blind", "text-only", "retrieval"])
def test_baselines_see_only_what_a_model_sees(model: str, small_dataset: Path) -> None:
    tasks = TaskIndex().tasks
    params = GenParams(max_new_tokens=64)
    requests, bare = [], []
    for config, task in (("capeval_qa", "capeval_qa"), ("lsd", "lsd_direct"),
                         ("lar", "lar_direct"), ("itr", "itr_cag")):
        prompts = tasks[task].prompt_templates()
        for sample in load_benchmark(str(small_dataset), config).samples:
            for s, out in ((sample, requests), (_stripped(sample), bare)):
                if task == "capeval_qa":
                    out.append(caption_request(s, prompts, params))
                elif task == "itr_cag":
                    out.append(cag_request(s, prompts, "A caption.", params))
                else:
                    out.append(direct_request(s, prompts, params))
    adapter = make_model(model, {})
    runner = GenerationRunner(adapter, RequestCache(None), progress=False)
    assert [g.text for g in runner.run(requests, "")] == [g.text for g in runner.run(bare, "")]
    assert not adapter.capabilities.reads_ground_truth
    assert make_model("oracle", {}).capabilities.reads_ground_truth


class _Peeking(ModelAdapter):
    """Tries to read the answer key off every request it is handed."""

    name = "peeking"

    def generate(self, requests: list[ChatRequest]) -> list[Generation]:
        return [Generation(text="saw it" if r.ground_truth is not None else "nothing")
                for r in requests]


class _DeclaredReader(_Peeking):
    name = "declared"
    capabilities = Capabilities(reads_ground_truth=True)


def test_the_answer_key_reaches_only_adapters_that_declare_it(small_dataset: Path) -> None:
    prompts = TaskIndex().tasks["capeval_qa"].prompt_templates()
    requests = [caption_request(s, prompts, GenParams(max_new_tokens=8))
                for s in load_benchmark(str(small_dataset), "capeval_qa").samples]
    assert all(r.ground_truth is not None for r in requests)
    for adapter, seen in ((_Peeking(), "nothing"), (_DeclaredReader(), "saw it")):
        outputs = GenerationRunner(adapter, RequestCache(None), progress=False).run(requests, "")
        assert {g.text for g in outputs} == {seen}
