"""`tiny-random`: the transformers adapter on a tiny random-weight Qwen3-VL, built offline on
first use (see `covip_eval.tiny_models`). Its text is noise: it runs the real code path with no
hub and no weights, for smoke runs and tests."""

from __future__ import annotations

from pydantic import Field

from covip_eval.models.hf import HFModel, HFOptions
from covip_eval.tiny_models import tiny_random_path


class TinyRandomOptions(HFOptions):
    pretrained: str = ""
    seed: int = Field(0, description="weights seed of the tiny model")
    dtype: str = "float32"


class TinyRandomModel(HFModel):
    name = "tiny-random"
    Options = TinyRandomOptions

    def _pretrained(self) -> str:
        return str(tiny_random_path(self.options.seed))
