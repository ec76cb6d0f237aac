"""How stable is a conclusion? The size of a new trial that would change it (secondary analysis).

If the pooled 95% CI excludes zero: the smallest total sample size of a new two-arm trial that
finds exactly no effect (g = 0) and, added to the meta-analysis, makes the CI include zero.
If the CI includes zero: the smallest new trial that finds the current pooled effect and makes
the CI exclude zero (a null trial can never do that). The new trial has equal arms and the SMD
variance ``1/n1 + 1/n2 + g^2 / (2 (n1 + n2))``. The refit keeps the main analysis's settings.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.stats import meta

MAX_PARTICIPANTS = 1_000_000


@dataclass(frozen=True)
class Stability:
    """The size of a new trial that would change whether the pooled 95% CI includes zero.

    See the module docstring for the new trial (equal arms, SMD variance) and the refit.

    Attributes
    ----------
    ci_excludes_zero : bool
        Whether the main analysis's 95% CI excludes zero.
    new_trial_effect : float
        The effect (g) the new trial finds: 0 when the CI excludes zero, else the pooled estimate.
    participants : int or None
        The smallest even total sample size of a new trial that changes the conclusion; None when
        no trial up to ``MAX_PARTICIPANTS`` participants does.
    statement : str
        The result as one sentence.
    """

    ci_excludes_zero: bool
    new_trial_effect: float
    participants: int | None     # None: no trial up to MAX_PARTICIPANTS changes the conclusion
    statement: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _var_smd(g: float, n_total: int) -> float:
    half = n_total / 2.0
    return 2.0 / half + g**2 / (2.0 * n_total)


def _with_trial(res, g: float, n_total: int):
    yi = np.append(res.yi, g)
    vi = np.append(res.vi, _var_smd(g, n_total))
    s = res.settings
    return meta.rma(yi, vi, method=s["method"], ci=s["ci"], pi=s["pi"], measure=res.measure)


def stability(res) -> Stability:
    """Smallest new trial (total participants, even) that flips whether the CI includes zero."""
    excludes = bool(res.ci_low > 0 or res.ci_high < 0)
    g = 0.0 if excludes else float(res.estimate)

    def flipped(n: int) -> bool:
        fit = _with_trial(res, g, n)
        return (fit.ci_low > 0 or fit.ci_high < 0) != excludes

    lo, hi = 4, 4
    while not flipped(hi):
        lo, hi = hi, hi * 2
        if hi > MAX_PARTICIPANTS:
            what = ("a new null trial of any size up to 1,000,000 participants would not make the 95% CI include "
                    "zero" if excludes else "no new trial finding the current pooled effect (up to 1,000,000 "
                    "participants) would make the 95% CI exclude zero")
            return Stability(excludes, g, None, what[0].upper() + what[1:] + ".")
    while hi - lo > 2:
        mid = (lo + hi) // 2
        mid -= mid % 2
        if mid <= lo:
            break
        if flipped(mid):
            hi = mid
        else:
            lo = mid
    if excludes:
        text = (f"A new trial finding no effect would need about {hi} participants to make the 95% CI include zero.")
    else:
        text = (f"A new trial finding the current pooled effect (g = {g:.2f}) would need about {hi} participants "
                "to make the 95% CI exclude zero.")
    return Stability(excludes, g, int(hi), text)
