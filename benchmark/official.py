"""The authors' file layouts, in and out.

CapEval (the official test set): a benchmark folder with `sample_<k>/concepts/concept_<j>.png`
and `sample_<k>/query.png`; a dialogue file, a JSON list (one per sample, in sample order) of
lists (one dialogue per concept); and the QA ground truth, `{"sample_<k>": {"qas":
{"concept_<j>": {"qa": [...]}}, "gts": [positive concept indices]}}`.

Downstream (LSD, LAR): `datasets` tables with `images_context`, `dialogues_context`,
`query_image`, `answer`, `last_action`; the loader reads them as they are.

Importing keeps every sample that validates and reports every one that does not, with its
reason; nothing is dropped silently.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.errors import DatasetError
from benchmark.records import OPTION_LETTERS, CapEvalSample, DiagnosticSample, Sample
from benchmark.rows import RowReader, sample_to_row
from benchmark.storage import AtomicFolder, write_config, write_manifest

_NOT_NAMES = frozenset("What When Where Which Who Whom Whose Why How The A An User Model In On At "
                       "During After Before Did Does Do Is Was Were".split())


@dataclass
class ImportReport:
    imported: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "skipped": len(self.skipped),
                "skipped_samples": self.skipped}


def guess_name(questions: Sequence[str], dialogue: str) -> str:
    """The pseudonym of a concept: the capitalised word its questions use most that its
    dialogue also contains ('' when there is none)."""
    counts: Counter[str] = Counter()
    for question in questions:
        for word in set(re.findall(r"\b[A-Z][a-z]+(?:'s)?\b", question)):
            word = word.removesuffix("'s")
            if word not in _NOT_NAMES and re.search(rf"\b{re.escape(word)}\b", dialogue):
                counts[word] += 1
    return counts.most_common(1)[0][0] if counts else ""


def _official_row(name: str, dialogues: list[str], entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict) or "qas" not in entry or "gts" not in entry:
        raise DatasetError("qas", "entry is not an object with 'qas' and 'gts'", field=name)
    qas = []
    for j in range(len(dialogues)):
        concept = entry["qas"].get(f"concept_{j}")
        qas.append(concept["qa"] if isinstance(concept, dict) else concept or [])
    names = [guess_name([q.get("question", "") for q in qa if isinstance(q, dict)], d)
             for qa, d in zip(qas, dialogues)]
    return {
        "sample_id": name,
        "query_image": {"bytes": None, "path": f"{name}/query.png"},
        "images_context": [{"bytes": None, "path": f"{name}/concepts/concept_{j}.png"}
                           for j in range(len(dialogues))],
        "dialogues_context": dialogues,
        "names_context": names,
        "qas_context": qas,
        "gts": entry["gts"],
        "query_boxes": entry.get("query_boxes") or [],  # ours, where an export wrote them
    }


def import_capeval(benchmark_dir: Path, dialogues_file: Path, qas_file: Path, out: Path
                   ) -> ImportReport:
    """Import the official CapEval layout into our dataset folder at `out`."""
    from benchmark.rows import folder_image_resolver

    try:
        dialogues = json.loads(dialogues_file.read_text())
        qas = json.loads(qas_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(str(exc.filename if isinstance(exc, OSError) else qas_file),
                           f"cannot read: {exc}") from None
    reader = RowReader(str(qas_file), folder_image_resolver(benchmark_dir))
    report, rows = ImportReport(), []
    for name, entry in qas.items():
        match = re.fullmatch(r"sample_(\d+)", name)
        try:
            if match is None or int(match.group(1)) >= len(dialogues):
                raise DatasetError(str(dialogues_file), "no dialogues for this sample", field=name)
            row = _official_row(name, dialogues[int(match.group(1))], entry)
            sample = reader.capeval(row, int(match.group(1)))
        except DatasetError as exc:
            report.skipped.append({"sample": name, "reason": str(exc)})
            continue
        rows.append(sample_to_row(sample))
    report.imported = len(rows)
    with AtomicFolder(out, overwrite=True) as tmp:
        write_config(tmp, "capeval_qa", rows)
        write_manifest(tmp, {"name": "official-capeval-import", "source": str(benchmark_dir),
                             "import_report": report.as_dict()})
    return report


def export_capeval(samples: Sequence[Sample], out: Path) -> Path:
    """Write CapEval samples in the official layout (folder, dialogues file, QA ground truth)."""
    with AtomicFolder(out, overwrite=True) as tmp:
        dialogues, qas = [], {}
        for k, sample in enumerate(samples):
            assert isinstance(sample, CapEvalSample)
            folder = tmp / "benchmark" / f"sample_{k}"
            (folder / "concepts").mkdir(parents=True)
            (folder / "query.png").write_bytes(sample.query_image.data)
            for j, concept in enumerate(sample.context):
                (folder / "concepts" / f"concept_{j}.png").write_bytes(concept.image.data)
            dialogues.append([c.dialogue for c in sample.context])
            qas[f"sample_{k}"] = {
                "qas": {f"concept_{j}": {"qa": [
                    {"id": qa.id, "question": qa.question,
                     "options": dict(zip(OPTION_LETTERS, qa.options)),
                     "correct_answer": qa.correct_answer} for qa in c.qas]}
                    for j, c in enumerate(sample.context)},
                "gts": list(sample.positive_indices),
            }
            if sample.query_boxes:  # not an official key: the present concepts' boxes
                qas[f"sample_{k}"]["query_boxes"] = [list(b) for b in sample.query_boxes]
        (tmp / "dialogues.json").write_text(json.dumps(dialogues, ensure_ascii=False))
        (tmp / "QAS_GT_test.json").write_text(json.dumps(qas, ensure_ascii=False, indent=1))
    return out


def export_downstream(samples: Sequence[Sample], out: Path) -> Path:
    """Write LSD / LAR / ITR samples as a `datasets` folder (save_to_disk) with the official
    columns only (ITR keeps its keyword, which has no official column)."""
    from datasets import Dataset, Features, Image, List, Value

    columns = {"images_context": List(Image()), "dialogues_context": List(Value("string")),
               "query_image": Image(), "answer": Value("string"), "last_action": Value("string")}
    if any(isinstance(s, DiagnosticSample) and s.task == "itr" for s in samples):
        columns["keyword"] = Value("string")
    features = Features(columns)
    rows = []
    for sample in samples:
        assert isinstance(sample, DiagnosticSample)
        row = sample_to_row(sample)
        rows.append({k: row[k] for k in features})
    out.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows, features=features).save_to_disk(str(out))
    return out
