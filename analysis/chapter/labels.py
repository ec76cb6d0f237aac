"""The chapter's vocabulary: subgroup variables and the display names of coded values."""
from __future__ import annotations

import math

#: Subgroup variables of every chapter: (column of the domain rows, title).
SUBGROUP_VARIABLES = (
    ("format", "Format"),
    ("delivery", "Delivery"),
    ("comparator", "Comparator"),
    ("population", "Population"),
    ("rob_overall", "Overall risk of bias"),
)


#: Display names of coded values, per column (the same code can mean different things).
LABELS = {
    "format": {"individual": "individual", "group": "group", "mixed": "mixed"},
    "delivery": {"face-to-face": "face to face", "telephone": "telephone", "internet": "internet",
                 "mixed": "mixed"},
    "comparator": {"cau": "care as usual", "waitlist": "waiting list", "other": "other control"},
    "population": {"smi": "severe mental illness", "depression-perinatal": "depression / perinatal",
                   "eating-disorders": "eating disorders", "other": "other"},
    "rob_overall": {"low": "low risk", "some-concerns": "some concerns", "high": "high risk"},
}


def label_of(value, column: str) -> str:
    """Display name of a coded value of ``column`` ("not reported" when missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return "not reported"
    return LABELS.get(column, {}).get(str(value), str(value))
