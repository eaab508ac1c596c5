"""Plain metric functions: answer extraction, token F1, keyword and name matching.

They import nothing of the engine, so other harnesses can reuse them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_BOXED = re.compile(r"(?:\\|//)boxed\s*\{")
_ANSWER_LINE = re.compile(r"^\s*\**\s*(?:final\s+)?answer\s*\**\s*[:：]\s*\**\s*(.+?)\s*$",
                          re.IGNORECASE | re.MULTILINE)
_WORD = re.compile(r"[a-z0-9]+")


def normalize(text: str) -> str:
    """Lower-case, typographic quotes and dashes made plain, accents removed."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.replace("’", "'").replace("‘", "'").replace("–", "-").lower()


def boxed_contents(text: str) -> list[str]:
    """Contents of every `\\boxed{...}` (or `//boxed{...}`), braces balanced, in order."""
    found = []
    for match in _BOXED.finditer(text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                found.append(text[start:i].strip())
                break
    return found


def last_boxed(text: str) -> str | None:
    """The last boxed answer alone (the official LSD rule: no box, no answer)."""
    boxed = [b for b in boxed_contents(text) if b]
    return boxed[-1] if boxed else None


def extract_final_answer(text: str) -> str | None:
    """The last boxed answer, else the last 'Answer:' line; None when there is neither."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    lines = _ANSWER_LINE.findall(text)
    return lines[-1] if lines else None


# Words every place name may hold ("the", "a", "of"): a constant answer of them scores on the
# official token F1 without knowing any place, so LSD reports F1 without them beside it.
STOP_WORDS = frozenset(
    "a an the of in on at to by for with from near into onto over under and or my our your "
    "his her their its this that".split())


def content_token_f1(prediction: set[str], reference: set[str]) -> float | None:
    """Token F1 with stop words removed from both sides; None when the reference holds
    nothing else (the metric does not apply)."""
    reference = reference - STOP_WORDS
    if not reference:
        return None
    return set_f1(prediction - STOP_WORDS, reference)


def contains_text(text: str, keyword: str) -> bool:
    """The keyword appears anywhere in the text, case aside (the official ITR rule)."""
    return keyword.lower() in text.lower()


def tokens(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


def token_f1(prediction: str, reference: str) -> float:
    """F1 between the sets of lower-cased word tokens of prediction and reference."""
    return set_f1(set(tokens(prediction)), set(tokens(reference)))


def set_f1(pred: set[str], ref: set[str]) -> float:
    common = len(pred & ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains_keyword(text: str, keyword: str) -> bool:
    """The keyword appears as a whole word (case-insensitive)."""
    pattern = r"(?<![a-z0-9])" + re.escape(normalize(keyword)) + r"(?![a-z0-9])"
    return re.search(pattern, normalize(text)) is not None


def names_mentioned(text: str, names: Iterable[str]) -> set[str]:
    return {name for name in names if name and contains_keyword(text, name)}


def recognition_f1(text: str, positive_names: Iterable[str],
                   negative_names: Iterable[str]) -> float:
    """F1 of name inclusion: positives mentioned are hits, negatives mentioned false alarms."""
    positives = {n for n in positive_names if n}
    negatives = {n for n in negative_names if n} - positives
    hits = len(names_mentioned(text, positives))
    false_alarms = len(names_mentioned(text, negatives))
    if hits == 0:
        return 0.0
    precision = hits / (hits + false_alarms)
    recall = hits / len(positives)
    return 2 * precision * recall / (precision + recall)
