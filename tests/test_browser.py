"""The built book in a real browser (headless Chromium driven by selenium).

The session's build of the book (conftest.built_book) is served on 127.0.0.1; the home
page and every domain page must load with every image decoded (``naturalWidth > 0``), the home
page's summary table must list every domain, each domain page must show its tables, the browser
console must stay free of errors, and the search page must find a trial by name.

As a reader on a desktop (a 1400-pixel window) and on a phone (390 pixels), on every page of the
book: no horizontal overflow of the page itself on the phone (wide tables and figures scroll in
their own box); every image shown no larger than its natural size (never blurred, and an SVG
figure never shrunk, so that its smallest text, ``analysis.figures.style.MIN_FONT_SIZE`` points,
is at least 10 CSS pixels at 1400 pixels); every image with alternative text that describes it
(words, not a file name or path). axe-core (the npm package, installed by ``.ci/run``; a local
copy, injected into each page) finds no serious or critical violation in the project's own
markup; violations in markup of the theme and of docutils are listed in ``THEME_RULES`` (rule,
elements, reason).
Screenshots of the home page, one domain page and one Learn page at both widths go to
``_build/screenshots/`` (uploaded by the workflow). Skipped only when no Chromium or chromedriver
(or axe-core, for that test) is installed (a failure instead under REVIEW_NO_SKIP=1, as in CI).
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from analysis import dataset
from analysis.figures.style import MIN_FONT_SIZE

from conftest import ROOT, missing

SCREENSHOTS = ROOT / "_build" / "screenshots"
pytestmark = pytest.mark.slow
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1600"]
SEARCH_TERM = "Johnson"

#: Reader windows (width, height in CSS pixels): a desktop and a phone.
WIDTHS = {"desktop": (1400, 1000), "phone": (390, 844)}
#: The smallest text a figure may show, in CSS pixels, at the desktop width.
MIN_TEXT_PX = 10.0
#: axe-core: where .ci/run installs it (npm install --prefix .ci/node axe-core@<version>).
AXE = Path(os.environ.get("AXE_CORE_JS") or ROOT / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js")
#: Serious or critical axe-core violations in markup the project does not write, by rule: the
#: elements (a CSS fragment of axe's target) and the reason. Any other violation fails, and so
#: does one of these rules anywhere else.
THEME_RULES = {
    "label-content-name-mismatch": (
        # axe names the theme switch ".nav-link" on some pages (its shortest unique selector)
        (".search-button", ".theme-switch-button", ".nav-link"),
        "pydata-sphinx-theme 0.17 labels its search button 'Search' while it shows 'Search Ctrl+K', and its "
        "theme switch by the mode while it shows an icon; the theme's templates, not the book's markup"),
    "aria-required-children": (
        (".citation-list",),
        "docutils 0.21 writes the bibliography (sphinxcontrib-bibtex) as role=list whose entries have "
        "role=doc-biblioentry, which axe-core 4.14 does not accept as list items"),
}

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
if not (BROWSER and DRIVER):
    missing("Chromium and chromedriver (apt-get install chromium chromium-driver)", module=True)


@pytest.fixture(scope="module")
def book(built_book):
    return built_book


@pytest.fixture(scope="module")
def site(book):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(book / "_build" / "html"))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(driver, url: str) -> None:
    driver.get(url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if driver.execute_script("return document.readyState === 'complete' && "
                                 "Array.from(document.images).every(i => i.complete)"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not finish loading in 30 s")


def _broken_images(driver) -> list[str]:
    images = driver.execute_script("return Array.from(document.images).map(i => [i.src, i.naturalWidth])")
    return [src for src, width in images if not width]


#: The test machine has no internet: MathJax, which pages with formulas load from its CDN (as
#: Jupyter Book does), cannot load here. Only that failure is excused; any script error, and any
#: failure to load a resource of the book itself, counts.
OFFLINE_ONLY = ("https://cdn.jsdelivr.net/npm/mathjax@3/", "net::ERR_NAME_NOT_RESOLVED")


def _console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
            and not all(part in entry["message"] for part in OFFLINE_ONLY)]


def _domains(book: Path) -> list[dict]:
    return dataset.load(book / "data").domains


def _pages(book: Path) -> list[str]:
    """Every page of the book (relative URL), but the search page and the generated index."""
    html = book / "_build" / "html"
    pages = [p.relative_to(html).as_posix() for p in sorted(html.rglob("*.html"))]
    return [p for p in pages if p not in ("search.html", "genindex.html", "index.html")
            and not p.startswith(("_static/", "_sources/"))]


def _resize(driver, width: str) -> None:
    w, h = WIDTHS[width]
    driver.set_window_size(w, h)
    # the window size includes the browser's frame; make the page's own width exact
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    frame_w, frame_h = w - inner[0], h - inner[1]
    if 0 <= frame_w < 200 and 0 <= frame_h < 300:      # a sane frame (0 in headless mode)
        driver.set_window_size(w + frame_w, h + frame_h)


def _screenshot(driver, name: str) -> None:
    """The whole page (up to 16,000 pixels tall) as PNG in _build/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width, height = driver.execute_script("return [document.documentElement.clientWidth || window.innerWidth, "
                                          "document.documentElement.scrollHeight]")
    width, height = max(int(width), 1), max(int(height), 1)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 16000), "scale": 1}})
    (SCREENSHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="module")
