"""The engine against R metafor, to 1e-6, on the fixtures in tests/reference/fixtures/.

Each fixture was written by tests/reference/generate_fixtures.R (metafor 3.8-1, R 4.2.2; see
tests/reference/README.md for the conventions). R is not needed here. Every comparison uses a
relative tolerance of 1e-6 (METAFOR_REL) with an absolute floor of 1e-8 (METAFOR_ABS) for values
near zero.

Sources of the published data sets are named in each fixture ("source") and in tests/datasets.py:
Colditz et al. (1994) BCG trials, Normand (1999) Tables I and III, Raudenbush & Bryk (1985),
DerSimonian & Kacker (2007) CLASP, Egger, Davey Smith & Altman (2001) magnesium, Hackshaw et al.
(1997) passive smoking.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from analysis.stats import bias, effects, meta, moderators, sensitivity

FIXTURE_DIR = Path(__file__).parent / "reference" / "fixtures"
FIXTURES = {p.stem: json.loads(p.read_text()) for p in sorted(FIXTURE_DIR.glob("*.json"))}
#: metafor fixtures at tight convergence (threshold and uniroot tol 1e-12) against the engine at its
#: default convergence: 1e-6 relative leaves room for differences of convergence between the two
#: programs' iterative solutions, not for a difference of formula or convention.
METAFOR_REL = 1e-6
#: The absolute floor of that comparison, for values near zero (estimates, tau2 on the boundary).
METAFOR_ABS = 1e-8

# metafor name -> engine name. Fits: MetaResult attributes; frames: DataFrame columns.
FIT_FIELDS = {"b": "estimate", "se": "se", "zval": "statistic", "tval": "statistic", "pval": "p",
              "ci.lb": "ci_low", "ci.ub": "ci_high", "tau2": "tau2", "QE": "q", "QEp": "q_p",
              "k": "k", "H2": "h2", "dfs": "df", "weights": "weights"}
CONFINT_FIELDS = {"tau2": ("tau2_ci_low", "tau2_ci_high"), "I2": ("i2_tau2_ci_low", "i2_tau2_ci_high"),
                  "H2": ("h2_ci_low", "h2_ci_high")}
HT_FIELDS = {"I2": "i2_q", "I2.lb": "i2_q_ci_low", "I2.ub": "i2_q_ci_high"}
TEST_TO_CI = {"z": "z", "knha": "hk", "adhoc": "hk-adhoc"}
# metafor's predict() uses the model's own distribution: normal for z, t(k-1) for knha/adhoc.
TEST_TO_PI = {"z": "z", "knha": "t-1", "adhoc": "t-1"}
# metafor's I2 and H2 of a random-effects fit are tau2-based (the engine's i2_tau2 and h2)
LEAVE1OUT_COLUMNS = {"estimate": "estimate", "se": "se", "zval": "statistic", "tval": "statistic",
                     "pval": "p", "ci.lb": "ci_low", "ci.ub": "ci_high", "tau2": "tau2", "Q": "q",
                     "Qp": "q_p", "I2": "i2_tau2", "H2": "h2", "I2_Q": "i2_q"}
CUMUL_COLUMNS = {"k": "k", "estimate": "estimate", "se": "se", "zval": "statistic",
                 "tval": "statistic", "pvals": "p", "ci.lb": "ci_low", "ci.ub": "ci_high",
                 "Q": "q", "Qp": "q_p", "tau2": "tau2", "I2": "i2_tau2", "H2": "h2", "I2_Q": "i2_q"}
# Mantel-Haenszel and Peto fits are fixed-effect models: metafor's I2 is the Q-based one there
TABLE_FRAME_COLUMNS = {"estimate": "estimate", "se": "se", "zval": "statistic", "pval": "p",
                       "ci.lb": "ci_low", "ci.ub": "ci_high", "Q": "q", "Qp": "q_p", "I2": "i2_q",
                       "H2": "h2"}
TABLE_HETEROGENEITY = {"q", "q_p", "i2_q", "h2"}
INFLUENCE_COLUMNS = {"rstudent": "rstudent", "dffits": "dffits", "cook.d": "cook_d",
                     "cov.r": "cov_r", "tau2.del": "tau2_del", "QE.del": "q_del",
                     "hat": "hat", "weight": "weight", "dfbs": "dfbetas", "inf": "influential"}
MH_FIELDS = {"b": "estimate", "se": "se", "zval": "statistic", "pval": "p", "ci.lb": "ci_low",
             "ci.ub": "ci_high", "QE": "q", "QEp": "q_p"}
METAREG_COEF = {"b": "estimate", "se": "se", "stat": "statistic", "pval": "p", "ci.lb": "ci_low",
                "ci.ub": "ci_high"}
METAREG_FIELDS = {"QM": "qm", "QMp": "qm_p", "QE": "qe", "QEp": "qe_p", "QEdf": "qe_df",
                  "R2": "r2", "tau2": "tau2", "k": "k"}
TRIMFILL_FIELDS = {"b": "estimate", "se": "se", "ci.lb": "ci_low", "ci.ub": "ci_high",
                   "tau2": "tau2"}
# With k = 1 metafor reports tau2 = 0, Q = 0, I2 = 0, H2 = 1 and PI = CI; the engine reports
# these as undefined (None / NaN), so they are not compared for a single study.
HETEROGENEITY = {"tau2", "q", "q_p", "h2", "i2_q", "i2_tau2", "pi_low", "pi_high"}
REGTEST_NI = ("regtest_ni", "regtest_ninv", "regtest_sqrtni", "regtest_sqrtninv", "regtest_lm_ninv")


def _num(x):
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    x = float(x)
    return None if math.isnan(x) else x


def _close(actual, expected) -> bool:
    actual, expected = _num(actual), _num(expected)
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(expected, bool):
        return actual == expected
    return math.isclose(actual, expected, rel_tol=METAFOR_REL, abs_tol=METAFOR_ABS)


class Mismatches:
    """Collects every disagreement of one test so that a failure shows all of them at once."""

    def __init__(self):
        self.items = []

    def check(self, what, actual, expected):
        if np.ndim(expected) and not isinstance(expected, str):
            expected = list(expected)
            actual = list(np.asarray(actual, dtype=object))
            if len(actual) != len(expected):
                self.items.append(f"{what}: length {len(actual)} != metafor {len(expected)}")
                return
            for i, (a, e) in enumerate(zip(actual, expected)):
                self.check(f"{what}[{i}]", a, e)
            return
        if not _close(actual, expected):
            self.items.append(f"{what}: engine {actual!r} != metafor {expected!r}")

    def assert_none(self):
        assert not self.items, "\n".join(self.items)


def _fixture_data(name):
    """Effect sizes that metafor analysed (double-zero studies left out) and their labels."""
    fx = FIXTURES[name]
    source = fx["input"] if fx["measure"] == "GEN" else fx["escalc"]
    idx = fx["analysed"]
    yi = np.array([source["yi"][i] for i in idx], dtype=float)
    vi = np.array([source["vi"][i] for i in idx], dtype=float)
    labels = [fx["input"]["study"][i] for i in idx]
    return yi, vi, labels


def _fitted(fx, key):
    return "error" not in fx["fits"].get(key, {"error": "not fitted"})


def _sample_sizes(name):
    """Total sample size of each analysed study (arm-level fixtures), as metafor's escalc ``ni``."""
    fx = FIXTURES[name]
    data = fx["input"]
    pair = ("n1", "n2") if "n1" in data else ("total1", "total2") if "total1" in data else None
    if pair is None:
        return None
    return np.array([data[pair[0]][i] + data[pair[1]][i] for i in fx["analysed"]], dtype=float)


