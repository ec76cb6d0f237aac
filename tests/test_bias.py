"""Small-study effects (analysis.stats.bias).

References: tests/reference/REFERENCE-VALUES.md R6 (metafor's test-suite values for the
magnesium trials, Egger, Davey Smith & Altman 2001, Table 18.2, and the passive-smoking studies,
Hackshaw et al. 1997), metafor 3.8.1 run by hand where stated
(``control = list(threshold = 1e-12)``), and hand computations. Data: tests/datasets.py, which
reads the ``input`` of tests/reference/fixtures/egger2001_magnesium.json and hackshaw1998.json
(exported from metafor's dat.egger2001 and dat.hackshaw1998).
"""
import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from analysis.stats import bias, meta

from datasets import PRINTED_4DP, fixture_input
from datasets import hackshaw_log_or as hackshaw
from datasets import magnesium_log_or as magnesium

TIGHT = {"threshold": 1e-14}

#: metafor 3.8.1 output of an iterative fit (REML, trim and fill) pasted with 12 significant
#: digits; the margin allows for the two programs' convergence (metafor at threshold 1e-12, the
#: engine at 1e-14 here).
METAFOR_PRINTED_REL = 1e-9
#: metafor 3.8.1 output of a closed form or an exact distribution (lm() regression test, Kendall's
#: tau and its exact p value, se of k0) pasted with 12 significant digits.
METAFOR_CLOSED_FORM_REL = 1e-10
#: A closed form written out in the test against the engine.
CLOSED_FORM_REL = 1e-10
#: The same statistic computed by scipy (scipy.stats.kendalltau) in double precision.
SCIPY_SAME_REL = 1e-12
#: Kendall's tau is a ratio of integer counts ((concordant - discordant) / 120 for k = 16).
KENDALL_TAU_ABS = 1e-12


def fit(data, **kw):
    y, v, labels = data
    return meta.rma(y, v, labels=labels, control=TIGHT, **kw)


def test_egger2001_magnesium_regression_test():
    # tests/reference/REFERENCE-VALUES.md R6: regtest(rma(yi, vi, method = "REML")), model rma,
    # predictor sei: z = -4.6686
    out = bias.regtest(fit(magnesium()))
    assert out.statistic == pytest.approx(-4.6686, abs=PRINTED_4DP)
    assert out.df is None and out.model == "rma" and out.predictor == "sei"
    # metafor 3.8.1 (tight control): p 3.03206580314e-06, limit estimate 0.0419173327115
    # [-0.160446928964, 0.244281594387]
    assert [out.p, out.limit_estimate, out.limit_ci_low, out.limit_ci_high] == pytest.approx(
        [3.03206580314e-06, 0.0419173327115, -0.160446928964, 0.244281594387],
        rel=METAFOR_PRINTED_REL)


def test_egger2001_magnesium_regression_test_uses_the_fit_s_knapp_hartung_test():
    # metafor 3.8.1: regtest(rma(..., test = "knha")): t(14) = -4.90330468069, p 0.000232855405735
    out = bias.regtest(fit(magnesium(), ci="hk"))
    assert out.df == 14
    assert [out.statistic, out.p] == pytest.approx([-4.90330468069, 0.000232855405735],
                                                   rel=METAFOR_PRINTED_REL)


def test_egger2001_magnesium_classical_egger_test_by_hand():
    # Egger et al. (1997): OLS of the standard normal deviate y/se on precision 1/se; the
    # intercept's t test (k - 2 df) is the asymmetry test. The "lm" model is the same test.
    y, v, _ = magnesium()
    se = np.sqrt(v)
    X = np.column_stack([np.ones_like(se), 1 / se])
    coef, rss, *_ = np.linalg.lstsq(X, y / se, rcond=None)
    sigma2 = rss[0] / (len(y) - 2)
    cov = sigma2 * np.linalg.inv(X.T @ X)
    t = coef[0] / math.sqrt(cov[0, 0])
    out = bias.regtest(fit(magnesium()), model="lm")
    assert out.statistic == pytest.approx(t, rel=CLOSED_FORM_REL)
    assert out.df == 14
    assert out.p == pytest.approx(2 * special.stdtr(14, -abs(t)), rel=CLOSED_FORM_REL)
    assert out.limit_estimate == pytest.approx(coef[1], rel=CLOSED_FORM_REL)  # slope on precision
    # metafor 3.8.1: regtest(..., model = "lm"): t = -5.78462135512
    assert out.statistic == pytest.approx(-5.78462135512, rel=METAFOR_CLOSED_FORM_REL)


