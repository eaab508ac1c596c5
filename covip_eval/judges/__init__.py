"""Judges: roles that grade outputs, offline (`lexical`) or through any text model."""

from covip_eval.judges.base import Judge, LARItem, MCQAItem, Verdict

__all__ = ["Judge", "LARItem", "MCQAItem", "Verdict"]
