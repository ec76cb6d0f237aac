"""Subgroup analyses and meta-regression (analysis.stats.moderators).

References: metafor's test-suite values for the BCG trials (tests/reference/REFERENCE-VALUES.md
R1; Viechtbauer 2010, J Stat Softw 36(3), section 3.3), metafor 3.8.1 run by hand where stated,
and identities that hold by algebra (computed by hand in the tests). Data: tests/datasets.py.
"""
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from analysis.stats import meta, moderators

from datasets import BCG, PRINTED_4DP, PUBLISHED_REL, bcg_log_rr

# BCG vaccine trials (Colditz et al. 1994; tests/reference/REFERENCE-VALUES.md R1): log risk
# ratios and absolute latitude.
YI, VI = bcg_log_rr()
ABLAT = BCG.ablat.astype(float)

#: The REML score equation y'PPy = tr(P) (Viechtbauer 2005) at the engine's estimate: it holds to
#: the engine's convergence (Fisher scoring stops on tau2 steps below 1e-12).
REML_SCORE_REL = 1e-10
#: metafor 3.8.1 output pasted with 12 significant digits (rounding 5e-12); the margin allows for
#: the two programs' iterative solutions (both stop on tau2 changes below 1e-12).
METAFOR_PRINTED_REL = 1e-9
#: The absolute floor of that comparison, for the fixed-effect fit's tau2 = 0.
METAFOR_PRINTED_ABS = 1e-12
#: A closed form (no iteration: the residual Q of the fixed-effect fit) pasted from metafor with 12
#: significant digits.
METAFOR_CLOSED_FORM_REL = 1e-10


def test_colditz1994_bcg_metaregression_on_latitude():
    # R1: rma(yi, vi, mods = ~ I(ablat - 33.46), method = "REML"), metafor's test-suite values
    # printed to 4 decimals (so within half a unit of the 4th decimal). QM = 16.3571 there
    # comes from metafor's default convergence threshold 1e-5 and is checked with the relative
    # 1e-4 the reference document advises; at threshold 1e-12 metafor 3.8.1 gives 16.35823,
    # which is checked tightly below.
    res = moderators.metareg(YI, VI, {"ablat": ABLAT - 33.46}, method="REML", ci="z")
    coef = res.coef.set_index("term")
    assert coef.loc["intercept", "estimate"] == pytest.approx(-0.7223, abs=PRINTED_4DP)
    assert coef.loc["intercept", "se"] == pytest.approx(0.1077, abs=PRINTED_4DP)
    assert coef.loc["ablat", "estimate"] == pytest.approx(-0.0291, abs=PRINTED_4DP)
    assert coef.loc["ablat", "se"] == pytest.approx(0.0072, abs=PRINTED_4DP)
    assert res.qm == pytest.approx(16.3571, rel=PUBLISHED_REL)
    # The printed tau2 = 0.0764 is the loose-threshold value 0.0763547 rounded; the REML
    # maximum is 0.0763480 (rounds to 0.0763), so tau2 is checked against the tight metafor
    # value and against the REML score equation y'PPy = tr(P) (Viechtbauer 2005) below.
    X = np.column_stack([np.ones(13), ABLAT - 33.46])
    w = 1 / (VI + res.tau2)
    WX = X * w[:, None]
    P = np.diag(w) - WX @ np.linalg.solve(X.T @ WX, WX.T)
    assert (P @ YI) @ (P @ YI) == pytest.approx(np.trace(P), rel=REML_SCORE_REL)
    # metafor 3.8.1, control = list(threshold = 1e-12): QM 16.358232147, tau2 0.0763479639559
    assert res.qm == pytest.approx(16.358232147, rel=METAFOR_PRINTED_REL)
    assert res.tau2 == pytest.approx(0.0763479639559, rel=METAFOR_PRINTED_REL)
    assert res.qm_df == 1 and res.qm_df2 is None
    assert res.qe_df == 11


