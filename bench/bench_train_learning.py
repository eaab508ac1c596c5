"""Learning check of coviP-train on CPU: a few dozen steps of each preset on `tiny-random` over
builtin:mini, offline judge; prints the mean reward (and its terms) at the start and the end.

A random tiny model cannot write the facts the questions ask for, so its positive term stays at
zero; what it can learn is the degenerate term (stop before the length cap). The check shows the
whole loop learns: prompts, generation, judge, reward, update.

    python bench/bench_train_learning.py [--steps 30] [--learning_rate 2e-4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from coviP_train.config import load_config
from coviP_train.trainer import build_trainer


def run(preset: str, steps: int, learning_rate: float, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        config = load_config(preset, [
            f"max_steps={steps}", f"output_dir={out}", "limit=16", "concept_counts=1",
            "per_device_train_batch_size=8", "max_completion_length=24", "use_lora=false",
            f"learning_rate={learning_rate}", f"seed={seed}"])
        trainer, reward, _ = build_trainer(config)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    logs = [h for h in trainer.state.log_history if "reward" in h]
    window = max(1, len(logs) // 5)

    def mean(key: str, part: list) -> float:
        return statistics.fmean(h[key] for h in part)

    return {"preset": preset, "steps": trainer.state.global_step,
            "first": mean("reward", logs[:window]), "last": mean("reward", logs[-window:]),
            "degenerate_first": mean("rewards/reward_degenerate/mean", logs[:window]),
            "degenerate_last": mean("rewards/reward_degenerate/mean", logs[-window:]),
            "s_per_step": seconds / max(1, trainer.state.global_step),
            "judge_share": reward.judge_seconds / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--learning_rate", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = [run(p, args.steps, args.learning_rate, args.seed) for p in ("grpo", "dr_grpo", "gspo")]
    print(f"\nlearning rate {args.learning_rate}, seed {args.seed}, 8 completions per step "
          "(2 prompts x 4), 1-concept samples, full fine-tuning of tiny-random")
    print("| preset | steps | reward, first 20% | reward, last 20% | degenerate term first/last |"
          " s/step | judge share |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['preset']} | {r['steps']} | {r['first']:.3f} | {r['last']:.3f} | "
              f"{r['degenerate_first']:.3f} / {r['degenerate_last']:.3f} | "
              f"{r['s_per_step']:.2f} | {r['judge_share']:.1%} |")


if __name__ == "__main__":
    main()
