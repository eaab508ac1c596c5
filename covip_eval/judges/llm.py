"""A judge role played by any text model adapter, with the paper's judge settings by default.

Each item is asked with its own template (the MCQA judge sees only the caption and one
question, and answers with a boxed letter; the LAR judge compares a response with the
reference action and answers Correct or Wrong), and its reply is read by the item's own
answers. Every call goes through the run's cache; with `samples=k` the judge is asked k times
(sampled) and the majority answer wins, ties and unparsable replies being reported, never
guessed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from covip_eval.engine.generation import GenerationRunner
from covip_eval.engine.prompts import PromptTemplate, load_template
from covip_eval.judges.base import Judge, JudgeItem, JudgeTemplate, Verdict
from covip_eval.requests import ChatRequest, GenParams, Message, TextPart

JUDGE_KEYS = ("samples", "temperature", "top_p", "top_k", "min_p", "max_new_tokens", "seed")
TEMPLATE_KEY = "_template"  # `NAME_template=FILE` asks items of template judge_NAME with FILE


class JudgeSettings(BaseModel):
    """Defaults are the paper's judge sampling settings."""

    model_config = ConfigDict(extra="forbid")
    samples: int = Field(1, ge=1, description="judge calls per item; majority vote when > 1")
    temperature: float = 0.7
    top_p: float | None = 0.8
    top_k: int | None = 20
    min_p: float | None = 0.0
    max_new_tokens: int = 512
    seed: int = 0
    templates: dict[str, str] = Field(
        {}, description="template name -> the prompt that replaces it (a name or a file)")

    def params(self, vote: int = 0) -> GenParams:
        """Settings of one vote: each vote of a sampled judge has its own seed, or identical
        requests would make the majority vote meaningless."""
        return GenParams(max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                         top_p=self.top_p, top_k=self.top_k, min_p=self.min_p,
                         seed=None if self.temperature == 0 else self.seed + vote)


def split_judge_args(args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate the judge's own settings (`mcqa_template=FILE` replaces the template
    judge_mcqa, and so for any template) from the arguments of its model."""
    settings: dict[str, Any] = {k: v for k, v in args.items() if k in JUDGE_KEYS}
    templates = {f"judge_{k.removesuffix(TEMPLATE_KEY)}": str(v) for k, v in args.items()
                 if k.endswith(TEMPLATE_KEY)}
    if templates:
        settings["templates"] = templates
    model_args = {k: v for k, v in args.items()
                  if k not in JUDGE_KEYS and not k.endswith(TEMPLATE_KEY)}
    return settings, model_args


class ModelJudge(Judge):
    name = "model"

    def __init__(self, runner: GenerationRunner, settings: JudgeSettings):
        self.runner, self.settings = runner, settings
        self._templates: dict[str, PromptTemplate] = {}  # every template asked so far

    def expect(self, templates: Sequence[JudgeTemplate]) -> None:
        for t in templates:  # loaded now: a missing file stops the run before it starts
            self.template(t.name)

    def template(self, name: str) -> PromptTemplate:
        if name not in self._templates:
            self._templates[name] = load_template(self.settings.templates.get(name, name))
        return self._templates[name]

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "judge": "model",
            "model": self.runner.adapter.identity,
            "settings": self.settings.model_dump(),
            "templates": {name: t.record() for name, t in sorted(self._templates.items())},
            "deterministic": self.settings.temperature == 0,
        }

    def grade(self, items: list[JudgeItem]) -> list[Verdict]:
        k = self.settings.samples
        requests = [
            ChatRequest((Message("user", (TextPart(self.template(item.template.name)
                                                   .render(**item.fields)),)),),
                        self.settings.params(i), sample_index=i)
            for item in items for i in range(k)
        ]
        generations = self.runner.run(requests, "judging")
        verdicts = []
        for n, item in enumerate(items):
            group = generations[n * k:(n + 1) * k]
            verdicts.append(_vote([(g.text or "", g.error, item.parse(g.text or ""))
                                   for g in group]))
        return verdicts

    def usage(self) -> dict[str, Any]:
        return self.runner.usage()

    def close(self) -> None:
        self.runner.adapter.close()


def _vote(replies: list[tuple[str, str | None, str | None]]) -> Verdict:
    raw = "\n---\n".join(text if error is None else f"[failed: {error}]"
                         for text, error, _ in replies)
    errors = [e for _, e, _ in replies if e is not None]
    answers = [a for _, e, a in replies if e is None and a is not None]
    if not answers:
        if len(errors) == len(replies):
            return Verdict(None, raw, f"judge call failed: {errors[0]}", call_failed=True)
        return Verdict(None, raw, "judge reply has no boxed answer")
    counts = Counter(answers).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return Verdict(None, raw, f"judge samples tie: {dict(counts)}")
    return Verdict(counts[0][0], raw)
