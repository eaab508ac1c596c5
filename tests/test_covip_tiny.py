"""covip-tiny, the model shipped in the package: its files are there and small, it loads
offline through `--model covip-tiny`, and it writes the captions recorded when it shipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from covip_eval.models.covip_tiny import COVIP_TINY_DIR  # noqa: E402
from covip_eval.run import EvalSettings, evaluate  # noqa: E402

RECORDED = Path(__file__).parent / "data" / "covip_tiny_outputs.json"


def test_the_shipped_folder_holds_weights_card_and_processor() -> None:
    names = {p.name for p in COVIP_TINY_DIR.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "processor_config.json",
            "chat_template.jinja", "covip_tiny_random.json", "README.md"} <= names
    assert (COVIP_TINY_DIR / "model.safetensors").stat().st_size <= 16 * 2**20


def test_covip_tiny_writes_the_recorded_captions(tmp_path: Path) -> None:
    recorded = json.loads(RECORDED.read_text())
    outcome = evaluate(EvalSettings(model="covip-tiny", tasks=["capeval_qa"],
                                    limit=len(recorded["captions"]),
                                    gen_kwargs=recorded["gen_kwargs"], output_path=tmp_path,
                                    log_samples=True, progress=False))
    (samples,) = [p for p in outcome.samples_paths if "capeval_qa" in p.name]
    captions = [json.loads(line)["filtered_resps"][0] for line in samples.read_text().splitlines()]
    assert captions == recorded["captions"]
    assert outcome.results["config"]["model_identity"]["weights"] == recorded["weights"]
