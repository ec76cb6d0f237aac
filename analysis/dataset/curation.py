"""The curation log: corrections and exclusions recorded as decisions, applied at load time.

Raw rows are never edited. ``set`` replaces a field of an outcome row in the curated view (and
fails when the raw value differs from ``old_value``); ``exclude`` drops a row or a whole study
from curated analyses; ``flag`` changes nothing and is shown in the book's data-quality notes.
A field ``risk_of_bias.<column>`` (e.g. ``risk_of_bias.overall``) names a column of the
risk-of-bias row of the study (its study-level row, or the row of ``outcome_id`` when given).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.dataset.issues import Issue
from analysis.dataset.read import Table, is_missing, parse_cell, typed_cell

#: Prefix of a curation field naming a column of risk_of_bias.csv.
ROB_PREFIX = "risk_of_bias."


def check_curation(tables: dict[str, Table]) -> list[Issue]:
    """References and old values of curation.csv (checked with or without applying it)."""
    if "curation" not in tables:
        return []
    cur, out = tables["curation"], tables["outcomes"]
    by_id = {r["outcome_id"]: (r, raw, n) for r, raw, n in zip(out.rows, out.raw, out.lines)}
    issues, targets = [], {}
    for row, line in zip(cur.rows, cur.lines):
        def issue(column, value, rule, message):
            issues.append(Issue(cur.file, line, column, value, rule, message))
        oid, fname, action = row.get("outcome_id"), row.get("field"), row.get("action")
        if oid is not None and oid in by_id and by_id[oid][0]["study_id"] != row.get("study_id"):
            issue("outcome_id", oid, "curation-study", f"outcome belongs to study '{by_id[oid][0]['study_id']}'")
            continue
        if fname is not None and fname.startswith(ROB_PREFIX):
            issues += _check_rob_decision(row, line, tables, targets, issue)
            continue
        # a study-level decision (no outcome_id) may name a column of either table
        known = [out] if oid is not None else [out, tables["studies"]]
        if fname is not None and (not any(t.field_named(fname) for t in known) or fname in ("outcome_id", "study_id")):
            issue("field", fname, "curation-field", "not a column of " + " or ".join(t.file for t in known))
            continue
        if action != "set":
            continue
        if oid is None or fname is None:
            column = "outcome_id" if oid is None else "field"
            issue(column, "", "curation-target", "a 'set' needs an outcome_id and a field")
            continue
        if oid not in by_id:
            continue  # reported as foreign-key
        if (oid, fname) in targets:
            issue("field", fname, "curation-conflict", f"'{fname}' of '{oid}' already set on line {targets[oid, fname]}")
            continue
        targets[oid, fname] = line
        _check_values(row, out.field_named(fname), fname, by_id[oid][0][fname], by_id[oid][1][fname],
                      f"{out.file} line {by_id[oid][2]}", issue)
    return issues


def _check_rob_decision(row: dict, line: int, tables: dict[str, Table], targets: dict, issue) -> list[Issue]:
    """Check a curation decision on ``risk_of_bias.<column>``.

    The column exists, the row exists, ``set`` names the raw value in ``old_value`` and a valid
    ``new_value``.
    """
    rob = tables.get("risk_of_bias")
    fname, column = row["field"], row["field"][len(ROB_PREFIX):]
    if rob is None or rob.field_named(column) is None or column in ("study_id", "outcome_id"):
        issue("field", fname, "curation-field", "not a column of risk_of_bias.csv")
        return []
    key = (row.get("study_id"), row.get("outcome_id"))
    match = [(r, raw, n) for r, raw, n in zip(rob.rows, rob.raw, rob.lines) if (r["study_id"], r.get("outcome_id")) == key]
    if not match:
        what = f"outcome '{key[1]}'" if key[1] else "the study (empty outcome_id)"
        issue("study_id", key[0], "curation-target", f"risk_of_bias.csv has no row of {what} of '{key[0]}'")
        return []
    if row.get("action") != "set":
        return []
    if (key, fname) in targets:
        issue("field", fname, "curation-conflict", f"'{fname}' already set on line {targets[key, fname]}")
        return []
    targets[key, fname] = line
    _check_values(row, rob.field_named(column), column, match[0][0][column], match[0][1][column],
                  f"{rob.file} line {match[0][2]}", issue)
    return []


def _check_values(row: dict, spec: dict, column: str, typed, shown: str, where: str, issue) -> None:
    """A ``set`` decision names the raw value in ``old_value`` and a valid ``new_value`` of ``column``.

    ``typed``/``shown`` are the raw cell as typed and as written; ``where`` is its file and line.
    """
    old, problem = parse_cell(row.get("old_value") or "", dict(spec, constraints={}), {""})
    if problem or old != typed:
        issue("old_value", row.get("old_value") or "", "curation-old-value",
              f"the raw value of '{column}' ({where}) is '{shown}'")
    _, problem = parse_cell(row.get("new_value") or "", spec, {""})
    if problem:
        issue("new_value", row.get("new_value") or "", problem[0], f"{problem[1]} (column '{column}')")


def apply_rob_curation(raw: pd.DataFrame, curation: pd.DataFrame | None) -> pd.DataFrame:
    """The curated view of the risk-of-bias table: ``set`` decisions on ``risk_of_bias.<column>`` applied.

    ``raw`` is not modified. Assumes :func:`check_curation` found no error.
    """
    view = raw.copy()
    if curation is None or view.empty:
        return view
    for rec in curation.to_dict("records"):
        rec = {k: (None if is_missing(v) else v) for k, v in rec.items()}
        field = rec.get("field") or ""
        if rec["action"] != "set" or not field.startswith(ROB_PREFIX):
            continue
        outcome = view["outcome_id"] == rec["outcome_id"] if rec.get("outcome_id") else view["outcome_id"].isna()
        view.loc[(view["study_id"] == rec["study_id"]) & outcome, field[len(ROB_PREFIX):]] = rec["new_value"]
    return view


def apply_curation(raw: pd.DataFrame, curation: pd.DataFrame | None) -> tuple[pd.DataFrame, list[dict]]:
    """The curated view of the outcome rows and the list of applied decisions.

    ``set`` replaces ``field`` of ``outcome_id`` by ``new_value`` (typed like the column);
    ``exclude`` marks the row (or every row of the study when ``outcome_id`` is empty) in the
    boolean column ``_excluded``; ``flag`` changes nothing. ``raw`` is not modified.
    Assumes :func:`check` found no error in the curation log.
    """
    view = raw.copy()
    view["_excluded"] = False
    view["_curation"] = [[] for _ in range(len(view))]
    applied = []
    if curation is None:
        return view, applied
    for rec in curation.to_dict("records"):
        rec = {k: (None if is_missing(v) else v) for k, v in rec.items()}
        if rec.get("outcome_id"):
            mask = view["outcome_id"] == rec["outcome_id"]
        else:
            mask = view["study_id"] == rec["study_id"]
        if (rec.get("field") or "").startswith(ROB_PREFIX):
            pass  # applied to the risk-of-bias table by apply_rob_curation
        elif rec["action"] == "set":
            column = rec["field"]
            view.loc[mask, column] = typed_cell(str(rec["new_value"]), _kind_of(raw[column]), {})[0] \
                if rec["new_value"] is not None else None
        elif rec["action"] == "exclude":
            view.loc[mask, "_excluded"] = True
        for idx in view.index[mask]:
            view.at[idx, "_curation"] = view.at[idx, "_curation"] + [rec["curation_id"]]
        applied.append({k: rec.get(k) for k in ("curation_id", "study_id", "outcome_id", "field", "action",
                                                "old_value", "new_value", "reason", "evidence", "date")})
    return view, applied


def _kind_of(column: pd.Series) -> str:
    if str(column.dtype) == "Int64":
        return "integer"
    if str(column.dtype) == "boolean":
        return "boolean"
    return "number" if column.dtype == np.float64 else "string"