def _rma(name, method, test, **kw):
    yi, vi, labels = _fixture_data(name)
    return meta.rma(yi, vi, method=method, ci=TEST_TO_CI[test], labels=labels,
                    measure=FIXTURES[name]["measure"], ni=_sample_sizes(name),
                    **{"pi": TEST_TO_PI[test], **kw})


def _tables(name):
    return {k: FIXTURES[name]["input"][k] for k in ("events1", "total1", "events2", "total2")}


def _table_fit(name, key):
    counts = _tables(name)
    labels = FIXTURES[name]["input"]["study"]
    if key == "PETO":
        return meta.rma_peto(**counts, labels=labels)
    return meta.rma_mh(**counts, measure=key.split("_")[1], labels=labels)


#: Every fit metafor completed. A fit metafor refused (e.g. an iterative estimator at k = 1) has no
#: reference value; test_every_fixture_entry_is_compared_or_explained accounts for each of them.
FIT_CASES = [(name, key) for name, fx in FIXTURES.items() for key in fx["fits"] if _fitted(fx, key)]


def test_fixture_set_is_complete():
    assert len(FIXTURES) >= 30
    assert sum(p.stat().st_size for p in FIXTURE_DIR.glob("*.json")) < 3 * 2**20


#: Entries metafor itself refused to compute (its error message is in the fixture): the
#: engine raises a ValueError for each (tested in test_engine_refuses_what_metafor_refused).
METAFOR_REFUSED = {("edge_k1", "leave1out"), ("edge_k1", "influence"), ("edge_identical_effects", "trimfill_R0"),
                   # Q0 = k - 1/2 - sqrt(2k^2 - 4 S_r + 1/4) with a negative radicand (metafor: NaN)
                   *((name, "trimfill_Q0") for name in ("edge_tau2_zero", "edge_double_zero",
                                                        "egger2001_magnesium", "sim_continuous_k08"))}
REML_PARTS = ("leave1out", "cumul", "influence", "ranktest", "regtest_rma", "regtest_lm", "regtest_vi",
              *REGTEST_NI, "trimfill_L0", "trimfill_R0", "trimfill_Q0")


def test_every_fixture_entry_is_compared_or_explained():
    """Entries without a metafor reference are not collected as tests. This test says exactly which
    they are: quantities the R script computes only for k >= 3 (and the sample-size predictors only
    for arm-level data), metafor's refusals, rounding noise."""
    assert all(_fitted(fx, key) for fx in FIXTURES.values() for key in fx["fits"])
    excluded = {(name, part) for name in FIXTURES for part in REML_PARTS if _reml_reference(name, part)}
    small = {(name, part) for name, fx in FIXTURES.items() for part in REML_PARTS
             if part not in fx["fits"]["REML_z"]
             and (fx["fits"]["REML_z"]["k"] <= 2 or (part in REGTEST_NI and fx["measure"] == "GEN"))}
    assert excluded == small | METAFOR_REFUSED | ROUNDING_NOISE


