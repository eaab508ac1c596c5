"""coviP-train: configuration checks, exact reward values, a few steps of every preset on
tiny-random, and a checkpoint that coviP-eval evaluates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

from benchmark import CANNOT_DETERMINE, QA, CapEvalSample, Concept, ImageData  # noqa: E402
from covip_eval.errors import ConfigError, CovipError  # noqa: E402
from covip_eval.judges.lexical import LexicalJudge  # noqa: E402
from covip_eval.run import EvalSettings, evaluate  # noqa: E402
from coviP_train.cli import main as train_main  # noqa: E402
from coviP_train.config import load_config  # noqa: E402
from coviP_train.reward import CaptionReward, RewardWeights, repeats_itself  # noqa: E402


def test_presets_carry_the_paper_settings() -> None:
    gspo = load_config("gspo", [])
    assert (gspo.lora_r, gspo.lora_alpha, gspo.num_generations, gspo.beta) == (64, 128, 4, 0.0)
    assert (gspo.learning_rate, gspo.num_train_epochs) == (5e-6, 2)
    assert (gspo.epsilon, gspo.epsilon_high, gspo.importance_sampling_level) == (
        3e-4, 4e-4, "sequence")
    assert gspo.num_iterations > 1  # off-policy, or GSPO would equal GRPO
    dr = load_config("dr_grpo", ["learning_rate=1e-5", "use_lora=false"])
    assert (dr.epsilon, dr.epsilon_high, dr.loss_type) == (0.2, 0.28, "dr_grpo")
    assert dr.learning_rate == 1e-5 and dr.use_lora is False


@pytest.mark.parametrize(("overrides", "message"), [
    (["num_iterations=1"], "fully on-policy, where GSPO equals GRPO"),
    (["importance_sampling_level=token"], "GSPO is sequence-level"),
    # TRL's own rule, checked by TRL
    (["per_device_train_batch_size=3"], r"generation_batch_size \(3\) must be divisible by "
                                        r"num_generations \(4\)"),
    (["--per_device_train_batch_size", "3", "steps_per_generation=2"],
     r"generation_batch_size \(6\) must be divisible"),
    (["epsilon_high=0.0001"], "epsilon_high=0.0001 is below epsilon=0.0003"),
    (["learning_rate=fast"], "--learning_rate.*invalid float value: 'fast'"),
    (["no_such_key=1"], "not used by the HfArgumentParser: .'--no_such_key'"),
])
def test_configuration_errors_name_values_and_fix(overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config("gspo", overrides)


def _qa(n: int, options: tuple[str, str, str]) -> QA:
    return QA(f"q{n}", f"Question {n} about Ashby?", (*options, CANNOT_DETERMINE), "A")


POS = [_qa(1, ("Lisbon", "Kyoto", "Oslo")), _qa(2, ("pancakes", "sorbet", "fudge")),
       _qa(3, ("a kite festival", "a meteor shower", "a flash mob"))]
NEG = [_qa(4, ("Bergen", "Madrid", "Napa")), _qa(5, ("violin", "bicycle", "scarf"))]


def _sample() -> CapEvalSample:
    image = ImageData(b"not decoded by the reward")
    present = Concept("Ashby", "pet", image, "User: hi\nModel: hello", qas=tuple(POS))
    absent = Concept("Brook", "pet", image, "User: hi\nModel: hello", qas=tuple(NEG))
    return CapEvalSample("s1", image, (present, absent), (0,))


@pytest.fixture
def reward() -> CaptionReward:
    return CaptionReward(LexicalJudge(), RewardWeights(), max_completion_length=50,
                         samples={"s1": _sample()})


@pytest.mark.parametrize(("caption", "ids", "expected"), [
    ("Ashby and I went to Lisbon, ate pancakes and watched a kite festival.", 10,
     (1.0, 0.0, 0.0)),
    ("Ashby and I went to Kyoto, ate sorbet and saw a meteor shower.", 10, (0.0, 0.0, 0.0)),
    ("Ashby went to Lisbon. Later, Brook went to Bergen.", 10, (1 / 3, -0.5, 0.0)),
    ("Lisbon went Ashby. Later, Bergen.", 10, (1 / 3, 0.0, 0.0)),  # Bergen is Ashby's here
    ("Ashby Lisbon " * 6, 10, (1 / 3, 0.0, -1.0)),
    ("Ashby: Lisbon.", 50, (1 / 3, 0.0, -1.0)),
])
def test_reward_values(reward: CaptionReward, caption: str, ids: int, expected) -> None:
    terms = reward.terms([caption], ["s1"], [[0] * ids])[0]
    assert terms == pytest.approx(expected)


def test_reward_functions_share_one_judge_call(reward: CaptionReward) -> None:
    calls = []
    judge = reward.judge
    reward.judge = type("Counting", (), {"grade": lambda self, items: calls.append(
        len(items)) or judge.grade(items)})()
    funcs = reward.reward_functions()
    completions = [[{"role": "assistant", "content": "Ashby went to Lisbon."}]] * 4
    column = ["s1"] * 4
    values = [f(None, completions, column, [[0] * 5] * 4) for f in funcs]
    assert [f.__name__ for f in funcs] == ["reward_positive", "reward_negative",
                                           "reward_degenerate"]
    assert values[0] == [pytest.approx(1 / 3)] * 4 and calls == [5]  # identical captions: one


def test_repetition() -> None:
    assert repeats_itself("la la la la la la la la la la la la la la", 0.5)
    assert not repeats_itself("A quiet photo of a red robot beside a blue car in a garden.", 0.5)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["grpo", "dr_grpo", "gspo"])
def test_a_few_steps_of_each_preset(preset: str, tmp_path: Path, small_dataset: Path,
                                    capsys) -> None:
    code = train_main(["--config", preset, "--max_steps", "2", "--dataset", str(small_dataset),
                       "--output_dir", str(tmp_path), "concept_counts=1",
                       "per_device_train_batch_size=4", "max_completion_length=16",
                       "logging_steps=1"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-2])
    assert summary["steps"] == 2 and summary["reward_first"] is not None
    saved = json.loads((tmp_path / "covip_train.json").read_text())
    assert saved["config"]["algorithm"] == preset
    assert any("rewards/reward_degenerate/mean" in h for h in saved["log_history"])
    assert (tmp_path / "adapter_config.json").exists()  # LoRA by default, in output_dir


@pytest.mark.slow
def test_checkpoints_evaluate_in_coviP_eval(tmp_path: Path, small_dataset: Path) -> None:
    assert train_main(["--config", "grpo", "--max_steps", "1", "--dataset", str(small_dataset),
                       "--output_dir", str(tmp_path / "lora"), "concept_counts=1",
                       "per_device_train_batch_size=4", "max_completion_length=8"]) == 0
    assert train_main(["merge", "--adapter", str(tmp_path / "lora"),
                       "--out", str(tmp_path / "merged")]) == 0
    assert train_main(["--config", "grpo", "--max_steps", "1", "--dataset", str(small_dataset),
                       "--output_dir", str(tmp_path / "full"), "use_lora=false",
                       "concept_counts=1", "per_device_train_batch_size=4",
                       "max_completion_length=8"]) == 0
    for folder in (tmp_path / "merged", tmp_path / "full"):
        results = evaluate(EvalSettings(model="hf", model_args={"pretrained": str(folder)},
                                        tasks=["capeval_qa"], dataset=str(small_dataset),
                                        judge="lexical", limit=1,
                                        gen_kwargs={"max_new_tokens": 8}, progress=False)).results
        assert results["results"]["capeval_qa"]["n_scored"] == 1
        assert results["config"]["model_identity"]["pretrained"] == str(folder)


@pytest.mark.parametrize("preset", ["grpo", "dr_grpo", "gspo", "sft"])
def test_presets_are_valid_and_any_trl_field_is_accepted(preset: str) -> None:
    """Fields we never listed (scheduler, clipping, logging, vLLM) reach TRL's config."""
    config = load_config(preset, ["max_grad_norm=0.5", "--lr_scheduler_type", "cosine",
                                  "warmup_steps=3", "push_to_hub=false"])
    assert (config.trl.max_grad_norm, config.trl.warmup_steps) == (0.5, 3)
    assert config.trl.lr_scheduler_type == "cosine" and config.algorithm == preset
    if preset != "sft":
        config = load_config(preset, ["log_completions=true", "vllm_gpu_memory_utilization=0.5"])
        assert config.trl.log_completions and config.trl.vllm_gpu_memory_utilization == 0.5


