"""`tiny-random`: the transformers adapter on a tiny random-weight model of one open VLM family
(Qwen3-VL by default), built offline on first use (see `tiny_families.py` beside it). Its text is
noise: it runs the family's real code path with no hub and no weights, for smoke runs and tests.
"""

from __future__ import annotations

from pydantic import Field

from covip_eval.models.hf import HFModel, HFOptions
from covip_eval.models.tiny_families import FAMILIES, tiny_random_path


class TinyRandomOptions(HFOptions):
    pretrained: str = ""
    family: str = Field("qwen3_vl", description=f"one of {', '.join(FAMILIES)}")
    seed: int = Field(0, description="weights seed of the tiny model")
    dtype: str = "float32"


class TinyRandomModel(HFModel[TinyRandomOptions]):
    name = "tiny-random"

    def _pretrained(self) -> str:
        return str(tiny_random_path(self.options.seed, self.options.family))