def tour(book, site, browser):
    """Every page of the book opened once at each width, as a reader would: what the page-width,
    image and accessibility tests check, by width and page. axe-core runs on every page at the
    desktop width and on the home, first domain and first Learn pages on the phone; its
    violations are None where it did not run (or is not installed)."""
    learn = sorted((book / "chapters" / "generated" / "learn").glob("*.ipynb"))[0].stem
    axe_on_phone = {"chapters/index.html", f"chapters/domains/{_domains(book)[0]['id']}.html",
                    f"chapters/generated/learn/{learn}.html"}
    seen: dict[str, dict[str, dict]] = {}
    for width in WIDTHS:
        _resize(browser, width)
        seen[width] = {}
        for page in _pages(book):
            _open(browser, f"{site}/{page}")
            scroll, viewport = browser.execute_script(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            images = browser.execute_script(_IMAGES)
            axe = _axe(browser) if AXE.exists() and (width == "desktop" or page in axe_on_phone) else None
            seen[width][page] = {"width": scroll, "viewport": viewport, "images": images, "axe": axe}
    return seen


_IMAGES = r"""
return Array.from(document.querySelectorAll('article img')).filter(i => i.getClientRects().length).map(i => {
  const r = i.getBoundingClientRect();
  return {src: i.getAttribute('src'), alt: i.getAttribute('alt'), natural: i.naturalWidth,
          naturalHeight: i.naturalHeight, shown: r.width, shownHeight: r.height,
          svg: /\.svg($|\?)|^data:image\/svg/.test(i.getAttribute('src') || '')};
});
"""


def _bad_alt(alt: str | None, src: str) -> str | None:
    """Why ``alt`` does not describe an image, or None."""
    if not alt or not alt.strip():
        return "no alternative text"
    name = src.rsplit("/", 1)[-1].split("?")[0]
    token = alt.strip()
    if token == name or (" " not in token and "/" in token) or re.search(r"\.(png|svg|jpe?g|gif|pdf)$", token, re.I):
        return f"file name or path as alternative text: {alt!r}"
    if len(re.findall(r"[A-Za-z]{2,}", alt)) < 3:
        return f"too short to describe the image: {alt!r}"
    return None


def test_home_page(book, site, browser):
    _resize(browser, "desktop")
    _open(browser, f"{site}/index.html")
    assert not _broken_images(browser)
    tables = browser.find_elements("css selector", "table")
    assert tables, "no summary table on the home page"
    summary = " ".join(t.text for t in tables)
    for domain in _domains(book):
        assert domain["title"] in summary, domain["title"]


def test_screenshots_at_both_widths(book, site, browser):
    learn = sorted((book / "chapters" / "generated" / "learn").glob("*.ipynb"))[0].stem
    pages = {"home": "chapters/index.html", f"domain-{_domains(book)[0]['id']}":
             f"chapters/domains/{_domains(book)[0]['id']}.html", f"learn-{learn}": f"chapters/generated/learn/{learn}.html"}
    for width, (pixels, _) in WIDTHS.items():
        _resize(browser, width)
        for name, page in pages.items():
            _open(browser, f"{site}/{page}")
            _screenshot(browser, f"{name}-{pixels}")
            assert (SCREENSHOTS / f"{name}-{pixels}.png").stat().st_size > 10_000, name


def test_no_page_is_wider_than_a_phone(tour):
    wide = {page: seen["width"] for page, seen in tour["phone"].items() if seen["width"] > seen["viewport"]}
    assert not wide, f"pages wider than the {WIDTHS['phone'][0]}-pixel screen: {wide}"


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_image_is_sharp_legible_and_described(tour, width):
    problems, seen = [], 0
    for page, visit in tour[width].items():
        for image in visit["images"]:
            seen += 1
            where = f"{page}: {image['src'][:80]}"
            # one pixel of rounding: natural sizes are whole pixels, an SVG's height in points is not
            if image["shown"] > image["natural"] + 1 or image["shownHeight"] > image["naturalHeight"] + 1:
                problems.append(f"{where}: shown at {image['shown']:.0f} px, natural width {image['natural']} px")
            reason = _bad_alt(image["alt"], image["src"])
            if reason:
                problems.append(f"{where}: {reason}")
            if width == "desktop":
                if not image["svg"]:
                    problems.append(f"{where}: a raster figure (SVG expected: text drawn at any size)")
                else:
                    # an SVG's natural width is its size in CSS pixels (1 pt = 4/3 px)
                    text_px = MIN_FONT_SIZE * 4 / 3 * image["shown"] / image["natural"]
                    if text_px < MIN_TEXT_PX:
                        problems.append(f"{where}: smallest text {text_px:.1f} CSS px")
    assert seen > 20, f"only {seen} images found in the book"
    assert not problems, "\n".join(problems)


def _axe(driver) -> list[dict]:
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    driver.set_script_timeout(120)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(JSON.stringify(r.violations)))"
        ".catch(e => done(JSON.stringify({error: String(e)})));")
    violations = json.loads(result)
    if isinstance(violations, dict):
        raise AssertionError(f"axe-core failed: {violations['error']}")
    return violations


