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
        "import benchmark, benchmark.cli, covip_eval.cli.evaluate, covip_eval.engine.run\n"
        "import leaderboard.cli\n"
        "from covip_eval.registry import model_class\n"
        "for name in ('blind', 'text-only', 'oracle', 'retrieval', 'scripted', 'captions'):\n"
        "    model_class(name)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_the_package_loads_its_modules_on_first_use() -> None:
    """`import covip_eval.requests` loads the request types and the data layer beneath them,
    not the engine; every public name still resolves."""
    code = (
        "import sys\n"
        "import covip_eval.requests\n"
        "print(sorted(m for m in sys.modules if m.startswith('covip_eval')))\n"
        "import covip_eval\n"
        "missing = [n for n in covip_eval.__all__ if getattr(covip_eval, n, None) is None]\n"
        "print(missing, sorted(covip_eval.__all__) == sorted(covip_eval._EXPORTS))\n"
    )
    loaded, names = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   check=True).stdout.strip().splitlines()
    assert loaded == "['covip_eval', 'covip_eval.requests']"
    assert names == "[] True"
