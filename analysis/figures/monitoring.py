"""Trial sequential monitoring: cumulative z against the Lan-DeMets O'Brien-Fleming boundaries."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import ndtri

from analysis.figures.style import INK, _new_figure, _styled


@_styled
def sequential(result) -> plt.Figure:
    """Trial sequential monitoring: cumulative z by year against the two-sided Lan-DeMets
    O'Brien-Fleming boundaries (x: information fraction of the required information size)."""
    frac = np.asarray(result.information_fraction, dtype=float)
    z = np.asarray(result.z, dtype=float)
    bounds = np.asarray([b if b is not None and np.isfinite(b) else np.nan for b in result.boundary], dtype=float)
    fig = _new_figure(6.0, 3.4, "Trial sequential monitoring")
    ax = fig.add_axes([0.1, 0.16, 0.86, 0.74])
    x_max = max(1.05, float(np.nanmax(frac)) * 1.05)
    finite = np.isfinite(bounds)
    ax.plot(frac[finite], bounds[finite], "-", color="#B2182B", lw=1.2, marker="_", ms=8,
            label="monitoring boundary (Lan-DeMets O'Brien-Fleming)")
    ax.plot(frac[finite], -bounds[finite], "-", color="#B2182B", lw=1.2, marker="_", ms=8)
    crit = float(ndtri(1 - result.alpha / 2))
    ax.axhline(crit, color="#777777", lw=0.8, ls="--", label=f"conventional \u00b1{crit:.2f}")
    ax.axhline(-crit, color="#777777", lw=0.8, ls="--")
    ax.axhline(0, color=INK, lw=0.6)
    ax.axvline(1.0, color="#2166AC", lw=0.8, ls=":", label="required information size")
    ax.plot(frac, z, "o-", color=INK, ms=3.5, lw=1.0, label="cumulative z")
    for f, zz, year in zip(frac, z, result.years):
        ax.annotate(str(year), (f, zz), textcoords="offset points", xytext=(3, 4), fontsize=6.5)
    ax.set_xlim(0, x_max)
    top = max(6.0, float(np.nanmax(np.abs(z))) * 1.15)
    ax.set_ylim(-top, top)
    ax.set_xlabel(f"Information fraction (participants / {result.ris:.0f})")
    ax.set_ylabel("Cumulative z (positive favours peer support)")
    ax.legend(loc="upper left", fontsize=6.5, frameon=False)
    return fig
