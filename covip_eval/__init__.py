"""covip-eval: the CoViP benchmark's evaluation engine.

The public API is what this module exports; everything else is internal and may change.

    from covip_eval import EvalSettings, evaluate
    outcome = evaluate(EvalSettings(model="retrieval", tasks=["covip"]))
    print(outcome.results["results"]["capeval_qa"])

Plugins subclass `ModelAdapter`, `Judge` or `Scorer` and add a line to a registry with
`register_model`, `register_judge` or `register_scorer`; a scorer's new metric is declared with
`register_metric` (see docs/architecture.md).
"""

from covip_eval.errors import CovipError
from covip_eval.judges.base import Judge, JudgeItem, Verdict
from covip_eval.metrics import Metric, register_metric
from covip_eval.models.base import Capabilities, ModelAdapter
from covip_eval.registry import register_judge, register_model, register_scorer
from covip_eval.requests import ChatRequest, Generation, GenParams
from covip_eval.run import EvalOutcome, EvalSettings, evaluate
from covip_eval.scoring import SampleScore, Scorer

__all__ = [
    "Capabilities", "ChatRequest", "CovipError", "EvalOutcome", "EvalSettings", "GenParams",
    "Generation", "Judge", "JudgeItem", "Metric", "ModelAdapter", "SampleScore", "Scorer",
    "Verdict", "evaluate", "register_judge", "register_metric", "register_model",
    "register_scorer",
]
