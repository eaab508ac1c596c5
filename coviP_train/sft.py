"""Supervised fine-tuning on TRL's SFTTrainer: the first stage of the covip-tiny recipe.

Each row is one of the evaluation's own requests (the caption request of CapEval-QA, the direct
requests of LSD, LAR and ITR) in TRL's prompt-completion format, with a target the model
should learn to write. Targets use only what the prompt shows: a caption names each concept
present in the new photo and states what the user told about it, and nothing about the absent
ones; the direct answers give the last-seen place in a box, the last action, or the planted
keyword. The loss is on the completion only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from benchmark import CapEvalSample, Concept, DiagnosticSample, Sample, load_benchmark
from covip_eval.registry import TaskIndex
from covip_eval.requests import GenParams
from coviP_train.config import SFT_TASKS, SFT_WARMUP
from coviP_train.data import Row, as_dataset, conversation, conversation_feature


def _in_dialogue_order(concept: Concept) -> list[str]:
    """The concept's facts in the order the dialogue tells them."""
    facts = [v for k, v in concept.facts.items() if k not in ("date", "keyword")]
    return sorted(facts, key=lambda v: (concept.dialogue.find(v), v))


def caption_target(sample: CapEvalSample) -> str:
    """One sentence per present concept, in context order: its name and its facts."""
    present = sorted(sample.positive_indices)
    return " ".join(f"I can see {sample.context[k].name}: "
                    f"{'; '.join(_in_dialogue_order(sample.context[k]))}." for k in present)


def direct_target(sample: DiagnosticSample) -> str:
    name = sample.context[sample.positive_indices[0]].name if sample.positive_indices else ""
    if sample.task == "lsd":
        return f"The last time I saw {name} was at {sample.answer}. \\boxed{{{sample.answer}}}"
    if sample.task == "lar":
        return f"You were {sample.last_action}."
    return f"This is {name}, and you asked me to say {sample.keyword}."


def target(sample: Sample) -> str:
    return caption_target(sample) if isinstance(sample, CapEvalSample) else direct_target(sample)


@dataclass
class SFTRows:
    """Training rows, each made with its texts (prompt and target, for training a tokenizer)
    and the sample it comes from when the rows are read, from samples read as needed."""

    make: Callable[[], Iterator[tuple[Row, list[str], Sample]]]
    features: Any

    def rows(self) -> Iterator[Row]:
        return (row for row, _, _ in self.make())

    def texts(self) -> Iterator[str]:
        return (text for _, texts, _ in self.make() for text in texts)

    def with_samples(self) -> Iterator[tuple[Sample, Row]]:
        return ((sample, row) for row, _, sample in self.make())

    def as_dataset(self) -> Any:
        return as_dataset(self.rows(), self.features)


def sft_rows(dataset: str, configs: list[str], limit: int | None,
             concept_counts: list[int] | None = None) -> SFTRows:
    """Prompt-completion rows for the given dataset configs; images stay encoded (PNG bytes)
    until the collator decodes them. `concept_counts` keeps the CapEval-QA samples with those
    numbers of concepts (a curriculum starts with one). `dialogues` alone: text rows for the
    warm-up (`dialogue_rows`)."""
    from datasets import Features, Image, List, Value

    if SFT_WARMUP in configs:
        return dialogue_rows(dataset, limit)
    index = TaskIndex()
    chosen = []
    for config in configs:
        samples = load_benchmark(dataset, config).samples
        kept = [p for p in range(len(samples))
                if not concept_counts or not isinstance(samples[p], CapEvalSample)
                or samples[p].n_concepts in concept_counts]
        chosen.append((index.tasks[SFT_TASKS[config]], config, samples,
                       kept[:limit] if limit is not None else kept))

    def make() -> Iterator[tuple[Row, list[str], Sample]]:
        for task, config, samples, kept in chosen:
            prompts = task.prompt_templates()
            for p in kept:
                sample = samples[p]
                request = task.reply.request(sample, prompts, GenParams(), ())
                answer = target(sample)
                row = {"prompt": conversation(request),
                       "completion": [{"role": "assistant",
                                       "content": [{"type": "text", "text": answer}]}],
                       "images": [{"bytes": image.data, "path": None}
                                  for image in request.images],
                       "task": config}
                yield row, [m.text for m in request.messages] + [answer], sample

    return SFTRows(make, Features({"prompt": conversation_feature(),
                                   "completion": conversation_feature(),
                                   "images": List(Image()), "task": Value("string")}))


def dialogue_rows(dataset: str, limit: int | None) -> SFTRows:
    """One text row per concept of the CapEval-QA samples: its dialogue. On these short texts
    (each repeats its concept's name) a model from scratch learns to copy from its context;
    on the full prompts alone, two thousand tokens long, it did not (docs/covip_tiny.md), and
    every caption target needs that copying."""
    from datasets import Features, Value

    samples = load_benchmark(dataset, "capeval_qa").samples

    def make() -> Iterator[tuple[Row, list[str], Sample]]:
        for sample in samples[:limit] if limit is not None else samples:
            for concept in sample.context:
                yield {"text": concept.dialogue}, [concept.dialogue], sample

    return SFTRows(make, Features({"text": Value("string")}))
