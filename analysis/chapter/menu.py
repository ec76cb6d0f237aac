"""The analyses of one outcome domain, as its chapter shows them.

``analyse_domain`` runs the whole menu (main analysis, subgroups, sensitivity, small-study
effects, cumulative analysis, published estimates, data-quality notes, certainty, living-update
analyses) with the engine's tested functions and returns a :class:`DomainReport`; the chapter
notebook only displays it (:mod:`analysis.chapter.render`). Every number a chapter shows is in
``DomainReport.to_dict()``, which the build writes to ``_build/results/<domain>.json``.

Rules the menu applies (stated in Methods):

- **The domain's measure** is the measure of its analysis: Hedges' g (SMD), mean difference (MD),
  risk ratio or odds ratio (pooled on the log scale, shown back-transformed) or risk difference.
- **One effect per trial.** Several rows of one trial in a domain (several instruments, or
  several comparisons sharing a control group) are combined into one effect per trial, the
  within-trial average with an assumed correlation of 0.5 (:func:`analysis.stats.aggregate`,
  Borenstein et al. 2009, ch. 24); correlations of 0.2 and 0.8, and all rows pooled as if
  independent, are sensitivity analyses. A row whose effect is not estimable (a 2x2 table with no
  events in either arm) is left out and named.
- **Small domains.** One trial: its result is shown, not pooled (no heterogeneity, prediction
  interval, subgroup, sensitivity or small-study analysis). Fewer than three trials: no prediction
  interval and no subgroup tests. Leave-one-out, influence and Baujat plots need three trials;
  small-study tests need ten.
- **Participants** are counted once per trial, on its row with most participants: ``n1 + n2`` for
  means, ``total1 + total2`` for events; the trial's randomised total only when no row of the
  trial gives arm sizes (a total can include an arm the comparison leaves out).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import dataset
from analysis.chapter import domain_figures, published, render, sof
from analysis.chapter.labels import SUBGROUP_VARIABLES, is_coded, label_of
from analysis.chapter.params import MAIN_PRESET, domain_spec
from analysis.dataset.files import atomic_write
from analysis.stats import absolute, bias, grade, meta, moderators, multilevel, sensitivity
from analysis.stats.bayes import bayes_meta
from analysis.stats.conventions import MIN_K_SMALL_STUDY, RATIO_MEASURES, ROB_COLUMNS, ROB_DOMAINS, ROB_LEVELS
from analysis.stats.formatting import text, text_p
from analysis.stats.sequential import monitor
from analysis.stats.stability import stability

#: Fewest trials for a pooled estimate, for a prediction interval and subgroup tests, and for
#: leave-one-out, influence and Baujat analyses (see the module docstring).
MIN_K_POOLED = 2
MIN_K_HETEROGENEITY = 3
MIN_K_LEAVE_ONE_OUT = 3
#: Within-trial correlation assumed when a trial's rows are combined, and its sensitivity values.
WITHIN_TRIAL_R = 0.5
WITHIN_TRIAL_R_SENSITIVITY = (0.2, 0.8)

#: Display of each measure: the effect's name and whether it is shown back-transformed (exp).
MEASURE_NAMES = {"SMD": "Hedges' g", "MD": "Mean difference", "RR": "Risk ratio", "OR": "Odds ratio",
                 "RD": "Risk difference", "GEN": "Effect"}
BINARY_MEASURES = ("RR", "OR", "RD")

#: Time frames in words (Methods and every page state them).
TIME_FRAMES = {
    "post": "end of the intervention (post-test)",
    "follow-up": "latest follow-up after the end of the intervention",
    "any": "end of the intervention, or the latest follow-up of trials that report no post-test",
}


def _settings(preset: str, method=None, ci=None, pi=None) -> dict:
    base = meta.PRESETS[preset]
    return {"method": method or base.method, "ci": ci or base.ci, "pi": pi or base.pi}


@dataclass
class DomainReport:
    """Every analysis of one outcome domain (:func:`analyse_domain`); ``to_dict`` holds every number shown.

    ``rows`` are the domain's outcome rows, ``trials`` one row per trial (the unit of the main
    analysis, in forest-plot order).
    """

    domain: dict
    settings: dict
    rows: pd.DataFrame
    trials: pd.DataFrame
    primary: "meta.MetaResult"
    all_rows: "meta.MetaResult | None" = None
    subgroups: dict = field(default_factory=dict)
    sensitivity: list = field(default_factory=list)
    loo: pd.DataFrame | None = None
    influence: pd.DataFrame | None = None
    cumulative: pd.DataFrame | None = None
    egger: object = None
    trimfill: object = None
    small_study_reason: str | None = None
    published: pd.DataFrame | None = None     # earlier reviews' estimates, oriented (chapter.published)
    published_without_numbers: int = 0
    quality_notes: list = field(default_factory=list)
    grade: "grade.Grade | None" = None
    bayes: object = None
    sequential: object = None
    stability: object = None
    control_risk: float | None = None
    absolute: "absolute.AbsoluteEffect | None" = None
    not_estimable: list = field(default_factory=list)
    citations: list = field(default_factory=list)   # BibTeX keys of every report of the trials
    skipped: dict = field(default_factory=dict)   # analysis -> why it is not shown
    instrument_table: pd.DataFrame | None = None   # instruments.csv (scale ranges for the summary of findings)

    # -- what the analysis is --------------------------------------------------------------
    @property
    def measure(self) -> str:
        return self.domain["measure"]

    @property
    def is_binary(self) -> bool:
        return self.measure in BINARY_MEASURES

    @property
    def exp(self) -> bool:
        """Ratio measures are analysed on the log scale and shown back-transformed."""
        return self.measure in RATIO_MEASURES

    @property
    def effect_label(self) -> str:
        return MEASURE_NAMES[self.measure]

    @property
    def null_value(self) -> float:
        return 1.0 if self.exp else 0.0

    @property
    def harmful_event(self) -> bool:
        """For binary domains: the event is one peer support should prevent (instruments.csv)."""
        return self.is_binary and not bool(self.rows["higher_is_better"].iloc[0])

    @property
    def orientation(self) -> int:
        """+1 when a higher value favours peer support, -1 when a lower one does (harmful events)."""
        return -1 if self.harmful_event else 1

    @property
    def favours(self) -> tuple[str, str]:
        """The "favours" labels left and right of the null line of the forest plot."""
        if self.is_binary and self.harmful_event:
            return ("Favours peer support", "Favours control")
        return ("Favours control", "Favours peer support")

    @property
    def pooled(self) -> bool:
        return self.primary.k >= MIN_K_POOLED

    @property
    def time_frame(self) -> str:
        """The time frame in words, with the weeks after randomisation where the rows give them."""
        words = TIME_FRAMES[self.domain.get("timepoint", "post")]
        weeks = self.rows["time_weeks"].dropna()
        if weeks.empty:
            return f"{words}; time since randomisation not recorded"
        span = f"{weeks.min():g}" if weeks.min() == weeks.max() else f"{weeks.min():g} to {weeks.max():g}"
        known = self.trials["study_id"].isin(self.rows.loc[self.rows["time_weeks"].notna(), "study_id"]).sum()
        return f"{words}; {span} weeks after randomisation ({known} of {len(self.trials)} trials)"

    @property
    def instruments(self) -> list[str]:
        """Instruments of the analysed rows, the most used first."""
        counts = self.rows.groupby("instrument")["study_id"].nunique().sort_values(ascending=False, kind="mergesort")
        return list(counts.index)

    # -- numbers ---------------------------------------------------------------------------
    @property
    def n_studies(self) -> int:
        return int(len(self.trials))

    @property
    def n_participants(self) -> int:
        """Participants counted once per trial (its row with most participants)."""
        return int(np.nansum(self.trials["participants"].to_numpy(float)))

    def shown(self, value):
        """An effect on the scale readers see (back-transformed for ratios)."""
        if value is None:
            return None
        return float(np.exp(value)) if self.exp else float(value)

    @property
    def show_pi(self) -> bool:
        """Whether the prediction interval is shown (three trials or more)."""
        return self.primary.k >= MIN_K_HETEROGENEITY

    def prediction_interval(self) -> tuple[float | None, float | None]:
        """The prediction interval shown (none for fewer than three trials)."""
        if not self.show_pi:
            return None, None
        return self.primary.pi_low, self.primary.pi_high

    def numbers(self) -> dict[str, str]:
        """The glued numbers of the page (text), on the scale readers see."""
        p = self.primary
        pi_low, pi_high = self.prediction_interval()
        return {
            "k": str(p.k),
            "n_studies": str(self.n_studies),
            "n_participants": str(self.n_participants),
            "effect_label": self.effect_label,
            "estimate": text(self.shown(p.estimate)),
            "ci_low": text(self.shown(p.ci_low)),
            "ci_high": text(self.shown(p.ci_high)),
            "pi_low": text(self.shown(pi_low)),
            "pi_high": text(self.shown(pi_high)),
            "p": text_p(p.p),
            "tau2": text(p.tau2, 3),
            "i2": text(p.i2_tau2, 0),
            "i2_q": text(p.i2_q, 0),
            "i2_tau2": text(p.i2_tau2, 0),
            "q": text(p.q, 2),
            "time_frame": self.time_frame,
            "conventions": render.conventions(self),
        }

    def arm_data(self) -> pd.DataFrame:
        """Arm-level data of each trial, in forest-plot order.

        The columns are means, SDs and ns, or events and totals for binary domains; a trial whose
        rows were combined has none.
        """
        columns = ["events1", "total1", "events2", "total2"] if self.is_binary else \
            ["n1", "mean1", "sd1", "n2", "mean2", "sd2"]
        return self.trials[columns].reset_index(drop=True)

    def rob(self) -> pd.DataFrame:
        """RoB 2 judgements (D1-D5, overall) of each trial, in forest-plot order."""
        out = self.trials[[f"rob_{d}" for d in ROB_COLUMNS]].copy()
        out.columns = list(ROB_COLUMNS)
        out.insert(0, "study", self.primary.labels)
        return out.reset_index(drop=True)

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        def frame(df):
            if df is None:
                return None
            return json.loads(df.to_json(orient="records", double_precision=15))

        subgroups = {}
        for column, _ in SUBGROUP_VARIABLES:
            res = self.subgroups.get(column)
            subgroups[column] = {"not_done": res} if isinstance(res, str) or res is None else res.to_dict()
        sens = []
        for item in self.sensitivity:
            res = item.get("result")
            sens.append({"analysis": item["analysis"], "note": item.get("note", ""),
                         "result": None if res is None else res.to_dict()})
        small = {"reason": self.small_study_reason}
        if self.egger is not None:
            small["egger"] = self.egger.to_dict()
        if self.trimfill is not None:
            small["trimfill"] = self.trimfill.to_dict()
        primary = self.primary.to_dict()
        primary["pi_low"], primary["pi_high"] = self.prediction_interval()
        if "exp" in primary and primary["pi_low"] is None:
            primary["exp"]["pi_low"] = primary["exp"]["pi_high"] = None
        return {
            "domain": self.domain["id"],
            "title": self.domain.get("title"),
            "measure": self.measure,
            "orientation": self.orientation,
            "timepoint": self.domain.get("timepoint", "post"),
            "time_frame": self.time_frame,
            "settings": self.settings,
            "n_studies": self.n_studies,
            "n_participants": self.n_participants,
            "studies": sorted(self.trials["study_id"]),
            "outcome_ids": sorted(self.rows["outcome_id"]),
            "not_estimable": list(self.not_estimable),
            "primary": primary,
            "per_trial": domain_figures.per_trial_records(self),
            "all_rows": None if self.all_rows is None else self.all_rows.to_dict(),
            "subgroups": subgroups,
            "sensitivity": sens,
            "small_study": small,
            "leave_one_out": frame(self.loo),
            "influence": frame(self.influence),
            "cumulative": frame(self.cumulative),
            "quality_notes": list(self.quality_notes),
            "published": frame(self.published),
            "numbers": self.numbers(),
            "key_message": render.key_message_md(self),
            "grade": self.grade.to_dict() if self.grade else None,
            "control_risk": self.control_risk,
            "absolute_effect": None if self.absolute is None else self.absolute.to_dict(),
            "summary_of_findings": sof.summary_of_findings(self),
            "skipped": dict(self.skipped),
            "living": {
                "sequential": self.sequential.to_dict() if self.sequential is not None else None,
                "bayes": self.bayes.to_dict() if self.bayes is not None else None,
                "stability": self.stability.to_dict() if self.stability is not None else None,
            },
        }

    def write_json(self, path) -> None:
        """Write :meth:`to_dict` as JSON (the build collects it into ``_build/results``)."""
        atomic_write(path, json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------
# rows and trials


def row_participants(rows: pd.DataFrame) -> np.ndarray:
    """Participants of each row in its comparison.

    They are ``n1 + n2``, or ``total1 + total2`` for event rows; NaN for a row with a reported
    effect (no arm sizes).
    """
    n = rows["n1"].astype(float) + rows["n2"].astype(float)
    return n.fillna(rows["total1"].astype(float) + rows["total2"].astype(float)).to_numpy(float)


def trial_participants(rows: pd.DataFrame) -> float:
    """Participants of one trial: those of its row with most participants that gives arm sizes.

    The trial's randomised total (``n_total``) is used only when no row gives arm sizes (a total
    can include arms the comparison leaves out, e.g. a third arm).
    """
    n = row_participants(rows)
    if np.isfinite(n).any():
        return float(np.nanmax(n))
    totals = rows["n_total"].astype(float) if "n_total" in rows.columns else pd.Series(dtype=float)
    return float(totals.max()) if totals.notna().any() else float("nan")


def _with_rob(rows: pd.DataFrame, rob: pd.DataFrame) -> pd.DataFrame:
    """Add ``rob_d1`` ... ``rob_d5`` of each row.

    The outcome-specific judgements where they exist, else the study's (the rule
    ``dataset.domain_rows`` uses for ``rob_overall``).
    """
    rows = rows.copy()
    values = {d: [] for d in ROB_DOMAINS}
    for study_id, outcome_id in zip(rows["study_id"], rows["outcome_id"]):
        mine = rob[rob["study_id"] == study_id]
        chosen = mine[mine["outcome_id"] == outcome_id]
        if chosen.empty:
            chosen = mine[mine["outcome_id"].isna()]
        for d in values:
            values[d].append(chosen[d].iloc[0] if not chosen.empty else None)
    for d, column in values.items():
        rows[f"rob_{d}"] = column
    return rows


def _worst(values) -> str | None:
    """The worst RoB 2 judgement of a trial's rows (none when any row is not assessed)."""
    values = [v for v in values if isinstance(v, str)]
    if not values:
        return None
    return max(values, key=ROB_LEVELS.index)


