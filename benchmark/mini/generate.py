"""Procedural generation of the built-in mini benchmark, deterministic from a seed.

Every sample draws from its own random stream, seeded by (seed, configuration, index), so the
same seed gives byte-identical data whatever the sizes or the number of workers.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from types import MappingProxyType

from benchmark import timeline
from benchmark.mini import vocab
from benchmark.mini.appearance import CATEGORIES, Appearance, hard_negative, sample_appearance
from benchmark.mini.dialogue import (
    FACT_KINDS,
    encounter_dialogue,
    write_dialogue,
    write_qas,
)
from benchmark.mini.render import (
    context_image,
    draw_sprite,
    png_bytes,
    sample_view,
    scene_image,
    visibly_different,
)
from benchmark.records import CapEvalSample, Concept, DiagnosticSample, ImageData

# 2: negatives visibly differ from every positive (checked on the drawing), the latest
# encounter's place is uniform, ITR distractors carry planted keywords of their own, and query
# scenes shrink and hide their concepts more as they hold more of them
# 3: no text feature predicts an answer (docs/validity.md): diagnostic individuals are met
# equally often and all share the target's kind, CapEval-QA's wrong options are other
# concepts' facts of the same kind, every negative shares its positive's kind, and ITR
# keywords are invented words that occur inside no other word
GENERATOR_VERSION = "3"
# how a build is stored: 2 added each concept's box in the query scene; 3 wrote row groups of
# at most 100 rows (an image is read again from its group when a request needs it) and a
# README whose metadata `datasets` reads
LAYOUT_VERSION = 3
QAS_PER_CONCEPT = 3


@dataclass(frozen=True)
class MiniSizes:
    """How many samples of each kind to generate."""

    capeval_per_count: int = 50  # CapEval-QA samples for each number of concepts
    capeval_counts: str = "1234"  # the numbers of concepts CapEval-QA samples have, as digits
    lsd: int = 100
    lar: int = 100
    itr: int = 100
    negatives_per_positive: int = 2
    hard_negative_share: float = 0.5  # of negatives beyond the first, which are always hard

    def __post_init__(self) -> None:
        if not self.capeval_counts or set(self.capeval_counts) - set("1234") or len(
                set(self.capeval_counts)) != len(self.capeval_counts):
            raise ValueError(f"capeval_counts={self.capeval_counts!r}: give distinct digits "
                             "from 1 to 4, e.g. 1 or 123")

    def count(self, config: str) -> int:
        if config == "capeval_qa":
            return self.capeval_per_count * len(self.capeval_counts)
        return getattr(self, config)

    def capeval_index(self, k: int) -> int:
        """The full build's index of the k-th CapEval-QA sample kept: a subset of counts is
        the same samples as in a build of all four, not new ones."""
        counts = sorted(int(c) for c in self.capeval_counts)
        return k // len(counts) * 4 + counts[k % len(counts)] - 1


def _rng(seed: int, config: str, index: int) -> random.Random:
    return random.Random(f"covip-mini/{GENERATOR_VERSION}/{seed}/{config}/{index}")


def _distinct(rng: random.Random, draw, avoid: list[Appearance]) -> Appearance:
    """A draw that looks different from every appearance in `avoid`; redrawn until it does."""
    while True:
        candidate = draw()
        if all(visibly_different(candidate, other) for other in avoid):
            return candidate


def _negatives(rng: random.Random, positive: Appearance, positives: list[Appearance],
               sizes: MiniSizes) -> list[Appearance]:
    """The first negative is hard (same category, two attributes changed); the others hard
    or a fresh draw of the same category, so that a kind seen once in a context is never a
    sign of absence. None looks like any positive of the sample."""
    if sizes.negatives_per_positive == 0:  # a curriculum's first step: no photo to tell apart
        return []
    negatives = [_distinct(rng, lambda: hard_negative(rng, positive), positives)]
    for _ in range(sizes.negatives_per_positive - 1):
        if rng.random() < sizes.hard_negative_share:
            def draw() -> Appearance:
                return hard_negative(rng, positive, n_changes=rng.choice((1, 2, 3)))
        else:
            def draw() -> Appearance:
                return sample_appearance(rng, positive.category)
        negatives.append(_distinct(rng, draw, positives))
    return negatives


def _draw_facts(rng: random.Random, taken: set[str]) -> dict[str, str]:
    facts = {}
    for kind, (pool, _, _) in FACT_KINDS.items():
        facts[kind] = rng.choice([v for v in pool if v not in taken])
        taken.add(facts[kind])
    return facts


def capeval_sample(seed: int, index: int, sizes: MiniSizes) -> CapEvalSample:
    """Sample `index`: its number of concepts cycles 1, 2, 3, 4."""
    rng = _rng(seed, "capeval_qa", index)
    n = index % 4 + 1
    positives: list[Appearance] = []
    for _ in range(n):
        positives.append(_distinct(rng, lambda: sample_appearance(rng, rng.choice(CATEGORIES)),
                                   positives))
    entries = [(p, True) for p in positives]
    for p in positives:
        entries += [(neg, False) for neg in _negatives(rng, p, positives, sizes)]
    rng.shuffle(entries)
    names = rng.sample(vocab.PSEUDONYMS, len(entries))
    taken: set[str] = set()
    facts = [_draw_facts(rng, taken) for _ in entries]
    context = []
    sprites = {}
    for k, ((appearance, _), name, fact) in enumerate(zip(entries, names, facts)):
        sprites[k] = draw_sprite(appearance)
        kinds = rng.sample(sorted(FACT_KINDS), QAS_PER_CONCEPT)
        context.append(
            Concept(
                name=name,
                category=appearance.category,
                image=ImageData(png_bytes(context_image(rng, sprites[k], sample_view(rng)))),
                dialogue=write_dialogue(rng, name, appearance.category, fact),
                facts=MappingProxyType(fact),
                qas=write_qas(rng, name, fact, kinds, taken, k,
                              [f for j, f in enumerate(facts) if j != k]),
            )
        )
    gts = [k for k, (_, positive) in enumerate(entries) if positive]
    query, boxes = scene_image(rng, [sprites[k] for k in gts], [sample_view(rng) for _ in gts])
    return CapEvalSample(
        sample_id=f"capeval_{index:05d}",
        query_image=ImageData(png_bytes(query)),
        context=tuple(context),
        positive_indices=tuple(gts),
        query_boxes=tuple(boxes),
    )


def diagnostic_sample(seed: int, task: str, index: int, sizes: MiniSizes) -> DiagnosticSample:
    """Encounters with the target and two others of its kind, then a new view of the target.

    All three are met equally often (two or three times each), so that nothing but the
    query photo tells which one is meant."""
    rng = _rng(seed, task, index)
    target = sample_appearance(rng, rng.choice(CATEGORIES))
    individuals = [target,
                   _distinct(rng, lambda: hard_negative(rng, target), [target]),
                   _distinct(rng, lambda: sample_appearance(rng, target.category), [target])]
    names = rng.sample(vocab.PSEUDONYMS, len(individuals))
    plan = timeline.plan_encounters(rng, len(individuals), rng.choice((2, 3)), vocab.PLACES,
                                    vocab.ACTIONS, vocab.KEYWORDS if task == "itr" else ())
    sprites = [draw_sprite(a) for a in individuals]
    context = []
    for encounter in plan.encounters:
        appearance, name = individuals[encounter.individual], names[encounter.individual]
        facts = {"date": encounter.day.isoformat(), "place": encounter.place,
                 "action": encounter.action}
        if encounter.keyword:
            facts["keyword"] = encounter.keyword
        context.append(
            Concept(
                name=name,
                category=appearance.category,
                image=ImageData(png_bytes(
                    context_image(rng, sprites[encounter.individual], sample_view(rng)))),
                dialogue=encounter_dialogue(rng, name, appearance.category,
                                            timeline.spoken(encounter.day), encounter.place,
                                            encounter.action, encounter.keyword),
                facts=MappingProxyType(facts),
            )
        )
    query, boxes = scene_image(rng, [sprites[0]], [sample_view(rng)])
    return DiagnosticSample(
        sample_id=f"{task}_{index:05d}",
        task=task,  # type: ignore[arg-type]
        query_image=ImageData(png_bytes(query)),
        context=tuple(context),
        positive_indices=plan.target_positions,
        answer=plan.latest.place,
        last_action=plan.latest.action,
        keyword=plan.keyword,
        query_boxes=tuple(boxes),
    )


def generate_sample(seed: int, config: str, index: int, sizes: MiniSizes):
    if config == "capeval_qa":
        return capeval_sample(seed, sizes.capeval_index(index), sizes)
    return diagnostic_sample(seed, config, index, sizes)


def describe(seed: int, sizes: MiniSizes) -> str:
    """A stable identifier of what a build contains (the dataset revision of `builtin:mini`)."""
    fields = dict(sizes.__dict__)
    if fields["capeval_counts"] == MiniSizes.capeval_counts:  # as before the field existed
        del fields["capeval_counts"]
    spec = json.dumps({"generator": GENERATOR_VERSION, "layout": LAYOUT_VERSION, "seed": seed,
                       **fields}, sort_keys=True)
    return spec
