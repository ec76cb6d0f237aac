"""Bayesian random-effects meta-analysis against a dense brute-force 2-D integration."""
import numpy as np
import pytest

from analysis.stats.bayes import bayes_meta

#: The posterior summaries from the brute-force grid (trapezoid rule, steps 0.002 in mu and tau,
#: quantiles by linear interpolation of the cdf) against the engine's.
BRUTE_FORCE_ABS = 1e-4


def _brute_force(yi, vi, scale, mid):
    """Posterior of mu on a dense (mu, tau) grid: trapezoid rule in both directions."""
    mu = np.linspace(-6.0, 6.0, 6001)
    tau = np.linspace(0.0, 4.0, 2001)
    log_post = -0.5 * tau[None, :] ** 2 / scale**2 + np.zeros((mu.size, 1))
    for y, v in zip(yi, vi):
        s2 = v + tau[None, :] ** 2
        log_post = log_post - 0.5 * np.log(s2) - 0.5 * (y - mu[:, None]) ** 2 / s2
    post = np.exp(log_post - log_post.max())
    dens_mu = np.trapezoid(post, tau, axis=1)
    dens_mu /= np.trapezoid(dens_mu, mu)
    cdf = np.concatenate([[0.0], np.cumsum((dens_mu[1:] + dens_mu[:-1]) / 2 * np.diff(mu))])

    def prob_above(x):
        return 1.0 - np.interp(x, mu, cdf)

    return {
        "median": np.interp(0.5, cdf, mu),
        "ci_low": np.interp(0.025, cdf, mu),
        "ci_high": np.interp(0.975, cdf, mu),
        "p_positive": prob_above(0.0),
        "p_above_mid": prob_above(mid),
    }


@pytest.mark.parametrize("yi,vi", [
    ([0.2, 0.35, -0.1, 0.5, 0.12, 0.3], [0.04, 0.02, 0.05, 0.08, 0.01, 0.03]),
    ([0.05, 0.9], [0.02, 0.05]),                       # k = 2, heterogeneous
    ([0.15, 0.15, 0.15], [0.03, 0.03, 0.03]),         # identical effects
])
def test_posterior_matches_brute_force(yi, vi):
    res = bayes_meta(yi, vi, tau_scale=0.5, mid=0.2)
    ref = _brute_force(np.array(yi), np.array(vi), 0.5, 0.2)
    for key, value in ref.items():
        assert getattr(res, key) == pytest.approx(value, abs=BRUTE_FORCE_ABS), key


def test_predictive_interval_wider_than_credible_interval():
    res = bayes_meta([0.2, 0.35, -0.1, 0.5], [0.04, 0.02, 0.05, 0.08])
    assert res.predictive_low < res.ci_low < res.median < res.ci_high < res.predictive_high


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        bayes_meta([0.1, 0.2], [0.1, -0.1])
    with pytest.raises(ValueError):
        bayes_meta([], [])
