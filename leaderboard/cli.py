"""`coviP-leaderboard`: the paper's tables and figure, and an HTML report, from result files.

    coviP-leaderboard --reference paper --table capeval --format csv
    coviP-leaderboard results/ --reference paper --table all --format markdown --out board
    coviP-leaderboard results/ --report --figure --out board
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from leaderboard.render import EXTENSIONS, RENDERERS
from leaderboard.runs import ResultFileError, load_runs
from leaderboard.tables import build_table


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="coviP-leaderboard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", type=Path, help="result files or folders holding them")
    p.add_argument("--reference", choices=["paper"], default=None,
                   help="add the numbers reported in the paper, labelled as such")
    p.add_argument("--table", choices=["capeval", "downstream", "all"], default="all")
    p.add_argument("--format", choices=sorted(RENDERERS), default="markdown")
    p.add_argument("--base", default=None, help="row to subtract in the delta row")
    p.add_argument("--target", default=None, help="row the delta is for (default: the paper's "
                                                  "CoViP with --reference, else the last run)")
    p.add_argument("--out", type=Path, default=None, help="write files here instead of stdout")
    p.add_argument("--figure", action="store_true", help="write figure5.png and figure5.svg")
    p.add_argument("--report", action="store_true", help="write report.html (needs --out)")
    p.add_argument("--max_samples", type=int, default=25, help="samples per task in the report")
    p.add_argument("--allow_mismatch", action="store_true",
                   help="show runs over different sets of samples (a --limit, other sizes) "
                        "together; refused otherwise")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if not args.paths and not args.reference:
            raise ResultFileError("nothing to show: give result files or --reference paper")
        if (args.report or args.figure) and args.out is None:
            raise ResultFileError("--report and --figure write files: give --out DIR")
        runs = load_runs(args.paths)
        names = ["capeval", "downstream"] if args.table == "all" else [args.table]
        tables = [build_table(n, runs, args.reference == "paper", args.base, args.target,
                              args.allow_mismatch)
                  for n in names]
        figure = None
        if args.figure or args.report:
            from leaderboard.plot import figure5

            written = figure5(runs, args.out)
            figure = written[0] if written else None
        for table in tables:
            text = RENDERERS[args.format](table)
            if args.out is None:
                print(text)
            else:
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / f"table_{table.name}.{EXTENSIONS[args.format]}").write_text(text)
        if args.report:
            from leaderboard.report import write_report

            print(f"report: {write_report(runs, tables, figure, args.out, args.max_samples)}")
        if args.out is not None:
            print(f"wrote {args.out}")
    except ResultFileError as exc:
        print(f"coviP-leaderboard: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
