"""Small-study effects: funnel asymmetry tests, trim-and-fill and the fail-safe N.

Conventions follow metafor (``regtest``, ``ranktest``, ``trimfill``, ``fsn``) so that results
can be checked against it number by number.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

from analysis.stats import meta, moderators
from analysis.stats.formatting import console, console_p, plain

#: Predictors of the regression test (metafor ``regtest``): standard error, variance, sample
#: size, its inverse, square root and inverse square root.
PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
#: Predictors whose value 0 means an infinitely precise study: only for these is the intercept
#: a "limit estimate" (metafor).
LIMIT_PREDICTORS = ("sei", "vi", "ninv", "sqrtninv")


def _pooling_method(res) -> str:
    """tau2 estimator of ``res``; fixed-effect fits from 2x2 tables (MH, Peto) count as FE."""
    return res.settings.get("method", "FE") if res.settings.get("function") == "rma" else "FE"


def _result_html(title: str, rows) -> str:
    body = "".join(f"<tr><th>{html.escape(str(a))}</th><td>{html.escape(str(b))}</td></tr>"
                   for a, b in rows)
    return f"<table><caption>{html.escape(title)}</caption>{body}</table>"


# ---------------------------------------------------------------------------------------------
# regression test


@dataclass(frozen=True)
class RegTestResult:
    """Regression test for funnel plot asymmetry.

    ``statistic`` (z, or t with ``df`` df) and ``p`` test the slope on the predictor;
    ``limit_estimate`` (with ``limit_ci_low``, ``limit_ci_high``) is the intercept, the
    effect expected in an infinitely precise study (standard error, variance, 1/n or 1/sqrt(n)
    equal to 0); None for the predictors ``ni`` and ``sqrtni``. ``k`` counts the studies used.
    """

    model: str
    predictor: str
    method: str
    k: int
    statistic: float
    p: float | None
    df: int | None
    slope: float
    limit_estimate: float | None
    limit_ci_low: float | None
    limit_ci_high: float | None

    def to_dict(self) -> dict:
        return {key: plain(getattr(self, key)) for key in
                ("model", "predictor", "method", "k", "statistic", "p", "df", "slope",
                 "limit_estimate", "limit_ci_low", "limit_ci_high")}

    def _test_text(self) -> str:
        stat = "z" if self.df is None else f"t({self.df})"
        return f"{stat} = {console(self.statistic)}, p = {console_p(self.p)}"

    def summary(self) -> str:
        kind = ("mixed-effects meta-regression" if self.model == "rma"
                else "weighted regression (Egger et al. 1997)")
        return (f"Regression test for funnel plot asymmetry\n"
                f"model: {kind}, method {self.method}, predictor {self.predictor}, k = {self.k}\n"
                f"test for asymmetry: {self._test_text()}\n"
                f"limit estimate (as {self.predictor} -> 0): {console(self.limit_estimate)} "
                f"[{console(self.limit_ci_low)}, {console(self.limit_ci_high)}]")

    def _repr_html_(self) -> str:
        return _result_html("Regression test for funnel plot asymmetry", [
            ("model", self.model), ("predictor", self.predictor), ("k", self.k),
            ("test", self._test_text()),
            ("limit estimate", f"{console(self.limit_estimate)} [{console(self.limit_ci_low)}, "
                               f"{console(self.limit_ci_high)}]")])


def _defined_effects(res, test: str) -> tuple[np.ndarray, np.ndarray]:
    """The effects and variances of a fit's studies with a defined effect (at least 3).

    Tables without an effect in a Mantel-Haenszel or Peto fit (double-zero or all-event tables)
    are left out, as metafor does; ``test`` names the test in the error.
    """
    y = np.asarray(res.yi, dtype=float)[res.defined]
    v = np.asarray(res.vi, dtype=float)[res.defined]
    if y.size < 3:
        raise ValueError(f"{test} needs at least 3 studies with an effect (k = {y.size})")
    return y, v


def regtest(res, model="rma", predictor="sei", ni=None) -> RegTestResult:
    """Regression test for funnel plot asymmetry (metafor ``regtest``).

    ``model="rma"``: the mixed-effects meta-regression ``y_i = b0 + b1 x_i + u_i + e_i``
    with the tau2 estimator and test (z or Knapp-Hartung t) of ``res`` (Sterne & Egger
    2005; metafor's default); Mantel-Haenszel and Peto fits count as fixed-effect models.
    ``model="lm"``: the classical test of Egger et al. (1997), the weighted least-squares
    regression of ``y_i`` on ``x_i`` with weights ``1/v_i`` and a multiplicative residual
    variance, tested with t on k - 2 df (for ``x = sei`` algebraically the test of the
    intercept in the regression of ``y_i/sei_i`` on ``1/sei_i``).

    The predictor ``x`` is ``sei`` (standard error, the default), ``vi`` (variance; Moreno et
    al. 2009), or the total sample size ``ni``, ``ninv`` = 1/n, ``sqrtni`` = sqrt(n),
    ``sqrtninv`` = 1/sqrt(n) (Peters et al. 2006 use 1/n). Sample sizes come from ``ni`` or
    from the fit (``MetaResult.ni``: kept by ``meta.fit`` from arm-level data and by the
    Mantel-Haenszel and Peto fits). Tables without an effect in a Mantel-Haenszel or Peto fit
    (double-zero or all-event tables) are left out, as metafor does.
    """
    if model not in ("rma", "lm"):
        raise ValueError(f"model must be 'rma' or 'lm', not {model!r}")
    if predictor not in PREDICTORS:
        raise ValueError(f"predictor must be one of {', '.join(PREDICTORS)}, not {predictor!r}")
    keep = res.defined
    y, v = _defined_effects(res, "the regression test")
    k = y.size
    if predictor in ("sei", "vi"):
        x = np.sqrt(v) if predictor == "sei" else v
    else:
        sizes = res.ni if ni is None else np.asarray(ni, dtype=float)
        if sizes is None:
            raise ValueError(f"predictor {predictor!r} needs the sample sizes: pass ni, or fit "
                             "arm-level data (meta.fit, rma_mh, rma_peto keep them)")
        sizes = np.asarray(sizes, dtype=float)
        if sizes.size != res.k:
            raise ValueError(f"ni has {sizes.size} values for k = {res.k} studies")
        sizes = sizes[keep]
        if not np.all(np.isfinite(sizes) & (sizes > 0)):
            raise ValueError("ni must be positive sample sizes")
        x = {"ni": sizes, "ninv": 1.0 / sizes, "sqrtni": np.sqrt(sizes),
             "sqrtninv": 1.0 / np.sqrt(sizes)}[predictor]
    X = np.column_stack([np.ones(k), x])
    if np.linalg.matrix_rank(X) < 2:
        raise ValueError(f"the predictor {predictor} is constant: the regression test is undefined")
    if model == "rma":
        method = _pooling_method(res)
        fixed_tau2 = res.settings.get("tau2") if method != "FE" else None
        fit = moderators.mixed_effects(y, v, X, method=method, ci=res.ci_method, level=res.level,
                                       tau2=fixed_tau2)
    else:
        method = "FE"
        # WLS with weights 1/v and estimated residual variance = FE fit scaled as Knapp-Hartung
        fit = moderators.mixed_effects(y, v, X, method="FE", ci="hk", level=res.level)
    limit = predictor in LIMIT_PREDICTORS
    return RegTestResult(model=model, predictor=predictor, method=method, k=k,
                         statistic=float(fit.statistic[1]), p=float(fit.p[1]), df=fit.df,
                         slope=float(fit.beta[1]),
                         limit_estimate=float(fit.beta[0]) if limit else None,
                         limit_ci_low=float(fit.ci_low[0]) if limit else None,
                         limit_ci_high=float(fit.ci_high[0]) if limit else None)


# ---------------------------------------------------------------------------------------------
# rank correlation test


@dataclass(frozen=True)
class RankTestResult:
    """Rank correlation test for funnel plot asymmetry: Kendall's tau (tau-b) and p."""

    tau: float
    p: float
    k: int
    exact: bool

    def to_dict(self) -> dict:
        return {"tau": plain(self.tau), "p": plain(self.p), "k": self.k, "exact": self.exact}

    def summary(self) -> str:
        how = "exact" if self.exact else "normal approximation"
        return (f"Rank correlation test for funnel plot asymmetry (Begg & Mazumdar 1994), k = {self.k}\n"
                f"Kendall's tau = {console(self.tau)}, p = {console_p(self.p)} ({how})")

    def _repr_html_(self) -> str:
        return _result_html("Rank correlation test for funnel plot asymmetry", [
            ("Kendall's tau", console(self.tau)), ("p", console_p(self.p)), ("k", self.k),
            ("p-value", "exact" if self.exact else "normal approximation")])


def _kendall_exact_cdf(n: int) -> np.ndarray:
    """Exact null distribution of Kendall's statistic: P(T <= q) for q = 0..n(n-1)/2.

    T is the number of concordant pairs of n untied pairs under independence (the inversion
    distribution, as R's ``ckendall``).
    """
    prob = np.array([1.0])
    for m in range(2, n + 1):
        # adding an m-th element adds 0..m-1 inversions with equal probability
        cum = np.concatenate([np.zeros(m), np.cumsum(prob), np.full(m - 1, prob.sum())])
        size = prob.size + m - 1
        prob = (cum[m:m + size] - cum[:size]) / m
    return np.cumsum(prob)


def _kendall_p(x, y, tau: float) -> tuple[float, bool]:
    """Two-sided p of Kendall's tau as R ``cor.test(method="kendall", exact=TRUE)``.

    Exact without ties, else the normal approximation with the tie-corrected variance of S.
    """
    n = len(x)
    _, x_counts = np.unique(x, return_counts=True)
    _, y_counts = np.unique(y, return_counts=True)
    if x_counts.max() == 1 and y_counts.max() == 1:
        pairs = n * (n - 1) // 2
        q = int(round((tau + 1.0) * pairs / 2.0))
        cdf = _kendall_exact_cdf(n)
        # P(T >= q) = P(T <= pairs - q) by symmetry, avoiding 1 - cdf cancellation
        tail = cdf[pairs - q] if q > pairs / 2.0 else cdf[q]
        return min(1.0, 2.0 * float(tail)), True
    tx, ty = x_counts[x_counts > 1].astype(float), y_counts[y_counts > 1].astype(float)
    t0 = n * (n - 1) / 2.0
    t1 = np.sum(tx * (tx - 1)) / 2.0
    t2 = np.sum(ty * (ty - 1)) / 2.0
    s = tau * math.sqrt((t0 - t1) * (t0 - t2))
    var_s = ((n * (n - 1) * (2 * n + 5) - np.sum(tx * (tx - 1) * (2 * tx + 5))
              - np.sum(ty * (ty - 1) * (2 * ty + 5))) / 18.0
             + np.sum(tx * (tx - 1)) * np.sum(ty * (ty - 1)) / (2.0 * n * (n - 1))
             + np.sum(tx * (tx - 1) * (tx - 2)) * np.sum(ty * (ty - 1) * (ty - 2))
             / (9.0 * n * (n - 1) * (n - 2)))
    return float(2.0 * special.ndtr(-abs(s / math.sqrt(var_s)))), False


def ranktest(res) -> RankTestResult:
    """Begg & Mazumdar (1994) rank correlation test, as metafor ``ranktest``.

    Kendall's tau between the standardised deviates ``(y_i - b_FE) / sqrt(v_i - 1/sum w)``
    (``b_FE`` the fixed-effect estimate, ``w = 1/v``) and the variances ``v_i``. As metafor
    (``cor.test(..., exact=TRUE)``) the p-value is exact whenever there are no ties, whatever
    k; with ties it uses the normal approximation (Kendall 1970, ch. 4). Tables without an
    effect in a Mantel-Haenszel or Peto fit (double-zero or all-event tables) are left out, as
    metafor does.
    """
    y, v = _defined_effects(res, "the rank correlation test")
    k = y.size
    w = 1.0 / v
    deviates = (y - np.sum(w * y) / w.sum()) / np.sqrt(v - 1.0 / w.sum())
    if np.ptp(deviates) == 0.0 or np.ptp(v) == 0.0:
        # all effects equal, or all variances equal: Kendall's tau is undefined (metafor: NA)
        return RankTestResult(tau=math.nan, p=math.nan, k=k, exact=False)
    tau = float(stats.kendalltau(deviates, v).statistic)
    p, exact = _kendall_p(deviates, v, tau)
    return RankTestResult(tau=tau, p=p, k=k, exact=exact)


# ---------------------------------------------------------------------------------------------
# trim and fill


@dataclass(frozen=True)
class TrimFillResult:
    """Trim-and-fill: ``k0`` studies imputed on ``side``.

    ``filled`` is the fit with the imputed studies (``imputed`` marks them; they come last),
    ``original`` the fit without.
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    p_k0: float | None
    filled: object
    original: object
    imputed: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        return {"k0": self.k0, "se_k0": plain(self.se_k0), "side": self.side,
                "estimator": self.estimator, "p_k0": plain(self.p_k0),
                "filled": self.filled.to_dict()}

    def summary(self) -> str:
        r = self.filled
        return (f"Trim-and-fill ({self.estimator} estimator): {self.k0} studies imputed on the "
                f"{self.side} side (SE {console(self.se_k0)})\n"
                f"adjusted estimate {console(r.estimate)} [{console(r.ci_low)}, {console(r.ci_high)}], "
                f"k = {r.k} (original {console(self.original.estimate)})")

    def _repr_html_(self) -> str:
        r = self.filled
        return _result_html(f"Trim-and-fill ({self.estimator})", [
            ("imputed studies", f"{self.k0} ({self.side} side)"),
            ("adjusted estimate", f"{console(r.estimate)} [{console(r.ci_low)}, {console(r.ci_high)}]"),
            ("original estimate", f"{console(self.original.estimate)}")])


ESTIMATORS = ("L0", "R0", "Q0")


def _missing_studies(centred: np.ndarray, estimator: str) -> tuple[float, float]:
    """Unrounded k0 and its SE from the signed ranks of |y - b| (Duval & Tweedie 2000a,b).

    L0 = (4 S_r - k(k+1)) / (2k - 1), S_r the sum of the positive signed ranks;
    R0 = gamma - 1, gamma the run of positive ranks at the top (k minus the largest rank of a
    negative deviation); Q0 = k - 1/2 - sqrt(2k^2 - 4 S_r + 1/4). SE: sqrt(2 max(0, k0) + 2)
    for R0; with Var(S_r) = (k(k+1)(2k+1) + 10 k0^3 + 27 k0^2 + 17 k0 - 18 k k0^2 - 18 k k0
    + 6 k^2 k0) / 24, 4 sqrt(Var(S_r)) / (2k - 1) for L0 and
    2 sqrt(Var(S_r)) / sqrt((k - 1/2)^2 - k0 (2k - k0 - 1)) for Q0 (Duval & Tweedie 2000b;
    metafor ``trimfill``).
    """
    k = centred.size
    # deviations at rounding level count as 0 (no sign), as metafor's influence residuals
    centred = np.where(np.abs(centred) < 100 * np.finfo(float).eps, 0.0, centred)
    ranks = stats.rankdata(np.abs(centred), method="ordinal")
    signed = np.sign(centred) * ranks
    if estimator == "R0":
        negative = -signed[signed < 0]
        if not negative.size:
            # metafor: max() of no ranks is -Inf and trimfill stops
            raise ValueError("trim-and-fill R0: no effect lies below the pooled estimate; the "
                             "estimator is undefined")
        k0 = k - negative.max() - 1.0
        return k0, math.sqrt(2.0 * max(0.0, k0) + 2.0)
    s_r = signed[signed > 0].sum()
    if estimator == "Q0":
        radicand = 2.0 * k ** 2 - 4.0 * s_r + 0.25
        if radicand < 0:
            raise ValueError("trim-and-fill Q0 is undefined for these data (2k^2 - 4 S_r + 1/4 < 0); "
                             "use L0 or R0")
        k0 = k - 0.5 - math.sqrt(radicand)
    else:
        k0 = (4.0 * s_r - k * (k + 1)) / (2 * k - 1)
    var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0 ** 3 + 27 * k0 ** 2 + 17 * k0
              - 18 * k * k0 ** 2 - 18 * k * k0 + 6 * k ** 2 * k0) / 24.0
    # var_sr can fall below 0 for degenerate data (all effects equal); the SE is then undefined
    if var_sr < 0:
        return k0, math.nan
    if estimator == "Q0":
        denominator = (k - 0.5) ** 2 - k0 * (2 * k - k0 - 1)
        return k0, 2.0 * math.sqrt(var_sr) / math.sqrt(denominator) if denominator > 0 else math.nan
    return k0, 4.0 * math.sqrt(var_sr) / (2 * k - 1)


def _pooled_mean(y, v, method) -> float:
    w = 1.0 / (v + meta.estimate_tau2(y, v, method))
    return float(np.sum(w * y) / w.sum())


def trimfill(res, estimator="L0", side=None, maxiter=100) -> TrimFillResult:
    """Trim-and-fill (Duval & Tweedie 2000), as metafor ``trimfill``.

    The side on which studies are missing is, unless given, opposite to the sign of the slope
    in the meta-regression of ``y_i`` on ``sei_i`` (same tau2 estimator): a negative slope
    means small studies with small effects are missing, so studies are imputed on the right.
    The data are oriented so that missing studies lie on the left; then, until ``k0`` no
    longer changes: estimate the pooled effect ``b`` from all but the ``k0`` largest effects,
    and ``k0 = max(0, round(estimator))`` from the signed ranks of ``y - b``. The ``k0``
    largest effects are mirrored about the last ``b`` (``2b - y``, same variances) and the
    pooled model is refitted with the settings of ``res``. ``estimator`` is L0, R0 or Q0
    (:func:`_missing_studies`).

    ``se_k0`` is the estimator's standard error; for R0 ``p_k0 = 0.5^(k0+1)`` tests k0 = 0.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, not {estimator!r}")
    if res.settings.get("function") != "rma":
        raise ValueError("trim-and-fill needs an inverse-variance fit (meta.rma)")
    if res.k < 2:
        raise ValueError("trim-and-fill needs at least two studies")
    method = res.settings["method"]
    y0 = np.asarray(res.yi, dtype=float)
    v0 = np.asarray(res.vi, dtype=float)
    if side is None:
        X = np.column_stack([np.ones(res.k), np.sqrt(v0)])
        # equal effects have slope 0 exactly; a fit would only return rounding noise
        slope = moderators.mixed_effects(y0, v0, X, method=method).beta[1] if np.ptp(y0) else 0.0
        side = "right" if slope < 0 else "left"
    elif side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * y0, kind="stable")
    y, v = sign * y0[order], v0[order]
    k = res.k
    k0, previous = 0, -1
    for _ in range(maxiter):
        if k0 == previous:
            break
        previous = k0
        centre = _pooled_mean(y[:k - k0], v[:k - k0], method)
        raw, se_k0 = _missing_studies(y - centre, estimator)
        k0 = max(0, round(raw))
    else:
        raise meta.ConvergenceError(f"trim-and-fill did not converge in {maxiter} iterations")
    p_k0 = 0.5 ** (k0 + 1) if estimator == "R0" else None
    if k0 == 0:
        return TrimFillResult(k0=0, se_k0=se_k0, side=side, estimator=estimator, p_k0=p_k0,
                              filled=res, original=res, imputed=np.zeros(k, dtype=bool))
    filled_y = sign * (2.0 * centre - y[k - k0:])
    labels = list(res.labels) + [f"Filled {j + 1}" for j in range(k0)]
    opts = {key: val for key, val in res.settings.items() if key != "function"}
    filled = meta.rma(np.concatenate([y0, filled_y]), np.concatenate([v0, v[k - k0:]]),
                      labels=labels, **opts)
    return TrimFillResult(k0=k0, se_k0=se_k0, side=side, estimator=estimator, p_k0=p_k0,
                          filled=filled, original=res,
                          imputed=np.r_[np.zeros(k, dtype=bool), np.ones(k0, dtype=bool)])