# metafor 3.8.1: rma(yi, vi, mods = ~ ablat, data = dat.bcg (RR), method = m, test = t,
# control = list(threshold = 1e-12, maxiter = 1000)); tau2, b0, b1, se0, se1, QM, R2.
METAFOR_BCG_ABLAT = {
    ("FE", "z"): (0, 0.343564577447, -0.0292369342595, 0.0810487794877, 0.00265242943425,
                  121.499918072, 77.9765192143),
    ("DL", "z"): (0.0633005024264, 0.259543712434, -0.0292287387552, 0.232307473393,
                  0.00673301083957, 18.8452335426, 79.4984944502),
    ("DL", "hk"): (0.0633005024264, 0.259543712434, -0.0292287387552, 0.273874502068,
                   0.00793775578621, 13.5589070868, 79.4984944502),
    ("REML", "hk"): (0.0763479639559, 0.251468210007, -0.0291017250116, 0.283925283744,
                     0.00820141741105, 12.5909828844, 75.6266218114),
    ("ML", "z"): (0.0343514424819, 0.282107173896, -0.0295093353884, 0.187184556336,
                  0.00548773630757, 28.9156119039, 87.7328604129),
    ("SJ", "z"): (0.231843716119, 0.198271729163, -0.0280713689568, 0.388705846243,
                  0.0110142439804, 6.49557796479, 32.8992242476),
    ("HE", "hk"): (0.209048026359, 0.203115006215, -0.0281767595987, 0.337605654483,
                   0.00958237582428, 8.64640737002, 36.3752216589),
    ("EB", "z"): (0.142131941473, 0.221915964507, -0.0285645258944, 0.317473696547,
                  0.00907018887118, 9.91793777347, 55.3140399535),
}


@pytest.mark.parametrize("method,ci", list(METAFOR_BCG_ABLAT))
def test_colditz1994_bcg_metaregression_every_estimator_matches_metafor(method, ci):
    tau2, b0, b1, se0, se1, qm, r2 = METAFOR_BCG_ABLAT[(method, ci)]
    res = moderators.metareg(YI, VI, {"ablat": ABLAT}, method=method, ci=ci)
    got = [res.tau2, *res.coef["estimate"], *res.coef["se"], res.qm, res.r2]
    want = [tau2, b0, b1, se0, se1, qm, r2]
    assert got == pytest.approx(want, rel=METAFOR_PRINTED_REL, abs=METAFOR_PRINTED_ABS)
    assert res.qe == pytest.approx(30.7330900107, rel=METAFOR_CLOSED_FORM_REL)


def test_paule_mandel_equals_empirical_bayes_with_moderators():
    # Both solve y'P y = k - p (Morris 1983; Viechtbauer et al. 2015): EB's Fisher scoring
    # fixed point (k/(k-p) y'Py - k = 0) is the Paule-Mandel equation.
    pm = moderators.metareg(YI, VI, {"ablat": ABLAT}, method="PM")
    eb = moderators.metareg(YI, VI, {"ablat": ABLAT}, method="EB")
    assert pm.tau2 == pytest.approx(eb.tau2, rel=1e-9)
    X = np.column_stack([np.ones(13), ABLAT])
    w = 1 / (VI + pm.tau2)
    P = np.diag(w) - (X * w[:, None]) @ np.linalg.solve(X.T @ (X * w[:, None]), (X * w[:, None]).T)
    assert YI @ P @ YI == pytest.approx(13 - 2, rel=1e-10)


