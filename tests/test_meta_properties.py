"""Invariances of the pooling engine (hypothesis property tests).

Each property follows from the model's definition: the estimators are symmetric functions of
the studies, location-equivariant, and scale-equivariant when the variances scale with the
square of the effect scale (tau2 is a variance).
"""
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.stats.meta import METHODS, rma

effects = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False)
variances = st.floats(min_value=0.005, max_value=2.0, allow_nan=False)


@st.composite
def studies(draw, min_k=2, max_k=25):
    k = draw(st.integers(min_k, max_k))
    yi = np.array(draw(st.lists(effects, min_size=k, max_size=k)))
    vi = np.array(draw(st.lists(variances, min_size=k, max_size=k)))
    return yi, vi


methods = st.sampled_from(METHODS)
ci_methods = st.sampled_from(["z", "hk", "hk-adhoc"])


def same(a, b, rel=1e-7, abs_=1e-9):
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


KEYS = ("estimate", "se", "ci_low", "ci_high", "tau2", "q", "i2_q", "i2_tau2", "pi_low",
        "pi_high", "tau2_ci_low", "tau2_ci_high")


@settings(max_examples=150, deadline=None)
@given(studies(), methods, ci_methods, st.randoms(use_true_random=False))
def test_invariant_to_study_order(data, method, ci, rnd):
    yi, vi = data
    order = list(range(yi.size))
    rnd.shuffle(order)
    a = rma(yi, vi, method=method, ci=ci)
    b = rma(yi[order], vi[order], method=method, ci=ci)
    for key in KEYS:
        assert same(getattr(a, key), getattr(b, key), rel=1e-6, abs_=1e-8), key
    assert np.allclose(a.weights[order], b.weights)


@settings(max_examples=150, deadline=None)
@given(studies(), methods, ci_methods, st.floats(-5.0, 5.0))
def test_shift_equivariance(data, method, ci, shift):
    yi, vi = data
    a = rma(yi, vi, method=method, ci=ci)
    b = rma(yi + shift, vi, method=method, ci=ci)
    assert same(b.estimate, a.estimate + shift, abs_=1e-7)
    assert same(b.ci_low, a.ci_low + shift, abs_=1e-7)
    for key in ("se", "tau2", "q", "tau2_ci_high"):
        assert same(getattr(a, key), getattr(b, key), rel=1e-6, abs_=1e-8), key


@settings(max_examples=150, deadline=None)
@given(studies(), methods, ci_methods, st.floats(0.1, 10.0))
def test_scale_equivariance(data, method, ci, c):
    yi, vi = data
    a = rma(yi, vi, method=method, ci=ci)
    b = rma(yi * c, vi * c * c, method=method, ci=ci)
    assert same(b.estimate, a.estimate * c, abs_=1e-7 * c)
    assert same(b.se, a.se * c)
    assert same(b.tau2, a.tau2 * c * c, rel=1e-6, abs_=1e-9 * c * c)
    assert same(b.q, a.q, rel=1e-6, abs_=1e-8)          # Q and I2 are scale-free
    assert same(b.i2_tau2, a.i2_tau2, rel=1e-6, abs_=1e-6)


@settings(max_examples=200, deadline=None)
@given(studies(), st.sampled_from([m for m in METHODS if m != "FE"]))
def test_random_effects_ci_not_narrower_than_fixed(data, method):
    yi, vi = data
    fixed = rma(yi, vi, method="FE", ci="z")
    random = rma(yi, vi, method=method, ci="z")
    assert random.ci_high - random.ci_low >= (fixed.ci_high - fixed.ci_low) * (1 - 1e-12)


@settings(max_examples=200, deadline=None)
@given(studies(min_k=1), methods, ci_methods, st.sampled_from(["z", "t-1", "t-2"]))
def test_basic_sanity(data, method, ci, pi):
    yi, vi = data
    res = rma(yi, vi, method=method, ci=ci, pi=pi)
    assert res.k == yi.size
    assert math.isclose(float(res.weights.sum()), 100.0, rel_tol=1e-9)
    assert np.all(np.isfinite(res.weights)) and np.all(res.weights > 0)
    if res.k > 1:
        assert res.tau2 >= 0
        assert res.tau2_ci_low is None or 0 <= res.tau2_ci_low <= res.tau2_ci_high
        assert 0 <= res.i2_q <= 100
    out = res.to_dict()
    for key, value in out.items():
        if isinstance(value, float):
            assert math.isfinite(value), key
    for key in ("estimate", "se", "ci_low", "ci_high"):
        assert math.isfinite(getattr(res, key)), key
    assert res.ci_low <= res.estimate <= res.ci_high
    if res.pi_low is not None and ci == "z" and pi == "z":
        assert res.pi_low <= res.ci_low + 1e-12 and res.pi_high >= res.ci_high - 1e-12


@settings(max_examples=100, deadline=None)
@given(studies(min_k=3))
def test_qprofile_ci_brackets_consistent(data):
    yi, vi = data
    res = rma(yi, vi, method="PM")
    # the PM estimate solves Q(tau2) = k - 1, which lies between the two Q-profile quantiles
    assert res.tau2_ci_low - 1e-10 <= res.tau2 <= res.tau2_ci_high + 1e-10
