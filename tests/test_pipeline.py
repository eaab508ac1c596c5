"""The construction pipeline: concept photos in, a validated benchmark out, rejections counted."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from benchmark import load_benchmark
from benchmark.construction.validate import Rejected, parse_dialogue, parse_qas
from benchmark.mini.appearance import sample_appearance
from benchmark.mini.render import context_image, draw_sprite, sample_view
from benchmark.records import ImageData
from benchmark.storage import read_manifest
from covip_eval.cli.build import main
from covip_eval.construction.image_generation import SceneJob, make_image_generator
from covip_eval.construction.pipeline import rejections_path
from tests.fake_providers import FakeProviders

VALID_DIALOGUES = [
    "User: This is {NAME}. We visited the old harbor in Bergen last summer.\nModel: Lovely! "
    "What did {NAME} do there?\nUser: {NAME} chased seagulls near the fish market.\nModel: "
    "That sounds fun.\nUser: Afterwards we ate cinnamon rolls at a cafe.\nModel: I will "
    "remember that about {NAME}.",
    "User: Meet {NAME}! Last winter we went to a ski lodge near Innsbruck.\nModel: How was "
    "it?\nUser: {NAME} loved the snow and the fireplace.\nModel: Sounds cozy.\nUser: We stayed "
    "three nights.\nModel: Thanks for telling me about {NAME}.",
]
BAD_DIALOGUES = [
    "User: This is Realname0 at the beach, {NAME}.\nModel: Nice.\nUser: We swam a lot there.\n"
    "Model: Fun!\nUser: It was sunny all day.\nModel: Great.",  # leaks the real name
    "User: hello\nModel: hi there",  # too few turns
    "User: This is my friend.\nModel: Nice.\nUser: We swam.\nModel: Fun!\nUser: Sunny.\n"
    "Model: Great day for a swim, I am sure.",  # no pseudonym
]
VALID_QAS = json.dumps({"questions": [
    {"question": "Where did the user go with {NAME}?",
     "options": {"A": "Bergen", "B": "Madrid", "C": "Oslo"}, "answer": "A"},
    {"question": "What did they eat?",
     "options": {"A": "cinnamon rolls", "B": "sushi", "C": "tacos"}, "answer": "A"},
    {"question": "When was it?",
     "options": {"A": "last summer", "B": "last winter", "C": "last spring"}, "answer": "B"}]})
BAD_QAS = ["Here: {\"questions\": [oops", json.dumps({"questions": []})]


@pytest.fixture(scope="module")
def concepts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(0)
    root = tmp_path_factory.mktemp("concepts")
    for k, category in enumerate(["pet", "pet", "toy", "toy", "vehicle", "plant", "building"]):
        folder = root / f"concept_{k}"
        folder.mkdir()
        sprite = draw_sprite(sample_appearance(rng, category))
        for i in range(4):
            context_image(rng, sprite, sample_view(rng)).save(folder / f"{i}.png")
        (folder / "meta.json").write_text(json.dumps({"category": category,
                                                      "name": f"Realname{k}"}))
    return root


def _replies(tmp: Path, name: str, replies: list[str]) -> str:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(replies))
    return f"replies_file={path}"


def test_end_to_end_with_scripted_models(concepts: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    code = main(["pipeline", "--concepts", str(concepts), "--out", str(out),
                 "--dialogue_model", "scripted", "--dialogue_args",
                 _replies(tmp_path, "d", VALID_DIALOGUES * 3 + BAD_DIALOGUES),
                 "--qa_model", "scripted", "--qa_args", _replies(tmp_path, "q",
                                                                 [VALID_QAS] * 3 + BAD_QAS),
                 "--filter_model", "scripted", "--filter_args",
                 _replies(tmp_path, "f", ["yes", "Yes, it is.", "yes", "no"]),
                 "--sizes", "1=3,2=2", "--max_retries", "6", "--diagnostic_items", "1"])
    assert code == 0
    samples = load_benchmark(str(out), "capeval_qa").samples  # passes the data model's checks
    assert samples and all(s.query_image not in [c.image for c in s.context] for s in samples)
    for sample in samples:
        for concept in sample.context:
            assert concept.name in concept.dialogue and "{NAME}" not in concept.dialogue
            assert "Realname" not in concept.dialogue and len(concept.qas) == 3
    stages = read_manifest(out)["stages"]
    rejections = [json.loads(line) for line in rejections_path(out).read_text().splitlines()]
    reasons = " | ".join(r["reason"] for r in rejections)
    assert stages["dialogue_rejected"] > 0 and stages["questions_rejected"] > 0
    assert "leaks into the dialogue" in reasons or "placeholder" in reasons
    assert "no JSON object" in reasons or "expected 3 questions" in reasons
    # scripted text cannot carry the encounter slots: every diagnostic item is rejected
    assert stages["diagnostic_rejected"] == 3 and "is not in the dialogue" in reasons
    assert not (out / "lsd").exists()
    assert len(list(out.with_name("bench.scenes").glob("*.png"))) >= 5  # kept for a resume
    again = main(["pipeline", "--concepts", str(concepts), "--out", str(out),
                  "--dialogue_model", "scripted", "--dialogue_args",
                  _replies(tmp_path, "d", VALID_DIALOGUES * 3 + BAD_DIALOGUES),
                  "--qa_model", "scripted", "--qa_args",
                  _replies(tmp_path, "q", [VALID_QAS] * 3 + BAD_QAS),
                  "--filter_model", "scripted", "--filter_args",
                  _replies(tmp_path, "f", ["yes", "Yes, it is.", "yes", "no"]),
                  "--sizes", "1=3,2=2", "--max_retries", "6"])
    assert again == 0
    usage = read_manifest(out)["usage"]
    assert usage["dialogue"]["called"] == 0 and usage["qa"]["called"] == 0  # all from cache
    assert list(load_benchmark(str(out), "capeval_qa").samples) == list(samples)


def test_tiny_random_garbage_is_rejected_and_nothing_written(concepts: Path,
                                                             tmp_path: Path, capsys) -> None:
    out = tmp_path / "garbage"
    code = main(["pipeline", "--concepts", str(concepts), "--out", str(out), "--sizes", "1=1",
                 "--max_retries", "0", "--filter_model", "tiny-random"])
    assert code == 2 and not out.exists()
    assert "no sample passed validation" in capsys.readouterr().err
    rejections = rejections_path(out).read_text().splitlines()
    assert rejections and all(json.loads(r)["reason"] for r in rejections)


def test_estimate_needs_no_key_and_makes_no_call(concepts: Path, tmp_path: Path, capsys,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["pipeline", "--concepts", str(concepts), "--out", str(tmp_path / "x"),
                 "--image_generator", "gpt-image-1", "--dialogue_model", "gpt-4o",
                 "--dialogue_args", "model=gpt-4o", "--sizes", "1=10,2=10", "--estimate"]) == 0
    table = {row["stage"]: row for row in json.loads(capsys.readouterr().out)}
    assert table["scene"]["calls"] == 20 and table["dialogue"]["cost_usd"] > 0
    assert not (tmp_path / "x").exists()


def test_validation_rules() -> None:
    assert "{NAME}" in parse_dialogue(VALID_DIALOGUES[0], ["Realname0"])
    for bad, reason in zip(BAD_DIALOGUES, ("leaks", "6 turns", "placeholder")):
        with pytest.raises(Rejected, match=reason):
            parse_dialogue(bad, ["Realname7", "Realname0"])
    with pytest.raises(Rejected, match="'Innsbruck' is not in the dialogue"):
        parse_dialogue(VALID_DIALOGUES[0], [], required=("Innsbruck",))
    qas = parse_qas(VALID_QAS, 0, random.Random(1))
    assert [qa.option(qa.correct_answer) for qa in qas] == ["Bergen", "cinnamon rolls",
                                                            "last winter"]
    assert all("cannot be determined" in qa.options[3] for qa in qas)


@pytest.mark.parametrize("model", ["gpt-image-1", "gemini-2.5-flash-image"])
def test_image_generators_through_their_sdks(model: str, monkeypatch) -> None:
    pytest.importorskip("openai")
    pytest.importorskip("google.genai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("GEMINI_API_KEY", "g-test")
    with FakeProviders() as server:
        base = f"{server.url}/v1" if model.startswith("gpt") else server.url
        generator = make_image_generator(model, {"base_url": base, "backoff_base": 0.01,
                                                 "max_retries": 1})
        jobs = [SceneJob("two subjects together", _two_images(), seed=1)]
        server.script.append(("status", 429, 0))
        result = generator.generate(jobs)[0]
        assert result.image is not None and result.image.to_pil().size == (64, 48)
        assert len(server.calls) == 2  # the 429 was retried
        body = server.calls[-1]["body"]
        if model.startswith("gpt"):
            assert body["multipart_files"] == 2 and body["multipart_prompt"]
        else:
            assert sum("inlineData" in p for p in body["contents"][0]["parts"]) == 2
        server.script.extend([("status", 500, None)] * 2)
        failed = generator.generate(jobs)[0]
        assert failed.image is None and failed.error.startswith("HTTP 500")


def _two_images() -> tuple[ImageData, ImageData]:
    import base64

    data = base64.b64decode(FakeProviders.image_b64())
    return ImageData(data), ImageData(data)


class _SlotWriter:
    """A dialogue model that writes each encounter from the slots its prompt gives."""

    _SLOTS = re.compile(r"on \$?(.+?) at (.+?), and that I was (.+?) at that moment")
    _KEYWORD = re.compile(r"say the word '([A-Z]+)'")

    @classmethod
    def adapter(cls):
        from covip_eval.models.base import ModelAdapter
        from covip_eval.requests import Generation

        class SlotWriter(ModelAdapter):
            name = "slot-writer"

            def generate(self, requests):
                return [Generation(text=cls.write(r.messages[-1].text)) for r in requests]

        return SlotWriter

    @classmethod
    def write(cls, prompt: str) -> str:
        found = cls._SLOTS.search(prompt)
        if found is None:  # not an encounter prompt
            return VALID_DIALOGUES[0]
        day, place, action = found.groups()
        keyword = cls._KEYWORD.search(prompt)
        ask = f" Please say the word '{keyword.group(1)}' when you next see {{NAME}}." \
            if keyword else ""
        return (f"User: I saw {{NAME}} on {day} at {place}.\nModel: How nice.\n"
                f"User: I was {action} at that moment.{ask}\nModel: I see.\n"
                "User: {NAME} looked well.\nModel: I will remember {NAME}.")


def test_pipeline_diagnostics_tell_about_every_individual_alike(concepts: Path,
                                                                  tmp_path: Path,
                                                                  capsys) -> None:
    """Encounters planned as builtin:mini's: every individual met equally often and, in ITR,
    planting a keyword of its own (the distractors' keywords are what keyword_leak reads)."""
    from covip_eval.registry import register_model

    register_model("slot-writer", _SlotWriter.adapter())
    out = tmp_path / "bench"
    assert main(["pipeline", "--concepts", str(concepts), "--out", str(out),
                 "--dialogue_model", "slot-writer",
                 "--qa_model", "scripted", "--qa_args",
                 _replies(tmp_path, "q", [VALID_QAS]), "--filter_model", "scripted",
                 "--filter_args", "reply=yes", "--sizes", "1=1", "--diagnostic_items", "2"]) == 0
    for task in ("lsd", "lar", "itr"):
        samples = load_benchmark(str(out), task).samples
        assert len(samples) == 2, task
        for sample in samples:
            met = Counter(c.name for c in sample.context)
            assert len(met) == 3 and set(met.values()) == {3}, task
            target = sample.context[sample.positive_indices[0]].name
            assert {sample.context[i].name for i in sample.positive_indices} == {target}
            keywords = {c.name: c.facts.get("keyword") for c in sample.context
                        if c.facts.get("keyword")}
            if task == "itr":
                assert set(keywords) == set(met) and keywords[target] == sample.keyword
                assert len(set(keywords.values())) == 3
            else:
                assert not keywords
    # --estimate counts the calls the build made: dialogues, then every encounter's
    usage = json.loads((out / "covip_dataset.json").read_text())["usage"]
    args = ["pipeline", "--concepts", str(concepts), "--out", str(tmp_path / "e"),
            "--dialogue_model", "slot-writer", "--qa_model", "scripted", "--sizes", "1=1",
            "--diagnostic_items", "2", "--estimate"]
    capsys.readouterr()
    assert main(args) == 0
    table = {row["stage"]: row for row in json.loads(capsys.readouterr().out)}
    assert table["encounter"]["calls"] == 3 * 2 * 3 * 3  # tasks x items x individuals x met
    assert table["dialogue"]["calls"] + table["encounter"]["calls"] == \
        usage["dialogue"]["called"]
    assert table["scene"]["cost_usd"].startswith("unknown (no price listed for")