def test_single_moderator_tests_are_consistent():
    # One moderator: QM = z^2 (chi2, 1 df); under Knapp-Hartung QM = t^2 ~ F(1, k-2).
    z = moderators.metareg(YI, VI, {"ablat": ABLAT}, method="REML", ci="z")
    assert z.qm == pytest.approx(z.coef["statistic"].iloc[1] ** 2, rel=1e-12)
    assert z.qm_p == pytest.approx(z.coef["p"].iloc[1], rel=1e-10)
    hk = moderators.metareg(YI, VI, {"ablat": ABLAT}, method="REML", ci="hk")
    assert hk.qm == pytest.approx(hk.coef["statistic"].iloc[1] ** 2, rel=1e-12)
    assert hk.qm_df == 1 and hk.qm_df2 == 11
    assert hk.qm_p == pytest.approx(hk.coef["p"].iloc[1], rel=1e-10)
    crit = special.stdtrit(11, 0.975)
    row = hk.coef.iloc[1]
    assert row.ci_high - row.ci_low == pytest.approx(2 * crit * row.se, rel=1e-12)


def test_adhoc_knapp_hartung_never_narrower_than_z():
    # metafor test = "adhoc": s2 truncated below at 1 (Jackson et al. 2017)
    z = moderators.metareg(YI, VI, {"ablat": ABLAT}, method="REML", ci="z")
    adhoc = moderators.metareg(YI, VI, {"ablat": ABLAT}, method="REML", ci="hk-adhoc")
    assert np.all(adhoc.coef["se"].to_numpy() >= z.coef["se"].to_numpy() - 1e-15)


def test_fixed_effect_dummy_regression_reproduces_subgroup_means_by_hand():
    # With tau2 = 0 and one dummy, the intercept is the inverse-variance mean of the reference
    # group, the slope the difference of the two means, QM the Q-between and QE the sum of
    # the within-group Q (Borenstein et al. 2009, ch. 19-20), all computed here by hand.
    groups = np.array(["a"] * 6 + ["b"] * 7)
    w = 1 / VI
    means, q_within = {}, 0.0
    for g in ("a", "b"):
        s = groups == g
        means[g] = np.sum(w[s] * YI[s]) / w[s].sum()
        q_within += np.sum(w[s] * (YI[s] - means[g]) ** 2)
    grand = np.sum(w * YI) / w.sum()
    q_between = sum(w[groups == g].sum() * (means[g] - grand) ** 2 for g in ("a", "b"))
    res = moderators.metareg(YI, VI, {"g": groups}, method="FE")
    assert list(res.coef["term"]) == ["intercept", "g[b]"]
    assert res.coef["estimate"].to_numpy() == pytest.approx([means["a"], means["b"] - means["a"]],
                                                            rel=1e-12)
    assert res.qm == pytest.approx(q_between, rel=1e-10)
    assert res.qe == pytest.approx(q_within, rel=1e-10)
    assert res.tau2 == 0


def test_categorical_moderators_become_treatment_dummies():
    # a three-level factor for the coding test; not dat.bcg's alloc (BCG.alloc), which differs
    # in trials 2 and 9
    alloc = ["random", "alternate", "random", "random", "alternate", "alternate", "random",
             "random", "systematic", "systematic", "systematic", "systematic", "systematic"]
    res = moderators.metareg(YI, VI, pd.DataFrame({"alloc": alloc}), method="REML")
    # R's factor(): sorted levels, the first ("alternate") is the reference
    assert list(res.coef["term"]) == ["intercept", "alloc[random]", "alloc[systematic]"]
    manual = moderators.metareg(YI, VI, {"random": [a == "random" for a in alloc],
                                         "systematic": [a == "systematic" for a in alloc]})
    assert res.coef["estimate"].to_numpy() == pytest.approx(manual.coef["estimate"].to_numpy(),
                                                            rel=1e-12)
    assert res.qm == pytest.approx(manual.qm, rel=1e-12)
    assert res.qm_df == 2
    # a pandas Categorical keeps its own level order
    ordered = pd.Categorical(alloc, categories=["systematic", "random", "alternate"])
    res2 = moderators.metareg(YI, VI, {"alloc": ordered})
    assert list(res2.coef["term"]) == ["intercept", "alloc[random]", "alloc[alternate]"]
    assert res2.qm == pytest.approx(res.qm, rel=1e-10)
    assert res2.tau2 == pytest.approx(res.tau2, rel=1e-10)


