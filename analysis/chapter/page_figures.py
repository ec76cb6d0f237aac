"""A figure on a page of the book: an SVG file beside the page and a numbered MyST ``{figure}``.

:func:`figure_block` writes the figure as SVG (text drawn as paths: byte-identical files for
identical figures, :func:`analysis.figures.save`) and, for figures readers take away (forest
plots), as PDF, and returns a :class:`PageFigure` whose Markdown is a ``{figure}`` directive:

- numbered per chapter ("Figure 4.2") and labelled (``name``), so that the text can refer to it
  with ``{numref}``;
- alternative text = the figure's own one-sentence description (what it shows, k, the pooled
  estimate), never a file path;
- shown at its natural size (``:width:``; the SVG is not scaled down, so its text stays at least
  10 CSS pixels: ``analysis.figures.style.MIN_FONT_SIZE``), in a box that scrolls sideways when
  the column is narrower; wide figures use the page's margin on wide screens and a landscape
  page on paper (``chapters/_static/review.css``);
- selecting the image opens the file full size (Sphinx links a sized image to its file);
- download links for the SVG and PDF files.

The HTML twin (``_repr_html_``) shows the same file in JupyterLab, where MyST is not rendered.
"""
from __future__ import annotations

import html
import os
from pathlib import Path

from analysis import figures
from analysis.dataset.files import write_if_changed
from analysis.figures.style import natural_width_px

#: A figure wider than this (CSS px) takes the page's right margin on wide screens (the article
#: column of the book theme is 768 px wide in a 1400-px window) and a landscape page in print.
COLUMN_PX = 720


class PageFigure:
    """One or more figures as MyST Markdown (the book) and HTML (JupyterLab)."""

    def __init__(self, markdown: str, html_text: str, files: list[Path] = ()):
        self.markdown = markdown
        self.html = html_text
        self.files = list(files)

    def _repr_markdown_(self) -> str:
        return self.markdown

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.markdown

    def __add__(self, other: PageFigure) -> PageFigure:
        return PageFigure(self.markdown + "\n" + other.markdown, self.html + other.html, self.files + other.files)


def _write(fig, path: Path) -> Path:
    """Save reproducibly; the file is rewritten only when its bytes change (Sphinx re-reads less)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".new" + path.suffix)
    figures.save(fig, tmp)
    write_if_changed(path, tmp.read_bytes())
    tmp.unlink()
    return path


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def figure_block(fig, path, *, name: str, caption: str, page_dir=".", downloads: bool = False,
                 legend: str = "") -> PageFigure:
    """Write ``fig`` to ``path`` (``.svg``; with ``downloads`` also ``.pdf``) and return its block.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure of :mod:`analysis.figures`; its label (one sentence) becomes the alternative text.
    path : path-like
        The SVG file to write (its ``.pdf`` sibling too with ``downloads``).
    name : str
        The figure's label and element id (``{numref}`` target).
    caption : str
        Caption (MyST Markdown; text from the data must be escaped by the caller).
    page_dir : path-like
        Directory of the page that shows the figure: links are relative to it.
    downloads : bool
        Also write a PDF and link both files under the caption.
    legend : str
        Further paragraphs under the caption (Markdown).

    Returns
    -------
    PageFigure
    """
    path = Path(path).with_suffix(".svg")
    alt = _one_line(fig.get_label() or caption)
    width = natural_width_px(fig)
    wide = width > COLUMN_PX
    svg = _write(fig, path)
    files = [svg]
    if downloads:
        files.append(_write(fig, path.with_suffix(".pdf")))
    link = Path(os.path.relpath(svg, page_dir)).as_posix()
    classes = "review-figure" + (" full-width wide-figure" if wide else "")
    body = [_one_line(caption)]
    if legend:
        body.append(legend.strip())
    if downloads:
        pdf = Path(link).with_suffix(".pdf").as_posix()
        body.append(f"Download this figure: {{download}}`SVG <{link}>`, {{download}}`PDF <{pdf}>`.")
    markdown = (f":::{{figure}} {link}\n:name: {name}\n:alt: {alt}\n:width: {width}px\n:figclass: {classes}\n\n"
                + "\n\n".join(body) + "\n:::\n")
    # the file, not its bytes: a notebook that embedded every page of a large forest plot would
    # weigh tens of MB and the book's build would hold them all in memory
    html_text = (f'<figure id="{html.escape(name)}"><img alt="{html.escape(alt)}" width="{width}" '
                 f'src="{html.escape(link)}"><figcaption>{html.escape(_one_line(caption))}'
                 "</figcaption></figure>")
    return PageFigure(markdown, html_text, files)
