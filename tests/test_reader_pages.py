"""The built book as a reader sees it: how current and complete the evidence is, what it shows,
the front matter whose findings rest on checked premises, the glossary, earlier reviews shown
oriented, and the machine-readable summary of findings (the session's build, conftest.built_book).
"""
from __future__ import annotations

import csv
import hashlib
import json
import re

import pytest
from bs4 import BeautifulSoup

from analysis import dataset
from analysis.book.pages.currency import review_numbers
from analysis.book.pages.front import PAGES as FRONT_PAGES
from analysis.chapter import conclusions

from conftest import build, copy_built, results

pytestmark = pytest.mark.slow

#: Glossary entries a reader needs explained: the phrases that name them and their anchors.
TERMS = {
    "prediction interval": (("prediction interval",), ("term-prediction-interval",)),
    "standardised mean difference": (("SMD", "standardised mean difference"),
                                     ("term-SMD", "term-standardised-mean-difference")),
    "minimally important difference": (("minimally important difference",),
                                       ("term-minimally-important-difference", "term-MID")),
    "Q-profile": (("Q-profile",), ("term-Q-profile",)),
    "Hartung-Knapp-Sidik-Jonkman": (("Hartung-Knapp-Sidik-Jonkman",),
                                    ("term-Hartung-Knapp-Sidik-Jonkman", "term-HKSJ", "term-Knapp-Hartung")),
    "REML": (("REML", "restricted maximum likelihood"), ("term-REML", "term-restricted-maximum-likelihood")),
    "GRADE": (("GRADE",), ("term-GRADE",)),
    "risk of bias": (("risk of bias",), ("term-risk-of-bias", "term-RoB-2")),
    "Egger's test": (("Egger's test",), ("term-Egger-s-test",)),
    "trim-and-fill": (("trim-and-fill",), ("term-trim-and-fill",)),
    "funnel plot": (("funnel plot",), ("term-funnel-plot",)),
    "AMSTAR 2": (("AMSTAR 2",), ("term-AMSTAR-2",)),
    "certainty of the evidence": (("certainty of the evidence",), ("term-certainty-of-the-evidence",)),
}


def _soup(path):
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _article(path):
    return _soup(path).find("article")


def _text(node) -> str:
    return " ".join(node.get_text().split())


def _html(book):
    return book / "_build" / "html"


def test_first_screen_says_how_current_and_complete_and_what_it_shows(built_book):
    review = results(built_book, "review")
    n = review_numbers(review["currency"])
    article = _article(_html(built_book) / "chapters" / "index.html")
    # the first block after the title is the review at a glance
    title = article.find("h1")
    box = title.find_next(class_="admonition")
    assert box is not None and "The review at a glance" in _text(box)
    assert title.find_next(["p", "div", "table"]) in box.descendants or title.find_next("div") is box
    words = _text(box)
    assert f"last systematic search for trials was on {n['last_search']}" in words
    assert f"updated on {n['last_update']}" in words
    assert f"{n['trials_with_data']} of the {n['trials_known']} trials" in words
    assert f"{n['trials_awaiting']} ({n['awaiting_percent']}) are awaiting data extraction" in words
    assert "end of the intervention" in words and "What it shows." in words
    sof = results(built_book, "summary_of_findings")["rows"]
    parents = review["parents"]
    for row in sof:
        if not parents[row["domain"]]:
            assert row["statement"][:-1] in words, row["domain"]
    # no statistical notation in the box: a non-statistician reads it
    assert not re.search(r"\b(SMD|CI|I²|tau|p =)\b", words)


def test_every_key_message_states_currency_completeness_and_coverage(built_book):
    n = review_numbers(results(built_book, "review")["currency"])
    for domain in dataset.load(built_book / "data").domains:
        article = _article(_html(built_book) / "chapters" / "domains" / f"{domain['id']}.html")
        heading = article.find(id="key-message")
        section = _text(heading)
        for fact in (f"Last search for trials: {n['last_search']}", f"Last update: {n['last_update']}",
                     f"{n['trials_awaiting']} of the {n['trials_known']} trials", "end of the intervention"):
            assert fact in section, (domain["id"], fact)
        res = results(built_book, domain["id"])
        assert res["summary_of_findings"]["statement"] in section


def test_summary_of_findings_json_and_csv(built_book):
    sof = results(built_book, "summary_of_findings")
    keys = {"time_frame", "instruments", "absolute_effect", "comment", "outcome", "participants", "studies",
            "effect", "certainty", "certainty_label", "footnotes"}
    with (built_book / "_build" / "results" / "summary_of_findings.csv").open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [r["domain"] for r in table] == [r["domain"] for r in sof["rows"]]
    home = _text(_article(_html(built_book) / "chapters" / "index.html"))
    for row, line in zip(sof["rows"], table):
        assert keys <= set(row), row["domain"]
        assert line["certainty"] == row["certainty"] and float(line["estimate"]) == row["effect"]["estimate"]
        assert row["certainty_reason"] in home and row["comment"] in home