def test_regression_test_fixed_effect_by_hand():
    # FE model: weighted least squares with w = 1/v and Var(b) = (X'WX)^-1, z test
    y, v, labels = hackshaw()
    X = np.column_stack([np.ones_like(v), np.sqrt(v)])
    W = np.diag(1 / v)
    cov = np.linalg.inv(X.T @ W @ X)
    b = cov @ X.T @ W @ y
    out = bias.regtest(meta.rma(y, v, method="FE"))
    assert out.statistic == pytest.approx(b[1] / math.sqrt(cov[1, 1]), rel=CLOSED_FORM_REL)
    assert out.limit_estimate == pytest.approx(b[0], rel=CLOSED_FORM_REL)


def test_regression_test_with_variance_predictor():
    y, v, _ = magnesium()
    out = bias.regtest(fit(magnesium()), predictor="vi")
    assert out.predictor == "vi"
    with pytest.raises(ValueError, match="predictor must be one of"):
        bias.regtest(fit(magnesium()), predictor="n")
    with pytest.raises(ValueError, match="at least 3 studies"):
        bias.regtest(meta.rma(y[:2], v[:2]))


def test_regression_test_with_sample_size_predictors():
    # predictor 1/n: the fit of y on 1/n_i by hand (REML tau2 of that model), and the same test
    # whether the sizes are kept by the fit or given to regtest
    y, v, labels = magnesium()
    d = fixture_input("egger2001_magnesium")
    n = np.array(d["total1"], float) + np.array(d["total2"], float)
    with pytest.raises(ValueError, match="needs the sample sizes"):
        bias.regtest(fit(magnesium()), predictor="ninv")
    given = bias.regtest(fit(magnesium()), predictor="ninv", ni=n)
    kept = bias.regtest(meta.rma(y, v, labels=labels, control=TIGHT, ni=n), predictor="ninv")
    assert given.statistic == kept.statistic and given.limit_estimate == kept.limit_estimate
    from analysis.stats import moderators
    X = np.column_stack([np.ones(len(y)), 1 / n])
    manual = moderators.mixed_effects(y, v, X, method="REML")
    assert given.statistic == pytest.approx(manual.statistic[1], rel=1e-10)
    # sqrt(n) and n have no limit estimate (their 0 is not a precise study)
    assert bias.regtest(fit(magnesium()), predictor="sqrtni", ni=n).limit_estimate is None
    with pytest.raises(ValueError, match="ni has 3 values"):
        bias.regtest(fit(magnesium()), predictor="ni", ni=n[:3])


def test_egger2001_magnesium_rank_correlation_test():
    # tests/reference/REFERENCE-VALUES.md R6: ranktest: Kendall's tau = 0.15, p = 0.4503;
    # metafor 3.8.1: p = 0.450284886272
    out = bias.ranktest(fit(magnesium()))
    assert out.tau == pytest.approx(0.15, abs=KENDALL_TAU_ABS)
    assert out.p == pytest.approx(0.4503, abs=PRINTED_4DP)
    assert out.p == pytest.approx(0.450284886272, rel=METAFOR_CLOSED_FORM_REL)
    assert out.exact


def test_hackshaw1998_rank_test_deviates_by_hand():
    # Begg & Mazumdar (1994): (y - b_FE) / sqrt(v - 1/sum w) against v
    y, v, _ = hackshaw()
    w = 1 / v
    dev = (y - np.sum(w * y) / w.sum()) / np.sqrt(v - 1 / w.sum())
    out = bias.ranktest(fit(hackshaw()))
    assert out.tau == pytest.approx(stats.kendalltau(dev, v).statistic, rel=SCIPY_SAME_REL)
    # metafor 3.8.1: tau 0.144144144144, p 0.21568812467 (exact, k = 37)
    assert [out.tau, out.p] == pytest.approx([0.144144144144, 0.21568812467],
                                             rel=METAFOR_CLOSED_FORM_REL)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
