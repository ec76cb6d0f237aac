"""Effect sizes from arm-level data (the ``escalc`` step of an analysis).

Every effect is oriented so that a positive value favours peer support (arm 1) over the
control (arm 2); ratio measures are on the log scale. The formulas follow metafor's
``escalc`` (Viechtbauer 2010, J Stat Softw 36(3)) unless a docstring says otherwise, so that
results can be checked against it to the last decimal.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from functools import reduce

import numpy as np
from scipy.special import gammaln, ndtri

from analysis.stats.conventions import MEASURES, RATIO_MEASURES

CONTINUOUS_COLUMNS = ("n1", "mean1", "sd1", "n2", "mean2", "sd2")
BINARY_COLUMNS = ("events1", "total1", "events2", "total2")
SMD_VTYPES = ("LS", "UB", "revman5")
# metafor's "LS" and "UB" variances of a raw mean difference are both the separate-SD
# variance, and RevMan 5 uses it too; "HO" assumes equal SDs.
MD_VTYPES = ("HE", "HO", "LS", "UB", "revman5")


class EffectInputError(ValueError):
    """Invalid study-level input, located by study, position and column.

    The message names the study label, the column (the ``escalc`` argument name, which is
    also the column name of a pooling CSV), the offending value and the rule it breaks;
    ``index`` is the position of the study in the input, so that callers reading a file can
    translate it into a line number.
    """

    def __init__(self, study: str, index: int, column: str, value, rule: str):
        self.study, self.index, self.column = study, index, column
        self.value, self.rule = value, rule
        super().__init__(f"study {study!r}, column {column}: value {_show(value)!r}: {rule}")


def _show(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


@dataclass
class EffectSizes:
    """Study effect sizes ready for pooling.

    Attributes
    ----------
    yi, vi : numpy.ndarray
        Effects (log scale for RR/OR) and their sampling variances, one per kept study.
    measure : str
        One of ``SMD, MD, RR, OR, RD, GEN``.
    labels : list of str
        Study labels of the kept studies, in input order.
    excluded : list of dict
        ``{"study": label, "reason": ...}`` for every study left out (e.g. double-zero
        studies for RR/OR).
    ni : numpy.ndarray or None
        Total sample size of each kept study (``n1 + n2`` or ``total1 + total2``; metafor's
        ``ni`` attribute), None for precomputed effects. Used by the regression test's
        sample-size predictors.
    rows : numpy.ndarray or None
        Positions in the input of the kept studies (None: every study was kept), so that
        other columns of the input (clusters, moderators) can be aligned with ``yi``.
    """

    yi: np.ndarray
    vi: np.ndarray
    measure: str
    labels: list[str]
    excluded: list[dict] = field(default_factory=list)
    ni: np.ndarray | None = None
    rows: np.ndarray | None = None

    def sei(self) -> np.ndarray:
        """Standard errors ``sqrt(vi)``."""
        return np.sqrt(self.vi)

    def to_dict(self) -> dict:
        return {
            "measure": self.measure,
            "studies": [
                {"study": s, "yi": float(y), "vi": float(v)}
                for s, y, v in zip(self.labels, self.yi, self.vi)
            ],
            "excluded": [dict(e) for e in self.excluded],
        }

    def summary(self) -> str:
        scale = " (log scale)" if self.measure in RATIO_MEASURES else ""
        width = max([5] + [len(s) for s in self.labels])
        lines = [f"Effect sizes: {self.measure}{scale}, k = {len(self.labels)}",
                 f"{'study':<{width}}  {'yi':>9}  {'vi':>9}  {'sei':>9}"]
        lines += [f"{s:<{width}}  {y:>9.4f}  {v:>9.4f}  {np.sqrt(v):>9.4f}"
                  for s, y, v in zip(self.labels, self.yi, self.vi)]
        lines += [f"excluded: {e['study']} ({e['reason']})" for e in self.excluded]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(s)}</td><td>{y:.4f}</td><td>{v:.4f}</td>"
            f"<td>{np.sqrt(v):.4f}</td></tr>"
            for s, y, v in zip(self.labels, self.yi, self.vi))
        notes = "".join(f"<p>excluded: {html.escape(e['study'])} ({html.escape(e['reason'])})</p>"
                        for e in self.excluded)
        return (f"<p>Effect sizes: {self.measure}, k = {len(self.labels)}</p>"
                "<table><thead><tr><th>study</th><th>yi</th><th>vi</th><th>sei</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>{notes}")


def escalc(measure, *, n1=None, mean1=None, sd1=None, n2=None, mean2=None, sd2=None,
           events1=None, total1=None, events2=None, total2=None,
           yi=None, vi=None, sei=None, ci_low=None, ci_high=None,
           labels=None, vtype="LS", higher_is_better=True, add=0.5, drop00=True,
           level=95, log=None) -> EffectSizes:
    r"""Compute study effect sizes and sampling variances.

    Give exactly one kind of input: arm-level means (``n1, mean1, sd1, n2, mean2, sd2``) for
    SMD/MD, event counts (``events1, total1, events2, total2``) for RR/OR/RD, or effects
    already computed (``yi`` with ``vi``, ``sei`` or ``ci_low``/``ci_high``) for any measure.

    **SMD** (Hedges' g; Hedges 1981, eq. 6e; Borenstein et al. 2009, ch. 4):
    :math:`s_p = \sqrt{((n_1-1)s_1^2 + (n_2-1)s_2^2)/m}`, :math:`m = n_1+n_2-2`,
    :math:`d = (\bar x_1 - \bar x_2)/s_p`, :math:`g = J d` with the exact correction
    :math:`J = \Gamma(m/2) / (\sqrt{m/2}\Gamma((m-1)/2))`. Variance by ``vtype``:

    - ``"LS"`` (metafor default): :math:`1/n_1 + 1/n_2 + g^2/(2N)`, :math:`N = n_1+n_2`;
    - ``"UB"`` (metafor ``vtype="UB"``, R meta ``exact.smd=TRUE``; Hedges 1983):
      :math:`1/n_1 + 1/n_2 + (1 - (m-2)/(m J^2)) g^2`;
    - ``"revman5"`` (RevMan 5 statistical methods, Deeks & Higgins 2010): approximate
      :math:`J = 1 - 3/(4N - 9)` and :math:`N/(n_1 n_2) + g^2/(2(N - 3.94))`.

    **MD**: :math:`\bar x_1 - \bar x_2`, variance :math:`s_1^2/n_1 + s_2^2/n_2` (``"HE"``,
    default; metafor's ``"LS"``/``"UB"`` and RevMan 5 are the same) or
    :math:`s_p^2(1/n_1 + 1/n_2)` (``"HO"``).

    **RR, OR, RD** from the 2x2 table :math:`a, b = n_1 - a, c, d = n_2 - c`:
    :math:`\log\frac{a/n_1}{c/n_2}` with variance :math:`1/a - 1/n_1 + 1/c - 1/n_2`;
    :math:`\log\frac{ad}{bc}` with :math:`1/a + 1/b + 1/c + 1/d`;
    :math:`p_1 - p_2` with :math:`p_1(1-p_1)/n_1 + p_2(1-p_2)/n_2`. A study with a zero cell
    gets ``add`` added to all four cells (metafor ``to="only0"``). With ``drop00`` a study with
    no events in either arm (or only events in both arms) is excluded for RR/OR, with the
    reason recorded in ``excluded``; it is kept for RD (as metafor with ``drop00=TRUE``;
    metafor's own default keeps such studies, with the correction, as ``drop00=False`` does).

    **Precomputed effects**: ``vi``, or ``sei**2``, or the standard error from a confidence
    interval (:func:`se_from_ci`). With ``log=True`` (the default for RR/OR given as
    ``yi`` + CI, as printed in papers) ``yi`` and the CI are on the ratio scale and are logged;
    otherwise ``yi`` is on the analysis scale (log for RR/OR, as in metafor).

    Parameters
    ----------
    measure : {"SMD", "MD", "RR", "OR", "RD", "GEN"}
    labels : sequence of str, optional
        Study labels (default ``"1"``, ``"2"``, ...); error messages name them.
    vtype : str
        ``LS``, ``UB`` or ``revman5`` for SMD; ``HE`` or ``HO`` for MD (``LS``, ``UB``,
        ``revman5`` mean ``HE`` there). No effect on other measures.
    higher_is_better : bool or array of bool
        ``False`` flips the sign of an arm-level SMD/MD so that positive favours arm 1 on an
        instrument where lower scores are better. Ratio measures are oriented by which arm has
        the event and precomputed effects are taken as already oriented; neither is flipped.
    add : float
        Continuity correction for studies with a zero cell.
    drop00 : bool
        Exclude double-zero studies for RR/OR.
    level : float
        Confidence level (percent) of ``ci_low``/``ci_high``.
    log : bool, optional
        Whether precomputed ``yi`` and CI are on the ratio scale (see above).

    Returns
    -------
    EffectSizes

    Raises
    ------
    EffectInputError
        (a ``ValueError``) for an invalid value, naming the study, column, value and rule.
    ValueError
        For inconsistent arguments (unknown measure or vtype, mixed kinds of input, length
        mismatch).
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}")
    given = {name: value for name, value in {
        "n1": n1, "mean1": mean1, "sd1": sd1, "n2": n2, "mean2": mean2, "sd2": sd2,
        "events1": events1, "total1": total1, "events2": events2, "total2": total2,
        "yi": yi, "vi": vi, "sei": sei, "ci_low": ci_low, "ci_high": ci_high}.items()
        if value is not None}
    if not given:
        raise ValueError("no data given: pass arm-level data or yi with vi, sei or ci_low/ci_high")
    kind = _input_kind(measure, set(given))
    k = len(np.atleast_1d(next(iter(given.values()))))
    labels = [str(i + 1) for i in range(k)] if labels is None else [str(s) for s in labels]
    cols = {name: _column(name, value, len(labels)) for name, value in given.items()}
    check = _Checker(labels, cols)
    check.missing()
    if kind == "continuous":
        return _continuous(measure, cols, labels, check, vtype,
                           _broadcast(higher_is_better, len(labels), "higher_is_better"))
    if kind == "binary":
        return _binary(measure, cols, labels, check, add, drop00)
    if log is None:
        log = measure in RATIO_MEASURES and "ci_low" in cols
    return _precomputed(measure, cols, labels, check, level, log)


def _input_kind(measure: str, names: set[str]) -> str:
    kinds = {"continuous": set(CONTINUOUS_COLUMNS), "binary": set(BINARY_COLUMNS),
             "precomputed": {"yi", "vi", "sei", "ci_low", "ci_high"}}
    present = [kind for kind, columns in kinds.items() if names & columns]
    if len(present) > 1:
        raise ValueError(f"give one kind of input, not {' and '.join(present)} data together")
    kind = present[0]
    if kind == "precomputed":
        variance_routes = [route for route in (("vi",), ("sei",), ("ci_low", "ci_high"))
                           if set(route) & names]
        if "yi" not in names or len(variance_routes) != 1 or not set(variance_routes[0]) <= names:
            raise ValueError("precomputed effects need yi with exactly one of vi, sei, "
                             "or ci_low and ci_high")
        return kind
    missing = [c for c in sorted(kinds[kind]) if c not in names]
    if missing:
        raise ValueError(f"{kind} data need {', '.join(missing)} as well")
    allowed = {"continuous": ("SMD", "MD"), "binary": ("RR", "OR", "RD")}[kind]
    if measure not in allowed:
        raise ValueError(f"measure {measure} cannot be computed from {kind} data "
                         f"(use {' or '.join(allowed)})")
    return kind


def _column(name: str, value, k: int) -> np.ndarray:
    try:
        array = np.atleast_1d(np.asarray(value, dtype=float))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {name}: not numeric ({exc})") from None
    if array.ndim != 1 or array.size != k:
        raise ValueError(f"column {name}: length {array.size} does not match the {k} studies")
    return array


def _broadcast(value, k: int, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=bool)
    if array.ndim > 1 or (array.ndim == 1 and array.size != k):
        raise ValueError(f"{name}: length {array.size} does not match the {k} studies")
    return np.broadcast_to(array, (k,))


class _Checker:
    """Raise an :class:`EffectInputError` for the first study (in input order) breaking a rule."""

    def __init__(self, labels: list[str], cols: dict[str, np.ndarray]):
        self.labels, self.cols = labels, cols

    def missing(self) -> None:
        self.rule({name: np.isnan(values) for name, values in self.cols.items()},
                  "missing value")
        self.rule({name: np.isinf(values) for name, values in self.cols.items()},
                  "not a finite number")

    def rule(self, bad: dict[str, np.ndarray], rule: str) -> None:
        first = min(((int(np.flatnonzero(mask)[0]), position, name)
                     for position, (name, mask) in enumerate(bad.items()) if mask.any()),
                    default=None)
        if first is not None:
            index, _, name = first
            raise EffectInputError(self.labels[index], index, name, self.cols[name][index], rule)


def _hedges_j(m: np.ndarray) -> np.ndarray:
    r"""Exact small-sample correction :math:`J(m) = \Gamma(m/2)/(\sqrt{m/2}\Gamma((m-1)/2))`.

    Hedges (1981), eq. 6e; computed on the log scale so that large ``m`` does not overflow; the
    terms are summed in metafor's order, so that the UB variance, whose ``1 - (m-2)/(m J^2)``
    cancels almost to 0 for large ``m``, agrees with metafor to the last bits.
    """
    return np.exp(gammaln(m / 2) - np.log(np.sqrt(m / 2)) - gammaln((m - 1) / 2))


def _continuous(measure, cols, labels, check, vtype, higher_is_better) -> EffectSizes:
    allowed = SMD_VTYPES if measure == "SMD" else MD_VTYPES
    if vtype not in allowed:
        raise ValueError(f"vtype for {measure} must be one of {', '.join(allowed)}, not {vtype!r}")
    n1, m1, s1, n2, m2, s2 = (cols[c] for c in CONTINUOUS_COLUMNS)
    check.rule({"n1": n1 < 2, "n2": n2 < 2}, "sample size must be at least 2")
    check.rule({"sd1": s1 <= 0, "sd2": s2 <= 0}, "standard deviation must be > 0")
    n = n1 + n2
    m = n - 2
    sd_pooled = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / m)
    sign = np.where(higher_is_better, 1.0, -1.0)
    if measure == "MD":
        yi = m1 - m2
        vi = sd_pooled**2 * (1 / n1 + 1 / n2) if vtype == "HO" else s1**2 / n1 + s2**2 / n2
    elif vtype == "revman5":
        yi = (1 - 3 / (4 * n - 9)) * (m1 - m2) / sd_pooled
        vi = n / (n1 * n2) + yi**2 / (2 * (n - 3.94))
    else:
        j = _hedges_j(m)
        yi = j * (m1 - m2) / sd_pooled
        vi = (1 / n1 + 1 / n2 + yi**2 / (2 * n) if vtype == "LS"
              else 1 / n1 + 1 / n2 + (1 - (m - 2) / (m * j**2)) * yi**2)
    return EffectSizes(sign * yi, vi, measure, labels, [], ni=n)


def _binary(measure, cols, labels, check, add, drop00) -> EffectSizes:
    a, n1, c, n2 = (cols[col] for col in BINARY_COLUMNS)
    check.rule({"total1": n1 <= 0, "total2": n2 <= 0}, "total must be > 0")
    check.rule({"events1": a < 0, "events2": c < 0}, "events must be >= 0")
    check.rule({"events1": a > n1, "events2": c > n2}, "events must not exceed total")
    b, d = n1 - a, n2 - c
    uninformative = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    keep = ~uninformative if (drop00 and measure in RATIO_MEASURES) else np.ones(len(a), bool)
    excluded = [{"study": labels[i],
                 "reason": ("no events in either arm" if a[i] == 0
                            else "every participant had the event in both arms")
                 + f": {measure} not estimable"}
                for i in np.flatnonzero(~keep)]
    zero_cell = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    correction = np.where(zero_cell, add, 0.0)
    a, b, c, d = a + correction, b + correction, c + correction, d + correction
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            yi = np.log(a / n1) - np.log(c / n2)
            vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
        elif measure == "OR":
            yi = np.log(a * d / (b * c))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
        else:
            p1, p2 = a / n1, c / n2
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    check.rule({"events1": keep & ~(np.isfinite(yi) & (vi > 0))},
               f"{measure} not estimable (a zero cell with add = {add:g}, or no variance)")
    return EffectSizes(yi[keep], vi[keep], measure, [labels[i] for i in np.flatnonzero(keep)],
                       excluded, ni=(cols["total1"] + cols["total2"])[keep],
                       rows=None if keep.all() else np.flatnonzero(keep))


def _precomputed(measure, cols, labels, check, level, log) -> EffectSizes:
    yi = cols["yi"]
    if log:
        check.rule({name: cols[name] <= 0 for name in ("yi", "ci_low", "ci_high") if name in cols},
                   "a ratio must be > 0 before taking its log")
        yi = np.log(yi)
    if "vi" in cols:
        check.rule({"vi": cols["vi"] <= 0}, "sampling variance must be > 0")
        vi = cols["vi"]
    elif "sei" in cols:
        check.rule({"sei": cols["sei"] <= 0}, "standard error must be > 0")
        vi = cols["sei"] ** 2
    else:
        low, high = cols["ci_low"], cols["ci_high"]
        check.rule({"ci_high": high <= low}, "ci_high must be greater than ci_low")
        check.rule({"yi": (cols["yi"] < low) | (cols["yi"] > high)},
                   "effect lies outside its confidence interval")
        vi = se_from_ci(low, high, level=level, log=log) ** 2
    return EffectSizes(yi, vi, measure, labels, [])


def se_from_ci(ci_low, ci_high, *, level=95, log=False) -> np.ndarray:
    r"""Standard error from a symmetric normal-theory confidence interval.

    :math:`SE = (\mathrm{high} - \mathrm{low}) / (2 z_{1-\alpha/2})` (Cochrane Handbook v6,
    section 6.3.1), after taking logs of both limits when ``log`` is true (ratio measures,
    section 6.3.2). ``level`` is in percent.
    """
    if not 0 < level < 100:
        raise ValueError(f"level must be a percentage between 0 and 100, not {level}")
    low, high = np.asarray(ci_low, dtype=float), np.asarray(ci_high, dtype=float)
    if log:
        low, high = np.log(low), np.log(high)
    return (high - low) / (2 * ndtri(1 - (1 - level / 100) / 2))


def design_effect(m, icc):
    r"""Design effect of a cluster-randomised trial, :math:`1 + (m - 1) \mathrm{ICC}`.

    ``m`` is the average cluster size and ``icc`` the intra-cluster correlation (Cochrane
    Handbook v6, section 23.1.4; Donner & Klar 2000).
    """
    m, icc = np.asarray(m, dtype=float), np.asarray(icc, dtype=float)
    if np.any(~(m >= 1)):
        raise ValueError(f"average cluster size m must be >= 1, not {m}")
    if np.any(~((icc >= 0) & (icc <= 1))):
        raise ValueError(f"icc must lie in [0, 1], not {icc}")
    return 1 + (m - 1) * icc


def effective_n(n, m, icc):
    """Effective sample size of a cluster-randomised arm, ``n / design_effect(m, icc)``.

    Apply it to every count of the arm: sample size, or events and total alike (Cochrane
    Handbook v6, section 23.1.4; Donner & Klar 2000), and leave means and SDs unchanged.
    """
    return np.asarray(n, dtype=float) / design_effect(m, icc)


def combine_arms(n, mean, sd) -> tuple[float, float, float]:
    r"""Combine several arms into one group (Cochrane Handbook v6, section 6.5.2.10, table 6.5.a).

    Two groups combine to :math:`N = n_1 + n_2`,
    :math:`M = (n_1 M_1 + n_2 M_2)/N` and
    :math:`SD = \sqrt{((n_1-1)SD_1^2 + (n_2-1)SD_2^2 + \frac{n_1 n_2}{N}(M_1 - M_2)^2)/(N-1)}`;
    more arms are combined by applying the formula repeatedly. The result equals the mean
    and SD (``ddof=1``) of the pooled raw data.

    Returns
    -------
    (n, mean, sd) of the combined group.
    """
    arms = [np.asarray(x, dtype=float).ravel() for x in (n, mean, sd)]
    if not (arms[0].size == arms[1].size == arms[2].size) or arms[0].size == 0:
        raise ValueError("combine_arms needs n, mean and sd of equal, non-zero length")
    if np.any(~(arms[0] >= 1)) or np.any(~(arms[2] >= 0)) or np.any(~np.isfinite(arms[1])):
        raise ValueError("combine_arms needs n >= 1, sd >= 0 and finite means")

    def pair(first, second):
        (n_a, m_a, s_a), (n_b, m_b, s_b) = first, second
        total = n_a + n_b
        variance = ((n_a - 1) * s_a**2 + (n_b - 1) * s_b**2
                    + n_a * n_b / total * (m_a - m_b) ** 2) / (total - 1)
        return total, (n_a * m_a + n_b * m_b) / total, np.sqrt(variance)

    n_c, m_c, s_c = reduce(pair, zip(*arms))
    return float(n_c), float(m_c), float(s_c)


def combine_events(events, total) -> tuple[float, float]:
    """Combine several arms of a binary outcome: events and totals are summed.

    Cochrane Handbook v6, section 6.5.2.10.
    """
    events, total = np.asarray(events, dtype=float).ravel(), np.asarray(total, dtype=float).ravel()
    if events.size != total.size or events.size == 0:
        raise ValueError("combine_events needs events and total of equal, non-zero length")
    if np.any(~((events >= 0) & (events <= total))):
        raise ValueError("combine_events needs 0 <= events <= total in every arm")
    return float(events.sum()), float(total.sum())
