"""Keeping secrets out of logs and result files."""

from __future__ import annotations

from typing import Any

SECRET_WORDS = ("key", "token", "secret", "password", "authorization")


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS) and "max_tokens" not in lowered \
        and not lowered.endswith("_tokens")


def redact(value: Any) -> Any:
    """A copy with every value under a secret-looking key replaced by '<redacted>'."""
    if isinstance(value, dict):
        return {k: "<redacted>" if is_secret_name(str(k)) and v else redact(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
