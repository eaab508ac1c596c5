"""A judge's accuracy on the adversarial corpus, per category and overall: the development
half (misattribution, negation, listing every option, paraphrase, the right answer among wrong
ones) and the held-out half (affirming idioms, double negation, coordinated denials, facts after
a list of names, hedges).

    python bench/bench_judge_corpus.py                      # the offline lexical judge
    python bench/bench_judge_corpus.py --judge openai-compatible \
        --judge_args base_url=http://localhost:8001/v1,model=Qwen/Qwen3-30B-A3B-Instruct-2507
"""

from __future__ import annotations

import argparse

from benchmark.options import parse_options
from covip_eval.engine.cache import RequestCache
from covip_eval.judges.corpus import CORPUS, HELD_OUT, load_cases, score_judge
from covip_eval.registry import make_judge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judge", default="lexical")
    parser.add_argument("--judge_args", default="")
    args = parser.parse_args()
    judge = make_judge(args.judge, parse_options(args.judge_args, "--judge_args"),
                       RequestCache(None), progress=False)
    try:
        for title, path in (("development", CORPUS), ("held out", HELD_OUT)):
            _print(args.judge, title, load_cases(path), judge)
    finally:
        judge.close()


def _print(judge_name: str, title: str, cases: list, judge) -> None:
    report = score_judge(judge, cases)
    counts: dict[str, int] = {}
    for case in cases:
        counts[case.category] = counts.get(case.category, 0) + 1
    print(f"judge: {judge_name}; {title} half: {report['n']} cases\n")
    print("| category | cases | accuracy |")
    print("|----------|------:|---------:|")
    for category, accuracy in report["per_category"].items():
        print(f"| {category} | {counts[category]} | {100 * accuracy:.1f} |")
    print(f"| all | {report['n']} | {100 * report['accuracy']:.1f} |")
    if report["wrong"]:
        print("\nwrong: " + ", ".join(
            f"{w['id']} ({w['answer']} for {w['expected']}"
            f"{', a paraphrase word matching cannot see' if w['lexical_limit'] else ''})"
            for w in report["wrong"]))
    print()


if __name__ == "__main__":
    main()
