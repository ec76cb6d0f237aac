"""The "Learn" chapters: every notebook runs, quotes only computed numbers, and its exercise
solutions equal the same computation done here directly with the package.

The notebooks are executed once (papermill, kernel ``python3``) into a temporary directory; the
glued values are read from the executed notebooks' outputs, where ``myst_nb.glue(..., display=False)``
stores them as ``application/papermill.record/text/plain`` with ``metadata.scrapbook.name``.
Reference values are recomputed with the package's tested functions (``analysis.stats.effects``,
``meta``, ``moderators``, ``bias``, ``sensitivity``, ``grade``), which are themselves checked
against metafor elsewhere; where a chapter computes a formula by hand, this is the cross-check.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from analysis import chapter, dataset
from analysis.stats import bias, conventions, effects, formatting, grade, meta, moderators, sensitivity

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LEARN = ROOT / "chapters" / "learn"
CHAPTERS = ["01-effect-sizes", "02-fixed-vs-random", "03-heterogeneity", "04-few-studies",
            "05-subgroups", "06-small-study-effects", "07-certainty-and-living"]
GLUE_MIME = "application/papermill.record/text/plain"
fmt, fmt_p = formatting.text, formatting.text_p


@pytest.fixture(scope="module")
def executed(built_book):
    """Each chapter as the session's book build executed it (papermill): {name: notebook}."""
    return {name: nbformat.read(built_book / "chapters" / "generated" / "learn" / f"{name}.ipynb", as_version=4)
            for name in CHAPTERS}


@pytest.fixture(scope="module")
def ds():
    return dataset.load(ROOT / "data")


def glued(nb) -> dict[str, str]:
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            meta_ = output.get("metadata", {}).get("scrapbook")
            if meta_ and GLUE_MIME in output.get("data", {}):
                values[meta_["name"]] = ast.literal_eval(output["data"][GLUE_MIME])
    return values


def glue(executed, name: str) -> dict[str, str]:
    return glued(executed[name])


def primary(ds, domain_id: str):
    return chapter.analyse_domain(ds, domain_id).primary


# ---------------------------------------------------------------------------------------------
# every chapter


