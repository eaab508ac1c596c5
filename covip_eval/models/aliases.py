"""Model aliases (`data/models.yaml`) and the engine an open-weights alias runs on."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).parent.parent / "data"


@cache
def aliases() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((DATA / "models.yaml").read_text())


@cache
def prices() -> dict[str, tuple[float, float]]:
    return {k: tuple(v) for k, v in yaml.safe_load((DATA / "prices.yaml").read_text()).items()}


def open_model_engine() -> str:
    """'vllm' when vLLM and a CUDA device are both present, else 'hf'."""
    if importlib.util.find_spec("vllm") is None:
        return "hf"
    try:
        import torch
    except ImportError:
        return "hf"
    return "vllm" if torch.cuda.is_available() else "hf"


def resolve_alias(name: str, args: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    """(adapter name, arguments, a note on the choice made) for a model name or alias."""
    entry = aliases().get(name)
    if entry is None:
        return name, args, None
    if "open" in entry:
        engine = open_model_engine()
        why = "vLLM and a GPU are present" if engine == "vllm" else "vLLM or a GPU is missing"
        return engine, {"pretrained": entry["open"], **args}, \
            f"{name}: {entry['open']} on {engine} ({why})"
    return entry["adapter"], {**entry.get("args", {}), **args}, None


def cost_estimate(model_name: str | None, input_tokens: int, output_tokens: int) -> float | None:
    price = prices().get(model_name or "")
    if price is None:
        return None
    return round((input_tokens * price[0] + output_tokens * price[1]) / 1e6, 4)