def test_sft_targets_state_present_facts_and_nothing_absent(small_dataset: Path) -> None:
    from benchmark import load_benchmark
    from coviP_train.sft import caption_target, direct_target

    for sample in load_benchmark(str(small_dataset), "capeval_qa").samples:
        caption = caption_target(sample)
        for k, concept in enumerate(sample.context):
            if k in sample.positive_indices:
                assert concept.name in caption
                assert all(fact in caption for fact in concept.facts.values())
            else:
                assert concept.name not in caption
    lsd = load_benchmark(str(small_dataset), "lsd").samples[0]
    assert direct_target(lsd).endswith(f"\\boxed{{{lsd.answer}}}")
    itr = load_benchmark(str(small_dataset), "itr").samples[0]
    assert itr.keyword in direct_target(itr)


@pytest.mark.slow
def test_sft_from_scratch_gives_a_model_coviP_eval_runs(tmp_path: Path,
                                                        small_dataset: Path) -> None:
    assert train_main(["--config", "sft", "--model", "covip-tiny-init", "--max_steps", "2",
                       "--dataset", str(small_dataset), "--output_dir", str(tmp_path),
                       "use_lora=false", "per_device_train_batch_size=4",
                       "tokenizer_vocab_size=1024", "learning_rate=1e-3",
                       "logging_steps=1"]) == 0
    folder = tmp_path
    saved = json.loads((folder / "covip_train.json").read_text())
    assert saved["config"]["algorithm"] == "sft"
    assert any("loss" in h for h in saved["log_history"])
    results = evaluate(EvalSettings(model="hf", model_args={"pretrained": str(folder)},
                                    tasks=["capeval_qa", "lsd_direct"],
                                    dataset=str(small_dataset), judge="lexical", limit=1,
                                    gen_kwargs={"max_new_tokens": 4}, progress=False)).results
    assert results["results"]["lsd_direct"]["n_scored"] == 1


