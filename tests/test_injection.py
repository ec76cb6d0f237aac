"""Text from the data is shown as text: never markup, never code.

A copy of the session's built book (conftest.built_book) is rebuilt from data whose study label,
instrument name, domain title and description and curation reason carry HTML/JavaScript,
Markdown, MyST roles, LaTeX, quotes and newlines (an incremental rebuild, as after a
maintainer's edit). The HTML must show the payload as inert text: no injected ``<script>``
element, no ``onerror`` attribute, no ``javascript:`` link, and the literal text visible.
Domain ids, the one piece of data that becomes part of a file name and a papermill parameter, are
restricted to ``[a-z0-9-]+`` by the validator; labels reach the chapter notebooks only as data
(never in the source of a code cell).
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis import dataset, figures
from analysis.stats import meta

from conftest import build, copy_built

VALID = Path(__file__).parent / "bad_inputs" / "valid"

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
MARKDOWN = "**bold** [link](javascript:alert(3)) <a href='javascript:alert(4)'>a</a>"
MYST = "{eval-rst}`.. raw:: html` {raw}`html <b>raw</b>` ```{code-cell} python"
LATEX = r"$\input{/etc/passwd}$ \(\alert\)"
QUOTES = "it's \"quoted\" `tick` | pipe # hash"
#: Labels carry everything but LaTeX (drawn in figures: test_dollar_signs_in_labels_are_text).
PAYLOAD = f"{SCRIPT} {IMG} {MARKDOWN} {MYST} {QUOTES}"
TEXT_PAYLOAD = f"{PAYLOAD} {LATEX}"
#: A domain title becomes the page title, which the book theme also prints unescaped in its
#: print-only header: the validator refuses '<' and '>' in titles (test_title_with_markup_is_refused),
#: so the title carries everything else.
TITLE_PAYLOAD = TEXT_PAYLOAD.replace("<", "").replace(">", "")
STUDY = "johnson2018"


#: sphinx-book-theme's print-only page header (``<h1>{{ pagetitle }}</h1>``), checked on its own.
PRINT_HEADER = "jb-print-docs-body"


class Page(HTMLParser):
    """Scripts, attributes, links and visible text of one HTML page; scripts and elements inside
    the theme's print header are kept apart (``print_scripts``, ``print_tags``)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts, self.attrs, self.text, self._in = [], [], [], []
        self.print_scripts, self.print_tags, self._print_depth = [], [], 0

    def handle_starttag(self, tag, attrs):
        if self._print_depth or dict(attrs).get("id") == PRINT_HEADER:
            self._print_depth += tag == "div"
            self.print_tags.append(tag)
            if tag == "script":
                self.print_scripts.append(tag)
            return
        self.attrs += [(tag, k.lower(), v or "") for k, v in attrs]
        if tag in ("script", "style"):
            self._in.append(tag)
            if tag == "script":
                self.scripts.append(dict(attrs).get("src") or "")

    def handle_endtag(self, tag):
        if self._print_depth:
            self._print_depth -= tag == "div"
            return
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, text):
        if self._print_depth:
            return
        if self._in and self._in[-1] == "script":
            self.scripts[-1] += text
        elif not self._in:
            self.text.append(text)


#: Sphinx "smartquotes" typesets straight quotes in text as curly ones; the comparison undoes it.
SMART_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _flat(text: str) -> str:
    """``text`` on one line, whitespace runs collapsed, quotes straightened."""
    return " ".join(text.translate(SMART_QUOTES).split())


def _parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _rewrite_csv(path: Path, change) -> None:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    rows = [change(r) for r in rows]
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _poison(data_dir: Path) -> dict:
    """Put the payloads into the copy's data; return where they went."""
    with (data_dir / "outcomes.csv").open(encoding="utf-8", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["study_id"] == STUDY)
    instrument, category = row["instrument"], row["category"]
    new_instrument = f"INSTRUMENT {PAYLOAD}"

    def study(r):
        if r["study_id"] == STUDY:
            r["label"] = f"LABEL {PAYLOAD}\nsecond line"
        return r

    def outcome(r):
        if r["instrument"] == instrument:
            r["instrument"] = new_instrument
        return r

    def inst(r):
        if r["instrument"] == instrument:
            r["instrument"] = new_instrument
        return r

    def curation(r):
        if r["study_id"] == STUDY:
            r["reason"] = f"REASON {TEXT_PAYLOAD}\nsecond line"
        return r

    _rewrite_csv(data_dir / "studies.csv", study)
    _rewrite_csv(data_dir / "outcomes.csv", outcome)
    _rewrite_csv(data_dir / "instruments.csv", inst)
    _rewrite_csv(data_dir / "curation.csv", curation)
    domains = yaml.safe_load((data_dir / "domains.yml").read_text(encoding="utf-8"))
    domain = next(d for d in domains if d["select"].get("category") == [category])
    domain["title"] = f"TITLE {TITLE_PAYLOAD}"
    domain["description"] = f"DESCRIPTION {TEXT_PAYLOAD}\n\n# not a heading\n"
    (data_dir / "domains.yml").write_text(yaml.safe_dump(domains, allow_unicode=True, sort_keys=False),
                                          encoding="utf-8")
    has_curation = any(r["study_id"] == STUDY for r in csv.DictReader(
        (data_dir / "curation.csv").open(encoding="utf-8", newline="")))
    return {"domain": domain["id"], "curation": has_curation}


