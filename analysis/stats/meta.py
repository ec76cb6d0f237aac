"""Pooling: inverse-variance (fixed and random effects), Mantel-Haenszel and Peto.

Every published number of the review comes from this module. Conventions follow R's metafor
(Viechtbauer 2010) unless a docstring says otherwise, so that ``rma`` agrees with
``metafor::rma.uni`` and ``rma_mh``/``rma_peto`` with ``metafor::rma.mh``/``rma.peto``.

All fits are intercept-only models, so the matrix expressions of metafor reduce to weighted
sums. With weights ``w_i = 1/(v_i + tau2)``, ``W = sum w_i``, ``mu = sum w_i y_i / W`` and
residuals ``r_i = y_i - mu``, the projection ``P = diag(w) - w w'/W`` gives

- ``P y = w r``, ``y'P y = sum w r^2`` (the generalised Q), ``y'P P y = sum w^2 r^2``,
- ``tr P = W - sum w^2 / W``, ``tr P P = sum w^2 - 2 sum w^3 / W + (sum w^2 / W)^2``.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
from scipy import special

from analysis.stats.conventions import RATIO_MEASURES
from analysis.stats.formatting import console, console_p, plain

__all__ = ["Settings", "PRESETS", "MetaResult", "ConvergenceError", "UndefinedEstimateError", "rma",
           "rma_mh", "rma_peto", "fit", "estimate_tau2", "tau2_qprofile_ci", "i2_higgins_thompson"]

METHODS = ("FE", "DL", "REML", "ML", "PM", "SJ", "HE", "EB")
CI_METHODS = ("z", "hk", "hk-adhoc")
PI_METHODS = ("z", "t-1", "t-2")
MH_MEASURES = ("OR", "RR", "RD")

CI_NAMES = {"z": "Wald-type (normal)", "hk": "Knapp-Hartung (t, k-1 df)",
            "hk-adhoc": "Knapp-Hartung, ad hoc (scale >= 1; t, k-1 df)"}
PI_NAMES = {"z": "normal", "t-1": "t, k-1 df", "t-2": "t, k-2 df"}
METHOD_NAMES = {"FE": "fixed effect (inverse variance)", "DL": "DerSimonian-Laird",
                "REML": "restricted maximum likelihood", "ML": "maximum likelihood",
                "PM": "Paule-Mandel", "SJ": "Sidik-Jonkman", "HE": "Hedges",
                "EB": "empirical Bayes", "MH": "Mantel-Haenszel", "PETO": "Peto"}

# metafor's ll0check tolerance (.Machine$double.eps^0.25)
_LL0_TOL = np.finfo(float).eps ** 0.25
_DEFAULT_CONTROL = {"threshold": 1e-10, "maxiter": 1000}


@dataclass(frozen=True)
class Settings:
    """A whole pooling convention at once (as ``meta::settings.meta`` in R).

    ``vtype`` is the sampling-variance convention for SMD/MD used when effect sizes are
    computed (``analysis.stats.effects.escalc``); the pooling itself takes ``vi`` as given.
    """

    method: str = "REML"
    ci: str = "z"
    pi: str = "z"
    vtype: str = "LS"
    tau2_ci: str = "qprofile"
    level: float = 95.0


PRESETS = {
    "metafor": Settings("REML", "z", "z", "LS"),
    "revman5": Settings("DL", "z", "t-2", "revman5"),
    "cochrane2025": Settings("REML", "hk", "t-1", "LS"),
}


class ConvergenceError(RuntimeError):
    """An iterative tau2 estimator or root search did not converge."""


class UndefinedEstimateError(ValueError):
    """A pooled estimate that does not exist for these data.

    For example a Mantel-Haenszel odds ratio when no table has an event in one of the arms.

    The verbs that refit a model on subsets (leave-one-out, cumulative, subgroups) report such
    a subset as undefined (NaN) and carry on, as metafor does; a direct fit raises this error.
    """


# --------------------------------------------------------------------------------------
# result object


@dataclass(frozen=True, eq=False)
class MetaResult:
    """A fitted meta-analysis: every number of the JSON contract plus the per-study data.

    Undefined quantities are ``None`` (e.g. heterogeneity for k = 1); ``notes`` says why.
    ``w`` are the raw weights and ``weights`` the same in percent.
    """

    k: int
    measure: str
    method: str
    ci_method: str
    estimate: float
    se: float
    statistic: float | None
    p: float | None
    ci_low: float | None
    ci_high: float | None
    tau2: float | None
    tau2_ci_low: float | None
    tau2_ci_high: float | None
    tau: float | None
    i2_q: float | None
    i2_q_ci_low: float | None
    i2_q_ci_high: float | None
    i2_tau2: float | None
    h2: float | None
    q: float | None
    q_df: int | None
    q_p: float | None
    pi_low: float | None
    pi_high: float | None
    yi: np.ndarray
    vi: np.ndarray
    labels: list[str]
    w: np.ndarray
    weights: np.ndarray
    df: int | None
    level: float
    pi_method: str | None
    settings: dict
    i2_tau2_ci_low: float | None = None
    i2_tau2_ci_high: float | None = None
    h2_ci_low: float | None = None
    h2_ci_high: float | None = None
    notes: list[str] = field(default_factory=list)
    ni: np.ndarray | None = None
    table_tests: dict | None = None

    # -- derived views ------------------------------------------------------------------

    @property
    def studies(self) -> list[dict]:
        """Per-study rows of the JSON contract: study, yi, vi, weight (percent)."""
        return [{"study": lab, "yi": plain(y), "vi": plain(v), "weight": plain(wt)}
                for lab, y, v, wt in zip(self.labels, self.yi, self.vi, self.weights)]

    @property
    def is_ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    def to_dict(self) -> dict:
        """JSON-serialisable dict of the contract keys (plain Python numbers, NaN -> None).

        Ratio measures stay on the log scale and get an ``exp`` block with the
        back-transformed estimate, CI and PI; a Mantel-Haenszel odds ratio adds its
        ``table_tests`` (Cochran-Mantel-Haenszel, Breslow-Day, Tarone).
        """
        out = {key: plain(getattr(self, key)) for key in JSON_KEYS if key != "studies"}
        out["studies"] = self.studies
        if self.table_tests is not None:
            out["table_tests"] = {key: plain(value) for key, value in self.table_tests.items()}
        if self.is_ratio:
            out["exp"] = {key: plain(_exp(getattr(self, key)))
                          for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}
        return out

    def refit(self, mask_or_indices, *, undefined="raise") -> "MetaResult":
        """The same analysis (same function and settings) on a subset of the studies.

        ``mask_or_indices`` is a boolean mask of length k or integer positions. For
        Mantel-Haenszel and Peto fits, ``undefined="nan"`` returns a result with an undefined
        (NaN) estimate where the subset has none, instead of raising
        :class:`UndefinedEstimateError`.
        """
        idx = np.arange(self.k)[np.asarray(mask_or_indices)]
        if idx.size == 0:
            raise ValueError("refit: the subset is empty (at least one study is needed)")
        labels = [self.labels[i] for i in idx]
        opts = dict(self.settings)
        kind = opts.pop("function")
        ni = None if self.ni is None else self.ni[idx]
        if kind == "rma":
            return rma(self.yi[idx], self.vi[idx], labels=labels, ni=ni, **opts)
        counts = {name: np.asarray(opts.pop(name))[idx]
                  for name in ("events1", "total1", "events2", "total2")}
        if kind == "rma_mh":
            return rma_mh(**counts, labels=labels, undefined=undefined, **opts)
        return rma_peto(**counts, labels=labels, undefined=undefined, **opts)

    @property
    def defined(self) -> np.ndarray:
        """Mask of the studies with a defined effect.

        Mantel-Haenszel and Peto fits keep tables without one, e.g. double-zero tables, with
        NaN ``yi`` (metafor's ``not.na.yivi``).
        """
        return np.isfinite(self.yi) & np.isfinite(self.vi)

    def to_frame(self):
        """Per-study pandas DataFrame: study, yi, vi, sei, ci_low, ci_high, weight (%)."""
        import pandas as pd

        sei = np.sqrt(self.vi)
        crit = special.ndtri(_upper(self.level))
        return pd.DataFrame({"study": self.labels, "yi": self.yi, "vi": self.vi, "sei": sei,
                             "ci_low": self.yi - crit * sei, "ci_high": self.yi + crit * sei,
                             "weight": self.weights})

    def summary(self) -> str:
        """A text block in the spirit of metafor's ``print.rma``."""
        model = "Fixed-effect" if self.tau2_model_free else "Random-effects"
        lines = [f"{model} model (k = {self.k}; measure {self.measure}; "
                 f"method {self.method}: {METHOD_NAMES.get(self.method, self.method)})", ""]
        if self.q is not None:
            if not self.tau2_model_free:
                lines.append(f"tau^2 (estimated amount of total heterogeneity): "
                             f"{console(self.tau2)} [{console(self.tau2_ci_low)}, {console(self.tau2_ci_high)}]"
                             " (Q-profile CI)")
                lines.append(f"tau (square root of estimated tau^2 value):      {console(self.tau)}")
                lines.append(f"I^2 (tau^2-based, total heterogeneity / total variability): "
                             f"{console(self.i2_tau2, 2)}% [{console(self.i2_tau2_ci_low, 2)}, "
                             f"{console(self.i2_tau2_ci_high, 2)}]")
            lines.append(f"I^2 (Q-based, Higgins & Thompson CI): {console(self.i2_q, 2)}% "
                         f"[{console(self.i2_q_ci_low, 2)}, {console(self.i2_q_ci_high, 2)}]")
            lines.append(f"H^2 (total variability / sampling variability): {console(self.h2, 2)}"
                         + ("" if self.tau2_model_free else
                            f" [{console(self.h2_ci_low, 2)}, {console(self.h2_ci_high, 2)}]"))
            lines += ["", f"Test for heterogeneity: Q(df = {self.q_df}) = {console(self.q)}, "
                          f"p = {console_p(self.q_p)}"]
        stat = "t" if self.df is not None else "z"
        lines += ["", "Model results:",
                  f"  estimate {console(self.estimate)}  se {console(self.se)}  "
                  f"{stat}{'' if self.df is None else f'({self.df})'} {console(self.statistic)}  "
                  f"p {console_p(self.p)}  {self.level:g}% CI [{console(self.ci_low)}, {console(self.ci_high)}]"]
        if self.pi_low is not None:
            lines.append(f"  {self.level:g}% prediction interval [{console(self.pi_low)}, "
                         f"{console(self.pi_high)}]")
        if self.is_ratio:
            lines.append(f"  exp: estimate {console(_exp(self.estimate))}  CI "
                         f"[{console(_exp(self.ci_low))}, {console(_exp(self.ci_high))}]"
                         + ("" if self.pi_low is None else
                            f"  PI [{console(_exp(self.pi_low))}, {console(_exp(self.pi_high))}]"))
        conventions = [f"CI {self.ci_method} ({CI_NAMES[self.ci_method]})"]
        if self.tau2_model_free:
            conventions.append("PI = CI (fixed effect)")
        elif self.pi_method is not None:
            conventions += [f"PI {self.pi_method} ({PI_NAMES[self.pi_method]})",
                            "tau^2 CI Q-profile (Viechtbauer 2007)"]
        if self.i2_q_ci_low is not None:
            conventions.append("I^2 CI Higgins & Thompson (2002)")
        lines += ["", "Conventions: " + "; ".join(conventions)]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    @property
    def tau2_model_free(self) -> bool:
        """True for fixed-effect fits (FE, MH, Peto): no between-study variance is modelled."""
        return self.method in ("FE", "MH", "PETO")

    def _repr_html_(self) -> str:
        rows = [("k", self.k), ("measure", self.measure), ("method", self.method),
                ("estimate", console(self.estimate)), ("se", console(self.se)),
                (f"{self.level:g}% CI", f"[{console(self.ci_low)}, {console(self.ci_high)}]"),
                ("p", console_p(self.p)),
                ("tau²", f"{console(self.tau2)} [{console(self.tau2_ci_low)}, {console(self.tau2_ci_high)}]"),
                ("I² (Q)", f"{console(self.i2_q, 1)}% [{console(self.i2_q_ci_low, 1)}, "
                           f"{console(self.i2_q_ci_high, 1)}]"),
                ("Q", f"{console(self.q)} (df {self.q_df}, p {console_p(self.q_p)})"),
                ("PI", f"[{console(self.pi_low)}, {console(self.pi_high)}]"),
                ("CI method", self.ci_method)]
        body = "".join(f"<tr><th>{html.escape(str(a))}</th><td>{html.escape(str(b))}</td></tr>"
                       for a, b in rows)
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f"<table class=\"meta-result\">{body}</table>"
                + (f"<ul>{notes}</ul>" if notes else ""))


