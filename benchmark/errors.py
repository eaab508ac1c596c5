"""Errors raised while reading, validating or building datasets."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset row or file is unusable. The message names the file, the row and the field."""

    def __init__(self, source: str, message: str, row: int | None = None, field: str | None = None):
        self.source, self.row, self.field = source, row, field
        where = source
        if row is not None:
            where += f": row {row}"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")
