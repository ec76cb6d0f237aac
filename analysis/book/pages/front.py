"""The front matter: abstract, plain-language summary, authors' conclusions, limitations.

Written by hand in ``chapters/front/<page>.md``; every sentence that states a finding sits in a
``finding`` block declaring its premises, and every number is a ``{{ ... }}`` placeholder
(:mod:`analysis.chapter.conclusions`). The build fills the placeholders from the results and
writes ``chapters/generated/<page>.md``; a premise the results contradict, an unknown placeholder
or a result quoted outside a finding block stops the build (:class:`FrontMatterError`).
"""
from __future__ import annotations

from pathlib import Path

from analysis.chapter import conclusions

FRONT = Path("chapters/front")
#: The front-matter pages, in the order of the book.
PAGES = ("abstract", "plain-language-summary", "authors-conclusions", "limitations")


class FrontMatterError(Exception):
    """Problems of the hand-written front matter; ``problems``: one message each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def front_matter(root: Path, domain_results: dict, review: dict[str, str]) -> dict[str, str]:
    """Every front-matter page filled from the results; raises :class:`FrontMatterError`."""
    pages, problems = {}, []
    for name in PAGES:
        label = f"{FRONT.as_posix()}/{name}.md"
        path = Path(root) / FRONT / f"{name}.md"
        if not path.exists():
            problems.append(f"{label}: missing (the front matter is written by hand there)")
            continue
        pages[name], found = conclusions.render_file(path, label, domain_results, review)
        problems += found
    if problems:
        raise FrontMatterError(problems)
    return pages
