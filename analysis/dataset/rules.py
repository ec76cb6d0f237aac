"""Rules of the review's data beyond the schema.

Errors (a row that cannot be analysed as written) and plausibility warnings (a row that probably
does not say what the source meant).

With curation (the default) a warning on a row that the curation log excludes or flags is
accounted for: it is reported as a ``note`` citing the decision. Warnings never fail a check.
"""
from __future__ import annotations

import difflib
import math
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.dataset.effect_rows import REQUIRED_BY_TYPE, events_as_smd
from analysis.dataset.issues import Issue
from analysis.dataset.read import DOMAIN_MEASURES, Table, is_missing
from analysis.stats.conventions import ROB_DOMAINS
from analysis.stats.effects import escalc

#: An SD below this fraction of the instrument's scale range is implausible: 95% of a sample
#: would then lie within 20% of the scale. A standard error entered as SD shrinks a typical SD
#: (10-25% of the range) by sqrt(n) >= 5 for n >= 25, i.e. to 2-5% of the range. For an
#: instrument without a known range (scoring differs between trials) the same fraction of the
#: arm's |mean| is used: a coefficient of variation below 5% (95% of participants within +/-10%
#: of the mean score). In the Metapsy import the smallest genuine ratio SD/|mean| is 0.08
#: (Shorey 2019), the SE-as-SD rows of Salzer 2016 give 0.019 and 0.030.
SD_MIN_FRACTION = 1 / 20
#: Largest tolerated difference between Hedges' g recomputed from the arm data and the g the
#: source printed (rounding of means and SDs to two decimals moves g by less than 0.01).
G_TOLERANCE = 0.05
#: Study columns required when outcome_data is "extracted" (optional for trials awaiting data).
EXTRACTED_REQUIRED = ("design", "arms", "population")


def check_outcome_rules(rows: pd.DataFrame, file: str) -> list[Issue]:
    """Each outcome row has the fields its data type needs, with values that can be analysed."""
    issues = []
    for rec in rows.to_dict("records"):
        line = rec["_line"]

        def issue(column, rule, message):
            issues.append(Issue(file, line, column, _show(rec.get(column)), rule, message))
        needed = REQUIRED_BY_TYPE.get(rec["data_type"], ())
        for column in needed:
            if is_missing(rec.get(column)):
                issue(column, "required-for-type", f"a '{rec['data_type']}' row needs {', '.join(needed)}")
        for arm in ("1", "2"):
            n, sd, events, total = (rec.get(c + arm) for c in ("n", "sd", "events", "total"))
            if not is_missing(n) and n < 2:
                issue("n" + arm, "n-min", "arm size must be >= 2")
            if not is_missing(sd) and sd <= 0:
                issue("sd" + arm, "sd-positive", "SD must be > 0")
            if not is_missing(total) and total < 1:
                issue("total" + arm, "events-range", "total must be >= 1")
            if not is_missing(events) and (events < 0 or (not is_missing(total) and events > total)):
                issue("events" + arm, "events-range", f"events must satisfy 0 <= events <= total ({_show(total)})")
        for column in ("sei", "recorded_g_se"):
            if not is_missing(rec.get(column)) and rec[column] <= 0:
                issue(column, "se-positive", "standard error must be > 0")
    return issues


def check_studies(tables: dict[str, Table], outcomes: pd.DataFrame) -> list[Issue]:
    """Each trial's year, its outcome-data status and its characteristics agree with its rows."""
    studies = tables["studies"]
    with_rows = set(outcomes["study_id"])
    this_year = date.today().year
    issues = []
    for row, line in zip(studies.rows, studies.lines):
        if row.get("year") is not None and row["year"] > this_year:
            issues.append(Issue(studies.file, line, "year", str(row["year"]), "year-future",
                                f"publication year after {this_year}"))
        state = row.get("outcome_data")
        has = row["study_id"] in with_rows
        if state == "extracted" and not has:
            issues.append(Issue(studies.file, line, "outcome_data", state, "outcome-data",
                                "marked extracted but outcomes.csv has no row of this study"))
        if state == "extracted":
            # subgroup analyses need these for every analysed trial; trials awaiting data may lack them
            for column in EXTRACTED_REQUIRED:
                if row.get(column) is None:
                    issues.append(Issue(studies.file, line, column, "", "studies-extracted-required",
                                        f"'{column}' is required for a trial whose outcome data are extracted"))
        elif state == "not yet extracted" and has:
            issues.append(Issue(studies.file, line, "outcome_data", state, "outcome-data",
                                "marked not yet extracted but outcomes.csv has rows of this study"))
    return issues