@pytest.fixture(scope="module")
def book(built_book, tmp_path_factory):
    root = copy_built(built_book, tmp_path_factory.mktemp("injection") / "review")
    where = _poison(root / "data")
    assert not [i for i in dataset.check(root / "data") if i.severity == "error"]
    proc = build(root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root, where


@pytest.mark.slow
def test_no_markup_from_the_data_is_live(book):
    root, _ = book
    pages = sorted((root / "_build" / "html").rglob("*.html"))
    assert pages
    for path in pages:
        page = _parse(path)
        assert not [s for s in page.scripts if "alert(" in s], path
        # the theme's own buttons have onclick handlers; none may come from the data
        assert not [a for a in page.attrs if a[1] == "onerror" or (a[1].startswith("on") and "alert(" in a[2])], path
        links = [v for tag, k, v in page.attrs if k in ("href", "src") and v.strip().lower().startswith("javascript:")]
        assert not links, (path, links)
        assert not [a for a in page.attrs if a[0] == "img" and a[2] == "x"], path


@pytest.mark.slow
def test_payload_is_visible_as_literal_text(book):
    root, where = book
    html = root / "_build" / "html"
    domain = _flat(" ".join(_parse(html / "chapters" / "domains" / f"{where['domain']}.html").text))
    # the one-line rendering of each payload (newlines become spaces)
    assert _flat(f"TITLE {TITLE_PAYLOAD}") in domain
    assert _flat(f"DESCRIPTION {TEXT_PAYLOAD}") in domain
    studies = _flat(" ".join(_parse(html / "chapters" / "generated" / "included-studies.html").text))
    assert _flat(f"LABEL {PAYLOAD} second line") in studies
    everywhere = _flat(" ".join(" ".join(_parse(p).text) for p in html.rglob("*.html")))
    assert _flat(f"INSTRUMENT {PAYLOAD}") in everywhere
    if where["curation"]:
        assert _flat(f"REASON {TEXT_PAYLOAD} second line") in everywhere


def test_title_with_markup_is_refused(tmp_path):
    # sphinx-book-theme prints <h1>{{ pagetitle }}</h1> in its print-only header without escaping
    # (pagetitle: the title with tags stripped and entities unescaped), so markup in a domain title
    # would become live: the validator refuses it.
    target = tmp_path / "data"
    shutil.copytree(VALID, target)
    domains = yaml.safe_load((target / "domains.yml").read_text(encoding="utf-8"))
    domains[0]["title"] = f"Recovery {SCRIPT}"
    (target / "domains.yml").write_text(yaml.safe_dump(domains, allow_unicode=True), encoding="utf-8")
    issues = [i for i in dataset.check(target) if i.severity == "error"]
    assert [(i.rule, i.column) for i in issues] == [("domain-title", "title")], issues


@pytest.mark.slow
def test_print_header_has_no_markup_from_the_data(book):
    root, where = book
    page = _parse(root / "_build" / "html" / "chapters" / "domains" / f"{where['domain']}.html")
    assert page.print_tags and page.print_tags[:2] == ["div", "h1"]
    assert not page.print_scripts and "img" not in page.print_tags


@pytest.mark.slow
def test_labels_reach_notebooks_only_as_data(book):
    root, _ = book
    for notebook in sorted((root / "chapters" / "domains").glob("*.ipynb")):
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                assert "alert(" not in source and "LABEL" not in source, (notebook.name, source[:500])
        params = nb["metadata"]["papermill"]["parameters"]
        assert set(params) <= {"domain_id", "preset", "method", "ci", "fingerprint", "data_dir", "results_path",
                                  "figure_dir"}
        assert params["domain_id"] == notebook.stem


BAD_IDS = ['x"); import os; os.system("id"); ("', "Personal-recovery", "personal recovery", "../../etc",
           "x\ny", "récupération", "a_b", "", "x'", "-- id: 1"]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_validator_rejects_domain_ids_that_are_not_slugs(bad_id, tmp_path):
    target = tmp_path / "data"
    shutil.copytree(VALID, target)
    domains = yaml.safe_load((target / "domains.yml").read_text(encoding="utf-8"))
    domains[2]["id"] = bad_id
    (target / "domains.yml").write_text(yaml.safe_dump(domains, allow_unicode=True), encoding="utf-8")
    issues = [i for i in dataset.check(target) if i.severity == "error"]
    assert [i.rule for i in issues] == ["domain-id"], issues
    assert issues[0].column == "id" and issues[0].value == bad_id


def test_dollar_signs_in_labels_are_text():
    labels = [f"Smith 2010 {LATEX}", "Jones 2011 costs $5 and $6", "Lee 2012"]
    res = meta.rma(np.array([0.1, 0.3, 0.2]), np.array([0.04, 0.05, 0.03]), labels=labels)
    fig = figures.forest(res)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    texts = [t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text"))]
    assert any(LATEX in t for t in texts)
