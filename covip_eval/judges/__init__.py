"""Judges: roles that grade outputs, offline (`lexical`) or through any text model."""

from covip_eval.judges.base import Judge, JudgeItem, Verdict, lar_item, mcqa_item

__all__ = ["Judge", "JudgeItem", "Verdict", "lar_item", "mcqa_item"]
