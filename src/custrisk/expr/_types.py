"""The four value types of the expression language."""

from __future__ import annotations

import enum


class ExprType(enum.Enum):
    """Type of a column, an indicator or an expression result.

    * ``NUMBER`` -- float64 values, NaN for missing.
    * ``BOOL`` -- conditions; stored as 1.0 (true), 0.0 (false) or NaN (unknown), so they
      also work as numbers (``true`` counts as 1).
    * ``STRING`` -- text and categories; missing is NaN.
    * ``DATE`` -- calendar dates; stored as days since 1970-01-01 (float64, NaN missing),
      so that ``date - date`` is a number of days.
    """

    NUMBER = "number"
    BOOL = "bool"
    STRING = "string"
    DATE = "date"

    @property
    def label(self) -> str:
        """How the type is called in error messages."""
        return _LABELS[self]

    @property
    def numeric(self) -> bool:
        """True for the types that can be used as numbers (``NUMBER`` and ``BOOL``)."""
        return self in (ExprType.NUMBER, ExprType.BOOL)

    @classmethod
    def from_column_type(cls, column_type: str) -> ExprType:
        """Map a sources.yaml column type (``id``, ``float``, ``date`` ...) to an ExprType."""
        try:
            return _FROM_COLUMN[column_type]
        except KeyError:
            raise ValueError(f"unknown column type {column_type!r}") from None


_LABELS = {
    ExprType.NUMBER: "number",
    ExprType.BOOL: "condition",
    ExprType.STRING: "text",
    ExprType.DATE: "date",
}

_FROM_COLUMN = {
    "id": ExprType.STRING,
    "string": ExprType.STRING,
    "category": ExprType.STRING,
    "int": ExprType.NUMBER,
    "float": ExprType.NUMBER,
    "date": ExprType.DATE,
    "bool": ExprType.BOOL,
}