def test_front_matter_numbers_are_the_results(built_book):
    res = {d["id"]: results(built_book, d["id"]) for d in dataset.load(built_book / "data").domains}
    n = review_numbers(results(built_book, "review")["currency"])
    for name in FRONT_PAGES:
        page = _text(_article(_html(built_book) / "chapters" / "generated" / f"{name}.html"))
        assert "{{" not in page and "{finding}" not in page and ":domain:" not in page, name
        source = (built_book / "chapters" / "front" / f"{name}.md").read_text(encoding="utf-8")
        for scope, key in re.findall(r"\{\{\s*([a-z0-9-]+)\.([a-z_]+)\s*\}\}", source):
            value = n[key] if scope == "review" else conclusions.domain_numbers(res[scope])[key]
            assert value.replace("\\", "") in page, (name, scope, key, value)
    cite = _text(_article(_html(built_book) / "chapters" / "generated" / "how-to-cite.html"))
    assert f"Version {n['version']}" in cite and "peer-support-review.github.io" in cite


def test_a_changed_premise_stops_the_build_and_names_the_sentence(built_book, tmp_path):
    # an update changes the review team's judgement: depression is no longer rated down for
    # indirectness, so its certainty rises from very low to low and every hand-written finding that
    # rests on "very low" no longer holds
    root = copy_built(built_book, tmp_path / "review")
    grade_yml = root / "data" / "grade.yml"
    text = grade_yml.read_text(encoding="utf-8")
    block = text[text.index("\ndepression:"):text.index("\nglobal-symptoms:")]
    changed = block.replace("  indirectness:\n    downgrade: 1", "  indirectness:\n    downgrade: 0")
    assert changed != block
    grade_yml.write_text(text.replace(block, changed), encoding="utf-8")
    html = _html(root)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in html.rglob("*.html")}
    proc = build(root)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    message = proc.stderr
    assert "a hand-written finding no longer holds" in message
    assert re.search(r"chapters/front/abstract\.md:\d+: the finding \"For depression the evidence is very uncertain",
                     message), message
    assert "rests on the premise certainty = very low for depression, but the analysis now gives low" in message
    assert "the published book and results were left unchanged" in message
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in html.rglob("*.html")} == before


def _first_use_is_linked(article, phrases: tuple[str, ...], anchors: tuple[str, ...]) -> bool | None:
    """None when the page does not use the term; else whether its first use in the reader's text
    (any of its phrases; headings and collapsed sections for reviewers left out) links to the
    glossary."""
    patterns = [re.compile(r"(?<![\w-])" + re.escape(p) + r"(?![\w-])", 0 if p[0].isupper() else re.IGNORECASE)
                for p in phrases]
    for node in article.find_all(string=True):
        if not any(p.search(node) for p in patterns):
            continue
        if node.find_parent(["h1", "h2", "h3", "h4", "details", "script", "style", "code", "pre"]):
            continue
        link = node.find_parent("a")
        return bool(link and any(link.get("href", "").endswith(f"glossary.html#{a}") for a in anchors))
    return None


@pytest.mark.parametrize("page", ["chapters/index.html", "chapters/generated/abstract.html",
                                  "chapters/generated/evidence-map.html", "chapters/domains/depression.html",
                                  "chapters/domains/personal-recovery.html"])
def test_technical_terms_link_to_the_glossary_where_a_page_first_uses_them(built_book, page):
    article = _article(_html(built_book) / page)
    unlinked = [term for term, (phrases, anchors) in TERMS.items()
                if _first_use_is_linked(article, phrases, anchors) is False]
    assert not unlinked, (page, unlinked)


def test_reader_pages_keep_maintainer_detail_collapsed(built_book):
    for domain in dataset.load(built_book / "data").domains:
        article = _article(_html(built_book) / "chapters" / "domains" / f"{domain['id']}.html")
        visible = article.__copy__()
        for hidden in visible.find_all("details"):
            hidden.decompose()
        text = _text(visible)
        for detail in ("data.csv:", "preset", ".g_se", "L0 estimator", "rule: "):
            assert detail not in text, (domain["id"], detail)
        # 14-digit numbers never reach the reader's text
        assert not re.search(r"\d\.\d{8,}", text), domain["id"]


def test_evidence_map_page_orients_names_and_lists_only_real_inconsistencies(built_book):
    article = _article(_html(built_book) / "chapters" / "generated" / "evidence-map.html")
    tables = article.find_all("table")
    results_table, inconsistencies = tables[0], tables[-1]
    header = _text(results_table.find("thead"))
    assert "positive favours peer support" in header and "as printed" in header and "measure" in header
    assert "printed direction" in header
    for tr in results_table.find("tbody").find_all("tr"):
        cells = [_text(td) for td in tr.find_all("td")]
        assert all(cells[i] for i in (0, 1, 5, 6, 7, 8)), cells
        assert not re.fullmatch(r"[a-z0-9]+\d{4}", cells[1]), cells[1]        # a review name, not a key
    ds = dataset.load(built_book / "data")
    flagged = ds.published[ds.published["inconsistency"].fillna(False).astype(bool)]
    rows = inconsistencies.find("tbody").find_all("tr")
    assert len(rows) == len(flagged)
    assert all(_text(tr.find_all("td")[-1]) for tr in rows)


def test_results_files_of_the_review(built_book):
    review = json.loads((built_book / "_build" / "results" / "review.json").read_text(encoding="utf-8"))
    ds = dataset.load(built_book / "data")
    assert review["currency"]["trials_known"] == len(ds.studies)
    assert set(review["parents"]) == {d["id"] for d in ds.domains}
