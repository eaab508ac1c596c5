"""The baselines on builtin:mini with the offline judge: every task, CapEval-QA per number of
concepts. What a shortcut can reach, and what it cannot.

    python bench/bench_baselines.py [--dataset builtin:mini]
"""

from __future__ import annotations

import argparse

from covip_eval.engine.run import EvalSettings, evaluate
from covip_eval.result_files import ResultsFile

MODELS = ("oracle", "text-only", "retrieval", "blind")


def cell(results: ResultsFile, row: str, metric: str) -> str:
    value = results.value(row, metric)
    return "-" if value is None else f"{100 * value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="builtin:mini")
    args = parser.parse_args()
    runs = {m: ResultsFile.model_validate(evaluate(EvalSettings(
        model=m, tasks=["covip"], dataset=args.dataset, judge="lexical", cache_path=None,
        progress=False)).results) for m in MODELS}
    print(f"dataset: {args.dataset}; judge: lexical\n")
    print("| model | Acc+ | Acc- | n1 Acc+/Acc- | n2 | n3 | n4 | F1 | LSD direct/CAG "
          "| LSD content | LAR direct/CAG | ITR recall | ITR leak | ITR clean |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for model, r in runs.items():
        counts = " | ".join(f"{cell(r, f'capeval_qa_n{n}', 'acc_pos')}/"
                            f"{cell(r, f'capeval_qa_n{n}', 'acc_neg')}" for n in (1, 2, 3, 4))
        print(f"| {model} | {cell(r, 'capeval_qa', 'acc_pos')} | "
              f"{cell(r, 'capeval_qa', 'acc_neg')} | {counts} | "
              f"{cell(r, 'capeval_qa', 'recognition_f1')} | "
              f"{cell(r, 'lsd_direct', 'token_f1')}/{cell(r, 'lsd_cag', 'token_f1')} | "
              f"{cell(r, 'lsd_direct', 'token_f1_content')} | "
              f"{cell(r, 'lar_direct', 'accuracy')}/{cell(r, 'lar_cag', 'accuracy')} | "
              f"{cell(r, 'itr_direct', 'keyword_recall')} | "
              f"{cell(r, 'itr_direct', 'keyword_leak')} | "
              f"{cell(r, 'itr_direct', 'keyword_clean')} |")


if __name__ == "__main__":
    main()
