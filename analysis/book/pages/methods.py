"""Generated parts of the Methods chapter: the convention presets."""
from __future__ import annotations

from analysis.book.pages.common import md_table
from analysis.stats.meta import PRESETS


def conventions_md() -> str:
    """The table of convention presets of the Methods chapter."""
    rows = [[f"`{name}`", s.method, s.ci, s.pi, s.vtype] for name, s in PRESETS.items()]
    return md_table(["preset", "tau² estimator", "CI", "prediction interval", "SMD variance"], rows,
                    caption="Convention presets", name="tbl-presets") + (
        "\n\nThe main analysis uses the `metafor` preset. CI `hk` = Knapp-Hartung (t with k-1 df); "
        "prediction interval `t-2` = Higgins et al. (2009), `t-1` = IntHout et al. (2016).\n")
