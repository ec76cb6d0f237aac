"""Heterogeneity explained by study characteristics: subgroup analyses and meta-regression.

The mixed-effects model is ``y = X beta + u + e`` with ``u ~ N(0, tau2)`` and
``e ~ N(0, v_i)`` (Raudenbush 2009; Viechtbauer 2010, eq. 4). ``mixed_effects`` fits it for
any full-rank design matrix ``X`` exactly as metafor's ``rma.uni(mods=...)``; ``metareg``
builds ``X`` from moderator columns and ``subgroup`` tests whether subgroup estimates differ.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special

from analysis.stats import meta
from analysis.stats.formatting import console, console_p, plain

#: tau2 estimators available for a general design matrix (as in ``meta.rma``).
METHODS = ("FE", "DL", "REML", "ML", "PM", "SJ", "HE", "EB")
#: Tests of the coefficients: Wald z, Knapp-Hartung t/F, and Knapp-Hartung with s2 >= 1.
TESTS = ("z", "hk", "hk-adhoc")

_THRESHOLD = 1e-12  # Fisher scoring stops when tau2 changes less than this
_MAXITER = 1000


# ---------------------------------------------------------------------------------------------
# small shared helpers


def frame_records(frame: pd.DataFrame) -> list[dict]:
    """Rows of a result frame as JSON-ready dicts (NaN -> None)."""
    return [{col: plain(v) for col, v in row.items()} for row in frame.to_dict(orient="records")]


# ---------------------------------------------------------------------------------------------
# the mixed-effects model on a general design matrix


@dataclass(frozen=True)
class MixedEffectsFit:
    """Internal result of ``mixed_effects`` (coefficients on the columns of ``X``)."""

    beta: np.ndarray
    vb: np.ndarray          # variance-covariance matrix of beta (Knapp-Hartung scaled if used)
    se: np.ndarray
    statistic: np.ndarray   # z or t values
    p: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    tau2: float
    s2w: float              # Knapp-Hartung scale factor (1 for z tests)
    df: int | None          # t / F denominator df (k - p) or None for z tests
    qe: float
    qe_df: int
    qe_p: float | None
    i2: float | None
    h2: float | None
    k: int


def _projection(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``P = W - W X (X'WX)^-1 X'W`` (Viechtbauer 2010, eq. 13)."""
    WX = X * w[:, None]
    return np.diag(w) - WX @ np.linalg.solve(X.T @ WX, WX.T)


