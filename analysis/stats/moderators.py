"""Heterogeneity explained by study characteristics: subgroup analyses and meta-regression.

The mixed-effects model is ``y = X beta + u + e`` with ``u ~ N(0, tau2)`` and
``e ~ N(0, v_i)`` (Raudenbush 2009; Viechtbauer 2010, eq. 4). ``mixed_effects`` fits it for
any full-rank design matrix ``X`` exactly as metafor's ``rma.uni(mods=...)``; ``metareg``
builds ``X`` from moderator columns and ``subgroup`` tests whether subgroup estimates differ.
"""
from __future__ import annotations

import html
import itertools
import math
import unicodedata
from dataclasses import dataclass, field, replace

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
    (Higgins & Thompson 2002, as metafor). ``tau2`` given = fixed value (not estimated);
    otherwise ``residual_tau2``.
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
    """Omnibus test of ``beta[tested] = 0`` (metafor ``QM``, ``QMp``).

    ``QM = b' V^-1 b`` ~ chi2(m), or ``QM/m`` ~ F(m, k - p) under Knapp-Hartung.
    """
    b = fit.beta[tested]
    qm = float(b @ np.linalg.solve(fit.vb[np.ix_(tested, tested)], b))
    m = len(tested)
    if fit.df is None:
        return qm, m, float(special.chdtrc(m, qm))
    qm /= m
    return qm, m, (float(special.fdtrc(m, fit.df, qm)) if fit.df > 0 else None)


# ---------------------------------------------------------------------------------------------
# meta-regression


# R's collation in an English UTF-8 locale (glibc's iso14651_t1 table, the locale R usually runs
# in on Linux): punctuation and spaces (in this order) before digits before letters.
_PUNCTUATION = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"
# letters that glibc sorts as letter sequences (a secondary difference from the sequence)
_EXPANSIONS = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "þ": "th"}


def r_collation_key(text) -> tuple:
    """Sort key giving R's ``sort()``/``factor()`` order of strings in an English UTF-8 locale.

    Three levels, as glibc's ISO 14651 table (ISO/IEC 14651:2016) that R uses through
    ``strcoll``: first the base characters (punctuation and space < digits < letters, case
    and accents ignored), then accents (unaccented first), then case (lower case first); a
    full tie falls back to code points. R with ``LC_COLLATE=C`` sorts by code point instead;
    the engine follows the English locale, R's default on most systems.
    """
    text = str(text)
    primary, secondary, tertiary = [], [], []
    for char in text:
        decomposed = unicodedata.normalize("NFD", char)
        base, marks = decomposed[0], decomposed[1:]
        lower = base.lower()
        expansion = _EXPANSIONS.get(lower)
        for unit in expansion or lower:
            if unit in _PUNCTUATION:
                primary.append((0, _PUNCTUATION.index(unit)))
            elif unit.isdigit():
                primary.append((1, unicodedata.digit(unit, ord(unit))))
            elif unit.isalpha():
                primary.append((2, ord(unit)))
            else:
                primary.append((3, ord(unit)))
        secondary.append(marks + ("\uffff" if expansion else ""))
        tertiary.append(1 if base != lower else 0)
    return primary, secondary, tertiary, text


@dataclass(frozen=True)
class _Coding:
    """How one moderator column enters the design matrix (to code new values alike)."""

    name: str
    levels: tuple | None      # None for a numeric column
    dropped_first: bool       # treatment contrasts (reference = levels[0]) or one dummy per level


def design_matrix(mods, k: int, *, intercept=True) -> tuple[np.ndarray, list[str], list[int]]:
    """Design matrix from moderator columns, coded as R's ``model.matrix``.

    Numeric (and boolean) columns enter as they are; object, string and categorical columns
    become dummies. The levels are the categories' order for a pandas ``Categorical``, else
    the sorted values as R's ``factor`` sorts them (:func:`r_collation_key`). With an
    intercept every categorical column gets treatment contrasts (first level = reference);
    without one, the first categorical column gets one dummy per level and later ones
    treatment contrasts (R: ``~ factor(x) - 1``). Returns ``X``, the term names and the
    indices of the moderator terms (all but the intercept).
    """
    X, names, tested, _ = _design(mods, k, intercept)
    return X, names, tested


