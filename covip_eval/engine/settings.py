"""What one evaluation is asked to do: the settings behind `coviP-eval` and `evaluate`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_STEP_SIZE = 64


@dataclass
class EvalSettings:
    model: str
    model_args: dict[str, Any] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=lambda: ["covip"])
    judge: str | None = None
    judge_args: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    limit: int | float | None = None  # a number of samples, or a fraction below 1
    seed: int = 0
    gen_kwargs: dict[str, Any] = field(default_factory=dict)
    include_path: list[Path] = field(default_factory=list)
    cache_path: Path | None = None  # None: no persistent cache
    output_path: Path | None = None
    log_samples: bool = False
    predict_only: bool = False
    progress: bool = True
    # above this share of failed samples (generation or judge) in a task, the run still writes
    # its results but marks them, and the CLI exits non-zero
    max_failure_rate: float = 0.05
    system_instruction: str | None = None  # replaces the tasks' system prompt (and its hash)
    controls: list[str] = field(default_factory=list)  # visual-reliance controls (controls.py)
    shard: tuple[int, int] | None = None  # (index, count): this process's slice (merge.py)
    ignored_flags: list[str] = field(default_factory=list)  # flags the model has no use for
    max_image_pixels: int | None = None  # None: benchmark.images' default
    # samples of each task evaluated together, then tallied and let go: bounds memory
    step_size: int = DEFAULT_STEP_SIZE
    keep_records: bool = False  # keep every finished record in the outcome (small runs only)
