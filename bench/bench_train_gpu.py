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

from covip_eval.models.tiny_random import build_processor
from coviP_train.config import load_config
from coviP_train.trainer import build_trainer

# Qwen3-VL-2B-Instruct's published dimensions.
TEXT_2B = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144,
           "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8,
           "head_dim": 128, "max_position_embeddings": 262144,
           "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0,
                               "mrope_section": [24, 20, 20], "mrope_interleaved": True}}
VISION_2B = {"depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16,
             "out_hidden_size": 2048, "patch_size": 16, "spatial_merge_size": 2,
             "temporal_patch_size": 2, "deepstack_visual_indexes": [5, 11, 17],
             "num_position_embeddings": 2304}


def build_model(tokenizer):
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    ids = {k: tokenizer.convert_tokens_to_ids(t) for k, t in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    config = Qwen3VLConfig(text_config={**TEXT_2B, "pad_token_id": tokenizer.pad_token_id},
                           vision_config=VISION_2B, tie_word_embeddings=True, **ids)
    with torch.device("cuda"):
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
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
