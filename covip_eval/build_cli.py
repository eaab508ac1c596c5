"""`coviP-build`: the dataset commands of `benchmark.cli`, plus `pipeline`, which needs model
adapters and so lives in the engine (the benchmark package imports nothing of ours).

    coviP-build pipeline --concepts DIR --out DIR [--image-generator offline|gpt-image-1|gemini-...]
        [--dialogue-model M --dialogue-args k=v] [--qa-model M --qa-args k=v]
        [--filter-model M --filter-args k=v] [--sizes 1=50,2=50,3=50,4=50]
        [--diagnostic-items N] [--seed N] [--max_concurrency N] [--estimate]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmark import DatasetError
from benchmark.cli import main as dataset_main
from covip_eval.errors import CovipError
from covip_eval.models.base import parse_model_args


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="coviP-build pipeline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concepts", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--image-generator", default="offline")
    p.add_argument("--image-args", default="")
    for role in ("dialogue", "qa", "filter"):
        p.add_argument(f"--{role}-model", default=None if role == "filter" else "tiny-random")
        p.add_argument(f"--{role}-args", default="")
    p.add_argument("--sizes", default="1=2,2=2", help="samples per number of concepts")
    p.add_argument("--negatives", type=int, default=2, help="negatives per positive")
    p.add_argument("--random-negatives", action="store_true", help="not of the same category")
    p.add_argument("--diagnostic-items", type=int, default=0, help="LSD/LAR/ITR items each")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-retries", type=int, default=2)
    p.add_argument("--max_concurrency", type=int, default=None, help="for API models")
    p.add_argument("--use_cache", default=None, help="SQLite cache (default: beside --out)")
    p.add_argument("--estimate", action="store_true", help="print calls and cost, spend nothing")
    return p


def _settings(args: argparse.Namespace):
    from covip_eval.pipeline import PipelineSettings

    def model_args(text: str) -> dict:
        values = parse_model_args(text)
        if args.max_concurrency:
            values.setdefault("max_concurrency", args.max_concurrency)
        return values

    per_count = {int(k): int(v) for k, _, v in (s.partition("=") for s in args.sizes.split(","))}
    return PipelineSettings(
        concepts=args.concepts, out=args.out, image_generator=args.image_generator,
        image_args=parse_model_args(args.image_args),
        dialogue_model=args.dialogue_model, dialogue_args=model_args(args.dialogue_args),
        qa_model=args.qa_model, qa_args=model_args(args.qa_args),
        filter_model=args.filter_model, filter_args=model_args(args.filter_args),
        per_count=per_count, negatives_per_positive=args.negatives,
        hard_negatives=not args.random_negatives, diagnostic_items=args.diagnostic_items,
        seed=args.seed, max_retries=args.max_retries,
        cache_path=Path(args.use_cache) if args.use_cache else
        args.out.with_name(args.out.name + ".cache.sqlite"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "pipeline":
        return dataset_main(argv)
    from covip_eval.pipeline import build, estimate, rejections_path

    try:
        args = _parser().parse_args(argv[1:])
        settings = _settings(args)
        if args.estimate:
            print(json.dumps(estimate(settings), indent=1))
            return 0
        print(json.dumps(build(settings), indent=1, default=str))
        print(f"wrote {args.out} (rejections with reasons: {rejections_path(args.out)})")
        return 0
    except (CovipError, DatasetError, ValueError) as exc:
        print(f"coviP-build: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