def check_cross(tables: dict[str, Table], domain_ids: set) -> list[Issue]:
    """Instrument scales run from min to max (error); a published estimate maps to a known domain (warning)."""
    issues = []
    inst = tables.get("instruments")
    for row, raw, line in zip(inst.rows if inst else [], inst.raw if inst else [], inst.lines if inst else []):
        low, high = row.get("scale_min"), row.get("scale_max")
        if low is not None and high is not None and low >= high:
            issues.append(Issue(inst.file, line, "scale_max", raw.get("scale_max", str(high)), "scale-range",
                                f"scale_max must exceed scale_min ({raw.get('scale_min', low)})"))
    pub = tables.get("published_estimates")
    for row, line in zip(pub.rows if pub else [], pub.lines if pub else []):
        if row.get("domain") is not None and row["domain"] not in domain_ids:
            # a warning: an estimate of a domain the book does not (or no longer) show stays data
            issues.append(Issue(pub.file, line, "domain", str(row["domain"]), "published-domain",
                                "not a domain id of domains.yml: no chapter shows this estimate",
                                severity="warning"))
    return issues


def check_published(tables: dict[str, Table]) -> list[Issue]:
    """Published estimates: the printed CI contains the estimate, and the direction is recorded.

    A row whose ``inconsistency`` is true records a misprint of the source verbatim: it is
    reported as a note, not an error. A printed estimate needs ``favours`` with its basis and
    source.
    """
    if "published_estimates" not in tables:
        return []
    pub = tables["published_estimates"]
    issues = []
    for row, text, line in zip(pub.rows, pub.raw, pub.lines):
        est, low, high = row.get("estimate"), row.get("ci_low"), row.get("ci_high")
        severity, known = ("note", "; recorded as printed (inconsistency noted)") if row.get("inconsistency") else ("error", "")
        if low is not None and high is not None and low > high:
            issues.append(Issue(pub.file, line, "ci_low", text["ci_low"], "ci-order",
                                f"ci_low > ci_high ({text['ci_high']}){known}", severity))
        elif est is not None and ((low is not None and est < low) or (high is not None and est > high)):
            issues.append(Issue(pub.file, line, "estimate", text["estimate"], "ci-contains",
                                f"estimate outside its CI [{text['ci_low']}, {text['ci_high']}]{known}", severity))
        # an estimate is shown oriented so that positive favours peer support: its direction is data
        if est is not None and "favours" in row and row.get("favours") is None:
            issues.append(Issue(pub.file, line, "favours", "", "favours-required",
                                "a printed estimate needs the side that favours peer support (higher, lower or "
                                "unclear) with its basis and source"))
        elif row.get("favours") is not None and (row.get("favours_basis") is None or row.get("favours_source") is None):
            issues.append(Issue(pub.file, line, "favours_source" if row.get("favours_basis") else "favours_basis", "",
                                "favours-source", "the direction needs its basis and its source (the evidence)"))
    return issues


