"""The "Learn" chapters: a course that opens and runs where a student is.

- The stored notebooks (``chapters/learn/*.ipynb``, committed without outputs) follow the course's
  layout: learning objectives, time, exercises each followed by a solution, a question for
  discussion with a model answer, key points.
- They read the same in JupyterLab as in the book: no ``{glue:...}`` placeholder in their text
  (numbers are printed by code cells, sentences with numbers are the Markdown output of a cell),
  every cell the book hides is collapsed in JupyterLab (``metadata.jupyter``), solutions and model
  answers are hidden in both, and the visible code holds no page machinery.
- Every chapter runs: as the session's book build executed it (papermill), and as stored under
  nbval (the launch buttons' environment opens them so).
- Each exercise's solution, and the chapter's key numbers, equal the same computation done here
  directly with the package's tested functions. The values are read from the executed notebooks,
  where ``myst_nb.glue(..., display=False)`` stores them as ``application/papermill.record/text/plain``
  outputs with ``metadata.scrapbook.name``.
- The landing page (``chapters/learn/index.md``) lists every chapter, in the order of the table of
  contents, with the time the chapter itself states.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml

from analysis import chapter, dataset
from analysis.book import pages
from analysis.stats import (
    absolute,
    bayes,
    bias,
    conventions,
    effects,
    formatting,
    grade,
    meta,
    moderators,
    multilevel,
    sensitivity,
    sequential,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LEARN = ROOT / "chapters" / "learn"
CHAPTERS = sorted(p.stem for p in LEARN.glob("*.ipynb"))
GLUE_MIME = "application/papermill.record/text/plain"
fmt, fmt_p = formatting.text, formatting.text_p

#: Tags under which the book hides a cell's input, its output, or both (myst-nb).
HIDES_INPUT = {"remove-cell", "remove-input", "hide-cell", "hide-input"}
HIDES_OUTPUT = {"remove-cell", "remove-output", "hide-cell", "hide-output"}
#: A cell the book removes but a JupyterLab student should see: the empty cell for an attempt.
YOUR_TURN = "your-turn"


def source(name: str):
    return nbformat.read(LEARN / f"{name}.ipynb", as_version=4)


def tags(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


@pytest.fixture(scope="module")
def executed(built_book):
    """Each chapter as the session's book build executed it (papermill): {name: notebook}."""
    return {name: nbformat.read(built_book / "chapters" / "generated" / "learn" / f"{name}.ipynb", as_version=4)
            for name in CHAPTERS}


@pytest.fixture(scope="module")
def ds():
    return dataset.load(ROOT / "data")


@pytest.fixture(scope="module")
def reports(ds):
    return {d["id"]: chapter.analyse_domain(ds, d["id"]) for d in ds.domains}


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


def primary(reports, domain_id: str):
    return reports[domain_id].primary


def interval(low, high) -> str:
    return f"{fmt(low)} to {fmt(high)}"


# ---------------------------------------------------------------------------------------------
# every chapter: layout, and the same reading in JupyterLab as in the book


def test_there_are_chapters():
    assert len(CHAPTERS) >= 14 and CHAPTERS[0].startswith("01-")


@pytest.mark.parametrize("name", CHAPTERS)
def test_source_notebook_is_committed_without_outputs(name):
    nb = source(name)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, name


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_layout(name):
    nb = source(name)
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and re.match(r"# \S", cells[0].source), name
    first_code = next(c for c in cells if c.cell_type == "code")
    assert "parameters" in tags(first_code) and "data_dir = None" in first_code.source
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "**Learning objectives.**" in text and re.search(r"\*\*Before you start\.\*\*[^#]*?About\s+\d+\s+minutes", text)
    assert "## Key points" in text
    # every exercise is followed, before the next markdown cell, by its hidden solution
    exercises = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and re.search(r"\*\*Exercise \d", c.source)]
    assert len(exercises) >= 3, (name, len(exercises))
    for i in exercises:
        following = []
        for cell in cells[i + 1:]:
            if cell.cell_type == "markdown":
                break
            following.append(cell)
        assert any("solution" in tags(c) for c in following), (name, cells[i].source[:60])
    # a question for discussion (in a markdown cell, or written by a narration cell when it
    # quotes numbers), answered by a model answer
    question = next(i for i, c in enumerate(cells) if "**Question for discussion.**" in c.source)
    assert "model-answer" in tags(cells[question + 1]), name
    # headings never skip a level (jupyter-book -W fails on that)
    levels = [len(m) for c in cells if c.cell_type == "markdown"
              for m in re.findall(r"^(#+) ", re.sub(r"```.*?```", "", c.source, flags=re.S), re.M)]
    assert levels[0] == 1 and all(b <= a + 1 for a, b in zip(levels, levels[1:])), (name, levels)


