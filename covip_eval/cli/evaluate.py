"""`coviP-eval`: evaluate a vision-language model on the CoViP tasks.

Flag names follow lm-eval's. Example:
    coviP-eval --model retrieval --tasks covip --output_path results --log_samples

Commands: `run` (the evaluation, the same as the bare form), `audit` (how much text-only
probes score), `score` (judge captions written elsewhere), `export-lmeval`, `judge-agreement`
(two judges on one run's outputs) and `merge` (combine sharded runs). Each takes its own flags
after its name; the evaluation's flags before a command name are refused, not dropped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.options import parse_options
from covip_eval.engine.controls import parse_controls
from covip_eval.engine.results import format_controls, format_table
from covip_eval.engine.run import EvalOutcome, default_cache_path, evaluate
from covip_eval.engine.settings import DEFAULT_STEP_SIZE, EvalSettings
from covip_eval.errors import ConfigError, CovipError, MissingDependencyError
from covip_eval.integrations.loggers import HubLogArgs, log_to_wandb, push_to_hub
from covip_eval.registry import TaskIndex, model_option_names
from covip_eval.result_files import ResultsFile, per_count_name


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text!r}")
    return int(text)

def _shared_flags() -> dict[str, tuple[tuple[str, ...], dict[str, Any]]]:
    """Flags that several commands take, defined once: name -> (option strings, settings)."""
    return {
        "judge": (("--judge",), {"default": None, "help": (
            "judge name, or any model adapter playing the judge (default on builtin:mini: the "
            "offline 'lexical' judge)")}),
        "judge_args": (("--judge_args",), {"default": "",
                                           "help": "k=v,... for the judge and its model"}),
        "dataset": (("--dataset",), {"default": None, "help": (
            "dataset for every task instead of each task's own (builtin:mini, a folder, or "
            "owner/name@revision)")}),
        "limit": (("--limit",), {"type": _limit, "default": None, "help": (
            "first N samples of each task, or a fraction of them (below 1)")}),
        "output_path": (("--output_path",), {"type": Path, "default": None,
                                             "help": "folder for result files"}),
        "log_samples": (("--log_samples",), {"action": "store_true",
                                             "help": "write per-sample JSONL files"}),
        "use_cache": (("--use_cache",), {"default": None, "help": (
            f"SQLite cache file (default {default_cache_path()}); 'none' disables")}),
        "seed": (("--seed",), {"type": _seed, "default": 0, "help": (
            "seed of sampled decoding and bootstrap (lm-eval's list form '0,1234,1234,1234' is "
            "accepted; its first value is used)")}),
        "include_path": (("--include_path",), {"type": Path, "action": "append", "default": [],
                                               "help": "extra folder of task YAML files "
                                                       "(repeatable)"}),
        "no_progress": (("--no_progress",), {"action": "store_true",
                                             "help": "hide progress bars"}),
    }


def _add_flags(p: argparse.ArgumentParser, *names: str, **changed: dict[str, Any]) -> None:
    """Add shared flags by name; `changed` replaces some settings of one (a default, `help`)."""
    shared = _shared_flags()
    for name in names:
        options, settings = shared[name]
        p.add_argument(*options, **{**settings, **changed.get(name, {})})


def _add_eval_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="retrieval", help="model alias or adapter name")
    p.add_argument("--model_args", default="", help="k=v,k2=v2 passed to the adapter")
    p.add_argument("--tasks", default="covip", help="comma list of tasks and groups; 'list'")
    _add_flags(p, "judge", "judge_args", "dataset", "limit", "output_path", "log_samples",
               "use_cache", "seed")
    p.add_argument("--gen_kwargs", default="", help="override generation settings, k=v,...")
    _add_flags(p, "include_path")
    p.add_argument("--predict_only", action="store_true",
                   help="generate and log outputs, do not score")
    _add_flags(p, "no_progress")
    p.add_argument("--controls", type=parse_controls, default=[],
                   help="visual-reliance controls, e.g. blank,swap: rerun every task with each "
                        "query image blanked (flat grey) or swapped with another sample's; "
                        "results record each control's metrics, the table their drop")
    p.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                   help="evaluate slice I of N of every task (samples chosen by a hash of "
                        "their id; needs --output_path and --log_samples); combine the slices "
                        "with `coviP-eval merge`")
    p.add_argument("--max_failure_rate", type=float, default=0.05,
                   help="share of failed samples (a generation or judge failure, or a judge "
                        "reply with no parsable answer) above which a task, or a task under "
                        "--controls, makes the run exit 3 (its results are written and marked)")
    p.add_argument("--max_image_pixels", type=int, default=None,
                   help="pixel limit of a dataset image (default 4096x4096): a larger JPEG is "
                        "decoded at reduced size, a larger image of another format is refused "
                        "when the dataset loads")
    p.add_argument("--step_size", type=_positive_int, default=DEFAULT_STEP_SIZE,
                   help="samples of each task evaluated together before they are tallied, "
                        f"written and let go (default {DEFAULT_STEP_SIZE}): memory does not "
                        "grow with the dataset; raise it for engines that batch widely (vLLM)")
    lm = p.add_argument_group("lm-eval's flags (each also settable in --model_args)")
    lm.add_argument("--num_fewshot", type=int, default=None,
                    help="0 only: the tasks are zero-shot by design")
    lm.add_argument("--apply_chat_template", action="store_true",
                    help="accepted for lm-eval's habit: the prompts are chats, always templated")
    lm.add_argument("--batch_size", default=None,
                    help="an int or 'auto' (local models); calls in flight for APIs")
    lm.add_argument("--device", default=None, help="where a local model goes (device_map)")
    lm.add_argument("--trust_remote_code", action="store_true",
                    help="let transformers run code from the model's repository (off unless "
                         "given)")
    lm.add_argument("--system_instruction", default=None,
                    help="replace the system prompt of the direct and CAG tasks (its hash is "
                         "recorded like any prompt's)")
    lm.add_argument("--show_config", action="store_true",
                    help="print the configuration of every task after the table")
    lm.add_argument("--write_out", action="store_true",
                    help="print the first prompt of every task")
    lm.add_argument("--verbosity", default="WARNING",
                    choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    lm.add_argument("--wandb_args", default="",
                    help="log to Weights & Biases: k=v,... for wandb.init (project, name, "
                         "entity, mode=offline, ...)")
    lm.add_argument("--hf_hub_log_args", default="",
                    help="push results/samples to Hub dataset repositories: hub_results_org=, "
                         "hub_repo_name=, push_results_to_hub=True, push_samples_to_hub=True, "
                         "public_repo=, dry_run=DIR (token: HF_TOKEN or `hf auth login`)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("covip-eval")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _limit(text: str) -> int | float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: a positive number of samples or fraction")
    return value if value < 1 else int(value)


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: expected I/N, e.g. 0/4") from None
    if not 0 <= shard[0] < shard[1]:
        raise argparse.ArgumentTypeError(f"{text}: I must be in 0..N-1")
    return shard


def _seed(text: str) -> int:
    try:
        return int(text.split(",")[0])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: an int, or lm-eval's comma list") from None


def _model_args(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """--model_args, with --batch_size, --device and --trust_remote_code folded in where the
    adapter takes them (an explicit --model_args value wins); and the flags the adapter has no
    use for, which are ignored with a warning as lm-eval does (a baseline or an API model has
    no device)."""
    values = parse_options(args.model_args, "--model_args")
    ignored: list[str] = []
    if args.batch_size is None and args.device is None and not args.trust_remote_code:
        return values, ignored
    adapter, options = model_option_names(args.model, values)
    if args.batch_size is not None:
        size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
        if "batch_size" in options:
            values.setdefault("batch_size", size)
        elif "max_concurrency" in options and size != "auto":
            values.setdefault("max_concurrency", size)
    for flag, option, given in (("--device", "device_map", args.device),
                                ("--trust_remote_code", "trust_remote_code",
                                 args.trust_remote_code or None)):
        if given is None:
            continue
        if option not in options:
            ignored.append(f"{flag} {given}: the {adapter!r} adapter has no {option} option")
            print(f"coviP-eval: warning: ignoring {ignored[-1]}", file=sys.stderr)
            continue
        values.setdefault(option, given)
    return values, ignored


def _add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score", help="judge captions written elsewhere with the CapEval-QA pipeline",
        description="Judge captions written elsewhere (a coviP-eval samples file, or the "
                    "official caption JSON keyed by sample or listed in sample order) with the "
                    "CapEval-QA pipeline.")
    p.add_argument("--captions", type=Path, required=True)
    _add_flags(p, "dataset", "judge", "judge_args", "limit", "output_path", "log_samples",
               "use_cache", "seed", "no_progress",
               dataset={"required": True, "help": "the dataset the captions describe"})
    p.set_defaults(run=_run_score)


def _add_export_lmeval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-lmeval", help="write an lm-eval task folder for the direct tasks",
                       description="Write an lm-eval task folder for the direct tasks.")
    p.add_argument("--out", type=Path, required=True)
    _add_flags(p, "dataset", "judge", "judge_args", dataset={"default": "builtin:mini"},
               judge={"default": "lexical"})
    p.add_argument("--for_model", default=None,
                   help="an lm-eval model type: leave out the settings it cannot take "
                        "(hf-multimodal: presence_penalty)")
    p.set_defaults(run=_run_export_lmeval)


def _add_judge_agreement(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "judge-agreement", help="re-judge a run's outputs with two judges and compare them",
        description="Re-judge the captions and answers of a samples file (or a folder of them)"
                    " with two judges: agreement, Cohen's kappa, the confusion matrix and each "
                    "judge's failures, overall, per task and per number of concepts.")
    p.add_argument("--samples", type=Path, required=True)
    _add_flags(p, "judge", "judge_args", judge={"default": "lexical", "help": "judge A"})
    p.add_argument("--judge_b", required=True, help="judge B")
    p.add_argument("--judge_b_args", default="")
    _add_flags(p, "output_path", "use_cache", "no_progress", output_path={
        "help": "folder for judge_agreement_<date>.json (default: beside the samples)"})
    p.add_argument("--max_failure_rate", type=float, default=0.05,
                   help="share of decisions a judge may fail on (a failed call or no answer); "
                        "above it the report is written and the command exits 3")
    p.set_defaults(run=_run_judge_agreement)


def _add_merge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="combine the results of sharded runs (--shard i/n)",
                       description="Combine the results of sharded runs into one results "
                                   "file, as a single run would have written it.")
    p.add_argument("paths", nargs="+", type=Path, help="shard result files or folders")
    _add_flags(p, "output_path", "include_path", output_path={"required": True})
    p.set_defaults(run=_run_merge)


def _run_merge(args: argparse.Namespace) -> int:
    from covip_eval.engine.merge import merge

    path = merge(args.paths, args.output_path, args.include_path)
    results = ResultsFile.read(path)
    print(format_table(results))
    print(f"merged {len(results.dump()['merged_from'])} shards into {path}")
    return 0


def _add_audit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit", help="how much of each task's score text-only probes reach without looking",
        description="Run text-only probe models (name frequency, category uniqueness, every "
                    "fact unnamed, recite everything), constant answers, a uniform guess among "
                    "the context's individuals and the oracle on a dataset, and print per task "
                    "the floor, the best probe and the oracle (docs/validity.md).")
    p.add_argument("--tasks", default="covip")
    _add_flags(p, "dataset", "judge", "judge_args", "limit", "seed", "include_path",
               "output_path", "use_cache", "no_progress",
               dataset={"help": "default: builtin:mini"},
               output_path={"default": Path("audit"),
                            "help": "folder for audit_<date>.json (default: ./audit)"})
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when a probe is more than 2 standard errors above its floor")
    p.set_defaults(run=_run_audit)


def _run_audit(args: argparse.Namespace) -> int:
    from covip_eval.engine.audit import Auditor, format_audit, report
    from covip_eval.engine.results import timestamp
    from covip_eval.result_files import write_json_atomic

    settings = EvalSettings(
        model="blind", dataset=args.dataset, judge=args.judge,
        judge_args=parse_options(args.judge_args, "--judge_args"), limit=args.limit,
        seed=args.seed, include_path=args.include_path, cache_path=_cache_path(args.use_cache),
        progress=not args.no_progress)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    auditor = Auditor(settings)
    audits = auditor.audit(tasks)
    written = report(audits, settings, auditor.provenance)
    path = args.output_path / f"audit_{timestamp()}.json"
    write_json_atomic(path, written)
    print(f"dataset: {written['dataset']}; limit: {args.limit}; seed: {args.seed}\n")
    print(format_audit(audits))
    print(f"\nwritten to {path}")
    if not written["passed"]:
        print("a probe is above its floor: a text feature predicts the answer",
              file=sys.stderr)
        return 1 if args.strict else 0
    return 0


def _parser() -> argparse.ArgumentParser:
    """Every command is listed; the bare form (flags, no command) evaluates, as `run` does."""
    p = argparse.ArgumentParser(prog="coviP-eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_eval_flags(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND",
                           help="run (evaluate; also the bare form), audit, score, "
                                "export-lmeval, judge-agreement, merge")
    run = sub.add_parser("run", help="evaluate a model on tasks (the bare form's flags)",
                         description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_eval_flags(run)
    run.set_defaults(run=_run_evaluate)
    _add_audit(sub)
    _add_score(sub)
    _add_export_lmeval(sub)
    _add_judge_agreement(sub)
    _add_merge(sub)
    p.set_defaults(run=_run_evaluate)
    return p


def _run_export_lmeval(args: argparse.Namespace) -> int:
    from covip_eval.integrations.lmeval_export import export_lmeval

    folder = export_lmeval(args.out, args.dataset, args.judge,
                           parse_options(args.judge_args, "--judge_args"), args.for_model)
    system = f"{folder}/system_instruction.txt"
    print(f"wrote {folder}; run e.g. lm_eval --include_path {folder} --tasks "
          "covip_lsd_direct --model hf-multimodal --model_args pretrained=... "
          f"--apply_chat_template --system_instruction \"$(cat {system})\"")
    return 0


def _run_judge_agreement(args: argparse.Namespace) -> int:
    from covip_eval.engine.cache import RequestCache
    from covip_eval.engine.judge_agreement import compare, decisions, failed_judges, format_report
    from covip_eval.engine.results import timestamp
    from covip_eval.registry import make_judge
    from covip_eval.result_files import write_json_atomic

    found = decisions(args.samples)
    cache = RequestCache(_cache_path(args.use_cache))
    judges = [make_judge(name, parse_options(values, flag), cache, not args.no_progress)
              for name, values, flag in ((args.judge, args.judge_args, "--judge_args"),
                                         (args.judge_b, args.judge_b_args, "--judge_b_args"))]
    try:
        report = compare(found, *judges)
    finally:
        for judge in judges:
            judge.close()
        cache.close()
    folder = args.output_path or (args.samples if args.samples.is_dir()
                                  else args.samples.parent)
    path = folder / f"judge_agreement_{timestamp()}.json"
    write_json_atomic(path, report)
    print(f"judge A: {args.judge}; judge B: {args.judge_b}; {len(found)} decisions\n")
    print(format_report(report))
    print(f"\nwritten to {path}")
    for line in failed_judges(report, args.max_failure_rate):
        print(f"coviP-eval: error: {line}", file=sys.stderr)
    return 3 if failed_judges(report, args.max_failure_rate) else 0


def _run_score(args: argparse.Namespace) -> int:
    return _evaluate_and_print(EvalSettings(
        model="captions", model_args={"path": str(args.captions)}, tasks=["capeval_qa"],
        judge=args.judge, judge_args=parse_options(args.judge_args, "--judge_args"),
        dataset=args.dataset, limit=args.limit, seed=args.seed,
        cache_path=_cache_path(args.use_cache), output_path=args.output_path,
        log_samples=args.log_samples, progress=not args.no_progress))


def _run_evaluate(args: argparse.Namespace) -> int:
    if args.tasks in LISTINGS:
        print(LISTINGS[args.tasks](TaskIndex(args.include_path)))
        return 0
    if args.num_fewshot not in (None, 0):
        raise ConfigError(f"--num_fewshot {args.num_fewshot}: the tasks are zero-shot by "
                          "design (the context is the user's own conversation); give 0 or "
                          "leave it out")
    logging.basicConfig(level=args.verbosity, format="%(name)s: %(message)s")
    if args.shard and not (args.output_path and args.log_samples):
        raise ConfigError("--shard writes what `coviP-eval merge` combines: give --output_path "
                          "and --log_samples")
    loggers = _Loggers.from_args(args)
    model_args, ignored_flags = _model_args(args)
    return _evaluate_and_print(EvalSettings(
        model=args.model, model_args=model_args, ignored_flags=ignored_flags,
        tasks=[t.strip() for t in args.tasks.split(",") if t.strip()],
        judge=args.judge, judge_args=parse_options(args.judge_args, "--judge_args"),
        dataset=args.dataset, limit=args.limit, seed=args.seed,
        gen_kwargs=parse_options(args.gen_kwargs, "--gen_kwargs"),
        include_path=args.include_path, cache_path=_cache_path(args.use_cache),
        output_path=args.output_path, log_samples=args.log_samples,
        predict_only=args.predict_only, progress=not args.no_progress,
        max_failure_rate=args.max_failure_rate, system_instruction=args.system_instruction,
        controls=args.controls, shard=args.shard, max_image_pixels=args.max_image_pixels,
        step_size=args.step_size),
        show_config=args.show_config, write_out=args.write_out, loggers=loggers)


def _cache_path(value: str | None) -> Path | None:
    if value is None:
        return default_cache_path()
    return None if value.lower() == "none" else Path(value)


def _list_tasks(index: TaskIndex) -> str:
    lines = ["|Task|Dataset|Config|Mode|Scorer|", "|----|-------|------|----|------|"]
    for name, task in sorted(index.tasks.items()):
        c = task.config
        lines.append(f"|{name}|{c.dataset}|{c.dataset_config}|{c.mode}|{c.scorer}|")
    return "\n".join(lines + ["", _list_groups(index)])


def _list_groups(index: TaskIndex) -> str:
    lines = ["|Group|Tasks|", "|-----|-----|"]
    lines += [f"|{g}|{', '.join(ts)}|" for g, ts in sorted(index.groups.items())]
    return "\n".join(lines)


def _list_subtasks(index: TaskIndex) -> str:
    """The rows a run writes beside its tasks: one per number of concepts (CapEval-QA's)."""
    lines = ["|Subtask|Of|Samples|", "|-------|--|-------|"]
    for name, task in sorted(index.tasks.items()):
        if task.per_count:
            lines += [f"|{per_count_name(name, n)}|{name}|with {n} concept{'s' * (n > 1)}|"
                      for n in (1, 2, 3, 4)]
    return "\n".join(lines)


LISTINGS = {"list": _list_tasks, "list_groups": _list_groups, "list_subtasks": _list_subtasks}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.command is not None:
        _refuse_evaluation_flags(parser, argv, args.command)
    try:
        return args.run(args)
    except CovipError as exc:
        print(f"coviP-eval: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("coviP-eval: interrupted; no results were written, finished calls are in the "
              "cache: run the same command again to resume", file=sys.stderr)
        return 130


def _refuse_evaluation_flags(parser: argparse.ArgumentParser, argv: list[str],
                             command: str) -> None:
    """The bare form's flags given before another command would be dropped silently: refuse."""
    evaluation = {option for action in parser._actions for option in action.option_strings
                  if option.startswith("--") and option != "--version"}
    head = argv[:argv.index(command)]
    given = [a.split("=")[0] for a in head if a.split("=")[0] in evaluation]
    if given:
        parser.error(f"{', '.join(given)} before `{command}` belong to the evaluation and would "
                     f"be ignored: give `{command}` its own flags after its name")


@dataclass(frozen=True)
class _Loggers:
    """--wandb_args and --hf_hub_log_args, checked before the evaluation starts."""

    wandb: dict[str, Any] | None = None
    hub: HubLogArgs | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> _Loggers:
        wandb = parse_options(args.wandb_args, "--wandb_args") if args.wandb_args else None
        if wandb is not None and importlib.util.find_spec("wandb") is None:
            raise MissingDependencyError("--wandb_args", "wandb", "wandb")
        hub = HubLogArgs.parse(parse_options(args.hf_hub_log_args, "--hf_hub_log_args")) \
            if args.hf_hub_log_args else None
        if hub is not None and args.output_path is None:
            raise ConfigError("--hf_hub_log_args pushes the result files: give --output_path")
        return cls(wandb, hub)

    def log(self, outcome: EvalOutcome) -> None:
        if self.wandb is not None:
            name = log_to_wandb(self.wandb, outcome.results, outcome.results_path,
                                outcome.samples_paths)
            print(f"logged to Weights & Biases as run {name}")
        if self.hub is not None and outcome.results_path is not None:
            for line in push_to_hub(self.hub, outcome.results["model_name_sanitized"],
                                    outcome.results_path, outcome.samples_paths):
                print(line)


def _evaluate_and_print(settings: EvalSettings, show_config: bool = False,
                        write_out: bool = False, loggers: _Loggers = _Loggers()) -> int:
    outcome = evaluate(settings)
    results = outcome.results
    if write_out:
        for task, prompt in outcome.first_prompts.items():
            print(f"\n--- {task}, first prompt ---\n{prompt or ''}")
    judge = results["judge"]
    model_args = json.dumps(results["config"]["model_args"], default=str)
    print(f"\nmodel: {settings.model} {model_args}; judge: "
          f"{json.dumps(judge) if judge else 'none'}; limit: {settings.limit}; "
          f"seed: {settings.seed}")
    if not settings.predict_only:
        print(format_table(results))
        if results["controls"]:
            print(f"\nvisual-reliance controls (the query image changed; Δ from normal):\n"
                  f"{format_controls(results)}")
    if show_config:
        print(json.dumps(results["configs"], indent=1, default=str))
    failed = {t: sum(f.values()) for t, f in results["failures"].items() if f}
    if failed:
        where = "see the results file for every reason" if outcome.results_path else \
            "the most common reason of each: " + "; ".join(
                f"{t}: {next(iter(results['failures'][t]))}" for t in failed)
        print(f"failed samples ({where}): {failed}", file=sys.stderr)
    if outcome.results_path:
        print(f"results written to {outcome.results_path}")
    loggers.log(outcome)
    exceeded = results["failure_rate"]["exceeded"]
    if exceeded:
        shares = ", ".join(f"{t} {100 * r:.1f}%" for t, r in exceeded.items())
        print(f"coviP-eval: error: failed samples above --max_failure_rate "
              f"{100 * settings.max_failure_rate:.1f}%: {shares} (results are marked so)",
              file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
