"""Bayesian random-effects meta-analysis by numerical integration over tau (no MCMC).

Model (the normal-normal hierarchical model of bayesmeta, Röver 2020):
``y_i | theta_i ~ N(theta_i, v_i)``, ``theta_i | mu, tau ~ N(mu, tau^2)``, a flat (improper)
prior on ``mu`` and a half-normal prior on ``tau`` with a stated scale. Given tau, the posterior of
mu is normal with mean ``mu_hat(tau) = sum w y / sum w`` and variance ``1 / sum w``,
``w = 1 / (v + tau^2)``; the marginal posterior of tau is
``p(tau | y) ∝ p(tau) prod (v_i + tau^2)^(-1/2) (sum w)^(-1/2) exp(-Q(tau)/2)``,
``Q(tau) = sum w (y - mu_hat)^2``. Every posterior quantity of mu (and of a new trial's effect,
``theta_new | tau ~ N(mu_hat, 1/sum w + tau^2)``) is a mixture of normals over tau, evaluated by
Gauss-Legendre quadrature on tau.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from analysis.stats.conventions import MID

#: Half-normal prior scale for tau on the SMD scale (Röver et al. 2021 consider 0.5 a weakly
#: informative choice for standardised effects; stated in the book).
DEFAULT_TAU_SCALE = 0.5


@dataclass(frozen=True)
class BayesResult:
    """Posterior summaries of ``bayes_meta``.

    mu (median, interval, mean, sd, P(mu > 0), P(mu > mid)), the predictive distribution of a
    new trial's effect, and tau.
    """

    k: int
    tau_prior_scale: float
    median: float
    ci_low: float
    ci_high: float
    mean: float
    sd: float
    p_positive: float
    p_above_mid: float
    mid: float
    predictive_median: float
    predictive_low: float
    predictive_high: float
    tau_median: float
    tau_ci_low: float
    tau_ci_high: float

    def to_dict(self) -> dict:
        return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in self.__dict__.items()}

    def summary(self) -> str:
        return (f"Bayesian random-effects model (flat prior on mu, half-normal prior on tau with scale "
                f"{self.tau_prior_scale}): mu median {self.median:.2f} (95% CrI {self.ci_low:.2f} to "
                f"{self.ci_high:.2f}); P(mu > 0) = {self.p_positive:.3f}; P(mu > {self.mid}) = "
                f"{self.p_above_mid:.3f}; new trial 95% interval {self.predictive_low:.2f} to "
                f"{self.predictive_high:.2f}; tau median {self.tau_median:.2f}.")


def _tau_nodes(yi, vi, scale, n_nodes):
    """Quadrature nodes and weights on [0, upper] for tau, with upper far in both tails."""
    spread = np.sqrt(np.var(yi) + np.max(vi)) if yi.size > 1 else np.sqrt(np.max(vi))
    upper = max(6.0 * scale, 8.0 * spread)
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    # a square-root map concentrates nodes near tau = 0, where the posterior may pile up
    u = 0.5 * (x + 1.0)
    tau = upper * u**2
    weight = w * 0.5 * upper * 2 * u
    return tau, weight


def tau_posterior(yi, vi, scale: float = DEFAULT_TAU_SCALE, n_nodes: int = 400):
    """Nodes, normalised quadrature masses of p(tau | y), and mu's conditional mean and variance."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    tau, qw = _tau_nodes(yi, vi, scale, n_nodes)
    w = 1.0 / (vi[None, :] + tau[:, None] ** 2)
    sw = w.sum(axis=1)
    mu_hat = (w * yi[None, :]).sum(axis=1) / sw
    q = (w * (yi[None, :] - mu_hat[:, None]) ** 2).sum(axis=1)
    log_post = (-0.5 * tau**2 / scale**2                     # half-normal prior (constant dropped)
                + 0.5 * np.log(w).sum(axis=1) - 0.5 * np.log(sw) - 0.5 * q)
    mass = qw * np.exp(log_post - log_post.max())
    mass /= mass.sum()
    return tau, mass, mu_hat, 1.0 / sw


def _mixture_quantile(p, means, sds, mass):
    def cdf(x):
        return float(np.sum(mass * special.ndtr((x - means) / sds))) - p
    lo = float(np.min(means - 12 * sds))
    hi = float(np.max(means + 12 * sds))
    return optimize.brentq(cdf, lo, hi, xtol=1e-12)


def bayes_meta(yi, vi, *, tau_scale: float = DEFAULT_TAU_SCALE, mid: float = MID, level: float = 95,
               n_nodes: int = 400) -> BayesResult:
    """Posterior summaries of the Bayesian random-effects model (Röver 2020, bayesmeta).

    ``y_i ~ N(theta_i, v_i)``, ``theta_i ~ N(mu, tau^2)``, a flat prior on ``mu`` and a
    half-normal prior on ``tau`` with scale ``tau_scale``; the posterior of ``mu`` given tau is
    normal with mean ``sum w y / sum w`` and variance ``1 / sum w``, ``w = 1/(v + tau^2)``, and
    every summary is a mixture over the marginal posterior of tau, integrated by Gauss-Legendre
    quadrature on ``n_nodes`` nodes (see the module docstring).
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if yi.size == 0 or yi.shape != vi.shape or np.any(vi <= 0) or not np.all(np.isfinite(yi)):
        raise ValueError("need at least one effect with a positive finite variance")
    tau, mass, mu_hat, var_mu = tau_posterior(yi, vi, tau_scale, n_nodes)
    sd_mu = np.sqrt(var_mu)
    a = (1 - level / 100) / 2
    median = _mixture_quantile(0.5, mu_hat, sd_mu, mass)
    lo = _mixture_quantile(a, mu_hat, sd_mu, mass)
    hi = _mixture_quantile(1 - a, mu_hat, sd_mu, mass)
    mean = float(np.sum(mass * mu_hat))
    sd = float(np.sqrt(np.sum(mass * (var_mu + mu_hat**2)) - mean**2))
    p_pos = float(np.sum(mass * special.ndtr(mu_hat / sd_mu)))
    p_mid = float(np.sum(mass * special.ndtr((mu_hat - mid) / sd_mu)))
    sd_new = np.sqrt(var_mu + tau**2)
    pred_med = _mixture_quantile(0.5, mu_hat, sd_new, mass)
    pred_lo = _mixture_quantile(a, mu_hat, sd_new, mass)
    pred_hi = _mixture_quantile(1 - a, mu_hat, sd_new, mass)
    order = np.argsort(tau)
    cum = np.cumsum(mass[order])
    t_sorted = tau[order]
    tau_q = [float(np.interp(q, cum, t_sorted)) for q in (0.5, a, 1 - a)]
    return BayesResult(int(yi.size), tau_scale, median, lo, hi, mean, sd, p_pos, p_mid, mid,
                       pred_med, pred_lo, pred_hi, tau_q[0], tau_q[1], tau_q[2])
