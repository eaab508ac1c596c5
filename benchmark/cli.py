"""The dataset commands of `coviP-build` (mini, push, import-official, export-official).

They need no model, so they live with the data; `covip_eval.cli.build` adds them to the
`coviP-build` parser beside the commands that drive models.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.errors import DatasetError
from benchmark.mini.generate import MiniSizes
from benchmark.options import parse_options


def _sizes(text: str) -> MiniSizes:
    """Parse `capeval_per_count=10,lsd=20,...` into sizes."""
    fields = MiniSizes.__dataclass_fields__
    values = parse_options(text, "--sizes")
    for key, value in values.items():
        if key not in fields or not isinstance(value, int):
            raise argparse.ArgumentTypeError(
                f"bad size {key}={value}; use key=int with keys {', '.join(fields)}")
    return MiniSizes(**values)


def add_dataset_commands(sub: argparse._SubParsersAction) -> None:
    """Add the dataset commands to a `coviP-build` parser; each sets `run(args) -> int`."""
    mini = sub.add_parser("mini", help="generate the built-in mini benchmark into a folder")
    mini.add_argument("--out", type=Path, required=True, help="folder to write (must not exist)")
    mini.add_argument("--seed", type=int, default=0)
    mini.add_argument("--sizes", type=_sizes, default=MiniSizes(),
                      help="e.g. capeval_per_count=50,lsd=100,lar=100,itr=100")
    mini.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    mini.add_argument("--overwrite", action="store_true")
    mini.set_defaults(run=_run_mini)

    push = sub.add_parser("push", help="upload a dataset folder to the Hugging Face Hub "
                                       "(token: HF_TOKEN or `hf auth login`, never a flag)")
    push.add_argument("dataset_dir", type=Path)
    push.add_argument("--repo_id", "--repo-id", required=True)
    push.add_argument("--private", action="store_true")
    push.add_argument("--revision", default=None, help="branch to upload to")
    push.add_argument("--dry_run", "--dry-run", action="store_true",
                      help="write the repository folder to --out instead of uploading")
    push.add_argument("--out", type=Path, default=None)
    push.add_argument("--license", default=None,
                      help="license id for the dataset card (the built-in benchmark has its "
                           "own; other data gets none unless given)")
    push.add_argument("--citation", type=Path, default=None,
                      help="BibTeX file for the dataset card's citation (same rule)")
    push.set_defaults(run=_run_push)

    imp = sub.add_parser("import-official", help="import the official CapEval test layout")
    imp.add_argument("--benchmark", type=Path, required=True,
                     help="folder with sample_<k>/concepts/concept_<j>.png and query.png")
    imp.add_argument("--dialogues", type=Path, required=True, help="JSON list of dialogue lists")
    imp.add_argument("--qas", type=Path, required=True, help="QA ground truth (QAS_GT_test.json)")
    imp.add_argument("--out", type=Path, required=True)
    imp.set_defaults(run=_run_import)

    exp = sub.add_parser("export-official", help="write a dataset in the official layouts")
    exp.add_argument("--dataset", required=True, help="builtin:mini, a folder or a Hub id")
    exp.add_argument("--out", type=Path, required=True)
    exp.set_defaults(run=_run_export)


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


def _run_push(args: argparse.Namespace) -> int:
    from benchmark.publish import CardTerms, prepare_repo_folder, push

    if args.citation and not args.citation.is_file():
        raise DatasetError(str(args.citation), "--citation: no such BibTeX file")
    citation = args.citation.read_text().strip() if args.citation else None
    terms = CardTerms(license=args.license, citation=citation)
    if args.dry_run:
        if args.out is None:
            raise DatasetError(str(args.dataset_dir), "--dry-run writes to --out DIR: give one")
        prepare_repo_folder(args.dataset_dir, args.repo_id, args.out, terms)
        print(f"wrote the repository folder for {args.repo_id} to {args.out} (nothing uploaded)")
        return 0
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        url = push(args.dataset_dir, args.repo_id, args.private, args.revision,
                   Path(tmp) / "repo", terms)
    print(f"uploaded {args.dataset_dir} to {args.repo_id}: {url}")
    return 0


def _run_import(args: argparse.Namespace) -> int:
    from benchmark.official import import_capeval

    report = import_capeval(args.benchmark, args.dialogues, args.qas, args.out)
    print(f"imported {report.imported} samples into {args.out}; skipped {len(report.skipped)}")
    for skip in report.skipped:
        print(f"  skipped {skip['sample']}: {skip['reason']}")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from benchmark.loading import load_benchmark
    from benchmark.official import export_capeval, export_downstream

    export_capeval(load_benchmark(args.dataset, "capeval_qa").samples, args.out / "capeval")
    for task in ("lsd", "lar", "itr"):
        export_downstream(load_benchmark(args.dataset, task).samples, args.out / task)
    print(f"wrote {args.out}/capeval (folder, dialogues.json, QAS_GT_test.json) and "
          f"{args.out}/lsd, lar, itr (datasets folders)")
    return 0