def _columns(mods) -> dict:
    if mods is None:
        return {}
    if isinstance(mods, pd.DataFrame):
        return {str(c): mods[c] for c in mods.columns}
    if isinstance(mods, dict):
        return {str(c): v for c, v in mods.items()}
    arr = np.asarray(mods)
    arr = arr.reshape(len(arr), -1) if arr.ndim else arr.reshape(1, 1)
    return {f"x{j + 1}" if arr.shape[1] > 1 else "x": arr[:, j] for j in range(arr.shape[1])}


def _design(mods, k: int, intercept: bool):
    names, cols = (["intercept"], [np.ones(k)]) if intercept else ([], [])
    codings = []
    full_coding_left = not intercept
    for name, values in _columns(mods).items():
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
            codings.append(_Coding(name, None, False))
            continue
        else:
            levels = sorted(series.unique(), key=r_collation_key)
        drop_first = not full_coding_left
        full_coding_left = False
        codings.append(_Coding(name, tuple(levels), drop_first))
        for level in levels[1:] if drop_first else levels:
            names.append(f"{name}[{level}]")
            cols.append((series == level).to_numpy(dtype=float))
    if not cols:
        raise ValueError("the model has no terms (no intercept and no moderators)")
    tested = list(range(1, len(names))) if intercept else list(range(len(names)))
    return np.column_stack(cols), names, tested, codings


def _code_new(codings, intercept: bool, newmods) -> np.ndarray:
    """Rows of the design matrix for new moderator values, coded as the fitted model's."""
    columns = _columns(newmods)
    unknown = set(columns) - {c.name for c in codings}
    if unknown:
        raise ValueError(f"newmods has moderator(s) {sorted(unknown)} that the model does not have")
    lengths = {len(np.atleast_1d(np.asarray(v, dtype=object))) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError("newmods columns have different lengths")
    m = lengths.pop() if lengths else 1
    cols = [np.ones(m)] if intercept else []
    for coding in codings:
        if coding.name not in columns:
            raise ValueError(f"newmods needs a value for moderator {coding.name!r}")
        values = list(np.atleast_1d(np.asarray(columns[coding.name], dtype=object)))
        if coding.levels is None:
            cols.append(np.asarray(values, dtype=float))
            continue
        bad = [v for v in values if v not in coding.levels]
        if bad:
            raise ValueError(f"moderator {coding.name!r}: {bad[0]!r} is not one of its levels "
                             f"{list(coding.levels)}")
        for level in coding.levels[1:] if coding.dropped_first else coding.levels:
            cols.append(np.array([v == level for v in values], dtype=float))
    return np.column_stack(cols)


@dataclass(frozen=True)
class WaldTest:
    """Wald-type test of a set of coefficients (metafor ``anova(res, btt=...)``).

    ``qm`` is chi2 with ``df`` df, or F with (``df``, ``df2``) df under Knapp-Hartung.
    """

    terms: list
    qm: float
    df: int
    df2: int | None
    p: float | None

    def to_dict(self) -> dict:
        return {"terms": list(self.terms), "qm": plain(self.qm), "df": self.df,
                "df2": self.df2, "p": plain(self.p)}

    def summary(self) -> str:
        stat = (f"QM(df = {self.df})" if self.df2 is None else f"F(df1 = {self.df}, df2 = {self.df2})")
        return (f"Test of moderators (coefficients {', '.join(map(str, self.terms))}):\n"
                f"{stat} = {console(self.qm)}, p = {console_p(self.p)}")

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.summary())}</p>"


