"""The RePIC preset's data and rewards: three verifiable rewards from one benchmark (RePIC:
Oh et al., NeurIPS 2025, by CoViP's authors; GRPO with these three reward kinds).

- object consistency: a reference photo of a concept, then the query scene; is the concept in
  it? Answered yes or no; as many yes as no prompts.
- visual localization: the reference photo, then the scene; the concept's box in the scene,
  rewarded by its overlap (IoU) with the recorded box, in the model family's box convention.
- identity consistency: the evaluation's caption request; the F1 of the names the caption
  says against the present concepts' (precision: no absent one named; recall: every present
  one named).

Each prompt row says which reward applies (`repic_task`); the other two give None for it, as
TRL's GRPOTrainer takes for rewards that do not apply. A reply whose yes/no or box cannot be
read is a parse failure: it is scored `parse_failure_reward` (below any readable answer),
never as a wrong answer, and counted in the logs (`repic/<task>_parse_failures`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmark import CapEvalSample
from covip_eval.engine.prompts import PromptTemplate, load_template
from covip_eval.errors import ConfigError
from covip_eval.requests import ChatRequest, ImagePart, Message, TextPart
from coviP_train.data import (
    PromptSet,
    Row,
    Rows,
    build_prompts,
    capped,
    conversation,
    image_size,
    prompt_features,
)
from coviP_train.reward import completion_text
from tasks.metrics import recognition_f1

TASKS = ("object", "localization", "identity")
# how a model family writes boxes: Qwen2-VL and Qwen2.5-VL in pixels of the image they were
# given; Qwen3-VL on a 0-1000 grid relative to the image's width and height
FAMILY_BOX_FORMAT = {"qwen2_vl": "absolute", "qwen2_5_vl": "absolute",
                     "qwen3_vl": "relative_1000", "qwen3_vl_moe": "relative_1000"}
COORDINATES = {"absolute": "in pixels of the new photo",
               "relative_1000": "each from 0 to 1000 relative to the new photo's width and "
                                "height"}

_NUMBER = r"-?\d+(?:\.\d+)?"
_BOX = re.compile(rf"\[\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]")
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)

Box = tuple[float, float, float, float]


def box_format(setting: str, model_type: str) -> str:
    """`setting` (absolute, relative_1000) as it is, or `auto`: the family's convention."""
    if setting != "auto":
        if setting not in COORDINATES:
            raise ConfigError(f"box_format={setting!r}: choose auto, "
                              f"{', '.join(COORDINATES)}")
        return setting
    if model_type not in FAMILY_BOX_FORMAT:
        raise ConfigError(f"box_format=auto: no known box convention for model type "
                          f"{model_type!r} (known: {', '.join(FAMILY_BOX_FORMAT)}); set "
                          "box_format=absolute or relative_1000")
    return FAMILY_BOX_FORMAT[model_type]


def read_yes_no(text: str) -> str | None:
    """'yes' or 'no' when the reply says one of them and not the other; else None."""
    said = {w.lower() for w in _YES_NO.findall(text)}
    return said.pop() if len(said) == 1 else None


def read_box(text: str) -> Box | None:
    """The last [x0, y0, x1, y1] of the reply (JSON's "bbox_2d" too), or None when there is
    none or it is empty (x1 <= x0 or y1 <= y0)."""
    found = _BOX.findall(text)
    if not found:
        return None
    x0, y0, x1, y1 = (float(v) for v in found[-1])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def to_pixels(box: Box, fmt: str, width: int, height: int) -> Box:
    if fmt == "relative_1000":
        return (box[0] * width / 1000, box[1] * height / 1000, box[2] * width / 1000,
                box[3] * height / 1000)
    return box


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class RepicRewards:
    """The three reward functions; `fmt` is the policy's box convention. They call no judge
    (`judge_seconds` 0, no judge failures per step, no completions judged)."""

    fmt: str
    parse_failure_reward: float = -1.0
    judge_seconds: float = 0.0
    step_failures: None = None
    completions_digest: None = None

    def close(self) -> None:
        """Nothing to release: no judge."""

    def object(self, text: str, answer: str) -> float | None:
        said = read_yes_no(text)
        return None if said is None else float(said == answer)

    def localization(self, text: str, box: Sequence[float], size: Sequence[int]
                     ) -> float | None:
        said = read_box(text)
        return None if said is None else iou(to_pixels(said, self.fmt, *size), box)

    def identity(self, text: str, present: Sequence[str], absent: Sequence[str]) -> float:
        return recognition_f1(text, present, absent)

    def reward_functions(self) -> list[Callable[..., list[float | None]]]:
        """TRL reward functions, one per task, named reward_<task>."""
        def make(task: str) -> Callable[..., list[float | None]]:
            def reward(prompts: list, completions: list, repic_task: list[str],
                       answer: list[str], box: list[list[float]], size: list[list[int]],
                       present: list[list[str]], absent: list[list[str]], **kwargs: Any
                       ) -> list[float | None]:
                out: list[float | None] = []
                failures = 0
                for i, completion in enumerate(completions):
                    if repic_task[i] != task:
                        out.append(None)
                        continue
                    text = completion_text(completion)
                    if task == "object":
                        value = self.object(text, answer[i])
                    elif task == "localization":
                        value = self.localization(text, box[i], size[i])
                    else:
                        value = self.identity(text, present[i], absent[i])
                    if value is None:
                        failures += 1
                        value = self.parse_failure_reward
                    out.append(value)
                log = kwargs.get("log_metric")
                if log is not None and task != "identity":
                    log(f"repic/{task}_parse_failures", float(failures))
                return out

            reward.__name__ = f"reward_{task}"
            return reward

        return [make(task) for task in TASKS]


