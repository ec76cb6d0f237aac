"""The analyses of one outcome domain, as its chapter shows them.

``analyse_domain`` runs the whole menu (main analysis, subgroups, sensitivity, small-study
effects, cumulative analysis, published estimates, data-quality notes, certainty, living-update
analyses) with the engine's tested functions and returns a :class:`DomainReport`; the chapter
notebook only displays it (:mod:`analysis.chapter.render`). Every number a chapter shows is in
``DomainReport.to_dict()``, which the build writes to ``_build/results/<domain>.json``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import dataset
from analysis.chapter import domain_figures, render, sof
from analysis.chapter.labels import SUBGROUP_VARIABLES, label_of
from analysis.chapter.params import domain_spec, published_estimates
from analysis.dataset.files import atomic_write
from analysis.stats import bias, grade, meta, moderators, sensitivity
from analysis.stats.bayes import bayes_meta
from analysis.stats.conventions import MIN_K_SMALL_STUDY, ROB_COLUMNS, ROB_DOMAINS
from analysis.stats.formatting import text, text_p
from analysis.stats.sequential import monitor
from analysis.stats.stability import stability


def _settings(preset: str, method=None, ci=None, pi=None) -> dict:
    base = meta.PRESETS[preset]
    return {
        "method": method or base.method,
        "ci": ci or base.ci,
        "pi": pi or base.pi,
    }


def _row_labels(rows: pd.DataFrame) -> list[str]:
    """Study labels, disambiguated by instrument when a trial has several rows."""
    labels = rows["label"].astype(str).tolist()
    counts = pd.Series(labels).value_counts()
    out = []
    for label, instrument in zip(labels, rows["instrument"].astype(str)):
        out.append(f"{label} ({instrument})" if counts[label] > 1 else label)
    return out


@dataclass
class DomainReport:
    """Every analysis of one outcome domain, as its chapter shows it (see :func:`analyse_domain`)."""

    domain: dict
    settings: dict
    rows: pd.DataFrame
    primary: "meta.MetaResult"
    subgroups: dict = field(default_factory=dict)
    sensitivity: list = field(default_factory=list)
    loo: pd.DataFrame | None = None
    influence: pd.DataFrame | None = None
    cumulative: pd.DataFrame | None = None
    egger: object = None
    trimfill: object = None
    small_study_reason: str | None = None
    published: pd.DataFrame | None = None
    quality_notes: list = field(default_factory=list)
    grade: "grade.Grade | None" = None
    bayes: object = None
    sequential: object = None
    stability: object = None

    # -- numbers ------------------------------------------------------------------------
    @property
    def n_studies(self) -> int:
        return int(self.rows["study_id"].nunique())

    @property
    def n_participants(self) -> int:
        """Participants counted once per trial (the largest n among its rows)."""
        return int(np.nansum(_first_per_study(self.rows)))

    def numbers(self) -> dict[str, str]:
        p = self.primary
        return {
            "k": str(p.k),
            "n_studies": str(self.n_studies),
            "n_participants": str(self.n_participants),
            "estimate": text(p.estimate),
            "ci_low": text(p.ci_low),
            "ci_high": text(p.ci_high),
            "pi_low": text(p.pi_low),
            "pi_high": text(p.pi_high),
            "p": text_p(p.p),
            "tau2": text(p.tau2, 3),
            "i2_q": text(p.i2_q, 0),
            "i2_tau2": text(p.i2_tau2, 0),
            "q": text(p.q, 2),
            "conventions": render.conventions(self),
        }

    def arm_data(self) -> pd.DataFrame:
        cols = ["n1", "mean1", "sd1", "n2", "mean2", "sd2"]
        return self.rows[cols].reset_index(drop=True)

    def rob(self) -> pd.DataFrame:
        """RoB 2 judgements (D1-D5, overall) of each analysed row, in forest-plot order."""
        out = self.rows[[f"rob_{d}" for d in ROB_COLUMNS]].copy()
        out.columns = list(ROB_COLUMNS)
        out.insert(0, "study", self.primary.labels)
        return out.reset_index(drop=True)




    # -- JSON -----------------------------------------------------------------------------
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
        return {
            "domain": self.domain["id"],
            "title": self.domain.get("title"),
            "settings": self.settings,
            "n_studies": self.n_studies,
            "n_participants": self.n_participants,
            "studies": sorted(set(self.rows["study_id"])),
            "outcome_ids": sorted(self.rows["outcome_id"]),
            "primary": self.primary.to_dict(),
            "per_trial": domain_figures.per_trial_records(self),
            "subgroups": subgroups,
            "sensitivity": sens,
            "small_study": small,
            "leave_one_out": frame(self.loo),
            "influence": frame(self.influence),
            "cumulative": frame(self.cumulative),
            "quality_notes": list(self.quality_notes),
            "numbers": self.numbers(),
            "key_message": render.key_message_md(self),
            "grade": self.grade.to_dict() if self.grade else None,
            "summary_of_findings": sof.summary_of_findings(self),
            "living": {
                "sequential": self.sequential.to_dict() if self.sequential is not None else None,
                "bayes": self.bayes.to_dict() if self.bayes is not None else None,
                "stability": self.stability.to_dict() if self.stability is not None else None,
            },
        }

    def write_json(self, path) -> None:
        """Write :meth:`to_dict` as JSON (the build collects it into ``_build/results``)."""
        atomic_write(path, json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")


def _row_participants(rows: pd.DataFrame) -> np.ndarray:
    """n1 + n2 of each row; the trial's total n where a row has no arm sizes (effect-se rows)."""
    n = rows["n1"].astype(float) + rows["n2"].astype(float)
    if "n_total" in rows.columns:
        n = n.fillna(rows["n_total"].astype(float))
    return n.to_numpy(float)


