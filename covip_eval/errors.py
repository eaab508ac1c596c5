"""The engine's exceptions, all under the project's one root, `CovipError`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from benchmark.errors import ConfigError, CovipError, DatasetError

__all__ = ["ConfigError", "CovipError", "DatasetError", "MissingDependencyError",
           "UnknownNameError", "UnsupportedRequestError"]


class UnknownNameError(CovipError):
    """A model, judge, task or scorer name that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Available: {', '.join(known)}")


class MissingDependencyError(CovipError):
    """An optional package is not installed; the message holds the pip command."""

    def __init__(self, what: str, package: str, extra: str):
        super().__init__(
            f"{what} needs the package '{package}', which is not installed. "
            f"Install it with: pip install 'covip-eval[{extra}]'"
        )


class UnsupportedRequestError(CovipError):
    """A model cannot serve a request as it is (too many images, no system prompt, ...)."""
