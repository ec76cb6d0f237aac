"""Shared test set-up: where the repository and the material beside it are, and one build of the book.

Tests that read material outside the repository (the source reviews' texts and their structured
extractions in ``../shared``) call :func:`shared`, which skips with one stated reason when the
material is absent; the browser test likewise without Chromium. ``REVIEW_NO_SKIP=1`` (set by
``.ci/run`` where the material is there) turns every such skip into a failure, so that a wrong
path or a missing tool can never silently switch tests off.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REVIEW_SHARED_DIR") or ROOT.parent / "shared")
SHARED_REASON = "needs the source reviews' material (../shared beside the repository)"


def missing(what: str, *, module: bool = False) -> None:
    """Skip because ``what`` is not available here, or fail under ``REVIEW_NO_SKIP=1``."""
    if os.environ.get("REVIEW_NO_SKIP") == "1":
        pytest.fail(f"{what} is missing, and REVIEW_NO_SKIP=1 forbids skipping", pytrace=False)
    pytest.skip(what, allow_module_level=module)


def shared(*parts: str) -> Path:
    """``../shared/<parts>``; skips the calling test when it is absent (fails under REVIEW_NO_SKIP=1)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        missing(SHARED_REASON)
    return path


# ---------------------------------------------------------------------------------------------
# one real build of the book per test session

#: What a copy of the repository leaves out: build outputs, the environment, version control.
IGNORE = shutil.ignore_patterns(".venv", "_build", ".git", "__pycache__", ".pytest_cache", ".hypothesis",
                                "domains", "generated", "*.egg-info", "benchmarks")


def copy_repository(target: Path) -> Path:
    """A copy of the repository (sources and data, no build outputs) at ``target``."""
    shutil.copytree(ROOT, target, ignore=IGNORE)
    return target


def build(root: Path, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    """``python -m analysis build --root ROOT [args]`` run in ``root`` (so the copy's own package runs)."""
    return subprocess.run([sys.executable, "-m", "analysis", "build", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=root)


def results(root: Path, name: str) -> dict:
    """``_build/results/<name>.json`` of a built copy."""
    return json.loads((root / "_build" / "results" / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """One clean build (``jupyter-book build -W``) of a copy of the repository with the shipped data,
    shared by the book, browser, injection, determinism, refusal and Learn tests. Read it, never
    change it: a test that changes data or code works on :func:`copy_built` of it. Where Chromium
    is installed the build also prints the review to PDF (``--pdf``), as the published book does."""
    from analysis.book.pdf import chromium

    root = copy_repository(tmp_path_factory.mktemp("book") / "review")
    proc = build(root, *(["--pdf"] if chromium() else []))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root


def copy_built(built: Path, target: Path) -> Path:
    """A copy of a built tree (sources, data, executed chapters, ``_build``): a rebuild of it is
    incremental, as a maintainer's next build after an edit."""
    shutil.copytree(built, target, symlinks=True)
    return target


# ---------------------------------------------------------------------------------------------
# the maintainer's drill (tests/fixtures/trials)

TRIALS = Path(__file__).parent / "fixtures" / "trials"


def awaiting_trial_file(data_dir: Path, target_dir: Path) -> tuple[Path, str]:
    """The drill's file that extracts a trial awaiting extraction, for a trial of ``data_dir`` that
    awaits it and whose cells the file fills are empty (so the test does not depend on which trials
    await data today); returns the file and the trial's id."""
    import csv

    import yaml

    template = (TRIALS / "awaiting-extracted.yml").read_text(encoding="utf-8")
    filled = set(yaml.safe_load(template)["studies"][0]) - {"study_id", "outcome_data"}
    with (data_dir / "studies.csv").open(encoding="utf-8", newline="") as handle:
        candidates = [r["study_id"] for r in csv.DictReader(handle)
                      if r["outcome_data"] == "not yet extracted" and not any(r[c] for c in filled)]
    assert candidates, "no trial awaits extraction with the cells the drill fills empty"
    path = target_dir / "awaiting-extracted.yml"
    path.write_text(template.replace("STUDY", candidates[0]), encoding="utf-8")
    return path, candidates[0]
