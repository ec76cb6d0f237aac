"""The figures of a domain chapter and the per-trial results table beside its forest plot.

:class:`ChapterFigures` draws each figure of a :class:`~analysis.chapter.menu.DomainReport`,
writes it beside the chapter (``figure_dir``) and returns numbered, captioned blocks
(:mod:`analysis.chapter.page_figures`) labelled ``fig-<kind>-<domain>``, so that the chapter's
text can refer to them with ``{numref}``. Large evidence bases (more than :data:`PAGE_ROWS`
rows) get paginated forest, leave-one-out and cumulative plots (the pooled result on the last
page) and compact subgroup plots (the subgroups' pooled results without their trials), so that
no figure is taller than about :data:`PAGE_ROWS` rows.

:func:`per_trial_table` gives the trials of the forest plot as a table (effect, 95% CI, weight,
risk of bias) that can be searched, copied and read by a screen reader;
:func:`per_trial_records` the same numbers for the results file.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analysis import figures
from analysis.chapter.labels import SUBGROUP_VARIABLES
from analysis.chapter.markup import md_escape
from analysis.chapter.page_figures import PageFigure, figure_block
from analysis.chapter.tables import NBSP, Table, markdown_table
from analysis.stats.conventions import ROB_COLUMNS
from analysis.stats.formatting import plain
from analysis.stats.formatting import text as fmt

if TYPE_CHECKING:
    from analysis.chapter.menu import DomainReport

#: Rows per figure page: from this many trials on, forest-type plots are paginated.
PAGE_ROWS = 100

_ROB_WORDS = {"low": "low", "some-concerns": "some concerns", "high": "high"}


def _note(text: str) -> PageFigure:
    """A sentence in place of a figure that cannot be drawn."""
    return PageFigure(text + "\n", f"<p>{text}</p>")


def entered_as(rep: DomainReport) -> list[str]:
    """Per trial, in forest-plot order, what its effect was computed from.

    "means and SDs", "event counts", "reported g" (or the measure) or "2 rows combined". The forest
    plot shows it where the arm columns are empty; the per-trial table and results file show it for
    every trial.
    """
    reported = f"reported {'g' if rep.measure == 'SMD' else rep.effect_label.lower()}"
    words = {"msd": "means and SDs", "events": "event counts", "effect-se": reported}
    return [f"{int(n_rows)} rows combined" if n_rows > 1 else words.get(kind, kind)
            for kind, n_rows in zip(rep.trials["data_type"].astype(str), rep.trials["n_rows"])]


def arm_data(rep: DomainReport) -> pd.DataFrame:
    """The forest plot's arm columns, with how each trial's effect entered (shown where they are empty)."""
    frame = rep.arm_data().copy()
    frame["entered"] = entered_as(rep)
    return frame


def per_trial_records(rep: DomainReport) -> list[dict]:
    """The forest plot's rows (one per trial) as plain values: study, entered as, yi, CI, weight and RoB 2.

    ``yi`` and its limits are on the analysis scale (log for ratio measures). ``ci_low``/``ci_high`` are the Wald limits ``yi -/+ z_{1-alpha/2} sqrt(vi)`` of
    :meth:`analysis.stats.meta.MetaResult.to_frame` (as metafor's ``forest.rma`` draws them).
    """
    frame = rep.primary.to_frame()
    rob = rep.rob()
    entered = entered_as(rep)
    records = []
    for i, row in enumerate(frame.itertuples(index=False)):
        record = {"study": str(row.study), "entered_as": entered[i], "yi": plain(row.yi), "vi": plain(row.vi),
                  "ci_low": plain(row.ci_low), "ci_high": plain(row.ci_high), "weight": plain(row.weight)}
        for column in ROB_COLUMNS:
            value = rob[column].iloc[i]
            record[f"rob_{column}"] = value if isinstance(value, str) and value else None
        records.append(record)
    return records


def per_trial_table(rep: DomainReport) -> Table:
    """The trials of the forest plot as a table, labelled ``tbl-trials-<domain>``."""
    domain = rep.domain["id"]
    label = rep.effect_label
    header = ["Trial", f"{md_escape(label)} [95% CI]", "Weight", "Entered from", "Overall risk of bias",
              "RoB 2 domains D1-D5"]
    rows = []
    for r in per_trial_records(rep):
        est, low, high = (rep.shown(r[key]) for key in ("yi", "ci_low", "ci_high"))
        domains = "; ".join(f"D{i}{NBSP}{_ROB_WORDS.get(r[f'rob_d{i}'] or '', 'not assessed')}" for i in range(1, 6))
        rows.append([md_escape(r["study"]), f"{fmt(est)} [{fmt(low)}, {fmt(high)}]", f"{fmt(r['weight'], 1)}%",
                     md_escape(r["entered_as"]), md_escape(_ROB_WORDS.get(r["rob_overall"] or "", "not assessed")),
                     domains])   # fixed vocabulary: no markup, no-break spaces kept
    caption = (f"Per-trial results of the main analysis ({md_escape(label)} with 95% CI, weight in the "
               "random-effects model, RoB 2 judgements D1-D5 and overall), in the order of "
               f"{{numref}}`fig-forest-{domain}`")
    markdown = markdown_table(header, rows, caption=caption, name=f"tbl-trials-{domain}", sortable=True,
                              css_class="per-trial")
    html = pd.DataFrame(rows, columns=header).style.hide(axis="index").to_html()
    return Table(markdown, html)


class ChapterFigures:
    """The figures of one domain chapter, written to ``figure_dir`` (a temporary directory if None).

    ``page_dir`` is the directory of the chapter page (the links are relative to it); the build
    runs the chapter there, so the default ``"."`` is right.
    """

    def __init__(self, rep: DomainReport, figure_dir=None, page_dir="."):
        self.rep = rep
        self.dir = Path(figure_dir) if figure_dir else Path(tempfile.mkdtemp(prefix="review-figures-"))
        self.page_dir = page_dir
        self.domain = rep.domain["id"]
        self.title = md_escape(rep.domain.get("title", self.domain))
        self.label = rep.effect_label
        self.large = rep.primary.k > PAGE_ROWS

    def _block(self, fig, stem: str, name: str, caption: str, **options) -> PageFigure:
        return figure_block(fig, self.dir / f"{stem}.svg", name=name, caption=caption, page_dir=self.page_dir,
                            **options)

    def _pages(self, drawn, stem: str, name: str, caption: str, **options) -> PageFigure:
        """One block per page of a paginated figure; the first page carries the figure's label."""
        if not isinstance(drawn, list):
            return self._block(drawn, stem, name, caption, **options)
        blocks = None
        for number, fig in enumerate(drawn, start=1):
            page_caption = f"{caption} Page {number} of {len(drawn)}."
            block = self._block(fig, f"{stem}-{number}", name if number == 1 else f"{name}-page-{number}",
                                page_caption, **options)
            blocks = block if blocks is None else blocks + block
        return blocks

    def forest(self) -> PageFigure:
        """The main analysis: ``fig-forest-<domain>``, with SVG and PDF downloads."""
        rep = self.rep
        drawn = figures.forest(rep.primary, arm_data=arm_data(rep), rob=rep.rob(), effect_label=self.label,
                               exp=rep.exp, favours=rep.favours, max_rows=PAGE_ROWS if self.large else None)
        caption = (f"Forest plot of {self.title.lower()} (random-effects model). Squares: trial effects, area "
                   "proportional to the weight; lines: 95% confidence intervals; diamond: pooled effect; bar "
                   "under the diamond: 95% prediction interval; circles: risk of bias (RoB 2 domains D1-D5 and "
                   "overall). A row without means and SDs says how its effect entered the analysis. The numbers "
                   f"of every trial are in {{numref}}`tbl-trials-{self.domain}`.")
        return self._pages(drawn, "forest", f"fig-forest-{self.domain}", caption, downloads=True)

    def subgroups(self) -> PageFigure:
        """One figure per subgroup variable analysed (``fig-subgroup-<variable>-<domain>``)."""
        blocks = None
        for column, title in SUBGROUP_VARIABLES:
            result = self.rep.subgroups.get(column)
            if result is None or isinstance(result, str):
                continue
            fig = figures.forest(result, effect_label=self.label, exp=self.rep.exp, studies=not self.large,
                                 favours=self.rep.favours)
            rows = "the subgroups' pooled results" if self.large else "trials grouped by subgroup"
            caption = (f"Subgroup analysis of {self.title.lower()} by {md_escape(title.lower())}: {rows}, each "
                       "subgroup pooled with its own tau², and the test for subgroup differences. Squares and "
                       "weights are on the scale of the overall analysis.")
            block = self._block(fig, f"subgroup-{column}", f"fig-subgroup-{column}-{self.domain}", caption,
                                downloads=True)
            blocks = block if blocks is None else blocks + block
        return blocks if blocks is not None else _note("No subgroup variable has two or more subgroups here.")

    def leave_one_out(self) -> PageFigure:
        rep = self.rep
        if rep.loo is None:
            return _note("A leave-one-out analysis needs at least two comparisons.")
        drawn = figures.leave_one_out_plot(rep.loo, rep.primary, effect_label=self.label, exp=rep.exp,
                                           favours=rep.favours,
                                           max_rows=PAGE_ROWS if self.large else None)
        caption = ("Leave-one-out analysis: the pooled effect with each trial omitted in turn; the shaded band is "
                   "the 95% confidence interval of the analysis of all trials.")
        return self._pages(drawn, "leave-one-out", f"fig-loo-{self.domain}", caption)

    def baujat(self) -> PageFigure:
        caption = ("Baujat plot: each trial's contribution to heterogeneity (x) against its influence on the "
                   "pooled result (y); the most extreme trials are labelled.")
        return self._block(figures.baujat(self.rep.primary), "baujat", f"fig-baujat-{self.domain}", caption)

    def funnel(self) -> PageFigure:
        caption = ("Contour-enhanced funnel plot (shaded: regions of statistical significance at 10%, 5% and "
                   "1%; open circles: trials imputed by trim-and-fill, where it is reported).")
        fig = figures.funnel(self.rep.primary, trimfill=self.rep.trimfill)
        return self._block(fig, "funnel", f"fig-funnel-{self.domain}", caption)

    def cumulative(self) -> PageFigure:
        rep = self.rep
        if rep.cumulative is None:
            return _note("A cumulative meta-analysis needs at least two comparisons.")
        drawn = figures.cumulative_forest(rep.cumulative, effect_label=self.label, exp=rep.exp,
                                          favours=rep.favours,
                                          max_rows=PAGE_ROWS if self.large else None)
        caption = "Cumulative meta-analysis: the pooled effect as each trial was published."
        return self._pages(drawn, "cumulative", f"fig-cumulative-{self.domain}", caption)

    def sequential(self) -> PageFigure:
        if self.rep.sequential is None:
            return _note("Sequential monitoring needs at least two comparisons.")
        caption = ("Trial sequential monitoring: cumulative z-statistic by publication year against the Lan-DeMets "
                   "O'Brien-Fleming boundaries for the heterogeneity-adjusted required information size.")
        return self._block(figures.sequential(self.rep.sequential), "sequential", f"fig-sequential-{self.domain}",
                           caption)
