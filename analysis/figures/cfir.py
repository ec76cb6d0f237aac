"""The map of the umbrella review's implementation findings onto the CFIR domains."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from analysis.figures.style import INK, _new_figure, _styled

#: CFIR domains (Damschroder et al. 2022 names) in the order of the framework, as the umbrella review.
CFIR_DOMAINS = {"innovation": "Innovation", "outer-setting": "Outer setting", "inner-setting": "Inner setting",
                "individuals": "Individuals", "implementation-process": "Implementation process"}
ROLE_COLOURS = {"facilitator": "#1B7837", "barrier": "#B2182B", "unclear": "#999999"}


@_styled
def cfir_map(counts: dict) -> plt.Figure:
    """Facilitators, barriers and unclear findings per CFIR domain, as horizontal bars with counts.

    ``counts`` maps a CFIR domain code (:data:`CFIR_DOMAINS`) to ``{"facilitator": n, "barrier": n,
    "unclear": n}`` (the ``by_domain`` counts of :func:`analysis.chapter.findings.implementation_summary`).
    """
    domains = [d for d in CFIR_DOMAINS if d in counts] + [d for d in counts if d not in CFIR_DOMAINS]
    roles = [r for r in ROLE_COLOURS if any(counts[d].get(r, 0) for d in domains)]
    height = 0.9 + 0.42 * len(domains)
    fig = _new_figure(6.5, height, "Implementation findings of the umbrella review by CFIR domain: "
                                   "facilitators and barriers")
    ax = fig.add_axes([0.28, 0.5 / height, 0.68, 1 - 0.85 / height])
    ys = np.arange(len(domains))[::-1].astype(float)
    bar = 0.8 / max(len(roles), 1)
    top = max([counts[d].get(r, 0) for d in domains for r in roles] + [1])
    for i, role in enumerate(roles):
        offset = (len(roles) - 1) / 2 * bar - i * bar
        values = [counts[d].get(role, 0) for d in domains]
        ax.barh(ys + offset, values, height=bar * 0.92, color=ROLE_COLOURS[role], label=role)
        for y, v in zip(ys + offset, values):
            if v:
                ax.text(v + top * 0.01, y, str(v), va="center", ha="left", fontsize=7, color=INK)
    ax.set_yticks(ys)
    ax.set_yticklabels([CFIR_DOMAINS.get(d, d) for d in domains])
    ax.set_xlim(0, top * 1.12)
    ax.set_xlabel("Findings (Cooper et al. 2024, Table 5 and narrative)")
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig
