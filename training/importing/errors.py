"""The one error the importer raises for a mapping or a file that does not fit."""

from __future__ import annotations


class MappingError(ValueError):
    """A mapping is malformed, or does not fit the file it is applied to.

    ``column`` is the file column (or mapping key) at fault, so a caller can point at it.
    """

    def __init__(self, message: str, *, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column