@pytest.mark.parametrize("name", CHAPTERS)
def test_reads_the_same_in_jupyterlab_as_in_the_book(name):
    for cell in source(name).cells:
        if cell.cell_type == "markdown":
            # a glue role renders only in the book; in JupyterLab it is a raw placeholder
            assert "{glue" not in cell.source, (name, cell.source[:80])
            continue
        hidden = cell.metadata.get("jupyter", {})
        book_hides_input = bool(tags(cell) & HIDES_INPUT) and YOUR_TURN not in tags(cell)
        assert bool(hidden.get("source_hidden")) == book_hides_input, (name, cell.id, cell.source[:60])
        book_hides_output = bool(tags(cell) & (HIDES_OUTPUT - {"remove-cell"})) or "record" in tags(cell)
        assert bool(hidden.get("outputs_hidden")) == book_hides_output, (name, cell.id, cell.source[:60])
        if "solution" in tags(cell) or "model-answer" in tags(cell):
            assert hidden.get("source_hidden") and hidden.get("outputs_hidden"), (name, cell.id)
        if not tags(cell) & (HIDES_INPUT | {"parameters"}):
            # the code a student reads is the statistics, not the page's bookkeeping
            assert not re.search(r"\b(glue|record|say)\(|myst_nb", cell.source), (name, cell.source[:80])


@pytest.mark.parametrize("name", CHAPTERS)
def test_runs_and_shows_its_numbers(executed, name):
    nb = executed[name]
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", (name, cell.source[:80])
            data = output.get("data", {})
            plain = "".join(data.get("text/plain", ""))
            if set(data) == {"text/plain"} and not tags(cell) & HIDES_OUTPUT:
                assert "np.float64(" not in plain, (name, cell.source[:80], plain[:80])
        if "remove-input" in tags(cell) and "record" not in tags(cell):
            # a narration or model-answer cell shows Markdown
            assert any("text/markdown" in o.get("data", {}) for o in cell.outputs), (name, cell.source[:80])
        if "model-answer" in tags(cell):
            assert any("".join(o["data"]["text/markdown"]).startswith("**Model answer.**")
                       for o in cell.outputs if "text/markdown" in o.get("data", {})), name
        if "solution" in tags(cell):
            assert cell.outputs, (name, cell.source[:80])   # a solution shows its answer
    values = glued(nb)
    assert values and all(v not in ("", "NA", "None", "nan") for v in values.values()), name


