"""`coviP-train`: RL post-training of a VLM for contextualized personalization.

    coviP-train --config gspo --max_steps 20 --per_device_train_batch_size 4 use_lora=false
    coviP-train --config my.yaml --model Qwen/Qwen3-VL-8B-Instruct --judge openai-compatible \\
        --judge_args base_url=http://localhost:8001/v1,model=Qwen/Qwen3-30B-A3B-Instruct-2507
    coviP-train merge --adapter runs/x --out runs/x-merged
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from covip_eval.errors import CovipError


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command's parser, and its `train` subcommand's (whose help the TRL fields join)."""
    p = argparse.ArgumentParser(prog="coviP-train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND",
                           help="train (the default when no command is given) or merge")
    train = sub.add_parser(
        "train", add_help=False, help="train with a preset or a YAML file",
        description="Train with a preset or a YAML file.",
        epilog="Every other flag is a field of the preset: ours (model, dataset, judge, LoRA, "
               "reward) or TRL's GRPOConfig/SFTConfig, read by TRL's parser; `--config PRESET "
               "--help` lists them all.")
    train.add_argument("--config", help="preset (grpo, dr_grpo, gspo, sft) or YAML file")
    train.add_argument("-h", "--help", action="store_true")
    merge = sub.add_parser("merge", help="merge a LoRA adapter into its base model",
                           description="Merge a LoRA adapter into its base model.")
    merge.add_argument("--adapter", type=Path, required=True)
    merge.add_argument("--out", type=Path, required=True)
    return p, train


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("train", "merge", "-h", "--help"):
        argv = ["train", *argv]  # training is the default command
    parser, train = _parser()
    try:
        args, rest = parser.parse_known_args(argv)
        if args.command == "merge":
            if rest:
                parser.error(f"merge: unrecognized arguments: {' '.join(rest)}")
            from coviP_train.trainer import merge_lora

            print(f"merged model written to {merge_lora(args.adapter, args.out)}")
            return 0
        if args.help:
            train.print_help()
            if args.config is not None:
                from coviP_train.config import load_config, trl_parser

                algorithm = load_config(args.config, []).algorithm
                print("\n" + trl_parser(algorithm).format_help())
            return 0
        if args.config is None:
            raise CovipError("--config PRESET_OR_FILE is required (grpo, dr_grpo, gspo, sft)")
        return _train(args.config, rest)
    except CovipError as exc:
        print(f"coviP-train: error: {exc}", file=sys.stderr)
        return 2


def _train(preset: str, overrides: list[str]) -> int:
    from coviP_train.config import load_config

    config = load_config(preset, overrides)
    resume = _resume(config.trl.resume_from_checkpoint)
    if config.algorithm == "sft":
        return _train_sft(config, resume)
    from coviP_train.trainer import build_trainer, save, trained_weights_digest

    trainer, reward, skipped = build_trainer(config)
    if skipped:
        print(f"coviP-train: left out {len(skipped)} samples over the image cap", file=sys.stderr)
    try:
        trainer.train(resume_from_checkpoint=resume)
    finally:
        reward.close()
    out = save(trainer, config, skipped, reward)
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    print(json.dumps({"saved": str(out), "steps": trainer.state.global_step,
                      "trained_weights": trained_weights_digest(trainer.model),
                      "completions_judged": reward.completions_digest,
                      "reward_first": rewards[0] if rewards else None,
                      "reward_last": rewards[-1] if rewards else None,
                      "judge_seconds": round(reward.judge_seconds, 2)}))
    print(f"evaluate it with: coviP-eval --model hf --model_args pretrained={out}"
          + ("  (transformers loads the LoRA adapter onto its base; for vLLM, merge it: "
             f"coviP-train merge --adapter {out} --out {out}-merged)" if config.use_lora
             else ""))
    return 0


def _resume(value: str | None) -> str | bool | None:
    """TRL's resume_from_checkpoint: a folder, or true for the latest in output_dir."""
    if value is None or value.lower() == "false":
        return None
    return True if value.lower() == "true" else value


def _train_sft(config, resume: str | bool | None) -> int:
    from coviP_train.trainer import build_sft_trainer, save

    trainer = build_sft_trainer(config)
    trainer.train(resume_from_checkpoint=resume)
    out = save(trainer, config, skipped={})
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(json.dumps({"saved": str(out), "steps": trainer.state.global_step,
                      "loss_first": losses[0] if losses else None,
                      "loss_last": losses[-1] if losses else None}))
    print(f"evaluate it with: coviP-eval --model hf --model_args pretrained={out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
