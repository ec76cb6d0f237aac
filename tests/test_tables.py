"""The table renderer of the book (analysis/chapter/tables.py) and the figure blocks of the pages
(analysis/chapter/page_figures.py): what a reader gets from the Markdown they write.

Expected strings are written out by hand from the rules (right-aligned numeric columns, no-break
spaces inside numbers and intervals, empty cells for missing values, labelled and captioned
tables and figures), not produced by the code under test.
"""
import re

import numpy as np
import pandas as pd
import pytest

from analysis import figures, rma
from analysis.chapter import tables
from analysis.chapter.page_figures import figure_block

NBSP = "\u00a0"


def rows_of(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[c.strip(" ") for c in line.strip("|").split(" | ")] for line in lines]


def test_numeric_columns_are_right_aligned_and_text_columns_left():
    md = tables.markdown_table(["trial", "k", "g [95% CI]", "p", "note"],
                               [["Smith 2001", 19, "0.14 [0.06, 0.21]", "< 0.001", "removed: Jones"],
                                ["Lee 2003", 3, "\u22120.21 [\u22120.52, 0.10]", "0.412", ""]])
    assert md.splitlines()[1] == "|---|---:|---:|---:|---|"


def test_no_line_break_inside_a_number_an_interval_or_a_comparison():
    assert tables.keep_together("0.14 [0.06, 0.21]") == f"0.14{NBSP}[0.06,{NBSP}0.21]"
    assert tables.keep_together("SMD 0.14 (0.06 to 0.21)") == f"SMD 0.14{NBSP}(0.06{NBSP}to{NBSP}0.21)"
    assert tables.keep_together("p < 0.001") == f"p{NBSP}<{NBSP}0.001"
    assert tables.keep_together("k = 19, trials = 18") == f"k{NBSP}={NBSP}19, trials{NBSP}={NBSP}18"
    # words stay breakable, also in brackets with a number in them
    assert tables.keep_together("some concerns about bias") == "some concerns about bias"
    phrase = "trivial (smaller than the minimally important difference of 0.2)"
    assert tables.keep_together(phrase) == phrase


@pytest.mark.parametrize("cell, shown", [
    ("NA", ""), ("NA [NA, NA]", ""), ("NA% [NA, NA]", ""), ("0.000 [NA, NA]", "0.000"), ("NA (0, NA)", ""),
    ("NATION", "NATION"), ("Nottingham NA scale", "Nottingham NA scale"), (None, ""), (float("nan"), ""),
])
def test_a_missing_value_is_an_empty_cell(cell, shown):
    md = tables.markdown_table(["a", "b"], [["x", cell]])
    assert rows_of(md)[2] == ["x", shown.replace(" ", NBSP) if shown.startswith("0") else shown]


def test_a_captioned_table_is_numbered_labelled_and_can_be_sortable():
    md = tables.markdown_table(["a"], [["1"]], caption="Pooled results", name="tbl-pooled", sortable=True)
    assert md.splitlines()[:3] == [":::{table} Pooled results", ":name: tbl-pooled", ":class: review-table sortable"]
    assert md.rstrip().endswith(":::")
    assert tables.markdown_table(["a"], [["1"]]).startswith("| a |")       # no caption: a plain table
    with pytest.raises(ValueError, match="needs a caption"):
        tables.markdown_table(["a"], [["1"]], name="tbl-x")
    with pytest.raises(ValueError, match="row 1 has 2 cells for 1 columns"):
        tables.markdown_table(["a"], [["1", "2"]])


def test_text_from_the_data_is_escaped_and_numbers_are_not():
    frame = pd.DataFrame({"trial": ["*Smith* `2001` | [x](javascript:alert(1))"], "k": [4]})
    table = tables.frame_table(frame, caption="Trials", name="tbl-trials")
    cells = rows_of(table.markdown)[2]
    assert cells[0].startswith("\\*Smith\\* \\`2001\\` \\| \\[x\\]")
    assert cells[1] == "4"
    assert "<script" not in table.html and "&lt;" not in cells[0]


def fitted(k=3):
    return rma(np.linspace(0.1, 0.3, k), np.full(k, 0.02), labels=[f"Trial {i}" for i in range(k)])


def test_a_figure_block_is_numbered_described_at_natural_size_and_downloadable(tmp_path):
    fig = figures.forest(fitted())
    description, width_in = fig.get_label(), fig.get_size_inches()[0]
    block = figure_block(fig, tmp_path / "figs" / "forest.svg", name="fig-forest-x", caption="A forest plot.",
                         page_dir=tmp_path, downloads=True)
    lines = block.markdown.splitlines()
    assert lines[0] == ":::{figure} figs/forest.svg"
    assert ":name: fig-forest-x" in lines and f":alt: {description}" in lines
    assert f":width: {round(width_in * 96)}px" in lines
    assert "{download}`SVG <figs/forest.svg>`" in block.markdown and "{download}`PDF <figs/forest.pdf>`" in block.markdown
    assert (tmp_path / "figs" / "forest.svg").read_bytes().startswith(b"<?xml")
    assert (tmp_path / "figs" / "forest.pdf").read_bytes().startswith(b"%PDF")
    assert f'alt="{description}"'.replace("'", "&#x27;") in block.html and 'src="figs/forest.svg"' in block.html


def test_a_figure_file_is_rewritten_only_when_it_changes(tmp_path):
    path = tmp_path / "funnel.svg"
    figure_block(figures.funnel(fitted(5)), path, name="fig-a", caption="c", page_dir=tmp_path)
    first = path.stat().st_mtime_ns
    figure_block(figures.funnel(fitted(5)), path, name="fig-a", caption="c", page_dir=tmp_path)
    assert path.stat().st_mtime_ns == first
    figure_block(figures.funnel(fitted(6)), path, name="fig-a", caption="c", page_dir=tmp_path)
    assert path.stat().st_mtime_ns != first


def test_a_figure_in_a_notebook_is_an_svg_with_its_description():
    fig = figures.forest(fitted())
    html = fig._repr_html_()
    assert html == figures.forest(fitted())._repr_html_()            # byte-identical
    assert re.search(r'alt="Forest plot of 3 studies; pooled Hedges&#x27; g', html)
    assert 'src="data:image/svg+xml;base64,' in html and f'width="{round(fig.get_size_inches()[0] * 96)}"' in html
