"""Generated pages of the book: overview tables, figures and the changelog.

The overview pages (home summary, included studies, evidence map, reproducibility, what's new,
data) are Markdown written from the results and the dataset, so that they need no notebook kernel;
each page has its own module here, and :func:`write_pages` writes them all with ``_toc.yml``.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from analysis.book import changelog
from analysis.book.pages.common import FIGURES, GENERATED
from analysis.book.pages.data_page import citation_md, curation_md, downloads_md, schema_md
from analysis.book.pages.evidence import evidence_map_md
from analysis.book.pages.home import home_md, pdf_md
from analysis.book.pages.methods import conventions_md
from analysis.book.pages.reproducibility import reproducibility_md
from analysis.book.pages.studies import included_studies_md
from analysis.book.pages.whats_new import whats_new_md
from analysis.dataset.files import write_if_changed


def toc(domains: list[dict], learn: list[str] = ()) -> str:
    """``_toc.yml`` of the book.

    One chapter per domain of ``data/domains.yml``, then the Learn chapters
    (``chapters/learn/*.ipynb``, executed into ``chapters/generated/learn/``).

    Chapters are numbered across the parts (the home page is not), to depth 1: figures and tables
    are numbered per chapter ("Figure 4.2"); section headings keep their plain titles.
    """
    spec = {
        "format": "jb-book",
        "root": "chapters/index",
        "parts": [
            {"caption": "The review", "numbered": 1, "chapters": [
                {"file": "chapters/methods"},
                {"file": "chapters/generated/included-studies"},
            ]},
            {"caption": "Results by outcome", "numbered": 1, "chapters": [
                {"file": f"chapters/domains/{d['id']}"} for d in domains]},
            {"caption": "Context and checks", "numbered": 1, "chapters": [
                {"file": "chapters/generated/evidence-map"},
                {"file": "chapters/generated/reproducibility"},
                {"file": "chapters/generated/whats-new"},
                {"file": "chapters/data"},
                {"file": "chapters/references"},
            ]},
        ],
    }
    if learn:
        spec["parts"].insert(2, {"caption": "Learn: evidence synthesis with this review's data", "numbered": 1,
                                 "chapters": [
            {"file": f"chapters/generated/learn/{name}"} for name in learn]})
    header = "# Generated from data/domains.yml by `python -m analysis build`; do not edit by hand.\n"
    return header + yaml.safe_dump(spec, sort_keys=False)


def write_pages(ds, domain_results: dict, reproduction: list, root: Path, results_dir: Path,
                data_dir: Path, learn: list[str] = (), pdf: str | None = None) -> dict:
    """Write every generated page, figure, ``_toc.yml`` and ``changes.json``; returns the changes.

    ``pdf``: file name of the review's PDF at the root of the published book (the home page links
    it), or None when this build makes no PDF (the home page says so).
    """
    root = Path(root)
    gen = root / GENERATED
    fig_dir = root / FIGURES
    package = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    flow_path = data_dir / "search_flow.json"
    flow = json.loads(flow_path.read_text(encoding="utf-8")) if flow_path.exists() else None

    write_if_changed(root / "_toc.yml", toc(ds.domains, learn))
    write_if_changed(gen / "home.md", home_md(ds, domain_results))
    write_if_changed(gen / "pdf.md", pdf_md(pdf))
    write_if_changed(gen / "conventions.md", conventions_md())
    write_if_changed(gen / "included-studies.md", included_studies_md(ds, flow, fig_dir, gen))
    write_if_changed(gen / "evidence-map.md", evidence_map_md(ds, fig_dir, gen))
    write_if_changed(gen / "reproducibility.md", reproducibility_md(reproduction))
    write_if_changed(gen / "schema.md", schema_md(package))
    write_if_changed(gen / "downloads.md", downloads_md(package, data_dir))
    write_if_changed(gen / "curation.md", curation_md(ds))
    write_if_changed(gen / "citation.md", citation_md(ds, package))

    new = changelog.snapshot(ds, domain_results)
    changes = changelog.diff(changelog.load_snapshot(data_dir), new)
    history_path = data_dir / changelog.HISTORY
    history = history_path.read_text(encoding="utf-8") if history_path.exists() else None
    write_if_changed(gen / "whats-new.md", whats_new_md(changes, history))
    (results_dir / "changes.json").write_text(json.dumps(changes, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return changes