def _remaining_q(y: np.ndarray, vi: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """Generalised Q ``y'P y`` with weights ``1/(v_i + tau2)``."""
    return float(y @ _projection(X, 1.0 / (vi + tau2)) @ y)


def _restricted_loglik(y, vi, X, tau2, method):
    """ML or REML log-likelihood up to a constant in tau2 (to compare a fit with tau2 = 0)."""
    w = 1.0 / (vi + tau2)
    XtWX = X.T @ (X * w[:, None])
    beta = np.linalg.solve(XtWX, X.T @ (w * y))
    rss = float(np.sum(w * (y - X @ beta) ** 2))
    k, p = X.shape
    if method == "ML":
        return -0.5 * k * math.log(2 * math.pi) - 0.5 * np.sum(np.log(vi + tau2)) - 0.5 * rss
    return (-0.5 * (k - p) * math.log(2 * math.pi) - 0.5 * np.sum(np.log(vi + tau2))
            - 0.5 * np.linalg.slogdet(XtWX)[1] - 0.5 * rss)


def residual_tau2(yi, vi, X, method="REML") -> float:
    """Residual heterogeneity ``tau2`` of a mixed-effects meta-regression.

    Formulas as metafor ``rma.uni`` (Viechtbauer 2005, 2010; Viechtbauer et al. 2015), with
    ``P`` the residual-maker of the weighted model, ``p`` columns of ``X``:

    - ``DL``: ``(y'P_0 y - (k - p)) / tr(P_0)``, ``P_0`` with weights ``1/v_i`` (DerSimonian &
      Laird 1986, generalised by Raudenbush 2009).
    - ``HE``: ``(y'(I - H)y - tr((I - H)V)) / (k - p)`` with the unweighted hat matrix ``H``.
    - ``SJ``: ``tau0 y'P y / (k - p)`` with weights ``1/(v_i + tau0)``, ``tau0`` the mean
      squared deviation of ``y`` (Sidik & Jonkman 2005).
    - ``PM``: root of ``y'P(tau2) y = k - p`` (Paule & Mandel 1982), 0 when ``Q(0) < k - p``.
    - ``ML``, ``REML``, ``EB``: Fisher scoring from the HE estimate with step halving at 0,
      REML step ``(y'PPy - tr P) / tr(PP)``, ML ``(y'PPy - sum w) / sum w^2``, EB
      ``(y'Py k/(k-p) - k) / sum w``; ML/REML fall back to 0 if ``tau2 = 0`` has the larger
      likelihood (metafor's ``ll0check``).

    Every estimate is truncated at 0.
    """
    y = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    k, p = X.shape
    if method == "FE":
        return 0.0
    if method == "DL":
        P = _projection(X, 1.0 / vi)
        tau2 = (y @ P @ y - (k - p)) / np.trace(P)
    elif method == "SJ":
        tau0 = float(np.mean((y - y.mean()) ** 2))
        tau2 = tau0 * _remaining_q(y, vi, X, tau0) / (k - p)
    elif method == "PM":
        tau2 = _paule_mandel(y, vi, X)
    else:
        resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        H = X @ np.linalg.solve(X.T @ X, X.T)
        tau2 = (resid @ resid - np.sum(vi * (1.0 - np.diag(H)))) / (k - p)
        if method in ("ML", "REML", "EB"):
            tau2 = _fisher_scoring(y, vi, X, max(0.0, tau2), method)
    return max(0.0, float(tau2))


def _paule_mandel(y, vi, X) -> float:
    target = X.shape[0] - X.shape[1]
    if _remaining_q(y, vi, X, 0.0) < target:
        return 0.0
    upper = max(100.0, 10.0 * float(np.var(y)))
    while _remaining_q(y, vi, X, upper) > target:
        upper *= 10.0
    return optimize.brentq(lambda t: _remaining_q(y, vi, X, t) - target, 0.0, upper,
                           xtol=1e-15, rtol=1e-14, maxiter=_MAXITER)


def _fisher_scoring(y, vi, X, tau2, method) -> float:
    k, p = X.shape
    for _ in range(_MAXITER):
        w = 1.0 / (vi + tau2)
        P = _projection(X, w)
        Py = P @ y
        if method == "REML":
            step = (Py @ Py - np.trace(P)) / np.sum(P * P)
        elif method == "ML":
            step = (Py @ Py - np.sum(w)) / np.sum(w ** 2)
        else:
            step = (y @ Py * k / (k - p) - k) / np.sum(w)
        while tau2 + step < 0.0:
            step /= 2.0
        tau2 += step
        if abs(step) <= _THRESHOLD:
            break
    else:
        raise meta.ConvergenceError(f"{method} estimation of tau2 did not converge in "
                                    f"{_MAXITER} iterations")
    if method in ("ML", "REML") and tau2 > _THRESHOLD:
        gain = _restricted_loglik(y, vi, X, 0.0, method) - _restricted_loglik(y, vi, X, tau2, method)
        if gain > meta._LL0_TOL:
            return 0.0
    return tau2


def mixed_effects(yi, vi, X, *, method="REML", ci="z", level=95, tau2=None) -> MixedEffectsFit:
    """Fit ``y = X beta + u + e`` by weighted least squares with weights ``1/(v_i + tau2)``.

    ``beta = (X'WX)^-1 X'W y`` with ``Var(beta) = (X'WX)^-1`` (Viechtbauer 2010, eq. 8); with
    ``ci="hk"`` the variance is scaled by ``s2 = y'P y / (k - p)`` and tests use t(k - p)
    (Knapp & Hartung 2003); ``"hk-adhoc"`` truncates ``s2`` at 1 (metafor ``test="adhoc"``).
    ``QE = y'P_0 y`` with weights ``1/v_i`` tests residual heterogeneity on ``k - p`` df.
    Residual ``I2 = tau2 / (tau2 + s2)`` with the typical variance ``s2 = (k - p) / tr(P_0)``
    (Higgins & Thompson 2002, as metafor). ``tau2`` given = fixed value (not estimated).
    """
    y = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    X = np.asarray(X, dtype=float)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if ci not in TESTS:
        raise ValueError(f"ci must be one of {', '.join(TESTS)}, not {ci!r}")
    k, p = X.shape
    if np.linalg.matrix_rank(X) < p:
        raise ValueError("the design matrix is not of full rank (a moderator is constant or "
                         "collinear with others in these studies)")
    estimated = tau2 is None and method != "FE"
    if k < p + estimated:
        raise ValueError(f"{p + estimated} parameters cannot be estimated from k = {k} studies")
    if tau2 is None:
        tau2 = residual_tau2(y, vi, X, method)
    tau2 = float(tau2)

    w = 1.0 / (vi + tau2)
    XtWX = X.T @ (X * w[:, None])
    vb = np.linalg.inv(XtWX)
    beta = vb @ (X.T @ (w * y))
    s2w = 1.0
    df = None
    if ci != "z":
        rss = float(np.sum(w * (y - X @ beta) ** 2))
        s2w = rss / (k - p) if rss > np.finfo(float).eps and k > p else 0.0
        if ci == "hk-adhoc":
            s2w = max(1.0, s2w)
        df = k - p
    vb = s2w * vb
    se = np.sqrt(np.diag(vb))
    # a zero standard error (all effects on the regression line) leaves the test undefined
    stat = np.divide(beta, se, out=np.full(p, np.nan), where=se > 0)
    crit, p_val = _critical_and_p(stat, df, level)
    P0 = _projection(X, 1.0 / vi) if k > p else None
    if P0 is not None:
        qe = max(0.0, float(y @ P0 @ y))
        qe_p = float(special.chdtrc(k - p, qe))
        if method == "FE":
            i2 = max(0.0, 100.0 * (qe - (k - p)) / qe) if qe > 0 else 0.0
            h2 = qe / (k - p)
        else:
            typical = (k - p) / np.trace(P0)
            i2, h2 = 100.0 * tau2 / (typical + tau2), tau2 / typical + 1.0
    else:
        qe, qe_p, i2, h2 = 0.0, 1.0, 0.0, 1.0
    return MixedEffectsFit(beta=beta, vb=vb, se=se, statistic=stat, p=p_val,
                           ci_low=beta - crit * se, ci_high=beta + crit * se, tau2=tau2,
                           s2w=s2w, df=df, qe=qe, qe_df=k - p, qe_p=qe_p, i2=i2, h2=h2, k=k)


def _critical_and_p(stat, df, level):
    alpha = 1.0 - level / 100.0
    if df is None:
        return special.ndtri(1.0 - alpha / 2.0), 2.0 * special.ndtr(-np.abs(stat))
    if df < 1:
        return math.nan, np.full_like(stat, math.nan)
    return special.stdtrit(df, 1.0 - alpha / 2.0), 2.0 * special.stdtr(df, -np.abs(stat))


def wald_test(fit: MixedEffectsFit, tested) -> tuple[float, int, float | None]:
    """Omnibus test of ``beta[tested] = 0``: ``QM = b' V^-1 b`` ~ chi2(m), or ``QM/m`` ~
    F(m, k - p) under Knapp-Hartung (metafor ``QM``, ``QMp``)."""
    b = fit.beta[tested]
    qm = float(b @ np.linalg.solve(fit.vb[np.ix_(tested, tested)], b))
    m = len(tested)
    if fit.df is None:
        return qm, m, float(special.chdtrc(m, qm))
    qm /= m
    return qm, m, (float(special.fdtrc(m, fit.df, qm)) if fit.df > 0 else None)


# ---------------------------------------------------------------------------------------------
# meta-regression


def design_matrix(mods, k: int, *, intercept=True) -> tuple[np.ndarray, list[str], list[int]]:
    """Design matrix from moderator columns.

    Numeric (and boolean) columns enter as they are; object, string and categorical columns
    become treatment dummies with the first level as reference (the categories' order for a
    pandas ``Categorical``, sorted values otherwise, as R's ``factor``). Returns ``X``, the
    term names and the indices of the moderator terms (all but the intercept).
    """
    if isinstance(mods, pd.DataFrame):
        columns = {str(c): mods[c] for c in mods.columns}
    elif isinstance(mods, dict):
        columns = {str(c): v for c, v in mods.items()}
    else:
        arr = np.asarray(mods)
        arr = arr.reshape(len(arr), -1) if arr.ndim else arr.reshape(1, 1)
        columns = {f"x{j + 1}" if arr.shape[1] > 1 else "x": arr[:, j] for j in range(arr.shape[1])}
    names, cols = (["intercept"], [np.ones(k)]) if intercept else ([], [])
    for name, values in columns.items():
        series = pd.Series(values).reset_index(drop=True)
        if len(series) != k:
            raise ValueError(f"moderator {name!r} has {len(series)} values for k = {k} studies")
        missing = np.flatnonzero(series.isna().to_numpy())
        if missing.size:
            raise ValueError(f"moderator {name!r} is missing for study {int(missing[0]) + 1} "
                             f"(row {int(missing[0])}); drop such studies first")
        if isinstance(series.dtype, pd.CategoricalDtype):
            levels = [lv for lv in series.cat.categories if (series == lv).any()]
        elif pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            names.append(name)
            cols.append(series.to_numpy(dtype=float))
            continue
        else:
            levels = sorted(series.unique(), key=str)
        for level in levels[1:]:
            names.append(f"{name}[{level}]")
            cols.append((series == level).to_numpy(dtype=float))
    if not cols:
        raise ValueError("the model has no terms (no intercept and no moderators)")
    tested = list(range(1, len(names))) if intercept else list(range(len(names)))
    return np.column_stack(cols), names, tested


@dataclass(frozen=True)
class MetaRegResult:
    """Mixed-effects meta-regression (metafor ``rma(yi, vi, mods=...)``).

    ``coef`` has one row per term (term, estimate, se, statistic, p, ci_low, ci_high);
    ``qm`` tests all moderators (chi2 with ``qm_df`` df, or F with ``qm_df``, ``qm_df2`` df
    under Knapp-Hartung); ``qe`` tests residual heterogeneity; ``r2`` is the proportion of
    tau2 explained in percent.
    """

    coef: pd.DataFrame
    tau2: float
    qm: float
    qm_df: int
    qm_df2: int | None
    qm_p: float | None
    qe: float
    qe_df: int
    qe_p: float | None
    r2: float | None
    i2: float | None
    h2: float | None
    k: int
    method: str
    ci_method: str
    level: float
    vcov: np.ndarray = field(repr=False)
    labels: list = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {
            "k": self.k, "method": self.method, "ci_method": self.ci_method,
            "level": plain(self.level), "tau2": plain(self.tau2),
            "i2": plain(self.i2), "h2": plain(self.h2), "r2": plain(self.r2),
            "qm": plain(self.qm), "qm_df": self.qm_df, "qm_df2": self.qm_df2,
            "qm_p": plain(self.qm_p), "qe": plain(self.qe), "qe_df": self.qe_df,
            "qe_p": plain(self.qe_p), "coefficients": frame_records(self.coef),
        }

    def _test_text(self) -> str:
        if self.qm_df2 is None:
            return f"QM({self.qm_df}) = {console(self.qm)}, p = {console_p(self.qm_p)}"
        return f"F({self.qm_df}, {self.qm_df2}) = {console(self.qm)}, p = {console_p(self.qm_p)}"

    def summary(self) -> str:
        stat = "z" if self.qm_df2 is None else "t"
        lines = [f"Mixed-effects meta-regression (k = {self.k}; tau2 estimator: {self.method}; "
                 f"tests: {self.ci_method})",
                 f"residual tau2 = {console(self.tau2)}, I2 = {console(self.i2, 1)}%, "
                 f"R2 = {console(self.r2, 1)}%",
                 f"residual heterogeneity QE({self.qe_df}) = {console(self.qe)}, p = {console_p(self.qe_p)}",
                 f"moderators: {self._test_text()}", "",
                 f"{'term':<24}{'estimate':>10}{'se':>10}{stat:>10}{'p':>10}{'ci_low':>10}{'ci_high':>10}"]
        for row in self.coef.itertuples(index=False):
            lines.append(f"{row.term:<24}{console(row.estimate):>10}{console(row.se):>10}"
                         f"{console(row.statistic):>10}{console_p(row.p):>10}{console(row.ci_low):>10}"
                         f"{console(row.ci_high):>10}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = (f"<p>Mixed-effects meta-regression, k = {self.k}, {html.escape(self.method)}; "
                f"residual tau&sup2; = {console(self.tau2)}, R&sup2; = {console(self.r2, 1)}%; "
                f"{html.escape(self._test_text())}; QE({self.qe_df}) = {console(self.qe)}, "
                f"p = {console_p(self.qe_p)}</p>")
        return head + self.coef.to_html(index=False, float_format=lambda v: f"{v:.4f}")


def metareg(yi, vi, mods, *, method="REML", ci="z", level=95, labels=None,
            intercept=True) -> MetaRegResult:
    """Mixed-effects meta-regression of ``yi`` on moderators.

    Parameters
    ----------
    yi, vi : array_like
        Effects and sampling variances.
    mods : DataFrame, dict of columns or array
        Moderators; categorical columns become dummies (first level = reference).
    method : str
        Residual tau2 estimator (``FE``, ``DL``, ``REML``, ``ML``, ``PM``, ``SJ``, ``HE``, ``EB``).
    ci : {"z", "hk", "hk-adhoc"}
        Wald z tests or Knapp-Hartung t tests (F for the omnibus test).

    Notes
    -----
    Estimation as ``mixed_effects``. ``R2 = max(0, (tau2_0 - tau2) / tau2_0) * 100`` with
    ``tau2_0`` from the intercept-only model with the same estimator (Raudenbush 2009,
    eq. 16.36; metafor), 0 when ``tau2_0 = 0``; for ``FE`` the adjusted R2 of the weighted
    regression; None without an intercept.
    """
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    k = len(y)
    if len(v) != k:
        raise ValueError(f"yi has {k} values but vi has {len(v)}")
    X, names, tested = design_matrix(mods, k, intercept=intercept)
    fit = mixed_effects(y, v, X, method=method, ci=ci, level=level)
    qm, qm_df, qm_p = wald_test(fit, tested) if tested else (math.nan, 0, None)
    r2 = _r_squared(y, v, fit, method) if intercept and len(names) > 1 else None
    coef = pd.DataFrame({"term": names, "estimate": fit.beta, "se": fit.se,
                         "statistic": fit.statistic, "p": fit.p, "ci_low": fit.ci_low,
                         "ci_high": fit.ci_high})
    return MetaRegResult(coef=coef, tau2=fit.tau2, qm=qm, qm_df=qm_df, qm_df2=fit.df, qm_p=qm_p,
                         qe=fit.qe, qe_df=fit.qe_df, qe_p=fit.qe_p, r2=r2, i2=fit.i2, h2=fit.h2,
                         k=k, method=method, ci_method=ci, level=float(level), vcov=fit.vb,
                         labels=list(labels) if labels is not None else [])


def _r_squared(y, v, fit, method) -> float:
    ones = np.ones((len(y), 1))
    if method == "FE":
        # adjusted R2 of the weighted regression, as metafor for fixed-effects models
        q_total = float(y @ _projection(ones, 1.0 / v) @ y)
        if q_total == 0.0:
            return 0.0
        p = len(fit.beta)
        return max(0.0, 100.0 * (1.0 - fit.qe / q_total * (len(y) - 1) / (len(y) - p)))
    tau2_0 = meta.estimate_tau2(y, v, method)
    if tau2_0 == 0.0:
        return 0.0
    return max(0.0, 100.0 * (tau2_0 - fit.tau2) / tau2_0)


# ---------------------------------------------------------------------------------------------
# subgroups


@dataclass(frozen=True)
class SubgroupResult:
    """Subgroup analysis: one pooled result per subgroup and a test for subgroup differences.

    ``q_between`` is chi2 with ``df_between`` df (``test == "chi2"``) or, for a common tau2
    under Knapp-Hartung, F with (``df_between``, ``df_between2``) df (``test == "F"``).
    """

    groups: dict
    q_between: float | None
    df_between: int
    p_between: float | None
    tau2_model: str
    test: str
    df_between2: int | None
    overall: object
    tau2_common: float | None = None
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "tau2_model": self.tau2_model, "test": self.test,
            "q_between": plain(self.q_between), "df_between": self.df_between,
            "df_between2": self.df_between2, "p_between": plain(self.p_between),
            "tau2_common": plain(self.tau2_common),
            "groups": {str(name): res.to_dict() for name, res in self.groups.items()},
            "overall": self.overall.to_dict(), "notes": list(self.notes),
        }

    def _test_text(self) -> str:
        if self.q_between is None:
            return "no test for subgroup differences"
        if self.test == "F":
            return (f"F({self.df_between}, {self.df_between2}) = {console(self.q_between)}, "
                    f"p = {console_p(self.p_between)}")
        return f"Q = {console(self.q_between)}, df = {self.df_between}, p = {console_p(self.p_between)}"

    def frame(self) -> pd.DataFrame:
        """One row per subgroup: subgroup, k, estimate, se, ci_low, ci_high, tau2, i2_q."""
        return pd.DataFrame([{"subgroup": name, "k": r.k, "estimate": r.estimate, "se": r.se,
                              "ci_low": r.ci_low, "ci_high": r.ci_high, "tau2": r.tau2,
                              "i2_q": r.i2_q} for name, r in self.groups.items()])

    def summary(self) -> str:
        lines = [f"Subgroup analysis ({self.tau2_model} tau2), {len(self.groups)} subgroups, "
                 f"k = {self.overall.k}",
                 f"{'subgroup':<28}{'k':>4}{'estimate':>10}{'ci_low':>10}{'ci_high':>10}{'tau2':>10}"]
        for name, r in self.groups.items():
            lines.append(f"{str(name):<28}{r.k:>4}{console(r.estimate):>10}{console(r.ci_low):>10}"
                         f"{console(r.ci_high):>10}{console(r.tau2):>10}")
        lines.append(f"Test for subgroup differences: {self._test_text()}")
        lines.extend(self.notes)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        table = self.frame().to_html(index=False, float_format=lambda v: f"{v:.4f}")
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (f"<p>Subgroup analysis ({html.escape(self.tau2_model)} tau&sup2;)</p>{table}"
                f"<p>Test for subgroup differences: {html.escape(self._test_text())}</p>{notes}")


