"""Option strings as users type them (`k=v,k2=v2`), and settings errors as one line.

Every command parses `--model_args`, `--judge_args`, `--gen_kwargs`, `--sizes` and the
trainer's overrides here, so they all read values and report mistakes the same way.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from benchmark.errors import ConfigError


def coerce(value: str) -> Any:
    """`true`/`false`, `none`, ints and floats recognised; anything else stays a string."""
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def parse_options(text: str | None, what: str = "option") -> dict[str, Any]:
    """`k=v,k2=v2` into a dict, values coerced; `what` names the flag in errors."""
    options: dict[str, Any] = {}
    for item in filter(None, (text or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what}: bad item {item!r}: expected key=value")
        options[key.strip()] = coerce(value.strip())
    return options


def validation_message(exc: ValidationError, what: str) -> str:
    """The first problem of a pydantic error as `what: field: message`."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{what}: {where}: {first['msg']}" if where else f"{what}: {first['msg']}"