def _common(values):
    """A trial-level value of a trial's rows: the value when they agree, else "mixed"."""
    distinct = {v for v in values if not (v is None or (isinstance(v, float) and np.isnan(v)))}
    if not distinct:
        return None
    return distinct.pop() if len(distinct) == 1 else "mixed"


def trials_of(rows: pd.DataFrame, rho: float = WITHIN_TRIAL_R, measure: str = "GEN") -> pd.DataFrame:
    """One row per trial, in the order of ``rows``, with the trial's effect and description.

    Each row holds the trial's effect (its row, or its rows combined with within-trial
    correlation ``rho``: :func:`analysis.stats.sensitivity.aggregate`, Borenstein et al. 2009,
    ch. 24), its participants, risk of bias and characteristics, and arm-level data when it has a
    single row.
    """
    combined = sensitivity.aggregate(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float),
                                     rows["study_id"].tolist(), rho=rho, measure=measure)
    n = row_participants(rows)
    records = []
    for study_id, yi, vi in zip(combined.labels, combined.yi, combined.vi):
        mine = rows[rows["study_id"] == study_id]
        largest = mine.iloc[int(np.nanargmax(n[mine.index])) if np.isfinite(n[mine.index]).any() else 0]
        single = len(mine) == 1
        record = {
            "study_id": study_id, "label": mine["label"].iloc[0], "year": mine["year"].iloc[0],
            "yi": yi, "vi": vi, "n_rows": len(mine), "instruments": "; ".join(mine["instrument"].astype(str)),
            "participants": trial_participants(mine),
            "rob_overall": _worst(mine["rob_overall"]),
            **{f"rob_{d}": _worst(mine[f"rob_{d}"]) for d in ROB_DOMAINS},
            **{column: _common(mine[column]) for column, _ in SUBGROUP_VARIABLES
               if column in mine.columns and column != "rob_overall"},
            "es_method": mine["es_method"].iloc[0] if single else
            f"{len(mine)} rows combined (within-trial r = {rho:g})",
        }
        for column in ("n1", "mean1", "sd1", "n2", "mean2", "sd2", "events1", "total1", "events2", "total2"):
            record[column] = mine[column].iloc[0] if single else np.nan
        # binary domains: the control group of the trial's largest table (the assumed risk's input)
        record["control_events"], record["control_total"] = largest["events2"], largest["total2"]
        # every other column: the trial's value where its rows agree (study characteristics), else "mixed"
        for column in rows.columns:
            record.setdefault(column, _common(mine[column]))
        records.append(record)
    return pd.DataFrame.from_records(records)


