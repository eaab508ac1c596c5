"""covip-eval: the CoViP benchmark's evaluation engine.

The public API is what this module exports; everything else is internal and may change.

    from covip_eval import EvalSettings, evaluate
    outcome = evaluate(EvalSettings(model="retrieval", tasks=["covip"]))
    print(outcome.results["results"]["capeval_qa"])

Plugins subclass `ModelAdapter`, `Judge`, `Scorer` or `Stage` and add a line to a registry
with `register_model`, `register_judge`, `register_scorer` or `register_mode` (a chain of
stages); a scorer's new metric is declared with `register_metric` (see docs/architecture.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it; imported on first use, so `import
# covip_eval.requests` (or the command line's startup) loads only what it needs
_EXPORTS = {
    "CovipError": "covip_eval.errors",
    "Judge": "covip_eval.judges.base", "JudgeItem": "covip_eval.judges.base",
    "JudgeTemplate": "covip_eval.judges.base",
    "Verdict": "covip_eval.judges.base",
    "Metric": "covip_eval.metrics", "register_metric": "covip_eval.metrics",
    "Capabilities": "covip_eval.models.base", "ModelAdapter": "covip_eval.models.base",
    "register_judge": "covip_eval.registry", "register_model": "covip_eval.registry",
    "register_scorer": "covip_eval.registry", "register_mode": "covip_eval.registry",
    "ChatRequest": "covip_eval.requests", "Generation": "covip_eval.requests",
    "GenParams": "covip_eval.requests",
    "EvalOutcome": "covip_eval.engine.run", "EvalSettings": "covip_eval.engine.settings",
    "evaluate": "covip_eval.engine.run",
    "SampleScore": "covip_eval.engine.scoring", "Scorer": "covip_eval.engine.scoring",
    "Stage": "covip_eval.engine.stages",
}
__all__ = [
    "Capabilities", "ChatRequest", "CovipError", "EvalOutcome", "EvalSettings", "GenParams",
    "Generation", "Judge", "JudgeItem", "JudgeTemplate", "Metric", "ModelAdapter", "SampleScore",
    "Scorer", "Stage", "Verdict", "evaluate", "register_judge", "register_metric",
    "register_mode", "register_model", "register_scorer",
]

if TYPE_CHECKING:
    from covip_eval.engine.run import EvalOutcome, evaluate
    from covip_eval.engine.scoring import SampleScore, Scorer
    from covip_eval.engine.settings import EvalSettings
    from covip_eval.engine.stages import Stage
    from covip_eval.errors import CovipError
    from covip_eval.judges.base import Judge, JudgeItem, JudgeTemplate, Verdict
    from covip_eval.metrics import Metric, register_metric
    from covip_eval.models.base import Capabilities, ModelAdapter
    from covip_eval.registry import (
        register_judge,
        register_mode,
        register_model,
        register_scorer,
    )
    from covip_eval.requests import ChatRequest, Generation, GenParams


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'covip_eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