JSON_KEYS = ("k", "measure", "method", "ci_method", "estimate", "se", "statistic", "p",
             "ci_low", "ci_high", "tau2", "tau2_ci_low", "tau2_ci_high", "tau", "i2_q",
             "i2_q_ci_low", "i2_q_ci_high", "i2_tau2", "h2", "q", "q_df", "q_p", "pi_low",
             "pi_high", "studies")


def _exp(x):
    return None if x is None else math.exp(x)


def _upper(level: float) -> float:
    """Upper-tail probability point 1 - alpha/2 for a two-sided interval at ``level`` %."""
    return 1.0 - (1.0 - level / 100.0) / 2.0


# --------------------------------------------------------------------------------------
# weighted sums of the intercept-only model


def _qgen(tau2: float, y: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """Generalised Q(tau2) = sum w (y - mu_w)^2 and its derivative -sum w^2 (y - mu_w)^2.

    The derivative follows because mu_w minimises the weighted sum of squares (envelope
    theorem) and dw/dtau2 = -w^2. Q is strictly decreasing in tau2 (Viechtbauer 2007).
    """
    w = 1.0 / (v + tau2)
    sw = w.sum()
    r = y - (w @ y) / sw
    wr = w * r
    return float(wr @ r), -float(wr @ wr)


def _q_root(target: float, y, v, start: float, scale: float, control: dict) -> float:
    """Solution of Q(tau2) = target for tau2 >= start, given Q(start) > target.

    Newton steps on the monotone decreasing Q with analytic derivative, safeguarded by a
    bracket (bisection whenever a Newton step leaves it).
    """
    lo, hi = start, math.inf
    t = start
    for _ in range(control["maxiter"]):
        q, dq = _qgen(t, y, v)
        if q > target:
            lo = t
        else:
            hi = t
        if dq == 0.0:
            raise ConvergenceError("Q-profile: Q(tau2) is flat (all effects equal?)")
        new = t - (q - target) / dq
        if not lo < new < hi:
            new = 0.5 * (lo + hi) if math.isfinite(hi) else 2.0 * max(t, scale)
        if abs(new - t) <= control["threshold"] * (scale + t):
            return new
        t = new
    raise ConvergenceError(f"Q(tau2) = {target} root search did not converge")


# --------------------------------------------------------------------------------------
# tau2 estimators (metafor rma.uni conventions; intercept-only)


def _tau2_dl(y, v) -> float:
    """DerSimonian & Laird (1986): (Q - (k-1)) / (W - sum w^2/W), w = 1/v, truncated at 0."""
    w = 1.0 / v
    sw = w.sum()
    q = float(w @ (y - (w @ y) / sw) ** 2)
    return max(0.0, (q - (y.size - 1)) / (sw - (w @ w) / sw))


def _tau2_he(y, v) -> float:
    """Hedges (1983) method of moments: sum (y - ybar)^2/(k-1) - mean(v), not truncated.

    metafor: (y'(I - J/k) y - tr((I - J/k) V)) / (k - 1).
    """
    k = y.size
    d = y - y.sum() / k
    return float(d @ d) / (k - 1) - float(v.sum()) / k


def _tau2_sj(y, v) -> float:
    """Sidik & Jonkman (2005) estimator of tau2, as metafor.

    tau0 = sum (y - ybar)^2 / k, one step tau2 = tau0 * Q(tau0) / (k - 1) with Q the
    generalised Q at tau0.
    """
    d = y - y.sum() / y.size
    tau0 = float(d @ d) / y.size
    if tau0 == 0.0:
        return 0.0
    return tau0 * _qgen(tau0, y, v)[0] / (y.size - 1)


def _tau2_pm(y, v, control) -> float:
    """Paule & Mandel (1982): the tau2 >= 0 solving Q(tau2) = k - 1 (0 when Q(0) < k - 1)."""
    target = y.size - 1.0
    if _qgen(0.0, y, v)[0] < target:
        return 0.0
    return _q_root(target, y, v, 0.0, _scale(v), control)


def _scale(v) -> float:
    """Natural unit of tau2 for convergence tests (the mean sampling variance)."""
    return float(v.sum()) / v.size


def _score_step(method: str) -> Callable:
    """Updates of tau2 for ML/REML/EB: ``(fisher, newton)`` step sizes at tau2.

    With S the score and I the expected information, metafor's Fisher scoring step is S/I:
    ML   S = (y'PPy - W)/2,    I = sum w^2 / 2;
    REML S = (y'PPy - trP)/2,  I = trPP / 2          (Harville 1977; Viechtbauer 2005);
    EB   step = (k/(k-1) y'Py - k) / W                (Morris 1983, as metafor).
    The observed information is y'PPPy - I; the Newton step S/(y'PPPy - I) (None where the
    log-likelihood is not locally concave, and for EB) converges quadratically near the root.
    """

    def step(tau2, y, v):
        w = 1.0 / (v + tau2)
        sw = w.sum()
        r = y - (w @ y) / sw
        e = w * r                      # P y
        if method == "EB":
            k = y.size
            return (float(e @ r) * k / (k - 1) - k) / sw, None
        ypp = float(e @ e)
        ww = w * w
        w2 = float(ww.sum())
        if method == "ML":
            score, info = 0.5 * (ypp - sw), 0.5 * w2
        else:
            score = 0.5 * (ypp - (sw - w2 / sw))
            info = 0.5 * (w2 - 2.0 * float(ww @ w) / sw + (w2 / sw) ** 2)
        we = float(w @ e)
        observed = float((e * e) @ w) - we * we / sw - info     # (Py)'P(Py) - I
        return score / info, (score / observed if observed > 0 else None)

    return step


def _tau2_iterative(method: str, y, v, control) -> float:
    """ML, REML or EB by metafor's Fisher scoring: start at max(0, HE), step-halving at 0.

    The path is metafor's (so that, for a multimodal likelihood, the same local maximum is
    reached); once Fisher steps are small (1e-2 of the scale) Newton steps finish the
    convergence quadratically (the steps of ``_score_step``). A step that would cross zero is
    halved until it does not (metafor). Where Fisher scoring would oscillate, the steps are kept
    inside the bracket (score > 0 below, < 0 above) by bisection, so the iteration always
    converges. When the iterates run into tau2 = 0 (the score at 0 is negative) the limit 0 is
    returned. For ML/REML the fit at tau2 = 0 is kept when its log-likelihood is larger
    (metafor's ``ll0check``).
    """
    step = _score_step(method)
    tau2 = max(0.0, _tau2_he(y, v))
    scale = _scale(v)
    tol = control["threshold"]
    lo, hi = 0.0, math.inf
    previous = math.inf
    for _ in range(control["maxiter"]):
        fisher, newton = step(tau2, y, v)
        if fisher > 0.0:
            lo = max(lo, tau2)
        else:
            hi = min(hi, tau2)
        adj = newton if newton is not None and abs(fisher) < 1e-2 * (scale + tau2) else fisher
        if tau2 + adj < 0.0:
            if tau2 == 0.0:
                break
            while tau2 + adj < 0.0:
                adj /= 2.0
        new = tau2 + adj
        if not lo <= new <= hi or (math.isfinite(hi) and abs(adj) > 0.5 * previous):
            # safeguard (as rtsafe): a Newton step inside the bracket, else bisection
            new = tau2 + newton if newton is not None and lo < tau2 + newton < hi \
                else 0.5 * (lo + hi)
        adj, tau2 = new - tau2, new
        previous = abs(adj)
        if abs(adj) <= tol * (scale + tau2):
            break
    else:
        raise ConvergenceError(f"{method}: tau2 iteration did not converge in "
                               f"{control['maxiter']} steps")
    if tau2 <= 10.0 * tol * scale and step(0.0, y, v)[0] <= 0.0:
        tau2 = 0.0
    if method != "EB" and tau2 > 0.0 and _loglik_gain_at_zero(tau2, y, v, method) > _LL0_TOL:
        tau2 = 0.0
    return tau2


def _loglik_gain_at_zero(tau2, y, v, method: str) -> float:
    """ll(0) - ll(tau2) for the ML or REML log-likelihood (Viechtbauer 2005).

    ll = -1/2 [sum log(v + tau2) + sum w r^2] (ML), minus 1/2 log W in addition (REML).
    """
    w0, w = 1.0 / v, 1.0 / (v + tau2)
    sw0, sw = float(w0.sum()), float(w.sum())
    r0, r = y - float(w0 @ y) / sw0, y - float(w @ y) / sw
    gain = 0.5 * (float(np.log(w0 / w).sum()) + float(w @ (r * r)) - float(w0 @ (r0 * r0)))
    return gain - 0.5 * math.log(sw0 / sw) if method == "REML" else gain


def estimate_tau2(y, v, method: str, control: dict | None = None) -> float:
    """Between-study variance tau2 by ``method`` (FE gives 0). See the ``_tau2_*`` functions."""
    control = {**_DEFAULT_CONTROL, **(control or {})}
    y = np.asarray(y, float)
    v = np.asarray(v, float)
    if method == "FE" or y.size < 2:
        return 0.0
    if method == "DL":
        return _tau2_dl(y, v)
    if method == "HE":
        return max(0.0, _tau2_he(y, v))
    if method == "SJ":
        return _tau2_sj(y, v)
    if method == "PM":
        return _tau2_pm(y, v, control)
    return _tau2_iterative(method, y, v, control)


# --------------------------------------------------------------------------------------
# heterogeneity summaries


def i2_higgins_thompson(q: float, k: int, level: float = 95.0) -> tuple[float, float, float]:
    """I2 = max(0, (Q - df)/Q) in percent with the test-based CI of Higgins & Thompson (2002).

    The CI is built on ln H, H = sqrt(Q/(k-1)), with (2002, appendix; R meta ``calcH``)
    SE(ln H) = (ln Q - ln(k-1)) / (2 (sqrt(2Q) - sqrt(2k-3)))        if Q > k,
    SE(ln H) = sqrt(1/(2(k-2)) (1 - 1/(3(k-2)^2)))                     if Q <= k,
    an interval ln(max(H, 1)) +/- z SE (centred at H = 1 when Q < k - 1, as R meta does),
    bounds of H truncated below at 1 and mapped by I2 = (H^2 - 1)/H^2. Needs k >= 3.
    """
    df = k - 1
    i2 = 100.0 * max(0.0, (q - df) / q) if q > 0 else 0.0
    if q > k:
        se = 0.5 * (math.log(q) - math.log(df)) / (math.sqrt(2.0 * q) - math.sqrt(2.0 * k - 3.0))
    else:
        se = math.sqrt(1.0 / (2.0 * (k - 2)) * (1.0 - 1.0 / (3.0 * (k - 2) ** 2)))
    crit = special.ndtri(_upper(level))
    log_h = max(0.0, 0.5 * (math.log(q) - math.log(df))) if q > 0 else 0.0

    def to_i2(log_bound):
        h2 = max(1.0, math.exp(log_bound)) ** 2
        return 100.0 * (h2 - 1.0) / h2

    return i2, to_i2(log_h - crit * se), to_i2(log_h + crit * se)


def tau2_qprofile_ci(y, v, level: float = 95.0, control: dict | None = None) -> tuple[float, float]:
    """Q-profile CI for tau2 (Viechtbauer 2007), as metafor ``confint(type="QP")``.

    Bounds solve Q(tau2) = chi2_{k-1; 1-a/2} (lower) and chi2_{k-1; a/2} (upper); a bound is
    0 when Q(0) already falls below its quantile.
    """
    control = {**_DEFAULT_CONTROL, **(control or {})}
    df = y.size - 1
    alpha = 1.0 - level / 100.0
    crit_for_lower = special.chdtri(df, alpha / 2.0)
    crit_for_upper = special.chdtri(df, 1.0 - alpha / 2.0)
    q0 = _qgen(0.0, y, v)[0]
    scale = _scale(v)
    lower = _q_root(crit_for_lower, y, v, 0.0, scale, control) if q0 > crit_for_lower else 0.0
    upper = _q_root(crit_for_upper, y, v, lower, scale, control) if q0 > crit_for_upper else 0.0
    return lower, upper


# --------------------------------------------------------------------------------------
# argument handling


def _as_vector(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (got shape {arr.shape})")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name}: non-finite value {arr[bad[0]]!r} at position {bad[0]}")
    return arr


def _labels(labels, k: int) -> list[str]:
    if labels is None:
        return [f"Study {i + 1}" for i in range(k)]
    labels = [str(lab) for lab in labels]
    if len(labels) != k:
        raise ValueError(f"labels has {len(labels)} entries for {k} studies")
    return labels


def _choose(name: str, value, allowed: Sequence[str]):
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def _resolve(preset, **given) -> dict:
    """Explicit arguments win, then the preset, then ``Settings()`` defaults."""
    if preset is None:
        base = Settings()
    elif isinstance(preset, Settings):
        base = preset
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(f"preset={preset!r} is not one of {', '.join(PRESETS)}")
    if base.tau2_ci != "qprofile":
        raise ValueError(f"tau2_ci={base.tau2_ci!r}: only 'qprofile' is implemented")
    return {key: getattr(base, key) if value is None else value for key, value in given.items()}


# --------------------------------------------------------------------------------------
# inverse-variance models


def rma(yi, vi, *, method=None, ci=None, pi=None, level=None, labels=None, measure="GEN",
        preset=None, tau2=None, control=None, ni=None) -> MetaResult:
    """Inverse-variance meta-analysis (fixed effect or random effects), as ``metafor::rma``.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and their sampling variances (vi > 0).
    method : {"FE", "DL", "REML", "ML", "PM", "SJ", "HE", "EB"}
        tau2 estimator (default "REML"; see ``estimate_tau2``).
    ci : {"z", "hk", "hk-adhoc"}
        "z": Wald CI; "hk": Knapp & Hartung (2003), SE^2 = sum w (y - mu)^2 / ((k-1) sum w)
        with t(k-1); "hk-adhoc": the same with the scale factor truncated below at 1
        (metafor ``test="adhoc"``; Jackson et al. 2017). Default "z".
    pi : {"z", "t-1", "t-2"}
        Critical value of the prediction interval mu +/- crit sqrt(tau2 + SE^2), SE being the
        model's SE (Higgins et al. 2009; "t-2" as RevMan 5). Default "z".
    level : float
        Confidence level in percent (default 95).
    labels : sequence of str, optional
    measure : str
        Label of the effect measure ("SMD", "MD", "RR", "OR", "RD", "GEN"); ratio measures are
        on the log scale.
    preset : {"metafor", "revman5", "cochrane2025"} or Settings, optional
        Fills the options not given explicitly.
    tau2 : float, optional
        Fix tau2 at this value instead of estimating it.
    control : dict, optional
        ``threshold`` (relative convergence tolerance, default 1e-10) and ``maxiter``.
    ni : array_like, optional
        Sample size of each study (metafor's ``ni`` attribute of ``escalc``): kept with the
        result for the regression test's sample-size predictors (``bias.regtest``).

    Returns
    -------
    MetaResult
        Heterogeneity: Q with w = 1/v; I2 (Q-based, Higgins & Thompson 2002 CI); I2 (tau2-based)
        = tau2/(tau2 + s2) and H2 = tau2/s2 + 1 with s2 = (k-1) W/(W^2 - sum w^2)
        (Higgins & Thompson 2002; metafor); tau2 CI by Q-profile (Viechtbauer 2007) and
        the I2/H2 CIs it implies. A fixed-effect fit reports H2 = Q/(k-1) and PI = CI.
    """
    opts = _resolve(preset, method=method, ci=ci, pi=pi, level=level)
    method = _choose("method", opts["method"], METHODS)
    ci = _choose("ci", opts["ci"], CI_METHODS)
    pi_method = _choose("pi", opts["pi"], PI_METHODS)
    level = float(opts["level"])
    if not 0.0 < level < 100.0:
        raise ValueError(f"level={level} must lie strictly between 0 and 100")
    control = {**_DEFAULT_CONTROL, **(control or {})}
    y = _as_vector(yi, "yi")
    v = _as_vector(vi, "vi")
    if y.size != v.size:
        raise ValueError(f"yi has {y.size} values but vi has {v.size}")
    if y.size == 0:
        raise ValueError("no studies to pool (k = 0)")
    bad = np.flatnonzero(v <= 0)
    if bad.size:
        raise ValueError(f"vi must be positive: vi[{bad[0]}] = {v[bad[0]]!r}")
    labels = _labels(labels, y.size)
    if ni is not None:
        ni = _as_vector(ni, "ni")
        if ni.size != y.size:
            raise ValueError(f"ni has {ni.size} values for {y.size} studies")
    settings = {"function": "rma", "method": method, "ci": ci, "pi": pi_method, "level": level,
                "measure": measure, "tau2": tau2, "control": control}
    notes: list[str] = []
    k = y.size
    if tau2 is not None and method != "FE":
        if not (math.isfinite(tau2) and tau2 >= 0):
            raise ValueError(f"tau2={tau2!r} must be a finite value >= 0")
        tau2_hat = float(tau2)
        notes.append(f"tau^2 fixed at {tau2_hat:g} (not estimated)")
    else:
        tau2_hat = estimate_tau2(y, v, method, control)

    w = 1.0 / (v + tau2_hat)
    sw = float(w.sum())
    mu = float(w @ y) / sw
    se = math.sqrt(1.0 / sw)
    df = None
    if k == 1:
        notes.append("k = 1: the estimate is the single study; no heterogeneity statistics")
        if ci != "z":
            notes.append("k = 1: Knapp-Hartung undefined (0 df); normal CI used")
            ci = "z"
    elif ci != "z":
        rss = float(w @ (y - mu) ** 2)
        # metafor: an (almost) zero RSS means all yi equal; its scale factor is then 0
        s2w = rss / (k - 1) if rss > np.finfo(float).eps else 0.0
        if ci == "hk-adhoc":
            s2w = max(s2w, 1.0)
        se *= math.sqrt(s2w)
        df = k - 1
    stat, p, ci_low, ci_high = _wald(mu, se, df, level)

    fixed = method == "FE"
    het = _heterogeneity(y, v, tau2_hat, fixed, level, control) if k > 1 else {}
    if k == 1:
        pi_low = pi_high = None
    elif fixed:
        pi_low, pi_high = ci_low, ci_high
    else:
        pi_low, pi_high = _prediction(mu, se, tau2_hat, pi_method, k, level, notes)
    return MetaResult(
        k=k, measure=measure, method=method, ci_method=ci, estimate=mu, se=se, statistic=stat,
        p=p, ci_low=ci_low, ci_high=ci_high,
        tau2=None if k == 1 else tau2_hat, tau=None if k == 1 else math.sqrt(tau2_hat),
        tau2_ci_low=het.get("tau2_ci_low"), tau2_ci_high=het.get("tau2_ci_high"),
        i2_q=het.get("i2_q"), i2_q_ci_low=het.get("i2_q_ci_low"),
        i2_q_ci_high=het.get("i2_q_ci_high"), i2_tau2=het.get("i2_tau2"), h2=het.get("h2"),
        q=het.get("q"), q_df=het.get("q_df"), q_p=het.get("q_p"),
        pi_low=pi_low, pi_high=pi_high, yi=y, vi=v, labels=labels, w=w,
        weights=100.0 * w / sw, df=df, level=level, pi_method=None if k == 1 else pi_method,
        settings=settings, i2_tau2_ci_low=het.get("i2_tau2_ci_low"),
        i2_tau2_ci_high=het.get("i2_tau2_ci_high"), h2_ci_low=het.get("h2_ci_low"),
        h2_ci_high=het.get("h2_ci_high"), notes=notes + het.get("notes", []), ni=ni)


def _wald(est: float, se: float, df: int | None, level: float):
    """Statistic, two-sided p and CI: normal, or t with ``df`` degrees of freedom."""
    if se == 0.0:
        # metafor: a zero SE (Knapp-Hartung with identical effects) gives z = +/-inf (reported
        # as undefined here) and p = 0
        return None, (None if est == 0.0 else 0.0), est, est
    stat = est / se
    if df is None:
        p = 2.0 * special.ndtr(-abs(stat))
        crit = special.ndtri(_upper(level))
    else:
        p = 2.0 * special.stdtr(df, -abs(stat))
        crit = special.stdtrit(df, _upper(level))
    return stat, float(p), est - crit * se, est + crit * se


def _prediction(mu, se, tau2, pi_method, k, level, notes):
    """Prediction interval mu +/- crit sqrt(tau2 + se^2) (Higgins, Thompson & Spiegelhalter 2009)."""
    if pi_method == "z":
        crit = special.ndtri(_upper(level))
    else:
        dfp = k - (1 if pi_method == "t-1" else 2)
        if dfp < 1:
            notes.append(f"k = {k}: the t({pi_method[2:]}) prediction interval is undefined "
                         f"(df = {dfp})")
            return None, None
        crit = special.stdtrit(dfp, _upper(level))
    half = crit * math.sqrt(tau2 + se * se)
    return mu - half, mu + half


def _heterogeneity(y, v, tau2, fixed: bool, level: float, control) -> dict:
    """Q test, both I2, H2 and (random effects) the Q-profile CIs; needs k >= 2."""
    k = y.size
    w = 1.0 / v
    sw = float(w.sum())
    yc = y - y.mean()  # centring as metafor, for numerical stability
    q = max(0.0, float(w @ (yc - (w @ yc) / sw) ** 2))
    s2 = (k - 1) / (sw - float(w @ w) / sw)
    out: dict[str, Any] = {"q": q, "q_df": k - 1, "q_p": float(special.chdtrc(k - 1, q)),
                           "notes": []}
    if k >= 3:
        out["i2_q"], out["i2_q_ci_low"], out["i2_q_ci_high"] = i2_higgins_thompson(q, k, level)
    else:
        out["i2_q"] = 100.0 * max(0.0, (q - 1.0) / q) if q > 0 else 0.0
        out["notes"].append("k = 2: the Higgins-Thompson CI for I^2 needs k >= 3")
    if fixed:
        out["h2"] = q / (k - 1)
        return out
    lo, hi = tau2_qprofile_ci(y, v, level, control)
    out.update(tau2_ci_low=lo, tau2_ci_high=hi, i2_tau2=100.0 * tau2 / (s2 + tau2),
               h2=tau2 / s2 + 1.0, i2_tau2_ci_low=100.0 * lo / (s2 + lo),
               i2_tau2_ci_high=100.0 * hi / (s2 + hi), h2_ci_low=lo / s2 + 1.0,
               h2_ci_high=hi / s2 + 1.0)
    return out


# --------------------------------------------------------------------------------------
# Mantel-Haenszel and Peto (fixed effect from 2x2 tables)


def _tables(events1, total1, events2, total2):
    """Cells a, b, c, d of the 2x2 tables, validated (counts, events <= totals)."""
    arrays = {}
    for name, x in (("events1", events1), ("total1", total1), ("events2", events2),
                    ("total2", total2)):
        arr = _as_vector(x, name)
        bad = np.flatnonzero(arr < 0)
        if bad.size:
            raise ValueError(f"{name}[{bad[0]}] = {arr[bad[0]]:g} is negative")
        arrays[name] = arr
    sizes = {arr.size for arr in arrays.values()}
    if len(sizes) != 1:
        raise ValueError("events1, total1, events2, total2 must have the same length")
    for ev, tot in (("events1", "total1"), ("events2", "total2")):
        bad = np.flatnonzero(arrays[ev] > arrays[tot])
        if bad.size:
            raise ValueError(f"{ev}[{bad[0]}] = {arrays[ev][bad[0]]:g} exceeds "
                             f"{tot}[{bad[0]}] = {arrays[tot][bad[0]]:g}")
    a, c = arrays["events1"], arrays["events2"]
    b, d = arrays["total1"] - a, arrays["total2"] - c
    if a.size == 0:
        raise ValueError("no studies to pool (k = 0)")
    return a, b, c, d


def _study_effects(measure, a, b, c, d):
    """Per-study yi/vi as metafor's rma.mh/rma.peto compute them for Q and display.

    metafor calls escalc with add = 1/2 to all cells of tables with a zero cell
    (to = "only0") and drop00 = TRUE (no events, or only events, in both arms -> NaN).
    Log RR: v = 1/a - 1/n1 + 1/c - 1/n2; log OR: v = 1/a + 1/b + 1/c + 1/d;
    RD: v = p1(1-p1)/n1 + p2(1-p2)/n2; Peto log OR: (a - E)/V, v = 1/V (Yusuf et al. 1985).
    """
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    add = np.where(zero, 0.5, 0.0)
    a, b, c, d = a + add, b + add, c + add, d + add
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            yi, vi = np.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2
        elif measure == "OR":
            yi, vi = np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RD":
            p1, p2 = a / n1, c / n2
            yi, vi = p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        else:
            n = n1 + n2
            xt = a + c
            e_i = xt * n1 / n
            v_i = xt * (b + d) * (n1 / n) * (n2 / n) / (n - 1)
            yi, vi = (a - e_i) / v_i, 1 / v_i
    return yi, vi


def _double_zero(a, b, c, d) -> np.ndarray:
    return ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))


