"""Judges: roles that grade outputs, offline (`lexical`) or through any text model."""

from covip_eval.judges.base import Judge, JudgeItem, JudgeTemplate, Verdict

__all__ = ["Judge", "JudgeItem", "JudgeTemplate", "Verdict"]
