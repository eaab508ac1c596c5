"""Hugging Face `datasets` features of the benchmark's configurations.

Field names follow the official datasets where they exist (`images_context`,
`dialogues_context`, `query_image`, `answer`, `last_action`; `gts` for the positive indices,
as in the official QA ground truth).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import Features

CAPEVAL_CONFIG = "capeval_qa"
DIAGNOSTIC_CONFIGS = ("lsd", "lar", "itr")
CONFIGS = (CAPEVAL_CONFIG, *DIAGNOSTIC_CONFIGS)


def _context_features() -> dict:
    from datasets import Image, List, Value

    return {
        "images_context": List(Image()),
        "dialogues_context": List(Value("string")),
        "names_context": List(Value("string")),
        "categories_context": List(Value("string")),
        # One JSON object per context entry (the objective facts its dialogue states).
        "facts_context": List(Value("string")),
    }


def capeval_features() -> Features:
    from datasets import Features, Image, List, Value

    qa = {
        "id": Value("string"),
        "question": Value("string"),
        "options": {letter: Value("string") for letter in "ABCD"},
        "correct_answer": Value("string"),
    }
    return Features(
        {
            "sample_id": Value("string"),
            "n_concepts": Value("int32"),
            "query_image": Image(),
            **_context_features(),
            "qas_context": List(List(qa)),
            "gts": List(Value("int32")),
            "query_boxes": List(List(Value("int32"))),
        }
    )


def diagnostic_features() -> Features:
    from datasets import Features, Image, List, Value

    return Features(
        {
            "sample_id": Value("string"),
            "task": Value("string"),
            "query_image": Image(),
            **_context_features(),
            "gts": List(Value("int32")),
            "answer": Value("string"),
            "last_action": Value("string"),
            "keyword": Value("string"),
            "query_boxes": List(List(Value("int32"))),
        }
    )


def features_for(config: str) -> Features:
    return capeval_features() if config == CAPEVAL_CONFIG else diagnostic_features()