def rma_mh(events1, total1, events2, total2, *, measure="OR", labels=None,
           level=95, correct=True, undefined="raise") -> MetaResult:
    """Mantel-Haenszel fixed-effect meta-analysis of 2x2 tables, as ``metafor::rma.mh``.

    With N = n1 + n2 per table (no continuity correction in the pooled estimate):

    - OR = sum(a d/N) / sum(b c/N); Var(ln OR) by Robins, Breslow & Greenland (1986).
    - RR = sum(a n2/N) / sum(c n1/N); Var(ln RR) = sum(n1 n2 (a+c)/N^2 - a c/N) / (R S)
      (Greenland & Robins 1985).
    - RD = sum(a n2/N - c n1/N) / sum(n1 n2/N); variance of Sato, Greenland & Robins (1989),
      consistent in both sparse and large-strata limits (metafor's choice).

    Q, I2 and H2 are from the inverse-variance individual estimates around the MH estimate,
    Q = sum (y_i - est)^2 / v_i, over tables with a defined estimate (metafor). Weights are
    metafor's MH weights: b c/N (OR), c n1/N (RR), n1 n2/N (RD).

    For the OR, ``table_tests`` holds (metafor ``MH``, ``BD``, ``TA``):

    - the Cochran-Mantel-Haenszel test of OR = 1 (Mantel & Haenszel 1959),
      CMH = (|sum(a - n1 m1/N)| - c)^2 / sum(n1 n2 m1 m0 / (N^2 (N - 1))) ~ chi2(1), with
      m1 = a + c, m0 = b + d and the continuity correction c = 1/2 (``correct``) or 0;
    - the Breslow-Day test of homogeneous odds ratios (Breslow & Day 1980, eq. 4.30):
      BD = sum (a - A)^2 / Var(A), A the expected count of cell a under the common MH odds ratio
      (root of A (N - n1 - m1 + A) = OR (n1 - A)(m1 - A) within the table's margins) and
      Var(A) = 1/(1/A + 1/(n1 - A) + 1/(m1 - A) + 1/(N - n1 - m1 + A)), over the ``bd_k``
      tables with A > 0 and both outcomes present; chi2(bd_k - 1);
    - Tarone's (1985) correction of it, TA = BD - (sum(a - A))^2 / sum Var(A).

    ``undefined="nan"`` returns an estimate of NaN (with a note) when the pooled estimate does
    not exist (OR: sum(a d/N) or sum(b c/N) is 0; RR: no events in one arm of every table),
    as metafor does; the default raises :class:`UndefinedEstimateError`.
    """
    measure = _choose("measure", measure, MH_MEASURES)
    undefined = _choose("undefined", undefined, ("raise", "nan"))
    level = float(level)
    a, b, c, d = _tables(events1, total1, events2, total2)
    labels = _labels(labels, a.size)
    n1, n2 = a + b, c + d
    n = n1 + n2
    notes: list[str] = []
    tests = None
    problem = None
    if measure == "OR":
        r, s = a * d / n, b * c / n
        big_r, big_s = r.sum(), s.sum()
        if big_r == 0 or big_s == 0:
            problem = "Mantel-Haenszel OR undefined: sum(a d/N) or sum(b c/N) is 0"
            est = var = math.nan
        else:
            est = math.log(big_r / big_s)
            pp, qq = (a + d) / n, (b + c) / n
            var = 0.5 * ((pp * r).sum() / big_r ** 2 + (pp * s + qq * r).sum() / (big_r * big_s)
                         + (qq * s).sum() / big_s ** 2)
        w = s
        tests = _mh_or_tests(a, b, c, d, est, correct)
    elif measure == "RR":
        big_r, big_s = (a * n2 / n).sum(), (c * n1 / n).sum()
        if a.sum() == 0 or c.sum() == 0:
            problem = "Mantel-Haenszel RR undefined: no events in one arm of every study"
            est = var = math.nan
        else:
            est = math.log(big_r / big_s)
            var = ((n1 / n) * (n2 / n) * (a + c) - (a / n) * c).sum() / (big_r * big_s)
        w = c * n1 / n
    else:
        w = n1 * n2 / n
        sw = w.sum()
        est = float((a * n2 / n - c * n1 / n).sum() / sw)
        var = (est * (c * (n1 / n) ** 2 - a * (n2 / n) ** 2
                      + (n1 / n) * (n2 / n) * (n2 - n1) / 2).sum()
               + (a * (n2 - c) / n + c * (n1 - a) / n).sum() / 2) / sw ** 2
    if problem is not None:
        if undefined == "raise":
            raise UndefinedEstimateError(problem)
        notes.append(problem)
    yi, vi = _study_effects(measure, a, b, c, d)
    dropped = _double_zero(a, b, c, d)
    yi[dropped] = np.nan
    vi[dropped] = np.nan
    ok = np.isfinite(yi)
    q = max(0.0, float((((yi[ok] - est) ** 2) / vi[ok]).sum())) if problem is None else math.nan
    if dropped.any():
        notes.append(f"{int(dropped.sum())} table(s) with no events (or only events) in both "
                     "arms: kept in the MH estimate, left out of Q")
    settings = {"function": "rma_mh", "measure": measure, "level": level, "correct": correct,
                **_counts(a, b, c, d)}
    return _fixed_from_tables("MH", measure, est, math.sqrt(var), q, int(ok.sum()), yi, vi,
                              w, labels, level, settings, notes, ni=n, table_tests=tests)