def _one_subgroup(groups: list, missing: int) -> str:
    """Why a subgroup variable is not analysed (fewer than two subgroups have trials)."""
    if not groups:
        return "no trial has a value"
    lead = f"every trial is '{groups[0]}'" if not missing else \
        f"the {len(groups)} trial(s) with a value are all '{groups[0]}'"
    return lead + (f" ({missing} without a value)" if missing else "")


def _subset(primary, mask) -> "meta.MetaResult | None":
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    if idx.size == 0:
        return None
    return primary.refit(idx)


def _fit(trials: pd.DataFrame, settings: dict, measure: str, **overrides) -> "meta.MetaResult":
    options = {"method": settings["method"], "ci": settings["ci"], "pi": settings["pi"], **overrides}
    return meta.rma(trials["yi"].to_numpy(float), trials["vi"].to_numpy(float),
                    labels=trials["label"].astype(str).tolist(), measure=measure, **options)


def _row_labels(rows: pd.DataFrame) -> list[str]:
    """Row labels for the all-rows analysis: the trial, and the instrument when a trial has several rows."""
    counts = rows["study_id"].value_counts()
    return [f"{label} ({instrument})" if counts[sid] > 1 else str(label)
            for sid, label, instrument in zip(rows["study_id"], rows["label"], rows["instrument"])]


