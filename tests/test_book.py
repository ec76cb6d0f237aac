"""The living book: the session's real build of a copy of the repository (conftest.built_book).

The rebuild tests work on a copy of that built tree, as a maintainer's next build would: no change
-> nothing re-executed; one trial's outcome row changed -> exactly the domains containing that row
re-executed, and "What's new" names the trial and the shift.
"""
from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from analysis import dataset
from analysis.book import pages
from analysis.stats import formatting

from conftest import ROOT, copy_built, missing, session_build_args
from conftest import build as _build
from conftest import results as _results

pytestmark = pytest.mark.slow


@pytest.fixture
def book(built_book):
    return built_book


@pytest.fixture
def rebuilt(built_book, tmp_path):
    """A copy of the built tree to change and rebuild."""
    return copy_built(built_book, tmp_path / "review")


def test_toc_lists_every_domain_of_domains_yml():
    ds = dataset.load(ROOT / "data")
    committed = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    learn = sorted(p.stem for p in (ROOT / "chapters" / "learn").glob("*.ipynb"))
    assert committed == pages.toc(ds.domains, learn), "_toc.yml is out of date: run `python -m analysis build`"
    listed = re.findall(r"chapters/domains/([a-z0-9-]+)", committed)
    assert listed == [d["id"] for d in ds.domains]


def test_every_domain_page_has_its_forest_plot(book):
    ds = dataset.load(book / "data")
    build = _results(book, "build")
    assert sorted(build["executed"]) == sorted(d["id"] for d in ds.domains)
    learn = sorted(p.stem for p in (book / "chapters" / "learn").glob("*.ipynb"))
    assert build["learn_executed"] == learn
    for name in learn:
        page = (book / "_build" / "html" / "chapters" / "generated" / "learn" / f"{name}.html").read_text(encoding="utf-8")
        assert f"dataset version {ds.version}" in page
    for domain in ds.domains:
        page = book / "_build" / "html" / "chapters" / "domains" / f"{domain['id']}.html"
        text = page.read_text(encoding="utf-8")
        assert f'id="fig-forest-{domain["id"]}"' in text, domain["id"]
        figure = re.search(rf'<figure[^>]*id="fig-forest-{domain["id"]}".*?<img[^>]*src="([^"]+)"', text, re.S)
        assert figure and (page.parent / figure.group(1)).exists(), domain["id"]


