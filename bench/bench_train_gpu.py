"""GSPO steps of coviP-train on one GPU or several (DDP, FSDP): a Qwen3-VL of 2B shape with
random weights, LoRA r64 on a bf16 base (or full fine-tuning), 4 generations per prompt,
4-concept CapEval-QA prompts, offline judge. Prints step time, prompts/s over all processes,
generated tokens/s, peak GPU memory per GPU and the share of the step spent in the reward.

    python bench/bench_train_gpu.py --dataset DIR [--steps 4] [--max_completion_length 128]
    torchrun --nproc_per_node 2 bench/bench_train_gpu.py --dataset DIR    # DDP on 2 GPUs
    accelerate launch --config_file coviP_train/accelerate/fsdp.yaml --num_processes 2 \
        bench/bench_train_gpu.py --dataset DIR --full                      # FSDP, full fine-tuning
    python bench/bench_train_gpu.py --dataset DIR --judge_latency 0.5     # a served judge

With `--judge_latency`, the judge is a local OpenAI-compatible server answering each question
after that many seconds (many at a time): the reward's time per step, in judge latencies,
shows whether a step's captions are judged in one round.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import ExitStack

import torch
from bench_judge import LatencyServer
from qwen3vl_shapes import TEXT_2B, VISION_2B

from covip_eval.models.tiny_models import build_processor, random_qwen3vl
from coviP_train.config import load_config
from coviP_train.trainer import build_trainer


def build_model(tokenizer, device: str, full: bool):
    # as the trainer loads them: float32 master weights for full fine-tuning, a bf16 LoRA base
    model = random_qwen3vl(tokenizer, TEXT_2B, VISION_2B, tie=True, device=device,
                           dtype="float32" if full else "bfloat16")
    model.generation_config.eos_token_id = None  # every completion runs to the cap
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--max_completion_length", type=int, default=128)
    parser.add_argument("--judge_latency", type=float, default=None,
                        help="judge through a local server with this latency (seconds)")
    parser.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    parser.add_argument("--per_image_vision_attention", action="store_true",
                        help="transformers' own vision attention, one call per image")
    args = parser.parse_args()
    rank, world = int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    torch.cuda.set_device(rank)
    processor = build_processor(max_pixels=160 * 160)
    model = build_model(processor.tokenizer, f"cuda:{rank}", args.full)
    with tempfile.TemporaryDirectory() as out, ExitStack() as stack:
        judge = []
        if args.judge_latency is not None:
            server = stack.enter_context(LatencyServer(args.judge_latency, slots=512))
            judge = ["judge=openai-compatible", f"judge_args=base_url={server.url},model=judge"]
        config = load_config("gspo", [*judge,
            f"max_steps={args.steps}", f"output_dir={out}", "concept_counts=4", "limit=8",
            "per_device_train_batch_size=4", "steps_per_generation=2", "num_iterations=1",
            f"max_completion_length={args.max_completion_length}", "bf16=true",
            "gradient_checkpointing=true", "max_pixels=25600", "logging_steps=1",
            f"use_lora={not args.full}",
            f"group_vision_attention={not args.per_image_vision_attention}"])
        trainer, reward, _ = build_trainer(config, model=model, processor=processor)
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        reward.close()
    logs = [h for h in trainer.state.log_history if "step_time" in h]
    gen_logs = [h for h in logs if "completions/mean_length" in h]
    # logged means are over all processes: every rank generated as many completions
    tokens = world * sum(h["completions/mean_length"] * config.num_generations for h in gen_logs)
    steps = trainer.state.global_step
    prompts = world * config.per_device_train_batch_size // config.num_generations * steps
    if rank != 0:
        return
    tuning = "full fine-tuning" if args.full else f"LoRA r{config.lora_r}"
    if args.per_image_vision_attention:
        tuning += ", per-image vision attention"
    print(f"\nGSPO, Qwen3-VL 2B shape (random), {tuning}, "
          f"{config.num_generations} generations of up to {config.max_completion_length} tokens "
          f"per 4-concept prompt, offline judge; {world} GPU(s)")
    print("| GPUs | steps | s/step (mean) | prompts/s | generated tokens/s | peak GiB per GPU "
          "| reward share of time |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {world} | {steps} | {seconds / steps:.2f} | {prompts / seconds:.3f} | "
          f"{tokens / seconds:.0f} | {torch.cuda.max_memory_allocated() / 2**30:.1f} | "
          f"{reward.judge_seconds / seconds:.2%} |")
    print("per-step log:", [round(h["step_time"], 2) for h in logs])
    if args.judge_latency is not None:
        rounds = reward.round_seconds  # one reward computation per generation step
        per_round = sum(rounds) / max(len(rounds), 1)
        print(f"judge: {len(rounds)} reward rounds, {per_round:.2f} s each = "
              f"{per_round / args.judge_latency:.2f} judge latencies ({args.judge_latency} s); "
              "rounds in latencies (the first opens the connections): "
              f"{[round(r / args.judge_latency, 2) for r in rounds]}")


if __name__ == "__main__":
    main()
