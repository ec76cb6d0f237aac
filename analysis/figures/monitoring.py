"""Trial sequential monitoring: cumulative z against the Lan-DeMets O'Brien-Fleming boundaries."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import ndtri

from analysis.figures.style import INK, MIN_FONT_SIZE, _new_figure, _place_labels, _styled


@_styled
def sequential(result) -> plt.Figure:
    """Trial sequential monitoring: cumulative z against the Lan-DeMets O'Brien-Fleming boundaries.

    Two-sided boundaries; x is the information fraction of the required information size.

    Each year is labelled once, at the last analysis of that year, where its label overlaps
    neither another label nor a point (a year without room is left unlabelled); the legend sits
    under the axes, clear of the data.
    """
    frac = np.asarray(result.information_fraction, dtype=float)
    z = np.asarray(result.z, dtype=float)
    bounds = np.asarray([b if b is not None and np.isfinite(b) else np.nan for b in result.boundary], dtype=float)
    crit = float(ndtri(1 - result.alpha / 2))
    fig = _new_figure(6.4, 4.4, f"Trial sequential monitoring of {len(z)} cumulative analyses: final z = "
                      f"{z[-1]:.2f} at {frac[-1]:.2f} of the required information size of {result.ris:.0f} "
                      "participants" if len(z) else "Trial sequential monitoring")
    ax = fig.add_axes([0.11, 0.36, 0.85, 0.58])
    x_max = max(1.05, float(np.nanmax(frac)) * 1.05)
    finite = np.isfinite(bounds)
    ax.plot(frac[finite], bounds[finite], "-", color="#B2182B", lw=1.2, marker="_", ms=8,
            label="monitoring boundary (Lan-DeMets O'Brien-Fleming)")
    ax.plot(frac[finite], -bounds[finite], "-", color="#B2182B", lw=1.2, marker="_", ms=8)
    ax.axhline(crit, color="#777777", lw=0.8, ls="--", label=f"conventional \u00b1{crit:.2f}")
    ax.axhline(-crit, color="#777777", lw=0.8, ls="--")
    ax.axhline(0, color=INK, lw=0.6)
    ax.axvline(1.0, color="#2166AC", lw=0.8, ls=":", label="required information size")
    ax.plot(frac, z, "o-", color=INK, ms=3.5, lw=1.0, label="cumulative z")
    ax.set_xlim(0, x_max)
    top = max(6.0, float(np.nanmax(np.abs(z))) * 1.15)
    ax.set_ylim(-top, top)
    ax.set_xlabel(f"Information fraction (participants / {result.ris:.0f})")
    ax.set_ylabel("Cumulative z (positive favours peer support)")
    ax.legend(loc="upper left", bbox_to_anchor=(-0.1, -0.16), ncol=2, fontsize=MIN_FONT_SIZE, frameon=False)
    years = [str(y) for y in result.years]
    last_of_year = [i for i in range(len(years)) if i == len(years) - 1 or years[i + 1] != years[i]]
    # the latest analyses first: the reader looks for where the evidence stands now
    order = last_of_year[::-1] + [i for i in range(len(years)) if i not in last_of_year]
    inside = [i for i in order if np.isfinite(z[i]) and np.isfinite(frac[i]) and abs(z[i]) <= top]
    _place_labels(ax, frac[inside], z[inside], [years[i] if i in last_of_year else "" for i in inside],
                  marker_pt=5)
    return fig