# ---------------------------------------------------------------------------------------------
# the menu


def analyse_domain(ds, domain_id: str, preset: str = MAIN_PRESET, method=None, ci=None, pi=None,
                   judgements: dict | None = None) -> DomainReport:
    """Run every analysis of one outcome domain with the given conventions (module docstring).

    ``judgements``: the review team's GRADE judgements, which win over the rules (default: those
    of the dataset, ``ds.judgements`` from ``grade.yml``).
    """
    if judgements is None:
        judgements = ds.judgements
    spec = domain_spec(ds, domain_id)
    measure = spec["measure"]
    rows = dataset.effect_sizes(dataset.domain_rows(ds, domain_id), ds, measure=measure)
    rows = _with_rob(rows, ds.rob)
    rows = rows.sort_values(["year", "label", "outcome_id"], kind="mergesort").reset_index(drop=True)
    estimable = np.isfinite(rows["yi"].to_numpy(float))
    not_estimable = [f"{oid}: {why}" for oid, why in zip(rows.loc[~estimable, "outcome_id"],
                                                         rows.loc[~estimable, "es_method"])]
    rows = rows[estimable].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"domain {domain_id!r}: no row with an estimable effect ({'; '.join(not_estimable)})")
    settings = dict(_settings(preset, method, ci, pi), preset=preset)
    trials = trials_of(rows, measure=measure)
    primary = _fit(trials, settings, measure)
    rep = DomainReport(domain=spec, settings=settings, rows=rows, trials=trials, primary=primary,
                       not_estimable=not_estimable, instrument_table=ds.instruments)
    k = primary.k
    if len(rows) > k:
        rep.all_rows = meta.rma(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float), labels=_row_labels(rows),
                                measure=measure, method=settings["method"], ci=settings["ci"], pi=settings["pi"])

    _subgroups(rep)
    _sensitivity(rep, ds)
    _small_study_effects(rep)
    if rep.is_binary:
        if trials[["control_events", "control_total"]].notna().all().all():
            rep.control_risk = absolute.median_control_risk(trials["control_events"], trials["control_total"])
            rep.absolute = absolute.absolute_effect(measure, primary.estimate, primary.ci_low, primary.ci_high,
                                                    rep.control_risk)
    rep.published = published.oriented_estimates(ds, domain_id)
    rep.published_without_numbers = len(published.without_numbers(ds, domain_id))
    rep.quality_notes = dataset.quality_notes(ds, rows)
    rep.citations = dataset.citation_keys(ds, rows["study_id"])
    _certainty(rep, judgements)
    _living(rep)
    return rep


