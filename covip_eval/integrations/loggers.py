"""Where results go besides the output folder, under lm-eval's flags and with its layout:
`--hf_hub_log_args` (Hub dataset repositories) and `--wandb_args` (Weights & Biases).

Tokens come from the environment or the tools' own logins, never from a flag, and never reach
a log or a result file.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from benchmark.options import validation_message
from covip_eval.errors import ConfigError, CovipError, MissingDependencyError
from covip_eval.result_files import ResultsFile

DEFAULT_HUB_REPO = "covip-eval-results"


class HubLogArgs(BaseModel):
    """lm-eval's `--hf_hub_log_args` keys, plus `dry_run`: a folder that receives exactly what
    would be uploaded, one subfolder per repository, and nothing is sent."""

    model_config = ConfigDict(extra="forbid")

    hub_results_org: str = ""  # default: the logged-in user
    hub_repo_name: str = ""  # sets both repositories below
    details_repo_name: str = ""  # samples; default covip-eval-results
    results_repo_name: str = ""  # results; default the details repository
    push_results_to_hub: bool = False
    push_samples_to_hub: bool = False
    public_repo: bool = False  # private repositories get lm-eval's "-private" suffix
    dry_run: Path | None = None

    @classmethod
    def parse(cls, values: dict[str, Any]) -> HubLogArgs:
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(validation_message(exc, "--hf_hub_log_args")) from None

    def repositories(self, org: str) -> tuple[str, str]:
        """(results repository, details repository), as lm-eval names them."""
        details = self.hub_repo_name or self.details_repo_name or DEFAULT_HUB_REPO
        results = self.hub_repo_name or self.results_repo_name or details
        suffix = "" if self.public_repo else "-private"
        return f"{org}/{results}{suffix}", f"{org}/{details}{suffix}"


def hub_uploads(args: HubLogArgs, org: str, model_folder: str, results_file: Path,
                samples_files: list[Path]) -> dict[str, dict[str, Path]]:
    """{repository: {path in the repository: local file}}: the results and samples files under
    the model's folder, each kind in its repository."""
    results_repo, details_repo = args.repositories(org)
    uploads: dict[str, dict[str, Path]] = {}
    if args.push_results_to_hub:
        uploads.setdefault(results_repo, {})[f"{model_folder}/{results_file.name}"] = results_file
    if args.push_samples_to_hub:
        for path in samples_files:
            uploads.setdefault(details_repo, {})[f"{model_folder}/{path.name}"] = path
    return uploads


_STAMP = re.compile(r"^(?:results|samples_(?P<task>.+))_(?P<stamp>\d{4}-\d\d-\d\dT[\d.-]+)"
                    r"\.jsonl?$")


def repository_card(paths: list[str], repo_id: str) -> str:
    """A dataset card whose configurations name the repository's files as lm-eval's tracker
    names them: `<model>__results` and `<model>__<task>`, a split per run date and `latest`,
    so the Hub's viewer and `datasets.load_dataset(repo, config)` read them."""
    runs: dict[str, list[tuple[str, str]]] = {}  # config -> (date, path)
    for path in paths:
        found = _STAMP.match(Path(path).name)
        if found is None:
            continue
        model = Path(path).parent.name
        task = re.sub(r"\W", "_", found["task"] or "results")
        config = f"{model}__{task}"
        runs.setdefault(config, []).append((re.sub(r"[^\w.]", "_", found["stamp"]), path))
    configs = []
    for config, dated in sorted(runs.items()):
        latest = max(dated)
        files = [{"split": date, "path": [path]} for date, path in sorted(dated)]
        configs.append({"config_name": config,
                        "data_files": [*files, {"split": "latest", "path": [latest[1]]}]})
    meta = yaml.safe_dump({"pretty_name": f"covip-eval results ({repo_id})",
                           "configs": configs}, sort_keys=False)
    return (f"---\n{meta}---\n\n# covip-eval results\n\nResults and per-sample details of "
            "CoViP evaluations run with covip-eval: one configuration per model and task "
            "(`<model>__<task>`, and `<model>__results` for the aggregated numbers), one split "
            "per run and `latest`.\n")


