"""Answer extraction and the plain metric functions."""

from __future__ import annotations

import pytest

from tasks.metrics import (
    contains_keyword,
    extract_final_answer,
    recognition_f1,
    token_f1,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("Reasoning... so \\boxed{the old harbor in Bergen}", "the old harbor in Bergen"),
    ("First \\boxed{a} then \\boxed{b}", "b"),
    ("nested \\boxed{\\text{Kyoto {tea} house}}", "\\text{Kyoto {tea} house}"),
    ("written oddly //boxed{the planetarium}", "the planetarium"),
    ("Thinking.\nAnswer: the science museum\n", "the science museum"),
    ("**Final answer:** a tea house in Kyoto", "a tea house in Kyoto"),
    ("I have no idea.", None),
    ("empty box \\boxed{}", None),
])
def test_extract_final_answer(text: str, expected: str | None) -> None:
    assert extract_final_answer(text) == expected


def test_token_f1() -> None:
    assert token_f1("the old harbor in Bergen", "The old harbor in Bergen") == 1.0
    assert token_f1("harbor", "the old harbor") == pytest.approx(0.5)
    assert token_f1("Kyoto", "Bergen") == 0.0


def test_keyword_is_whole_word_and_case_insensitive() -> None:
    assert contains_keyword("Oh, and sks!", "SKS")
    assert not contains_keyword("tasks done", "SKS")


def test_recognition_f1_counts_negatives_as_false_alarms() -> None:
    assert recognition_f1("Ashby and Blake are here", ["Ashby", "Blake"], ["Carver"]) == 1.0
    assert recognition_f1("Ashby is here", ["Ashby", "Blake"], []) == pytest.approx(2 / 3)
    assert recognition_f1("Ashby and Carver", ["Ashby"], ["Carver"]) == pytest.approx(2 / 3)
    assert recognition_f1("nobody", ["Ashby"], ["Carver"]) == 0.0
