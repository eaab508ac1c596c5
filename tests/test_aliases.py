"""Model aliases, the engine choice for open models, and cost estimates."""

from __future__ import annotations

import pytest

from covip_eval.errors import UnknownNameError
from covip_eval.models.aliases import aliases, cost_estimate, resolve_alias
from covip_eval.registry import model_class

REQUIRED = ("qwen3-vl-8b", "qwen3-vl-30b-a3b", "covip-qwen3-vl-8b", "gpt-4o", "gpt-5",
            "gemini-2.0-flash", "gemini-3-pro", "claude-sonnet-4-5")


def test_required_aliases_resolve_to_registered_adapters() -> None:
    for name in REQUIRED:
        adapter, args, _ = resolve_alias(name, {})
        assert model_class(adapter)
        assert args.get("model") or args.get("pretrained")


def test_open_alias_says_which_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("covip_eval.models.aliases.open_model_engine", lambda: "hf")
    adapter, args, note = resolve_alias("covip-qwen3-vl-8b", {"dtype": "bfloat16"})
    assert adapter == "hf"
    assert args == {"pretrained": "Yeongtak/CoViP-Qwen3-VL-8B-GSPO", "dtype": "bfloat16"}
    assert "on hf" in note


def test_open_aliases_belong_to_tested_families() -> None:
    from covip_eval.models.tiny_families import FAMILIES

    vlms = {name: entry for name, entry in aliases().items()
            if "open" in entry and not name.endswith("-judge")}
    assert len(vlms) >= 16
    assert {entry.get("family") for entry in vlms.values()} == set(FAMILIES)


def test_user_arguments_override_alias_arguments() -> None:
    assert resolve_alias("gpt-5", {"send_sampling": True})[1] == {"model": "gpt-5",
                                                                  "send_sampling": True}


def test_unknown_model_lists_aliases_too() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'gpt-4o'"):
        model_class("gpt-4"), aliases()


def test_cost_estimate() -> None:
    assert cost_estimate("gpt-4o", 1_000_000, 100_000) == pytest.approx(3.5)
    assert cost_estimate("a-local-model", 10, 10) is None


@pytest.mark.parametrize(("name", "adapter"), [
    ("hf-multimodal", "hf"), ("vllm-vlm", "vllm"),
    ("openai-chat-completions", "openai-compatible"),
    ("local-chat-completions", "openai-compatible")])
def test_lm_evals_model_types_name_ours(name: str, adapter: str) -> None:
    assert resolve_alias(name, {"x": 1})[:2] == (adapter, {"x": 1})


def test_lm_evals_flags(capsys: pytest.CaptureFixture[str]) -> None:
    from covip_eval.cli.evaluate import main

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0 and capsys.readouterr().out.startswith("coviP-eval ")
    assert main(["--tasks", "list_groups"]) == 0
    assert "|covip|capeval_qa" in capsys.readouterr().out
    assert main(["--tasks", "list_subtasks"]) == 0
    assert "|capeval_qa_n4|capeval_qa|" in capsys.readouterr().out
    assert main(["--model", "oracle", "--tasks", "lsd_direct", "--limit", "1", "--num_fewshot",
                 "0", "--apply_chat_template", "--use_cache", "none", "--no_progress"]) == 0
    capsys.readouterr()
    assert main(["--model", "oracle", "--num_fewshot", "5"]) == 2
    assert "zero-shot by design" in capsys.readouterr().err