def _group_levels(groups, k: int) -> tuple[list, np.ndarray]:
    values = list(groups)
    if len(values) != k:
        raise ValueError(f"groups has {len(values)} values for k = {k} studies")
    for i, g in enumerate(values):
        if g is None or (isinstance(g, float) and math.isnan(g)) or (isinstance(g, str) and not g.strip()):
            raise ValueError(f"subgroup of study {i + 1} is missing ({g!r}); label or drop it first")
    levels = list(dict.fromkeys(values))  # order of first appearance
    return levels, np.array([levels.index(g) for g in values])


def q_between(estimates, se) -> tuple[float, int, float]:
    """Fixed-effect test of equal subgroup estimates: ``Q = sum w_g (est_g - est_w)^2`` with
    ``w_g = 1/se_g^2`` on ``G - 1`` df (Borenstein et al. 2009, eq. 19.7; Cochrane Handbook
    10.11.3.1; R meta ``subgroup`` with separate tau2; RevMan)."""
    est = np.asarray(estimates, dtype=float)
    w = 1.0 / np.asarray(se, dtype=float) ** 2
    mean = np.sum(w * est) / np.sum(w)
    q = float(np.sum(w * (est - mean) ** 2))
    df = len(est) - 1
    return q, df, float(special.chdtrc(df, q))