def test_engine_refuses_what_metafor_refused():
    for name, part in sorted(METAFOR_REFUSED):
        res = _rma(name, "REML", "z")
        with pytest.raises(ValueError):
            if part == "leave1out":
                sensitivity.leave_one_out(res)
            elif part == "influence":
                sensitivity.influence(res)
            else:
                bias.trimfill(res, estimator=part.split("_")[1])


# ------------------------------------------------------------------------------------------
# effect sizes


@pytest.mark.parametrize("name", [n for n, fx in FIXTURES.items() if "escalc" in fx])
def test_escalc(name):
    fx = FIXTURES[name]
    data = {k: v for k, v in fx["input"].items()
            if k in ("n1", "mean1", "sd1", "n2", "mean2", "sd2",
                     "events1", "total1", "events2", "total2")}
    variants = {"main": fx["escalc"], **fx["escalc"].get("variants", {})}
    bad = Mismatches()
    for variant, es_ref in variants.items():
        opts = es_ref["options"]
        measure = opts["measure"]
        kw = {}
        if measure in ("SMD", "MD"):
            # metafor 3.8 calls the separate-variance MD variance "LS"; the engine calls it "HE"
            kw["vtype"] = "HE" if (measure == "MD" and opts["vtype"] == "LS") else opts["vtype"]
        else:
            kw.update(add=opts["add"], drop00=opts["drop00"])
            assert opts["to"] == "only0"
        es = effects.escalc(measure, labels=fx["input"]["study"], **data, **kw)
        kept = [i for i, y in enumerate(es_ref["yi"]) if y is not None]
        dropped = {fx["input"]["study"][i] for i, y in enumerate(es_ref["yi"]) if y is None}
        if list(es.labels) != [fx["input"]["study"][i] for i in kept]:
            bad.items.append(f"{variant}: kept studies {es.labels}, metafor keeps rows {kept}")
        if {e["study"] for e in es.excluded} != dropped:
            bad.items.append(f"{variant}: excluded {es.excluded} but metafor drops {dropped}")
        bad.check(f"{variant} yi", es.yi, [es_ref["yi"][i] for i in kept])
        bad.check(f"{variant} vi", es.vi, [es_ref["vi"][i] for i in kept])
    bad.assert_none()


# ------------------------------------------------------------------------------------------
# rma: every tau2 estimator x every test


@pytest.mark.parametrize("name,key", FIT_CASES)
def test_rma(name, key):
    fx = FIXTURES[name]
    ref = fx["fits"][key]
    method, test = key.split("_")
    res = _rma(name, method, test)
    bad = Mismatches()
    single = ref["k"] == 1
    for src, dst in FIT_FIELDS.items():
        if src in ref and not (single and dst in HETEROGENEITY):
            bad.check(dst, getattr(res, dst), ref[src])
    if single:
        for dst in sorted(HETEROGENEITY):
            if getattr(res, dst) is not None:
                bad.items.append(f"k = 1: {dst} should be undefined, engine gives {getattr(res, dst)!r}")
        bad.assert_none()
        return
    # metafor's I2 is tau2-based, except for fixed-effect fits where it is Q-based
    bad.check("i2_q" if method == "FE" else "i2_tau2",
              res.i2_q if method == "FE" else res.i2_tau2, ref["I2"])
    # metafor's predict() gives no PI for a fixed-effect model; the engine reports PI = CI
    pi_ref = ref if method == "FE" else {"ci.lb": ref["predict"]["pi.lb"],
                                         "ci.ub": ref["predict"]["pi.ub"]}
    bad.check("pi_low", res.pi_low, pi_ref["ci.lb"])
    bad.check("pi_high", res.pi_high, pi_ref["ci.ub"])
    confint = ref.get("confint")
    if confint is not None and "error" not in confint:
        for src, (low, high) in CONFINT_FIELDS.items():
            bad.check(low, getattr(res, low), confint[src]["ci.lb"])
            bad.check(high, getattr(res, high), confint[src]["ci.ub"])
    bad.assert_none()


#: z-test random-effects fits with t prediction intervals (the fixture computes them for k >= 3;
#: a fixed-effect fit has PI = CI, checked in test_rma).
PI_T_CASES = [(name, key) for name, key in FIT_CASES
              if key.endswith("_z") and not key.startswith("FE_") and "pi_t" in FIXTURES[name]["fits"][key]]


@pytest.mark.parametrize("name,key", PI_T_CASES)
def test_prediction_interval_t(name, key):
    """t(k-1) and t(k-2) prediction intervals around the z-test fit (Higgins et al. 2009)."""
    ref = FIXTURES[name]["fits"][key]["pi_t"]
    method = key.split("_")[0]
    bad = Mismatches()
    for pi, tag in (("t-1", "t1"), ("t-2", "t2")):
        res = _rma(name, method, "z", pi=pi)
        bad.check(f"{pi} pi_low", res.pi_low, ref[f"{tag}.lb"])
        bad.check(f"{pi} pi_high", res.pi_high, ref[f"{tag}.ub"])
    bad.assert_none()


