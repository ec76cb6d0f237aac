"""Trial sequential monitoring of a cumulative meta-analysis (a secondary analysis).

Cumulative z-statistics by publication year are compared with Lan-DeMets O'Brien-Fleming
alpha-spending boundaries (Lan & DeMets 1983) at information fractions defined by the
heterogeneity-adjusted required information size (Wetterslev et al. 2008, 2009). Cochrane's
Handbook (section 22.3) advises that sequential methods do not replace the main analysis; the
book labels this analysis as secondary.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

from analysis.stats.conventions import MID

_SQRT2 = np.sqrt(2.0)


def _norm_cdf(x):
    return special.ndtr(x)


def _norm_ppf(p):
    return special.ndtri(p)


def obf_spending(t, alpha: float = 0.05) -> np.ndarray:
    """Lan-DeMets O'Brien-Fleming-type cumulative alpha spent at information fraction ``t``.

    Two-sided symmetric boundaries spend ``alpha/2`` on each side with the one-sided function
    ``f(t) = 2 - 2 Phi(z_{1 - alpha/4} / sqrt(t))`` (Lan & DeMets 1983; gsDesign ``sfLDOF``),
    so the total is ``2 f(t)``; ``f(1) = alpha/2``.
    """
    t = np.minimum(np.asarray(t, dtype=float), 1.0)
    z = _norm_ppf(1.0 - alpha / 4.0)
    with np.errstate(divide="ignore"):
        one_side = 2.0 - 2.0 * _norm_cdf(z / np.sqrt(t))
    return 2.0 * np.where(t > 0, one_side, 0.0)


def obf_boundaries(t, alpha: float = 0.05, grid: int = 401) -> np.ndarray:
    """Two-sided Lan-DeMets O'Brien-Fleming z boundaries at increasing information fractions.

    The boundary ``c_k`` solves P(|Z_j| < c_j for j < k, |Z_k| >= c_k) = alpha(t_k) - alpha(t_{k-1})
    under H0, with Z_k = B(t_k)/sqrt(t_k) for a Brownian motion B (independent increments,
    Armitage, McPherson & Rowe 1969). The continuation density of B is propagated on a grid with
    Simpson's rule. Fractions above 1 are treated as 1 (all alpha spent).

    Parameters
    ----------
    t : increasing information fractions in (0, 1] (values > 1 are capped at 1)
    alpha : two-sided significance level
    grid : grid points for the continuation region (odd, for Simpson's rule)
    """
    t = np.minimum(np.asarray(t, dtype=float), 1.0)
    if t.ndim != 1 or t.size == 0 or np.any(t <= 0) or np.any(np.diff(t) < 0):
        raise ValueError("information fractions must be positive and non-decreasing")
    spent = obf_spending(t, alpha)
    increments = np.diff(np.concatenate([[0.0], spent]))
    bounds = np.empty(t.size)
    b_nodes = None   # grid of B(t_{k-1}) values inside the continuation region
    density = None   # sub-density of B(t_{k-1}) on the continuation region
    t_prev = 0.0
    for k, (tk, inc) in enumerate(zip(t, increments)):
        if tk == t_prev:  # no new information: the boundary cannot spend anything new
            bounds[k] = np.inf if k == 0 else bounds[k - 1]
            continue
        dt = tk - t_prev
        if density is None:
            def cross(c):
                return 2.0 * (1.0 - _norm_cdf(c)) - inc
        else:
            weights = _simpson_weights(b_nodes) * density

            def cross(c, weights=weights, b_nodes=b_nodes, dt=dt, tk=tk):
                edge = c * np.sqrt(tk)
                sd = np.sqrt(dt)
                upper = 1.0 - _norm_cdf((edge - b_nodes) / sd)
                lower = _norm_cdf((-edge - b_nodes) / sd)
                return float(np.sum(weights * (upper + lower))) - inc
        if inc <= 0:
            bounds[k] = np.inf
        else:
            bounds[k] = optimize.brentq(cross, 0.0, 40.0, xtol=1e-12, rtol=1e-14)
        # propagate the continuation density to t_k: B(t_k) | B(t_{k-1}) ~ N(B(t_{k-1}), dt)
        edge = bounds[k] * np.sqrt(tk) if np.isfinite(bounds[k]) else 12.0 * np.sqrt(tk)
        new_nodes = np.linspace(-edge, edge, grid)
        if density is None:
            new_density = np.exp(-0.5 * new_nodes**2 / tk) / np.sqrt(2 * np.pi * tk)
        else:
            kernel = np.exp(-0.5 * (new_nodes[:, None] - b_nodes[None, :]) ** 2 / dt) / np.sqrt(2 * np.pi * dt)
            new_density = kernel @ (_simpson_weights(b_nodes) * density)
        b_nodes, density, t_prev = new_nodes, new_density, tk
    return bounds


def _simpson_weights(nodes: np.ndarray) -> np.ndarray:
    n = nodes.size
    h = (nodes[-1] - nodes[0]) / (n - 1)
    w = np.ones(n)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w * h / 3.0


def required_information_size(mid: float = MID, alpha: float = 0.05, power: float = 0.8,
                              d2: float = 0.0) -> float:
    """Participants needed to detect a standardised mean difference ``mid`` (two arms, 1:1).

    ``RIS = 4 (z_{1-alpha/2} + z_{power})^2 / mid^2`` for a unit-variance outcome, inflated by
    ``1 / (1 - D^2)`` for heterogeneity (Wetterslev et al. 2009, diversity D^2).
    """
    if not 0 <= d2 < 1:
        raise ValueError("D2 must be in [0, 1)")
    z = _norm_ppf(1 - alpha / 2) + _norm_ppf(power)
    return 4.0 * z**2 / mid**2 / (1.0 - d2)


def diversity(res) -> float:
    """Diversity D^2 = (V_R - V_F) / V_R (Wetterslev et al. 2009).

    The relative reduction of the pooled variance by assuming no heterogeneity, from a
    random-effects fit and its fixed-effect refit.
    """
    w = 1.0 / np.asarray(res.vi, dtype=float)
    v_fixed = 1.0 / w.sum()
    v_random = res.se**2 if res.ci_method == "z" else 1.0 / np.sum(1.0 / (np.asarray(res.vi) + res.tau2))
    return float(max(0.0, (v_random - v_fixed) / v_random)) if v_random > 0 else 0.0


@dataclass
class SequentialResult:
    """Sequential monitoring (``monitor``).

    Cumulative z and information fraction by year, the boundary, the required information size
    and whether (and when) the boundary was crossed.
    """

    years: list
    participants: list
    z: list
    information_fraction: list
    boundary: list
    ris: float
    d2: float
    mid: float
    alpha: float
    power: float
    crossed: bool
    crossed_at: object = None
    notes: list = field(default_factory=list)

    def summary(self) -> str:
        verdict = (f"the cumulative z crossed the monitoring boundary in {self.crossed_at}"
                   if self.crossed else "the cumulative z has not crossed the monitoring boundary")
        reached = self.participants[-1] / self.ris
        return (f"Trial sequential monitoring (secondary analysis): required information size "
                f"{self.ris:.0f} participants (MID {self.mid}, alpha {self.alpha}, power {self.power}, "
                f"D² {100 * self.d2:.0f}%); {self.participants[-1]:.0f} accrued ({100 * reached:.0f}%); {verdict}.")

    def to_dict(self) -> dict:
        return {
            "years": [int(y) for y in self.years],
            "participants": [float(n) for n in self.participants],
            "z": [float(z) for z in self.z],
            "information_fraction": [float(f) for f in self.information_fraction],
            "boundary": [None if not np.isfinite(b) else float(b) for b in self.boundary],
            "ris": float(self.ris), "d2": float(self.d2), "mid": self.mid, "alpha": self.alpha,
            "power": self.power, "crossed": bool(self.crossed),
            "crossed_at": None if self.crossed_at is None else int(self.crossed_at),
            "notes": list(self.notes),
        }


def monitor(res, years, participants, *, mid: float = MID, alpha: float = 0.05, power: float = 0.8) -> SequentialResult:
    """Cumulative z by publication year against Lan-DeMets O'Brien-Fleming boundaries.

    Lan & DeMets (1983) alpha spending with O'Brien & Fleming (1979) boundaries, at information
    fractions of the heterogeneity-adjusted required information size (Wetterslev et al. 2008).

    ``res`` is the domain's main fit (its settings are reused for every cumulative refit);
    ``years`` and ``participants`` give each study's year and total n. The information fraction
    at a year is the participants accrued so far over the D²-adjusted required information size.
    """
    years = np.asarray(years)
    participants = np.asarray(participants, dtype=float)
    d2 = diversity(res) if res.k > 1 else 0.0
    ris = required_information_size(mid, alpha, power, d2)
    z, n_cum, fractions, looks = [], [], [], []
    for year in np.unique(years):
        idx = np.flatnonzero(years <= year)
        fit = res.refit(idx)
        looks.append(int(year))
        z.append(fit.estimate / fit.se if fit.se > 0 else 0.0)
        n_cum.append(float(np.nansum(participants[idx])))
        fractions.append(n_cum[-1] / ris)
    bounds = obf_boundaries(np.maximum.accumulate(np.maximum(fractions, 1e-9)), alpha)
    crossed_at = None
    for year, zk, ck in zip(looks, z, bounds):
        if abs(zk) >= ck:
            crossed_at = year
            break
    notes = []
    if fractions[-1] >= 1:
        notes.append("the required information size has been reached")
    return SequentialResult(looks, n_cum, z, fractions, list(bounds), ris, d2, mid, alpha, power,
                            crossed_at is not None, crossed_at, notes)
