"""No shortcuts in builtin:mini, checked from what the data shows (drawn pixels, dialogue
text), and baselines that see only what a model sees."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from benchmark import load_benchmark
from benchmark.mini import generate, vocab
from benchmark.mini.appearance import PALETTE
from benchmark.mini.dialogue import NOUNS
from benchmark.timeline import MONTHS
from covip_eval.engine.cache import RequestCache
from covip_eval.engine.generation import GenerationRunner
from covip_eval.engine.request_builder import cag_request, caption_request, direct_request
from covip_eval.models.base import Capabilities, ModelAdapter
from covip_eval.registry import TaskIndex, make_model
from covip_eval.requests import ChatRequest, Generation, GenParams
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


def _who(dialogue: str) -> str:
    """The pseudonym a dialogue is about, read from its text."""
    names = {w for w in re.findall(r"[A-Z][a-z]+", dialogue) if w in vocab.PSEUDONYMS}
    assert len(names) == 1, dialogue
    return names.pop()


_NOUN = re.compile(", (" + "|".join(re.escape(n) for ns in NOUNS.values() for n in ns)
                   + r")[.,]")
_KIND_OF_NOUN = {n: kind for kind, ns in NOUNS.items() for n in ns}


def _kind(dialogue: str) -> str:
    """The kind of concept a dialogue introduces ("my dog" is a pet), read from its text."""
    match = _NOUN.search(dialogue)
    assert match is not None, dialogue
    return _KIND_OF_NOUN[match.group(1)]


def test_itr_every_individual_plants_a_keyword_of_its_own(small_dataset: Path) -> None:
    for sample in load_benchmark(str(small_dataset), "itr").samples:
        planted: dict[str, list[str]] = {}
        for concept in sample.context:
            planted.setdefault(_who(concept.dialogue), []).extend(
                _PLANTED.findall(concept.dialogue))
        assert all(len(words) == 1 for words in planted.values())
        assert len({w[0] for w in planted.values()}) == len(planted)
        target = _who(sample.context[sample.positive_indices[0]].dialogue)
        assert planted[target] == [sample.keyword]


def test_diagnostic_individuals_are_told_about_alike(isolated_cache: Path) -> None:
    """From the dialogues: every individual of an item is met equally often, and all are of
    one kind, so neither how often a name is told nor its kind points at the target."""
    per_individual = Counter()
    for task in ("lsd", "lar", "itr"):
        for sample in load_benchmark("builtin:mini", task, progress=False).samples:
            told = Counter(_who(c.dialogue) for c in sample.context)
            assert len(told) >= 3 and len(set(told.values())) == 1, sample.sample_id
            per_individual[next(iter(told.values()))] += 1
            assert len({_kind(c.dialogue) for c in sample.context}) == 1, sample.sample_id
    assert set(per_individual) == {2, 3}  # drawn, not fixed


def test_capeval_options_are_facts_of_other_concepts(isolated_cache: Path) -> None:
    """From the texts: every wrong option A-C is told about another concept of the sample and
    not about the question's, so recalling every fact without whose answers nothing."""
    checked = 0
    for sample in load_benchmark("builtin:mini", "capeval_qa", progress=False).samples:
        for k, concept in enumerate(sample.context):
            elsewhere = " ".join(c.dialogue for j, c in enumerate(sample.context) if j != k)
            for qa in concept.qas:
                assert qa.option(qa.correct_answer) in concept.dialogue
                for letter in "ABC":
                    if letter != qa.correct_answer:
                        option = qa.option(letter)
                        assert option in elsewhere and option not in concept.dialogue
                        checked += 1
    assert checked == 2 * 3 * sum(
        len(s.context) for s in load_benchmark("builtin:mini", "capeval_qa").samples)


def test_a_kind_seen_once_never_marks_an_absent_concept(isolated_cache: Path) -> None:
    """From the dialogues: every kind in a CapEval-QA context is told about at least twice,
    so a kind's uniqueness cannot separate present concepts from absent ones."""
    for sample in load_benchmark("builtin:mini", "capeval_qa", progress=False).samples:
        kinds = Counter(_kind(c.dialogue) for c in sample.context)
        assert min(kinds.values()) >= 2, (sample.sample_id, kinds)


def test_itr_keywords_occur_inside_no_other_word(isolated_cache: Path) -> None:
    """Containment scoring credits a keyword inside a longer word ("SKS" in "asks"): no
    keyword of the build occurs inside a word of its texts or of English."""
    from english_words import get_english_words_set

    words: set[str] = set(get_english_words_set(["web2"], lower=True))
    keywords: set[str] = set()
    for config in ("capeval_qa", "lsd", "lar", "itr"):
        for sample in load_benchmark("builtin:mini", config, progress=False).samples:
            for c in sample.context:
                texts = [c.dialogue, *(q.question for q in c.qas),
                         *(o for q in c.qas for o in q.options)]
                words.update(w for t in texts for w in re.findall(r"[a-z]+", t.lower()))
                keywords.update(_PLANTED.findall(c.dialogue))
    assert len(keywords) >= 8
    for keyword in keywords:
        inside = [w for w in words if keyword.lower() in w and w != keyword.lower()]
        assert not inside, (keyword, inside[:5])


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
