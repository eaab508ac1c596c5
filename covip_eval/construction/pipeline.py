"""The construction pipeline with model backends: concept photos in, a benchmark folder out.

Stages: dialogues (a VLM per concept photo), questions (an LLM per dialogue), query scenes (an
image generator, then a VLM filter per concept), encounter dialogues for LSD / LAR / ITR (an
LLM from structured slots), then assembly into the same format as builtin:mini. Every model call
goes through the harness cache, so a stopped run resumes; every rejection is logged with its
reason in `<out>.rejections.jsonl` and counted in the manifest; nothing invalid is written.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from benchmark import timeline
from benchmark.construction.sources import ConceptSource, read_concepts
from benchmark.construction.validate import (
    PLACEHOLDER,
    Rejected,
    parse_dialogue,
    parse_qas,
    parse_yes_no,
    prompt,
)
from benchmark.errors import DatasetError
from benchmark.mini import vocab
from benchmark.records import QA, CapEvalSample, Concept, DiagnosticSample, ImageData
from benchmark.rows import RowReader, sample_to_row
from benchmark.storage import AtomicFolder, write_config, write_manifest
from covip_eval.construction.image_generation import SceneJob, make_image_generator
from covip_eval.engine.cache import RequestCache
from covip_eval.engine.generation import GenerationRunner
from covip_eval.models.aliases import cost_estimate
from covip_eval.registry import make_model
from covip_eval.requests import ChatRequest, GenParams, ImagePart, Message, TextPart

SAMPLING = GenParams(max_new_tokens=700, temperature=0.7, top_p=0.9)
FILTERING = GenParams(max_new_tokens=8)
ENCOUNTERS = 3  # meetings with each individual of a diagnostic item


@dataclass
class PipelineSettings:
    concepts: Path
    out: Path
    image_generator: str = "offline"
    image_args: dict[str, Any] = field(default_factory=dict)
    dialogue_model: str = "tiny-random"
    dialogue_args: dict[str, Any] = field(default_factory=dict)
    qa_model: str = "tiny-random"
    qa_args: dict[str, Any] = field(default_factory=dict)
    filter_model: str | None = None
    filter_args: dict[str, Any] = field(default_factory=dict)
    per_count: dict[int, int] = field(default_factory=lambda: {1: 2, 2: 2})
    negatives_per_positive: int = 2
    hard_negatives: bool = True
    diagnostic_items: int = 0
    seed: int = 0
    max_retries: int = 2
    cache_path: Path | None = None
    progress: bool = True


@dataclass
class Log:
    """Rejections with their reasons, and counts per stage."""

    rejections: list[dict[str, str]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def reject(self, stage: str, item: str, reason: str) -> None:
        self.rejections.append({"stage": stage, "item": item, "reason": reason})
        self.counts[f"{stage}_rejected"] += 1


def _vision_request(text: str, images: list[ImageData], params: GenParams, attempt: int
                    ) -> ChatRequest:
    parts = [ImagePart(i) for i in images] + [TextPart(text)]
    return ChatRequest((Message("user", tuple(parts)),), params, sample_index=attempt)


def _text_request(text: str, attempt: int) -> ChatRequest:
    return ChatRequest((Message("user", (TextPart(text),)),), SAMPLING, sample_index=attempt)


def _with_retries(runner: GenerationRunner, items: dict[str, Callable[..., ChatRequest]],
                  check: Callable[[str, str], Any], stage: str, retries: int, log: Log
                  ) -> dict[str, Any]:
    """Ask for every item, validate, ask again (as another sample) for the rejected ones."""
    accepted: dict[str, Any] = {}
    pending = list(items)
    for attempt in range(retries + 1):
        if not pending:
            break
        outputs = runner.run([items[k](attempt) for k in pending], f"{stage} (try {attempt + 1})")
        failed = []
        for key, out in zip(pending, outputs):
            try:
                if not out.ok:
                    raise Rejected(f"model call failed: {out.error}")
                accepted[key] = check(key, out.text or "")
            except Rejected as exc:
                log.reject(stage, f"{key} (try {attempt + 1})", str(exc))
                failed.append(key)
        pending = failed
    log.counts[f"{stage}_accepted"] += len(accepted)
    log.counts[f"{stage}_dropped"] += len(pending)
    return accepted


@dataclass(frozen=True)
class Plan:
    positives: tuple[int, ...]  # concept indices
    context: tuple[tuple[int, int], ...]  # (concept, image index), interleaved
    query_images: tuple[tuple[int, int], ...]


def plan_capeval(concepts: list[ConceptSource], settings: PipelineSettings,
                 rng: random.Random) -> list[Plan]:
    eligible = [i for i, c in enumerate(concepts) if len(c.images) >= 2]
    plans = []
    for n, count in sorted(settings.per_count.items()):
        for _ in range(count):
            if len(eligible) < n or len(concepts) < n * (1 + settings.negatives_per_positive):
                raise DatasetError(str(settings.concepts), f"too few concepts for {n}-concept "
                                   "samples with their negatives (each positive needs 2 images)")
            positives = rng.sample(eligible, n)
            others = [i for i in range(len(concepts)) if i not in positives]
            negatives: list[int] = []
            for p in positives:
                same = [o for o in others if concepts[o].category == concepts[p].category
                        and o not in negatives]
                pool = same if settings.hard_negatives and same else others
                pool = [o for o in pool if o not in negatives] or others
                negatives += rng.sample(pool, min(settings.negatives_per_positive, len(pool)))
            context = [(p, 0) for p in positives] + [(o, 0) for o in negatives]
            rng.shuffle(context)
            plans.append(Plan(tuple(positives), tuple(context), tuple((p, 1) for p in positives)))
    return plans


def build(settings: PipelineSettings) -> dict[str, Any]:
    concepts = read_concepts(settings.concepts)
    rng = random.Random(f"covip-pipeline/{settings.seed}")
    plans = plan_capeval(concepts, settings, rng)
    log = Log()
    cache = RequestCache(settings.cache_path)
    roles = (("dialogue", settings.dialogue_model, settings.dialogue_args),
             ("qa", settings.qa_model, settings.qa_args))
    runners = {role: GenerationRunner(make_model(name, args), cache, settings.progress)
               for role, name, args in roles}
    if settings.filter_model:
        runners["filter"] = GenerationRunner(make_model(settings.filter_model,
                                                        settings.filter_args), cache,
                                             settings.progress)
    pairs = sorted({pair for plan in plans for pair in plan.context})
    dialogues = _dialogues(concepts, pairs, runners["dialogue"], settings, log)
    qas = _questions(dialogues, runners["qa"], settings, log)
    scenes = _scenes(concepts, plans, runners.get("filter"), settings, log)
    samples = _assemble(concepts, plans, dialogues, qas, scenes, rng, log)
    diagnostics = _diagnostics(concepts, runners["dialogue"], settings, rng, log)
    return _write(settings, samples, diagnostics, log, runners)


def _dialogues(concepts, pairs, runner, settings, log) -> dict[str, str]:
    items = {f"{concepts[c].key}#{i}": (lambda a, c=c, i=i: _vision_request(
        prompt("dialogue", category=concepts[c].category)[0], [concepts[c].images[i]],
        SAMPLING, a)) for c, i in pairs}
    real_names = [c.name for c in concepts]
    return _with_retries(runner, items, lambda k, t: parse_dialogue(t, real_names),
                         "dialogue", settings.max_retries, log)


def _questions(dialogues: dict[str, str], runner, settings, log) -> dict[str, tuple[QA, ...]]:
    items = {k: (lambda a, d=d: _text_request(prompt("qa", dialogue=d)[0], a))
             for k, d in dialogues.items()}
    return _with_retries(
        runner, items,
        lambda k, t: parse_qas(t, 0, random.Random(f"{settings.seed}/{k}")),
        "questions", settings.max_retries, log)


def _scene_store(settings: PipelineSettings) -> Path:
    """Generated scenes are kept beside the output, so a resumed run pays for none twice."""
    return settings.out.with_name(settings.out.name + ".scenes")


def _generate_scenes(generator, jobs: list[SceneJob], store: Path) -> list:
    from covip_eval.construction.image_generation import SceneResult
    from covip_eval.requests import stable_hash

    keys = [stable_hash({"generator": generator.identity, "prompt": j.prompt, "seed": j.seed,
                         "images": [i.sha256 for i in j.images]}) for j in jobs]
    results: dict[str, Any] = {k: SceneResult(ImageData((store / f"{k}.png").read_bytes()))
                               for k in keys if (store / f"{k}.png").exists()}
    todo = [(k, j) for k, j in zip(keys, jobs) if k not in results]
    if todo:
        store.mkdir(parents=True, exist_ok=True)
        for (key, _), result in zip(todo, generator.generate([j for _, j in todo])):
            if result.image is not None:
                (store / f"{key}.png").write_bytes(result.image.data)
            results[key] = result
    return [results[k] for k in keys]


def _scenes(concepts, plans, filter_runner, settings, log) -> dict[int, ImageData]:
    generator = make_image_generator(settings.image_generator, settings.image_args)
    scenes: dict[int, ImageData] = {}
    pending = list(range(len(plans)))
    for attempt in range(settings.max_retries + 1):
        if not pending:
            break
        jobs = [SceneJob(prompt("scene", count=len(plans[p].positives))[0],
                         tuple(concepts[c].images[i] for c, i in plans[p].query_images),
                         seed=settings.seed * 1000 + p * 10 + attempt) for p in pending]
        results = _generate_scenes(generator, jobs, _scene_store(settings))
        passed = []
        for p, result in zip(pending, results):
            if result.image is None:
                log.reject("scene", f"sample {p} (try {attempt + 1})", result.error or "no image")
                continue
            reason = _filter_scene(concepts, plans[p], result.image, filter_runner, attempt)
            if reason:
                log.reject("scene", f"sample {p} (try {attempt + 1})", reason)
                continue
            scenes[p] = result.image
            passed.append(p)
        pending = [p for p in pending if p not in passed]
    log.counts["scene_accepted"] += len(scenes)
    log.counts["scene_dropped"] += len(pending)
    return scenes


def _filter_scene(concepts, plan: Plan, scene: ImageData, runner, attempt: int) -> str | None:
    if runner is None:
        return None
    requests = [_vision_request(prompt("filter", category=concepts[c].category)[0],
                                [concepts[c].images[0], scene], FILTERING, attempt)
                for c in plan.positives]
    for c, out in zip(plan.positives, runner.run(requests, "scene filter")):
        answer = parse_yes_no(out.text or "") if out.ok else None
        if answer is not True:
            reply = (out.text or out.error or "")[:60]
            verdict = "no" if answer is False else f"no clear answer ({reply!r})"
            return f"filter: {concepts[c].key} not confirmed in the scene ({verdict})"
    return None


def _named(qa: QA, name: str) -> QA:
    a, b, c, d = (o.replace(PLACEHOLDER, name) for o in qa.options)
    return QA(qa.id, qa.question.replace(PLACEHOLDER, name), (a, b, c, d), qa.correct_answer)


def _assemble(concepts, plans, dialogues, qas, scenes, rng, log) -> list[CapEvalSample]:
    samples = []
    reader = RowReader("pipeline")
    for p, plan in enumerate(plans):
        keys = [f"{concepts[c].key}#{i}" for c, i in plan.context]
        missing = [k for k in keys if k not in dialogues or k not in qas]
        if p not in scenes or missing:
            log.reject("sample", f"sample {p}", "no valid scene" if p not in scenes else
                       f"no valid dialogue or questions for {', '.join(missing)}")
            continue
        names = rng.sample(vocab.PSEUDONYMS, len(plan.context))
        context = tuple(
            Concept(name=name, category=concepts[c].category, image=concepts[c].images[i],
                    dialogue=dialogues[key].replace(PLACEHOLDER, name),
                    qas=tuple(_named(QA(f"c{k}_Q{j + 1}", q.question, q.options,
                                        q.correct_answer), name)
                              for j, q in enumerate(qas[key])))
            for k, ((c, i), key, name) in enumerate(zip(plan.context, keys, names)))
        positives = tuple(k for k, (c, _) in enumerate(plan.context) if c in plan.positives)
        sample = CapEvalSample(f"sample_{p}", scenes[p], context, positives)
        try:
            samples.append(reader.capeval(sample_to_row(sample), p))
        except DatasetError as exc:
            log.reject("sample", f"sample {p}", str(exc))
    return samples


def _diagnostics(concepts, runner, settings, rng, log) -> dict[str, list[DiagnosticSample]]:
    """LSD / LAR / ITR items about concepts with at least 4 photos (3 encounters and a
    query), among others with at least 3."""
    out: dict[str, list[DiagnosticSample]] = {"lsd": [], "lar": [], "itr": []}
    eligible = [c for c in concepts if len(c.images) > ENCOUNTERS]
    if not settings.diagnostic_items or not eligible:
        return out
    for task in out:
        for n in range(settings.diagnostic_items):
            target = eligible[(n + len(out[task])) % len(eligible)]
            item = _diagnostic_item(task, n, target, concepts, runner, settings, rng, log)
            if item is not None:
                out[task].append(item)
    return out


def _diagnostic_item(task, n, target, concepts, runner, settings, rng, log):
    """One item: the target and up to two other concepts, each met three times (one photo
    each), planned by `timeline.plan_encounters` as builtin:mini's are."""
    others = [c for c in concepts if c.key != target.key and len(c.images) >= ENCOUNTERS]
    individuals = [target, *rng.sample(others, min(2, len(others)))]
    plan = timeline.plan_encounters(rng, len(individuals), ENCOUNTERS, vocab.PLACES,
                                    vocab.ACTIONS, vocab.KEYWORDS if task == "itr" else ())
    seen: Counter = Counter()
    photos = []  # which photo of its concept each encounter shows
    for encounter in plan.encounters:
        photos.append(seen[encounter.individual])
        seen[encounter.individual] += 1
    items, required = {}, {}
    for k, e in enumerate(plan.encounters):
        extra = (f"I also ask you to say the word '{e.keyword}' the next time you see "
                 "{NAME}. " if e.keyword else "")
        text = prompt("encounter", date=timeline.spoken(e.day), place=e.place, action=e.action,
                      extra=extra)[0]
        items[f"{task}{n}/{k}"] = (lambda a, t=text: _text_request(t, a))
        required[f"{task}{n}/{k}"] = tuple(x for x in (timeline.spoken(e.day), e.place,
                                                       e.action, e.keyword) if x)
    real_names = [c.name for c in concepts]
    written = _with_retries(runner, items, lambda key, t: parse_dialogue(
        t, real_names, required=required[key]), "encounter", settings.max_retries, log)
    if len(written) < len(items):
        log.reject("diagnostic", f"{task} item {n}", "an encounter dialogue was not valid")
        return None
    names = rng.sample(vocab.PSEUDONYMS, len(individuals))
    context = []
    for k, e in enumerate(plan.encounters):
        concept, name = individuals[e.individual], names[e.individual]
        facts = {"date": e.day.isoformat(), "place": e.place, "action": e.action}
        if e.keyword:
            facts["keyword"] = e.keyword
        context.append(Concept(name=name, category=concept.category,
                               image=concept.images[photos[k]],
                               dialogue=written[f"{task}{n}/{k}"].replace(PLACEHOLDER, name),
                               facts=MappingProxyType(facts)))
    latest = plan.latest
    return DiagnosticSample(f"{task}_{n}", task, target.images[ENCOUNTERS], tuple(context),
                            plan.target_positions, latest.place, latest.action, plan.keyword)


