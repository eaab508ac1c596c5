"""Model adapters: one module each, registered lazily in `covip_eval.registry.MODELS`."""

from covip_eval.models.base import Capabilities, ModelAdapter, parse_model_args

__all__ = ["Capabilities", "ModelAdapter", "parse_model_args"]
