"""The chapter's vocabulary: subgroup variables and the display names of coded values."""
from __future__ import annotations

import math

import pandas as pd

#: Subgroup variables of every chapter: (column of the domain rows, title).
SUBGROUP_VARIABLES = (
    ("format", "Format"),
    ("delivery", "Delivery"),
    ("comparator", "Comparator"),
    ("population", "Population"),
    ("rob_overall", "Overall risk of bias"),
    ("setting", "Setting (Egmose et al. 2023)"),
    ("peer_role", "Peer role (White et al. 2020)"),
    ("group_type", "Type of group (Lyons et al. 2021)"),
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
    "setting": {"added-to-services": "peers added to services", "established-roles": "peers in established roles",
                "independent-of-services": "peers independent of services", "online": "peers online"},
    "peer_role": {"paraclinical": "paraclinical role", "structured-behavioural": "structured, behavioural",
                  "flexible-recovery": "flexible support for recovery"},
    "peer_capacity": {"adjunctive": "adjunctive", "substitute": "substitute"},
    "org_support": {"higher": "higher organisational support", "lower": "lower organisational support"},
    "group_type": {"self-management": "self-management", "anti-stigma": "anti-stigma",
                   "mutual-support": "mutual support"},
}


def is_coded(value) -> bool:
    """Whether the cell holds a value (not None, NaN, pandas NA or empty)."""
    return not (value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value == "")


def label_of(value, column: str) -> str:
    """Display name of a coded value of ``column`` ("not reported" when missing)."""
    if not is_coded(value):
        return "not reported"
    return LABELS.get(column, {}).get(str(value), str(value))
