"""The analyses of one outcome domain, as the book's chapter shows them.

``analyse_domain`` runs the whole menu (main analysis, subgroups, sensitivity, small-study
effects, cumulative analysis, published estimates, data-quality notes) with the package's tested
functions and returns a ``DomainReport``; the chapter notebook only displays it. Every number a
chapter shows is in ``DomainReport.to_dict()``, which the build writes to
``_build/results/<domain>.json``.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import bias, data, grade, meta, moderators, sensitivity
from analysis.bayes import bayes_meta
from analysis.sequential import monitor
from analysis.stability import stability

#: Subgroup variables of every chapter: (column of the domain rows, title).
SUBGROUP_VARIABLES = (
    ("format", "Format"),
    ("delivery", "Delivery"),
    ("comparator", "Comparator"),
    ("population", "Population"),
    ("rob_overall", "Overall risk of bias"),
)

ROB_DOMAINS = ("d1", "d2", "d3", "d4", "d5", "overall")

#: Minimum number of trials for small-study tests (Cochrane Handbook 13.3.5.4).
MIN_K_SMALL_STUDY = 10

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


# ---------------------------------------------------------------------------------------------
# text helpers


_MD_SPECIAL = set("\\`*_{}[]()<>#+-.!|$~:@%&^=\"'")


def md_escape(text) -> str:
    """Escape text from the data so that MyST/Markdown renders it literally.

    Every ASCII punctuation character that Markdown, MyST roles, HTML or math could interpret is
    backslash-escaped (CommonMark allows escaping any ASCII punctuation); newlines become spaces.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    out = []
    for ch in " ".join(str(text).split()):
        out.append("\\" + ch if ch in _MD_SPECIAL else ch)
    return "".join(out)