# ---------------------------------------------------------------------------------------------
# fail-safe N


FAILSAFE_TYPES = ("Rosenthal", "Orwin", "Rosenberg")


@dataclass(frozen=True)
class FailSafeResult:
    """Fail-safe N (metafor ``fsn``).

    ``fsnum`` studies averaging a null (or ``target``) effect would be needed to change the
    conclusion; ``p`` is the p-value of the combined test it is based on (Rosenthal,
    Rosenberg), ``mean`` the mean effect (Orwin, Rosenberg).
    """

    type: str
    fsnum: int | float
    alpha: float
    p: float | None
    mean: float | None
    target: float | None
    k: int

    def to_dict(self) -> dict:
        return {key: plain(getattr(self, key)) for key in
                ("type", "fsnum", "alpha", "p", "mean", "target", "k")}

    def summary(self) -> str:
        lines = [f"Fail-safe N calculation using the {self.type} approach (k = {self.k})"]
        if self.type == "Orwin":
            lines.append(f"average effect size: {console(self.mean)}; target effect size: "
                         f"{console(self.target)}")
        else:
            if self.mean is not None:
                lines.append(f"average effect size: {console(self.mean)}")
            lines.append(f"observed significance level: {console_p(self.p)}; target significance "
                         f"level: {self.alpha:g}")
        lines.append(f"fail-safe N: {self.fsnum}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _result_html(f"Fail-safe N ({self.type})", [
            ("fail-safe N", self.fsnum), ("k", self.k), ("p", console_p(self.p)),
            ("mean effect", console(self.mean)), ("target", console(self.target))])


