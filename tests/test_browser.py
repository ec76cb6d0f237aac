"""The built book in a real browser (headless Chromium driven by selenium).

The session's build of the book (conftest.built_book) is served on 127.0.0.1; the home
page and every domain page must load with every image decoded (``naturalWidth > 0``), the home
page's summary table must list every domain, each domain page must show its tables, the browser
console must stay free of errors, and the search page must find a trial by name. Screenshots of
the home page and one domain page go to ``_build/screenshots/``. Skipped only when no Chromium or
chromedriver is installed (a failure instead under REVIEW_NO_SKIP=1, as in CI).
"""
from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from pathlib import Path

import pytest

from analysis import dataset

from conftest import ROOT, missing

SCREENSHOTS = ROOT / "_build" / "screenshots"
pytestmark = pytest.mark.slow
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1600"]
SEARCH_TERM = "Johnson"

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


def test_home_page(book, site, browser):
    _open(browser, f"{site}/index.html")
    assert not _broken_images(browser)
    tables = browser.find_elements("css selector", "table")
    assert tables, "no summary table on the home page"
    summary = " ".join(t.text for t in tables)
    for domain in _domains(book):
        assert domain["title"] in summary, domain["title"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / "home.png"))


def test_every_domain_page(book, site, browser):
    domains = _domains(book)
    for i, domain in enumerate(domains):
        _open(browser, f"{site}/chapters/domains/{domain['id']}.html")
        figures = browser.find_elements("css selector", "figure img")
        assert len(figures) >= 4, (domain["id"], len(figures))
        assert not _broken_images(browser), domain["id"]
        assert browser.find_elements("css selector", "table"), domain["id"]
        headings = [h.text for h in browser.find_elements("css selector", "h1") if h.is_displayed()]
        assert headings and headings[0].startswith(domain["title"]), (domain["id"], headings)
        if i == 0:
            assert browser.save_screenshot(str(SCREENSHOTS / f"domain-{domain['id']}.png"))


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