def fmt(value, digits: int = 2) -> str:
    """Format a number for the text (minus sign U+2212 as in print; None -> 'NA')."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "NA"
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text.replace("-", "\u2212")


def fmt_p(p) -> str:
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return "NA"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _table(frame: pd.DataFrame, uuid: str):
    """A table for the page: no index, text HTML-escaped (it comes from the data), and a fixed
    element id so that two builds write identical HTML."""
    return frame.style.hide(axis="index").format(escape="html").set_uuid(uuid)


def label_of(value, column: str) -> str:
    """Display name of a coded value of ``column`` ("not reported" when missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return "not reported"
    return LABELS.get(column, {}).get(str(value), str(value))


# ---------------------------------------------------------------------------------------------
# parameters, fingerprints


def chapter_parameters(domain_id: str) -> dict:
    """Papermill parameters of a domain chapter (besides the paths the build adds)."""
    return {"domain_id": domain_id, "preset": "metafor", "method": None, "ci": None}


def resolve_data_dir(data_dir=None) -> Path:
    """The dataset directory: the argument, $REVIEW_DATA_DIR, or the repository's data/."""
    if data_dir:
        return Path(data_dir)
    if os.environ.get("REVIEW_DATA_DIR"):
        return Path(os.environ["REVIEW_DATA_DIR"])
    return Path(__file__).resolve().parent.parent / "data"


def domain_spec(ds, domain_id: str) -> dict:
    for domain in ds.domains:
        if domain["id"] == domain_id:
            return domain
    known = ", ".join(d["id"] for d in ds.domains)
    raise KeyError(f"unknown domain {domain_id!r} (known: {known})")


def domain_slice(ds, domain_id: str, judgements: dict | None = None) -> bytes:
    """Canonical bytes of everything a domain chapter reads from the dataset.

    The outcome rows of the domain with their study characteristics and risk of bias (curated
    view), the curation decisions touching those studies, the published estimates of the domain,
    the domain's definition and its reviewed GRADE judgements. A change anywhere else in the data
    does not touch the chapter.
    """
    rows = data.domain_rows(ds, domain_id)
    rows = rows.sort_values("outcome_id").reset_index(drop=True)
    studies = sorted(set(rows["study_id"]))
    parts = {
        "domain": domain_spec(ds, domain_id),
        "rows": rows.to_csv(index=False),
        "rob": ds.rob[ds.rob["study_id"].isin(studies)].to_csv(index=False),
        "curation": ds.curation[ds.curation["study_id"].isin(studies)].to_csv(index=False),
        "published": _published(ds, domain_id).to_csv(index=False),
        "studies": ds.studies[ds.studies["study_id"].isin(studies)].to_csv(index=False),
        "grade": (judgements or {}).get(domain_id),
    }
    return json.dumps(parts, sort_keys=True, default=str).encode()


def chapter_substitutions(ds, domain_id: str) -> dict[str, str]:
    spec = domain_spec(ds, domain_id)
    return {
        "@DOMAIN_ID@": domain_id,
        "@DOMAIN_TITLE@": md_escape(spec.get("title", domain_id)),
        "@DOMAIN_TITLE_TEXT@": md_escape(spec.get("title", domain_id)).lower(),
        "@DOMAIN_DESCRIPTION@": md_escape(spec.get("description", "")),
    }


def _published(ds, domain_id: str) -> pd.DataFrame:
    pub = ds.published
    if "domain" not in pub.columns:
        return pub.iloc[0:0]
    return pub[pub["domain"] == domain_id].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# the analyses


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

    def conventions(self) -> str:
        s = self.settings
        ci = {"z": "Wald (z) CI", "hk": "Knapp-Hartung CI (t, k-1 df)",
              "hk-adhoc": "Knapp-Hartung ad hoc CI"}[s["ci"]]
        pi = {"z": "z", "t-1": "t with k-1 df", "t-2": "t with k-2 df"}[s["pi"]]
        return (f"random effects, {s['method']} estimator of tau², {ci}, Q-profile CI for tau², "
                f"prediction interval with {pi}; preset {s['preset']}")

    def numbers(self) -> dict[str, str]:
        p = self.primary
        return {
            "k": str(p.k),
            "n_studies": str(self.n_studies),
            "n_participants": str(self.n_participants),
            "estimate": fmt(p.estimate),
            "ci_low": fmt(p.ci_low),
            "ci_high": fmt(p.ci_high),
            "pi_low": fmt(p.pi_low),
            "pi_high": fmt(p.pi_high),
            "p": fmt_p(p.p),
            "tau2": fmt(p.tau2, 3),
            "i2_q": fmt(p.i2_q, 0),
            "i2_tau2": fmt(p.i2_tau2, 0),
            "q": fmt(p.q, 2),
            "conventions": self.conventions(),
        }

    def key_message_md(self) -> str:
        """Plain-language message: direction, size in words and certainty (GRADE wording)."""
        p = self.primary
        title = md_escape(self.domain.get("title", self.domain["id"])).lower()
        numbers = (f"g = {fmt(p.estimate)}, 95% CI {fmt(p.ci_low)} to {fmt(p.ci_high)}; "
                   f"{p.k} comparisons, {self.n_studies} trials, {self.n_participants} participants")
        if p.k < 2:
            return f"Only one comparison reports {title}; no pooled estimate is given ({numbers})."
        certainty = self.grade.certainty if self.grade else None
        if certainty:
            verb = grade.certainty_verb(certainty, p.estimate, p.ci_low, p.ci_high)
            size = grade.interpretation(p.estimate, ci_low=p.ci_low, ci_high=p.ci_high)
            text = (f"{verb[0].upper()}{verb[1:]} {title}. Estimated effect: {size} ({numbers}). "
                    f"Certainty of the evidence: **{certainty.lower()}**.")
        else:
            text = f"Pooled effect on {title}: {numbers}."
        if p.pi_low is not None and p.pi_high is not None and p.pi_low < 0 < p.pi_high and p.ci_low > 0:
            text += " The prediction interval includes no effect: a new trial in a similar setting could find none."
        return text

    # -- tables -------------------------------------------------------------------------
    def pooled_table(self):
        """The main result as a one-row table (a pandas Styler, shown without index)."""
        p = self.primary
        return pd.DataFrame([{
            "k": p.k,
            "trials": self.n_studies,
            "participants": self.n_participants,
            "g [95% CI]": f"{fmt(p.estimate)} [{fmt(p.ci_low)}, {fmt(p.ci_high)}]",
            "p": fmt_p(p.p),
            "95% PI": f"[{fmt(p.pi_low)}, {fmt(p.pi_high)}]",
            "tau² [95% CI]": f"{fmt(p.tau2, 3)} [{fmt(p.tau2_ci_low, 3)}, {fmt(p.tau2_ci_high, 3)}]",
            "I² (Q-based) [95% CI]": f"{fmt(p.i2_q, 0)}% [{fmt(p.i2_q_ci_low, 0)}, {fmt(p.i2_q_ci_high, 0)}]",
            "I² (tau²-based)": f"{fmt(p.i2_tau2, 0)}%",
            "Q (df, p)": f"{fmt(p.q)} ({p.q_df}, {fmt_p(p.q_p)})",
        }]).pipe(_table, f"{self.domain['id']}-pooled")

    def subgroup_table(self):
        """Subgroup estimates and tests for differences (a pandas Styler, shown without index)."""
        records = []
        for column, title in SUBGROUP_VARIABLES:
            result = self.subgroups.get(column)
            if isinstance(result, str) or result is None:
                records.append({"variable": title, "subgroup": "", "k": "", "g [95% CI]": "",
                                "I² (Q-based)": "", "test for differences": result or ""})
                continue
            first = True
            for name, res in result.groups.items():
                records.append({
                    "variable": title if first else "",
                    "subgroup": name,
                    "k": res.k,
                    "g [95% CI]": f"{fmt(res.estimate)} [{fmt(res.ci_low)}, {fmt(res.ci_high)}]",
                    "I² (Q-based)": "" if res.i2_q is None else f"{fmt(res.i2_q, 0)}%",
                    "test for differences": (f"Q = {fmt(result.q_between)}, df = {result.df_between}, "
                                             f"p = {fmt_p(result.p_between)}") if first else "",
                })
                first = False
        return pd.DataFrame(records).pipe(_table, f"{self.domain['id']}-subgroups")

    def subgroup_figures(self):
        from analysis import plots

        for column, title in SUBGROUP_VARIABLES:
            result = self.subgroups.get(column)
            if result is not None and not isinstance(result, str):
                yield title, plots.forest(result)

    def sensitivity_table(self):
        """The sensitivity menu (a pandas Styler, shown without index)."""
        records = []
        for item in self.sensitivity:
            res = item.get("result")
            if res is None:
                records.append({"analysis": item["analysis"], "k": "", "g [95% CI]": "",
                                "95% PI": "", "tau²": "", "I² (Q-based)": "", "note": item.get("note", "")})
                continue
            records.append({
                "analysis": item["analysis"],
                "k": res.k,
                "g [95% CI]": f"{fmt(res.estimate)} [{fmt(res.ci_low)}, {fmt(res.ci_high)}]",
                "95% PI": f"[{fmt(res.pi_low)}, {fmt(res.pi_high)}]",
                "tau²": fmt(res.tau2, 3),
                "I² (Q-based)": "" if res.i2_q is None else f"{fmt(res.i2_q, 0)}%",
                "note": item.get("note", ""),
            })
        return pd.DataFrame(records).pipe(_table, f"{self.domain['id']}-sensitivity")

    def small_study_md(self) -> str:
        if self.small_study_reason:
            return self.small_study_reason
        e, t = self.egger, self.trimfill
        lines = [
            f"Egger-type regression test (metafor `regtest` defaults: predictor standard error, same model): "
            f"z = {fmt(e.statistic)}, p = {fmt_p(e.p)}.",
            f"Trim-and-fill (L0 estimator): {t.k0} trial(s) imputed on the {t.side} side; adjusted "
            f"g = {fmt(t.filled.estimate)} (95% CI {fmt(t.filled.ci_low)} to {fmt(t.filled.ci_high)}).",
            "Funnel asymmetry can reflect publication bias, but also heterogeneity or chance; "
            "trim-and-fill is a sensitivity analysis, not a correction.",
        ]
        return "\n\n".join(lines)

    def published_md(self) -> str:
        pub = self.published
        if pub is None or pub.empty:
            return "No earlier review reported a pooled result mapped to this outcome."
        lines = ["| review | outcome as reported | timepoint | k | estimate [95% CI] | I² | flag |",
                 "|---|---|---|---|---|---|---|"]
        for _, r in pub.iterrows():
            est = "" if pd.isna(r.get("estimate")) else f"{r['estimate']} [{r.get('ci_low')}, {r.get('ci_high')}]"
            lines.append("| " + " | ".join(md_escape(x) for x in [
                r.get("review_id"), r.get("outcome"), r.get("timepoint"),
                "" if pd.isna(r.get("k")) else r.get("k"), est,
                "" if pd.isna(r.get("i2")) else r.get("i2"),
                r.get("inconsistency_note") if isinstance(r.get("inconsistency_note"), str) else ""]) + " |")
        ours = self.primary
        lines.append("")
        lines.append(f"This review (all comparisons, {md_escape(self.settings['method'])}): "
                     f"g = {fmt(ours.estimate)} [{fmt(ours.ci_low)}, {fmt(ours.ci_high)}], k = {ours.k}.")
        return "\n".join(lines)

    def quality_notes_md(self) -> str:
        if not self.quality_notes:
            return "No curation decisions or validator warnings touch this outcome."
        return "\n".join(f"- {md_escape(note)}" for note in self.quality_notes)

    def studies_md(self) -> str:
        keys = sorted(set(self.rows["study_id"]))
        return "This analysis includes " + ", ".join(f"{{cite:t}}`{k}`" for k in keys) + "."

    def arm_data(self) -> pd.DataFrame:
        cols = ["n1", "mean1", "sd1", "n2", "mean2", "sd2"]
        return self.rows[cols].reset_index(drop=True)

    def rob(self) -> pd.DataFrame:
        """RoB 2 judgements (D1-D5, overall) of each analysed row, in forest-plot order."""
        out = self.rows[[f"rob_{d}" for d in ROB_DOMAINS]].copy()
        out.columns = list(ROB_DOMAINS)
        out.insert(0, "study", self.primary.labels)
        return out.reset_index(drop=True)

    def summary_of_findings(self) -> dict:
        """The outcome's row of the summary-of-findings table (GRADE / Cochrane layout)."""
        p = self.primary
        return {
            "outcome": self.domain.get("title", self.domain["id"]),
            "domain": self.domain["id"],
            "participants": self.n_participants,
            "studies": self.n_studies,
            "k": p.k,
            "effect": {"measure": "SMD (Hedges' g)", "estimate": p.estimate, "ci_low": p.ci_low, "ci_high": p.ci_high},
            "interpretation": grade.interpretation(p.estimate, ci_low=p.ci_low, ci_high=p.ci_high),
            "certainty": self.grade.certainty if self.grade else None,
            "certainty_label": self.grade.certainty_label if self.grade else None,
            "footnotes": self.grade.footnotes() if self.grade else [],
        }

    def summary_of_findings_md(self) -> str:
        return sof_table_md([self.summary_of_findings()])

    def living_md(self) -> str:
        """Secondary living-update analyses: sequential monitoring, Bayesian model, stability."""
        parts = []
        if self.sequential is not None:
            parts.append(md_escape(self.sequential.summary()))
        if self.bayes is not None:
            b = self.bayes
            parts.append(
                f"Bayesian random-effects model (flat prior on the mean effect, half-normal prior on tau with scale "
                f"{b.tau_prior_scale}): posterior median g = {fmt(b.median)} (95% credible interval {fmt(b.ci_low)} to "
                f"{fmt(b.ci_high)}); probability that peer support helps (g > 0): {b.p_positive:.2f}; probability "
                f"that the effect exceeds the minimally important difference (g > {b.mid}): {b.p_above_mid:.2f}; "
                f"a new trial's effect: {fmt(b.predictive_low)} to {fmt(b.predictive_high)}.")
        if self.stability is not None:
            parts.append(md_escape(self.stability.statement))
        parts.append("These are secondary analyses: following the Cochrane Handbook, sequential methods do not "
                     "replace the main analysis.")
        return "\n\n".join(parts)

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
            "subgroups": subgroups,
            "sensitivity": sens,
            "small_study": small,
            "leave_one_out": frame(self.loo),
            "influence": frame(self.influence),
            "cumulative": frame(self.cumulative),
            "quality_notes": list(self.quality_notes),
            "numbers": self.numbers(),
            "key_message": self.key_message_md(),
            "grade": self.grade.to_dict() if self.grade else None,
            "summary_of_findings": self.summary_of_findings(),
            "living": {
                "sequential": self.sequential.to_dict() if self.sequential is not None else None,
                "bayes": self.bayes.to_dict() if self.bayes is not None else None,
                "stability": self.stability.to_dict() if self.stability is not None else None,
            },
        }

    def write_json(self, path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)


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


