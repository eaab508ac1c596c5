"""GSPO steps of coviP-train on one GPU: a Qwen3-VL of 2B shape with random weights (bf16),
LoRA r64, 4 generations per prompt, 4-concept CapEval-QA prompts, offline judge. Prints step
time, generated tokens/s, peak GPU memory and the share of the step spent in the reward.

    python bench/bench_train_gpu.py --dataset DIR [--steps 4] [--max_completion_length 128]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from qwen3vl_shapes import TEXT_2B, VISION_2B

from covip_eval.tiny_models import build_processor, random_qwen3vl
from coviP_train.config import load_config
from coviP_train.trainer import build_trainer


def build_model(tokenizer):
    model = random_qwen3vl(tokenizer, TEXT_2B, VISION_2B, tie=True, device="cuda",
                           dtype="bfloat16")
    model.generation_config.eos_token_id = None  # every completion runs to the cap
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--max_completion_length", type=int, default=128)
    args = parser.parse_args()
    processor = build_processor(max_pixels=160 * 160)
    model = build_model(processor.tokenizer)
    with tempfile.TemporaryDirectory() as out:
        config = load_config("gspo", [
            f"max_steps={args.steps}", f"output_dir={out}", "concept_counts=4", "limit=8",
            "per_device_train_batch_size=4", "steps_per_generation=2", "num_iterations=1",
            f"max_completion_length={args.max_completion_length}", "bf16=true",
            "gradient_checkpointing=true", "max_pixels=25600"])
        trainer, reward, _ = build_trainer(config, model=model, processor=processor)
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    logs = [h for h in trainer.state.log_history if "step_time" in h]
    gen_logs = [h for h in logs if "completions/mean_length" in h]
    tokens = sum(h["completions/mean_length"] * config.num_generations for h in gen_logs)
    print(f"\nGSPO, Qwen3-VL 2B shape (random, bf16), LoRA r{config.lora_r}, "
          f"{config.num_generations} generations of up to {config.max_completion_length} tokens "
          "per 4-concept prompt, offline judge")
    print("| steps | s/step (mean) | generated tokens/s | peak GPU GiB | reward share of time |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {trainer.state.global_step} | {seconds / trainer.state.global_step:.2f} | "
          f"{tokens / seconds:.0f} | {torch.cuda.max_memory_allocated() / 2**30:.1f} | "
          f"{reward.judge_seconds / seconds:.2%} |")
    print("per-step log:", [round(h["step_time"], 2) for h in logs])


if __name__ == "__main__":
    main()
