"""What's new: the changes since the last release and the release history."""
from __future__ import annotations

from analysis.book import changelog
from analysis.chapter.render import md_escape


def whats_new_md(changes: dict, history: str | None) -> str:
    """The What's-new page (Markdown): the changes since the last release, then the release history.

    Parameters
    ----------
    changes : dict
        The differences between the last release's snapshot and the current state
        (:func:`analysis.book.changelog.diff`); without a release, every trial is new.
    history : str or None
        The release history (``CHANGELOG.md`` of the data directory), None when there is none. A
        leading title line (``# ...``) is dropped and the release headings (``## ...``) become
        ``### ...``, under the page's "Release history".

    Returns
    -------
    str
        The page; chapter links are relative to ``chapters/generated/``, where it is written.
    """
    since = changes.get("since")
    parts = ["# What's new\n",
             "Every change to the data since the last release, by kind, and the outcomes whose results moved "
             "(conclusion changes first). Subscribe to releases and conclusion changes with the "
             '<a href="../../feed.xml">Atom feed</a>.\n']
    if since:
        parts.append(f"## Changes since release {md_escape(since)}\n")
        # whats-new.md is in chapters/generated/: a chapter's link is relative to it
        parts.append(changelog.changes_md(changes, link=lambda domain_id: f"../domains/{domain_id}.ipynb"))
    else:
        parts.append("No release snapshot yet: every trial is new.\n")
    if history:
        parts.append("## Release history\n")
        body = history.split("\n", 1)[1] if history.startswith("# ") else history
        parts.append(body.replace("\n## ", "\n### ").replace("## ", "### ", 1) if body.startswith("## ") else body)
    return "\n".join(parts)