def load_judgements(data_dir=None) -> dict:
    """The reviewed GRADE judgements (``grade.yml`` beside the data), or none."""
    return grade.load_judgements(resolve_data_dir(data_dir) / "grade.yml")


def _with_rob(rows: pd.DataFrame, rob: pd.DataFrame) -> pd.DataFrame:
    """Add ``rob_d1`` ... ``rob_d5`` of each row: its outcome-specific judgements where they exist,
    else the study's (the rule ``data.domain_rows`` uses for ``rob_overall``)."""
    rows = rows.copy()
    values = {d: [] for d in ROB_DOMAINS[:-1]}
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

    ``judgements``: reviewed GRADE judgements (``load_judgements``), which win over the rules.
    """
    spec = domain_spec(ds, domain_id)
    rows = _with_rob(data.effect_sizes(data.domain_rows(ds, domain_id), ds), ds.rob)
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

    rep.published = _published(ds, domain_id)
    rep.quality_notes = data.quality_notes(ds, rows)

    # certainty and living-update methods (secondary)
    rep.grade = grade.assess(domain_id, primary, overall_rob=rows["rob_overall"].tolist(),
                             participants=rep.n_participants,
                             egger_p=rep.egger.p if rep.egger is not None else None, judgements=judgements)
    if primary.k >= 2:
        rep.sequential = monitor(primary, rows["year"].to_numpy(int), _first_per_study(rows))
        rep.bayes = bayes_meta(primary.yi, primary.vi)
        rep.stability = stability(primary)
    return rep


def sof_table_md(rows: list[dict]) -> str:
    """Summary-of-findings table in the GRADE/Cochrane layout, with numbered footnotes."""
    lines = ["| Outcome | Participants (trials) | Effect (95% CI) | What it means | Certainty |",
             "|---|---|---|---|---|"]
    notes: list[str] = []
    for r in rows:
        marks = []
        for note in r["footnotes"]:
            notes.append(note)
            marks.append(str(len(notes)))
        e = r["effect"]
        sup = f" <sup>{','.join(marks)}</sup>" if marks else ""
        lines.append(f"| {md_escape(r['outcome'])} | {r['participants']} ({r['studies']}) | SMD {fmt(e['estimate'])} "
                     f"({fmt(e['ci_low'])} to {fmt(e['ci_high'])}) | {md_escape(r['interpretation'])} | "
                     f"{md_escape(r['certainty_label'] or 'not graded')}{sup} |")
    text = "\n".join(lines)
    if notes:
        text += "\n\n" + "\n".join(f"{i}. {md_escape(n)}" for i, n in enumerate(notes, 1))
    text += ("\n\nSMD: standardised mean difference (Hedges' g), positive values favour peer support. "
             "Certainty (GRADE): ⊕⊕⊕⊕ high, ⊕⊕⊕◯ moderate, ⊕⊕◯◯ low, ⊕◯◯◯ very low.")
    return text


# ---------------------------------------------------------------------------------------------
# reproduction of published analyses


#: Smit et al. (2022) as quoted by the umbrella review (Cooper 2024, Tables 2-3): post-test,
#: Hedges' g, every row of the category pooled (rows, not trials), REML tau2, Knapp-Hartung CI
#: (t, k-1), I2 from Q with the Higgins-Thompson CI. The published numbers themselves are read
#: from data/published_estimates.csv.
METAPSY_SOURCE = "metapsy-peer-support"
SMIT_SETTINGS = {"method": "REML", "ci": "hk", "pi": "t-1", "effects": "recorded_g", "rows": "all"}


def reproduce_published(ds, data_dir=None) -> list[dict]:
    """Re-analyse Smit et al. (2022) from the same data with their settings, beside the print.

    Each entry: ``{"review", "outcome", "published", "reproduced", "curated", "settings", "match"}``
    with engine key names; ``match`` is True when every printed number equals ours rounded to the
    printed decimals (a printed bound such as ``p<0.001`` must hold). The printed text is read from
    ``published_estimates.csv`` as text, because trailing zeros carry the printed precision.
    """
    printed_all = pd.read_csv(resolve_data_dir(data_dir) / "published_estimates.csv", dtype=str,
                              keep_default_na=False).set_index("estimate_id")
    pub = ds.published
    smit = pub[(pub["review_id"] == "smit2022") & (pub["timepoint"] == "post") & pub["domain"].isin(
        ["clinical-recovery", "personal-recovery", "functional-recovery"])]
    out = []
    for _, row in smit.iterrows():
        domain_id = row["domain"]
        rows = data.domain_rows(ds, domain_id, curated=False)
        # Smit et al. pooled the Metapsy rows; trials added since have no recorded g
        rows = rows[rows["source"].astype(str).str.startswith(METAPSY_SOURCE)].reset_index(drop=True)
        if rows.empty:  # a dataset without the Metapsy rows (e.g. synthetic) has nothing to reproduce
            continue
        recorded = data.effect_sizes(rows, ds, as_published=True)
        res = meta.rma(recorded["yi"].to_numpy(float), recorded["vi"].to_numpy(float), method="REML",
                       ci="hk", pi="t-1", measure="SMD")
        printed = {key: printed_all.at[row["estimate_id"], column] for key, column in PRINTED_COLUMNS.items()
                   if printed_all.at[row["estimate_id"], column] != ""}
        reproduced = {key: _plain(getattr(res, key)) for key in PRINTED_COLUMNS}
        comparison = {key: _matches(text, reproduced[key]) for key, text in printed.items()}
        curated_rows = data.effect_sizes(data.domain_rows(ds, domain_id), ds)
        cur = meta.rma(curated_rows["yi"].to_numpy(float), curated_rows["vi"].to_numpy(float), method="REML",
                       ci="hk", pi="t-1", measure="SMD")
        differences = _row_differences(ds, recorded, curated_rows)
        out.append({
            "review": "smit2022",
            "outcome": domain_id,
            "published": {key: _num(text) for key, text in printed.items()},
            "printed": printed,
            "reproduced": reproduced,
            "comparison": comparison,
            "curated": {k: _plain(getattr(cur, k)) for k in ("k", "estimate", "ci_low", "ci_high", "i2_q", "tau2")},
            "settings": SMIT_SETTINGS,
            "differences": differences,
            "match": bool(comparison) and all(comparison.values()),
            "source": row.get("source"),
        })
    return out


#: Outcome-row fields that determine an effect size (curation decisions on them explain differences).
EFFECT_FIELDS = {"n1", "mean1", "sd1", "n2", "mean2", "sd2", "events1", "total1", "events2", "total2",
                 "yi", "sei", "recorded_g", "recorded_g_se", "data_type", "instrument"}


#: Rows whose as-published and curated effects differ by more than this are explained on the page.
DIFFERENCE_TOLERANCE = 0.005


def _row_differences(ds, recorded: pd.DataFrame, curated: pd.DataFrame,
                     tolerance: float = DIFFERENCE_TOLERANCE) -> list[dict]:
    """Rows whose effect differs between the as-published and the curated analysis, with why.

    The reason is the curation decision(s) on the row, else how the curated effect was computed
    (a recomputation from the arm data that does not reproduce the recorded g)."""
    by_id = curated.set_index("outcome_id")
    decisions: dict = {}
    for a in ds.applied:
        if a["action"] == "exclude" or a.get("field") in EFFECT_FIELDS:
            reason = f"{a['reason']} ({a['curation_id']})"
            mine = decisions.setdefault(a["outcome_id"] or a["study_id"], [])
            if not any(r.startswith(a["reason"]) for r in mine):
                mine.append(reason)
    out = []
    for _, row in recorded.iterrows():
        oid = row["outcome_id"]
        if oid not in by_id.index:
            out.append({"outcome_id": oid, "recorded_g": float(row["yi"]), "curated_g": None,
                        "reason": "; ".join(decisions.get(oid, decisions.get(row["study_id"], ["excluded"])))})
            continue
        cur = float(by_id.at[oid, "yi"])
        if abs(cur - float(row["yi"])) > tolerance:
            reasons = decisions.get(oid, []) + decisions.get(row["study_id"], [])
            out.append({"outcome_id": oid, "recorded_g": float(row["yi"]), "curated_g": cur,
                        "reason": "; ".join(reasons) or f"recomputed: {by_id.at[oid, 'es_method']}"})
    return out


#: Engine key -> column of published_estimates.csv holding the printed value.
PRINTED_COLUMNS = {"k": "k", "estimate": "estimate", "ci_low": "ci_low", "ci_high": "ci_high", "p": "p",
                   "i2_q": "i2", "i2_q_ci_low": "i2_ci_low", "i2_q_ci_high": "i2_ci_high"}


def _plain(value):
    if value is None:
        return None
    return int(value) if isinstance(value, (int, np.integer)) else float(value)


def _num(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return float(str(value).replace("\u2212", "-").strip().rstrip("%"))
    except ValueError:
        return None


def _matches(printed: str, value) -> bool:
    """Does ``value`` round to the printed text (``0.10`` -> 2 decimals; ``<0.001`` is a bound)?"""
    if value is None:
        return False
    text = printed.strip().replace("\u2212", "-").rstrip("%")
    if text.startswith(("<", ">")):
        bound = float(text.lstrip("<>=").strip())
        return value < bound if text.startswith("<") else value > bound
    decimals = len(text.split(".")[1]) if "." in text else 0
    return round(float(value), decimals) == round(float(text), decimals)
