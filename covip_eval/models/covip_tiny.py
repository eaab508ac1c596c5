"""`covip-tiny`: the project's own few-million-parameter Qwen3-VL, trained offline with
coviP-train (`recipes/covip_tiny.sh`) and shipped in the package with its model card
(`covip_eval/data/covip_tiny/`). It runs through the transformers adapter; the weights are
stored in bfloat16 (the package keeps them small) and computed in float32 by default, which on
CPUs without bfloat16 units is about four times faster."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from covip_eval.models.hf import HFModel, HFOptions

COVIP_TINY_DIR = Path(__file__).resolve().parent.parent / "data" / "covip_tiny"


class CovipTinyOptions(HFOptions):
    pretrained: str = ""
    dtype: str = "float32"


class CovipTinyModel(HFModel[CovipTinyOptions]):
    name = "covip-tiny"

    def __init__(self, processor: Any = None, model: Any = None, **model_args: Any):
        super().__init__(processor, model, **model_args)
        # by content: a fresh install's files have their own times, the same weights
        digest = hashlib.sha256((COVIP_TINY_DIR / "model.safetensors").read_bytes())
        self.weights = f"sha256:{digest.hexdigest()[:16]}"

    def _pretrained(self) -> str:
        return str(COVIP_TINY_DIR)