def check_domains(located: list[tuple[int, dict]], rows: pd.DataFrame, instruments: pd.DataFrame,
                  file: str) -> list[Issue]:
    """Every domain selects rows at its time point, and its measure can pool them.

    Errors: a selected name no row has; no row at the domain's time point; rows of a kind the
    measure cannot pool; event rows in an SMD domain without ``convert_binary: true``; an MD
    domain over several instruments (a raw difference needs one scale); a ratio or risk-difference
    domain whose events are good for some rows and harmful for others (the "favours" side of the
    analysis would change meaning from row to row).
    """
    direction = instruments.drop_duplicates("instrument").set_index("instrument")["higher_is_better"]
    issues = []
    for line, dom in located:
        key, values = next(iter(dom["select"].items()))
        column = "category" if key == "category" else "subdomain"
        present = set(rows[column].dropna())
        for value in values:
            if value not in present:
                issues.append(Issue(file, line, f"select.{key}", value, "domain-select",
                                    f"no outcome row (of the analysed view) has {column} '{value}'"))
        chosen = rows[rows[column].isin(values)]
        timepoint = dom.get("timepoint", "post")
        if not chosen.empty and timepoint != "any" and not (chosen["timepoint"] == timepoint).any():
            issues.append(Issue(file, line, "timepoint", timepoint, "domain-timepoint",
                                f"no selected row is at time point '{timepoint}' "
                                f"(the rows are at {', '.join(sorted(set(chosen['timepoint'].dropna())))})"))
        if timepoint != "any":
            chosen = chosen[chosen["timepoint"] == timepoint]
        measure = dom["measure"]
        bad = chosen[~chosen["data_type"].isin(DOMAIN_MEASURES[measure])]
        for rec in bad.to_dict("records")[:1]:
            issues.append(Issue(file, line, "measure", measure, "domain-measure",
                                f"{len(bad)} selected row(s) have data_type '{rec['data_type']}' "
                                f"(e.g. {rec['outcome_id']}), not poolable as {measure}"))
        events = chosen[chosen["data_type"] == "events"]
        if measure == "SMD" and len(events) and not dom.get("convert_binary"):
            issues.append(Issue(file, line, "convert_binary", "false", "domain-convert-binary",
                                f"{len(events)} selected row(s) are event data (e.g. {events['outcome_id'].iloc[0]}): "
                                "pool them as SMD only with 'convert_binary: true' (log odds ratio x sqrt(3)/pi, "
                                "Chinn 2000), or give them a domain with measure RR, OR or RD"))
        if measure == "MD" and chosen["instrument"].nunique() > 1:
            issues.append(Issue(file, line, "measure", measure, "domain-md-instrument",
                                "a mean difference needs one instrument; the selected rows use "
                                + ", ".join(sorted(chosen["instrument"].unique())) + " (use SMD)"))
        if measure in ("RR", "OR", "RD"):
            signs = set(chosen["instrument"].map(direction).dropna())
            if len(signs) > 1:
                issues.append(Issue(file, line, "measure", measure, "domain-direction",
                                    "the selected event rows mix good and harmful events (instruments.csv "
                                    "higher_is_better); split them into two domains"))
    return issues


def _show(value) -> str:
    if is_missing(value):
        return ""
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def plausibility(rows: pd.DataFrame, instruments: pd.DataFrame, file: str) -> list[Issue]:
    """Plausibility warnings for outcome rows.

    - ``mean-in-scale``: an arm mean outside the instrument's [scale_min, scale_max] (a different
      scoring, e.g. item mean instead of total, or a typo); the SD check is then skipped.
    - ``sd-small``: SD < range / 20, or < |mean| / 20 when the instrument has no known range
      (:data:`SD_MIN_FRACTION`): standard error entered as SD?
    - ``g-sign``: Hedges' g recomputed from the arm data, oriented by the instrument's
      ``higher_is_better``, has the opposite sign of ``recorded_g``.
    - ``g-recomputed``: same sign but |recomputed - recorded_g| > :data:`G_TOLERANCE`.
    """
    # a duplicated instrument is reported as a primary-key error; judge by its first row here
    inst = instruments.drop_duplicates("instrument").set_index("instrument")
    issues = []
    for rec in rows.to_dict("records"):
        spec = inst.loc[rec["instrument"]] if rec["instrument"] in inst.index else None
        if spec is None or is_missing(spec["higher_is_better"]):
            continue
        issues += _scale_warnings(rec, spec, file)
        recomputed = _recomputed_g(rec, bool(spec["higher_is_better"]))
        recorded = rec.get("recorded_g")
        if recomputed is None or is_missing(recorded):
            continue
        direction = "higher" if spec["higher_is_better"] else "lower"
        if recomputed * recorded < 0:
            issues.append(Issue(file, rec["_line"], "recorded_g", _show(recorded), "g-sign",
                                f"sign opposite to the arm data: g = {recomputed:.3f} from the arms "
                                f"({direction} is better on {rec['instrument']})", "warning"))
        elif abs(recomputed - recorded) > G_TOLERANCE:
            issues.append(Issue(file, rec["_line"], "recorded_g", _show(recorded), "g-recomputed",
                                f"g = {recomputed:.3f} from the arm data differs by more than {G_TOLERANCE}",
                                "warning"))
    return issues


