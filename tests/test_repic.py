"""The RePIC preset: its three rewards on hand-written replies, its prompts, two steps on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from covip_eval.errors import ConfigError
from coviP_train.data import image_size
from coviP_train.repic import (
    RepicRewards,
    box_format,
    build_repic_prompts,
    iou,
    read_box,
    read_yes_no,
)

TRUTH = [40.0, 30.0, 120.0, 90.0]  # pixels of a 320x240 scene
SIZE = [320, 240]


@pytest.mark.parametrize(("reply", "expected"), [
    ("Yes.", "yes"), ("no, it is not there", "no"), ("\\boxed{Yes}", "yes"),
    ("Yes and no.", None), ("I cannot tell.", None), ("nobody knows", None),
])
def test_yes_no_reading(reply: str, expected: str | None) -> None:
    assert read_yes_no(reply) == expected


def test_object_reward() -> None:
    rewards = RepicRewards("relative_1000")
    assert rewards.object("Yes, it is.", "yes") == 1.0
    assert rewards.object("No.", "yes") == 0.0
    assert rewards.object("Maybe.", "no") is None  # a parse failure, not a wrong answer


def test_localization_reward_in_each_convention() -> None:
    relative = RepicRewards("relative_1000")
    right = "[125, 125, 375, 375]"  # TRUTH on the 0-1000 grid of a 320x240 scene
    assert relative.localization(f"The box is {right}.", TRUTH, SIZE) == pytest.approx(1.0)
    assert relative.localization('{"bbox_2d": [500, 500, 900, 900]}', TRUTH, SIZE) == 0.0
    half = relative.localization("[125, 125, 250, 375]", TRUTH, SIZE)
    assert half == pytest.approx(0.5)
    assert relative.localization("It is on the left.", TRUTH, SIZE) is None
    assert relative.localization("[300, 300, 100, 100]", TRUTH, SIZE) is None  # empty box
    absolute = RepicRewards("absolute")
    assert absolute.localization("[40, 30, 120, 90]", TRUTH, SIZE) == pytest.approx(1.0)
    assert read_box("first [1, 2, 3, 4] then [10, 20, 30, 40]") == (10, 20, 30, 40)
    assert iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7)


def test_identity_reward() -> None:
    rewards = RepicRewards("absolute")
    assert rewards.identity("Here are Ashby and Blake.", ["Ashby", "Blake"], ["Carver"]) == 1.0
    assert rewards.identity("Here is Carver.", ["Ashby"], ["Carver"]) == 0.0
    assert rewards.identity("Ashby, Blake and Carver.", ["Ashby", "Blake"], ["Carver"]) == \
        pytest.approx(0.8)  # precision 2/3, recall 1


def test_reward_functions_answer_only_their_own_rows_and_count_parse_failures() -> None:
    logged: dict[str, float] = {}
    functions = {f.__name__: f for f in RepicRewards("absolute").reward_functions()}
    assert set(functions) == {"reward_object", "reward_localization", "reward_identity"}
    columns = {"repic_task": ["object", "localization", "identity", "object"],
               "answer": ["yes", "", "", "no"], "box": [[], TRUTH, [], []],
               "size": [[], SIZE, [], []], "present": [["Ashby"]] * 4,
               "absent": [["Carver"]] * 4}
    completions = [[{"role": "assistant", "content": text}] for text in
                   ("Yes.", "[40, 30, 120, 90]", "Ashby is here.", "Perhaps.")]
    out = {name: f(prompts=[None] * 4, completions=completions,
                   log_metric=lambda k, v: logged.__setitem__(k, v), **columns)
           for name, f in functions.items()}
    assert out["reward_object"] == [1.0, None, None, -1.0]  # the unreadable one: a failure
    assert out["reward_localization"] == [None, pytest.approx(1.0), None, None]
    assert out["reward_identity"] == [None, None, 1.0, None]
    assert logged["repic/object_parse_failures"] == 1.0
    assert logged["repic/localization_parse_failures"] == 0.0


def test_box_format_follows_the_family() -> None:
    assert box_format("auto", "qwen2_5_vl") == "absolute"
    assert box_format("auto", "qwen3_vl") == "relative_1000"
    assert box_format("absolute", "gemma3") == "absolute"
    with pytest.raises(ConfigError, match="no known box convention"):
        box_format("auto", "gemma3")
    with pytest.raises(ConfigError, match="box_format='pixels'"):
        box_format("pixels", "qwen3_vl")


def test_prompts_are_balanced_and_boxes_scaled(small_dataset: Path) -> None:
    prompts = build_repic_prompts(str(small_dataset), None, 16, 128 * 128, "relative_1000", 0)
    rows = list(prompts.rows)
    assert rows == list(prompts.rows)  # every pass over the rows draws the same negatives
    objects = [r for r in rows if r["repic_task"] == "object"]
    assert sum(r["answer"] == "yes" for r in objects) == sum(r["answer"] == "no" for r in objects)
    located = [r for r in rows if r["repic_task"] == "localization"]
    identity = [r for r in rows if r["repic_task"] == "identity"]
    assert len(identity) == len(prompts.samples)
    assert len(located) == sum(len(s.query_boxes) for s in prompts.samples.values())
    for row in located:
        scene = image_size(row["images"][-1]["bytes"])
        assert list(scene) == row["size"] and len(row["images"]) == 2
        x0, y0, x1, y1 = row["box"]
        assert 0 <= x0 < x1 <= scene[0] and 0 <= y0 < y1 <= scene[1]
        text = row["prompt"][0]["content"][-1]["text"]
        assert "0 to 1000" in text


@pytest.mark.slow
def test_two_steps_of_the_preset_log_all_three_terms(tmp_path: Path, small_dataset: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from coviP_train.cli import main as train_main

    assert train_main(["--config", "repic", "--max_steps", "2", "--dataset", str(small_dataset),
                       "--output_dir", str(tmp_path), "concept_counts=1",
                       "num_generations=2", "per_device_train_batch_size=4",
                       "max_completion_length=12", "logging_steps=1"]) == 0
    saved = json.loads((tmp_path / "covip_train.json").read_text())
    assert saved["config"]["reward"] == "repic"
    history = saved["log_history"]
    for term in ("object", "localization", "identity"):  # each scored in some step
        assert any(isinstance(h.get(f"rewards/reward_{term}/mean"), float) for h in history), term
    assert any("repic/localization_parse_failures" in h for h in history)
