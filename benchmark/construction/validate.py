"""Checks on what generator models write; a rejection carries its reason.

Dialogues: 6 turns alternating User/Model from User, the {NAME} placeholder present (replaced by
the pseudonym), the real name absent, length bounds. Questions: JSON with exactly 3 questions,
options A-C present and distinct, one answer among them; A-C are shuffled, D is added.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from string import Template

from benchmark.errors import CovipError
from benchmark.records import CANNOT_DETERMINE, QA

PLACEHOLDER = "{NAME}"
PROMPTS = Path(__file__).parent / "prompts"
_TURN = re.compile(r"^\s*\**(User|Model)\**\s*:\s*(.*)$", re.IGNORECASE)


class Rejected(CovipError):
    """Generated text that fails validation; str() is the reason."""


def prompt(name: str, **values: object) -> tuple[str, str]:
    """(text, version) of a generator prompt template."""
    raw = (PROMPTS / f"{name}.txt").read_text()
    header, _, body = raw[4:].partition("\n---\n")
    version = re.search(r"version:\s*(\S+)", header)
    return Template(body.strip()).substitute(**{k: str(v) for k, v in values.items()}), \
        version.group(1) if version else "unversioned"


def parse_dialogue(text: str, real_names: Sequence[str], min_chars: int = 60,
                   max_chars: int = 3000, required: tuple[str, ...] = ()) -> str:
    """The validated dialogue, the {NAME} placeholder kept (each sample puts its own
    pseudonym there). No real name of any concept may appear. `required` are phrases that
    must appear word for word (slots)."""
    turns: list[list[str]] = []
    for line in text.strip().splitlines():
        match = _TURN.match(line)
        if match:
            turns.append([match.group(1).capitalize(), match.group(2).strip()])
        elif line.strip() and turns:
            turns[-1][1] += " " + line.strip()
    roles = [r for r, _ in turns]
    if roles != ["User", "Model"] * 3:
        raise Rejected(f"expected 6 turns User/Model alternating from User, got {roles or 'none'}")
    dialogue = "\n".join(f"{r}: {t}" for r, t in turns)
    if PLACEHOLDER not in dialogue:
        raise Rejected("the {NAME} placeholder (the pseudonym's place) is missing")
    for real_name in real_names:
        if re.search(rf"\b{re.escape(real_name)}\b", dialogue, re.IGNORECASE):
            raise Rejected(f"the real name {real_name!r} leaks into the dialogue")
    for phrase in required:
        if phrase.lower() not in dialogue.lower():
            raise Rejected(f"the given detail {phrase!r} is not in the dialogue")
    if not min_chars <= len(dialogue) <= max_chars:
        raise Rejected(f"length {len(dialogue)} outside {min_chars}..{max_chars} characters")
    return dialogue


def _json_object(text: str) -> dict:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise Rejected("no JSON object in the reply")
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError as exc:
        raise Rejected(f"invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise Rejected("the JSON reply is not an object")
    return data


def parse_qas(text: str, concept_index: int, rng: random.Random) -> tuple[QA, ...]:
    questions = _json_object(text).get("questions")
    if not isinstance(questions, list) or len(questions) != 3:
        got = len(questions) if isinstance(questions, list) else "none"
        raise Rejected(f"expected 3 questions, got {got}")
    qas = []
    for n, item in enumerate(questions, start=1):
        if not isinstance(item, dict) or not str(item.get("question") or "").strip():
            raise Rejected(f"question {n} has no text")
        options = item.get("options")
        if not isinstance(options, dict) or any(not str(options.get(k) or "").strip()
                                                for k in "ABC"):
            raise Rejected(f"question {n}: options A, B and C are not all given")
        texts = [str(options[k]).strip() for k in "ABC"]
        if len({t.lower() for t in texts}) < 3:
            raise Rejected(f"question {n}: repeated option")
        answer = str(item.get("answer") or "").strip().upper()[:1]
        if answer not in ("A", "B", "C"):
            raise Rejected(f"question {n}: answer {item.get('answer')!r} is not one of A, B, C")
        correct = texts["ABC".index(answer)]
        rng.shuffle(texts)
        qas.append(QA(f"c{concept_index}_Q{n}", str(item["question"]).strip(),
                      (texts[0], texts[1], texts[2], CANNOT_DETERMINE),
                      "ABC"[texts.index(correct)]))
    return tuple(qas)


def parse_yes_no(text: str) -> bool | None:
    words = re.findall(r"[a-z]+", text.lower())
    for word in words[:5]:
        if word in ("yes", "no"):
            return word == "yes"
    return None