def test_exact_kendall_distribution_by_enumeration(n):
    # Under independence the number of concordant pairs is distributed as the number of
    # non-inversions of a uniformly random permutation; enumerate all n! permutations.
    counts = np.zeros(n * (n - 1) // 2 + 1)
    for perm in itertools.permutations(range(n)):
        counts[sum(perm[i] < perm[j] for i in range(n) for j in range(i + 1, n))] += 1
    assert bias._kendall_exact_cdf(n) == pytest.approx(np.cumsum(counts) / math.factorial(n),
                                                       rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=4, max_size=30, unique=True),
       st.randoms(use_true_random=False))
def test_kendall_p_with_ties_is_the_normal_approximation(x, rnd):
    # with ties R's cor.test uses the tie-corrected normal approximation, as scipy's
    # asymptotic method (Kendall 1970)
    y = [rnd.choice([0.1, 0.2, 0.3]) for _ in x]
    if len(set(y)) < 2:
        return
    tau = stats.kendalltau(x, y)
    p, exact = bias._kendall_p(np.array(x), np.array(y), tau.statistic)
    assert not exact
    assert p == pytest.approx(stats.kendalltau(x, y, method="asymptotic").pvalue, rel=1e-9)


def test_rank_test_undefined_for_identical_effects():
    out = bias.ranktest(meta.rma([0.35] * 5, [0.01, 0.04, 0.02, 0.08, 0.05]))
    assert math.isnan(out.tau) and out.to_dict()["tau"] is None


# metafor 3.8.1: trimfill(rma(yi, vi, control = ctl), estimator = e, control = ctl) with
# ctl = list(threshold = 1e-12): k0, side, estimate, se, tau2 of the filled fit
METAFOR_TRIMFILL = {
    ("magnesium", "L0"): (7, "right", -0.391533369765639, 0.215388320776568, 0.482905392822939),
    ("magnesium", "R0"): (3, "right", -0.586888735552756, 0.2056792909721, 0.318186626611767),
    ("hackshaw", "L0"): (7, "left", 0.174471110412375, 0.0484317417202646, 0.0244557604381625),
    ("hackshaw", "R0"): (7, "left", 0.174471110412375, 0.0484317417202646, 0.0244557604381625),
}


@pytest.mark.parametrize("data,estimator", list(METAFOR_TRIMFILL))
def test_trimfill_matches_metafor(data, estimator):
    k0, side, est, se, tau2 = METAFOR_TRIMFILL[(data, estimator)]
    out = bias.trimfill(fit({"magnesium": magnesium, "hackshaw": hackshaw}[data]()),
                        estimator=estimator)
    assert (out.k0, out.side) == (k0, side)
    assert [out.filled.estimate, out.filled.se, out.filled.tau2] == pytest.approx(
        [est, se, tau2], rel=METAFOR_PRINTED_REL)
    assert out.filled.k == out.original.k + k0
    assert out.imputed.sum() == k0 and out.filled.labels[-1] == f"Filled {k0}"


def test_egger2001_magnesium_trimfill_se_and_p_of_k0():
    # metafor 3.8.1: se.k0 2.44521762135 (L0), 2.82842712475 = sqrt(2*3+2) (R0), p.k0 0.0625
    l0 = bias.trimfill(fit(magnesium()), estimator="L0")
    r0 = bias.trimfill(fit(magnesium()), estimator="R0")
    assert l0.se_k0 == pytest.approx(2.44521762135, rel=METAFOR_CLOSED_FORM_REL) and l0.p_k0 is None
    assert r0.se_k0 == pytest.approx(math.sqrt(8)) and r0.p_k0 == 0.0625