def _scale_warnings(rec: dict, spec: pd.Series, file: str) -> list[Issue]:
    """``mean-in-scale`` and ``sd-small`` warnings of an msd row (see :func:`plausibility`)."""
    if rec["data_type"] != "msd":
        return []
    low, high = spec.get("scale_min"), spec.get("scale_max")
    has_range = not (is_missing(low) or is_missing(high)) and high > low
    issues = []
    for arm in ("1", "2"):
        mean = rec.get("mean" + arm)
        if has_range and not is_missing(mean) and not low <= mean <= high:
            issues.append(Issue(file, rec["_line"], "mean" + arm, _show(mean), "mean-in-scale",
                                f"outside the scale of {rec['instrument']} [{_show(low)}, {_show(high)}]", "warning"))
    if issues:
        return issues
    for arm in ("1", "2"):
        sd, n, mean = rec.get("sd" + arm), rec.get("n" + arm), rec.get("mean" + arm)
        if has_range:
            reference, what = high - low, f"the scale range {_show(low)}-{_show(high)}"
        elif not is_missing(mean):
            reference, what = abs(mean), f"the mean {_show(mean)} (no scale range known)"
        else:
            continue
        if not is_missing(sd) and sd < reference * SD_MIN_FRACTION:
            hint = f"; SD x sqrt(n) = {sd * math.sqrt(n):.2f}" if not is_missing(n) else ""
            issues.append(Issue(file, rec["_line"], "sd" + arm, _show(sd), "sd-small",
                                f"SD < 1/20 of {what}: standard error entered as SD?{hint}", "warning"))
    return issues


def _recomputed_g(rec: dict, higher_is_better: bool) -> float | None:

    if rec["data_type"] == "msd":
        cols = REQUIRED_BY_TYPE["msd"]
        if any(is_missing(rec.get(c)) for c in cols):
            return None
        es = escalc("SMD", **{c: np.array([float(rec[c])]) for c in cols}, higher_is_better=higher_is_better)
        return float(es.yi[0])
    if rec["data_type"] == "events":
        if any(is_missing(rec.get(c)) for c in REQUIRED_BY_TYPE["events"]):
            return None
        yi, _ = events_as_smd(pd.DataFrame([rec]), np.array([higher_is_better]))
        return float(yi[0])
    return None


def account_for(warnings: list[Issue], rows: pd.DataFrame, applied: list[dict]) -> list[Issue]:
    """Turn warnings that a curation decision accounts for into notes citing the decision.

    An exclusion, or a flag without a field, accounts for all warnings of its rows. A ``set`` or
    a flag of a field accounts for a warning on that column, and for ``g-*`` warnings when the
    field is an input of g (``recorded_g`` then keeps what the source computed from other data).
    """
    decisions = {a["curation_id"]: a for a in applied}
    by_line = {rec["_line"]: rec for rec in rows.to_dict("records")}
    out = []
    for w in warnings:
        rec = by_line.get(w.line)
        ids = [c for c in (rec["_curation"] if rec else []) if _accounts_for(decisions[c], w)]
        if ids:
            why = "; ".join(f"{c} ({decisions[c]['action']}: {decisions[c]['reason']})" for c in ids)
            out.append(Issue(w.file, w.line, w.column, w.value, w.rule, f"{w.message}; accounted for by {why}", "note"))
        else:
            out.append(w)
    return out