def _subgroups(rep: DomainReport) -> None:
    """Analyse the domain by each subgroup variable, into ``rep.subgroups``.

    Trials without a value (e.g. a trial the classifying review did not include) are left out,
    and a variable is analysed only where at least two subgroups have trials (and the domain has
    three trials).
    """
    trials, primary = rep.trials, rep.primary
    for column, _ in SUBGROUP_VARIABLES:
        values = trials[column].tolist() if column in trials.columns else [None] * len(trials)
        coded = np.array([is_coded(v) for v in values], dtype=bool)
        groups = [label_of(v, column) for v, c in zip(values, coded) if c]
        missing = int((~coded).sum())
        if primary.k < MIN_K_HETEROGENEITY:
            rep.subgroups[column] = f"not done: fewer than {MIN_K_HETEROGENEITY} trials"
        elif len(set(groups)) < 2:
            rep.subgroups[column] = "not done: " + _one_subgroup(groups, missing)
        else:
            fit = primary if missing == 0 else primary.refit(np.flatnonzero(coded))
            res = moderators.subgroup(fit, groups, tau2="separate")
            if missing:
                res.notes.append(f"{missing} of {primary.k} trials without a value left out")
            rep.subgroups[column] = res


def _sensitivity(rep: DomainReport, ds) -> None:
    primary, trials, settings, measure = rep.primary, rep.trials, rep.settings, rep.measure
    sens = [{"analysis": f"Main analysis: one effect per trial (within-trial r = {WITHIN_TRIAL_R:g})",
             "result": primary}]
    rep.sensitivity = sens
    if not rep.pooled:
        rep.skipped["sensitivity"] = "one trial: nothing to pool, so no sensitivity analysis"
        rep.skipped["leave_one_out"] = rep.skipped["cumulative"] = "one trial"
        return
    combined = trials["n_rows"] > 1
    if combined.any():
        for rho in WITHIN_TRIAL_R_SENSITIVITY:
            sens.append({"analysis": f"Within-trial correlation r = {rho:g}",
                         "result": _fit(trials_of(rep.rows, rho=rho, measure=measure), settings, measure),
                         "note": f"{int(combined.sum())} trial(s) with several rows"})
        sens.append({"analysis": "All rows as independent comparisons", "result": rep.all_rows,
                     "note": f"{len(rep.rows)} rows of {len(trials)} trials (ignores the dependence)"})
        # every row, with the dependence modelled: rows within trials (Konstantopoulos 2011), and
        # cluster-robust inference on that model (CR2, Pustejovsky & Tipton 2018)
        three_level = multilevel.rma_multilevel(
            rep.rows["yi"].to_numpy(float), rep.rows["vi"].to_numpy(float), rep.rows["study_id"].tolist(),
            method=settings["method"] if settings["method"] in ("REML", "ML") else "REML",
            test="z" if settings["ci"] == "z" else "t", labels=_row_labels(rep.rows), measure=measure,
            robust=len(trials) >= 2)
        sens.append({"analysis": "Three-level model (rows within trials)", "result": three_level,
                     "note": f"{len(rep.rows)} rows in {len(trials)} trials"})
        if three_level.robust is not None:
            sens.append({"analysis": "Three-level model, cluster-robust variance (CR2)", "result": three_level.robust,
                         "note": f"Satterthwaite df = {text(three_level.robust.df, 1)}"})
    low = trials["rob_overall"].eq("low")
    res = _subset(primary, low)
    sens.append({"analysis": "Low risk of bias only", "result": res,
                 "note": "" if res is not None else "no trial at low overall risk of bias"})
    if primary.k >= MIN_K_LEAVE_ONE_OUT:
        out = sensitivity.outliers(primary)
        res = _subset(primary, [lab not in out for lab in primary.labels]) if out else None
        sens.append({"analysis": "Outliers removed", "result": res,
                     "note": ("removed: " + "; ".join(out)) if out else "no outliers"})
        inf = sensitivity.influence(primary)
        flagged = inf.loc[inf["influential"].astype(bool), "study"].tolist()
        res = _subset(primary, [lab not in flagged for lab in primary.labels]) if flagged else None
        sens.append({"analysis": "Influential cases removed", "result": res,
                     "note": ("removed: " + "; ".join(flagged)) if flagged else "no influential cases"})
        rep.loo = sensitivity.leave_one_out(primary)
        rep.influence = inf
    else:
        rep.skipped["leave_one_out"] = f"fewer than {MIN_K_LEAVE_ONE_OUT} trials"
    alt = "DL" if settings["method"] != "DL" else "REML"
    sens.append({"analysis": f"Alternative estimator ({alt})", "result": _fit(trials, settings, measure, method=alt)})
    if settings["ci"] == "z":
        sens.append({"analysis": "Hartung-Knapp-Sidik-Jonkman interval",
                     "result": _fit(trials, settings, measure, ci="hk", pi="t-1")})
    else:
        sens.append({"analysis": "Wald-type intervals (metafor defaults)",
                     "result": _fit(trials, settings, measure, ci="z", pi="z"),
                     "note": "normal-distribution CI and prediction interval; narrower than "
                             "Hartung-Knapp-Sidik-Jonkman when trials are few"})
    if rep.is_binary and trials[["events1", "total1", "events2", "total2"]].notna().all().all():
        cells = {c: trials[c].to_numpy(float) for c in ("events1", "total1", "events2", "total2")}
        try:
            mh = meta.rma_mh(**cells, measure=measure, labels=trials["label"].astype(str).tolist())
            sens.append({"analysis": "Mantel-Haenszel (fixed effect)", "result": mh})
        except meta.UndefinedEstimateError as exc:   # e.g. no events in any control arm
            sens.append({"analysis": "Mantel-Haenszel (fixed effect)", "result": None, "note": f"not estimable: {exc}"})
    order = np.argsort(trials["year"].to_numpy(), kind="mergesort")
    rep.cumulative = sensitivity.cumulative(primary, order=order)
    rep.skipped.pop("cumulative", None)