def test_model_matrix_without_intercept_by_hand():
    # R's model.matrix: without an intercept the first factor gets one dummy per level (the same
    # column space as intercept + treatment dummies, so the same fit), later factors contrasts
    alloc = ["random", "alternate", "random", "random", "alternate", "alternate", "random",
             "random", "systematic", "systematic", "systematic", "systematic", "systematic"]
    X, names, tested = moderators.design_matrix({"alloc": alloc}, 13, intercept=False)
    assert names == ["alloc[alternate]", "alloc[random]", "alloc[systematic]"] and tested == [0, 1, 2]
    np.testing.assert_array_equal(X.sum(axis=1), np.ones(13))
    cell = moderators.metareg(YI, VI, {"alloc": alloc}, intercept=False)
    contrasts = moderators.metareg(YI, VI, {"alloc": alloc})
    assert cell.tau2 == pytest.approx(contrasts.tau2, rel=1e-10)
    # each coefficient is that level's mean: the intercept plus its contrast
    b = contrasts.coef["estimate"].to_numpy()
    np.testing.assert_allclose(cell.coef["estimate"], [b[0], b[0] + b[1], b[0] + b[2]], rtol=1e-9)
    X2, names2, _ = moderators.design_matrix({"x": ABLAT, "alloc": alloc, "half": GROUPS}, 13,
                                             intercept=False)
    assert names2 == ["x", "alloc[alternate]", "alloc[random]", "alloc[systematic]", "half[south]"]


def test_r_collation_key_by_hand():
    labels = ["Online", "online", "face-to-face", "Face to face", "10", "9", "_x"]
    assert sorted(labels, key=moderators.r_collation_key) == [
        "_x", "10", "9", "Face to face", "face-to-face", "online", "Online"]


def test_predict_test_terms_and_errors():
    alloc = ["random", "alternate", "random", "random", "alternate", "alternate", "random",
             "random", "systematic", "systematic", "systematic", "systematic", "systematic"]
    res = moderators.metareg(YI, VI, {"ablat": ABLAT, "alloc": alloc})
    pred = res.predict({"ablat": [20.0, 50.0], "alloc": ["random", "alternate"]})
    b = res.coef.set_index("term")["estimate"]
    assert pred["pred"].tolist() == pytest.approx(
        [b["intercept"] + 20 * b["ablat"] + b["alloc[random]"], b["intercept"] + 50 * b["ablat"]])
    # the studies' own fitted values by default; the PI adds tau2 to the variance of the fit
    fitted = res.predict()
    assert fitted["pi_high"].iloc[0] - fitted["pred"].iloc[0] == pytest.approx(
        special.ndtri(0.975) * math.sqrt(fitted["se"].iloc[0] ** 2 + res.tau2))
    both = res.test_terms("alloc")
    assert both.terms == ["alloc[random]", "alloc[systematic]"] and both.df == 2
    assert res.test_terms([1]).qm == pytest.approx(res.coef["statistic"].iloc[1] ** 2, rel=1e-10)
    with pytest.raises(ValueError, match="not one of its levels"):
        res.predict({"ablat": [20.0], "alloc": ["none"]})
    with pytest.raises(ValueError, match="needs a value for moderator 'alloc'"):
        res.predict({"ablat": [20.0]})
    with pytest.raises(ValueError, match="no term 'dose'"):
        res.test_terms("dose")


def test_approximate_permutation_test_is_seeded():
    res = moderators.metareg(YI, VI, {"ablat": ABLAT})
    a = moderators.permutation_test(res, iterations=60, seed=3)
    b = moderators.permutation_test(res, iterations=60, seed=3)
    assert not a.exact and a.permutations == 60 and a.p == b.p and a.qm_p == b.qm_p
    # the observed data are the first permutation, so no p-value is below 1/iterations
    assert min(a.p) >= 1 / 60 and a.qm_p >= 1 / 60
    json.dumps(a.to_dict(), allow_nan=False)
    assert "approximate (seed 3" in a.summary()