def _accounts_for(decision: dict, warning: Issue) -> bool:
    if decision["action"] == "exclude" or decision["field"] is None:
        return True
    g_inputs = REQUIRED_BY_TYPE["msd"] + REQUIRED_BY_TYPE["events"] + ("recorded_g",)
    return decision["field"] == warning.column or (warning.rule.startswith("g-") and decision["field"] in g_inputs)


# --------------------------------------------------------------------------- checks a maintainer needs


#: Two sub-domain names this similar (difflib ratio) are a probable typo of each other.
NEAR_MISS = 0.8


def _note_if_decided(warning: Issue, study_id: str, outcome_id: str | None, applied: list[dict]) -> Issue:
    """The warning as a note when a curation decision accounts for it, else the warning unchanged.

    A decision accounts for it when it is on the same study (and outcome, when the decision names
    one) and is a study-level decision without a field, or one on the warning's column
    (``risk_of_bias.<column>`` for the risk-of-bias table).
    """
    why = []
    for a in applied:
        if a["study_id"] != study_id or (a.get("outcome_id") and a.get("outcome_id") != outcome_id):
            continue
        field = a.get("field")
        column = field.split(".", 1)[1] if field and "." in field else field
        if field is None or column == warning.column:
            why.append(f"{a['curation_id']} ({a['action']}: {a['reason']})")
    if not why:
        return warning
    return Issue(warning.file, warning.line, warning.column, warning.value, warning.rule,
                 f"{warning.message}; accounted for by {'; '.join(why)}", "note")


def check_selection(located: list[tuple[int, dict]], rows: pd.DataFrame, file: str) -> list[Issue]:
    """Warnings for outcome rows no domain selects, and for near misses of selected sub-domain names.

    A sub-domain name that is a near miss of a name a domain selects gets "did you mean ...?": a
    typo silently drops a trial from a chapter.
    """
    selected = {"category": set(), "subdomain": set()}
    for _, dom in located:
        key, values = next(iter(dom["select"].items()))
        selected[key] |= set(values)
    issues = []
    for rec in rows.to_dict("records"):
        sub, cat = rec.get("subdomain"), rec.get("category")
        if sub in selected["subdomain"]:
            continue
        near = difflib.get_close_matches(str(sub), sorted(selected["subdomain"]), n=1, cutoff=NEAR_MISS)
        if near:
            issues.append(Issue(file, rec["_line"], "subdomain", _show(sub), "subdomain-near-miss",
                                f"no domain selects sub-domain '{sub}': did you mean '{near[0]}'?", "warning"))
        elif cat not in selected["category"]:
            issues.append(Issue(file, rec["_line"], "subdomain", _show(sub), "domain-unselected",
                                f"no domain of domains.yml selects this row (sub-domain '{sub}', category "
                                f"'{cat}'): no chapter shows it", "warning"))
    return issues


def check_rob_coverage(tables: dict[str, Table], applied: list[dict]) -> list[Issue]:
    """A trial whose outcome data are extracted needs risk-of-bias judgements (warning)."""
    studies, rob = tables["studies"], tables.get("risk_of_bias")
    assessed = {r["study_id"] for r in rob.rows} if rob else set()
    issues = []
    for row, line in zip(studies.rows, studies.lines):
        if row.get("outcome_data") == "extracted" and row["study_id"] not in assessed:
            w = Issue(studies.file, line, "study_id", row["study_id"], "rob-missing",
                      "an extracted trial without risk-of-bias judgements (risk_of_bias.csv): its results "
                      "enter no risk-of-bias analysis", "warning")
            issues.append(_note_if_decided(w, row["study_id"], None, applied))
    return issues


