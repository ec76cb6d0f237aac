"""Generated pages of the book: overview tables, figures and the changelog.

The overview pages (home summary, included studies, evidence map, reproducibility, what's new,
data) are Markdown written from the results and the dataset, so that they need no notebook kernel;
each page has its own module here, and :func:`write_pages` writes them all with ``_toc.yml``.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from analysis.book import changelog, citation, feed
from analysis.book.engine_reference import engine_reference_md
from analysis.book.pages.awaiting import awaiting_md
from analysis.book.pages.characteristics import characteristics_md
from analysis.book.pages.common import EXTRA, FIGURES, GENERATED
from analysis.book.pages.currency import at_a_glance_md, currency, currency_md, long_date, review_numbers
from analysis.book.pages.data_page import citation_md, curation_md, downloads_md, schema_md
from analysis.book.pages.earlier_reviews import earlier_reviews_md
from analysis.book.pages.evidence import evidence_map_md
from analysis.book.pages.front import PAGES as FRONT_PAGES
from analysis.book.pages.front import FrontMatterError, front_matter
from analysis.book.pages.home import ds_updated, home_md, main_findings, pdf_md
from analysis.book.pages.implementation import implementation_md
from analysis.book.pages.methods import conventions_md
from analysis.book.pages.reproducibility import reproducibility_md
from analysis.book.pages.studies import included_studies_md
from analysis.book.pages.whats_new import whats_new_md
from analysis.chapter.conclusions import parent_domains
from analysis.dataset.files import write_if_changed

__all__ = ["toc", "write_pages", "FrontMatterError"]


def toc(domains: list[dict], learn: list[str] = ()) -> str:
    """``_toc.yml`` of the book.

    The front matter (not numbered), the chapters of the review and one chapter per domain of
    ``data/domains.yml``, then the Learn part (its landing page ``chapters/learn/index.md``, the Learn
    chapters ``chapters/learn/*.ipynb`` executed into ``chapters/generated/learn/``, and the reading
    list ``chapters/learn/reading.md``), the earlier reviews' questions, context and checks, and the
    appendix.

    Chapters are numbered across the parts (the home page and the front matter are not), to depth 1:
    figures and tables are numbered per chapter ("Figure 4.2"); section headings keep their plain titles.
    """
    spec = {
        "format": "jb-book",
        "root": "chapters/index",
        "parts": [
            {"caption": "The review in brief", "chapters": [
                *({"file": f"chapters/generated/{name}"} for name in FRONT_PAGES),
                {"file": "chapters/generated/how-to-cite"},
            ]},
            {"caption": "The review", "numbered": 1, "chapters": [
                {"file": "chapters/methods"},
                {"file": "chapters/generated/included-studies"},
                {"file": "chapters/generated/study-characteristics"},
                {"file": "chapters/generated/awaiting"},
            ]},
            {"caption": "Results by outcome", "numbered": 1, "chapters": [
                {"file": f"chapters/domains/{d['id']}"} for d in domains]},
            {"caption": "The earlier reviews' questions", "numbered": 1, "chapters": [
                {"file": "chapters/generated/earlier-reviews"},
                {"file": "chapters/generated/implementation"},
            ]},
            {"caption": "Context and checks", "numbered": 1, "chapters": [
                {"file": "chapters/generated/evidence-map"},
                {"file": "chapters/generated/reproducibility"},
                {"file": "chapters/generated/whats-new"},
                {"file": "chapters/data"},
                {"file": "chapters/references"},
                {"file": "chapters/glossary"},
            ]},
            {"caption": "Appendix", "chapters": [{"file": "chapters/generated/engine-reference"}]},
        ],
    }
    if learn:
        spec["parts"].insert(3, {"caption": "Learn: evidence synthesis with this review's data", "numbered": 1,
                                 "chapters": [
            {"file": "chapters/learn/index"},
            *({"file": f"chapters/generated/learn/{name}"} for name in learn),
            {"file": "chapters/learn/reading"}]})
    header = "# Generated from data/domains.yml by `python -m analysis build`; do not edit by hand.\n"
    return header + yaml.safe_dump(spec, sort_keys=False)


def write_pages(ds, domain_results: dict, reproduction: list, root: Path, results_dir: Path,
                data_dir: Path, learn: list[str] = (), earlier_reviews: list | None = None,
                implementation: dict | None = None, pdf: str | None = None) -> dict:
    """Write every generated page, figure, ``_toc.yml`` and ``changes.json``; returns the changes.

    ``earlier_reviews`` and ``implementation`` are the results of
    :func:`analysis.chapter.earlier_reviews` and :func:`analysis.chapter.findings.implementation_summary`
    (``earlier_reviews.json``, ``implementation.json``); their pages are written from them.
    ``pdf``: file name of the review's PDF at the root of the published book (the home page links
    it), or None when this build makes no PDF (the home page says so).
    """
    root = Path(root)
    gen = root / GENERATED
    fig_dir = root / FIGURES
    package = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    flow_path = data_dir / "search_flow.json"
    flow = json.loads(flow_path.read_text(encoding="utf-8")) if flow_path.exists() else None

    parents = parent_domains(ds)
    cur = currency(ds, flow, ds_updated(ds))
    review = review_numbers(cur)
    front = front_matter(root, domain_results, review)      # raises FrontMatterError before anything is written
    (results_dir / "review.json").write_text(json.dumps({"currency": cur, "parents": parents}, indent=1,
                                                        sort_keys=True) + "\n", encoding="utf-8")
    write_if_changed(root / "_toc.yml", toc(ds.domains, learn))
    write_if_changed(gen / "at-a-glance.md", at_a_glance_md(cur, *main_findings(
        ds, domain_results, parents, "at the end of the intervention" if cur["only_post"] else
        "when the trials measured them")))
    write_if_changed(gen / "currency.md", currency_md(cur))
    write_if_changed(gen / "home.md", home_md(ds, domain_results))
    for name, text in front.items():
        write_if_changed(gen / f"{name}.md", text)
    write_if_changed(gen / "how-to-cite.md", citation.how_to_cite_md(citation.read_citation(root), cur["last_update"],
                                                                     long_date))
    write_if_changed(gen / "pdf.md", pdf_md(pdf))
    write_if_changed(gen / "conventions.md", conventions_md())
    write_if_changed(gen / "included-studies.md", included_studies_md(ds, flow, fig_dir, gen))
    write_if_changed(gen / "evidence-map.md", evidence_map_md(ds, fig_dir, gen))
    write_if_changed(gen / "reproducibility.md", reproducibility_md(reproduction))
    write_if_changed(gen / "schema.md", schema_md(package))
    write_if_changed(gen / "downloads.md", downloads_md(package, data_dir))
    write_if_changed(gen / "curation.md", curation_md(ds))
    write_if_changed(gen / "citation.md", citation_md(ds, package))
    write_if_changed(gen / "study-characteristics.md", characteristics_md(ds))
    write_if_changed(gen / "awaiting.md", awaiting_md(ds))
    write_if_changed(gen / "earlier-reviews.md", earlier_reviews_md(earlier_reviews or [], ds))
    if implementation is not None:
        write_if_changed(gen / "implementation.md", implementation_md(implementation, fig_dir, gen))
    write_if_changed(gen / "engine-reference.md", engine_reference_md())

    new = changelog.snapshot(ds, domain_results)
    changes = changelog.diff(changelog.load_snapshot(data_dir), new)
    history_path = data_dir / changelog.HISTORY
    history = history_path.read_text(encoding="utf-8") if history_path.exists() else None
    write_if_changed(gen / "whats-new.md", whats_new_md(changes, history))
    (results_dir / "changes.json").write_text(json.dumps(changes, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    # published at the book's root by Sphinx (html_extra_path in _config.yml)
    write_if_changed(root / EXTRA / "feed.xml", feed.atom_feed(package.get("title", "Peer support for mental health"),
                                                              history, changes, ds_updated(ds)))
    return changes