@dataclass(frozen=True)
class _RepicQuestions:
    """The rows RePIC asks about one sample, beside its caption prompt."""

    max_pixels: int
    fmt: str
    reference: PromptTemplate = field(default_factory=lambda: load_template("repic_reference"))
    new_photo: PromptTemplate = field(default_factory=lambda: load_template("repic_new_photo"))
    object_question: PromptTemplate = field(
        default_factory=lambda: load_template("repic_object"))
    where: PromptTemplate = field(default_factory=lambda: load_template("repic_localization"))

    def pair(self, sample: CapEvalSample, k: int, question: str) -> tuple[list, list]:
        """The reference photo of context entry `k`, then the scene, then the question: the
        prompt and its images."""
        parts = (TextPart(self.reference.render(name=sample.context[k].name)),
                 ImagePart(sample.context[k].image), TextPart(self.new_photo.render()),
                 ImagePart(sample.query_image), TextPart(question))
        request = ChatRequest((Message("user", parts),))
        return conversation(request), [capped(i, self.max_pixels) for i in request.images]

    def rows(self, row: Row, sample: CapEvalSample, rng: random.Random) -> Iterator[Row]:
        names = [c.name for c in sample.context]
        negatives = [k for k in range(len(names)) if k not in sample.positive_indices]
        base = {"sample_id": sample.sample_id, "n_concepts": sample.n_concepts, "answer": "",
                "box": [], "size": [], "present": [names[k] for k in sample.positive_indices],
                "absent": [names[k] for k in negatives]}
        yield {**row, **base, "repic_task": "identity"}
        asked = [(k, "yes") for k in sample.positive_indices] + \
            [(k, "no") for k in rng.sample(negatives, min(len(negatives), sample.n_concepts))]
        for k, answer in asked:
            prompt, images = self.pair(sample, k, self.object_question.render(name=names[k]))
            yield {**base, "repic_task": "object", "answer": answer, "prompt": prompt,
                   "images": images}
        for k, truth in zip(sample.positive_indices, sample.query_boxes):
            prompt, images = self.pair(sample, k, self.where.render(
                name=names[k], coordinates=COORDINATES[self.fmt]))
            width, height = image_size(images[-1]["bytes"])  # the capped scene
            scale = width / image_size(sample.query_image.data)[0]
            yield {**base, "repic_task": "localization", "prompt": prompt,
                   "images": images, "box": [v * scale for v in truth],
                   "size": [width, height]}


def build_repic_prompts(dataset: str, limit: int | None, max_images: int, max_pixels: int,
                        fmt: str, seed: int, concept_counts: list[int] | None = None
                        ) -> PromptSet:
    """Per CapEval-QA sample that the caption prompts keep (`build_prompts`): its caption
    request (identity), one object question per present concept and as many about absent ones
    (drawn with `seed`), and one localization request per present concept whose box the
    dataset records."""
    from datasets import List, Value

    captions = build_prompts(dataset, limit, max_images, max_pixels, concept_counts)
    if not any(captions.samples[i].query_boxes for i in captions.samples):
        raise ConfigError(f"dataset {dataset}: no query_boxes recorded, so the localization "
                          "reward has nothing to score (builtin:mini records them)")
    questions = _RepicQuestions(max_pixels, fmt)

    def make(positions: Sequence[int]) -> Iterator[Row]:
        rng = random.Random(seed)  # the same draws on every pass over the rows
        for row in captions.rows.make(positions):
            yield from questions.rows(row, captions.samples[row["sample_id"]], rng)

    features = prompt_features(
        answer=Value("string"), box=List(Value("float64")), size=List(Value("int64")),
        present=List(Value("string")), absent=List(Value("string")),
        repic_task=Value("string"))
    return PromptSet(Rows(make, captions.rows.positions), captions.samples, captions.skipped,
                     features)
