"""`captions`: replays captions written elsewhere, so that `coviP-eval score` judges them with
the same pipeline, judges and honest counting as a normal run.

Accepted files:
- a samples file of a coviP-eval run (`samples_capeval_qa_*.jsonl`), matched by sample id;
- the official layout keyed by sample, `{"sample_0": "caption", ...}` or
  `{"sample_0": {"caption": "..."}, ...}`, matched by sample id;
- the official list layout, `["caption of sample 0", ...]`, matched by the number that ends
  the sample id (`sample_12`, `capeval_00012`: 12).

A sample with no caption in the file fails with that reason; it is never skipped silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from covip_eval.errors import ConfigError
from covip_eval.models.base import Capabilities, ModelAdapter
from covip_eval.requests import ChatRequest, Generation


class CaptionFileOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: Path


def _trailing_number(sample_id: str) -> int | None:
    match = re.search(r"(\d+)$", sample_id)
    return int(match.group(1)) if match else None


def read_captions(path: Path) -> dict[str | int, str]:
    """Captions by sample id (or by index, for the list layout)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"--captions {path}: cannot read ({exc.strerror})") from None
    if path.suffix == ".jsonl":
        captions: dict[str | int, str] = {}
        for n, line in enumerate(text.splitlines()):
            try:
                record = json.loads(line)
                captions[record["doc"]["sample_id"]] = record["filtered_resps"][0]
            except (json.JSONDecodeError, KeyError, IndexError, TypeError):
                raise ConfigError(f"--captions {path}: line {n + 1} is not a coviP-eval sample "
                                  "record") from None
        return captions
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--captions {path}: not valid JSON ({exc.msg})") from None
    if isinstance(data, list):
        return {i: c for i, c in enumerate(data) if isinstance(c, str)}
    if isinstance(data, dict):
        return {k: v["caption"] if isinstance(v, dict) else v for k, v in data.items()
                if isinstance(v, str) or (isinstance(v, dict) and isinstance(v.get("caption"),
                                                                              str))}
    raise ConfigError(f"--captions {path}: expected a list or an object of captions")


class CaptionFileModel(ModelAdapter[CaptionFileOptions]):
    name = "captions"
    capabilities = Capabilities(reads_ground_truth=True)
    batch_size = 256

    def __init__(self, **model_args: Any):
        super().__init__(**model_args)
        self.captions = read_captions(self.options.path)
        self.digest = hashlib.sha256(self.options.path.read_bytes()).hexdigest()

    @property
    def identity(self) -> dict[str, Any]:
        return {"adapter": self.name, "file": self.options.path.name, "sha256": self.digest}

    def generate(self, requests: list[ChatRequest]) -> list[Generation]:
        return [self._caption(r) for r in requests]

    def _caption(self, request: ChatRequest) -> Generation:
        truth = request.ground_truth
        if truth is None or request.asks != "caption":
            return Generation.failed("a captions file only answers caption requests")
        sample_id = truth.sample.sample_id
        caption = self.captions.get(sample_id)
        if caption is None:
            number = _trailing_number(sample_id)
            caption = self.captions.get(number) if number is not None else None
        if caption is None:
            return Generation.failed(f"no caption for sample {sample_id} in "
                                     f"{self.options.path.name}")
        return Generation(text=caption)
