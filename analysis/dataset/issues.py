"""Problems found in the data: each names file, line, column, value and rule."""
from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("error", "warning", "note")


@dataclass(frozen=True)
class Issue:
    """One problem found in the data, located by file, line, column and value, with its rule.

    It is rendered as
    ``data/outcomes.csv:17: column 'sd1': value '-1': rule sd-positive: SD must be > 0``.
    """

    file: str
    line: int | None
    column: str | None
    value: str | None
    rule: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        if self.value is not None:
            parts.append(f"value '{self.value}'")
        parts.append(f"rule {self.rule}")
        parts.append(self.message)
        return ": ".join(parts)

    def sort_key(self) -> tuple:
        return (self.file, self.line or 0, SEVERITIES.index(self.severity), self.column or "", self.rule)

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.column, "value": self.value,
                "rule": self.rule, "message": self.message, "severity": self.severity}


class DataError(Exception):
    """The dataset has errors; ``.issues`` lists all of them (errors first, then the rest)."""

    def __init__(self, issues: list[Issue]):
        self.issues = sorted(issues, key=lambda i: (i.severity != "error",) + i.sort_key())
        errors = [i for i in self.issues if i.severity == "error"]
        head = "; ".join(str(i) for i in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"{len(errors)} error(s) in the data: {head}{more}")
