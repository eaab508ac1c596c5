"""`coviP-build`: build benchmark datasets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.errors import DatasetError
from benchmark.mini.generate import MiniSizes


def _sizes(text: str) -> MiniSizes:
    """Parse `capeval_per_count=10,lsd=20,...` into sizes."""
    fields = MiniSizes.__dataclass_fields__
    values = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            raise argparse.ArgumentTypeError(
                f"bad size {item!r}; use key=value with keys {', '.join(fields)}"
            )
        try:
            values[key] = type(fields[key].default)(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad value for {key}: {value!r}") from None
    return MiniSizes(**values)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coviP-build", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    mini = sub.add_parser("mini", help="generate the built-in mini benchmark into a folder")
    mini.add_argument("--out", type=Path, required=True, help="folder to write (must not exist)")
    mini.add_argument("--seed", type=int, default=0)
    mini.add_argument("--sizes", type=_sizes, default=MiniSizes(),
                      help="e.g. capeval_per_count=50,lsd=100,lar=100,itr=100")
    mini.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    mini.add_argument("--overwrite", action="store_true")
    return parser


def _run_mini(args: argparse.Namespace) -> int:
    from benchmark.contact_sheet import contact_sheet
    from benchmark.loading import load_benchmark
    from benchmark.mini import build_mini

    if args.out.exists() and not args.overwrite:
        raise DatasetError(str(args.out), "already exists (pass --overwrite to replace it)")
    build_mini(args.out, seed=args.seed, sizes=args.sizes, workers=args.workers,
               overwrite=args.overwrite)
    samples = []
    for config in ("capeval_qa", "lsd"):
        loaded = load_benchmark(str(args.out), config)
        samples += list(loaded.samples[:4])
    sheet = contact_sheet(samples, args.out / "contact_sheet.png")
    print(f"wrote {args.out} (contact sheet: {sheet})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run_mini(args)
    except DatasetError as exc:
        print(f"coviP-build: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
