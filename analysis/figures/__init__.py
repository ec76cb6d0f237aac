"""Figures of the review.

Forest, funnel, cumulative, leave-one-out, Baujat, risk of bias, PRISMA, sequential monitoring, the
evidence map and the map of implementation findings onto CFIR domains.

Every function takes result objects of :mod:`analysis.stats` (or the dataset's tables) and returns
a :class:`matplotlib.figure.Figure` (``forest`` with ``max_rows`` returns a list of them) that is
already closed in pyplot, so nothing is shown twice in a notebook and no figure leaks. Nothing
here computes a pooled result. :func:`save` writes byte-identical files for identical figures.
"""
from analysis.figures.cfir import cfir_map
from analysis.figures.diagnostics import baujat, baujat_points, funnel
from analysis.figures.evidence import evidence_map
from analysis.figures.flow import prisma
from analysis.figures.forests import cumulative_forest, forest, leave_one_out_plot
from analysis.figures.monitoring import sequential
from analysis.figures.rob import rob_proportions, rob_summary, rob_traffic_light
from analysis.figures.style import ReviewFigure, save

__all__ = [
    "ReviewFigure",
    "forest", "funnel", "cumulative_forest", "leave_one_out_plot", "baujat", "baujat_points",
    "rob_traffic_light", "rob_summary", "rob_proportions", "prisma", "sequential", "evidence_map", "cfir_map",
    "save",
]