def failsafe(yi, vi, type="Rosenthal", alpha=0.05, *, target=None,
             weighted=False) -> FailSafeResult:
    """Fail-safe N (metafor ``fsn``), of three kinds.

    - ``"Rosenthal"``, Rosenthal (1979), with Stouffer's test: ``Z = |sum y_i/sqrt(v_i)| / sqrt(k)`` with
      one-sided ``p = 1 - Phi(Z)``, ``N = max(0, k (Z / z_(1-alpha))^2 - k)``: null studies
      that make the combined test non-significant at one-sided ``alpha``.
    - ``"Orwin"``, Orwin (1983): ``N = max(0, k (m - target) / target)``, with ``m`` the mean effect
      (unweighted, or weighted by ``1/v`` when ``weighted``) and ``target`` (default ``m/2``,
      sign made that of ``m``): studies of effect 0 that bring the mean down to ``target``.
    - ``"Rosenberg"``, Rosenberg (2005): ``N = max(0, k ((sum w y / z_(1-alpha/2))^2 - sum w) / sum w)``,
      ``w = 1/v``: null studies (of average weight) that make the fixed-effect estimate
      non-significant at two-sided ``alpha``; ``p`` is the two-sided p of that estimate.

    N is rounded up, except that values within 1.5e-8 of an integer are rounded (metafor).
    """
    if type not in FAILSAFE_TYPES:
        raise ValueError(f"type must be one of {', '.join(FAILSAFE_TYPES)}, not {type!r}")
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    if y.size == 0 or y.size != v.size:
        raise ValueError(f"yi and vi need the same, positive length ({y.size}, {v.size})")
    keep = np.isfinite(y) & np.isfinite(v)
    y, v = y[keep], v[keep]
    k = y.size
    if k == 0:
        raise ValueError("no study with a finite effect and variance")
    if type != "Orwin" or weighted:
        if np.any(v <= 0):
            raise ValueError("vi must be positive")
    p = mean = None
    if type == "Rosenthal":
        z = abs(np.sum(y / np.sqrt(v))) / math.sqrt(k)
        p = float(special.ndtr(-z))
        n = max(0.0, k * (z / special.ndtri(1.0 - alpha)) ** 2 - k)
        target = None
    elif type == "Orwin":
        mean = float(np.sum(y / v) / np.sum(1.0 / v)) if weighted else float(np.mean(y))
        target = mean / 2.0 if target is None else float(target)
        if target == 0.0:
            n = math.inf
        else:
            if np.sign(target) != np.sign(mean):
                target = -target
            n = max(0.0, k * (mean - target) / target)
    else:
        w = 1.0 / v
        mean = float(np.sum(w * y) / w.sum())
        z = mean / math.sqrt(1.0 / w.sum())
        p = float(2.0 * special.ndtr(-abs(z)))
        n = max(0.0, k * ((np.sum(w * y) / special.ndtri(1.0 - alpha / 2.0)) ** 2 - w.sum()) / w.sum())
        target = None
    # metafor rounds values within sqrt(machine eps) of an integer instead of ceiling them
    if math.isinf(n):
        fsnum: int | float = math.inf
    elif abs(n - round(n)) < np.finfo(float).eps ** 0.5:
        fsnum = int(round(n))
    else:
        fsnum = int(math.ceil(n))
    return FailSafeResult(type=type, fsnum=fsnum, alpha=float(alpha), p=p, mean=mean,
                          target=target, k=k)