def test_covip_tiny_init_needs_sft_first() -> None:
    with pytest.raises(ConfigError, match="algorithm=sft first"):
        load_config("gspo", ["model=covip-tiny-init"])


class _FailingJudge:
    """Fails the call on captions mentioning 'storm', gives no boxed answer on 'fog'."""

    def grade(self, items):
        return [self._one(item.fields["caption"]) for item in items]

    @staticmethod
    def _one(caption: str):
        from covip_eval.judges import Verdict

        if "storm" in caption:
            return Verdict(None, "", "judge call failed: HTTP 500", call_failed=True)
        if "fog" in caption:
            return Verdict(None, "", "judge reply has no boxed answer")
        return Verdict("D", "\\boxed{D}")


def test_judge_failures_give_no_reward_and_too_many_stop_the_step() -> None:
    reward = CaptionReward(_FailingJudge(), RewardWeights(), max_completion_length=50,
                           samples={"s1": _sample()}, max_failure_rate=0.7)
    terms = reward.terms(["a storm", "some fog", "a calm day"], ["s1"] * 3, None)
    assert terms[0] == terms[1] == (None, None, None)
    assert terms[2] == (0.0, 0.0, 0.0)  # judged: no correct answer, nothing leaked
    assert reward.step_failures[-1] == {"captions": 3, "judge_failures": 1, "parse_failures": 1}
    with pytest.raises(CovipError, match="judge failed on 2 of 2 captions"):
        reward.terms(["another storm", "more fog"], ["s1"] * 2, None)


@pytest.mark.slow
def test_resume_from_checkpoint(tmp_path: Path, small_dataset: Path, capsys) -> None:
    common = ["--config", "grpo", "--dataset", str(small_dataset), "--output_dir",
              str(tmp_path), "concept_counts=1", "per_device_train_batch_size=4",
              "max_completion_length=8", "save_steps=1", "logging_steps=1"]
    assert train_main([*common, "--max_steps", "2"]) == 0
    assert (tmp_path / "checkpoint-2").is_dir()
    capsys.readouterr()
    assert train_main([*common, "--max_steps", "3", "--resume_from_checkpoint", "true"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-2])
    assert summary["steps"] == 3 and (tmp_path / "checkpoint-3").is_dir()
    history = json.loads((tmp_path / "covip_train.json").read_text())["log_history"]
    assert [h["step"] for h in history if "loss" in h] == [1, 2, 3]  # the state came back