@pytest.mark.parametrize("name", [n for n, fx in FIXTURES.items()
                                  if "error" not in fx["heterogeneity_q"]
                                  and fx["heterogeneity_q"]["I2"] is not None])
def test_i2_higgins_thompson(name):
    """Q-based I2 and its test-based CI (Higgins & Thompson 2002), the same for every method."""
    ref = FIXTURES[name]["heterogeneity_q"]
    bad = Mismatches()
    for method in ("FE", "DL", "REML"):
        res = _rma(name, method, "z")
        for src, dst in HT_FIELDS.items():
            bad.check(f"{method} {dst}", getattr(res, dst), ref[src])
    bad.assert_none()


# ------------------------------------------------------------------------------------------
# Mantel-Haenszel and Peto


BINARY_CASES = [(name, key) for name, fx in FIXTURES.items() if "binary" in fx
                for key, ref in fx["binary"].items()
                if key not in ("options", "subgroup", "MH_OR_uncorrected") and "error" not in ref]


@pytest.mark.parametrize("name", [n for n, fx in FIXTURES.items() if "binary" in fx])
def test_mh_peto(name):
    fx = FIXTURES[name]
    bad = Mismatches()
    for key, ref in fx["binary"].items():
        if key in ("options", "subgroup", "MH_OR_uncorrected") or "error" in ref:
            continue
        res = _table_fit(name, key)
        for src, dst in MH_FIELDS.items():
            bad.check(f"{key} {dst}", getattr(res, dst), ref[src])
    bad.assert_none()


@pytest.mark.parametrize("name", [n for n, fx in FIXTURES.items() if "binary" in fx
                                  and "error" not in fx["binary"]["MH_OR"]])
def test_mantel_haenszel_odds_ratio_tests(name):
    """Cochran-Mantel-Haenszel test (with and without continuity correction), Breslow-Day and
    Tarone tests (metafor rma.mh: MH, BD, TA)."""
    ref = FIXTURES[name]["binary"]["MH_OR"]["tests"]
    tests = _table_fit(name, "MH_OR").table_tests
    bad = Mismatches()
    for src, dst in (("MH", "cmh"), ("MHp", "cmh_p"), ("BD", "breslow_day"), ("BDp", "breslow_day_p"),
                     ("TA", "tarone"), ("TAp", "tarone_p"), ("k.pos", "bd_k")):
        bad.check(dst, tests[dst], ref[src])
    uncorrected = FIXTURES[name]["binary"]["MH_OR_uncorrected"]
    plain = meta.rma_mh(**_tables(name), measure="OR", correct=False).table_tests
    bad.check("cmh (no correction)", plain["cmh"], uncorrected["MH"])
    bad.check("cmh_p (no correction)", plain["cmh_p"], uncorrected["MHp"])
    bad.assert_none()


def _table_frame_check(bad, frame, ref, res, subsets):
    """Rows of a leave-one-out or cumulative frame of a MH/Peto fit; a row whose subset has fewer
    than two tables with an effect has no heterogeneity in the engine (metafor: Q = 0, I2 = 0)."""
    for src, dst in TABLE_FRAME_COLUMNS.items():
        for i, expected in enumerate(ref[src]):
            if dst in TABLE_HETEROGENEITY and res.defined[subsets[i]].sum() < 2:
                if _num(frame[dst].iloc[i]) is not None:
                    bad.items.append(f"{dst}[{i}]: fewer than two tables with an effect, should be undefined")
                continue
            bad.check(f"{dst}[{i}]", frame[dst].iloc[i], expected)


@pytest.mark.parametrize("name,key", [(n, k) for n, k in BINARY_CASES
                                      if "error" not in FIXTURES[n]["binary"][k]["leave1out"]])
def test_mh_peto_leave_one_out(name, key):
    ref = FIXTURES[name]["binary"][key]["leave1out"]
    res = _table_fit(name, key)
    bad = Mismatches()
    _table_frame_check(bad, sensitivity.leave_one_out(res), ref, res,
                       [np.arange(res.k) != i for i in range(res.k)])
    bad.assert_none()


@pytest.mark.parametrize("name,key", [(n, k) for n, k in BINARY_CASES
                                      if "error" not in FIXTURES[n]["binary"][k]["cumul"]])
def test_mh_peto_cumulative(name, key):
    """Steps without a pooled estimate (edge_sparse_binary: the first trials have no events in
    arm 1) are NaN, and the analysis carries on, as metafor's cumul."""
    ref = FIXTURES[name]["binary"][key]["cumul"]
    res = _table_fit(name, key)
    bad = Mismatches()
    _table_frame_check(bad, sensitivity.cumulative(res), ref, res,
                       [np.arange(res.k) < n for n in range(1, res.k + 1)])
    bad.assert_none()


@pytest.mark.parametrize("name,key,part", [(n, k, part) for n, k in BINARY_CASES
                                           for part in ("regtest_rma", "regtest_lm", "regtest_ninv", "ranktest")
                                           if part in FIXTURES[n]["binary"][k]])
