"""The transformers adapter on a Qwen3-VL-8B-shaped model with random weights (bf16, one GPU)
over 4-concept CapEval-QA samples, with its default settings (on a GPU: a static KV cache
sized to length buckets, Qwen3-VL's grouped attention paths) and with the dynamic cache for
comparison: samples/s one at
a time against batched, generated tokens/s, batch-1 decode time per token against the
memory-bandwidth bound, peak GPU memory.

Random weights time the same as trained ones; the text they produce is noise. Prompts are
tokenized by covip-tiny's BPE tokenizer (`--tokenizer bpe`, the default: a 4-concept prompt
is about as long as Qwen's tokenizer makes it) or by the byte-level tokenizer of `tiny-random`
(`--tokenizer bytes`: about four times longer in text tokens). The vocabulary stays Qwen's.

    python bench/bench_hf_gpu.py --dataset DIR [--samples 16] [--max_new_tokens 64]
        [--tokenizer bpe|bytes] [--no_dynamic]
"""

from __future__ import annotations

import argparse
import time

import torch
from qwen3vl_shapes import TEXT_8B, VISION_8B

from benchmark import load_benchmark
from covip_eval.engine.request_builder import caption_request
from covip_eval.models.covip_tiny import COVIP_TINY_DIR
from covip_eval.models.hf import HFModel
from covip_eval.models.tiny_models import build_processor, random_qwen3vl
from covip_eval.registry import TaskIndex
from covip_eval.requests import GenParams

HBM_BYTES_PER_S = 4.8e12  # H200 datasheet


def build_model(tokenizer, device: str):
    model = random_qwen3vl(tokenizer, TEXT_8B, VISION_8B, tie=False, device=device,
                           dtype="bfloat16")
    model.generation_config.eos_token_id = None  # run every request to max_new_tokens
    return model


def timed(fn) -> float:
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_bytes() -> int:
    return torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--batch_sizes", default="8,16")
    parser.add_argument("--max_pixels", type=int, default=160 * 160)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tokenizer", choices=("bpe", "bytes"), default="bpe")
    parser.add_argument("--no_dynamic", action="store_true",
                        help="time the default path only (skip the dynamic-cache rows)")
    args = parser.parse_args()

    tokenizer = None
    if args.tokenizer == "bpe":
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(COVIP_TINY_DIR)
    processor = build_processor(max_pixels=args.max_pixels, tokenizer=tokenizer)
    model = build_model(processor.tokenizer, args.device)
    text_params = sum(p.numel() for n, p in model.named_parameters() if "visual" not in n)
    adapter = HFModel(processor=processor, model=model, pretrained="random-qwen3-vl-8b",
                      dtype="bfloat16")
    prompts = TaskIndex().tasks["capeval_qa"].prompt_templates()
    samples = [s for s in load_benchmark(args.dataset, "capeval_qa").samples
               if s.n_concepts == 4][:args.samples]
    params = GenParams(max_new_tokens=args.max_new_tokens)
    requests = [caption_request(s, prompts, params) for s in samples]
    prompt_tokens = adapter.prepare(requests[:1])["input_ids"].shape[1]
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters "
          f"({text_params / 1e9:.2f} B outside the vision tower); {len(requests)} samples of "
          f"4 concepts, 13 images each; first prompt {prompt_tokens} tokens ({args.tokenizer} "
          f"tokenizer); {args.max_new_tokens} new tokens per sample", flush=True)

    rows = []
    for cache in (None,) if args.no_dynamic else (None, "dynamic"):  # None: the default
        adapter.options.cache_implementation = cache
        label = "default" if cache is None else f"{cache} cache"
        adapter.generate(requests[:1])  # warm-up: compiles the one-request shape
        reset_peak()
        seconds = timed(lambda: [adapter.generate([r]) for r in requests])
        rows.append((f"one at a time, {label}", 1, seconds, peak_bytes()))
        print(f"{rows[-1][0]}: {seconds:.2f} s", flush=True)
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            chunks = [requests[i:i + batch] for i in range(0, len(requests), batch)]
            adapter.generate(chunks[0])  # warm-up: compiles this batch's shape
            reset_peak()
            seconds = timed(lambda c=chunks: [adapter.generate(chunk) for chunk in c])
            rows.append((f"batched, {label}", batch, seconds, peak_bytes()))
            print(f"{rows[-1][0]}, batch {batch}: {seconds:.2f} s", flush=True)
    print("\n| mode | batch | samples/s | generated tokens/s | speed-up | peak GPU GiB |")
    print("|------|------:|----------:|-------------------:|---------:|-------------:|")
    base = rows[0][2]
    for mode, batch, seconds, peak in rows:
        n = len(requests)
        print(f"| {mode} | {batch} | {n / seconds:.2f} | "
              f"{n * args.max_new_tokens / seconds:.0f} | {base / seconds:.1f}x | "
              f"{peak / 2**30:.1f} |")

    # A decode step reads every weight outside the vision tower and the whole KV cache
    # (k and v, every layer, every cached position; a static cache is read to its full length).
    text = model.config.text_config
    kv_per_token = 2 * text.num_hidden_layers * text.num_key_value_heads * text.head_dim * 2
    step_bytes = 2 * text_params + kv_per_token * (prompt_tokens + args.max_new_tokens + 1)
    bound_ms = step_bytes / HBM_BYTES_PER_S * 1000
    print(f"\nbatch-1 decode, one request; a step reads {step_bytes / 1e9:.2f} GB (weights and "
          f"KV cache): {bound_ms:.2f} ms at 4.8 TB/s")
    print("| KV cache | ms per new token | share of the bandwidth bound |")
    print("|----------|-----------------:|-----------------------------:|")
    first = caption_request(samples[0], prompts, GenParams(max_new_tokens=1))
    longer = caption_request(samples[0], prompts, GenParams(max_new_tokens=1 + args.max_new_tokens))
    variants = [(None, False), (None, True)] if args.no_dynamic else \
        [(None, False), ("dynamic", False), (None, True)]
    for cache, fullgraph in variants:
        adapter.options.cache_implementation = cache
        adapter.options.compile_fullgraph = fullgraph
        label = (cache or "default (static)") + (", one graph" if fullgraph else "")
        try:
            adapter.generate([longer])  # warm-up (compiles the static-cache step)
            prefill = min(timed(lambda: adapter.generate([first])) for _ in range(2))
            total = min(timed(lambda: adapter.generate([longer])) for _ in range(2))
        except Exception as exc:  # a variant that cannot compile is reported, not fatal
            print(f"| {label} | failed: {type(exc).__name__}: {str(exc)[:80]} | |")
            continue
        per_token = (total - prefill) / args.max_new_tokens * 1000
        print(f"| {label} | {per_token:.2f} | {bound_ms / per_token:.0%} |", flush=True)


if __name__ == "__main__":
    main()
