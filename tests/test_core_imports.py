"""The core installs and runs without the heavy extras: importing it pulls in none of them."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "vllm", "openai", "anthropic", "google.genai", "trl", "peft",
         "lm_eval",
         "matplotlib")


def test_core_modules_import_no_heavy_dependency() -> None:
    code = (
        "import sys\n"
        "import benchmark, benchmark.cli, covip_eval.cli, covip_eval.run, leaderboard.cli\n"
        "from covip_eval.registry import model_class\n"
        "for name in ('blind', 'text-only', 'oracle', 'retrieval', 'scripted', 'captions'):\n"
        "    model_class(name)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""
