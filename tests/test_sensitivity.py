"""Sensitivity analyses (analysis.stats.sensitivity).

References: metafor's test-suite values for the BCG trials (tests/reference/REFERENCE-VALUES.md
R1), metafor 3.8.1 run by hand where stated (``control = list(threshold = 1e-12)``), and
hand computations. Data: tests/datasets.py.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from analysis.stats import meta, sensitivity

from datasets import BCG, PRINTED_4DP, bcg_log_rr

# BCG vaccine trials (Colditz et al. 1994; tests/reference/REFERENCE-VALUES.md R1): log risk
# ratios and publication years.
YI, VI = bcg_log_rr()
YEAR = BCG.year
LABELS = [f"trial {i}" for i in range(1, 14)]
TIGHT = {"threshold": 1e-14}

#: metafor 3.8.1 influence() output pasted with (at least) 10 significant digits.
METAFOR_10_DIGITS_REL = 1e-9
#: metafor 3.8.1 aggregate() output pasted with 13-14 decimals, which is a rounding below 1e-12
#: relative for these values (a closed form: no iteration).
METAFOR_AGGREGATE_REL = 1e-12


def bcg(**kw):
    return meta.rma(YI, VI, labels=LABELS, control=TIGHT, **kw)


def test_colditz1994_bcg_leave_one_out_trial_1():
    # tests/reference/REFERENCE-VALUES.md R1: REML without trial 1: -0.7071 [-1.0794, -0.3348],
    # tau2 0.3362 (4 decimals)
    frame = sensitivity.leave_one_out(bcg())
    row = frame.iloc[0]
    assert row.study == "trial 1"
    assert [row.estimate, row.ci_low, row.ci_high, row.tau2] == pytest.approx(
        [-0.7071, -1.0794, -0.3348, 0.3362], abs=PRINTED_4DP)
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


def test_colditz1994_bcg_cumulative_by_year():
    # tests/reference/REFERENCE-VALUES.md R1: cumulative REML by year (ties in data order): first
    # five values and the last
    frame = sensitivity.cumulative(bcg(), by=YEAR)
    assert frame["estimate"].iloc[:5].to_numpy() == pytest.approx(
        [-0.8893, -1.3250, -0.9721, -1.0011, -1.1014], abs=PRINTED_4DP)
    assert frame["estimate"].iloc[-1] == pytest.approx(-0.7145, abs=PRINTED_4DP)
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
def test_colditz1994_bcg_influence_matches_metafor(ci):
    frame = sensitivity.influence(bcg(ci=ci))
    for i, expected in METAFOR_INFLUENCE[ci].items():
        assert frame.loc[i, INFLUENCE_COLUMNS].to_numpy(float) == pytest.approx(
            expected, rel=METAFOR_10_DIGITS_REL)
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


def test_colditz1994_bcg_aggregate_matches_metafor_cs():
    # metafor 3.8.1: aggregate(escalc(yi, vi), cluster = cl, rho = 0.5), struct = "CS"
    cluster = [1, 1, 2, 3, 3, 3, 4, 5, 6, 7, 7, 8, 9]
    es = sensitivity.aggregate(YI, VI, cluster, rho=0.5)
    assert es.labels == [str(c) for c in range(1, 10)]
    assert es.yi[[0, 2, 6]] == pytest.approx([-1.4071825653102, -0.9069232026520, -0.2901004050007],
                                             rel=METAFOR_AGGREGATE_REL)
    assert es.vi[[0, 2, 6]] == pytest.approx([0.17698487621178, 0.00657970323512, 0.01228615367179],
                                             rel=METAFOR_AGGREGATE_REL)
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