@dataclass(frozen=True)
class MetaRegResult:
    """Mixed-effects meta-regression (metafor ``rma(yi, vi, mods=...)``).

    ``coef`` has one row per term (term, estimate, se, statistic, p, ci_low, ci_high);
    ``qm`` tests all moderators (chi2 with ``qm_df`` df, or F with ``qm_df``, ``qm_df2`` df
    under Knapp-Hartung); ``qe`` tests residual heterogeneity; ``r2`` is the proportion of
    tau2 explained in percent; ``tau2_ci_low``/``tau2_ci_high`` the Q-profile CI of the residual
    tau2 with the I2 and H2 bounds it implies. ``loglik``, ``deviance``, ``aic``, ``bic``,
    ``aicc`` are metafor's fit statistics for the estimator (REML ones for REML, ML ones
    otherwise); ``parms`` counts the estimated parameters.
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
    tau2_ci_low: float | None = None
    tau2_ci_high: float | None = None
    i2_ci_low: float | None = None
    i2_ci_high: float | None = None
    h2_ci_low: float | None = None
    h2_ci_high: float | None = None
    loglik: float | None = None
    deviance: float | None = None
    aic: float | None = None
    bic: float | None = None
    aicc: float | None = None
    parms: int = 0
    tau2_fixed: bool = False
    yi: np.ndarray = field(default=None, repr=False)
    vi: np.ndarray = field(default=None, repr=False)
    X: np.ndarray = field(default=None, repr=False)
    tested: list = field(default_factory=list, repr=False)
    intercept: bool = True
    codings: list = field(default_factory=list, repr=False)
    fit_stats: dict = field(default_factory=dict, repr=False)

    @property
    def terms(self) -> list[str]:
        return list(self.coef["term"])

    def to_dict(self) -> dict:
        return {
            "k": self.k, "method": self.method, "ci_method": self.ci_method,
            "level": plain(self.level), "tau2": plain(self.tau2),
            "tau2_ci_low": plain(self.tau2_ci_low), "tau2_ci_high": plain(self.tau2_ci_high),
            "i2": plain(self.i2), "i2_ci_low": plain(self.i2_ci_low),
            "i2_ci_high": plain(self.i2_ci_high), "h2": plain(self.h2),
            "h2_ci_low": plain(self.h2_ci_low), "h2_ci_high": plain(self.h2_ci_high),
            "r2": plain(self.r2),
            "qm": plain(self.qm), "qm_df": self.qm_df, "qm_df2": self.qm_df2,
            "qm_p": plain(self.qm_p), "qe": plain(self.qe), "qe_df": self.qe_df,
            "qe_p": plain(self.qe_p), "loglik": plain(self.loglik),
            "deviance": plain(self.deviance), "aic": plain(self.aic), "bic": plain(self.bic),
            "aicc": plain(self.aicc), "parms": self.parms,
            "coefficients": frame_records(self.coef),
        }

    def _test_text(self) -> str:
        if self.qm_df2 is None:
            return f"QM({self.qm_df}) = {console(self.qm)}, p = {console_p(self.qm_p)}"
        return f"F({self.qm_df}, {self.qm_df2}) = {console(self.qm)}, p = {console_p(self.qm_p)}"

    def summary(self) -> str:
        stat = "z" if self.qm_df2 is None else "t"
        lines = [f"Mixed-effects meta-regression (k = {self.k}; tau2 estimator: {self.method}; "
                 f"tests: {self.ci_method})",
                 f"residual tau2 = {console(self.tau2)} [{console(self.tau2_ci_low)}, "
                 f"{console(self.tau2_ci_high)}] (Q-profile CI), I2 = {console(self.i2, 1)}%, "
                 f"R2 = {console(self.r2, 1)}%",
                 f"residual heterogeneity QE({self.qe_df}) = {console(self.qe)}, p = {console_p(self.qe_p)}",
                 f"moderators: {self._test_text()}",
                 f"logLik = {console(self.loglik)}, AIC = {console(self.aic)}, BIC = {console(self.bic)}",
                 "",
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

    # -- further inference on the fitted model ------------------------------------------------

    def _fit(self) -> MixedEffectsFit:
        return mixed_effects(self.yi, self.vi, self.X, method=self.method, ci=self.ci_method,
                             level=self.level, tau2=self.tau2)

    def test_terms(self, btt) -> WaldTest:
        """Wald test that the coefficients ``btt`` are all 0 (metafor ``anova(res, btt=)``).

        ``btt``: positions (0-based), term names, or a moderator name, which selects all its
        dummies (``"alloc"`` selects ``alloc[random]``, ``alloc[systematic]``). The test is as
        the model's ``QM``: ``b' V^-1 b`` ~ chi2(m), or divided by m ~ F(m, k - p) under
        Knapp-Hartung.
        """
        tested = _term_positions(self.terms, btt)
        qm, df, p = wald_test(self._fit(), tested)
        return WaldTest(terms=[self.terms[i] for i in tested], qm=qm, df=df,
                        df2=None if self.qm_df2 is None else self.qm_df2, p=p)

    def predict(self, newmods=None) -> pd.DataFrame:
        """Predicted effects for moderator values (metafor ``predict(res, newmods=)``).

        ``newmods``: a dict or DataFrame of moderator values (coded as in the fit; categorical
        values are level names), or an array of design rows without the intercept column, as
        metafor's ``newmods``; None predicts for the studies. ``pred = x'b``,
        ``se = sqrt(x' V x)``, the CI with the model's critical value (z, or t(k - p) under
        Knapp-Hartung) and the prediction interval ``pred +/- crit sqrt(se^2 + tau2)``.
        Returns a frame with pred, se, ci_low, ci_high, pi_low, pi_high.
        """
        n_mods = self.X.shape[1] - int(self.intercept)
        if newmods is None:
            rows = self.X
        elif isinstance(newmods, (dict, pd.DataFrame)):
            rows = _code_new(self.codings, self.intercept, newmods)
        else:
            arr = np.asarray(newmods, dtype=float)
            if arr.ndim == 0:
                arr = arr.reshape(1, 1)
            elif arr.ndim == 1:
                # as metafor: a vector is several values of a single moderator, else one row
                arr = arr.reshape(-1, 1) if n_mods == 1 else arr.reshape(1, -1)
            rows = np.column_stack([np.ones(len(arr)), arr]) if self.intercept else arr
        if rows.shape[1] != self.X.shape[1]:
            raise ValueError(f"newmods gives {rows.shape[1] - self.intercept} moderator column(s); "
                             f"the model has {self.X.shape[1] - self.intercept}")
        beta = self.coef["estimate"].to_numpy()
        pred = rows @ beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", rows, self.vcov, rows))
        crit = _critical_and_p(np.zeros(1), self.qm_df2, self.level)[0]
        half_pi = crit * np.sqrt(se ** 2 + self.tau2)
        return pd.DataFrame({"pred": pred, "se": se, "ci_low": pred - crit * se,
                             "ci_high": pred + crit * se, "pi_low": pred - half_pi,
                             "pi_high": pred + half_pi})


def _term_positions(terms: list[str], btt) -> list[int]:
    items = [btt] if isinstance(btt, (str, int, np.integer)) else list(btt)
    positions = []
    for item in items:
        if isinstance(item, (int, np.integer)):
            if not 0 <= int(item) < len(terms):
                raise ValueError(f"btt: there is no coefficient {item} (the model has {len(terms)})")
            positions.append(int(item))
            continue
        matched = [i for i, t in enumerate(terms) if t == item or t.startswith(f"{item}[")]
        if not matched:
            raise ValueError(f"btt: no term {item!r} (terms: {', '.join(terms)})")
        positions += matched
    return sorted(set(positions))


def _fit_statistics(y, vi, X, tau2, parms) -> dict:
    """Fit statistics of a mixed-effects model by likelihood (``"ML"``, ``"REML"``), as metafor.

    metafor ``rma.uni`` and ``fitstats``:

    ll_ML = -k/2 log(2 pi) - 1/2 sum log(v_i + tau2) - RSS/2 and
    ll_REML = -(k-p)/2 log(2 pi) + 1/2 log|X'X| - 1/2 sum log(v_i + tau2) - 1/2 log|X'WX| - RSS/2
    (Viechtbauer 2005; Harville 1977), RSS = sum w (y - Xb)^2 with w = 1/(v + tau2); deviance
    -2 (ll_ML - ll_saturated) (ML) or -2 ll_REML; AIC = -2 ll + 2 parms,
    BIC = -2 ll + parms log(n), AICc = -2 ll + 2 parms max(n, parms+2)/(max(n, parms+2) - parms - 1)
    with n = k (ML) or k - p (REML).
    """
    k, p = X.shape
    w = 1.0 / (vi + tau2)
    XtWX = X.T @ (X * w[:, None])
    beta = np.linalg.solve(XtWX, X.T @ (w * y))
    rss = float(np.sum(w * (y - X @ beta) ** 2))
    logdet_v = float(np.sum(np.log(vi + tau2)))
    ll_ml = -0.5 * k * math.log(2 * math.pi) - 0.5 * logdet_v - 0.5 * rss
    ll_reml = (-0.5 * (k - p) * math.log(2 * math.pi) + 0.5 * np.linalg.slogdet(X.T @ X)[1]
               - 0.5 * logdet_v - 0.5 * np.linalg.slogdet(XtWX)[1] - 0.5 * rss)
    saturated = -0.5 * float(np.sum(np.log(2 * math.pi * vi)))
    out = {}
    for name, ll, dev, n in (("ML", ll_ml, -2.0 * (ll_ml - saturated) if k > p else 0.0, k),
                             ("REML", ll_reml, -2.0 * ll_reml, k - p)):
        big = max(n, parms + 2)
        out[name] = {"loglik": float(ll), "deviance": float(dev),
                     "aic": float(-2 * ll + 2 * parms),
                     "bic": float(-2 * ll + parms * math.log(n)) if n > 0 else math.nan,
                     "aicc": float(-2 * ll + 2 * parms * big / (big - parms - 1))}
    return out


def tau2_ci_mods(yi, vi, X, level=95.0) -> tuple[float, float]:
    """Q-profile CI of the residual tau2 of a meta-regression (Viechtbauer 2007).

    As metafor ``confint(rma(..., mods))``: the bounds solve ``y'P(tau2) y = chi2_{k-p}`` at the
    upper and lower ``alpha/2`` points (a bound is 0 when ``Q(0)`` already lies below its
    quantile).
    """
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    k, p = X.shape
    alpha = 1.0 - level / 100.0
    bounds = []
    for crit in (special.chdtri(k - p, alpha / 2.0), special.chdtri(k - p, 1.0 - alpha / 2.0)):
        if _remaining_q(y, v, X, 0.0) <= crit:
            bounds.append(0.0)
            continue
        upper = max(1.0, 10.0 * float(np.var(y)))
        while _remaining_q(y, v, X, upper) > crit:
            upper *= 10.0
        bounds.append(optimize.brentq(lambda t: _remaining_q(y, v, X, t) - crit, 0.0, upper,
                                      xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=_MAXITER))
    return bounds[0], bounds[1]


def metareg(yi, vi, mods=None, *, method="REML", ci="z", level=95, labels=None,
            intercept=True, tau2=None) -> MetaRegResult:
    """Mixed-effects meta-regression of ``yi`` on moderators.

    Parameters
    ----------
    yi, vi : array_like
        Effects and sampling variances.
    mods : DataFrame, dict of columns or array, optional
        Moderators; categorical columns become dummies (coded as R's ``model.matrix``, see
        :func:`design_matrix`). None fits the intercept-only model (e.g. the reduced model of
        :func:`likelihood_ratio_test`).
    method : str
        Residual tau2 estimator (``FE``, ``DL``, ``REML``, ``ML``, ``PM``, ``SJ``, ``HE``, ``EB``).
    ci : {"z", "hk", "hk-adhoc"}
        Wald z tests or Knapp-Hartung t tests (F for the omnibus test).
    tau2 : float, optional
        Fix the residual tau2 instead of estimating it.

    Notes
    -----
    Estimation as ``mixed_effects``. ``R2 = max(0, (tau2_0 - tau2) / tau2_0) * 100`` with
    ``tau2_0`` from the intercept-only model with the same estimator (Raudenbush 2009,
    eq. 16.36; metafor), 0 when ``tau2_0 = 0``; for ``FE`` the adjusted R2 of the weighted
    regression; None without an intercept. The residual tau2 has a Q-profile CI
    (:func:`tau2_ci_mods`); fit statistics as :func:`_fit_statistics`.
    """
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    k = len(y)
    if len(v) != k:
        raise ValueError(f"yi has {k} values but vi has {len(v)}")
    X, names, tested, codings = _design(mods, k, intercept)
    fit = mixed_effects(y, v, X, method=method, ci=ci, level=level, tau2=tau2)
    qm, qm_df, qm_p = wald_test(fit, tested) if tested else (math.nan, 0, None)
    r2 = _r_squared(y, v, fit, method) if intercept and len(names) > 1 else None
    coef = pd.DataFrame({"term": names, "estimate": fit.beta, "se": fit.se,
                         "statistic": fit.statistic, "p": fit.p, "ci_low": fit.ci_low,
                         "ci_high": fit.ci_high})
    fixed = method == "FE" or tau2 is not None
    parms = X.shape[1] + (0 if fixed else 1)
    fit_stats = _fit_statistics(y, v, X, fit.tau2, parms)
    # metafor's logLik(): the REML statistics for REML fits, the ML ones for every other estimator
    extra: dict = dict(fit_stats["REML" if method == "REML" else "ML"])
    p = X.shape[1]
    if method != "FE" and k > p:
        lo, hi = tau2_ci_mods(y, v, X, level)
        typical = (k - p) / np.trace(_projection(X, 1.0 / v))
        extra.update(tau2_ci_low=lo, tau2_ci_high=hi, i2_ci_low=100.0 * lo / (typical + lo),
                     i2_ci_high=100.0 * hi / (typical + hi), h2_ci_low=lo / typical + 1.0,
                     h2_ci_high=hi / typical + 1.0)
    return MetaRegResult(coef=coef, tau2=fit.tau2, qm=qm, qm_df=qm_df, qm_df2=fit.df, qm_p=qm_p,
                         qe=fit.qe, qe_df=fit.qe_df, qe_p=fit.qe_p, r2=r2, i2=fit.i2, h2=fit.h2,
                         k=k, method=method, ci_method=ci, level=float(level), vcov=fit.vb,
                         labels=list(labels) if labels is not None else [], parms=parms,
                         tau2_fixed=tau2 is not None, yi=y, vi=v, X=X, tested=tested,
                         intercept=intercept, codings=codings, fit_stats=fit_stats, **extra)


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
# likelihood-ratio and permutation tests of a meta-regression


@dataclass(frozen=True)
class LikelihoodRatioTest:
    """Likelihood-ratio test of nested meta-regressions (metafor ``anova(full, reduced)``)."""

    lrt: float
    df: int
    p: float
    method: str
    full: dict
    reduced: dict
    r2: float | None

    def to_dict(self) -> dict:
        return {"lrt": plain(self.lrt), "df": self.df, "p": plain(self.p), "method": self.method,
                "full": {k: plain(v) for k, v in self.full.items()},
                "reduced": {k: plain(v) for k, v in self.reduced.items()}, "r2": plain(self.r2)}

    def summary(self) -> str:
        head = f"{'':<8}{'df':>4}{'AIC':>11}{'BIC':>11}{'AICc':>11}{'logLik':>11}{'LRT':>9}{'p':>9}{'QE':>11}{'tau2':>9}"

        def row(name, fit, test):
            return (f"{name:<8}{fit['parms']:>4}{console(fit['aic']):>11}{console(fit['bic']):>11}"
                    f"{console(fit['aicc']):>11}{console(fit['loglik']):>11}"
                    + (f"{console(self.lrt):>9}{console_p(self.p):>9}" if test else f"{'':>18}")
                    + f"{console(fit['qe']):>11}{console(fit['tau2']):>9}")

        return "\n".join([f"Likelihood-ratio test ({self.method}), df = {self.df}", head,
                          row("Full", self.full, False), row("Reduced", self.reduced, True)])

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary())}</pre>"


def likelihood_ratio_test(full: MetaRegResult, reduced: MetaRegResult, *,
                          refit=False) -> LikelihoodRatioTest:
    """Likelihood-ratio test of nested meta-regressions (metafor ``anova(full, reduced)``).

    ``LRT = max(0, dev_reduced - dev_full)`` ~ chi2 with the difference in the number of
    parameters as df (Viechtbauer 2010, metafor's ``anova.rma``; Harville 1977 for REML) (ML deviances, or REML deviances when both models have the same fixed
    effects, e.g. a test of tau2 against a fixed-effect model). REML fits with different
    moderators are not comparable: ``refit=True`` refits both by ML (metafor ``refit=TRUE``),
    otherwise an error is raised. ``r2`` is the proportion of the reduced model's tau2
    explained by the full model (percent, truncated at 0).
    """
    if full.parms < reduced.parms:
        full, reduced = reduced, full
    if full.parms == reduced.parms:
        raise ValueError("the two models have the same number of parameters: not nested")
    if not (np.array_equal(full.yi, reduced.yi) and np.array_equal(full.vi, reduced.vi)):
        raise ValueError("the two models are not fitted to the same data")
    if full.method == "FE" and reduced.method != "FE":
        raise ValueError("the full model is a fixed-effect model and the reduced one is not")
    if {full.method, reduced.method} == {"ML", "REML"}:
        raise ValueError("one model is fitted by ML and the other by REML")
    same_x = full.X.shape == reduced.X.shape and np.array_equal(full.X, reduced.X)
    if full.method == "REML" and not same_x:
        if not refit:
            raise ValueError("REML likelihoods of models with different moderators are not "
                             "comparable: fit both by ML (or use refit=True)")
        full, reduced = _refit_ml(full), _refit_ml(reduced)
    likelihood = "REML" if full.method == "REML" else "ML"
    lrt = max(0.0, reduced.fit_stats[likelihood]["deviance"] - full.fit_stats[likelihood]["deviance"])
    df = full.parms - reduced.parms
    if full.method == "FE":
        r2 = None  # metafor: from residual variances of weighted lm() fits; not computed here
    elif reduced.tau2 == 0.0:
        r2 = 0.0
    else:
        r2 = max(0.0, 100.0 * (reduced.tau2 - full.tau2) / reduced.tau2)

    def stats(fit):
        return {"parms": fit.parms, **fit.fit_stats[likelihood], "qe": fit.qe, "tau2": fit.tau2}

    return LikelihoodRatioTest(lrt=lrt, df=df, p=float(special.chdtrc(df, lrt)),
                               method=likelihood, full=stats(full), reduced=stats(reduced), r2=r2)


def _refit_ml(fit: MetaRegResult) -> MetaRegResult:
    return _metareg_on_design(fit, fit.X, method="ML")


def _metareg_on_design(fit: MetaRegResult, X, **overrides) -> MetaRegResult:
    """``fit`` refitted on the design matrix ``X`` (same term names), e.g. permuted rows."""
    opts = {"method": fit.method, "ci": fit.ci_method, "level": fit.level,
            "tau2": fit.tau2 if fit.tau2_fixed else None, **overrides}
    columns = {name: X[:, j] for j, name in enumerate(fit.terms) if not (fit.intercept and j == 0)}
    out = metareg(fit.yi, fit.vi, columns or None, intercept=fit.intercept, **opts)
    return replace(out, codings=fit.codings)


@dataclass(frozen=True)
class PermutationTest:
    """Permutation test of a meta-regression (metafor ``permutest``).

    ``p`` per coefficient (same order as the model's ``coef``) and ``qm_p`` for the omnibus test.
    """

    terms: list
    p: list
    qm_p: float
    permutations: int
    exact: bool
    seed: int | None

    def to_dict(self) -> dict:
        return {"terms": list(self.terms), "p": [plain(x) for x in self.p],
                "qm_p": plain(self.qm_p), "permutations": self.permutations,
                "exact": self.exact, "seed": self.seed}

    def summary(self) -> str:
        how = "exact" if self.exact else f"approximate (seed {self.seed})"
        lines = [f"Permutation test ({how}, {self.permutations} permutations)",
                 f"test of moderators: p = {console_p(self.qm_p)}"]
        lines += [f"  {term:<24} p = {console_p(p)}" for term, p in zip(self.terms, self.p)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary())}</pre>"


#: metafor's tolerance when comparing permuted and observed statistics (sqrt of machine eps).
_PERMUTATION_TOL = np.finfo(float).eps ** 0.5


def _distinct_orders(rows: np.ndarray):
    """Every distinct arrangement of the rows (permutations of a multiset, each once)."""
    _, codes = np.unique(rows, axis=0, return_inverse=True)
    codes = codes.ravel()
    counts = np.bincount(codes)
    positions = [list(np.flatnonzero(codes == c)) for c in range(counts.size)]

    def place(slots, level):
        if level == counts.size:
            yield slots
            return
        free = [i for i, s in enumerate(slots) if s is None]
        for chosen in itertools.combinations(free, counts[level]):
            nxt = list(slots)
            for slot, source in zip(chosen, positions[level]):
                nxt[slot] = source
            yield from place(nxt, level + 1)

    yield from place([None] * len(codes), 0)


def permutation_test(fit: MetaRegResult, *, exact=None, iterations=1000,
                     seed=None) -> PermutationTest:
    """Permutation test of a meta-regression (Higgins & Thompson 2004; metafor ``permutest``).

    The rows of the design matrix are permuted over the studies, the model refitted each time
    (same estimator, test and level), and ``p`` is the share of permutations whose |z| (or |t|)
    is at least the observed one less 1.5e-8 (metafor's tolerance); ``qm_p`` the same for QM.
    The test is exact (every distinct arrangement once) when ``exact=True`` or when there are
    no more distinct arrangements than ``iterations`` (metafor's rule); otherwise
    ``iterations`` random permutations from ``numpy.random.default_rng(seed)``, the first being
    the observed data (as metafor; its random permutations come from R's generator, so
    approximate p-values agree with metafor only in distribution).
    """
    if not fit.tested:
        raise ValueError("the model has no moderators to test")
    X = fit.X
    counts = np.unique(X, axis=0, return_counts=True)[1]
    n_distinct = math.factorial(fit.k) // math.prod(math.factorial(int(c)) for c in counts)
    exact = bool(exact) or n_distinct <= iterations
    observed = np.abs(fit.coef["statistic"].to_numpy())
    if exact:
        orders = _distinct_orders(X)
        total = n_distinct
    else:
        rng = np.random.default_rng(seed)
        orders = itertools.chain([list(range(fit.k))],
                                 (rng.permutation(fit.k) for _ in range(iterations - 1)))
        total = iterations
    hits = np.zeros(len(observed))
    hits_qm = 0
    done = 0
    for order in orders:
        Xp = X[np.asarray(order)]
        try:
            perm = mixed_effects(fit.yi, fit.vi, Xp, method=fit.method, ci=fit.ci_method,
                                 level=fit.level, tau2=fit.tau2 if fit.tau2_fixed else None)
        except (ValueError, np.linalg.LinAlgError, meta.ConvergenceError):
            continue  # metafor skips permutations it cannot fit
        done += 1
        hits += np.abs(perm.statistic) >= observed - _PERMUTATION_TOL
        hits_qm += wald_test(perm, fit.tested)[0] >= fit.qm - _PERMUTATION_TOL
    return PermutationTest(terms=fit.terms, p=list(np.minimum(1.0, hits / done)),
                           qm_p=hits_qm / done, permutations=total, exact=exact,
                           seed=None if exact else seed)


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
    """Fixed-effect test of equal subgroup estimates.

    ``Q = sum w_g (est_g - est_w)^2`` with ``w_g = 1/se_g^2`` on ``G - 1`` df (Borenstein et al.
    2009, eq. 19.7; Cochrane Handbook 10.11.3.1; R meta ``subgroup`` with separate tau2; RevMan).
    """
    est = np.asarray(estimates, dtype=float)
    w = 1.0 / np.asarray(se, dtype=float) ** 2
    mean = np.sum(w * est) / np.sum(w)
    q = float(np.sum(w * (est - mean) ** 2))
    df = len(est) - 1
    return q, df, float(special.chdtrc(df, q))


def subgroup(res, groups, *, tau2="separate") -> SubgroupResult:
    """Pool each subgroup with the settings of ``res`` and test for subgroup differences.

    Borenstein et al. (2009, ch. 19); Cochrane Handbook v6, section 10.11.3.1; metafor.

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
    A subgroup with one study is pooled as that study (no heterogeneity). A Mantel-Haenszel or
    Peto subgroup without a pooled estimate (e.g. no events in one arm of any of its tables) is
    reported with an undefined (NaN) estimate and left out of the test, as are subgroups whose
    standard error is 0. Subgroups are kept in order of first appearance; the first is the
    reference level of the common model.
    """
    if tau2 not in ("separate", "common"):
        raise ValueError(f"tau2 must be 'separate' or 'common', not {tau2!r}")
    levels, index = _group_levels(groups, res.k)
    notes = []
    if tau2 == "separate" or res.tau2_model_free:
        if tau2 == "common":
            notes.append("fixed-effect model (no between-study variance): common and separate "
                         "tau2 coincide")
        fits = {name: res.refit(np.flatnonzero(index == g), undefined="nan")
                for g, name in enumerate(levels)}
        usable = {n: r for n, r in fits.items() if plain(r.se) not in (None, 0.0)}
        if len(usable) < len(fits):
            notes.append("left out of the test (no estimate or no standard error): "
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
    """An inverse-variance fit refitted on the studies ``indices`` with some settings replaced.

    ``res`` comes from ``meta.rma``; e.g. ``tau2`` fixed.
    """
    opts = {**res.settings, **overrides}
    if opts.pop("function") != "rma":
        raise ValueError("only inverse-variance fits (meta.rma) can be refitted with other settings")
    idx = np.asarray(indices, dtype=int)
    return meta.rma(res.yi[idx], res.vi[idx], labels=[res.labels[i] for i in idx], **opts)
