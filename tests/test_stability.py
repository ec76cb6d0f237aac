"""Stability statement: the size of a new trial that changes whether the CI includes zero."""
import numpy as np

from analysis.stats import meta
from analysis.stats.stability import _var_smd, stability


def test_null_trial_size_is_the_smallest_that_flips():
    yi = np.array([0.30, 0.25, 0.40, 0.20])
    vi = np.array([0.02, 0.03, 0.025, 0.02])
    res = meta.rma(yi, vi, method="FE")
    assert res.ci_low > 0
    st = stability(res)
    assert st.ci_excludes_zero and st.participants is not None

    def ci_low_with(n):
        return meta.rma(np.append(yi, 0.0), np.append(vi, _var_smd(0.0, n)), method="FE").ci_low

    assert ci_low_with(st.participants) <= 0          # this size flips the conclusion
    assert ci_low_with(st.participants - 2) > 0       # two fewer participants does not
    assert f"{st.participants} participants" in st.statement


def test_when_ci_includes_zero_a_trial_at_the_pooled_effect_is_sized():
    yi = np.array([0.30, -0.10, 0.20])
    vi = np.array([0.05, 0.06, 0.05])
    res = meta.rma(yi, vi, method="FE")
    assert res.ci_low < 0 < res.ci_high
    st = stability(res)
    assert not st.ci_excludes_zero and st.new_trial_effect == res.estimate
    fit = meta.rma(np.append(yi, res.estimate), np.append(vi, _var_smd(res.estimate, st.participants)), method="FE")
    assert fit.ci_low > 0
