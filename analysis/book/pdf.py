"""The whole review as one PDF, built offline: a single-page HTML build printed by headless Chromium.

``jupyter-book build --builder singlehtml`` renders every chapter into one page (from the same
executed notebooks as the book, execution off); Chromium prints it with the book's print
stylesheet (``chapters/_static/review.css``: A4 pages, forest-type figures on landscape pages,
tables and figures unbroken). The figures are SVG, so they print as vector graphics at full
resolution. Nothing is downloaded: Chromium and the book's files are all on the machine.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

#: The PDF's file name, at the root of the published book (the home page links to it).
PDF_NAME = "peer-support-living-review.pdf"

#: Flags for printing without a profile, a sandbox (containers) or network access.
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
          "--virtual-time-budget=30000"]


class PdfError(Exception):
    """The single-page build or the printing failed."""


def chromium() -> str | None:
    """The Chromium (or Chrome) executable: ``$REVIEW_CHROMIUM`` or the first one on the PATH."""
    if os.environ.get("REVIEW_CHROMIUM"):
        return os.environ["REVIEW_CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def single_page(root: Path, work: Path) -> Path:
    """Build the book as one HTML page under ``work``; returns the page."""
    cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
           "build", str(root), "--builder", "singlehtml", "--path-output", str(work), "--keep-going", "--quiet"]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    out = work / "_build" / "singlehtml"
    # the book's root document is chapters/index: Sphinx writes the single page there, with its
    # links relative to the output directory (index.html is Jupyter Book's redirect to it)
    built = out / "chapters" / "index.html"
    if proc.returncode != 0 or not built.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise PdfError(f"single-page build failed (exit {proc.returncode}):\n{tail}")
    page = out / "review.html"
    shutil.copyfile(built, page)
    return page


def print_pdf(page: Path, pdf: Path, browser: str, profile: Path) -> Path:
    """Print ``page`` to ``pdf`` with headless Chromium (its own throw-away ``profile``)."""
    pdf.parent.mkdir(parents=True, exist_ok=True)
    tmp = pdf.with_name(pdf.stem + ".new.pdf")
    cmd = [browser, *_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={tmp}", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        raise PdfError(f"Chromium could not print {page.name} (exit {proc.returncode}):\n{tail}")
    os.replace(tmp, pdf)
    return pdf


def build_pdf(root: Path, work: Path, pdf: Path, browser: str) -> Path:
    """The single-page build of ``root`` printed to ``pdf``.

    ``work`` is the HTML build's output directory: the single-page build reuses its parsed
    documents (Sphinx shares the doctree cache between builders), so only the writing is new.
    """
    page = single_page(root, work)
    return print_pdf(page, pdf, browser, work / "chromium-profile")