@pytest.mark.parametrize("name", CHAPTERS)
def test_source_notebook_is_committed_without_outputs(name):
    nb = nbformat.read(LEARN / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, name


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_layout(name):
    nb = nbformat.read(LEARN / f"{name}.ipynb", as_version=4)
    assert nb.cells[0].cell_type == "markdown" and re.match(r"# \S", nb.cells[0].source), name
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first_code.metadata.get("tags", []) and "data_dir = None" in first_code.source
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "**Learning objectives.**" in text
    solutions = re.findall(r"`+\{admonition\} Solution\n:class: dropdown\n", text)
    assert 2 <= len(solutions) <= 4, (name, len(solutions))
    assert len(re.findall(r"\*\*Exercise \d\.\*\*", text)) == len(solutions)
    assert "## Try it" in text
    try_cell = [c.source for c in nb.cells if c.cell_type == "code" and "analyse_domain(ds, try_domain" in c.source]
    assert try_cell, name
    # headings never skip a level (jupyter-book -W fails on that)
    levels = [len(m) for c in nb.cells if c.cell_type == "markdown"
              for m in re.findall(r"^(#+) ", re.sub(r"```.*?```", "", c.source, flags=re.S), re.M)]
    assert levels[0] == 1 and all(b <= a + 1 for a, b in zip(levels, levels[1:])), (name, levels)


@pytest.mark.parametrize("name", CHAPTERS)
def test_runs_and_every_quoted_number_is_glued(executed, name):
    nb = executed[name]
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", (name, cell.source[:80])
    values = glued(nb)
    used = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            used |= set(re.findall(r"\{glue:text\}`([^`:]+)`", cell.source))
    assert used, name
    assert used <= set(values), (name, sorted(used - set(values)))
    # glued text is never empty or a placeholder for a missing value
    assert all(values[k] not in ("", "NA", "None", "nan") for k in used), name


# ---------------------------------------------------------------------------------------------
# 1. effect sizes


def _escalc_row(row, higher_is_better, **kwargs):
    return effects.escalc("SMD", n1=[row["n1"]], mean1=[row["mean1"]], sd1=[row["sd1"]], n2=[row["n2"]],
                          mean2=[row["mean2"]], sd2=[row["sd2"]], higher_is_better=higher_is_better, **kwargs)


def test_effect_sizes_chapter(executed, ds):
    g = glue(executed, "01-effect-sizes")
    rows = ds.outcomes.set_index("outcome_id")
    # the worked example: EPDS, lower is better (instruments.csv)
    dennis = _escalc_row(rows.loc["dennis2009-epds"], False)
    assert g["g"] == fmt(dennis.yi[0], 4) and g["v"] == f"{dennis.vi[0]:.5f}"
    assert g["hib"] == "lower"
    # exercise 1: Johnson 2018 BPRS, lower is better
    johnson = _escalc_row(rows.loc["johnson2018-bprs"], False)
    assert g["ex1_g"] == fmt(johnson.yi[0], 4) and g["ex1_se"] == f"{johnson.sei()[0]:.4f}"
    # exercise 2 and the RAS example: raw rows hold standard errors, the curated rows SDs
    raw = ds.raw_outcomes.set_index("outcome_id")
    for key, outcome in (("ex2_g", "salzer2016-lehman-qol"), ("salzer_g", "salzer2016-ras")):
        assert g[f"{key}_raw"] == fmt(_escalc_row(raw.loc[outcome], True).yi[0])
        assert g[f"{key}_curated"] == fmt(_escalc_row(rows.loc[outcome], True).yi[0])
    assert float(g["salzer_g_raw"]) > 3 * float(g["salzer_g_curated"])
    # exercise 3: RevMan 5 conventions
    revman = _escalc_row(rows.loc["dennis2009-epds"], False, vtype="revman5")
    assert g["ex3_g"] == fmt(revman.yi[0], 4) and g["ex3_v"] == f"{revman.vi[0]:.5f}"


# ---------------------------------------------------------------------------------------------
# 2. fixed vs random


def test_fixed_vs_random_chapter(executed, ds):
    g = glue(executed, "02-fixed-vs-random")
    cr = primary(ds, "clinical-recovery")
    assert g["re_est"] == fmt(cr.estimate, 3) and g["tau2"] == fmt(cr.tau2, 4)
    assert g["fe_est"] == fmt(meta.rma(cr.yi, cr.vi, method="FE").estimate, 3)
    assert g["dl_tau2"] == fmt(meta.rma(cr.yi, cr.vi, method="DL").tau2, 4)
    dep = primary(ds, "depression")
    assert g["ex1_fe"] == fmt(meta.rma(dep.yi, dep.vi, method="FE").estimate, 3)
    assert g["ex1_re"] == fmt(meta.rma(dep.yi, dep.vi, method="REML").estimate, 3)
    assert g["ex2_tau2"] == fmt(meta.rma(dep.yi, dep.vi, method="DL").tau2, 4)
    assert g["ex2_q"] == f"{meta.rma(dep.yi, dep.vi).q:.2f}"
    tau2 = {m: meta.rma(dep.yi, dep.vi, method=m).tau2 for m in ("DL", "REML", "PM", "ML", "SJ", "HE")}
    best = max(tau2, key=tau2.get)
    assert g["ex3_method"] == best and g["ex3_tau2"] == fmt(tau2[best], 4)


# ---------------------------------------------------------------------------------------------
# 3. heterogeneity


def test_heterogeneity_chapter(executed, ds):
    g = glue(executed, "03-heterogeneity")
    cr = primary(ds, "clinical-recovery")
    assert g["q"] == f"{cr.q:.2f}" and g["i2_q"] == f"{cr.i2_q:.1f}" and g["i2_tau2"] == f"{cr.i2_tau2:.1f}"
    t1 = meta.rma(cr.yi, cr.vi, pi="t-1")
    assert g["pi_t"] == f"{fmt(t1.pi_low)} to {fmt(t1.pi_high)}"
    # the same tau2 with trials ten times as large
    assert g["i2_m10"] == f"{meta.rma(cr.yi, cr.vi / 10, tau2=cr.tau2).i2_tau2:.0f}"
    assert float(g["i2_m10"]) > float(g["i2_m1"]) > float(g["i2_quarter"])
    dep = primary(ds, "depression")
    dep_fit = meta.rma(dep.yi, dep.vi)
    assert g["ex1_q"] == f"{dep_fit.q:.2f}" and g["ex1_i2"] == f"{dep_fit.i2_q:.1f}"
    ex2 = meta.rma(dep.yi, dep.vi, method="REML", pi="t-1")
    assert g["ex2_pi"] == f"{fmt(ex2.pi_low)} to {fmt(ex2.pi_high)}"
    # exercise 3: the multiplier m at which I2 (tau2-based) is 50%, found by the package
    from scipy.optimize import brentq
    m = brentq(lambda m: meta.rma(cr.yi, cr.vi / m, tau2=cr.tau2).i2_tau2 - 50.0, 1e-3, 1e4, xtol=1e-12)
    assert g["ex3_m"] == f"{m:.2f}"


# ---------------------------------------------------------------------------------------------
# 4. few studies and the coverage simulation


def test_few_studies_chapter(executed, ds):
    g = glue(executed, "04-few-studies")
    dep = primary(ds, "depression")
    hk = meta.rma(dep.yi, dep.vi, method="REML", ci="hk")
    assert g["dep_hk_ci"] == f"{fmt(hk.ci_low)} to {fmt(hk.ci_high)}"
    emp = primary(ds, "empowerment-self-efficacy")
    z, h = (meta.rma(emp.yi, emp.vi, method="REML", ci=ci) for ci in ("z", "hk"))
    assert g["ex1_ratio"] == f"{(h.ci_high - h.ci_low) / (z.ci_high - z.ci_low):.2f}"
    qol = primary(ds, "quality-of-life")
    widths = {ci: (lambda r: r.ci_high - r.ci_low)(meta.rma(qol.yi, qol.vi, method="REML", ci=ci))
              for ci in ("z", "hk", "hk-adhoc")}
    assert g["ex2_narrowest"] == min(widths, key=widths.get)
    assert g["ex2_widths"] == ", ".join(f"{ci} {w:.3f}" for ci, w in widths.items())
    fun = primary(ds, "functioning")
    fun_hk = meta.rma(fun.yi, fun.vi, method="REML", ci="hk")
    assert g["ex3_ci"] == f"{fmt(fun_hk.ci_low)} to {fmt(fun_hk.ci_high)}"


def _source_parameters() -> dict:
    nb = nbformat.read(LEARN / "04-few-studies.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    values = {}
    exec(cell.source, {}, values)
    return values


def test_simulation_states_seed_and_replications_and_matches_the_package(executed, ds):
    g = glue(executed, "04-few-studies")
    params = _source_parameters()
    assert g["seed"] == str(params["seed"]) and g["replications"] == f"{params['replications']:,}"
    records = json.loads(g["sim_coverage"])
    assert len(records) == int(g["n_scenarios"]) == 12
    # The chapter's data-generating model, rebuilt here: scenario 2 (k = 3, tau2 = 0.1) with the
    # same draws, fitted one meta-analysis at a time with meta.rma (DL; z and Knapp-Hartung CIs).
    k, tau2, mu = 3, 0.1, 0.2
    assert (records[2]["k"], records[2]["tau2"]) == (k, tau2) and g["true_mu"] == f"{mu:g}"
    pool_vi = primary(ds, "clinical-recovery").vi
    rng = np.random.default_rng([params["seed"], 2])
    reps = params["replications"]
    v = rng.choice(pool_vi, size=(reps, k))
    y = mu + rng.normal(size=(reps, k)) * np.sqrt(v + tau2)
    covered = {"z": 0, "hk": 0}
    for r in range(reps):
        for ci in covered:
            fit = meta.rma(y[r], v[r], method="DL", ci=ci)
            covered[ci] += fit.ci_low <= mu <= fit.ci_high
    assert records[2]["coverage z"] == covered["z"] / reps
    assert records[2]["coverage HK"] == covered["hk"] / reps
    assert float(g["max_diff"]) < 1e-10


# ---------------------------------------------------------------------------------------------
# 5. subgroups


def test_subgroups_chapter(executed, ds):
    g = glue(executed, "05-subgroups")
    # the chapter teaches the textbook Q test: Wald-type intervals (metafor's defaults)
    cr = chapter.analyse_domain(ds, "clinical-recovery", preset="metafor")
    sg = moderators.subgroup(cr.primary, cr.trials["population"].tolist())
    assert g["q_b"] == f"{sg.q_between:.2f}" and g["p_b"] == fmt_p(sg.p_between)
    pr = chapter.analyse_domain(ds, "personal-recovery", preset="metafor")
    ex1 = moderators.subgroup(pr.primary, pr.trials["delivery"].fillna("not reported").tolist())
    assert (g["ex1_q"], g["ex1_df"], g["ex1_p"]) == (f"{ex1.q_between:.2f}", str(ex1.df_between), fmt_p(ex1.p_between))
    ex2 = moderators.metareg(cr.primary.yi, cr.primary.vi, {"year": cr.trials["year"].to_numpy(float)}, ci="hk")
    row = ex2.coef.set_index("term").loc["year"]
    assert g["ex2_slope"] == fmt(row["estimate"], 4) and g["ex2_p"] == fmt_p(row["p"])
    ex3 = moderators.metareg(cr.primary.yi, cr.primary.vi, {"population": cr.trials["population"].tolist()})
    assert g["ex3_r2"] == f"{ex3.r2:.1f}"


# ---------------------------------------------------------------------------------------------
# 6. small-study effects


def test_small_study_chapter(executed, ds):
    g = glue(executed, "06-small-study-effects")
    cr = primary(ds, "clinical-recovery")
    lm = bias.regtest(cr, model="lm")
    assert g["egger_t"] == fmt(lm.statistic, 3) and g["egger_p"] == fmt_p(lm.p)
    tf = bias.trimfill(cr)
    assert g["tf_k0"] == str(tf.k0) and g["tf_est"] == fmt(tf.filled.estimate)
    ex1 = bias.regtest(primary(ds, "global-symptoms"), model="lm")
    assert (g["ex1_t"], g["ex1_df"], g["ex1_p"]) == (fmt(ex1.statistic, 3), str(ex1.df), fmt_p(ex1.p))
    ex2 = bias.trimfill(primary(ds, "personal-recovery"))
    assert g["ex2_k0"] == str(ex2.k0) and g["ex2_est"] == fmt(ex2.filled.estimate, 3)
    ex3 = bias.regtest(cr, predictor="vi")
    assert g["ex3_limit"] == fmt(ex3.limit_estimate, 3) and g["ex3_p"] == fmt_p(ex3.p)


# ---------------------------------------------------------------------------------------------
# 7. certainty and living


def _first_clear_year(rep) -> str:
    frame = sensitivity.cumulative(rep.primary, by=rep.trials["year"].tolist())
    years = sorted(rep.trials["year"])
    end_of_year = {year: row for year, (_, row) in zip(years, frame.iterrows())}  # the last step of each year wins
    clear = [year for year, row in end_of_year.items() if row["ci_low"] > 0]
    return str(min(clear)) if clear else "never"


def _grade(rep, domain_id, **kwargs):
    res = rep.primary
    egger_p = bias.regtest(res).p if res.k >= conventions.MIN_K_SMALL_STUDY else None
    return grade.assess(domain_id, res, overall_rob=rep.trials["rob_overall"].tolist(),
                        participants=rep.n_participants, egger_p=egger_p, **kwargs)


def test_certainty_and_living_chapter(executed, ds):
    g = glue(executed, "07-certainty-and-living")
    cr = chapter.analyse_domain(ds, "clinical-recovery")
    assert g["first_clear"] == _first_clear_year(cr)
    assert g["certainty"] == _grade(cr, "clinical-recovery").certainty.lower()
    assert g["ex1_year"] == _first_clear_year(chapter.analyse_domain(ds, "personal-recovery"))
    ex2 = _grade(chapter.analyse_domain(ds, "depression"), "depression")
    assert g["ex2_certainty"] == ex2.certainty.lower()
    assert g["ex2_domains"] == (", ".join(grade.DOMAIN_TITLES[j.domain].lower() for j in ex2.judgements
                                          if j.downgrade) or "none")
    assert g["ex3_certainty"] == _grade(cr, "clinical-recovery", mid=0.1).certainty.lower()