def test_mh_peto_small_study_tests(name, key, part):
    """Regression and rank tests of MH/Peto fits leave out tables without an effect (double-zero
    and all-event tables in edge_sparse_binary and edge_double_zero), as metafor does."""
    ref = FIXTURES[name]["binary"][key][part]
    res = _table_fit(name, key)
    bad = Mismatches()
    if part == "ranktest":
        out = bias.ranktest(res)
        bad.check("tau", out.tau, ref["tau"])
        bad.check("p", out.p, ref["pval"])
    else:
        out = bias.regtest(res, model=ref["model"], predictor=ref["predictor"])
        bad.check("statistic", out.statistic, ref.get("zval", ref.get("tval")))
        bad.check("p", out.p, ref["pval"])
        bad.check("df", out.df, ref["dfs"])
        bad.check("limit_estimate", out.limit_estimate, ref["est"])
        bad.check("limit_ci_low", out.limit_ci_low, ref["ci.lb"])
    bad.assert_none()


@pytest.mark.parametrize("name,key", [(n, key) for n, fx in FIXTURES.items()
                                      if "subgroup" in fx.get("binary", {}) for key in ("OR", "RR", "PETO")])
def test_mh_peto_subgroups(name, key):
    """Subgroups of MH/Peto fits: a subgroup without a pooled estimate is NaN and left out of the
    test for subgroup differences (edge_sparse_binary: subgroup x for the MH OR)."""
    ref = FIXTURES[name]["binary"]["subgroup"]
    res = _table_fit(name, "PETO" if key == "PETO" else f"MH_{key}")
    out = moderators.subgroup(res, ref["groups"])
    part = ref[key]
    bad = Mismatches()
    bad.check("estimates", [out.groups[g].estimate for g in ref["levels"]], part["b"])
    bad.check("se", [out.groups[g].se for g in ref["levels"]], part["se"])
    bad.check("q_between", out.q_between, part["QE"])
    bad.check("df_between", out.df_between, part["df"])
    bad.check("p_between", out.p_between, part["QEp"])
    left_out = [g for g in ref["levels"] if g not in part["tested"]]
    if left_out and not any(all(str(g) in n for g in left_out) for n in out.notes):
        bad.items.append(f"notes {out.notes} do not name the subgroups left out ({left_out})")
    bad.assert_none()


# ------------------------------------------------------------------------------------------
# sensitivity (REML, z tests)


# With identical effects every residual is 0 up to rounding: metafor's lm() t statistic and
# trim-and-fill ranks (L0: k0 = 3; Q0: a negative radicand) are then driven by floating-point noise
# and are not references.
ROUNDING_NOISE = {("edge_identical_effects", "regtest_lm"), ("edge_identical_effects", "trimfill_L0"),
                  ("edge_identical_effects", "trimfill_Q0")}


def _reml_reference(name, part) -> str | None:
    """Why fixture ``name`` has no metafor reference for ``part`` of its REML fit, or None."""
    if (name, part) in ROUNDING_NOISE:
        return "metafor's value is rounding noise (identical effects)"
    if not _fitted(FIXTURES[name], "REML_z"):
        return "metafor did not fit REML"
    rec = FIXTURES[name]["fits"]["REML_z"]
    if part not in rec:
        return f"not computed for k = {rec['k']}"
    if "error" in rec[part]:
        return f"metafor: {rec[part]['error']}"
    return None


def reml_cases(part) -> list[str]:
    """Fixtures with a metafor reference for ``part`` (the others: :func:`_reml_reference`)."""
    return [name for name in FIXTURES if _reml_reference(name, part) is None]


def _reml_extra(name, part):
    return FIXTURES[name]["fits"]["REML_z"][part]


def _check_frame(bad, frame, ref, columns, single_rows=()):
    for src, dst in columns.items():
        if src not in ref:  # zval for z tests, tval for t tests
            continue
        for i, expected in enumerate(ref[src]):
            if i in single_rows and dst in HETEROGENEITY:
                if _num(frame[dst].iloc[i]) is not None:
                    bad.items.append(f"{dst}[{i}]: one study left, should be undefined")
                continue
            bad.check(f"{dst}[{i}]", frame[dst].iloc[i], expected)


@pytest.mark.parametrize("name", reml_cases("leave1out"))
def test_leave_one_out(name):
    ref = _reml_extra(name, "leave1out")
    frame = sensitivity.leave_one_out(_rma(name, "REML", "z"))
    bad = Mismatches()
    k = len(ref["estimate"])
    _check_frame(bad, frame, ref, LEAVE1OUT_COLUMNS, single_rows=range(k) if k == 2 else ())
    bad.assert_none()


@pytest.mark.parametrize("name", reml_cases("cumul"))
def test_cumulative(name):
    ref = _reml_extra(name, "cumul")
    frame = sensitivity.cumulative(_rma(name, "REML", "z"))
    bad = Mismatches()
    _check_frame(bad, frame, ref, CUMUL_COLUMNS, single_rows=(0,))
    bad.assert_none()


@pytest.mark.parametrize("name", reml_cases("influence"))
def test_influence(name):
    ref = _reml_extra(name, "influence")
    frame = sensitivity.influence(_rma(name, "REML", "z"))
    bad = Mismatches()
    k = len(ref["rstudent"])
    # with k = 2 each deletion leaves one study: tau2 and Q undefined in the engine (see above)
    columns = {s: d for s, d in INFLUENCE_COLUMNS.items()
               if not (k == 2 and d in ("tau2_del", "q_del"))}
    _check_frame(bad, frame, ref, columns)
    if k == 2:
        for dst in ("tau2_del", "q_del"):
            if frame[dst].notna().any():
                bad.items.append(f"{dst}: one study left, should be undefined")
    bad.assert_none()


