"""What every generated page uses: where pages and figures go, tables, saving figures.

Text from the data is escaped (``analysis.chapter.render.md_escape``): it is shown, never
interpreted as markup. Tables are rendered by :mod:`analysis.chapter.tables` (numbered when they
have a caption). Files are rewritten only when their content changes, so Sphinx re-reads only
what changed.
"""
from __future__ import annotations

from pathlib import Path

from analysis.chapter import tables

GENERATED = Path("chapters/generated")


FIGURES = GENERATED / "figures"
#: Files copied to the root of the built book (the Atom feed).
EXTRA = GENERATED / "extra"


def md_table(header: list[str], rows: list[list], *, caption: str | None = None, name: str | None = None,
             sortable: bool = False) -> str:
    """A table of Markdown cells (see :func:`analysis.chapter.tables.markdown_table`)."""
    return tables.markdown_table(header, rows, caption=caption, name=name, sortable=sortable).rstrip("\n")
