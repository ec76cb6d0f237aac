"""Study characteristics with provenance (``study_characteristics.csv``).

Its vocabulary, its rules and the one value per trial that the analyses use.

The table holds one row per trial x characteristic x source row: what one source says about one
characteristic of one trial, with the text as printed (``as_printed``) and where it is
(``source``, ``source_row``, ``source_detail``). Several sources may describe the same trial; a
source may be silent (``not-reported``), may not have classified the trial at all
(``not-classified``: the trial is not among the trials of the review whose classification it is),
may be ambiguous or may contradict itself (``disagreement``). Those rows carry their reason in
``notes`` and no ``value``.

:func:`resolve` turns the rows into one value per trial and characteristic:

- a classification (``setting``, ``peer_role``, ``peer_capacity``, ``org_support``,
  ``group_type``) takes the value its sources report when they agree; sources that disagree, or a
  source that records a disagreement, leave it empty (the rows say why);
- the trial's size (``n_total`` and ``n_per_arm``, always from the same source row) comes from
  the source whose basis ranks first in :data:`N_BASES`: numbers stated to be randomised, then a
  review's table that does not say whether its numbers were randomised or analysed, then the
  participants at baseline, then the largest number analysed at post-test (Metapsy arm data).
  A total the source prints wins; otherwise the total is the sum of the printed arm sizes (the
  import never writes a number the source does not print). Sources of the same basis that give
  different totals leave the size empty (``n_basis`` ``disagreement``).

:func:`with_characteristics` writes the resolved values into the study table, so that
``studies.csv`` keeps hand-entered values only for trials that no imported source describes; a
value typed into ``studies.csv`` that contradicts the resolved one is an error
(:func:`check_characteristics`).
"""
from __future__ import annotations

import re

import pandas as pd

from analysis.dataset.issues import Issue
from analysis.dataset.read import Table, is_missing

#: Egmose et al. (2023): the organisational setting of the peer workers.
SETTINGS = ("added-to-services", "established-roles", "independent-of-services", "online")
#: White et al. (2020, Discussion): the three families of one-to-one peer roles.
PEER_ROLES = ("paraclinical", "structured-behavioural", "flexible-recovery")
#: White et al. (2020, Table 1 "Type"): peer support added to care, or peers in place of other staff.
PEER_CAPACITIES = ("adjunctive", "substitute")
#: White et al. (2020): organisational support for peer support (at least two of three indicators).
ORG_SUPPORT = ("higher", "lower")
#: Lyons et al. (2021): types of group peer support.
GROUP_TYPES = ("self-management", "anti-stigma", "mutual-support")

#: Characteristic -> allowed values (None: free text as printed; "count": a positive integer;
#: "arms": arm sizes "a/b[/c...]", peer-support arm first).
VOCABULARY = {
    "n_total": "count", "n_per_arm": "arms",
    "setting": SETTINGS, "peer_role": PEER_ROLES, "peer_capacity": PEER_CAPACITIES,
    "org_support": ORG_SUPPORT, "group_type": GROUP_TYPES,
    "intervention": None, "duration": None, "follow_up": None, "outcomes_reported": None,
}
CLASSIFICATIONS = ("setting", "peer_role", "peer_capacity", "org_support", "group_type")
STATUSES = ("reported", "ambiguous", "disagreement", "not-reported", "not-classified")
#: Basis of a trial size, in the order in which :func:`resolve` prefers them.
N_BASES = ("randomised", "not-stated", "baseline", "analysed")
N_BASIS_LABELS = {"randomised": "randomised", "not-stated": "randomised or analysed not stated",
                  "baseline": "at baseline", "analysed": "analysed at post-test (largest row)",
                  "disagreement": "sources disagree"}
#: What every trial with outcome data must have, or a row saying why not (rule characteristic-missing).
REQUIRED = ("n_total", "setting", "peer_role")
#: Required in addition for trials of group peer support.
REQUIRED_FOR_GROUPS = ("group_type",)
#: Columns of the study table that the resolved values fill.
STUDY_COLUMNS = ("setting", "peer_role", "n_total")
#: Columns the resolved view adds to the study table.
ADDED_COLUMNS = ("peer_capacity", "org_support", "group_type", "n_per_arm", "n_basis")