# ------------------------------------------------------------------------------------------
# small-study effects


REGTEST_PARTS = ("regtest_rma", "regtest_lm", "regtest_vi", *REGTEST_NI)


@pytest.mark.parametrize("name,part", [(name, part) for part in REGTEST_PARTS for name in reml_cases(part)])
def test_regtest(name, part):
    ref = _reml_extra(name, part)
    out = bias.regtest(_rma(name, "REML", "z"), model=ref["model"], predictor=ref["predictor"])
    bad = Mismatches()
    bad.check("statistic", out.statistic, ref.get("zval", ref.get("tval")))
    bad.check("p", out.p, ref["pval"])
    bad.check("df", out.df, ref["dfs"])
    # metafor reports the limit estimate only where the predictor's 0 is a precise study
    bad.check("limit_estimate", out.limit_estimate, ref["est"])
    bad.check("limit_ci_low", out.limit_ci_low, ref["ci.lb"])
    bad.check("limit_ci_high", out.limit_ci_high, ref["ci.ub"])
    bad.assert_none()


@pytest.mark.parametrize("name", reml_cases("ranktest"))
def test_ranktest(name):
    ref = _reml_extra(name, "ranktest")
    out = bias.ranktest(_rma(name, "REML", "z"))
    bad = Mismatches()
    bad.check("tau", out.tau, ref["tau"])
    bad.check("p", out.p, ref["pval"])
    bad.assert_none()


@pytest.mark.parametrize("name,estimator", [(name, estimator) for estimator in ("L0", "R0", "Q0")
                                            for name in reml_cases(f"trimfill_{estimator}")])
def test_trimfill(name, estimator):
    ref = _reml_extra(name, f"trimfill_{estimator}")
    out = bias.trimfill(_rma(name, "REML", "z"), estimator=estimator)
    bad = Mismatches()
    bad.check("k0", out.k0, ref["k0"])
    if out.side != ref["side"]:
        bad.items.append(f"side: engine {out.side!r} != metafor {ref['side']!r}")
    for src, dst in TRIMFILL_FIELDS.items():
        bad.check(f"filled {dst}", getattr(out.filled, dst), ref[src])
    bad.assert_none()


@pytest.mark.parametrize("name", [n for n, fx in FIXTURES.items()
                                  if "failsafe" in fx and "error" not in fx["failsafe"]])
def test_failsafe(name):
    yi, vi, _ = _fixture_data(name)
    fx = FIXTURES[name]
    bad = Mismatches()
    out = bias.failsafe(yi, vi, type="Rosenthal")
    bad.check("Rosenthal fsnum", out.fsnum, fx["failsafe"]["fsnum"])
    bad.check("Rosenthal p", out.p, fx["failsafe"]["pval"])
    for key, kwargs in (("orwin", {"type": "Orwin"}), ("orwin_weighted", {"type": "Orwin", "weighted": True}),
                        ("orwin_target", {"type": "Orwin", "target": 0.05}),
                        ("rosenberg", {"type": "Rosenberg"})):
        ref = fx["failsafe_types"][key]
        out = bias.failsafe(yi, vi, **kwargs)
        bad.check(f"{key} fsnum", out.fsnum, ref["fsnum"])
        bad.check(f"{key} p", out.p, ref["pval"])
        bad.check(f"{key} mean", out.mean, ref["meanes"])
        bad.check(f"{key} target", out.target, ref["target"])
    bad.assert_none()


# ------------------------------------------------------------------------------------------
# moderators


SUBGROUP_CASES = [n for n, fx in FIXTURES.items() if "subgroup" in fx]


@pytest.mark.parametrize("name", SUBGROUP_CASES)
def test_subgroup_separate_tau2(name):
    ref = FIXTURES[name]["subgroup"]
    out = moderators.subgroup(_rma(name, "REML", "z"), ref["groups"], tau2="separate")
    bad = Mismatches()
    for level in ref["levels"]:
        group_ref = ref["separate"]["groups"][level]
        for src, dst in (("b", "estimate"), ("se", "se"), ("ci.lb", "ci_low"),
                         ("ci.ub", "ci_high")):
            bad.check(f"{level} {dst}", getattr(out.groups[level], dst), group_ref[src])
        if group_ref["k"] > 1:
            bad.check(f"{level} tau2", out.groups[level].tau2, group_ref["tau2"])
    between = ref["separate"]["between"]
    bad.check("q_between", out.q_between, between["QE"])
    bad.check("df_between", out.df_between, between["df"])
    bad.check("p_between", out.p_between, between["QEp"])
    bad.assert_none()


@pytest.mark.parametrize("name", SUBGROUP_CASES)
def test_subgroup_common_tau2(name):
    ref = FIXTURES[name]["subgroup"]
    out = moderators.subgroup(_rma(name, "REML", "z"), ref["groups"], tau2="common")
    common = ref["common"]
    bad = Mismatches()
    bad.check("q_between", out.q_between, common["QM"])
    bad.check("df_between", out.df_between, common["QMdf"])
    bad.check("p_between", out.p_between, common["QMp"])
    bad.check("tau2_common", out.tau2_common, common["tau2"])
    for i, level in enumerate(ref["levels"]):
        bad.check(f"{level} estimate", out.groups[level].estimate, common["group_b"][i])
        bad.check(f"{level} se", out.groups[level].se, common["group_se"][i])
    bad.assert_none()


