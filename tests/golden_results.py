"""The golden results of every baseline on builtin:mini: what a refactor must not change.

`python tests/golden_results.py` rewrites `tests/data/golden_baselines.json`; do that only
for a change that is meant to move a score, and say why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BASELINES = ("blind", "text-only", "oracle", "retrieval")
REPO = str(Path(__file__).resolve().parent.parent)
GOLDEN = Path(__file__).parent / "data" / "golden_baselines.json"
# What differs between two identical runs: when, where and with which installed versions.
RUN_SPECIFIC = ("date", "git_hash", "package_versions")


def normalized(results: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in results.items() if k not in RUN_SPECIFIC}
    out["datasets"] = {t: {k: v for k, v in d.items() if k != "location"}
                       for t, d in results["datasets"].items()}
    # task and prompt files are recorded by absolute path: the checkout's place is not behaviour
    return json.loads(json.dumps(out, sort_keys=True, default=str).replace(REPO, "<repo>"))


def baseline_results() -> dict[str, Any]:
    from covip_eval.engine.run import EvalSettings, evaluate

    return {m: normalized(evaluate(EvalSettings(model=m, tasks=["covip"], progress=False))
                          .results) for m in BASELINES}


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(baseline_results(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
