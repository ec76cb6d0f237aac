"""Sensitivity analyses (analysis.stats.sensitivity).

References: metafor's test-suite values for the BCG trials (docs/REFERENCE-VALUES.md, R1),
metafor 3.8.1 run by hand where stated (``control = list(threshold = 1e-12)``), and
hand computations.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from analysis.stats import meta, sensitivity

# BCG vaccine trials (Colditz et al. 1994; REFERENCE-VALUES.md R1): log risk ratios.
TPOS = np.array([4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27.])
TNEG = np.array([119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886.])
CPOS = np.array([11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29.])
CNEG = np.array([128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825.])
YEAR = np.array([1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969, 1976])
YI = np.log(TPOS / (TPOS + TNEG)) - np.log(CPOS / (CPOS + CNEG))
VI = 1 / TPOS - 1 / (TPOS + TNEG) + 1 / CPOS - 1 / (CPOS + CNEG)
LABELS = [f"trial {i}" for i in range(1, 14)]
TIGHT = {"threshold": 1e-14}


def bcg(**kw):
    return meta.rma(YI, VI, labels=LABELS, control=TIGHT, **kw)


def test_leave_one_out_bcg_trial_1():
    # R1: REML without trial 1: -0.7071 [-1.0794, -0.3348], tau2 0.3362 (4 decimals)
    frame = sensitivity.leave_one_out(bcg())
    row = frame.iloc[0]
    assert row.study == "trial 1"
    assert [row.estimate, row.ci_low, row.ci_high, row.tau2] == pytest.approx(
        [-0.7071, -1.0794, -0.3348, 0.3362], abs=5e-5)
    assert list(frame.columns) == ["study", "estimate", "se", "statistic", "p", "ci_low", "ci_high",
                                   "q", "q_df", "q_p", "tau2", "i2_q", "i2_tau2", "h2"]


@pytest.mark.parametrize("ci", ["z", "hk"])
def test_leave_one_out_is_the_refit_without_that_study(ci):
    parent = bcg(ci=ci, method="DL")
    frame = sensitivity.leave_one_out(parent)
    for i in (0, 6, 12):
        keep = np.arange(13) != i
        ref = meta.rma(YI[keep], VI[keep], method="DL", ci=ci)
        row = frame.iloc[i]
        assert [row.estimate, row.se, row.ci_low, row.ci_high, row.p, row.tau2, row.i2_q, row.q] \
            == pytest.approx([ref.estimate, ref.se, ref.ci_low, ref.ci_high, ref.p, ref.tau2,
                              ref.i2_q, ref.q], rel=1e-12)


def test_cumulative_by_year_bcg():
    # R1: cumulative REML by year (ties in data order): first five values and the last
    frame = sensitivity.cumulative(bcg(), by=YEAR)
    assert frame["estimate"].iloc[:5].to_numpy() == pytest.approx(
        [-0.8893, -1.3250, -0.9721, -1.0011, -1.1014], abs=5e-5)
    assert frame["estimate"].iloc[-1] == pytest.approx(-0.7145, abs=5e-5)
    # 1973 is shared by trials 5 and 7: data order keeps trial 5 first
    assert frame["study"].tolist()[7:9] == ["trial 5", "trial 7"]
    assert frame["k"].tolist() == list(range(1, 14))


def test_cumulative_last_step_is_the_full_fit_and_first_is_the_first_study():
    parent = bcg(method="REML", ci="hk")
    order = np.argsort(YEAR, kind="stable")
    frame = sensitivity.cumulative(parent, order=order)
    last = frame.iloc[-1]
    assert [last.estimate, last.se, last.ci_low, last.ci_high, last.tau2] == pytest.approx(
        [parent.estimate, parent.se, parent.ci_low, parent.ci_high, parent.tau2], rel=1e-12)
    first = frame.iloc[0]
    assert first.estimate == YI[order[0]] and first.se == pytest.approx(math.sqrt(VI[order[0]]))
    assert math.isnan(first.tau2)  # heterogeneity undefined for one study
    assert frame.equals(sensitivity.cumulative(parent, by=YEAR))
    data_order = sensitivity.cumulative(parent)
    assert data_order["study"].tolist() == LABELS


def test_cumulative_argument_errors():
    with pytest.raises(ValueError, match="permutation"):
        sensitivity.cumulative(bcg(), order=[0, 0, 1])
    with pytest.raises(ValueError, match="not both"):
        sensitivity.cumulative(bcg(), order=range(13), by=YEAR)
    with pytest.raises(ValueError, match="by has 2 values"):
        sensitivity.cumulative(bcg(), by=[1, 2])


# metafor 3.8.1: influence(rma(yi, vi, data = dat.bcg (RR), test = t, control = list(threshold =
# 1e-12))): rstudent, dffits, cook.d, cov.r, tau2.del, QE.del, hat, weight, dfbs for trials 1, 4, 8
METAFOR_INFLUENCE = {
    "z": {0: (-0.2181424857, -0.04070754750, 0.0017165413416, 1.1164489861, 0.3361567018,
              151.58257275, 0.05059482734, 5.059482734, -0.04026588917),
          3: (-1.4512006643, -0.52005098847, 0.2294816391157, 0.9651264851, 0.2627581481,
              96.56259497, 0.09698747019, 9.698747019, -0.51381338732),
          7: (1.4500805246, 0.47746000737, 0.1991775917387, 1.0010701389, 0.2731829294,
              67.98581150, 0.10189439037, 10.189439037, 0.47137388373)},
    "hk": {0: (-0.2135978504, -0.03985947356, 0.001697411561, 1.1514856541, 0.3361567018,
               151.58257275, 0.05059482734, 5.059482734, -0.03942701644),
           3: (-1.4087798527, -0.50484910392, 0.226924209634, 1.0127116240, 0.2627581481,
               96.56259497, 0.09698747019, 9.698747019, -0.49879383737),
           7: (1.4308509657, 0.47112839670, 0.196957881931, 1.0167000216, 0.2731829294,
               67.98581150, 0.10189439037, 10.189439037, 0.46512298131)},
}
INFLUENCE_COLUMNS = ["rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "q_del", "hat", "weight",
                     "dfbetas"]


@pytest.mark.parametrize("ci", ["z", "hk"])
def test_influence_matches_metafor(ci):
    frame = sensitivity.influence(bcg(ci=ci))
    for i, expected in METAFOR_INFLUENCE[ci].items():
        # metafor printed 10 significant digits
        assert frame.loc[i, INFLUENCE_COLUMNS].to_numpy(float) == pytest.approx(expected, rel=1e-9)
    assert not frame["influential"].any()


def test_influence_by_hand():
    parent = bcg()
    frame = sensitivity.influence(parent)
    w = 1 / (VI + parent.tau2)
    assert frame["hat"].to_numpy() == pytest.approx(w / w.sum(), rel=1e-12)
    assert frame["hat"].sum() == pytest.approx(1.0)
    deleted = parent.refit(np.arange(13) != 4)
    assert frame.loc[4, "cov_r"] == pytest.approx(deleted.se ** 2 / parent.se ** 2, rel=1e-12)
    assert frame.loc[4, "cook_d"] == pytest.approx(
        (parent.estimate - deleted.estimate) ** 2 / parent.se ** 2, rel=1e-12)
    assert frame.loc[4, "rstudent"] == pytest.approx(
        (YI[4] - deleted.estimate) / math.sqrt(VI[4] + deleted.tau2 + deleted.se ** 2), rel=1e-12)


def test_influence_flags_a_dominant_study():
    # Consistent effects, one study carrying 88% of the weight: only the hat criterion
    # (hat > 3p/k, metafor) fires, and only for that study
    y = np.array([0.1, 0.2, 0.15, 0.05, 0.12, 0.18, 0.13])
    v = np.array([0.04, 0.05, 0.04, 0.06, 0.05, 0.04, 0.001])
    frame = sensitivity.influence(meta.rma(y, v, method="REML"))
    assert frame["influential"].tolist() == [False] * 6 + [True]
    assert frame.loc[6, "hat"] > 3 / 7
    assert frame["dffits"].abs().max() < 3 * math.sqrt(1 / 6)
    assert frame["dfbetas"].abs().max() < 1


def test_outliers_bcg_by_hand():
    parent = bcg()
    half = special.ndtri(0.975) * np.sqrt(VI)
    expected = [lab for lab, lo, hi in zip(LABELS, YI - half, YI + half)
                if hi < parent.ci_low or lo > parent.ci_high]
    assert sensitivity.outliers(parent) == expected == ["trial 4", "trial 8"]


def test_aggregate_matches_metafor_cs():
    # metafor 3.8.1: aggregate(escalc(yi, vi), cluster = cl, rho = 0.5), struct = "CS"
    cluster = [1, 1, 2, 3, 3, 3, 4, 5, 6, 7, 7, 8, 9]
    es = sensitivity.aggregate(YI, VI, cluster, rho=0.5)
    assert es.labels == [str(c) for c in range(1, 10)]
    assert es.yi[[0, 2, 6]] == pytest.approx([-1.4071825653102, -0.9069232026520, -0.2901004050007],
                                             rel=1e-12)
    assert es.vi[[0, 2, 6]] == pytest.approx([0.17698487621178, 0.00657970323512, 0.01228615367179],
                                             rel=1e-12)
    assert es.yi[1] == YI[2] and es.vi[1] == VI[2]  # a single effect is kept as it is


@settings(max_examples=50, deadline=None)
@given(st.floats(-2, 2), st.floats(-2, 2), st.floats(0.01, 1), st.floats(0.01, 1),
       st.floats(-0.9, 0.9))
def test_aggregate_two_effects_by_hand(y1, y2, v1, v2, rho):
    # GLS mean of two correlated effects, c = rho sqrt(v1 v2) (Borenstein et al. 2009, ch. 24)
    c = rho * math.sqrt(v1 * v2)
    es = sensitivity.aggregate([y1, y2], [v1, v2], ["s", "s"], rho=rho)
    assert es.yi[0] == pytest.approx(((v2 - c) * y1 + (v1 - c) * y2) / (v1 + v2 - 2 * c),
                                     rel=1e-9, abs=1e-9)
    assert es.vi[0] == pytest.approx((v1 * v2 - c * c) / (v1 + v2 - 2 * c), rel=1e-9)


def test_aggregate_with_rho_zero_is_the_fixed_effect_mean():
    es = sensitivity.aggregate(YI[:3], VI[:3], ["a", "a", "a"], rho=0.0)
    w = 1 / VI[:3]
    assert es.yi[0] == pytest.approx(np.sum(w * YI[:3]) / w.sum(), rel=1e-12)
    assert es.vi[0] == pytest.approx(1 / w.sum(), rel=1e-12)


def test_aggregate_errors():
    with pytest.raises(ValueError, match="rho = 1.5"):
        sensitivity.aggregate(YI[:2], VI[:2], ["a", "a"], rho=1.5)
    with pytest.raises(ValueError, match="cluster 'a'.*not positive definite"):
        sensitivity.aggregate([0.1, 0.2], [0.1, 0.1], ["a", "a"], rho=1.0)
    with pytest.raises(ValueError, match="effect 1 \\(cluster 'b'\\)"):
        sensitivity.aggregate([0.1, np.nan], [0.1, 0.1], ["a", "b"])
    with pytest.raises(ValueError, match="different lengths"):
        sensitivity.aggregate([0.1, 0.2], [0.1], ["a", "b"])


def test_small_inputs_rejected():
    one = meta.rma([0.1], [0.1])
    with pytest.raises(ValueError, match="at least two"):
        sensitivity.leave_one_out(one)
    with pytest.raises(ValueError, match="at least two"):
        sensitivity.influence(one)