@pytest.mark.parametrize("name", [n for n, fx in FIXTURES.items() if "metareg" in fx])
@pytest.mark.parametrize("test", ["z", "knha"])
def test_metareg(name, test):
    ref_all = FIXTURES[name]["metareg"]
    ref = ref_all[f"REML_{test}"]
    yi, vi, _ = _fixture_data(name)
    out = moderators.metareg(yi, vi, {ref_all["moderator"]: np.array(ref_all["values"], float)},
                             method="REML", ci=TEST_TO_CI[test])
    bad = Mismatches()
    for src, dst in METAREG_COEF.items():
        bad.check(f"coef {dst}", out.coef[dst].to_numpy(), ref[src])
    for src, dst in METAREG_FIELDS.items():
        bad.check(dst, getattr(out, dst), ref[src])
    bad.check("qm_df", out.qm_df, ref["QMdf"][0])
    bad.check("qm_df2", out.qm_df2, ref["QMdf"][1] if test == "knha" else None)
    # Q-profile CI of the residual tau2 and the I2/H2 bounds (metafor confint)
    for src, low, high in (("tau2", "tau2_ci_low", "tau2_ci_high"), ("I2", "i2_ci_low", "i2_ci_high"),
                           ("H2", "h2_ci_low", "h2_ci_high")):
        bad.check(low, getattr(out, low), ref["confint"][src][1])
        bad.check(high, getattr(out, high), ref["confint"][src][2])
    # predictions for new moderator values (metafor predict(newmods = ))
    pred = out.predict(np.array(ref_all["newmods"]))
    for src, dst in (("pred", "pred"), ("se", "se"), ("ci.lb", "ci_low"), ("ci.ub", "ci_high"),
                     ("pi.lb", "pi_low"), ("pi.ub", "pi_high")):
        bad.check(f"predict {dst}", pred[dst].to_numpy(), ref["predict"][src])
    by_name = out.predict({ref_all["moderator"]: ref_all["newmods"]})
    bad.check("predict by name", by_name["pred"].to_numpy(), ref["predict"]["pred"])
    for src, dst in (("ll", "loglik"), ("dev", "deviance"), ("AIC", "aic"), ("BIC", "bic"), ("AICc", "aicc")):
        bad.check(dst, getattr(out, dst), ref["fit_stats"][src])
    bad.assert_none()


LRT_CASES = [(n, key) for n, fx in FIXTURES.items() if "metareg" in fx for key in ("lrt_ml", "lrt_tau2")]


@pytest.mark.parametrize("name,key", LRT_CASES)
def test_likelihood_ratio_test(name, key):
    """anova(full, reduced): the moderator by ML, and tau2 (REML against FE with the same moderator)."""
    ref_all = FIXTURES[name]["metareg"]
    ref = ref_all[key]
    yi, vi, _ = _fixture_data(name)
    mods = {ref_all["moderator"]: np.array(ref_all["values"], float)}
    if key == "lrt_ml":
        full = moderators.metareg(yi, vi, mods, method="ML")
        reduced = moderators.metareg(yi, vi, None, method="ML")
    else:
        full = moderators.metareg(yi, vi, mods, method="REML")
        reduced = moderators.metareg(yi, vi, mods, method="FE")
    out = moderators.likelihood_ratio_test(full, reduced)
    bad = Mismatches()
    bad.check("lrt", out.lrt, ref["LRT"])
    bad.check("p", out.p, ref["pval"])
    bad.check("df", out.df, ref["parms.f"] - ref["parms.r"])
    for side in ("full", "reduced"):
        mine = getattr(out, side)
        tag = "f" if side == "full" else "r"
        bad.check(f"{side} parms", mine["parms"], ref[f"parms.{tag}"])
        bad.check(f"{side} qe", mine["qe"], ref[f"QE.{tag}"])
        bad.check(f"{side} tau2", mine["tau2"], ref[f"tau2.{tag}"])
        for src, dst in (("ll", "loglik"), ("dev", "deviance"), ("AIC", "aic"), ("BIC", "bic"), ("AICc", "aicc")):
            bad.check(f"{side} {dst}", mine[dst], ref[side][src])
    if key == "lrt_ml":
        bad.check("r2", out.r2, ref["R2"])
    bad.assert_none()


def test_reml_likelihoods_of_different_moderators_are_not_compared():
    name = "bcg_rr"
    ref_all = FIXTURES[name]["metareg"]
    yi, vi, _ = _fixture_data(name)
    full = moderators.metareg(yi, vi, {"ablat": np.array(ref_all["values"], float)}, method="REML")
    reduced = moderators.metareg(yi, vi, None, method="REML")
    with pytest.raises(ValueError, match="not comparable"):
        moderators.likelihood_ratio_test(full, reduced)
    refitted = moderators.likelihood_ratio_test(full, reduced, refit=True)
    assert refitted.method == "ML"
    assert refitted.lrt == pytest.approx(ref_all["lrt_ml"]["LRT"], rel=METAFOR_REL)