def test_stored_notebooks_pass_nbval(tmp_path):
    """The notebooks as stored run from top to bottom in a fresh kernel (nbval), as a student's
    JupyterLab does after a launch button."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           "--nbval-current-env", *[str(LEARN / f"{name}.ipynb") for name in CHAPTERS]],
                          capture_output=True, text=True, cwd=tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_nbval_fails_on_a_notebook_that_raises(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('probe')")],
                                  metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nbformat.write(nb, tmp_path / "probe.ipynb")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           "--nbval-current-env", str(tmp_path / "probe.ipynb")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode != 0 and "probe" in proc.stdout


# ---------------------------------------------------------------------------------------------
# the landing page


def _landing_links() -> list[str]:
    text = (LEARN / "index.md").read_text(encoding="utf-8")
    return re.findall(r"\]\(\.\./generated/learn/([0-9a-z-]+)\.ipynb\)", text)


def test_landing_page_lists_every_chapter_in_toc_order():
    ds_ = dataset.load(ROOT / "data")
    toc = yaml.safe_load(pages.toc(ds_.domains, CHAPTERS))
    learn_part = next(p for p in toc["parts"] if p["caption"].startswith("Learn"))
    files = [c["file"] for c in learn_part["chapters"]]
    assert files[0] == "chapters/learn/index" and files[-1] == "chapters/learn/reading"
    in_toc = [f.rsplit("/", 1)[1] for f in files if f.startswith("chapters/generated/learn/")]
    assert in_toc == CHAPTERS
    assert _landing_links() == in_toc
    # the committed table of contents is the generated one
    assert (ROOT / "_toc.yml").read_text(encoding="utf-8") == pages.toc(ds_.domains, CHAPTERS)


def test_landing_page_times_are_the_chapters_own():
    text = (LEARN / "index.md").read_text(encoding="utf-8")
    for name in CHAPTERS:
        row = next(line for line in text.splitlines() if f"generated/learn/{name}.ipynb" in line)
        listed = re.search(r"\| (\d+)\s+min \|$", row).group(1)
        intro = "\n".join(c.source for c in source(name).cells if c.cell_type == "markdown")
        stated = re.search(r"About\s+(\d+)\s+minutes", intro).group(1)
        assert listed == stated, name


def test_landing_page_states_the_licence_and_sequences():
    text = (LEARN / "index.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in text and "creativecommons.org/licenses/by/4.0" in text
    assert "one-day workshop" in text and "four-week course" in text


def test_built_landing_page_links_every_chapter(built_book):
    html = (built_book / "_build" / "html" / "chapters" / "learn" / "index.html").read_text(encoding="utf-8")
    for name in CHAPTERS:
        assert f'href="../generated/learn/{name}.html"' in html, name


# ---------------------------------------------------------------------------------------------
# 1. effect sizes


def _escalc_row(row, higher_is_better, **kwargs):
    return effects.escalc("SMD", n1=[row["n1"]], mean1=[row["mean1"]], sd1=[row["sd1"]], n2=[row["n2"]],
                          mean2=[row["mean2"]], sd2=[row["sd2"]], higher_is_better=higher_is_better, **kwargs)


def test_effect_sizes_chapter(executed, ds):
    g = glue(executed, "01-effect-sizes")
    rows = ds.outcomes.set_index("outcome_id")
    dennis = _escalc_row(rows.loc["dennis2009-epds"], False)      # EPDS: lower is better
    assert g["g"] == fmt(dennis.yi[0], 4) and g["v"] == f"{dennis.vi[0]:.5f}" and g["hib"] == "lower"
    johnson = _escalc_row(rows.loc["johnson2018-bprs"], False)
    assert g["ex1_g"] == fmt(johnson.yi[0], 4) and g["ex1_se"] == f"{johnson.sei()[0]:.4f}"
    raw = ds.raw_outcomes.set_index("outcome_id")
    for key, outcome in (("ex2_g", "salzer2016-lehman-qol"), ("salzer_g", "salzer2016-ras")):
        assert g[f"{key}_raw"] == fmt(_escalc_row(raw.loc[outcome], True).yi[0])
        assert g[f"{key}_curated"] == fmt(_escalc_row(rows.loc[outcome], True).yi[0])
    assert float(g["salzer_g_raw"]) > 3 * float(g["salzer_g_curated"])
    revman = _escalc_row(rows.loc["dennis2009-epds"], False, vtype="revman5")
    assert g["ex3_g"] == fmt(revman.yi[0], 4) and g["ex3_v"] == f"{revman.vi[0]:.5f}"


# ---------------------------------------------------------------------------------------------
# 2. fixed vs random


def test_fixed_vs_random_chapter(executed, reports):
    g = glue(executed, "02-fixed-vs-random")
    cr = primary(reports, "clinical-recovery")
    assert g["k"] == str(cr.k)
    reml = meta.rma(cr.yi, cr.vi, method="REML")
    assert g["re_est"] == fmt(reml.estimate, 3) and g["tau2"] == fmt(reml.tau2, 4)
    assert g["fe_est"] == fmt(meta.rma(cr.yi, cr.vi, method="FE").estimate, 3)
    assert g["dl_tau2"] == fmt(meta.rma(cr.yi, cr.vi, method="DL").tau2, 4)
    dep = primary(reports, "depression")
    assert g["ex1_fe"] == fmt(meta.rma(dep.yi, dep.vi, method="FE").estimate, 3)
    assert g["ex1_re"] == fmt(meta.rma(dep.yi, dep.vi, method="REML").estimate, 3)
    assert g["ex2_tau2"] == fmt(meta.rma(dep.yi, dep.vi, method="DL").tau2, 4)
    assert g["ex2_q"] == f"{meta.rma(dep.yi, dep.vi).q:.2f}"
    tau2 = {m: meta.rma(dep.yi, dep.vi, method=m).tau2 for m in ("DL", "REML", "PM", "ML", "SJ", "HE")}
    best = max(tau2, key=tau2.get)
    assert g["ex3_method"] == best and g["ex3_tau2"] == fmt(tau2[best], 4)


# ---------------------------------------------------------------------------------------------
# 3. heterogeneity


def test_heterogeneity_chapter(executed, reports):
    g = glue(executed, "03-heterogeneity")
    cr = primary(reports, "clinical-recovery")
    fit = meta.rma(cr.yi, cr.vi, method="REML")
    assert g["q"] == f"{fit.q:.2f}" and g["i2_q"] == f"{fit.i2_q:.1f}" and g["i2_tau2"] == f"{fit.i2_tau2:.1f}"
    t1 = meta.rma(cr.yi, cr.vi, method="REML", pi="t-1")
    assert g["pi_t"] == interval(t1.pi_low, t1.pi_high)
    assert g["i2_m10"] == f"{meta.rma(cr.yi, cr.vi / 10, tau2=fit.tau2).i2_tau2:.0f}"
    assert float(g["i2_m10"]) > float(g["i2_m1"]) > float(g["i2_quarter"])
    dep = primary(reports, "depression")
    dep_fit = meta.rma(dep.yi, dep.vi)
    assert g["ex1_q"] == f"{dep_fit.q:.2f}" and g["ex1_i2"] == f"{dep_fit.i2_q:.1f}"
    ex2 = meta.rma(dep.yi, dep.vi, method="REML", pi="t-1")
    assert g["ex2_pi"] == interval(ex2.pi_low, ex2.pi_high)
    # exercise 3: the multiplier m at which I2 (tau2-based) is 50%, found by the package
    from scipy.optimize import brentq
    m = brentq(lambda m: meta.rma(cr.yi, cr.vi / m, tau2=fit.tau2).i2_tau2 - 50.0, 1e-3, 1e4, xtol=1e-12)
    assert g["ex3_m"] == f"{m:.2f}"


# ---------------------------------------------------------------------------------------------
# 4. few studies and the coverage simulation


def test_few_studies_chapter(executed, reports, ds):
    g = glue(executed, "04-few-studies")
    dep = primary(reports, "depression")
    hk = meta.rma(dep.yi, dep.vi, method="REML", ci="hk")
    assert g["dep_hk_ci"] == interval(hk.ci_low, hk.ci_high)
    # the chapter says which interval the review's main analysis uses: the one it really uses
    assert g["main_ci"] == reports["depression"].settings["ci"]
    emp = primary(reports, "empowerment-self-efficacy")
    z, h = (meta.rma(emp.yi, emp.vi, method="REML", ci=ci) for ci in ("z", "hk"))
    assert g["ex1_ratio"] == f"{(h.ci_high - h.ci_low) / (z.ci_high - z.ci_low):.2f}"
    qol = primary(reports, "quality-of-life")
    widths = {ci: (lambda r: r.ci_high - r.ci_low)(meta.rma(qol.yi, qol.vi, method="REML", ci=ci))
              for ci in ("z", "hk", "hk-adhoc")}
    assert g["ex2_narrowest"] == min(widths, key=widths.get)
    assert g["ex2_widths"] == ", ".join(f"{ci} {w:.3f}" for ci, w in widths.items())
    fun = primary(reports, "functioning")
    fun_hk = meta.rma(fun.yi, fun.vi, method="REML", ci="hk")
    assert g["ex3_ci"] == interval(fun_hk.ci_low, fun_hk.ci_high)


def _source_parameters() -> dict:
    cell = next(c for c in source("04-few-studies").cells if "parameters" in tags(c))
    values = {}
    exec(cell.source, {}, values)
    return values


def test_simulation_states_seed_and_replications_and_matches_the_package(executed, reports):
    g = glue(executed, "04-few-studies")
    params = _source_parameters()
    assert g["seed"] == str(params["seed"]) and g["replications"] == f"{params['replications']:,}"
    records = json.loads(g["sim_coverage"])
    assert len(records) == int(g["n_scenarios"]) == 12
    # The chapter's data-generating model, rebuilt here: scenario 2 (k = 3, tau2 = 0.1) with the
    # same draws, fitted one meta-analysis at a time with meta.rma (DL; z and Knapp-Hartung CIs).
    k, tau2, mu = 3, 0.1, 0.2
    assert (records[2]["k"], records[2]["tau2"]) == (k, tau2) and g["true_mu"] == f"{mu:g}"
    pool_vi = primary(reports, "clinical-recovery").vi
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


def test_small_study_chapter(executed, reports):
    g = glue(executed, "06-small-study-effects")
    cr = primary(reports, "clinical-recovery")
    lm = bias.regtest(cr, model="lm")
    assert g["egger_t"] == fmt(lm.statistic, 3) and g["egger_p"] == fmt_p(lm.p)
    tf = bias.trimfill(cr)
    assert g["tf_k0"] == str(tf.k0) and g["tf_est"] == fmt(tf.filled.estimate)
    ex1 = bias.regtest(primary(reports, "global-symptoms"), model="lm")
    assert (g["ex1_t"], g["ex1_df"], g["ex1_p"]) == (fmt(ex1.statistic, 3), str(ex1.df), fmt_p(ex1.p))
    ex2 = bias.trimfill(primary(reports, "personal-recovery"))
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


def test_certainty_and_living_chapter(executed, reports, ds):
    g = glue(executed, "07-certainty-and-living")
    cr = reports["clinical-recovery"]
    assert g["first_clear"] == _first_clear_year(cr)
    assert g["certainty"] == _grade(cr, "clinical-recovery").certainty.lower()
    # the recorded judgements shown are those of data/grade.yml, whatever it holds
    recorded = dataset.load_judgements(ROOT / "data")
    assert g["n_recorded"] == str(sum(name in grade.DOMAIN_TITLES for entries in recorded.values() for name in entries))
    assert g["ex1_year"] == _first_clear_year(reports["personal-recovery"])
    ex2 = _grade(reports["depression"], "depression")
    assert g["ex2_certainty"] == ex2.certainty.lower()
    assert g["ex2_domains"] == (", ".join(grade.DOMAIN_TITLES[j.domain].lower() for j in ex2.judgements
                                          if j.downgrade) or "none")
    assert g["ex3_certainty"] == _grade(cr, "clinical-recovery", mid=0.1).certainty.lower()
    one_more = _grade(cr, "clinical-recovery", judgements={"clinical-recovery": {"indirectness": {
        "downgrade": 1, "reason": "example"}}})
    assert g["ex4_certainty"] == one_more.certainty.lower()


def test_certainty_chapter_shows_the_judgement_file_beside_the_rules(executed, ds):
    text = "\n".join("".join(o["data"]["text/markdown"]) for c in executed["07-certainty-and-living"].cells
                     for o in c.get("outputs", []) if "text/markdown" in o.get("data", {}))
    recorded = {d: {name: e for name, e in entries.items() if name in grade.DOMAIN_TITLES}
                for d, entries in ds.judgements.items()}
    if not any(recorded.values()):
        assert "No judgement has been recorded yet" in text
    else:
        n = sum(len(entries) for entries in recorded.values())
        assert f"has recorded {n} judgement(s) for {len(recorded)} outcome(s)" in text
        # the chapter's example outcome: every recorded judgement with its reason
        for entry in recorded.get("clinical-recovery", {}).values():
            assert entry["reason"] in text


# ---------------------------------------------------------------------------------------------
# 8. binary outcomes


def _metapsy_tables():
    """The event counts of the vendored Metapsy snapshot, by line of data.csv."""
    import pandas as pd

    src = pd.read_csv(ROOT / "data" / "sources" / "metapsy-peer-support" / "data.csv", sep=";", decimal=",")
    rows = src[src["event_arm1"].notna()]
    return {int(i) + 2: tuple(float(r[c]) for c in ("event_arm1", "totaln_arm1", "event_arm2", "totaln_arm2"))
            for i, r in rows.iterrows()}


def test_binary_outcomes_chapter(executed, ds):
    g = glue(executed, "08-binary-outcomes")
    # Metapsy's conversion of a harmful event's 2x2 table: -ln(OR) sqrt(3)/pi times J = 1 - 3/(4N - 9)
    recorded = ds.outcomes[ds.outcomes["notes"].str.contains("dichotomous outcome", na=False)]
    expected = []
    tables = _metapsy_tables()
    for line, (e1, t1, e2, t2) in tables.items():
        log_or = effects.escalc("OR", events1=[e1], total1=[t1], events2=[e2], total2=[t2]).yi[0]
        g_table = -log_or * np.sqrt(3) / np.pi * (1 - 3 / (4 * (t1 + t2) - 9))
        gaps = (recorded["recorded_g"] - g_table).abs()
        assert gaps.min() < 1e-9, line
        expected.append(f"{line}:{recorded.loc[gaps.idxmin(), 'outcome_id']}")
    assert g["matches"] == ";".join(expected)
    # pooled risk ratio of the matched tables (REML on the log scale), Mantel-Haenszel, absolute effect
    by_study = {m.split(":")[1]: tables[int(m.split(":")[0])] for m in expected}
    order = [ds.outcomes.set_index("outcome_id").loc[o, "study_id"] for o in by_study]
    e1, t1, e2, t2 = (np.array([by_study[o][j] for o in by_study]) for j in range(4))
    es = effects.escalc("RR", events1=e1, total1=t1, events2=e2, total2=t2, labels=order)
    pooled = meta.rma(es.yi, es.vi, method="REML", measure="RR")
    assert g["pooled_rr"] == fmt(np.exp(pooled.estimate))
    assert g["pooled_rr_ci"] == interval(np.exp(pooled.ci_low), np.exp(pooled.ci_high))
    assert g["mh_rr"] == fmt(np.exp(meta.rma_mh(e1, t1, e2, t2, measure="RR").estimate))
    acr = float(np.median(e2 / t2))
    assert g["acr"] == f"{acr:.4f}"
    effect = absolute.absolute_effect("RR", pooled.estimate, pooled.ci_low, pooled.ci_high, acr)
    assert g["difference"] == f"{effect.difference:.1f}"
    griffiths = order.index("griffiths2012")
    rr = effects.escalc("RR", events1=[e1[griffiths]], total1=[t1[griffiths]], events2=[e2[griffiths]],
                        total2=[t2[griffiths]])
    half = 1.959963984540054 * rr.sei()[0]
    assert g["ex1_rr"] == fmt(np.exp(rr.yi[0])) and g["ex1_ci"] == interval(np.exp(rr.yi[0] - half),
                                                                           np.exp(rr.yi[0] + half))
    ex2 = absolute.absolute_effect("RR", pooled.estimate, pooled.ci_low, pooled.ci_high, 0.20)
    assert g["ex2_difference"] == f"{ex2.difference:.1f}"
    assert g["ex2_nnt"] == f"{np.ceil(1000 / abs(ex2.difference)):.0f}"
    assert g["ex3_or"] == fmt(np.exp(meta.rma_mh(e1, t1, e2, t2, measure="OR").estimate))


# ---------------------------------------------------------------------------------------------
# 9. converting statistics


def test_converting_statistics_chapter(executed, ds):
    from scipy import special, stats

    g = glue(executed, "09-converting-statistics")
    published = ds.published.set_index("estimate_id")
    white = published.loc["white2020-w-t2-01"]
    se = effects.se_from_ci(white["ci_low"], white["ci_high"], log=True)
    assert g["white_p"] == f"{2 * stats.norm.sf(abs(np.log(white['estimate']) / se)):.2f}"
    huang = published.loc["cooper2024-t2-03"]
    se1 = effects.se_from_ci(huang["ci_low"], huang["ci_high"], log=True)
    assert g["ex1_se"] == f"{se1:.3f}"
    assert g["ex1_p"] == f"{2 * stats.norm.sf(abs(np.log(huang['estimate']) / se1)):.3f}"
    w3 = published.loc["white2020-w-t3-01"]
    z2 = w3["estimate"] / effects.se_from_ci(w3["ci_low"], w3["ci_high"])
    assert g["ex2_z"] == f"{z2:.2f}" and g["ex2_p"] == f"{2 * stats.norm.sf(abs(z2)):.3f}"
    rows = ds.outcomes.set_index("outcome_id")
    for key_t, key_d, outcome in (("t_qpr", "d_qpr", "johnson2018-qpr"), ("ex3_t", None, "mahlke2017-gse")):
        r = rows.loc[outcome]
        two_sample = stats.ttest_ind_from_stats(r["mean1"], r["sd1"], r["n1"], r["mean2"], r["sd2"], r["n2"])
        assert g[key_t] == f"{two_sample.statistic:.3f}"
        if key_d:
            d = two_sample.statistic * np.sqrt(1 / r["n1"] + 1 / r["n2"])
            # Hedges' g without its correction is d
            m = r["n1"] + r["n2"] - 2
            j = np.exp(special.gammaln(m / 2) - special.gammaln((m - 1) / 2)) / np.sqrt(m / 2)
            assert np.isclose(d * j, _escalc_row(r, True).yi[0]) and g[key_d] == f"{d:.4f}"
    assert g["ex3_g"] == f"{_escalc_row(rows.loc['mahlke2017-gse'], True).yi[0]:.4f}"


# ---------------------------------------------------------------------------------------------
# 10. dependent effects


def test_dependent_effects_chapter(executed, ds, reports):
    import pandas as pd

    g = glue(executed, "10-dependent-effects")
    cr = reports["clinical-recovery"]
    rogers = cr.rows[cr.rows["study_id"] == "rogers2016"]
    combined = sensitivity.aggregate(rogers["yi"], rogers["vi"], rogers["study_id"].tolist(), rho=0.5)
    assert g["rogers_combined"] == f"{combined.yi[0]:.6f}" and g["rogers_var"] == f"{combined.vi[0]:.6f}"
    assert np.isclose(cr.trials.set_index("study_id").loc["rogers2016", "yi"], combined.yi[0])
    rows = pd.concat([dataset.effect_sizes(dataset.domain_rows(ds, d), ds)
                      for d in ("personal-recovery", "clinical-recovery", "functional-recovery")])
    yi, vi, trial = rows["yi"].to_numpy(float), rows["vi"].to_numpy(float), rows["study_id"].tolist()
    assert g["n_effects"] == str(len(rows)) and g["n_trials"] == str(rows["study_id"].nunique())
    assert g["se_independent"] == f"{meta.rma(yi, vi, method='REML').se:.5f}"
    agg = sensitivity.aggregate(yi, vi, trial, rho=0.5)
    assert g["se_one_per_trial"] == f"{meta.rma(agg.yi, agg.vi, method='REML').se:.5f}"
    three = multilevel.rma_multilevel(yi, vi, trial)
    assert g["se_three_level"] == f"{three.se:.5f}"
    assert (g["sigma2_between"], g["sigma2_within"]) == (f"{three.sigma2[0]:.5f}", f"{three.sigma2[1]:.5f}")
    assert g["se_robust"] == f"{multilevel.che(yi, vi, trial, rho=0.6).robust.se:.5f}"
    r8 = sensitivity.aggregate(rogers["yi"], rogers["vi"], rogers["study_id"].tolist(), rho=0.8)
    assert g["ex1_g"] == f"{r8.yi[0]:.4f}" and g["ex1_var"] == f"{r8.vi[0]:.5f}"
    assert g["ex2_between"] == f"{multilevel.rma_multilevel(yi, vi, trial, method='ML').sigma2[0]:.5f}"
    ex3 = multilevel.che(cr.rows["yi"].to_numpy(float), cr.rows["vi"].to_numpy(float), cr.rows["study_id"].tolist(),
                         rho=0.6)
    assert g["ex3_est"] == f"{ex3.robust.estimate:.4f}"


# ---------------------------------------------------------------------------------------------
# 11. influence and outliers


def test_influence_chapter(executed, ds, reports):
    g = glue(executed, "11-influence-and-outliers")
    p = primary(reports, "clinical-recovery")
    res = meta.rma(p.yi, p.vi, method="REML", labels=p.labels)
    assert g["flagged"] == (", ".join(sensitivity.outliers(res)) or "none")
    inf = sensitivity.influence(res)
    top = inf.loc[inf["cook_d"].idxmax()]
    assert g["influential"] == top["study"]
    assert g["rstudent"] == f"{top['rstudent']:.3f}" and g["cook_d"] == f"{top['cook_d']:.4f}"
    assert g["ex1_dffits"] == f"{top['dffits']:.4f}"
    gs = primary(reports, "global-symptoms")
    gs_fit = meta.rma(gs.yi, gs.vi, method="REML", labels=gs.labels)
    loo = sensitivity.leave_one_out(gs_fit)
    moved = loo.loc[(loo["estimate"] - gs_fit.estimate).abs().idxmax()]
    assert g["ex2_study"] == moved["study"] and g["ex2_est"] == f"{moved['estimate']:.3f}"
    dav = ds.outcomes.set_index("outcome_id").loc["davidson2004-bprs"]
    yi, vi = res.yi.copy(), res.vi.copy()
    i = res.labels.index("Davidson 2004")
    yi[i], vi[i] = dav["recorded_g"], dav["recorded_g_se"] ** 2
    ex3 = meta.rma(yi, vi, method="REML")
    assert g["ex3_est"] == f"{ex3.estimate:.3f}" and g["ex3_tau2"] == f"{ex3.tau2:.4f}"


# ---------------------------------------------------------------------------------------------
# 12. Bayesian and sequential


def test_bayesian_and_sequential_chapter(executed, reports):
    g = glue(executed, "12-bayesian-and-sequential")
    dep = primary(reports, "depression")
    b = bayes.bayes_meta(dep.yi, dep.vi, tau_scale=0.5)
    assert g["median"] == fmt(b.median, 3) and g["p_positive"] == f"{b.p_positive:.3f}"
    assert g["p_above_mid"] == f"{b.p_above_mid:.3f}"
    # the chapter's grid posterior agrees with the package's quadrature for the mean effect, and
    # its median of tau with the quadrature on many nodes (at 400 nodes tau's quantiles are coarser)
    assert float(g["mu_error"]) < 1e-4
    fine = bayes.bayes_meta(dep.yi, dep.vi, tau_scale=0.5, n_nodes=3000)   # as the chapter
    assert abs(float(g["grid_tau_median"]) - fine.tau_median) < 1e-3
    cr = reports["clinical-recovery"]
    seq = sequential.monitor(cr.primary, cr.trials["year"].to_numpy(int), cr.trials["participants"].to_numpy(float))
    assert g["ris"] == f"{seq.ris:.0f}" and g["d2"] == f"{seq.d2:.4f}"
    assert g["crossed"] == (str(seq.crossed_at) if seq.crossed else "no")
    for key, scale in (("ex1_p_025", 0.25), ("ex1_p_1", 1.0)):
        assert g[key] == f"{bayes.bayes_meta(dep.yi, dep.vi, tau_scale=scale).p_above_mid:.3f}"
    assert g["ex2_ris"] == f"{sequential.required_information_size(0.1, d2=seq.d2):.0f}"
    fun = primary(reports, "functioning")
    fb = bayes.bayes_meta(fun.yi, fun.vi, tau_scale=0.5)
    ff = meta.rma(fun.yi, fun.vi, method="REML", pi="t-1")
    assert g["ex3_pred"] == interval(fb.predictive_low, fb.predictive_high)
    assert g["ex3_pi"] == interval(ff.pi_low, ff.pi_high)


# ---------------------------------------------------------------------------------------------
# 13. risk of bias


def test_risk_of_bias_chapter(executed, ds):
    g = glue(executed, "13-risk-of-bias")
    rob = ds.rob[(ds.rob["study_id"] == "johnson2018")]
    study_level = rob[rob["outcome_id"].isna()]
    assert g["d1_recorded"] == study_level["d1"].iloc[0]
    # RoB 2, domain 1: concealment "no information" without a baseline imbalance is some concerns
    assert g["d1_proposed"] == "some-concerns" and g["ex1"] == "low"
    levels = conventions.ROB_LEVELS
    worst = ds.rob[list(conventions.ROB_DOMAINS)].apply(lambda r: max(r, key=levels.index), axis=1)
    assert g["n_raised"] == str(int(((worst == "some-concerns") & (ds.rob["overall"] == "high")).sum()))
    # exercise 2: the quoted counts of readmission, 64 of 218 and 83 of 216
    rr = effects.escalc("RR", events1=[64], total1=[218], events2=[83], total2=[216])
    half = 1.959963984540054 * rr.sei()[0]
    assert g["ex2_rr"] == f"{np.exp(rr.yi[0]):.3f}"
    assert g["ex2_ci"] == f"{np.exp(rr.yi[0] - half):.3f} to {np.exp(rr.yi[0] + half):.3f}"
    qpr = ds.outcomes.set_index("outcome_id").loc["johnson2018-qpr"]
    assert g["ex3_share"] == f"{(qpr['n1'] + qpr['n2']) / 441:.3f}"


def test_risk_of_bias_chapter_quotes_contain_its_numbers():
    """Every number the chapter takes from the trial report is inside a verbatim quote with its source."""
    nb = source("13-risk-of-bias")
    quotes_cell = next(c.source for c in nb.cells if "report = pd.DataFrame" in c.source)
    quotes = " ".join(re.findall(r'"([^"]*)"', quotes_cell))
    for number in ("221", "220", "218", "216", "64", "83", "01027104"):
        assert number in quotes, number
    assert "isrctn.com/ISRCTN01027104" in quotes_cell


# ---------------------------------------------------------------------------------------------
# 14. summary of findings


def test_summary_of_findings_chapter(executed, reports):
    g = glue(executed, "14-summary-of-findings")
    dep = reports["depression"]
    row = chapter.sof.summary_of_findings(dep)
    assert g["dep_participants"] == str(row["participants"]) and g["dep_meaning"] == row["interpretation"]
    assert g["dep_certainty"] == row["certainty"]
    epds = dep.rows[dep.rows["instrument"] == "EPDS"]
    sd = float(np.median(epds["sd2"].dropna()))
    assert g["typical_sd"] == f"{sd:.3f}" and g["points"] == f"{dep.primary.estimate * sd:.3f}"
    p = dep.primary
    log_or = -np.array([p.estimate, p.ci_low, p.ci_high]) * np.pi / np.sqrt(3)
    assert g["abs_30"] == f"{absolute.absolute_effect('OR', *log_or, 0.3).difference:.2f}"
    qol = chapter.sof.summary_of_findings(reports["quality-of-life"])
    assert (g["ex1_participants"], g["ex1_meaning"], g["ex1_certainty"]) == (
        str(qol["participants"]), qol["interpretation"], qol["certainty"])
    cr = reports["clinical-recovery"]
    bprs = cr.rows[cr.rows["instrument"] == "Brief Psychiatric Rating Scale"]
    assert g["ex2_points"] == f"{cr.primary.estimate * float(np.median(bprs['sd2'].dropna())):.3f}"
    judged = _grade(cr, "clinical-recovery", judgements={"clinical-recovery": {"indirectness": {
        "downgrade": 1, "reason": "example"}}})
    assert g["ex3_certainty"] == judged.certainty
