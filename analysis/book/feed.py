"""An Atom feed of the review's releases and conclusion changes (``_build/html/feed.xml``).

Readers who want alerts subscribe to it: one entry per release (from ``data/CHANGELOG.md``), and
one per domain whose conclusion changed since the last release (from the build's changes). The
feed is written deterministically (ids are tag URIs, dates come from the data), so two builds of
the same data write the same file.
"""
from __future__ import annotations

import re
from xml.sax.saxutils import escape

#: Tag URI authority of the review's ids (RFC 4151).
TAG = "tag:peer-support-living-review.org,2026"
_RELEASE = re.compile(r"^## (\S+) \((\d{4}-\d{2}-\d{2})\)\s*$", re.M)


def releases(history: str | None) -> list[dict]:
    """The releases of ``CHANGELOG.md``: version, date and the text of each entry, newest first."""
    if not history:
        return []
    matches = list(_RELEASE.finditer(history))
    out = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(history)
        out.append({"version": m.group(1), "date": m.group(2), "text": history[m.end():end].strip()})
    return out


def _entry(entry_id: str, title: str, date: str, link: str, summary: str) -> str:
    return (f"  <entry>\n    <id>{escape(entry_id)}</id>\n    <title>{escape(title)}</title>\n"
            f"    <updated>{date}T00:00:00Z</updated>\n    <link href=\"{escape(link)}\"/>\n"
            f"    <summary>{escape(summary)}</summary>\n  </entry>\n")


def atom_feed(title: str, history: str | None, changes: dict, updated: str) -> str:
    """The Atom document: an entry per domain whose conclusion changed, then one per release.

    ``updated`` is the date of the data's last change or release (YYYY-MM-DD); links are relative
    to the book's root, where the feed is published.
    """
    entries = []
    for d in changes.get("domains", []):
        if d.get("conclusion_change"):
            name = d.get("title") or d["domain"]
            entries.append(_entry(f"{TAG}:conclusion:{d['domain']}:{updated}", f"Conclusion changed: {name}",
                                  updated, f"chapters/domains/{d['domain']}.html",
                                  "; ".join(d["conclusion_change"]) + f" (since release {changes.get('since')})"))
    for r in releases(history):
        entries.append(_entry(f"{TAG}:release:{r['version']}", f"Release {r['version']}", r["date"],
                              "chapters/generated/whats-new.html", r["text"]))
    latest = max([updated] + [r["date"] for r in releases(history)])
    return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
            "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n"
            f"  <id>{TAG}:feed</id>\n  <title>{escape(title)}: releases and conclusion changes</title>\n"
            f"  <updated>{latest}T00:00:00Z</updated>\n  <link rel=\"self\" href=\"feed.xml\"/>\n"
            "  <link href=\"index.html\"/>\n  <author><name>The peer-support living review team</name></author>\n"
            + "".join(entries) + "</feed>\n")