FACTOR_CASES = [n for n, fx in FIXTURES.items() if "metareg_factor" in fx]
COEF_FIELDS = {"b": "estimate", "se": "se", "stat": "statistic", "pval": "p", "ci.lb": "ci_low",
               "ci.ub": "ci_high"}


def _check_coefficients(bad, out, ref, tag):
    # metafor names dummies "groupa"; the engine "group[a]": compare the level order by position
    bad.check(f"{tag} number of terms", len(out.coef), len(ref["terms"]))
    for src, dst in COEF_FIELDS.items():
        bad.check(f"{tag} {dst}", out.coef[dst].to_numpy(), ref[src])
    bad.check(f"{tag} tau2", out.tau2, ref["tau2"])
    bad.check(f"{tag} qm", out.qm, ref["QM"])
    bad.check(f"{tag} qm_p", out.qm_p, ref["QMp"])
    bad.check(f"{tag} qe", out.qe, ref["QE"])


@pytest.mark.parametrize("name", FACTOR_CASES)
def test_categorical_moderator_without_intercept(name):
    """mods = ~ factor(group) - 1 keeps one dummy per level (R's model.matrix); the engine used
    to drop the first level and fit another model."""
    ref = FIXTURES[name]["metareg_factor"]
    yi, vi, _ = _fixture_data(name)
    groups = [FIXTURES[name]["subgroup"]["groups"][i] for i in range(len(yi))]
    out = moderators.metareg(yi, vi, {"group": groups}, method="REML", intercept=False)
    bad = Mismatches()
    assert out.terms == [f"group[{level}]" for level in ref["levels"]]
    _check_coefficients(bad, out, ref["no_intercept"], "no intercept")
    if "numeric_first_no_intercept" in ref:
        x = np.array(ref["values"], float)
        out = moderators.metareg(yi, vi, {"x": x, "group": groups}, method="REML", intercept=False)
        _check_coefficients(bad, out, ref["numeric_first_no_intercept"], "numeric first")
    bad.assert_none()


@pytest.mark.parametrize("name,test", [(n, t) for n in FACTOR_CASES for t in ("z", "knha")
                                       if f"with_numeric_{t}" in FIXTURES[n]["metareg_factor"]])
def test_subset_of_coefficients(name, test):
    """anova(res, btt = <the factor's dummies>): Wald chi2, or F under Knapp-Hartung."""
    ref = FIXTURES[name]["metareg_factor"][f"with_numeric_{test}"]
    yi, vi, _ = _fixture_data(name)
    groups = FIXTURES[name]["subgroup"]["groups"]
    x = np.array(FIXTURES[name]["metareg_factor"]["values"], float)
    out = moderators.metareg(yi, vi, {"x": x, "group": groups}, method="REML", ci=TEST_TO_CI[test])
    bad = Mismatches()
    _check_coefficients(bad, out, ref, "model")
    for btt in (ref["btt"], "group"):
        wald = out.test_terms(btt)
        bad.check(f"btt {btt} qm", wald.qm, ref["btt_QM"])
        bad.check(f"btt {btt} df", wald.df, ref["btt_QMdf"][0])
        bad.check(f"btt {btt} df2", wald.df2, ref["btt_QMdf"][1])
        bad.check(f"btt {btt} p", wald.p, ref["btt_QMp"])
    bad.assert_none()


def test_factor_levels_in_r_order():
    """Labels that differ only in case: R orders the levels "face-to-face", "online", "Online"
    (English locale), which makes "face-to-face" the reference level."""
    ref = FIXTURES["sim_continuous_k30"]["metareg_case"]
    yi, vi, _ = _fixture_data("sim_continuous_k30")
    out = moderators.metareg(yi, vi, {"group": ref["groups"]}, method="REML")
    assert out.terms == ["intercept"] + [f"group[{level}]" for level in ref["levels"][1:]]
    bad = Mismatches()
    bad.check("estimate", out.coef["estimate"].to_numpy(), ref["b"])
    bad.check("se", out.coef["se"].to_numpy(), ref["se"])
    bad.check("tau2", out.tau2, ref["tau2"])
    bad.assert_none()


def test_r_collation_order():
    ref = json.loads((FIXTURE_DIR / "collation" / "sort_en_US.json").read_text())
    assert ref["locale"] == "en_US.UTF-8"
    assert sorted(ref["input"], key=moderators.r_collation_key) == ref["sorted"]


def test_exact_permutation_test():
    """metafor permutest(exact = TRUE) on the first seven BCG trials and absolute latitude
    (7!/2! = 2520 distinct arrangements)."""
    ref = FIXTURES["bcg_rr"]["permutest"]
    fit = moderators.metareg(ref["yi"], ref["vi"], {"ablat": ref["values"]}, method="REML")
    bad = Mismatches()
    bad.check("statistic", fit.coef["statistic"].to_numpy(), ref["zval"])
    out = moderators.permutation_test(fit, exact=True)
    assert out.exact and out.permutations == ref["permutations"] == 2520
    bad.check("p", out.p, ref["pval"])
    bad.check("qm_p", out.qm_p, ref["QMp"])
    bad.assert_none()