def _first_per_study(rows: pd.DataFrame) -> np.ndarray:
    """Participants per row with each trial counted once (on its largest row), so sums are per trial."""
    n = _row_participants(rows)
    best: dict = {}
    for pos, (sid, value) in enumerate(zip(rows["study_id"], n)):
        if not np.isnan(value) and (sid not in best or value > n[best[sid]]):
            best[sid] = pos
    out = np.zeros(len(rows))
    for pos in best.values():
        out[pos] = n[pos]
    return out


def _with_rob(rows: pd.DataFrame, rob: pd.DataFrame) -> pd.DataFrame:
    """Add ``rob_d1`` ... ``rob_d5`` of each row.

    Its outcome-specific judgements where they exist, else the study's (the rule
    ``data.domain_rows`` uses for ``rob_overall``).
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


def _subset(primary, mask) -> "meta.MetaResult | None":
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    if idx.size == 0:
        return None
    return primary.refit(idx)


def analyse_domain(ds, domain_id: str, preset: str = "metafor", method=None, ci=None, pi=None,
                   judgements: dict | None = None) -> DomainReport:
    """Run every analysis of one outcome domain with the given conventions.

    ``judgements``: the review team's GRADE judgements, which win over the rules (default: those
    of the dataset, ``ds.judgements`` from ``grade.yml``).
    """
    if judgements is None:
        judgements = ds.judgements
    spec = domain_spec(ds, domain_id)
    rows = _with_rob(dataset.effect_sizes(dataset.domain_rows(ds, domain_id), ds), ds.rob)
    rows = rows.sort_values(["year", "label", "outcome_id"], kind="mergesort").reset_index(drop=True)
    settings = dict(_settings(preset, method, ci, pi), preset=preset)
    labels = _row_labels(rows)
    primary = meta.rma(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float), method=settings["method"],
                       ci=settings["ci"], pi=settings["pi"], labels=labels, measure="SMD")
    rep = DomainReport(domain=spec, settings=settings, rows=rows, primary=primary)

    # subgroups
    for column, title in SUBGROUP_VARIABLES:
        values = rows[column] if column in rows.columns else pd.Series([None] * len(rows))
        groups = [label_of(v, column) for v in values]
        if primary.k < 2:
            rep.subgroups[column] = "not done: fewer than two comparisons"
        elif len(set(groups)) < 2:
            rep.subgroups[column] = f"not done: every comparison is '{groups[0]}'"
        else:
            rep.subgroups[column] = moderators.subgroup(primary, groups, tau2="separate")

    # sensitivity menu
    sens = [{"analysis": "All comparisons (main analysis)", "result": primary}]
    if primary.k >= 2:
        per_study = sensitivity.aggregate(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float),
                                          rows["study_id"].tolist(), rho=0.5)
        sens.append({"analysis": "One effect per trial", "result": meta.rma(
            per_study.yi, per_study.vi, labels=per_study.labels, measure="SMD",
            method=settings["method"], ci=settings["ci"], pi=settings["pi"]),
            "note": "within-trial effects aggregated assuming r = 0.5"})
        low = rows["rob_overall"].eq("low") if "rob_overall" in rows else pd.Series(False, index=rows.index)
        res = _subset(primary, low)
        sens.append({"analysis": "Low risk of bias only", "result": res,
                     "note": "" if res is not None else "no trial at low overall risk of bias"})
        out = sensitivity.outliers(primary)
        res = _subset(primary, [lab not in out for lab in primary.labels]) if out else None
        sens.append({"analysis": "Outliers removed", "result": res,
                     "note": ("removed: " + "; ".join(out)) if out else "no outliers"})
        inf = sensitivity.influence(primary)
        flagged = inf.loc[inf["influential"].astype(bool), "study"].tolist()
        res = _subset(primary, [lab not in flagged for lab in primary.labels]) if flagged else None
        sens.append({"analysis": "Influential cases removed", "result": res,
                     "note": ("removed: " + "; ".join(flagged)) if flagged else "no influential cases"})
        alt = "DL" if settings["method"] != "DL" else "REML"
        sens.append({"analysis": f"Alternative estimator ({alt})",
                     "result": meta.rma(primary.yi, primary.vi, method=alt, ci=settings["ci"],
                                        pi=settings["pi"], labels=primary.labels, measure="SMD")})
        sens.append({"analysis": "Knapp-Hartung confidence interval",
                     "result": meta.rma(primary.yi, primary.vi, method=settings["method"], ci="hk",
                                        pi="t-1", labels=primary.labels, measure="SMD")})
        rep.loo = sensitivity.leave_one_out(primary)
        rep.influence = inf
        order = np.argsort(rows["year"].to_numpy(), kind="mergesort")
        rep.cumulative = sensitivity.cumulative(primary, order=order)
    rep.sensitivity = sens

    # small-study effects
    if primary.k < MIN_K_SMALL_STUDY:
        rep.small_study_reason = (f"Egger's test and trim-and-fill are not reported: {primary.k} comparisons "
                                  f"(fewer than {MIN_K_SMALL_STUDY}), too few for these methods to "
                                  "distinguish asymmetry from chance. The funnel plot is shown for inspection.")
    else:
        rep.egger = bias.regtest(primary)
        rep.trimfill = bias.trimfill(primary)

    rep.published = published_estimates(ds, domain_id)
    rep.quality_notes = dataset.quality_notes(ds, rows)

    # certainty and living-update methods (secondary)
    rep.grade = grade.assess(domain_id, primary, overall_rob=rows["rob_overall"].tolist(),
                             participants=rep.n_participants,
                             egger_p=rep.egger.p if rep.egger is not None else None, judgements=judgements)
    if primary.k >= 2:
        rep.sequential = monitor(primary, rows["year"].to_numpy(int), _first_per_study(rows))
        rep.bayes = bayes_meta(primary.yi, primary.vi)
        rep.stability = stability(primary)
    return rep