def _small_study_effects(rep: DomainReport) -> None:
    primary = rep.primary
    if primary.k < MIN_K_SMALL_STUDY:
        rep.small_study_reason = (f"Egger's test and trim-and-fill are not reported: {primary.k} trial(s) "
                                  f"(fewer than {MIN_K_SMALL_STUDY}), too few for these methods to "
                                  "distinguish asymmetry from chance.")
        if primary.k < MIN_K_LEAVE_ONE_OUT:
            rep.skipped["funnel"] = f"fewer than {MIN_K_LEAVE_ONE_OUT} trials"
        else:
            rep.small_study_reason += " The funnel plot is shown for inspection."
    else:
        rep.egger = bias.regtest(primary)
        rep.trimfill = bias.trimfill(primary)


def _certainty(rep: DomainReport, judgements: dict) -> None:
    primary = rep.primary
    if not rep.pooled:
        rep.skipped["certainty"] = "one trial: no pooled estimate to grade"
        return
    if rep.measure not in ("SMD", *RATIO_MEASURES):
        # the rules' thresholds are on the standardised or the log-ratio scale; a difference in an
        # instrument's units (or a risk difference) would need its own minimally important difference
        rep.skipped["certainty"] = (f"the GRADE rules are defined for standardised mean differences and ratios, "
                                    f"not for a {MEASURE_NAMES[rep.measure].lower()}")
        return
    options = {}
    if rep.exp:
        # GRADE: an appreciable benefit or harm is a relative change of 25% (Guyatt et al. 2011,
        # J Clin Epidemiol 64:1283); the thresholds are then the MID alone, on the log scale
        options.update(mid=float(np.log(1.25)), ratio=True)
    rep.grade = grade.assess(rep.domain["id"], primary, overall_rob=rep.trials["rob_overall"].tolist(),
                             participants=rep.n_participants,
                             egger_p=rep.egger.p if rep.egger is not None else None, judgements=judgements, **options)


def _living(rep: DomainReport) -> None:
    if not rep.pooled:
        rep.skipped["living"] = "one trial: no pooled estimate to monitor"
        return
    if rep.measure != "SMD":
        # the required information size, the prior on tau and the new-trial variance of these
        # methods are set on the standardised-mean-difference scale
        rep.skipped["living"] = (f"defined here for standardised mean differences; not computed for a "
                                 f"{MEASURE_NAMES[rep.measure].lower()}")
        return
    primary, trials = rep.primary, rep.trials
    rep.sequential = monitor(primary, trials["year"].to_numpy(int), trials["participants"].to_numpy(float))
    rep.bayes = bayes_meta(primary.yi, primary.vi)
    rep.stability = stability(primary)
