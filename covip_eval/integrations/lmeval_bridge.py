"""What the exported lm-eval task folder calls: documents, prompts with `<image>` placeholders,
images, batched judging as an lm-eval filter, and per-document scores, all through
covip-eval's own loader, request builder, judges and scorers, so that both harnesses agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from benchmark import Sample, load_benchmark
from covip_eval.engine.cache import RequestCache
from covip_eval.engine.prompts import PromptTemplate
from covip_eval.engine.scoring import SampleScore, score_outputs
from covip_eval.engine.task import Task
from covip_eval.metrics import Parts, metric
from covip_eval.registry import TaskIndex, make_judge
from covip_eval.requests import ChatRequest, GenParams, ImagePart

IMAGE_PLACEHOLDER = "<image>"  # lm-eval's default, replaced in place by hf-multimodal


@cache
def _samples(spec: str, config: str) -> Sequence[Sample]:
    return load_benchmark(spec, config, progress=False).samples


@cache
def _task(task: str) -> Task:
    """Task files are read once per process, not once per document."""
    return TaskIndex().tasks[task]


@cache
def _prompts(task: str) -> dict[str, PromptTemplate]:
    return _task(task).prompt_templates()


def _sample(spec: str, task: str, doc: dict[str, Any]) -> Sample:
    return _samples(spec, _task(task).config.dataset_config)[doc["idx"]]


def load_docs(spec: str, task: str) -> dict[str, Any]:
    """A `test` split of light documents (ids and index); the rest is fetched by index."""
    from datasets import Dataset

    samples = _samples(spec, _task(task).config.dataset_config)
    return {"test": Dataset.from_list([{"idx": i, "sample_id": s.sample_id}
                                       for i, s in enumerate(samples)])}


def request(spec: str, task: str, doc: dict[str, Any]) -> ChatRequest:
    """The same request coviP-eval sends (a task of one stage: direct mode or the caption)."""
    sample, prompts = _sample(spec, task, doc), _prompts(task)
    return _task(task).reply.request(sample, prompts, GenParams(), ())


def doc_to_text(spec: str, task: str, doc: dict[str, Any]) -> str:
    """The user turn, each image replaced by the placeholder at its place."""
    user = [m for m in request(spec, task, doc).messages if m.role == "user"][-1]
    return "".join(IMAGE_PLACEHOLDER if isinstance(p, ImagePart) else p.text for p in user.parts)


def doc_to_image(spec: str, task: str, doc: dict[str, Any]) -> list[Any]:
    return [image.to_pil() for image in request(spec, task, doc).images]


def system_instruction(task: str) -> str | None:
    prompts = _prompts(task)
    return prompts["system"].render() if "system" in _task(task).reply.prompts else None


def _parts(task: str, score: SampleScore) -> dict[str, Parts]:
    """Each metric of the task with the (numerator, denominator) of every part it aggregates.
    A document coviP-eval leaves out (its judge call failed) or a part that does not apply to
    it (n/a) is (0, 0): it counts for nothing, as in coviP-eval."""
    left_out = score.judge_failure is not None
    return {m.name: {p: (0.0, 0.0) if left_out else score.metrics.get(p, (0.0, 0.0))
                     for p in m.parts}
            for m in _task(task).metrics}


def judge_filter(spec: str, task: str, judge: str, judge_args: dict[str, Any],
                 resps: list[list[str]], docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All documents of the task judged in one batched call; each gets its metric parts."""
    scorer = _task(task).scorer
    jobs = [(scorer, _sample(spec, task, d), r[0] if r else "") for r, d in zip(resps, docs)]
    judge_role = make_judge(judge, dict(judge_args), RequestCache(None), progress=False)
    try:
        return [_parts(task, score) for score in score_outputs(jobs, judge_role)]
    finally:
        judge_role.close()


def score(spec: str, task: str, doc: dict[str, Any], text: str) -> dict[str, Any]:
    """Metric parts of a document whose scorer needs no judge (LSD, ITR)."""
    scorer = _task(task).scorer
    return _parts(task, score_outputs([(scorer, _sample(spec, task, doc), text)], None)[0])


def aggregate(name: str, items: list[Parts]) -> float:
    """lm-eval's aggregation of a metric: the metric's own, as declared (Acc+ and Acc- are
    ratios of sums over documents: they count questions, not documents); NaN where nothing
    was scored."""
    value = metric(name).value(items)
    return float("nan") if value is None else value