def test_trimfill_mirrors_the_largest_effects_by_hand():
    # With the side fixed, the filled effects are 2b - y for the k0 most extreme effects, b the
    # pooled estimate without them (Duval & Tweedie 2000); their variances are copied.
    y, v, labels = magnesium()
    out = bias.trimfill(fit(magnesium()), side="right")
    k0 = out.k0
    extreme = np.argsort(-y, kind="stable")[-k0:]  # the k0 smallest effects (right side missing)
    keep = np.setdiff1d(np.arange(len(y)), extreme)
    w = 1 / (v[keep] + meta.estimate_tau2(y[keep], v[keep], "REML"))
    b = np.sum(w * y[keep]) / w.sum()
    filled_y, filled_v = out.filled.yi[-k0:], out.filled.vi[-k0:]
    assert sorted(filled_y) == pytest.approx(sorted(2 * b - y[extreme]), rel=1e-9)
    assert sorted(filled_v) == pytest.approx(sorted(v[extreme]), rel=1e-12)


def test_trimfill_symmetric_funnel_imputes_nothing():
    y = np.array([-0.4, -0.2, 0.0, 0.2, 0.4, -0.1, 0.1])
    v = np.array([0.1, 0.05, 0.02, 0.05, 0.1, 0.03, 0.03])
    res = meta.rma(y, v)
    out = bias.trimfill(res)
    assert out.k0 == 0 and out.filled is res
    json.dumps(out.to_dict(), allow_nan=False)
    assert "0 studies imputed" in out.summary()


def test_trimfill_refits_with_the_settings_of_the_fit():
    out = bias.trimfill(fit(magnesium(), ci="hk", pi="t-1"))
    assert out.filled.ci_method == "hk" and out.filled.df == out.filled.k - 1
    with pytest.raises(ValueError, match="estimator must be"):
        bias.trimfill(fit(magnesium()), estimator="Q1")
    with pytest.raises(ValueError, match="side must be"):
        bias.trimfill(fit(magnesium()), side="up")


def test_hackshaw1998_fail_safe_n():
    # tests/reference/REFERENCE-VALUES.md R6: Rosenthal's fail-safe N = 393 for the 37 passive-smoking studies
    y, v, _ = hackshaw()
    assert bias.failsafe(y, v).fsnum == 393


def test_fail_safe_n_by_hand():
    # N = k (Z / 1.645)^2 - k, Z = sum z_i / sqrt(k), rounded up (Rosenthal 1979)
    y, v, _ = magnesium()
    z = abs(np.sum(y / np.sqrt(v))) / math.sqrt(len(y))
    n = len(y) * (z / special.ndtri(0.95)) ** 2 - len(y)
    out = bias.failsafe(y, v)
    assert out.fsnum == math.ceil(n) and out.p == pytest.approx(special.ndtr(-z), rel=1e-12)
    assert bias.failsafe([0.01, -0.01], [1.0, 1.0]).fsnum == 0
    with pytest.raises(ValueError, match="type must be one of"):
        bias.failsafe(y, v, type="Fisher")


def test_orwin_and_rosenberg_by_hand():
    # Orwin (1983): k (mean - target) / target, target = mean / 2 gives k; Rosenberg (2005):
    # k ((sum w y / z_0.975)^2 - sum w) / sum w, rounded up
    y, v = np.array([0.4, 0.2, 0.6, 0.3]), np.array([0.04, 0.02, 0.05, 0.03])
    assert bias.failsafe(y, v, type="Orwin").fsnum == 4
    assert bias.failsafe(y, v, type="Orwin", target=0.1).fsnum == math.ceil(4 * (np.mean(y) - 0.1) / 0.1)
    assert bias.failsafe(y, v, type="Orwin", target=0.0).fsnum == math.inf
    w = 1 / v
    n = 4 * ((np.sum(w * y) / special.ndtri(0.975)) ** 2 - w.sum()) / w.sum()
    out = bias.failsafe(y, v, type="Rosenberg")
    assert out.fsnum == math.ceil(n) and out.mean == pytest.approx(np.sum(w * y) / w.sum())
    json.dumps(out.to_dict(), allow_nan=False)
    assert "Rosenberg" in out.summary() and "<table" in out._repr_html_()


def test_result_views_are_json_ready():
    res = fit(magnesium())
    for out in (bias.regtest(res), bias.ranktest(res), bias.trimfill(res)):
        json.dumps(out.to_dict(), allow_nan=False)
        assert out.summary() and "<table" in out._repr_html_()
