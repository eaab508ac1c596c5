"""`coviP-build`: the dataset commands of `benchmark.cli`, plus `pipeline`, which needs model
adapters and so lives in the engine (the benchmark package imports nothing of ours).

    coviP-build pipeline --concepts DIR --out DIR [--image_generator offline|gpt-image-1|gemini-...]
        [--dialogue_model M --dialogue_args k=v] [--qa_model M --qa_args k=v]
        [--filter_model M --filter_args k=v] [--sizes 1=50,2=50,3=50,4=50]
        [--diagnostic_items N] [--seed N] [--max_concurrency N] [--estimate]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmark.cli import add_dataset_commands
from benchmark.options import parse_options
from covip_eval.errors import CovipError


def _add_pipeline(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="build a benchmark from your own concept photos with "
                                        "any models (the paper's three stages)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concepts", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--image_generator", "--image-generator", default="offline")
    p.add_argument("--image_args", "--image-args", default="")
    for role in ("dialogue", "qa", "filter"):
        p.add_argument(f"--{role}_model", f"--{role}-model",
                       default=None if role == "filter" else "tiny-random")
        p.add_argument(f"--{role}_args", f"--{role}-args", default="")
    p.add_argument("--sizes", default="1=2,2=2", help="samples per number of concepts")
    p.add_argument("--negatives", type=int, default=2, help="negatives per positive")
    p.add_argument("--random_negatives", "--random-negatives", action="store_true",
                   help="not of the same category")
    p.add_argument("--diagnostic_items", "--diagnostic-items", type=int, default=0,
                   help="LSD/LAR/ITR items each")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max_retries", "--max-retries", type=int, default=2)
    p.add_argument("--max_concurrency", type=int, default=None, help="for API models")
    p.add_argument("--use_cache", default=None, help="SQLite cache (default: beside --out)")
    p.add_argument("--estimate", action="store_true", help="print calls and cost, spend nothing")
    p.set_defaults(run=_run_pipeline)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coviP-build", description="Build, import, export "
                                     "and publish CoViP benchmark datasets.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_dataset_commands(sub)
    _add_pipeline(sub)
    return parser


def _settings(args: argparse.Namespace):
    from covip_eval.construction.pipeline import PipelineSettings

    def model_args(text: str) -> dict:
        values = parse_options(text, "--model_args")
        if args.max_concurrency:
            values.setdefault("max_concurrency", args.max_concurrency)
        return values

    per_count = {int(k): int(v) for k, v in parse_options(args.sizes, "--sizes").items()}
    return PipelineSettings(
        concepts=args.concepts, out=args.out, image_generator=args.image_generator,
        image_args=parse_options(args.image_args, "--image_args"),
        dialogue_model=args.dialogue_model, dialogue_args=model_args(args.dialogue_args),
        qa_model=args.qa_model, qa_args=model_args(args.qa_args),
        filter_model=args.filter_model, filter_args=model_args(args.filter_args),
        per_count=per_count, negatives_per_positive=args.negatives,
        hard_negatives=not args.random_negatives, diagnostic_items=args.diagnostic_items,
        seed=args.seed, max_retries=args.max_retries,
        cache_path=Path(args.use_cache) if args.use_cache else
        args.out.with_name(args.out.name + ".cache.sqlite"))


def _run_pipeline(args: argparse.Namespace) -> int:
    from covip_eval.construction.pipeline import build, estimate, rejections_path

    settings = _settings(args)
    if args.estimate:
        print(json.dumps(estimate(settings), indent=1))
        return 0
    print(json.dumps(build(settings), indent=1, default=str))
    print(f"wrote {args.out} (rejections with reasons: {rejections_path(args.out)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except CovipError as exc:
        print(f"coviP-build: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
