"""How to cite the review: ``CITATION.cff`` and ``.zenodo.json`` at the top of the repository.

Both carry the title, the version (the dataset version of ``data/datapackage.json``) and the date
of the release; :func:`stamp` writes the version and date into both at a release
(``python -m analysis release``), so that they never disagree with the data. The "How to cite"
page is generated from ``CITATION.cff`` (:func:`how_to_cite_md`).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from analysis.chapter.render import md_escape
from analysis.dataset.files import atomic_write

CFF = "CITATION.cff"
ZENODO = ".zenodo.json"


class CitationError(ValueError):
    """CITATION.cff is missing or lacks a field the review needs."""


def read_citation(root: Path) -> dict:
    """``CITATION.cff`` of the repository at ``root`` (title, version, date-released, authors, url)."""
    path = Path(root) / CFF
    if not path.exists():
        raise CitationError(f"{path}: missing (the review's citation lives there)")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for key in ("title", "version", "date-released", "authors", "url"):
        if not data.get(key):
            raise CitationError(f"{path}: no '{key}'")
    return data


def stamp(root: Path, version: str, date: str) -> list[Path]:
    """Write ``version`` and the release ``date`` into CITATION.cff and .zenodo.json.

    Only the files that exist under ``root`` are written; returns them. Comments and order of the
    CFF are kept.
    """
    written = []
    cff = Path(root) / CFF
    if cff.exists():
        text = cff.read_text(encoding="utf-8")
        text = re.sub(r"(?m)^version:.*$", f"version: {version}", text)
        text = re.sub(r"(?m)^date-released:.*$", f"date-released: {date}", text)
        atomic_write(cff, text)
        written.append(cff)
    zenodo = Path(root) / ZENODO
    if zenodo.exists():
        data = json.loads(zenodo.read_text(encoding="utf-8"))
        data["version"], data["publication_date"] = version, date
        atomic_write(zenodo, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        written.append(zenodo)
    return written


def _authors(citation: dict) -> str:
    names = []
    for a in citation["authors"]:
        if a.get("name"):
            names.append(a["name"])
        else:
            names.append(f"{a.get('family-names', '')} {''.join(p[0] for p in str(a.get('given-names', '')).split())}")
    return ", ".join(n.strip() for n in names)


def citation_text(citation: dict) -> str:
    """The citation in one line (plain text)."""
    return (f"{_authors(citation)}. {citation['title']}. Version {citation['version']} "
            f"({citation['date-released']}). {citation['url']}")


def how_to_cite_md(citation: dict, updated: str, long_date) -> str:
    """The "How to cite this review" page."""
    version, released = str(citation["version"]), str(citation["date-released"])
    key = "peersupportlivingreview" + version.replace(".", "")
    bibtex = (f"@misc{{{key},\n  author = {{{{{_authors(citation)}}}}},\n  title = {{{citation['title']}}},\n"
              f"  version = {{{version}}},\n  year = {{{released[:4]}}},\n  date = {{{released}}},\n"
              f"  url = {{{citation['url']}}}\n}}")
    return "\n".join([
        "# How to cite this review\n",
        "Cite the version you used: the review is updated as new trials are extracted, and each release has its "
        "own version number (the version of its dataset).\n",
        f"> {md_escape(_authors(citation))}. *{md_escape(citation['title'])}*. Version {md_escape(version)}, "
        f"released {md_escape(long_date(released))}. <{citation['url']}>\n",
        f"| | |\n|---|---|\n| Title | {md_escape(citation['title'])} |\n| Version | {md_escape(version)} |\n"
        f"| Released | {md_escape(long_date(released))} |\n| Last updated | {md_escape(long_date(updated))} |\n"
        f"| Web address | <{citation['url']}> |\n| Source code and data | <{citation.get('repository-code', '')}> |\n",
        "BibTeX:\n",
        "```bibtex\n" + bibtex + "\n```\n",
        "The repository's `CITATION.cff` (read by GitHub's \"Cite this repository\") and `.zenodo.json` (read "
        "when a release is archived on Zenodo) carry the same title, version and date.\n",
        "## Data from other sources\n",
        "The part of the dataset derived from the Metapsy peer-support database is licensed under the Open Data "
        "Commons Attribution License (ODC-By 1.0). When you use it, cite the database "
        "(doi:[10.5281/zenodo.7687898](https://doi.org/10.5281/zenodo.7687898)) and Smit et al. "
        "{cite:p}`smit2022`.\n",
    ])
