"""Writes an lm-eval task folder for the direct-mode tasks (CapEval-QA's caption, LSD, LAR, ITR
direct). The folder holds flat YAML files and a `utils.py` of one-line functions that call
`covip_eval.integrations.lmeval_bridge`; CAG needs two generation stages and stays with coviP-eval.

    coviP-eval export-lmeval --out lmeval_tasks [--dataset SPEC] [--judge NAME --judge_args ...]
    lm_eval --include_path lmeval_tasks --tasks covip_lsd_direct --model hf-multimodal \\
        --model_args pretrained=...,max_images=64 --apply_chat_template \\
        --system_instruction "$(cat lmeval_tasks/system_instruction.txt)"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from covip_eval.engine.task import Task
from covip_eval.registry import TaskIndex
from covip_eval.result_files import write_json_atomic

TASKS = ("capeval_qa", "lsd_direct", "lar_direct", "itr_direct")
STOP = "<|im_end|>"
# settings a model type of lm-eval cannot take, left out of the tasks exported for it
CANNOT_TAKE = {"hf-multimodal": {"presence_penalty": "transformers' generate has no presence "
                                                     "penalty (coviP-eval's hf adapter records "
                                                     "it as ignored)"}}


def _utils(tasks: dict[str, Task], dataset: str, judge: str, judge_args: dict[str, Any]) -> str:
    lines = [
        '"""Written by `coviP-eval export-lmeval`: lm-eval calls these, they call covip-eval."""',
        "",
        "from covip_eval.integrations import lmeval_bridge as bridge",
        "",
        f"DATASET = {dataset!r}",
        f"JUDGE = {judge!r}",
        f"JUDGE_ARGS = {judge_args!r}",
    ]
    for name in dict.fromkeys(m.name for task in TASKS for m in tasks[task].metrics):
        lines += ["", "", f"def aggregate_{name}(items):",
                  f"    return bridge.aggregate({name!r}, items)"]
    for task in TASKS:
        lines += ["", "", f"def load_{task}(**_):",
                  f"    return bridge.load_docs(DATASET, {task!r})",
                  "", "", f"def text_{task}(doc):",
                  f"    return bridge.doc_to_text(DATASET, {task!r}, doc)",
                  "", "", f"def image_{task}(doc):",
                  f"    return bridge.doc_to_image(DATASET, {task!r}, doc)"]
        if tasks[task].scorer.needs_judge:
            lines += ["", "", f"def judge_{task}(resps, docs):",
                      f"    return bridge.judge_filter(DATASET, {task!r}, JUDGE, JUDGE_ARGS, "
                      "resps, docs)",
                      "", "", f"def results_{task}(doc, results):",
                      "    return results[0]"]
        else:
            lines += ["", "", f"def results_{task}(doc, results):",
                      f"    return bridge.score(DATASET, {task!r}, doc, results[0])"]
    return "\n".join(lines) + "\n"


class _Function(str):
    """A YAML `!function` reference."""


def _function_representer(dumper: yaml.Dumper, value: _Function) -> Any:
    return dumper.represent_scalar("!function", str(value))


def _task_yaml(resolved: Task, left_out: set[str]) -> dict[str, Any]:
    task = resolved.name
    gen = resolved.generation(resolved.reply)
    generation: dict[str, Any] = {"until": [STOP], "max_gen_toks": gen.max_new_tokens,
                                  "do_sample": gen.temperature > 0}
    if gen.temperature > 0:
        generation.update({k: v for k, v in (("temperature", gen.temperature),
                                             ("top_p", gen.top_p), ("top_k", gen.top_k),
                                             ("min_p", gen.min_p))
                           if v is not None})
    if gen.presence_penalty is not None and "presence_penalty" not in left_out:
        generation["presence_penalty"] = gen.presence_penalty
    data: dict[str, Any] = {
        "task": f"covip_{task}",
        "custom_dataset": _Function(f"utils.load_{task}"),
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_image": _Function(f"utils.image_{task}"),
        "doc_to_text": _Function(f"utils.text_{task}"),
        "doc_to_target": "sample_id",
        "process_results": _Function(f"utils.results_{task}"),
        "generation_kwargs": generation,
        "metric_list": [{"metric": m.name, "aggregation": _Function(f"utils.aggregate_{m.name}"),
                         "higher_is_better": m.higher_is_better}
                        for m in resolved.metrics],
        "metadata": {"version": int(resolved.config.version)},
    }
    if resolved.scorer.needs_judge:
        data["filter_list"] = [{"name": "judge", "filter": [
            {"function": "custom", "filter_fn": _Function(f"utils.judge_{task}")}]}]
    return data


def export_lmeval(out: Path, dataset: str, judge: str, judge_args: dict[str, Any],
                  for_model: str | None = None) -> Path:
    """The task folder; `for_model` (an lm-eval model type) leaves out the settings it cannot
    take, and the export record says which and why."""
    from covip_eval.integrations.lmeval_bridge import system_instruction

    left_out = CANNOT_TAKE.get(for_model or "", {})
    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(_Function, _function_representer)
    out.mkdir(parents=True, exist_ok=True)
    tasks = TaskIndex().tasks
    (out / "utils.py").write_text(_utils(tasks, dataset, judge, judge_args))
    for task in TASKS:
        (out / f"covip_{task}.yaml").write_text(
            yaml.dump(_task_yaml(tasks[task], set(left_out)), Dumper=Dumper, sort_keys=False))
    (out / "system_instruction.txt").write_text(system_instruction("lsd_direct") or "")
    write_json_atomic(out / "covip_export.json", {"dataset": dataset, "judge": judge,
                                                  "tasks": [f"covip_{t}" for t in TASKS],
                                                  "for_model": for_model,
                                                  "left_out": left_out})
    return out