def test_no_serious_accessibility_violations(tour):
    if not AXE.exists():
        missing(f"axe-core ({AXE}; npm install --prefix .ci/node axe-core)")
    by_rule: dict[str, list[str]] = {}
    for width, visits in tour.items():
        for page, visit in visits.items():
            for violation in visit["axe"] or []:
                if violation["impact"] not in ("serious", "critical"):
                    continue
                for node in violation["nodes"]:
                    target = " ".join(map(str, node["target"]))
                    excused = THEME_RULES.get(violation["id"], ((), ""))[0]
                    if not any(part in target for part in excused):
                        by_rule.setdefault(violation["id"], []).append(f"{width} {page}: {target[:120]}")
    assert sum(visit["axe"] is not None for visits in tour.values() for visit in visits.values()) > 20
    report = "\n".join(f"{rule} ({len(nodes)}): {nodes[:5]}" for rule, nodes in sorted(by_rule.items()))
    assert not by_rule, "serious or critical axe-core violations:\n" + report


def test_every_domain_page(book, site, browser):
    _resize(browser, "desktop")
    domains = _domains(book)
    for i, domain in enumerate(domains):
        _open(browser, f"{site}/chapters/domains/{domain['id']}.html")
        figures = browser.find_elements("css selector", "figure img")
        assert len(figures) >= 4, (domain["id"], len(figures))
        assert not _broken_images(browser), domain["id"]
        assert browser.find_elements("css selector", "table"), domain["id"]
        # chapters are numbered ("3. Personal recovery")
        headings = [re.sub(r"^\d+\.\s*", "", h.text) for h in browser.find_elements("css selector", "h1")
                    if h.is_displayed()]
        assert headings and headings[0].startswith(domain["title"]), (domain["id"], headings)


def test_search_finds_a_trial_by_name(site, browser):
    _open(browser, f"{site}/search.html?q={SEARCH_TERM}")
    deadline = time.monotonic() + 30
    results = []
    while time.monotonic() < deadline and not results:
        results = browser.find_elements("css selector", "#search-results li, ul.search li")
        time.sleep(0.3)
    assert results, f"the search page found nothing for {SEARCH_TERM!r}"
    assert any(SEARCH_TERM.lower() in r.text.lower() or r.find_elements("css selector", "a") for r in results)


def test_domain_pages_show_no_code(book, site, browser):
    for domain in _domains(book):
        _open(browser, f"{site}/chapters/domains/{domain['id']}.html")
        text = browser.find_element("css selector", "main").text
        for leak in ("domain_id =", "results_path =", "data_dir =", str(book)):
            assert leak not in text, (domain["id"], leak)


def test_browser_console_has_no_errors(book, site, browser):
    errors = {}
    pages = ["index.html", f"chapters/domains/{_domains(book)[0]['id']}.html", f"search.html?q={SEARCH_TERM}"]
    for page in pages:
        browser.get_log("browser")  # drop what earlier pages logged
        _open(browser, f"{site}/{page}")
        time.sleep(1)  # scripts run after the load event (search, theme)
        errors[page] = _console_errors(browser)
    assert not any(errors.values()), errors