def _glued_keys() -> list[str]:
    """The ``{glue:text}`` keys of the chapter template's Markdown, in page order."""
    nb = json.loads((ROOT / "chapters" / "_templates" / "domain.ipynb").read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return re.findall(r"\{glue:text\}`([^`]+)`", text)


def test_glued_numbers_equal_the_results_json(book):
    ds = dataset.load(book / "data")
    keys = _glued_keys()
    assert keys
    for domain in ds.domains:
        res = _results(book, domain["id"])
        text = (book / "_build" / "html" / "chapters" / "domains" / f"{domain['id']}.html").read_text(encoding="utf-8")
        pasted = [html.unescape(re.sub(r"<[^>]+>", "", m)) for m in
                  re.findall(r'<span class="pasted-text">(.*?)</span>', text, re.S)]
        numbers = res["numbers"]
        p = res["primary"]
        shown = (lambda v: math.exp(v)) if res["measure"] in ("RR", "OR") else (lambda v: v)
        # the numbers are formatted from the engine's values in the JSON, and the page shows exactly them
        assert numbers["estimate"] == formatting.text(shown(p["estimate"]))
        assert numbers["ci_low"] == formatting.text(shown(p["ci_low"]))
        assert numbers["ci_high"] == formatting.text(shown(p["ci_high"]))
        assert numbers["n_studies"] == str(res["n_studies"]) == str(p["k"])
        assert pasted == [html.unescape(numbers[k]) for k in keys], domain["id"]


def test_reproduction_of_smit_2022(book):
    reproduction = _results(book, "reproduction")
    by = {r["outcome"]: r for r in reproduction}
    assert set(by) == {"clinical-recovery", "personal-recovery", "functional-recovery"}
    for r in reproduction:
        assert r["match"], (r["outcome"], r["published"], r["reproduced"])
        for key in ("review", "outcome", "published", "reproduced", "settings", "match"):
            assert key in r


def test_no_change_rebuild_executes_nothing(rebuilt):
    # the same build as the session's, nothing changed: no chapter runs, the book is not rebuilt
    proc = _build(rebuilt, *session_build_args())
    assert proc.returncode == 0, proc.stderr[-2000:]
    build = _results(rebuilt, "build")
    assert build["executed"] == [] and build["learn_executed"] == []
    assert not build["book_built"] and not build["pdf_built"] and "up to date" in proc.stdout


def test_one_changed_trial_reexecutes_exactly_its_domains(rebuilt):
    outcomes_csv = rebuilt / "data" / "outcomes.csv"
    lines = outcomes_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    ds = dataset.load(rebuilt / "data")
    # a msd row of one trial, not touched by the curation log
    curated_ids = set(ds.curation["outcome_id"].dropna())
    target = next(r for _, r in ds.raw_outcomes.iterrows()
                  if r["data_type"] == "msd" and r["outcome_id"] not in curated_ids and r["study_id"] == "johnson2018")
    line_no = int(target["_line"])
    cells = lines[line_no - 1].rstrip("\n").split(",")
    col = header.index("mean1")
    cells[col] = str(float(cells[col]) + 5)
    lines[line_no - 1] = ",".join(cells) + "\n"
    outcomes_csv.write_text("".join(lines), encoding="utf-8")

    expected = sorted(d["id"] for d in ds.domains
                      if target["outcome_id"] in _results(rebuilt, d["id"])["outcome_ids"])
    before = {d: _results(rebuilt, d)["primary"]["estimate"] for d in expected}
    proc = _build(rebuilt)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    build = _results(rebuilt, "build")
    assert sorted(build["executed"]) == expected
    assert build["learn_executed"] == []   # Learn chapters are pinned to the dataset version
    changes = _results(rebuilt, "changes")
    assert "johnson2018" in changes["changed"]
    whats_new = (rebuilt / "_build" / "html" / "chapters" / "generated" / "whats-new.html").read_text(encoding="utf-8")
    assert "johnson2018" in whats_new
    for domain_id in expected:
        after = _results(rebuilt, domain_id)["primary"]["estimate"]
        assert after != before[domain_id]
        assert formatting.text(before[domain_id]).replace("\u2212", "-") in html.unescape(whats_new).replace("\u2212", "-")


def test_template_passes_nbval_on_a_small_fixture(tmp_path):
    fixture = tmp_path / "data"
    shutil.copytree(ROOT / "data", fixture)
    domains = yaml.safe_load((fixture / "domains.yml").read_text(encoding="utf-8"))
    items = domains["domains"] if isinstance(domains, dict) else domains
    keep = [d for d in items if d["id"] == "personal-recovery"]
    (fixture / "domains.yml").write_text(yaml.safe_dump({"domains": keep} if isinstance(domains, dict) else keep,
                                                        sort_keys=False), encoding="utf-8")
    # the review team's judgements name domain ids: keep those of the domains kept
    judgements = yaml.safe_load((fixture / "grade.yml").read_text(encoding="utf-8")) or {}
    (fixture / "grade.yml").write_text(yaml.safe_dump({d["id"]: judgements[d["id"]] for d in keep if d["id"] in judgements},
                                                      sort_keys=False), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           str(ROOT / "chapters" / "_templates" / "domain.ipynb")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600,
                          env={**os.environ, "REVIEW_DATA_DIR": str(fixture)})
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_summary_of_findings_on_home_page_and_in_json(book):
    sof = _results(book, "summary_of_findings")
    # tables keep numbers and intervals on one line with no-break spaces
    home = html.unescape((book / "_build" / "html" / "chapters" / "index.html").read_text(encoding="utf-8"))
    home = home.replace("\u00a0", " ")
    assert [r["domain"] for r in sof["rows"]] == [d["id"] for d in dataset.load(book / "data").domains]
    for row in sof["rows"]:
        domain = _results(book, row["domain"])
        assert row == domain["summary_of_findings"]          # the JSON holds the chapter's values
        effect = f"SMD {formatting.text(row['effect']['estimate'])} ({formatting.text(row['effect']['ci_low'])} to " \
                 f"{formatting.text(row['effect']['ci_high'])})"
        assert effect in home and row["certainty_label"] in home
        page = html.unescape((book / "_build" / "html" / "chapters" / "domains" / f"{row['domain']}.html")
                             .read_text(encoding="utf-8")).replace("\u00a0", " ")
        assert effect in page and row["certainty_label"] in page


def test_pages_of_the_earlier_reviews_questions(book):
    """The earlier reviews, implementation and awaiting pages are built, linked and hold their data."""
    site = book / "_build" / "html" / "chapters"
    home = html.unescape((site / "index.html").read_text(encoding="utf-8"))
    assert 'href="generated/implementation.html"' in home
    earlier = _results(book, "earlier_reviews")
    assert {e["review"] for e in earlier} == {"smit2022", "white2020", "lyons2021", "egmose2023", "cooper2024"}
    page = html.unescape((site / "generated" / "earlier-reviews.html").read_text(encoding="utf-8"))
    for e in earlier:
        assert e["label"] in page
    ds = dataset.load(book / "data")
    impl = html.unescape((site / "generated" / "implementation.html").read_text(encoding="utf-8"))
    for finding_id in list(ds.implementation["finding_id"]) + list(ds.experiences["finding_id"]):
        assert f"[{finding_id}]" in impl, finding_id
    assert (book / "_build" / "html" / "_images" / "cfir-map.svg").exists()
    awaiting = html.unescape((site / "generated" / "awaiting.html").read_text(encoding="utf-8"))
    for label in ds.studies.loc[ds.studies["outcome_data"] != "extracted", "label"]:
        assert label in awaiting, label
def _pdf_alt_texts(data: bytes) -> list[str]:
    """The alternative texts of a tagged PDF's figures (``/Alt (...)`` or ``/Alt <FEFF...>``)."""
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def unescape(match):   # PDF literal strings: \( \) \\ \n ... and \ddd (octal)
        code = match.group(1)
        return bytes([int(code, 8)]) if code[:1].isdigit() else escapes.get(code, code)

    texts = []
    for literal, hexa in re.findall(rb"/Alt (?:\(((?:\\.|[^\\)])*)\)|<([0-9A-Fa-f]+)>)", data):
        if hexa:
            texts.append(bytes.fromhex(hexa.decode()).decode("utf-16"))
        else:
            texts.append(re.sub(rb"\\([0-7]{1,3}|.)", unescape, literal).decode("latin-1"))
    return texts


def test_the_review_as_one_pdf_with_every_figure(book):
    from analysis.book.pdf import PDF_NAME, chromium

    if chromium() is None:
        missing("Chromium (apt-get install chromium), which prints the review to PDF")
    pdf = book / "_build" / "html" / PDF_NAME
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and _results(book, "build")["pdf_built"]
    home = (book / "_build" / "html" / "chapters" / "index.html").read_text(encoding="utf-8")
    assert f'href="../{PDF_NAME}"' in home
    # A4 pages, landscape ones for the wide (forest-type) figures
    boxes = [tuple(round(float(v)) for v in box.split()) for box in re.findall(rb"/MediaBox \[([^\]]*)\]", data)]
    assert (0, 0, 595, 842) in boxes and (0, 0, 842, 595) in boxes, set(boxes)
    # every figure of the single page that was printed is in the PDF, with its alternative text
    page = (book / "_build" / ".work" / "jb" / "_build" / "singlehtml" / "review.html").read_text(encoding="utf-8")
    printed = [html.unescape(a) for a in re.findall(r'<img[^>]*alt="([^"]*)"', page)]
    alts = _pdf_alt_texts(data)
    assert len(printed) > 50 and sorted(alts) == sorted(printed)
    for domain in dataset.load(book / "data").domains:
        k = _results(book, domain["id"])["primary"]["k"]
        assert any(a.startswith(f"Forest plot of {k} studies") for a in alts), domain["id"]


def test_no_page_shows_a_literal_escape(book):
    # text from the data is backslash-escaped for Markdown; a backslash left on a page (e.g. in a
    # code span, where escapes are not processed) shows "studies\.csv". TeX in math is exempt.
    found = {}
    for path in sorted((book / "_build" / "html").rglob("*.html")):
        body = re.sub(r"<script.*?</script>|<style.*?</style>", "", path.read_text(encoding="utf-8"), flags=re.S)
        body = re.sub(r'<(span|div) class="math[^"]*">.*?</\1>', "", body, flags=re.S)
        text = html.unescape(re.sub(r"<[^>]+>", " ", body))
        hits = re.findall(r".{0,20}\\[!-/:-@\[-`{-~]", text)
        if hits:
            found[path.name] = hits[:3]
    assert not found, found
