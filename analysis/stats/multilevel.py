"""Dependent effects: the three-level model, cluster-robust inference and the CHE working model.

Several comparisons of one trial (two interventions against one control, several instruments of
one outcome) share participants and are not independent; pooling them as independent is a
unit-of-analysis error (Cochrane Handbook v6, section 23.3). Three answers, as in R's metafor:

- the three-level random-effects model (comparisons within trials; Konstantopoulos 2011;
  Cheung 2014): ``y_ij = mu + u_i + w_ij + e_ij`` with ``u_i ~ N(0, sigma2_between)`` per trial,
  ``w_ij ~ N(0, sigma2_within)`` per comparison and sampling errors ``e_ij`` with covariance
  ``V`` (metafor ``rma.mv(yi, V, random = ~ 1 | trial/comparison)``);
- cluster-robust (sandwich) variance of its estimate with the CR2 small-sample correction and
  Satterthwaite degrees of freedom (Bell & McCaffrey 2002; Tipton 2015; Pustejovsky & Tipton
  2018; metafor ``robust(..., clubSandwich = TRUE)``, R clubSandwich ``vcovCR(type = "CR2")``);
- the correlated-and-hierarchical-effects (CHE) working model (Pustejovsky & Tipton 2022): the
  three-level model with sampling errors of one trial correlated ``rho`` (metafor ``vcalc``),
  with robust inference, so that a wrong ``rho`` costs efficiency but not validity.

The marginal covariance is block-diagonal by trial: ``M_i = V_i + sigma2_between J + sigma2_within
I`` (``J`` the matrix of ones). Every computation works block by block (trials of the same size
are stacked and handled by batched linear algebra), so the cost grows linearly with the number of
comparisons. The variance components maximise the exact (restricted) log-likelihood by Newton's
method with the analytic gradient and Hessian (Harville 1977), on the boundary sigma2 >= 0.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import optimize, special

from analysis.stats.conventions import RATIO_MEASURES
from analysis.stats.formatting import console, console_p, plain
from analysis.stats.meta import ConvergenceError

__all__ = ["MultilevelResult", "RobustResult", "rma_multilevel", "cluster_robust", "che", "vcalc"]

METHODS = ("REML", "ML")
TESTS = ("z", "t")
#: Names of the two variance components, in the order of ``sigma2``.
COMPONENTS = ("between trials", "within trials")

_MAXITER = 500
# Newton's method is run to the accuracy of double precision: steps below this fraction of the
# natural scale (mean sampling variance) stop it.
_STEP_TOL = 1e-13
# metafor (.ll.rma.mv) sets variance components below 10 machine epsilons to 0
_ZERO = 10 * np.finfo(float).eps


# ---------------------------------------------------------------------------------------------
# block structure


@dataclass(frozen=True)
class _Blocks:
    """Comparisons grouped by cluster; clusters of equal size stacked for batched algebra.

    Each list has one entry per cluster size ``m``: the positions of the comparisons of each such
    cluster (an array of shape (clusters, m), data order within a cluster), the sampling
    covariances (clusters, m, m), effects (clusters, m), design rows (clusters, m, p) and the
    cluster labels (clusters,).
    """

    positions: list          # [(g, m) int arrays]
    V: list                  # [(g, m, m)]
    y: list                  # [(g, m)]
    X: list                  # [(g, m, p)]
    cluster_of: list         # cluster label per stacked block, [(g,) object arrays]
    n_clusters: int
    k: int
    p: int
    flat: _Flat | None = None  # the same data as flat arrays when every block of V is diagonal


@dataclass(frozen=True)
class _Flat:
    """Diagonal sampling covariance: flat arrays and the cluster code of each comparison."""

    codes: np.ndarray        # cluster index of each comparison, 0..n_clusters-1
    v: np.ndarray
    y: np.ndarray
    X: np.ndarray
    n_clusters: int


def _blocks(y, V_blocks, X, cluster) -> _Blocks:
    labels = list(dict.fromkeys(cluster))
    members: dict = {lab: [] for lab in labels}
    for i, lab in enumerate(cluster):
        members[lab].append(i)
    by_size: dict = {}
    for lab in labels:
        by_size.setdefault(len(members[lab]), []).append(lab)
    positions, Vs, ys, Xs, names = [], [], [], [], []
    for m in sorted(by_size):
        idx = np.array([members[lab] for lab in by_size[m]], dtype=int)
        positions.append(idx)
        Vs.append(np.stack([V_blocks[lab] for lab in by_size[m]]))
        ys.append(y[idx])
        Xs.append(X[idx])
        names.append(np.array(by_size[m], dtype=object))
    flat = None
    if all(np.count_nonzero(V - np.diagonal(V, axis1=1, axis2=2)[:, :, None] * np.eye(V.shape[1])) == 0
           for V in Vs):
        index = {lab: j for j, lab in enumerate(labels)}
        codes = np.array([index[lab] for lab in cluster])
        v = np.empty(y.size)
        for pos, V in zip(positions, Vs):
            v[pos] = np.diagonal(V, axis1=1, axis2=2)
        flat = _Flat(codes, v, y, X, len(labels))
    return _Blocks(positions, Vs, ys, Xs, names, len(labels), y.size, X.shape[1], flat)


def vcalc(vi, cluster, rho) -> np.ndarray:
    """Sampling covariance matrix of effects correlated within clusters (metafor ``vcalc``).

    ``V_jk = rho sqrt(v_j v_k)`` for two comparisons of the same cluster (trial), ``v_j`` on the
    diagonal, 0 between clusters: the constant sampling correlation of the CHE working model
    (Pustejovsky & Tipton 2022). Returns the dense k x k matrix (for inspection and comparison;
    the model itself works with the blocks).
    """
    v = np.asarray(vi, dtype=float)
    keys = list(cluster)
    if len(keys) != v.size:
        raise ValueError(f"cluster has {len(keys)} values for {v.size} effects")
    if not -1.0 <= float(rho) <= 1.0:
        raise ValueError(f"rho = {rho!r} must lie in [-1, 1]")
    codes = np.unique(np.array([str(c) for c in keys], dtype=object), return_inverse=True)[1].ravel()
    same = codes[:, None] == codes[None, :]
    s = np.sqrt(v)
    V = np.where(same, float(rho) * np.outer(s, s), 0.0)
    np.fill_diagonal(V, v)
    return V


def _sampling_blocks(v, cluster, V, rho) -> dict:
    """Per cluster label its sampling covariance block (diagonal, CHE, or taken from ``V``)."""
    members: dict = {}
    for i, lab in enumerate(cluster):
        members.setdefault(lab, []).append(i)
    blocks = {}
    for lab, idx in members.items():
        if V is not None:
            blocks[lab] = V[np.ix_(idx, idx)]
        else:
            s = np.sqrt(v[idx])
            block = (rho or 0.0) * np.outer(s, s)
            np.fill_diagonal(block, v[idx])
            blocks[lab] = block
    if V is not None:
        outside = V.copy()
        for idx in members.values():
            outside[np.ix_(idx, idx)] = 0.0
        if np.any(outside != 0.0):
            i, j = np.argwhere(outside != 0.0)[0]
            raise ValueError(f"V[{i}, {j}] = {V[i, j]!r} links comparisons of different clusters "
                             f"({cluster[i]!r}, {cluster[j]!r}); V must be block-diagonal by cluster")
    return blocks


# ---------------------------------------------------------------------------------------------
# likelihood, gradient and Hessian (block by block)


def _random_designs(m: int):
    """Per-block covariance patterns of the two components: J (between) and I (within)."""
    return np.ones((m, m)), np.eye(m)


@dataclass
class _State:
    """Everything the likelihood and its derivatives need at one value of sigma2."""

    ll: float
    beta: np.ndarray
    vb: np.ndarray          # (X'WX)^-1
    W: list                 # inverse marginal covariance blocks
    resid: list             # y - X beta per group
    Py: list                # W (y - X beta) per group
    grad: np.ndarray | None = None
    hess: np.ndarray | None = None
    info: np.ndarray | None = None


def _state(blocks: _Blocks, sigma2, reml: bool, derivatives: bool = False) -> _State | None:
    """Log-likelihood at ``sigma2``, with its derivatives when asked (``derivatives``).

    Gradient, observed Hessian and expected information with ``derivatives``; None when a
    marginal block is not positive definite. Constants as metafor:

    ll_ML = -k/2 log(2 pi) - 1/2 log|M| - RSS/2,
    ll_REML = -(k-p)/2 log(2 pi) + 1/2 log|X'X| - 1/2 log|M| - 1/2 log|X'M^-1 X| - RSS/2
    (metafor ``.ll.rma.mv``). With ``P = W - W X (X'WX)^-1 X' W``, ``W = M^-1`` and ``G_j`` the
    covariance pattern of component j (J or I per block), the score is
    ``-1/2 tr(Q G_j) + 1/2 y'P G_j P y`` and the Hessian
    ``1/2 tr(Q G_j Q G_l) - y'P G_j P G_l P y``, with ``Q = P`` (REML) or ``W`` (ML); the
    expected information is ``1/2 tr(Q G_j Q G_l)`` (Harville 1977, eqs. 4.4, 4.6).
    """
    s_between, s_within = float(sigma2[0]), float(sigma2[1])
    Ws, logdet = [], 0.0
    p = blocks.p
    XtWX = np.zeros((p, p))
    XtWy = np.zeros(p)
    for V, y, X in zip(blocks.V, blocks.y, blocks.X):
        m = V.shape[1]
        J, eye = _random_designs(m)
        M = V + s_between * J + s_within * eye
        try:
            L = np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            return None
        logdet += 2.0 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum())
        W = np.linalg.inv(M)
        Ws.append(W)
        WX = W @ X
        XtWX += np.einsum("gmp,gmq->pq", X, WX)
        XtWy += np.einsum("gmp,gm->p", WX, y)
    try:
        vb = np.linalg.inv(XtWX)
    except np.linalg.LinAlgError:
        return None
    beta = vb @ XtWy
    resid = [y - X @ beta for y, X in zip(blocks.y, blocks.X)]
    Py = [np.einsum("gmn,gn->gm", W, r) for W, r in zip(Ws, resid)]
    rss = float(sum((r * e).sum() for r, e in zip(resid, Py)))
    k = blocks.k
    if reml:
        XtX = sum(np.einsum("gmp,gmq->pq", X, X) for X in blocks.X)
        ll = (-0.5 * (k - p) * math.log(2 * math.pi) + 0.5 * np.linalg.slogdet(XtX)[1]
              - 0.5 * logdet - 0.5 * np.linalg.slogdet(XtWX)[1] - 0.5 * rss)
    else:
        ll = -0.5 * k * math.log(2 * math.pi) - 0.5 * logdet - 0.5 * rss
    state = _State(float(ll), beta, vb, Ws, resid, Py)
    if derivatives:
        _derivatives(blocks, state, reml)
    return state


def _derivatives(blocks: _Blocks, st: _State, reml: bool) -> None:
    p = blocks.p
    tr_wg = np.zeros(2)            # tr(W G_j)
    s_mat = np.zeros((2, p, p))    # U' G_j U, U = W X
    quad = np.zeros(2)             # (Py)' G_j (Py)
    t_wgwg = np.zeros((2, 2))      # tr(W G_j W G_l)
    c_mat = np.zeros((2, 2, p, p))  # U' G_j W G_l U
    a_wa = np.zeros((2, 2))        # a_j' W a_l, a_j = G_j P y
    ua = np.zeros((2, p))          # U' a_j
    for W, X, e in zip(st.W, blocks.X, st.Py):
        m = W.shape[1]
        patterns = _random_designs(m)
        U = W @ X
        WG = [W @ G for G in patterns]
        a = [np.einsum("mn,gn->gm", G, e) for G in patterns]
        Wa = [np.einsum("gmn,gn->gm", W, aj) for aj in a]
        for j, G in enumerate(patterns):
            tr_wg[j] += float(np.einsum("gmm->", WG[j]))
            GU = np.einsum("mn,gnp->gmp", G, U)
            s_mat[j] += np.einsum("gmp,gmq->pq", U, GU)
            quad[j] += float((e * a[j]).sum())
            ua[j] += np.einsum("gmp,gm->p", U, a[j])
            for l, H in enumerate(patterns):
                t_wgwg[j, l] += float(np.einsum("gab,gba->", WG[j], WG[l]))
                HU = np.einsum("mn,gnp->gmp", H, U)
                c_mat[j, l] += np.einsum("gmp,gmn,gnq->pq", GU, W, HU)
                a_wa[j, l] += float((a[j] * Wa[l]).sum())
    _finish_derivatives(st, tr_wg, s_mat, quad, t_wgwg, c_mat, a_wa, ua, reml)


def _finish_derivatives(st, tr_wg, s_mat, quad, t_wgwg, c_mat, a_wa, ua, reml) -> None:
    """Score, Hessian and information from the traces and quadratic forms (see ``_state``)."""
    A = st.vb
    quad_p = a_wa - ua @ A @ ua.T                     # a_j' P a_l
    if reml:
        tr_q = tr_wg - np.array([np.trace(A @ s_mat[j]) for j in range(2)])
        t_q = np.empty((2, 2))
        for j in range(2):
            for l in range(2):
                t_q[j, l] = (t_wgwg[j, l] - np.trace(A @ c_mat[l, j]) - np.trace(A @ c_mat[j, l])
                             + np.trace(A @ s_mat[j] @ A @ s_mat[l]))
    else:
        tr_q, t_q = tr_wg, t_wgwg
    st.grad = -0.5 * tr_q + 0.5 * quad
    st.info = 0.5 * t_q
    st.hess = 0.5 * t_q - quad_p


def _state_flat(flat: _Flat, sigma2, reml: bool, derivatives: bool = False) -> _State | None:
    """``_state`` for a diagonal sampling covariance, in closed form over all comparisons at once.

    With ``d = 1/(v + sigma2[1])`` and, per cluster j, ``S_j = sum d``, the inverse marginal
    covariance is ``W_j = diag(d) - c_j d d'`` with ``c_j = sigma2[0] / (1 + sigma2[0] S_j)``
    (Sherman & Morrison 1950) and ``log|M_j| = sum log(v + sigma2[1]) + log(1 + sigma2[0] S_j)``;
    every trace and quadratic form of ``_state`` then reduces to sums within clusters. The
    result (log-likelihood, gradient, Hessian, information) equals ``_state``'s; the fields
    ``W``, ``resid`` and ``Py`` are flat here and only ``_maximise`` uses this function.
    """
    s_between, s_within = float(sigma2[0]), float(sigma2[1])
    codes, J = flat.codes, flat.n_clusters
    total = flat.v + s_within
    if np.any(total <= 0) or s_between < 0:
        return None
    d = 1.0 / total
    S = np.bincount(codes, d, J)
    one_plus = 1.0 + s_between * S
    c = s_between / one_plus

    def csum(x):  # per-cluster sums of a vector or of the columns of a matrix
        if x.ndim == 1:
            return np.bincount(codes, x, J)
        return np.stack([np.bincount(codes, x[:, j], J) for j in range(x.shape[1])], axis=1)

    def w_times(a):  # W a for a vector or matrix a
        sums = csum(d[:, None] * a if a.ndim == 2 else d * a)
        return (d[:, None] * a - d[:, None] * (c[:, None] * sums)[codes]) if a.ndim == 2 \
            else d * a - d * (c * sums)[codes]

    X, y = flat.X, flat.y
    k, p = X.shape
    WX = w_times(X)
    XtWX = X.T @ WX
    try:
        vb = np.linalg.inv(XtWX)
    except np.linalg.LinAlgError:
        return None
    beta = vb @ (WX.T @ y)
    resid = y - X @ beta
    Py = w_times(resid)
    rss = float(resid @ Py)
    logdet = float(np.log(total).sum() + np.log(one_plus).sum())
    if reml:
        ll = (-0.5 * (k - p) * math.log(2 * math.pi) + 0.5 * np.linalg.slogdet(X.T @ X)[1]
              - 0.5 * logdet - 0.5 * np.linalg.slogdet(XtWX)[1] - 0.5 * rss)
    else:
        ll = -0.5 * k * math.log(2 * math.pi) - 0.5 * logdet - 0.5 * rss
    st = _State(float(ll), beta, vb, [], [resid], [Py])
    if not derivatives:
        return st
    U = WX
    one_w_one = S / one_plus                        # 1'W_j 1
    w_one = d / one_plus[codes]                     # W_j 1, stacked
    U_sum = csum(U)                                 # 1'U_j            (J, p)
    py_sum = csum(Py)                               # 1'(Py)_j         (J,)
    a = [py_sum[codes], Py]                         # G_j P y
    tr_wg = np.array([one_w_one.sum(), float(d.sum() - (c * csum(d * d)).sum())])
    s_mat = np.stack([U_sum.T @ U_sum, U.T @ U])
    quad = np.array([float(py_sum @ py_sum), float(Py @ Py)])
    d2 = csum(d * d)
    t_wgwg = np.empty((2, 2))
    t_wgwg[0, 0] = float((one_w_one ** 2).sum())
    t_wgwg[0, 1] = t_wgwg[1, 0] = float((csum(w_one * w_one)).sum())
    t_wgwg[1, 1] = float(d2.sum() - 2.0 * (c * csum(d ** 3)).sum() + (c * c * d2 * d2).sum())
    one_wu = csum(w_one[:, None] * U)               # (W_j 1)'U_j       (J, p)
    c_mat = np.empty((2, 2, p, p))
    c_mat[0, 0] = U_sum.T @ (one_w_one[:, None] * U_sum)
    c_mat[0, 1] = U_sum.T @ one_wu                  # U'J W U
    c_mat[1, 0] = c_mat[0, 1].T
    c_mat[1, 1] = U.T @ w_times(U)
    Wa = [w_times(a_j) for a_j in a]
    a_wa = np.array([[float(a[j] @ Wa[l]) for l in range(2)] for j in range(2)])
    ua = np.stack([U.T @ a_j for a_j in a])
    _finish_derivatives(st, tr_wg, s_mat, quad, t_wgwg, c_mat, a_wa, ua, reml)
    return st


def _evaluate(blocks: _Blocks, sigma2, reml: bool, derivatives: bool = False) -> _State | None:
    """The likelihood state by the closed form when V is diagonal, else block by block."""
    if blocks.flat is not None:
        return _state_flat(blocks.flat, sigma2, reml, derivatives)
    return _state(blocks, sigma2, reml, derivatives)


def _maximise(blocks: _Blocks, reml: bool, start, fixed=(None, None)) -> tuple[np.ndarray, _State]:
    """The sigma2 >= 0 maximising the (restricted) log-likelihood, components in ``fixed`` held.

    Newton steps on the free components (Fisher scoring where the observed Hessian is not
    negative definite), halved until the likelihood does not decrease, projected on
    sigma2 >= 0; a component on the boundary whose score points outside stays at 0. Run until
    the step is below 1e-13 of the natural scale, i.e. to the exact maximiser.
    """
    theta = np.array([fixed[j] if fixed[j] is not None else max(0.0, start[j]) for j in range(2)],
                     dtype=float)
    held = np.array([f is not None for f in fixed])
    scale = _natural_scale(blocks)
    st = _evaluate(blocks, theta, reml, derivatives=True)
    if st is None:
        raise ValueError("the marginal covariance is not positive definite at the starting values")
    for _ in range(_MAXITER):
        free = ~held & ~((theta <= 0.0) & (st.grad <= 0.0))
        if not free.any():
            break
        g = st.grad[free]
        neg_h = -st.hess[np.ix_(free, free)]
        try:
            np.linalg.cholesky(neg_h)
            step = np.linalg.solve(neg_h, g)
        except np.linalg.LinAlgError:
            step = np.linalg.solve(st.info[np.ix_(free, free)], g)
        factor, accepted = 1.0, None
        for _ in range(60):
            trial = theta.copy()
            trial[free] = np.maximum(0.0, theta[free] + factor * step)
            trial[trial <= _ZERO * scale] = 0.0
            cand = _evaluate(blocks, trial, reml, derivatives=True)
            small = np.max(np.abs(trial - theta)) <= 1e-6 * (scale + np.max(theta))
            if cand is not None and (cand.ll >= st.ll or (small and cand.ll >= st.ll - 1e-9 * abs(st.ll))):
                accepted = (trial, cand)
                break
            factor /= 2.0
        if accepted is None:
            break
        moved = np.max(np.abs(accepted[0] - theta))
        theta, st = accepted
        if moved <= _STEP_TOL * (scale + np.max(theta)):
            break
    else:
        raise ConvergenceError(f"multilevel model: no convergence in {_MAXITER} Newton steps")
    return theta, st


def _natural_scale(blocks: _Blocks) -> float:
    return float(np.mean(np.concatenate([np.diagonal(V, axis1=1, axis2=2).ravel() for V in blocks.V])))


def _start(blocks: _Blocks) -> np.ndarray:
    """Starting values as metafor: each component half of max(0.002, var(r) - 1/mean(1/v)).

    r are the residuals of the fixed-effect (V-weighted) fit.
    """
    fe = _evaluate(blocks, (0.0, 0.0), reml=False)
    r = np.concatenate([res.ravel() for res in fe.resid])
    v = np.concatenate([np.diagonal(V, axis1=1, axis2=2).ravel() for V in blocks.V])
    total = max(0.001 * 2, float(np.var(r, ddof=1)) - 1.0 / float(np.mean(1.0 / v)))
    return np.array([total / 2.0, total / 2.0])


def _profile_bounds(blocks: _Blocks, reml: bool, sigma2, ll_max, level) -> list:
    """Profile-likelihood CI of each component (metafor ``confint.rma.mv``).

    The bounds are the values where ``2 (ll_max - max_other ll) = chi2_{1; level}``; 0 is the
    lower bound when the profile at 0 stays above the cut-off. The upper search doubles the
    interval until the profile falls below the cut-off (metafor stops at max(10, 100 sigma2)
    and reports that cap).
    """
    cutoff = special.chdtri(1, 1.0 - level / 100.0)
    scale = _natural_scale(blocks)
    bounds = []
    for j in range(2):

        def profile(value, j=j):
            fixed = [None, None]
            fixed[j] = value
            start = np.array(sigma2, dtype=float)
            start[j] = value
            return 2.0 * (ll_max - _maximise(blocks, reml, start, tuple(fixed))[1].ll) - cutoff

        est = float(sigma2[j])
        if profile(0.0) <= 0.0:
            low = 0.0
        else:
            low = optimize.brentq(profile, 0.0, est, xtol=1e-15 * scale, rtol=8 * np.finfo(float).eps,
                                  maxiter=500) if est > 0 else 0.0
        hi = max(est * 2.0, scale, 1e-8)
        for _ in range(200):
            if profile(hi) > 0.0:
                break
            hi *= 2.0
        else:
            raise ConvergenceError(f"profile CI of sigma2 ({COMPONENTS[j]}): no upper bound found")
        high = optimize.brentq(profile, est, hi, xtol=1e-15 * scale, rtol=8 * np.finfo(float).eps,
                               maxiter=500)
        bounds.append((low, high))
    return bounds


# ---------------------------------------------------------------------------------------------
# result objects


@dataclass(frozen=True)
class RobustResult:
    """Cluster-robust inference on the pooled estimate.

    CR2 sandwich variance with Satterthwaite degrees of freedom (clubSandwich ``coef_test``,
    ``conf_int``).
    """

    estimate: float
    se: float
    statistic: float
    df: float
    p: float
    ci_low: float
    ci_high: float
    n_clusters: int
    level: float
    vcov: str = "CR2"

    def to_dict(self) -> dict:
        return {key: plain(getattr(self, key)) for key in
                ("estimate", "se", "statistic", "df", "p", "ci_low", "ci_high", "n_clusters",
                 "vcov")}

    def summary(self) -> str:
        return (f"Cluster-robust inference ({self.vcov}, Satterthwaite df; {self.n_clusters} "
                f"clusters): estimate {console(self.estimate)}  se {console(self.se)}  "
                f"t({console(self.df, 2)}) {console(self.statistic)}  p {console_p(self.p)}  "
                f"{self.level:g}% CI [{console(self.ci_low)}, {console(self.ci_high)}]")

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.summary())}</p>"


@dataclass(frozen=True, eq=False)
class MultilevelResult:
    """Three-level random-effects model (metafor ``rma.mv(yi, V, random = ~ 1 | trial/comparison)``).

    ``sigma2`` is ``[between trials, within trials]`` with profile-likelihood CIs
    ``sigma2_ci_low``/``sigma2_ci_high``; ``q`` the test of heterogeneity with the sampling
    covariance only (metafor ``QE``); ``robust`` the cluster-robust inference when requested;
    ``rho`` the assumed within-trial sampling correlation of a CHE model (None: independent
    sampling errors, or ``V`` given).
    """

    k: int
    n_clusters: int
    measure: str
    method: str
    ci_method: str
    estimate: float
    se: float
    statistic: float
    p: float
    ci_low: float
    ci_high: float
    df: int | None
    sigma2: list
    sigma2_ci_low: list | None
    sigma2_ci_high: list | None
    q: float | None
    q_df: int
    q_p: float | None
    pi_low: float
    pi_high: float
    loglik: float
    level: float
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    labels: list = field(repr=False)
    clusters: list = field(repr=False)
    weights: np.ndarray = field(repr=False)
    rho: float | None = None
    robust: RobustResult | None = None
    notes: list = field(default_factory=list)
    settings: dict = field(default_factory=dict, repr=False)
    # the fitted blocks and likelihood state, for robust(): not part of the results contract
    blocks: _Blocks | None = field(default=None, repr=False)
    state: _State | None = field(default=None, repr=False)

    @property
    def is_ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    @property
    def studies(self) -> list[dict]:
        """Per-comparison rows: study, cluster, yi, vi, weight (percent of the diagonal weights)."""
        return [{"study": lab, "cluster": str(cl), "yi": plain(y), "vi": plain(v), "weight": plain(w)}
                for lab, cl, y, v, w in zip(self.labels, self.clusters, self.yi, self.vi, self.weights)]

    def to_dict(self) -> dict:
        keys = ("k", "n_clusters", "measure", "method", "ci_method", "estimate", "se", "statistic",
                "p", "ci_low", "ci_high", "df", "q", "q_df", "q_p", "pi_low", "pi_high", "loglik",
                "rho")
        out = {key: plain(getattr(self, key)) for key in keys}
        out["model"] = "multilevel"
        out["sigma2"] = [plain(s) for s in self.sigma2]
        out["sigma2_ci_low"] = None if self.sigma2_ci_low is None else [plain(s) for s in self.sigma2_ci_low]
        out["sigma2_ci_high"] = None if self.sigma2_ci_high is None else [plain(s) for s in self.sigma2_ci_high]
        out["studies"] = self.studies
        if self.robust is not None:
            out["robust"] = self.robust.to_dict()
        if self.is_ratio:
            out["exp"] = {key: plain(math.exp(getattr(self, key)))
                          for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}
        out["notes"] = list(self.notes)
        return out

    def summary(self) -> str:
        stat = "z" if self.df is None else f"t({self.df})"
        ci = (lambda j: "" if self.sigma2_ci_low is None else
              f" [{console(self.sigma2_ci_low[j])}, {console(self.sigma2_ci_high[j])}]")
        model = "Multilevel (three-level) random-effects model"
        if self.rho is not None:
            model += f", CHE working model (rho = {self.rho:g})"
        lines = [f"{model} (k = {self.k} comparisons in {self.n_clusters} clusters; measure "
                 f"{self.measure}; method {self.method})", "",
                 f"sigma^2 between trials:  {console(self.sigma2[0])}{ci(0)} (profile-likelihood CI)",
                 f"sigma^2 within trials:   {console(self.sigma2[1])}{ci(1)}",
                 f"logLik ({self.method}): {console(self.loglik)}", ""]
        if self.q is not None:
            lines.append(f"Test for heterogeneity: Q(df = {self.q_df}) = {console(self.q)}, "
                         f"p = {console_p(self.q_p)}")
        lines += ["", "Model results:",
                  f"  estimate {console(self.estimate)}  se {console(self.se)}  {stat} "
                  f"{console(self.statistic)}  p {console_p(self.p)}  {self.level:g}% CI "
                  f"[{console(self.ci_low)}, {console(self.ci_high)}]",
                  f"  {self.level:g}% prediction interval [{console(self.pi_low)}, {console(self.pi_high)}]"]
        if self.is_ratio:
            lines.append(f"  exp: estimate {console(math.exp(self.estimate))}  CI "
                         f"[{console(math.exp(self.ci_low))}, {console(math.exp(self.ci_high))}]")
        if self.robust is not None:
            lines += ["", self.robust.summary()]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [("k (clusters)", f"{self.k} ({self.n_clusters})"), ("method", self.method),
                ("estimate", console(self.estimate)), ("se", console(self.se)),
                (f"{self.level:g}% CI", f"[{console(self.ci_low)}, {console(self.ci_high)}]"),
                ("p", console_p(self.p)),
                ("σ² between", console(self.sigma2[0])), ("σ² within", console(self.sigma2[1])),
                ("Q", f"{console(self.q)} (df {self.q_df}, p {console_p(self.q_p)})"),
                ("PI", f"[{console(self.pi_low)}, {console(self.pi_high)}]")]
        if self.robust is not None:
            rows.append(("robust (CR2)", f"{console(self.robust.estimate)} "
                         f"[{console(self.robust.ci_low)}, {console(self.robust.ci_high)}], "
                         f"df {console(self.robust.df, 2)}, p {console_p(self.robust.p)}"))
        body = "".join(f"<tr><th>{html.escape(str(a))}</th><td>{html.escape(str(b))}</td></tr>"
                       for a, b in rows)
        return f"<table class=\"multilevel-result\">{body}</table>"


# ---------------------------------------------------------------------------------------------
# the verbs


def _wald(est, se, df, level):
    upper = 1.0 - (1.0 - level / 100.0) / 2.0
    stat = est / se
    if df is None:
        return stat, float(2.0 * special.ndtr(-abs(stat))), float(special.ndtri(upper))
    return stat, float(2.0 * special.stdtr(df, -abs(stat))), float(special.stdtrit(df, upper))


def rma_multilevel(yi, vi=None, cluster=None, *, V=None, rho=None, method="REML", test="z",
                   level=95, labels=None, measure="GEN", sigma2=None, profile=True,
                   robust=False) -> MultilevelResult:
    """Three-level random-effects meta-analysis: comparisons within trials.

    The model ``y_ij = mu + u_i + w_ij + e_ij`` (Konstantopoulos 2011) with trial effects
    ``u_i ~ N(0, sigma2[0])``, comparison effects ``w_ij ~ N(0, sigma2[1])`` and sampling errors
    with covariance ``V`` (diagonal ``vi``; ``rho``: correlation ``rho`` within a trial, the CHE
    working model of Pustejovsky & Tipton 2022; or a block-diagonal ``V``), as metafor
    ``rma.mv(yi, V, random = ~ 1 | cluster/comparison)``.

    Parameters
    ----------
    yi : array_like
        Effects (log scale for ratio measures).
    vi : array_like, optional
        Sampling variances (needed unless ``V`` is given).
    cluster : sequence
        Trial of each comparison.
    V : array_like, optional
        Full sampling covariance matrix, block-diagonal by cluster (e.g. from :func:`vcalc`).
    rho : float, optional
        Within-trial sampling correlation (CHE); ignored when ``V`` is given.
    method : {"REML", "ML"}
        Restricted or full maximum likelihood.
    test : {"z", "t"}
        Wald z inference, or t with k - 1 df (metafor ``test = "t"``, ``dfs = "residual"``).
    level : float
        Confidence level in percent.
    labels : sequence of str, optional
        Labels of the comparisons.
    measure : str
        Label of the effect measure.
    sigma2 : pair of float or None, optional
        Fix a component (None = estimate it), as metafor's ``sigma2`` argument.
    profile : bool
        Compute the profile-likelihood CIs of the estimated components.
    robust : bool
        Attach cluster-robust inference (:func:`cluster_robust`).

    The log-likelihood and its derivatives are those of ``_state``, maximised by ``_maximise``
    from metafor's starting values (``_start``); profile CIs by ``_profile_bounds``; Q by
    ``_q_sampling``.

    Returns
    -------
    MultilevelResult
        ``mu = (1'W1)^-1 1'W y`` with ``W = M^-1`` the inverse marginal covariance, ``se =
        (1'W1)^-1/2``; Wald z or t(k - 1) test and CI; ``Q = y'P_V y`` with the sampling
        covariance alone on k - 1 df (metafor ``QE``); prediction interval
        ``mu +/- crit sqrt(se^2 + sigma2[0] + sigma2[1])``; weights ``diag(W)`` in percent
        (metafor ``weights.rma.mv``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}, not {test!r}")
    level = float(level)
    if not 0.0 < level < 100.0:
        raise ValueError(f"level={level} must lie strictly between 0 and 100")
    y = np.asarray(yi, dtype=float)
    if y.ndim != 1 or y.size == 0:
        raise ValueError("yi must be a non-empty one-dimensional array")
    if cluster is None:
        raise ValueError("cluster (the trial of each comparison) is required")
    cluster = list(cluster)
    if len(cluster) != y.size:
        raise ValueError(f"cluster has {len(cluster)} values for {y.size} effects")
    for i, c in enumerate(cluster):
        if c is None or (isinstance(c, float) and math.isnan(c)) or (isinstance(c, str) and not c.strip()):
            raise ValueError(f"cluster of comparison {i + 1} is missing")
    if V is not None:
        V = np.asarray(V, dtype=float)
        if V.shape != (y.size, y.size) or not np.allclose(V, V.T, rtol=0, atol=0):
            raise ValueError(f"V must be a symmetric {y.size} x {y.size} matrix")
        v = np.diagonal(V).copy()
        rho = None
    else:
        if vi is None:
            raise ValueError("give vi (sampling variances) or V (their covariance matrix)")
        v = np.asarray(vi, dtype=float)
        if v.shape != y.shape:
            raise ValueError(f"yi has {y.size} values but vi has {v.size}")
        if rho is not None and not -1.0 <= float(rho) <= 1.0:
            raise ValueError(f"rho = {rho!r} must lie in [-1, 1]")
    bad = np.flatnonzero(~np.isfinite(y) | ~np.isfinite(v) | (v <= 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"comparison {i + 1}: yi = {y[i]!r}, vi = {v[i]!r}; need finite yi and vi > 0")
    labels = [f"Comparison {i + 1}" for i in range(y.size)] if labels is None else [str(s) for s in labels]
    if len(labels) != y.size:
        raise ValueError(f"labels has {len(labels)} entries for {y.size} effects")
    fixed = (None, None) if sigma2 is None else tuple(None if s is None else float(s) for s in sigma2)
    if len(fixed) != 2 or any(s is not None and not (math.isfinite(s) and s >= 0) for s in fixed):
        raise ValueError(f"sigma2 = {sigma2!r}: give two values >= 0 (None = estimate)")
    k = y.size
    X = np.ones((k, 1))
    blocks = _blocks(y, _sampling_blocks(v, cluster, V, rho), X, cluster)
    sizes = [pos.shape[1] for pos in blocks.positions]
    if blocks.n_clusters < 2:
        raise ValueError("the multilevel model needs at least two clusters (trials)")
    if max(sizes) < 2 and fixed[1] is None and fixed[0] is None:
        raise ValueError("every cluster has a single comparison: the two variance components "
                         "are not identifiable (use rma)")
    reml = method == "REML"
    notes: list[str] = []
    if V is not None:
        for Vb in blocks.V:
            if np.any(np.linalg.eigvalsh(Vb) <= 0):
                raise ValueError("V is not positive definite within a cluster")
    theta, _ = _maximise(blocks, reml, _start(blocks), fixed)
    st = _state(blocks, theta, reml)
    for j, name in enumerate(COMPONENTS):
        if fixed[j] is not None:
            notes.append(f"sigma^2 {name} fixed at {fixed[j]:g} (not estimated)")
        elif theta[j] == 0.0:
            notes.append(f"sigma^2 {name} estimated at the boundary 0")
    se = math.sqrt(float(st.vb[0, 0]))
    mu = float(st.beta[0])
    df = k - 1 if test == "t" else None
    if df == 0:
        raise ValueError("the t test needs k >= 2 comparisons")
    stat, p, crit = _wald(mu, se, df, level)
    lows = highs = None
    if profile and any(f is None for f in fixed):
        bounds = _profile_bounds(blocks, reml, theta, st.ll, level) if fixed == (None, None) else None
        if bounds is None:
            notes.append("profile-likelihood CIs are computed only when both components are estimated")
        else:
            lows, highs = [b[0] for b in bounds], [b[1] for b in bounds]
    q, q_p = _q_sampling(blocks)
    weights = np.empty(k)
    for pos, W in zip(blocks.positions, st.W):
        weights[pos] = np.diagonal(W, axis1=1, axis2=2)
    weights = 100.0 * weights / weights.sum()
    half = crit * math.sqrt(se * se + theta.sum())
    result = MultilevelResult(
        k=k, n_clusters=blocks.n_clusters, measure=measure, method=method, ci_method=test,
        estimate=mu, se=se, statistic=stat, p=p, ci_low=mu - crit * se, ci_high=mu + crit * se,
        df=df, sigma2=[float(theta[0]), float(theta[1])], sigma2_ci_low=lows, sigma2_ci_high=highs,
        q=q, q_df=k - 1, q_p=q_p, pi_low=mu - half, pi_high=mu + half, loglik=st.ll, level=level,
        yi=y, vi=v, labels=labels, clusters=cluster, weights=weights,
        rho=None if rho is None else float(rho), notes=notes,
        settings={"method": method, "test": test, "level": level, "measure": measure,
                  "rho": rho, "sigma2": sigma2}, blocks=blocks, state=st)
    if robust:
        result = replace(result, robust=cluster_robust(result))
    return result


def _q_sampling(blocks: _Blocks) -> tuple[float | None, float | None]:
    """``Q = y'P y`` with ``P`` built from the sampling covariance ``V`` alone (metafor ``QE``)."""
    if blocks.k <= blocks.p:
        return None, None
    st = _evaluate(blocks, (0.0, 0.0), reml=False)
    if st is None:
        return None, None
    q = float(sum((r * e).sum() for r, e in zip(st.resid, st.Py)))
    q = max(0.0, q)
    return q, float(special.chdtrc(blocks.k - blocks.p, q))


def cluster_robust(res: MultilevelResult) -> RobustResult:
    """Cluster-robust (CR2) inference on the pooled estimate of a multilevel model.

    With ``W_i = M_i^-1`` (the model's inverse marginal covariance, the "working" weights),
    ``B = (X'WX)^-1``, residuals ``e_i = y_i - X_i b`` and, per cluster, the adjustment
    ``A_i = R_i' (R_i (M_i - X_i B X_i') R_i')^{-1/2} R_i`` (``M_i = R_i' R_i`` the Cholesky
    factor; Bell & McCaffrey 2002; Pustejovsky & Tipton 2018, eq. 7 with the working model as
    target), the CR2 variance is ``B (sum_i X_i' W_i A_i e_i e_i' A_i W_i X_i) B``. The
    Satterthwaite degrees of freedom ``2 E^2 / Var`` use the moments of that variance under the
    working model (Pustejovsky & Tipton 2018, section 3.2; clubSandwich ``coef_test``): with
    ``g_i = B X_i' W_i A_i`` (a row), ``a_i = g_i M_i g_i'`` and ``b_i = X_i' g_i'``,
    ``E = sum_i a_i - sum_i b_i' B b_i`` and ``Var = 2 sum_ij (delta_ij a_i - b_i' B b_j)^2``.
    Test and CI use t with those df. Eigenvalues below 1e-12 are dropped from the inverse
    square root (clubSandwich ``matrix_power``).
    """
    blocks, st = res.blocks, res.state
    if blocks is None or st is None:
        raise ValueError("cluster-robust inference needs a result of rma_multilevel")
    if blocks.n_clusters < 2:
        raise ValueError("cluster-robust variance needs at least two clusters")
    B = st.vb
    comps, a_list, b_list = [], [], []
    sigma2 = res.sigma2
    for V, X, r in zip(blocks.V, blocks.X, st.resid):
        m = V.shape[1]
        J, eye = _random_designs(m)
        M = V + sigma2[0] * J + sigma2[1] * eye
        W = np.linalg.inv(M)
        R = np.swapaxes(np.linalg.cholesky(M), 1, 2)          # M = R'R, R upper triangular
        inner = M - np.einsum("gmp,pq,gnq->gmn", X, B, X)
        G = R @ inner @ np.swapaxes(R, 1, 2)
        G = 0.5 * (G + np.swapaxes(G, 1, 2))
        values, vectors = np.linalg.eigh(G)
        inv_sqrt = np.where(values > 1e-12, np.abs(values) ** -0.5, 0.0)
        G_half = np.einsum("gmi,gi,gni->gmn", vectors, inv_sqrt, vectors)
        A = np.swapaxes(R, 1, 2) @ G_half @ R
        E = np.einsum("gmp,gmn,gnl->gpl", X, W, A)            # X_i' W_i A_i   (g, p, m)
        comps.append(np.einsum("gpm,gm->gp", E, r))
        g = np.einsum("pq,gqm->gpm", B, E)                    # B X_i' W_i A_i (g, p, m)
        a_list.append(np.einsum("gpm,gmn,gpn->gp", g, M, g))
        b_list.append(np.einsum("gmq,gpm->gpq", X, g))        # rows: b_i for coefficient p
    comps = np.concatenate(comps)
    meat = comps.T @ comps
    vcov = B @ meat @ B
    a = np.concatenate(a_list)                                # (J, p)
    b = np.concatenate(b_list)                                # (J, p, q)
    coef = 0
    a_c, b_c = a[:, coef], b[:, coef, :]
    quad = np.einsum("jq,qr,jr->j", b_c, B, b_c)
    expected = float(a_c.sum() - quad.sum())
    gram = b_c.T @ b_c
    variance = 2.0 * float((a_c ** 2).sum() - 2.0 * (a_c * quad).sum() + np.trace(B @ gram @ B @ gram))
    df = 2.0 * expected ** 2 / variance
    se = math.sqrt(float(vcov[coef, coef]))
    est = float(st.beta[coef])
    stat = est / se
    upper = 1.0 - (1.0 - res.level / 100.0) / 2.0
    crit = float(special.stdtrit(df, upper))
    return RobustResult(estimate=est, se=se, statistic=stat, df=df,
                        p=float(2.0 * special.stdtr(df, -abs(stat))), ci_low=est - crit * se,
                        ci_high=est + crit * se, n_clusters=blocks.n_clusters, level=res.level)


def che(yi, vi, cluster, *, rho=0.6, **options) -> MultilevelResult:
    """The correlated-and-hierarchical-effects working model (Pustejovsky & Tipton 2022).

    :func:`rma_multilevel` with sampling errors correlated ``rho`` within a trial (metafor
    ``vcalc(vi, cluster, rho = rho)``) and cluster-robust CR2 inference (:func:`cluster_robust`); 0.6 is
    the authors' default guess of the within-trial correlation. ``options`` are passed on.
    """
    return rma_multilevel(yi, vi, cluster, rho=rho, robust=True, **options)
