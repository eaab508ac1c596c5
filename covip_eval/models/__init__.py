"""Model adapters: one module each, registered lazily in `covip_eval.registry.MODELS`."""

from covip_eval.models.base import Capabilities, ModelAdapter

__all__ = ["Capabilities", "ModelAdapter"]