def _mh_or_tests(a, b, c, d, est, correct) -> dict:
    """Cochran-Mantel-Haenszel, Breslow-Day and Tarone tests of ``rma_mh`` (see there)."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    xt, yt = a + c, b + d
    out: dict[str, Any] = {"cmh": None, "cmh_p": None, "cmh_correct": bool(correct),
                           "breslow_day": None, "breslow_day_p": None, "tarone": None,
                           "tarone_p": None, "bd_k": 0}
    if xt.sum() > 0 and yt.sum() > 0:
        info = float(((n1 / n) * (n2 / n) * (xt * (yt / (n - 1)))).sum())
        cmh = (abs(float((a - (n1 / n) * xt).sum())) - (0.5 if correct else 0.0)) ** 2 / info
        out.update(cmh=cmh, cmh_p=float(special.chdtrc(1, cmh)))
    if not math.isfinite(est):
        return out
    psi = math.exp(est)
    with np.errstate(divide="ignore", invalid="ignore"):
        if psi == 1.0:
            expected = (n1 / n) * xt
        else:
            # the root of the quadratic that lies within the table's margins (metafor)
            big_a = psi * (n1 + xt) + (n2 - xt)
            big_b = np.sqrt(big_a ** 2 - 4 * n1 * xt * psi * (psi - 1))
            expected = (big_a - big_b) / (2 * (psi - 1))
        pos = (expected > 0) & (xt > 0) & (yt > 0)
        e11 = expected[pos]
        e12, e21 = n1[pos] - e11, xt[pos] - e11
        e22 = e11 - n1[pos] - xt[pos] + n[pos]
        var_a = 1.0 / (1 / e11 + 1 / e12 + 1 / e21 + 1 / e22)
    k_pos = int(pos.sum())
    dev = a[pos] - e11
    bd = max(0.0, float((dev ** 2 / var_a).sum()))
    tarone = max(0.0, bd - float(dev.sum()) ** 2 / float(var_a.sum())) if k_pos else 0.0
    out.update(breslow_day=bd, tarone=tarone, bd_k=k_pos)
    if k_pos > 1:
        out.update(breslow_day_p=float(special.chdtrc(k_pos - 1, bd)),
                   tarone_p=float(special.chdtrc(k_pos - 1, tarone)))
    return out


def rma_peto(events1, total1, events2, total2, *, labels=None, level=95,
             undefined="raise") -> MetaResult:
    """Peto's one-step log odds ratio (Yusuf et al. 1985), as ``metafor::rma.peto``.

    est = sum(a - E) / sum V with E = (a+c) n1/N and V = (a+c)(b+d) n1 n2 / (N^2 (N-1));
    SE = 1/sqrt(sum V); Q = sum (a - E)^2/V - (sum(a - E))^2 / sum V over tables with V > 0.
    Weights are V. ``undefined="nan"`` returns a NaN estimate when sum V = 0 (the outcome never,
    or always, occurred), as metafor does; the default raises :class:`UndefinedEstimateError`.
    """
    undefined = _choose("undefined", undefined, ("raise", "nan"))
    level = float(level)
    a, b, c, d = _tables(events1, total1, events2, total2)
    labels = _labels(labels, a.size)
    n1, n2 = a + b, c + d
    n = n1 + n2
    xt = a + c
    e_i = xt * n1 / n
    v_i = xt * (b + d) * (n1 / n) * (n2 / n) / (n - 1)
    sum_v = v_i.sum()
    notes = []
    if sum_v == 0:
        problem = "Peto OR undefined: the outcome never (or always) occurred in every study"
        if undefined == "raise":
            raise UndefinedEstimateError(problem)
        notes.append(problem)
        est, se, q = math.nan, math.nan, math.nan
    else:
        est = float((a - e_i).sum() / sum_v)
        se = 1.0 / math.sqrt(sum_v)
        pos = v_i > 0
        q = max(0.0, float(((a - e_i)[pos] ** 2 / v_i[pos]).sum() - (a - e_i).sum() ** 2 / sum_v))
    yi, vi = _study_effects("PETO", a, b, c, d)
    dropped = _double_zero(a, b, c, d)
    yi[dropped] = np.nan
    vi[dropped] = np.nan
    if not (v_i > 0).all():
        notes.append(f"{int((v_i <= 0).sum())} table(s) with zero variance (no events or only "
                     "events): no information for Peto's method")
    settings = {"function": "rma_peto", "level": level, **_counts(a, b, c, d)}
    return _fixed_from_tables("PETO", "OR", est, se, q, int(np.isfinite(yi).sum()), yi, vi, v_i,
                              labels, level, settings, notes, ni=n)


def _counts(a, b, c, d) -> dict:
    return {"events1": a.tolist(), "total1": (a + b).tolist(), "events2": c.tolist(),
            "total2": (c + d).tolist()}


def _fixed_from_tables(method, measure, est, se, q, k_q, yi, vi, w, labels, level, settings,
                       notes, ni=None, table_tests=None) -> MetaResult:
    """Assemble a MetaResult for MH/Peto: z-based CI, PI = CI, Q-based I2 and H2 = Q/df."""
    if math.isfinite(est):
        stat, p, ci_low, ci_high = _wald(est, se, None, level)
    else:
        stat = p = ci_low = ci_high = None
    het: dict[str, Any] = {}
    if not math.isfinite(est):
        pass
    elif k_q >= 2:
        het = {"q": q, "q_df": k_q - 1, "q_p": float(special.chdtrc(k_q - 1, q)),
               "h2": q / (k_q - 1)}
        if k_q >= 3:
            het["i2_q"], het["i2_q_ci_low"], het["i2_q_ci_high"] = i2_higgins_thompson(q, k_q, level)
        else:
            het["i2_q"] = 100.0 * max(0.0, (q - 1.0) / q) if q > 0 else 0.0
            notes.append("k = 2: the Higgins-Thompson CI for I^2 needs k >= 3")
    else:
        notes.append("fewer than 2 tables with an estimate: no heterogeneity statistics")
    sw = w.sum()
    return MetaResult(
        k=len(labels), measure=measure, method=method, ci_method="z", estimate=est, se=se,
        statistic=stat, p=p, ci_low=ci_low, ci_high=ci_high, tau2=0.0, tau2_ci_low=None,
        tau2_ci_high=None, tau=0.0, i2_q=het.get("i2_q"), i2_q_ci_low=het.get("i2_q_ci_low"),
        i2_q_ci_high=het.get("i2_q_ci_high"), i2_tau2=None, h2=het.get("h2"), q=het.get("q"),
        q_df=het.get("q_df"), q_p=het.get("q_p"), pi_low=ci_low, pi_high=ci_high, yi=yi, vi=vi,
        labels=labels, w=w, weights=100.0 * w / sw if sw > 0 else np.full(w.size, np.nan),
        df=None, level=level, pi_method=None, settings=settings, notes=notes, ni=ni,
        table_tests=table_tests)


# --------------------------------------------------------------------------------------
# convenience


def fit(es, preset="metafor", **overrides) -> MetaResult:
    """Pool an ``EffectSizes`` (from ``analysis.stats.effects.escalc``) with a preset.

    The pooling is ``rma`` (Viechtbauer 2010, metafor's ``rma``); ``overrides`` are any of ``rma``'s keyword options (method, ci, pi, level, tau2, control).
    Studies that escalc excluded are listed in the result's notes. The preset's ``vtype``
    must already have been used when ``es`` was computed.
    """
    allowed = {"method", "ci", "pi", "level", "tau2", "control"}
    unknown = set(overrides) - allowed
    if unknown:
        raise TypeError(f"fit() got unexpected option(s) {sorted(unknown)}; "
                        f"allowed: {sorted(allowed)}")
    res = rma(es.yi, es.vi, labels=es.labels, measure=es.measure, preset=preset,
              ni=getattr(es, "ni", None), **overrides)
    excluded = [f"excluded {item.get('study')}: {item.get('reason')}"
                for item in getattr(es, "excluded", []) or []]
    return replace(res, notes=res.notes + excluded) if excluded else res
