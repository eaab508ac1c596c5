"""The public API and plugins: registries without side effects, a model adapter and a judged
task added from outside the package, with no edit to the engine."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from benchmark import DiagnosticSample, Sample, load_benchmark
from covip_eval import (
    EvalSettings,
    Generation,
    JudgeItem,
    JudgeTemplate,
    Metric,
    ModelAdapter,
    SampleScore,
    Scorer,
    Stage,
    Verdict,
    evaluate,
    register_metric,
    register_mode,
    register_model,
    register_scorer,
)
from covip_eval.engine.stages import Caption
from covip_eval.errors import ConfigError
from covip_eval.metrics import Aggregation
from covip_eval.registry import JUDGES, MODELS, SCORERS
from covip_eval.requests import ChatRequest, Message, TextPart


def test_registries_are_full_on_import_and_import_no_backend() -> None:
    code = ("import sys\nfrom covip_eval.registry import SCORERS, MODELS\n"
            "print(len(SCORERS), 'covip_eval.models.baselines' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [str(len(SCORERS)), "False"] and len(SCORERS) >= 4
    assert {"hf", "openai", "retrieval"} <= set(MODELS) and "lexical" in JUDGES


@register_model("echo-plugin")
class EchoModel(ModelAdapter):
    name = "echo-plugin"

    def generate(self, requests):
        return [Generation(text="You were feeding the ducks.") for _ in requests]


class GreetingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    greeting: str = "hello"


class GreetingModel(ModelAdapter[GreetingOptions]):
    """An adapter whose `--model_args` are its type argument."""

    name = "greeting-plugin"

    def generate(self, requests):
        return [Generation(text=self.options.greeting) for _ in requests]


def test_an_adapter_takes_its_options_from_its_type_argument() -> None:
    assert GreetingModel.Options is GreetingOptions
    assert GreetingModel(greeting="hi").options.greeting == "hi"
    assert GreetingModel().identity == {"adapter": "greeting-plugin", "greeting": "hello"}
    with pytest.raises(ConfigError, match="--model_args for 'greeting-plugin'"):
        GreetingModel(greting="hi")


def said_first_word(item: JudgeItem) -> Verdict:
    """The plugin's offline rule: the reference's first word is in the response."""
    found = item.fields["reference"].split()[0].lower() in item.fields["response"].lower()
    return Verdict("yes" if found else "no", "first word found" if found else "not found")


# a template of the plugin's own: the built-in LAR prompt, its own answers and offline rule
NAMED = JudgeTemplate("judge_lar", ("yes", "no"), offline=said_first_word)
NO_RULE = JudgeTemplate("judge_lar", ("yes", "no"))  # only a model judge can decide these


class ActionNamedScorer(Scorer):
    """A new judged task: does the response name the last action?"""

    needs_judge = True
    metrics = ("named",)
    template = NAMED
    judge_templates = (NAMED,)

    def judge_items(self, sample: Sample, text: str) -> list[JudgeItem]:
        assert isinstance(sample, DiagnosticSample)
        return [JudgeItem(self.template, {"response": text, "reference": sample.last_action},
                          "yes")]

    def score(self, sample: Sample, text: str, verdicts: list[Verdict]) -> SampleScore:
        return SampleScore({"named": (float(verdicts[0].answer == "yes"), 1.0)},
                           counts=Counter(judged=1))


class UnruledScorer(ActionNamedScorer):
    template = NO_RULE
    judge_templates = (NO_RULE,)


def test_a_plugin_model_and_a_new_judged_task(tmp_path: Path, small_dataset: Path) -> None:
    register_scorer("action_named", ActionNamedScorer)
    register_metric(Metric("named", "the response names the last action"))
    (tmp_path / "lar_named.yaml").write_text(
        "task: lar_named\ninclude: " + str(Path("tasks/_context.yaml").resolve()) + "\n"
        f"dataset: {small_dataset}\ndataset_config: lar\nmode: direct\n"
        "prompts: {question: lar_question}\nscorer: action_named\nmetrics: [named]\n")
    results = evaluate(EvalSettings(model="echo-plugin", tasks=["lar_named"], judge="lexical",
                                    include_path=[tmp_path], progress=False)).results
    row = results["results"]["lar_named"]
    assert results["counts"]["lar_named"] == {"n_scored": 4, "judged": 4}
    said = [s.last_action.split()[0].lower() in "you were feeding the ducks."
            for s in load_benchmark(str(small_dataset), "lar").samples]
    assert row["named,none"] == sum(said) / len(said)  # decided by the plugin's own rule
    assert results["config"]["model_identity"]["adapter"] == "echo-plugin"
    # a template with no offline rule: the offline judge refuses it, it never guesses
    register_scorer("action_unruled", UnruledScorer)
    (tmp_path / "lar_unruled.yaml").write_text(
        (tmp_path / "lar_named.yaml").read_text().replace("lar_named", "lar_unruled")
        .replace("action_named", "action_unruled"))
    with pytest.raises(ConfigError, match="no rule for judge template.*judge_lar"):
        evaluate(EvalSettings(model="echo-plugin", tasks=["lar_unruled"], judge="lexical",
                              include_path=[tmp_path], progress=False))


class AnswerFromNotes(Stage):
    """A plugin's stage: the question asked again over the earlier stage's notes alone."""

    name = "answer"
    settings = "generation"
    prompts = ("question",)

    def request(self, sample, prompts, params, earlier):
        text = f"Notes: {earlier[-1].text}\n\n{prompts['question'].render()}"
        return ChatRequest((Message("user", (TextPart(text),)),), params)


def test_a_plugin_mode_chains_a_built_in_stage_with_its_own(tmp_path: Path,
                                                          small_dataset: Path) -> None:
    register_mode("notes", (Caption(), AnswerFromNotes()))
    register_mode("notes", (Caption(), AnswerFromNotes()))  # the same chain again: harmless
    with pytest.raises(ConfigError, match="mode 'notes' is registered already"):
        register_mode("notes", (AnswerFromNotes(),))
    (tmp_path / "lsd_notes.yaml").write_text(
        "task: lsd_notes\ninclude: " + str(Path("tasks/_context.yaml").resolve()) + "\n"
        f"dataset: {small_dataset}\ndataset_config: lsd\nmode: notes\n"
        "prompts: {question: lsd_question}\nscorer: lsd_token_f1\nmetrics: [token_f1]\n")
    outcome = evaluate(EvalSettings(model="echo-plugin", tasks=["lsd_notes"], progress=False,
                                    include_path=[tmp_path], keep_records=True))
    records = outcome.records["lsd_notes"]
    assert records and all(len(r.requests) == len(r.outputs) == 2 for r in records)
    second = records[0].requests[1]
    assert "Notes: You were feeding the ducks." in second.messages[0].parts[0].text
    assert not second.images  # the plugin's stage shows no image
    assert outcome.results["outcomes"]["lsd_notes"]["scored"] == len(records)
    # a mode nobody registered is an error naming the file
    (tmp_path / "lsd_notes.yaml").write_text(
        (tmp_path / "lsd_notes.yaml").read_text().replace("mode: notes", "mode: nots"))
    with pytest.raises(ConfigError, match=r"lsd_notes.yaml: mode: unknown mode 'nots'.*'notes'"):
        evaluate(EvalSettings(model="echo-plugin", tasks=["lsd_notes"], progress=False,
                              include_path=[tmp_path]))


@dataclass(frozen=True)
class MeanOfSampleRatios(Aggregation):
    """A plugin's aggregation: each sample's ratio, then their mean (every sample weighs
    alike, however many questions it asked)."""

    def of_arrays(self, nums: np.ndarray, dens: np.ndarray) -> np.ndarray:
        asked = dens > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = np.where(asked, nums / np.where(asked, dens, 1.0), 0.0)
            return (ratios.sum(axis=-1) / asked.sum(axis=-1)).mean(axis=0)


def test_a_plugin_metric_aggregates_its_own_way(tmp_path: Path, small_dataset: Path) -> None:
    register_metric(Metric("acc_pos_macro", "Acc+, each sample weighing alike",
                           components=("acc_pos",), aggregation=MeanOfSampleRatios()))
    (tmp_path / "capeval_macro.yaml").write_text(
        "task: capeval_macro\ninclude: " + str(Path("tasks/_context.yaml").resolve()) + "\n"
        f"dataset: {small_dataset}\ndataset_config: capeval_qa\nmode: caption\n"
        "scorer: capeval_mcqa\nmetrics: [acc_pos, acc_pos_macro]\n")
    outcome = evaluate(EvalSettings(model="retrieval", tasks=["capeval_macro"], judge="lexical",
                                    include_path=[tmp_path], progress=False, keep_records=True))
    parts = [r.score.metrics["acc_pos"] for r in outcome.records["capeval_macro"]
             if r.scored and r.score is not None]
    row = outcome.results["results"]["capeval_macro"]
    macro = sum(n / d for n, d in parts if d) / sum(1 for _, d in parts if d)
    micro = sum(n for n, _ in parts) / sum(d for _, d in parts)
    assert macro != pytest.approx(micro)  # the data tell the two apart
    assert row["acc_pos_macro,none"] == pytest.approx(macro)
    assert row["acc_pos,none"] == pytest.approx(micro)
    assert isinstance(row["acc_pos_macro_stderr,none"], float)  # the bootstrap uses it too
    assert outcome.results["higher_is_better"]["capeval_macro"]["acc_pos_macro"] is True


def test_a_name_is_registered_once() -> None:
    register_model("echo-plugin", EchoModel)  # the same entry again: nothing changes
    with pytest.raises(ConfigError, match="model 'blind' is registered already "
                                          r"\(as covip_eval.models.baselines:BlindModel\)"):
        register_model("blind", EchoModel)
    with pytest.raises(ConfigError, match="scorer 'lar_judge' is registered already"):
        register_scorer("lar_judge", "elsewhere:Scorer")


def test_an_installed_package_adds_a_model_with_no_code(tmp_path: Path,
                                                       small_dataset: Path) -> None:
    """A package declares an adapter as an entry point; coviP-eval finds it by name."""
    (tmp_path / "ep_plugin").mkdir()
    (tmp_path / "ep_plugin" / "__init__.py").write_text(
        "from covip_eval import Generation, ModelAdapter\n\n\n"
        "class Echo(ModelAdapter):\n    name = 'ep-echo'\n\n"
        "    def generate(self, requests):\n"
        "        return [Generation(text='\\\\boxed{the harbor}') for _ in requests]\n")
    dist = tmp_path / "ep_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[covip_eval.models]\nep-echo = ep_plugin:Echo\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path.cwd())])}
    done = subprocess.run([sys.executable, "-m", "covip_eval.cli.evaluate", "--model", "ep-echo",
                           "--tasks", "lsd_direct", "--dataset", str(small_dataset),
                           "--use_cache", "none", "--no_progress"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "lsd_direct" in done.stdout
