"""What every generated page uses: where pages and figures go, Markdown and HTML tables, saving figures.

Text from the data is escaped (``analysis.chapter.render.md_escape`` for Markdown, ``html.escape``
in HTML tables): it is shown, never interpreted as markup. Files are rewritten only when their
content changes, so Sphinx re-reads only what changed.
"""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from analysis import figures
from analysis.dataset.files import write_if_changed

GENERATED = Path("chapters/generated")


FIGURES = GENERATED / "figures"
#: Files copied to the root of the built book (the Atom feed).
EXTRA = GENERATED / "extra"


def save_figure(fig, path: Path) -> None:
    tmp = path.with_name(path.stem + ".new" + path.suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    figures.save(fig, tmp)
    write_if_changed(path, tmp.read_bytes())
    tmp.unlink()


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def html_table(frame: pd.DataFrame, css_class: str = "sortable") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(f"<td>{'' if pd.isna(v) else html.escape(str(v))}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    return (f'<table class="{css_class} table">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(body) + "\n</tbody>\n</table>")