_ARMS = re.compile(r"\d+(/\d+)+")
_NUMBERS = re.compile(r"\d+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def resolve(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per trial: the resolved classifications, ``n_total``, ``n_per_arm`` and ``n_basis``.

    ``rows`` is ``study_characteristics.csv`` as a frame. A trial that no row describes is absent.
    """
    columns = ["study_id", *CLASSIFICATIONS, "n_total", "n_per_arm", "n_basis"]
    if rows is None or rows.empty:
        return pd.DataFrame(columns=columns)
    out = []
    for study_id, mine in rows.groupby("study_id", sort=True):
        record = {"study_id": study_id}
        for name in CLASSIFICATIONS:
            record[name] = _agreed(mine[mine["characteristic"] == name])
        record.update(_size(mine))
        out.append(record)
    return pd.DataFrame(out, columns=columns)


def _agreed(rows: pd.DataFrame):
    if rows.empty or (rows["status"] == "disagreement").any():
        return None
    values = set(rows.loc[rows["status"] == "reported", "value"].dropna())
    return values.pop() if len(values) == 1 else None


def _size(rows: pd.DataFrame) -> dict:
    """The trial size of the first basis of :data:`N_BASES` that has one.

    A stated total (with the arm sizes of the same source row), else the sum of the arm sizes.
    """
    reported = rows[(rows["status"] == "reported") & rows["characteristic"].isin(["n_total", "n_per_arm"])]
    for basis in N_BASES:
        of_basis = reported[reported["basis"] == basis].sort_values(["source", "source_row"])
        if of_basis.empty:
            continue
        # one candidate per source row: its stated total (with its arms), else the sum of its arms
        candidates = []
        for _, mine in of_basis.groupby(["source", "source_row"], sort=True):
            totals = mine.loc[mine["characteristic"] == "n_total", "value"]
            arms = mine.loc[mine["characteristic"] == "n_per_arm", "value"]
            arm_text = arms.iloc[0] if not arms.empty else None
            total = int(totals.iloc[0]) if not totals.empty else sum(int(n) for n in arm_text.split("/"))
            candidates.append((total, arm_text))
        if len({total for total, _ in candidates}) > 1:
            # sources of the same basis disagree: no size is chosen (the rows show both)
            return {"n_total": None, "n_per_arm": None, "n_basis": "disagreement"}
        with_arms = [c for c in candidates if c[1] is not None]
        total, arm_text = with_arms[0] if with_arms else candidates[0]
        return {"n_total": total, "n_per_arm": arm_text, "n_basis": basis}
    return {"n_total": None, "n_per_arm": None, "n_basis": None}


def with_characteristics(studies: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The study table with the resolved characteristics.

    :data:`STUDY_COLUMNS` are filled where ``studies.csv`` is empty, :data:`ADDED_COLUMNS` added.
    """
    resolved = resolve(rows).set_index("study_id")
    out = studies.copy()
    for column in STUDY_COLUMNS + ADDED_COLUMNS:
        mapped = out["study_id"].map(resolved[column]) if column in resolved.columns else pd.Series(
            [None] * len(out), index=out.index)
        if column in out.columns:
            keep = out[column].notna()
            mapped = out[column].where(keep, mapped)
        out[column] = mapped.astype("Int64") if column == "n_total" else mapped.astype(object).where(
            mapped.notna(), None)
    return out


def check_characteristics(tables: dict[str, Table]) -> list[Issue]:
    """Rules of ``study_characteristics.csv`` beyond its schema.

    - ``characteristic-value``: a value outside the characteristic's vocabulary
      (:data:`VOCABULARY`), a trial size that is not a positive integer, arm sizes not written
      ``a/b[/c]``.
    - ``characteristic-status``: a ``reported`` row without a value, or any other status with a
      value or without the reason in ``notes``.
    - ``characteristic-basis``: a trial size without its basis, or a basis on another characteristic.
    - ``characteristic-quote``: a number of a trial size that does not occur in ``as_printed`` (the
      text of the source that contains it).
    - ``characteristic-arms``: arm sizes whose sum is not the ``n_total`` of the same source row.
    - ``characteristic-conflict``: ``studies.csv`` holds a setting, peer role or trial size that
      differs from the value resolved from this table.
    - ``awaiting-searched`` (warning): a trial awaiting outcome data has no row in
      ``awaiting_searches.csv`` (what was searched for its results, or why nothing was).
    - ``characteristic-missing`` (warning): a trial with outcome data has no row for a required
      characteristic (:data:`REQUIRED`, and :data:`REQUIRED_FOR_GROUPS` for group formats; arm
      sizes count as a trial size).
    """
    table = tables.get("study_characteristics")
    if table is None:
        return []
    issues = []
    totals = {}
    for row, raw, line in zip(table.rows, table.raw, table.lines):
        if row.get("characteristic") == "n_total" and row.get("status") == "reported" and row.get("value"):
            totals[(row["study_id"], row["source"], row["source_row"])] = row["value"]
    for row, raw, line in zip(table.rows, table.raw, table.lines):
        issues += _row_issues(table.file, line, row, raw, totals)
    issues += _conflicts(tables)
    issues += _missing(tables)
    issues += _searched(tables)
    return issues


def _row_issues(file: str, line: int, row: dict, raw: dict, totals: dict) -> list[Issue]:
    name, value, status = row.get("characteristic"), row.get("value"), row.get("status")
    if name not in VOCABULARY or status not in STATUSES:
        return []  # reported by the schema (enum)
    issues = []

    def issue(column, rule, message):
        issues.append(Issue(file, line, column, raw.get(column, ""), rule, message))
    if status == "reported" and value is None:
        issue("value", "characteristic-status", "a 'reported' row needs a value")
    if status != "reported" and value is not None:
        issue("value", "characteristic-status", f"a '{status}' row has no value (say why in notes)")
    if status != "reported" and row.get("notes") is None:
        issue("notes", "characteristic-status", f"a '{status}' row needs the reason in notes")
    sizes = name in ("n_total", "n_per_arm")
    if sizes and status == "reported" and row.get("basis") is None:
        issue("basis", "characteristic-basis", "a trial size needs its basis (" + ", ".join(N_BASES) + ")")
    if not sizes and row.get("basis") is not None:
        issue("basis", "characteristic-basis", "only trial sizes (n_total, n_per_arm) have a basis")
    if value is None:
        return issues
    allowed = VOCABULARY[name]
    if allowed == "count" and not (value.isdigit() and int(value) >= 1):
        issue("value", "characteristic-value", "n_total must be a positive integer")
    elif allowed == "arms" and not _ARMS.fullmatch(value):
        issue("value", "characteristic-value", "arm sizes are written a/b (peer-support arm first), e.g. 48/48")
    elif isinstance(allowed, tuple) and value not in allowed:
        issue("value", "characteristic-value", f"{name} must be one of " + ", ".join(allowed))
    if sizes:
        # "1,609" is printed with a thousands separator
        printed = set(_NUMBERS.findall(_THOUSANDS.sub("", row.get("as_printed") or "")))
        absent = [n for n in _NUMBERS.findall(value) if n not in printed]
        if absent:
            issue("as_printed", "characteristic-quote",
                  f"{', '.join(absent)} of value '{value}' does not occur in the text as printed")
    if name == "n_per_arm" and _ARMS.fullmatch(value):
        total = totals.get((row["study_id"], row["source"], row["source_row"]))
        arms = sum(int(n) for n in value.split("/"))
        if total is not None and total.isdigit() and arms != int(total):
            issue("value", "characteristic-arms", f"arm sizes sum to {arms}, the same source row gives n_total {total}")
    return issues


def _conflicts(tables: dict[str, Table]) -> list[Issue]:
    studies, table = tables.get("studies"), tables["study_characteristics"]
    if studies is None:
        return []
    resolved = resolve(table.frame()).set_index("study_id")
    issues = []
    for row, raw, line in zip(studies.rows, studies.raw, studies.lines):
        if row["study_id"] not in resolved.index:
            continue
        for column in STUDY_COLUMNS:
            typed, derived = row.get(column), resolved.at[row["study_id"], column]
            if typed is None or is_missing(derived):
                continue
            if column == "n_total":
                derived = int(derived)
            if str(typed) == str(derived):
                continue
            issues.append(Issue(studies.file, line, column, raw.get(column, ""), "characteristic-conflict",
                                f"differs from '{derived}' resolved from {table.file}; leave the cell empty "
                                "or record the disagreement there"))
    return issues


def _searched(tables: dict[str, Table]) -> list[Issue]:
    studies, searches = tables.get("studies"), tables.get("awaiting_searches")
    if studies is None or searches is None:
        return []
    searched = {r["study_id"] for r in searches.rows}
    return [Issue(studies.file, line, "study_id", row["study_id"], "awaiting-searched",
                  f"a trial awaiting data without a row in {searches.file}", severity="warning")
            for row, line in zip(studies.rows, studies.lines)
            if row.get("outcome_data") == "not yet extracted" and row["study_id"] not in searched]


def _missing(tables: dict[str, Table]) -> list[Issue]:
    studies, table = tables.get("studies"), tables["study_characteristics"]
    if studies is None:
        return []
    present = {(r["study_id"], r["characteristic"]) for r in table.rows}
    issues = []
    for row, line in zip(studies.rows, studies.lines):
        if row.get("outcome_data") != "extracted":
            continue
        needed = REQUIRED + (REQUIRED_FOR_GROUPS if row.get("format") == "group" else ())
        for name in needed:
            # arm sizes give the trial size
            if (row["study_id"], name) not in present and not (
                    name == "n_total" and (row["study_id"], "n_per_arm") in present):
                issues.append(Issue(studies.file, line, "study_id", row["study_id"], "characteristic-missing",
                                    f"no row for '{name}' in {table.file} (a value with its source, or the "
                                    "reason why there is none)", severity="warning"))
    return issues