def check_duplicates(tables: dict[str, Table], applied: list[dict]) -> list[Issue]:
    """Warnings for probable second reports entered as new trials.

    A probable second report has the same first author and year as another study, or a label
    equal to the label another study has in a review.
    """
    studies = tables["studies"]
    links = tables.get("study_reviews")
    labels_elsewhere = {}
    for r in (links.rows if links else []):
        if r.get("study_id") is not None:
            labels_elsewhere.setdefault(_folded(r.get("label_in_review")), set()).add(r["study_id"])
    seen: dict[tuple, tuple[str, int]] = {}
    issues = []
    for row, line in zip(studies.rows, studies.lines):
        sid = row["study_id"]
        key = (_folded(row.get("first_author")), row.get("year"))
        if key[0] and key in seen:
            other, other_line = seen[key]
            w = Issue(studies.file, line, "first_author", _show(row.get("first_author")), "probable-duplicate",
                      f"same first author and year as '{other}' (line {other_line}): a second report of that "
                      "trial? (a study may cite several references)", "warning")
            issues.append(_note_if_decided(w, sid, None, applied))
        seen.setdefault(key, (sid, line))
        others = labels_elsewhere.get(_folded(row.get("label")), set()) - {sid}
        if others and _folded(row.get("label")):
            w = Issue(studies.file, line, "label", _show(row.get("label")), "probable-duplicate",
                      f"a review calls '{sorted(others)[0]}' by this label: the same trial?", "warning")
            issues.append(_note_if_decided(w, sid, None, applied))
    return issues


def check_rob_algorithm(rob: pd.DataFrame, file: str, applied: list[dict]) -> list[Issue]:
    """Warnings for overall RoB 2 judgements that contradict the RoB 2 algorithm (Sterne et al. 2019).

    The algorithm makes the overall judgement low only when every domain is low, and high
    whenever a domain is high. With curation, a decision on ``risk_of_bias.overall`` accounts for
    a contradiction (the curated analysis uses its value).
    """
    issues = []
    for rec in rob.to_dict("records"):
        domains = [rec.get(d) for d in ROB_DOMAINS]
        if any(is_missing(d) for d in domains) or is_missing(rec.get("overall")):
            continue
        overall = rec["overall"]
        expected = None
        if overall == "low" and any(d != "low" for d in domains):
            expected = "some concerns or high (a domain is not low)"
        elif "high" in domains and overall != "high":
            expected = "high (a domain is high)"
        if expected:
            w = Issue(file, rec["_line"], "overall", overall, "rob-algorithm",
                      f"overall '{overall}' contradicts the RoB 2 algorithm: expected {expected}", "warning")
            outcome = None if is_missing(rec.get("outcome_id")) else rec["outcome_id"]
            issues.append(_note_if_decided(w, rec["study_id"], outcome, applied))
    return issues


def _folded(text) -> str:
    return " ".join(str(text).lower().replace(",", " ").split()) if not is_missing(text) else ""


_BIB_KEY = re.compile(r"@\s*\w+\s*\{\s*([^,\s]+)\s*,")


def bib_keys(path) -> set[str]:
    """The entry keys of a BibTeX file (``@type{key,``)."""
    return set(_BIB_KEY.findall(Path(path).read_text(encoding="utf-8"))) if Path(path).exists() else set()


def check_citations(tables: dict[str, Table], keys: set[str], bib_file: str) -> list[Issue]:
    """Every report of a trial is an entry of references.bib, so that the book can cite it (error).

    The reports are each trial's main report (studies.citation_key) and its further reports
    (study_references).
    """
    issues = []
    for name in ("studies", "study_references"):
        table = tables.get(name)
        for row, line in zip(table.rows if table else [], table.lines if table else []):
            key = row.get("citation_key")
            if key is not None and key not in keys:
                issues.append(Issue(table.file, line, "citation_key", key, "citation-key",
                                    f"no entry '{key}' in {bib_file}"))
    return issues