def test_r2_against_intercept_only_model():
    # R2 = max(0, (tau2_0 - tau2) / tau2_0) * 100 with tau2_0 of rma() with the same estimator
    res = moderators.metareg(YI, VI, {"ablat": ABLAT}, method="DL")
    tau2_0 = meta.rma(YI, VI, method="DL").tau2
    assert res.r2 == pytest.approx(100 * (tau2_0 - res.tau2) / tau2_0, rel=1e-12)
    assert moderators.metareg(YI, VI, {"ablat": ABLAT}, intercept=False).r2 is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-2, 2), st.floats(0.01, 1)), min_size=3, max_size=12),
       st.sampled_from(["DL", "HE", "SJ", "PM", "ML", "REML", "EB"]))
def test_intercept_only_tau2_matches_pooling_engine(data, method):
    # The general-X estimators reduce to the intercept-only ones of analysis.stats.meta
    y = np.array([d[0] for d in data])
    v = np.array([d[1] for d in data])
    general = moderators.residual_tau2(y, v, np.ones((len(y), 1)), method)
    assert general == pytest.approx(meta.estimate_tau2(y, v, method), rel=1e-7, abs=1e-9)


def test_metareg_input_errors():
    with pytest.raises(ValueError, match="moderator 'x' is missing for study 3"):
        moderators.metareg(YI[:4], VI[:4], {"x": [1.0, 2.0, np.nan, 4.0]})
    with pytest.raises(ValueError, match="not of full rank"):
        moderators.metareg(YI[:5], VI[:5], {"x": [1.0] * 5})
    with pytest.raises(ValueError, match="3 parameters cannot be estimated from k = 2"):
        moderators.metareg(YI[:2], VI[:2], {"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="has 3 values for k = 4"):
        moderators.metareg(YI[:4], VI[:4], {"x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="method must be one of"):
        moderators.metareg(YI, VI, {"x": ABLAT}, method="XX")


def test_metareg_result_views():
    res = moderators.metareg(YI, VI, {"ablat": ABLAT})
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["coefficients"][1]["term"] == "ablat"
    assert "QM(1)" in res.summary() and "ablat" in res.summary()
    assert "<table" in res._repr_html_()


# ---------------------------------------------------------------------------------------------
# subgroups

GROUPS = ["north"] * 4 + ["south"] * 5 + ["north"] * 2 + ["south"] * 2


def test_subgroup_separate_tau2_q_between_by_hand():
    # Q_between = sum w_g (est_g - est_w)^2, w_g = 1/se_g^2, on G - 1 df (Borenstein et al.
    # 2009, eq. 19.7); each subgroup is the REML fit of its own studies.
    parent = meta.rma(YI, VI, method="REML")
    out = moderators.subgroup(parent, GROUPS, tau2="separate")
    assert list(out.groups) == ["north", "south"]
    north = meta.rma(YI[[0, 1, 2, 3, 9, 10]], VI[[0, 1, 2, 3, 9, 10]], method="REML")
    south = meta.rma(YI[[4, 5, 6, 7, 8, 11, 12]], VI[[4, 5, 6, 7, 8, 11, 12]], method="REML")
    assert out.groups["north"].estimate == pytest.approx(north.estimate, rel=1e-12)
    assert out.groups["south"].tau2 == pytest.approx(south.tau2, rel=1e-12)
    w = np.array([1 / north.se ** 2, 1 / south.se ** 2])
    est = np.array([north.estimate, south.estimate])
    mean = np.sum(w * est) / w.sum()
    q = np.sum(w * (est - mean) ** 2)
    assert out.q_between == pytest.approx(q, rel=1e-12)
    assert out.df_between == 1
    assert out.p_between == pytest.approx(math.erfc(math.sqrt(q / 2)), rel=1e-10)  # chi2(1) tail
    assert out.overall is parent


def test_subgroup_common_tau2_is_the_metaregression():
    parent = meta.rma(YI, VI, method="REML")
    out = moderators.subgroup(parent, GROUPS, tau2="common")
    reg = moderators.metareg(YI, VI, {"g": pd.Categorical(GROUPS, categories=["north", "south"])})
    assert out.q_between == pytest.approx(reg.qm, rel=1e-12)
    assert out.tau2_common == pytest.approx(reg.tau2, rel=1e-12)
    # each subgroup pooled with the common tau2: w = 1/(v + tau2), computed by hand
    for name, b in zip(["north", "south"], [reg.coef["estimate"].iloc[0], reg.coef["estimate"].sum()]):
        s = np.array(GROUPS) == name
        w = 1 / (VI[s] + reg.tau2)
        assert out.groups[name].estimate == pytest.approx(np.sum(w * YI[s]) / w.sum(), rel=1e-12)
        assert out.groups[name].estimate == pytest.approx(b, rel=1e-10)
        assert out.groups[name].se == pytest.approx(1 / math.sqrt(w.sum()), rel=1e-12)


def test_subgroup_common_tau2_under_knapp_hartung_is_an_f_test():
    parent = meta.rma(YI, VI, method="REML", ci="hk")
    out = moderators.subgroup(parent, GROUPS, tau2="common")
    assert out.test == "F" and out.df_between == 1 and out.df_between2 == 11
    assert "F(1, 11)" in out.summary()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-2, 2), st.floats(0.01, 1), st.sampled_from("abc")),
                min_size=4, max_size=15))
