"""Supervised fine-tuning on TRL's SFTTrainer: the first stage of the covip-tiny recipe.

Each row is one of the evaluation's own requests (the caption request of CapEval-QA, the direct
requests of LSD, LAR and ITR) in TRL's prompt-completion format, with a target the model
should learn to write. Targets use only what the prompt shows: a caption names each concept
present in the new photo and states what the user told about it, and nothing about the absent
ones; the direct answers give the last-seen place in a box, the last action, or the planted
keyword. The loss is on the completion only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmark import CapEvalSample, Concept, DiagnosticSample, Sample, load_benchmark
from covip_eval.registry import TaskIndex
from covip_eval.request_builder import caption_request, direct_request
from covip_eval.requests import ChatRequest, GenParams, ImagePart
from coviP_train.config import SFT_TASKS, SFT_WARMUP


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


def conversation(request: ChatRequest) -> list[dict[str, Any]]:
    """TRL's conversational format: typed parts, images as placeholders in place."""
    return [{"role": m.role, "content": [{"type": "image"} if isinstance(p, ImagePart) else
                                         {"type": "text", "text": p.text} for p in m.parts]}
            for m in request.messages]


@dataclass
class SFTRows:
    rows: list[dict[str, Any]]
    texts: list[str]  # every prompt and target, for training a tokenizer
    samples: list[Sample]  # the sample each row was made from


def sft_rows(dataset: str, configs: list[str], limit: int | None,
             concept_counts: list[int] | None = None) -> SFTRows:
    """Prompt-completion rows for the given dataset configs; images stay encoded (PNG bytes)
    until the collator decodes them. `concept_counts` keeps the CapEval-QA samples with those
    numbers of concepts (a curriculum starts with one). `dialogues` alone: text rows for the
    warm-up (`dialogue_rows`)."""
    if SFT_WARMUP in configs:
        return dialogue_rows(dataset, limit)
    index = TaskIndex()
    rows, texts, sources = [], [], []
    for config in configs:
        task = index.tasks[SFT_TASKS[config]]
        prompts = task.prompt_templates()
        samples = [s for s in load_benchmark(dataset, config).samples
                   if not concept_counts or not isinstance(s, CapEvalSample)
                   or s.n_concepts in concept_counts]
        for sample in samples[:limit] if limit is not None else samples:
            request = caption_request(sample, prompts, GenParams()) if task.mode == "caption" \
                else direct_request(sample, prompts, GenParams())
            answer = target(sample)
            rows.append({
                "prompt": conversation(request),
                "completion": [{"role": "assistant",
                                "content": [{"type": "text", "text": answer}]}],
                "images": [{"bytes": image.data, "path": None} for image in request.images],
                "task": config,
            })
            texts += [m.text for m in request.messages] + [answer]
            sources.append(sample)
    return SFTRows(rows, texts, sources)


def dialogue_rows(dataset: str, limit: int | None) -> SFTRows:
    """One text row per concept of the CapEval-QA samples: its dialogue. On these short texts
    (each repeats its concept's name) a model from scratch learns to copy from its context;
    on the full prompts alone, two thousand tokens long, it did not (docs/covip_tiny.md), and
    every caption target needs that copying."""
    samples = load_benchmark(dataset, "capeval_qa").samples
    pairs = [(s, c.dialogue) for s in samples[:limit] if isinstance(s, CapEvalSample)
             for c in s.context]
    texts = [text for _, text in pairs]
    return SFTRows([{"text": t} for t in texts], texts, [s for s, _ in pairs])