def rejections_path(out: Path) -> Path:
    return out.with_name(out.name + ".rejections.jsonl")


def _write(settings, samples, diagnostics, log, runners) -> dict[str, Any]:
    log_path = rejections_path(settings.out)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                for r in log.rejections))
    if not samples:
        raise DatasetError(str(settings.out), "no sample passed validation; nothing written "
                           f"(rejections: {dict(log.counts)})")
    usage = {role: runner.usage() for role, runner in runners.items()}
    with AtomicFolder(settings.out, overwrite=True) as tmp:
        write_config(tmp, "capeval_qa", [sample_to_row(s) for s in samples])
        for task, items in diagnostics.items():
            if items:
                write_config(tmp, task, [sample_to_row(s) for s in items])
        write_manifest(tmp, {
            "name": "coviP-build pipeline", "seed": settings.seed,
            "models": {role: r.adapter.identity for role, r in runners.items()},
            "image_generator": settings.image_generator,
            "counts": {"capeval_qa": len(samples), **{t: len(v) for t, v in diagnostics.items()}},
            "stages": dict(log.counts), "usage": usage,
        })
    return {"samples": len(samples), "stages": dict(log.counts), "usage": usage}


def estimate(settings: PipelineSettings) -> list[dict[str, Any]]:
    """Calls per stage and a cost estimate, before anything is spent (no key, no call)."""
    concepts = read_concepts(settings.concepts)
    plans = plan_capeval(concepts, settings, random.Random(f"covip-pipeline/{settings.seed}"))
    pairs = {pair for plan in plans for pair in plan.context}
    tries = settings.max_retries + 1
    eligible = [c for c in concepts if len(c.images) > ENCOUNTERS]
    others = sum(len(c.images) >= ENCOUNTERS for c in concepts) - 1
    # every diagnostic item: the target and up to two others, each met ENCOUNTERS times
    encounters = (3 * settings.diagnostic_items * (1 + min(2, max(others, 0))) * ENCOUNTERS
                  if eligible else 0)
    rows = [("dialogue", settings.dialogue_model, settings.dialogue_args, len(pairs), 1500),
            ("encounter", settings.dialogue_model, settings.dialogue_args, encounters, 800),
            ("questions", settings.qa_model, settings.qa_args, len(pairs), 600),
            ("scene", settings.image_generator, settings.image_args, len(plans), 0)]
    if settings.filter_model:
        rows.append(("filter", settings.filter_model, settings.filter_args,
                     sum(len(p.positives) for p in plans), 2000))
    table = []
    for stage, model, args, calls, tokens_in in rows:
        name = args.get("model", model)
        low = cost_estimate(name, calls * tokens_in, calls * 300)
        unknown = f"unknown (no price listed for {name})"
        table.append({"stage": stage, "model": model, "calls": calls,
                      "calls_with_retries": calls * tries,
                      "cost_usd": unknown if low is None else low,
                      "cost_usd_with_retries": unknown if low is None else round(low * tries, 4)})
    return table
