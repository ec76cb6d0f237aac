"""Generated parts of the Methods chapter: the convention presets."""
from __future__ import annotations

from analysis.book.pages.common import md_table
from analysis.chapter.params import MAIN_PRESET
from analysis.stats.meta import PRESETS


def conventions_md() -> str:
    """The table of convention presets of the Methods chapter."""
    rows = [[f"`{name}`", s.method, s.ci, s.pi, s.vtype] for name, s in PRESETS.items()]
    return md_table(["preset", "tau² estimator", "CI", "prediction interval", "SMD variance"], rows,
                    caption="Convention presets", name="tbl-presets") + (
        f"\n\nThe main analysis uses the `{MAIN_PRESET}` preset; the `metafor` defaults are a sensitivity "
        "analysis of every chapter, and the reproduction of Smit et al. (2022) uses their own settings. "
        "CI `hk` = Hartung-Knapp-Sidik-Jonkman (t with k−1 df); prediction interval `t-2` = Higgins et al. "
        "(2009), `t-1` = IntHout et al. (2016).\n")