def test_fixed_effect_q_between_equals_the_dummy_regression_test(data):
    # With tau2 = 0, Q_between of the subgroup estimates equals the fixed-effect meta-regression
    # QM on the subgroup dummies (Q_total = Q_between + Q_within; Borenstein et al. 2009, ch. 19)
    y, v, groups = ([d[i] for d in data] for i in range(3))
    if len(set(groups)) < 2:
        return
    sep = moderators.subgroup(meta.rma(y, v, method="FE"), groups, tau2="separate")
    reg = moderators.metareg(y, v, {"g": groups}, method="FE")
    assert sep.df_between == reg.qm_df == len(set(groups)) - 1
    assert sep.q_between == pytest.approx(reg.qm, rel=1e-7, abs=1e-9)
    common = moderators.subgroup(meta.rma(y, v, method="FE"), groups, tau2="common")
    assert common.q_between == sep.q_between and common.tau2_model == "common"


def test_single_study_subgroup_is_that_study():
    parent = meta.rma(YI, VI, method="REML", ci="hk")
    groups = ["one"] + ["rest"] * 12
    out = moderators.subgroup(parent, groups)
    one = out.groups["one"]
    assert one.k == 1 and one.estimate == YI[0] and one.se == pytest.approx(math.sqrt(VI[0]))
    rest = out.groups["rest"]
    w = np.array([1 / VI[0], 1 / rest.se ** 2])
    est = np.array([YI[0], rest.estimate])
    assert out.q_between == pytest.approx(np.sum(w * (est - np.sum(w * est) / w.sum()) ** 2), rel=1e-12)
    json.dumps(out.to_dict(), allow_nan=False)
    assert "one" in out.summary() and "<table" in out._repr_html_()


def test_subgroup_input_errors():
    parent = meta.rma(YI, VI)
    with pytest.raises(ValueError, match="subgroup of study 2 is missing"):
        moderators.subgroup(parent, ["a", None] + ["b"] * 11)
    with pytest.raises(ValueError, match="groups has 3 values for k = 13"):
        moderators.subgroup(parent, ["a", "b", "c"])
    with pytest.raises(ValueError, match="'separate' or 'common'"):
        moderators.subgroup(parent, GROUPS, tau2="pooled")
    one = moderators.subgroup(parent, ["a"] * 13)
    assert one.q_between is None and one.p_between is None