def subgroup(res, groups, *, tau2="separate") -> SubgroupResult:
    """Pool each subgroup with the settings of ``res`` and test for subgroup differences.

    Parameters
    ----------
    res : meta.MetaResult
        The overall fit (its settings are reused).
    groups : sequence
        Subgroup of each study, in the order of ``res.yi``.
    tau2 : {"separate", "common"}
        ``separate``: each subgroup has its own tau2 and ``Q_between`` compares the subgroup
        estimates with their standard errors (``q_between``). ``common``: one tau2 for all,
        estimated by the mixed-effects meta-regression on the subgroup as a categorical
        moderator (metafor ``rma(mods = ~ factor(group))``); the test is its ``QM`` (chi2, or
        F under Knapp-Hartung) and each subgroup is pooled with that tau2 fixed (as R meta
        with ``tau.common = TRUE``; a Knapp-Hartung CI then uses the subgroup's own scale
        factor). For fixed-effect fits (FE, MH, Peto) both coincide and the separate
        analysis is returned.

    Notes
    -----
    A subgroup with one study is pooled as that study (no heterogeneity). Subgroups are kept
    in order of first appearance; the first is the reference level of the common model.
    """
    if tau2 not in ("separate", "common"):
        raise ValueError(f"tau2 must be 'separate' or 'common', not {tau2!r}")
    levels, index = _group_levels(groups, res.k)
    notes = []
    if tau2 == "separate" or res.tau2_model_free:
        if tau2 == "common":
            notes.append("fixed-effect model (no between-study variance): common and separate "
                         "tau2 coincide")
        fits = {name: res.refit(np.flatnonzero(index == g)) for g, name in enumerate(levels)}
        usable = {n: r for n, r in fits.items() if plain(r.se) not in (None, 0.0)}
        if len(usable) < len(fits):
            notes.append("left out of the test (no standard error): "
                         + ", ".join(str(n) for n in fits if n not in usable))
        if len(usable) >= 2:
            q, df, p = q_between([r.estimate for r in usable.values()], [r.se for r in usable.values()])
        else:
            q, df, p = None, 0, None
            notes.append("fewer than two subgroups: no test for subgroup differences")
        return SubgroupResult(groups=fits, q_between=q, df_between=df, p_between=p,
                              tau2_model=tau2, test="chi2", df_between2=None, overall=res,
                              notes=notes)
    if len(levels) < 2:
        raise ValueError("a common-tau2 subgroup analysis needs at least two subgroups")
    factor = pd.Categorical([levels[g] for g in index], categories=levels)
    reg = metareg(res.yi, res.vi, {"subgroup": factor}, method=res.method, ci=res.ci_method,
                  level=res.level)
    fits = {name: refit_with(res, np.flatnonzero(index == g), tau2=reg.tau2)
            for g, name in enumerate(levels)}
    return SubgroupResult(groups=fits, q_between=reg.qm, df_between=reg.qm_df, p_between=reg.qm_p,
                          tau2_model="common", test="chi2" if reg.qm_df2 is None else "F",
                          df_between2=reg.qm_df2, overall=res, tau2_common=reg.tau2, notes=notes)


def refit_with(res, indices, **overrides):
    """``res`` (an inverse-variance fit from ``meta.rma``) refitted on the studies ``indices``
    with some settings replaced, e.g. ``tau2`` fixed."""
    opts = {**res.settings, **overrides}
    if opts.pop("function") != "rma":
        raise ValueError("only inverse-variance fits (meta.rma) can be refitted with other settings")
    idx = np.asarray(indices, dtype=int)
    return meta.rma(res.yi[idx], res.vi[idx], labels=[res.labels[i] for i in idx], **opts)
