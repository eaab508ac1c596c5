"""The project's one exception root, and the dataset errors.

Every error a user can fix derives from `CovipError`: each command prints it as one line and
exits non-zero. The engine's own subclasses are in `covip_eval.errors`.
"""

from __future__ import annotations


class CovipError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""


class ConfigError(CovipError):
    """A task file, an option string, a flag or a setting is invalid."""


class DatasetError(CovipError, ValueError):
    """A dataset row or file is unusable. The message names the file, the row and the field."""

    def __init__(self, source: str, message: str, row: int | None = None, field: str | None = None):
        self.source, self.row, self.field = source, row, field
        where = source
        if row is not None:
            where += f": row {row}"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")
