"""The review's dataset: the one loader of ``data/`` and the one validator.

``python -m analysis check`` only formats what :func:`check` finds. Every problem is an
:class:`~analysis.dataset.issues.Issue` naming file, line, column, value and rule, so that a
maintainer's typo stops the build with a message that says where it is. Reading rules are in
:mod:`analysis.dataset.read`, the rules of the data in :mod:`analysis.dataset.rules`, the curation
log in :mod:`analysis.dataset.curation`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from analysis.dataset.characteristics import check_characteristics, with_characteristics
from analysis.dataset.curation import apply_curation, apply_rob_curation, check_curation
from analysis.dataset.issues import DataError, Issue
from analysis.dataset.judgements import check_grade, check_grade_evidence, load_judgements
from analysis.dataset.read import REQUIRED_TABLES, check_foreign_keys, read_domains, read_package, read_table
from analysis.dataset.rules import (
    account_for,
    bib_keys,
    check_citations,
    check_cross,
    check_domains,
    check_duplicates,
    check_outcome_rules,
    check_published,
    check_rob_algorithm,
    check_rob_coverage,
    check_selection,
    check_studies,
    plausibility,
)


@dataclass
class Dataset:
    """The loaded dataset. Frames keep the source line of every row in ``_line``.

    ``outcomes`` is the analysed view: the curated view (``set`` applied, ``exclude`` dropped)
    when loaded with ``curated=True``, else the raw rows; ``raw_outcomes`` is always the raw file.
    ``rob`` and ``raw_rob`` are the same for the risk-of-bias table (decisions on
    ``risk_of_bias.<column>``).
    ``applied`` lists the curation decisions applied (one dict per curation row).
    """

    studies: pd.DataFrame
    outcomes: pd.DataFrame
    raw_outcomes: pd.DataFrame
    instruments: pd.DataFrame
    rob: pd.DataFrame
    raw_rob: pd.DataFrame
    curation: pd.DataFrame
    study_reviews: pd.DataFrame
    study_references: pd.DataFrame
    published: pd.DataFrame
    reviews: pd.DataFrame
    domains: list[dict]
    version: str
    issues: list[Issue]
    applied: list[dict]
    curated: bool = True
    judgements: dict = field(default_factory=dict)   # the review team's GRADE judgements (grade.yml)
    updated: str | None = None   # datapackage.json "updated": the date of the data's last change
    #: study_characteristics.csv: every value of every source, with provenance (``studies`` holds
    #: the resolved value per trial, :func:`analysis.dataset.characteristics.resolve`)
    characteristics: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: estimate_trials.csv: the trials each published estimate pooled, where known
    estimate_trials: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the umbrella review's implementation (CFIR) and experiences findings
    implementation: pd.DataFrame = field(default_factory=pd.DataFrame)
    experiences: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: awaiting_searches.csv: what was searched for the results of each trial awaiting data
    searches: pd.DataFrame = field(default_factory=pd.DataFrame)


def _read_all(data_dir, curated: bool):
    """Read and validate everything; return (tables, package, domains, curated view, applied, issues)."""
    data_dir = Path(data_dir)
    label = str(data_dir).rstrip("/") or "."
    package, issues = read_package(data_dir, label)
    tables, schemas, names = {}, {}, {}
    if any(i.rule.startswith("schema-") for i in issues):
        return tables, package, [], None, [], issues   # no table can be read without its schema
    if package is not None:
        for res in package["resources"]:
            path = res.get("path") if isinstance(res, dict) else None
            if not isinstance(path, str) or not path.endswith(".csv"):
                continue
            name = Path(path).stem
            names[res.get("name", name)] = name
            schema = res.get("schema", {})
            if isinstance(schema, str):
                schema = json.loads((data_dir / schema).read_text(encoding="utf-8"))
            schemas[name] = schema
            tables[name], found = read_table(data_dir / path, schema, name, f"{label}/{path}")
            issues += found
        for name in REQUIRED_TABLES:
            if name not in tables:
                issues.append(Issue(f"{label}/datapackage.json", None, None, None, "missing-resource",
                                    f"no resource {name}.csv"))
        issues += check_foreign_keys(tables, schemas, names)
    domains, located, found = read_domains(data_dir, label)
    issues += found
    # a domain refused for another reason is still declared: do not report grade.yml for naming it
    domains_ok = not any(i.severity == "error" for i in found)
    issues += check_grade(data_dir, label, {d.get("id") for d in domains} if domains_ok else None)
    if not all(n in tables for n in REQUIRED_TABLES):
        return tables, package, domains, None, [], issues
    raw = tables["outcomes"].frame()
    issues += check_curation(tables)
    cur_file = tables["curation"].file if "curation" in tables else None
    curation_ok = cur_file and not any(i.file == cur_file and i.severity == "error" for i in issues)
    decisions = tables["curation"].frame() if curation_ok else None
    view, applied = apply_curation(raw, decisions)
    analysed = view if curated else raw
    rules = check_outcome_rules(analysed, tables["outcomes"].file)
    bad_lines = {i.line for i in issues + rules if i.file == tables["outcomes"].file and i.severity == "error"}
    rules += check_studies(tables, analysed)
    rules += check_characteristics(tables)
    rules += check_published(tables)
    rules += check_cross(tables, {d.get("id") for d in domains})
    kept = analysed[~analysed["_excluded"]] if curated else analysed
    rules += check_domains(located, kept, tables["instruments"].frame(), f"{label}/domains.yml")
    rules += check_grade_evidence(data_dir, label, domains, kept, at_timepoint)
    decided = applied if curated else []
    rules += check_selection(located, kept, tables["outcomes"].file)
    rules += check_rob_coverage(tables, decided)
    rules += check_duplicates(tables, decided)
    rules += check_citations(tables, bib_keys(data_dir / "references.bib"), f"{label}/references.bib")
    if "risk_of_bias" in tables:
        raw_rob = tables["risk_of_bias"].frame()
        rules += check_rob_algorithm(raw_rob, tables["risk_of_bias"].file, decided)
    warnings = plausibility(analysed[~analysed["_line"].isin(bad_lines)], tables["instruments"].frame(),
                            tables["outcomes"].file)
    if curated:
        warnings = account_for(warnings, analysed, applied)
    # A cell that did not parse is missing for the later rules: report it once, not twice.
    failed = {(i.file, i.line, i.column) for i in issues if i.severity == "error"}
    issues += [i for i in rules + warnings if (i.file, i.line, i.column) not in failed]
    return tables, package, domains, view, applied, issues


def check(data_dir="data", curated: bool = True) -> list[Issue]:
    """All issues of the dataset in ``data_dir`` (errors, warnings, notes), sorted by file and line.

    With ``curated=False`` the curation log is validated but not applied, so that the
    plausibility warnings describe the raw import.
    """
    issues = _read_all(data_dir, curated)[-1]
    return sorted(set(issues), key=Issue.sort_key)


def load(data_dir="data", curated: bool = True) -> Dataset:
    """Load and validate the dataset; raise :class:`DataError` listing every error.

    Returns a :class:`Dataset`; ``issues`` holds the warnings and notes.
    """
    tables, package, domains, view, applied, issues = _read_all(data_dir, curated)
    issues = sorted(set(issues), key=Issue.sort_key)
    if any(i.severity == "error" for i in issues) or view is None:
        raise DataError(issues)

    def frame(name):
        return tables[name].frame() if name in tables else pd.DataFrame()
    raw = tables["outcomes"].frame()
    analysed = view[~view["_excluded"]].reset_index(drop=True) if curated else raw
    raw_rob = frame("risk_of_bias")
    rob = apply_rob_curation(raw_rob, frame("curation")) if curated else raw_rob
    studies = with_characteristics(frame("studies"), frame("study_characteristics"))
    return Dataset(studies=studies, outcomes=analysed, raw_outcomes=raw,
                   instruments=frame("instruments"), rob=rob, raw_rob=raw_rob, curation=frame("curation"),
                   study_reviews=frame("study_reviews"), study_references=frame("study_references"),
                   published=frame("published_estimates"),
                   reviews=frame("reviews"), domains=domains, version=package["version"], issues=issues,
                   applied=applied if curated else [], curated=curated,
                   judgements=load_judgements(data_dir), updated=package.get("updated"),
                   characteristics=frame("study_characteristics"),
                   estimate_trials=frame("estimate_trials"), implementation=frame("implementation_findings"),
                   experiences=frame("experience_findings"), searches=frame("awaiting_searches"))


def domain_rows(ds: Dataset, domain_id: str, curated: bool = True) -> pd.DataFrame:
    """Outcome rows of a domain at its time point, joined with study characteristics and overall risk of bias.

    Rows come from the curated view (``curated=True``, if ``ds`` was loaded curated) or from the
    raw file, selected by the domain's ``select`` and ``timepoint`` (:func:`at_timepoint`). Study
    columns whose names clash with outcome columns get the suffix ``_study`` (``comparator`` is the
    outcome row's own comparator). ``rob_overall`` is the outcome-specific judgement where one
    exists, else the study-level one (empty ``outcome_id``), from the curated risk-of-bias table
    when ``curated``. ``higher_is_better`` comes from instruments.csv.
    """
    domain = next((d for d in ds.domains if d["id"] == domain_id), None)
    if domain is None:
        raise KeyError(f"unknown domain '{domain_id}'; known: {', '.join(d['id'] for d in ds.domains)}")
    rows = ds.outcomes if curated else ds.raw_outcomes
    key, values = next(iter(domain["select"].items()))
    rows = rows[rows[key].isin(values)].drop(columns=["_excluded", "_curation"], errors="ignore")
    rows = at_timepoint(rows, domain.get("timepoint", "post"))
    studies = ds.studies.drop(columns=["_line"])
    merged = rows.merge(studies, on="study_id", how="left", suffixes=("", "_study"), validate="many_to_one")
    rob = ds.rob if curated else ds.raw_rob
    merged["rob_overall"] = [_rob_overall(rob, s, o) for s, o in zip(merged["study_id"], merged["outcome_id"])]
    direction = ds.instruments.set_index("instrument")["higher_is_better"]
    merged["higher_is_better"] = merged["instrument"].map(direction).astype(bool)
    return merged.reset_index(drop=True)


def citation_keys(ds: Dataset, study_ids) -> list[str]:
    """BibTeX keys of every report of the trials ``study_ids``, sorted.

    The reports are each trial's main report (``studies.citation_key``) and its further reports
    (``study_references``).
    """
    wanted = set(study_ids)
    keys = set(ds.studies.loc[ds.studies["study_id"].isin(wanted), "citation_key"])
    if not ds.study_references.empty:
        keys |= set(ds.study_references.loc[ds.study_references["study_id"].isin(wanted), "citation_key"])
    return sorted(keys)


def at_timepoint(rows: pd.DataFrame, timepoint: str) -> pd.DataFrame:
    """The rows a domain at ``timepoint`` analyses, one time point per trial.

    ``post``: the post-intervention rows. ``follow-up``: each trial's latest follow-up (the rows
    with the largest ``time_weeks``; when a trial gives no time, all its follow-up rows). ``any``:
    each trial's post-intervention rows, or its latest follow-up when it reports none.
    """
    if timepoint == "post":
        return rows[rows["timepoint"] == "post"]
    if timepoint == "any":
        with_post = set(rows.loc[rows["timepoint"] == "post", "study_id"])
        rows = rows[(rows["timepoint"] == "post") | ~rows["study_id"].isin(with_post)]
    else:
        rows = rows[rows["timepoint"] == "follow-up"]
    latest = rows.loc[rows["timepoint"] == "follow-up"].groupby("study_id")["time_weeks"].transform("max")
    follow = rows["timepoint"] == "follow-up"
    keep = ~follow | latest.reindex(rows.index).isna() | (rows["time_weeks"] == latest.reindex(rows.index))
    return rows[keep]


def _rob_overall(rob: pd.DataFrame, study_id: str, outcome_id: str):
    if rob.empty:
        return None
    mine = rob[rob["study_id"] == study_id]
    specific = mine[mine["outcome_id"] == outcome_id]
    general = mine[mine["outcome_id"].isna()]
    chosen = specific if not specific.empty else general
    return chosen["overall"].iloc[0] if not chosen.empty else None


def quality_notes(ds: Dataset, rows: pd.DataFrame) -> list[str]:
    """Data-quality notes for the studies of ``rows``, one sentence each.

    The curation decisions that concern them and the warnings and notes on their outcome rows.
    """
    studies = set(rows["study_id"])
    notes = []
    for a in ds.applied:
        if a["study_id"] in studies:
            target = a["outcome_id"] or f"all rows of {a['study_id']}"
            change = f" '{a['field']}' {a['old_value']} -> {a['new_value']}" if a["action"] == "set" else ""
            notes.append(f"{a['curation_id']}: {a['action']} {target}{change}: {a['reason']} ({a['evidence']})")
    mine = ds.raw_outcomes[ds.raw_outcomes["study_id"].isin(studies)]
    row_of = dict(zip(mine["_line"], mine["outcome_id"]))
    outcomes_file = next((i.file for i in ds.issues if i.file.endswith("/outcomes.csv")), None)
    for issue in ds.issues:
        if issue.file == outcomes_file and issue.line in row_of:
            # a row is named by its id, not by the file's line (which moves when rows are added)
            where = replace(issue, file=f"row {row_of[issue.line]}", line=None)
            notes.append(f"{issue.severity}: {where}")
    return notes
