"""covip-tiny's learning curves, one panel per stage: the loss (and token accuracy) of the
warm-up and the SFT stages, the reward and its terms per GSPO generation round.

Each input is a stage's training record: `covip_train.json` or a checkpoint's
`trainer_state.json` (both hold `log_history`), or the stage's console log (the trainer prints
one dict per logged step; a run stopped at its time limit leaves only that):

    python recipes/covip_tiny_curves.py --warmup W --sft S [--sft_context C] --gspo G \
        --out curves.png
    python recipes/covip_tiny_curves.py --one_memory M --one_concept C --one_concept_more R \
        --out hops.png
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

# stage: panel title, steps between console lines
STAGES = {"warmup": ("warm-up (dialogues)", 10), "sft": ("SFT (requests)", 10),
          "sft_context": ("SFT (whole conversation)", 10), "gspo": ("GSPO (offline judge)", 1),
          "one_memory": ("SFT, one memory (tower frozen)", 10),
          "one_concept": ("SFT, one concept of three", 10),
          "one_concept_more": ("SFT, one concept of three, more", 10)}


def log_history(path: Path, logging_steps: int) -> list[dict]:
    """The logged rows with their steps; console lines carry none, one line every
    `logging_steps` steps."""
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)["log_history"]
    lines = [line for line in text.splitlines() if line.startswith("{'loss'")]
    return [{"step": n * logging_steps, **{k: float(v) if isinstance(v, str) else v
                                           for k, v in ast.literal_eval(line).items()}}
            for n, line in enumerate(lines, 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for stage, (_, every) in STAGES.items():
        parser.add_argument(f"--{stage}", type=Path, action="append", default=[],
                            help=f"training record(s) of this stage, in order (console logs: "
                                 f"a line every {every} steps)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [stage for stage in STAGES if getattr(args, stage)]
    fig, axes = plt.subplots(1, len(stages), figsize=(4.4 * len(stages), 3.6), squeeze=False)
    for ax, stage in zip(axes[0], stages):
        title, every = STAGES[stage]
        rows: dict[int, dict] = {}
        for path in getattr(args, stage):
            for row in log_history(path, every):
                rows.setdefault(int(row["step"]), row)  # an earlier record wins on overlap
        steps = sorted(rows)
        if stage == "gspo":
            rounds = [s for s in steps if "reward" in rows[s]]
            for key, label in (("reward", "reward"),
                               ("rewards/reward_positive/mean", "positive term"),
                               ("rewards/reward_negative/mean", "negative term")):
                ax.plot(rounds, [rows[s][key] for s in rounds], label=label, lw=1)
            ax.set_ylabel("per generation round")
        else:
            losses = [s for s in steps if "loss" in rows[s]]
            ax.plot(losses, [rows[s]["loss"] for s in losses], label="loss", lw=1)
            accuracy = [s for s in losses if "mean_token_accuracy" in rows[s]]
            ax.plot(accuracy, [rows[s]["mean_token_accuracy"] for s in accuracy],
                    label="token accuracy", lw=1)
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