def push_to_hub(args: HubLogArgs, model_folder: str, results_file: Path,
                samples_files: list[Path]) -> list[str]:
    """Upload (or, with dry_run, stage) the files; returns one line per repository."""
    if not (args.push_results_to_hub or args.push_samples_to_hub):
        raise ConfigError("--hf_hub_log_args: set push_results_to_hub=True and/or "
                          "push_samples_to_hub=True")
    if args.push_samples_to_hub and not samples_files:
        raise ConfigError("--hf_hub_log_args push_samples_to_hub=True needs --log_samples")
    api: Any = None
    org = args.hub_results_org
    if args.dry_run is None:
        from huggingface_hub import HfApi

        api = HfApi()
        org = org or _hub_call("who am I", api.whoami)["name"]
    elif not org:
        raise ConfigError("--hf_hub_log_args dry_run=... needs hub_results_org")
    lines = []
    for repo_id, files in hub_uploads(args, org, model_folder, results_file,
                                      samples_files).items():
        if args.dry_run is not None:
            folder = args.dry_run / repo_id.replace("/", "__")
            _stage(files, folder, repository_card(sorted(files), repo_id))
            lines.append(f"{repo_id}: {len(files)} file(s) staged in {folder} (nothing uploaded)")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            existing = _hub_call(repo_id, _repo_files, api, repo_id)
            _stage(files, Path(tmp), repository_card(sorted({*existing, *files}), repo_id))
            _hub_call(repo_id, api.create_repo, repo_id, repo_type="dataset",
                      private=not args.public_repo, exist_ok=True)
            _hub_call(repo_id, api.upload_folder, repo_id=repo_id, repo_type="dataset",
                      folder_path=tmp,
                      commit_message=f"Add covip-eval results for {model_folder}")
        lines.append(f"{repo_id}: {len(files)} file(s) uploaded")
    return lines


def _stage(files: dict[str, Path], folder: Path, card: str) -> None:
    for path_in_repo, source in files.items():
        target = folder / path_in_repo
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (folder / "README.md").write_text(card)


def _repo_files(api: Any, repo_id: str) -> list[str]:
    """The files already in a repository (none when it does not exist yet)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        return api.list_repo_files(repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        return []


def _hub_call(what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except Exception as exc:  # network and auth errors: one line, never the token
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CovipError(f"--hf_hub_log_args: {what}: {type(exc).__name__}: {first} (log in "
                         "with `hf auth login` or set HF_TOKEN, and check the network)") from None


def log_to_wandb(init_args: dict[str, Any], results: dict[str, Any],
                 results_file: Path | None, samples_files: list[Path]) -> str:
    """One W&B run: the configuration, every metric in the summary as `task/metric` (lm-eval's
    keys without the filter's name, as its logger writes them), a table of the results, and the
    result files as an artifact. `init_args` go to
    `wandb.init` (project, name, entity, mode, dir, ...). Returns the run's name."""
    try:
        import wandb
    except ImportError:
        raise MissingDependencyError("--wandb_args", "wandb", "wandb") from None
    defaults = {"project": "covip-eval", "job_type": "eval",
                "name": results["model_name_sanitized"]}
    run = wandb.init(**{**defaults, **init_args},
                     config={"config": results["config"], "judge": results["judge"],
                             "datasets": results["datasets"], "prompts": results["prompts"]})
    rows, summary = [], {}
    for task, row in ResultsFile.model_validate(results).results.items():
        for metric in row.metrics():
            value, stderr = row.value(metric), row.stderr(metric)
            if value is None:
                continue
            summary[f"{task}/{metric}"] = value
            if stderr is not None:
                summary[f"{task}/{metric}_stderr"] = stderr
            rows.append([task, metric, value, stderr])
    run.summary.update(summary)
    run.log({"evaluation/eval_results": wandb.Table(columns=["task", "metric", "value", "stderr"],
                                                    data=rows)})
    artifact = wandb.Artifact("results", type="eval_results")
    if results_file is not None:
        artifact.add_file(str(results_file))
    else:
        with artifact.new_file("results.json") as fh:
            fh.write(json.dumps(results, default=str))
    for path in samples_files:
        artifact.add_file(str(path))
    run.log_artifact(artifact)
    name = str(run.name)
    run.finish()
    return name
