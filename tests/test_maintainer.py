"""A maintainer's update, end to end, on a copy of the session's built book (conftest.built_book).

Following README.md and data/README.md: binary service-use outcomes of two trials already in the
data (with the two domains a maintainer adds for them, one holding a single trial), a continuous
outcome of a trial that awaited extraction, a second report of a trial; an incremental build; a
release; and then the tests that read the live data, run against the updated copy, must pass.
The trial files are in tests/fixtures/trials/ (illustrative values, never merged into data/).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED, TRIALS, awaiting_trial_file, build, copy_built, results

pytestmark = pytest.mark.slow
#: The tests that read the live data (data/): they must survive any update.
DATA_TESTS = ["tests/test_data.py", "tests/test_import.py", "tests/test_seed_trials.py", "tests/test_published.py",
              "tests/test_determinism.py"]


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], capture_output=True, text=True, cwd=root,
                          timeout=1800)


@pytest.fixture(scope="module")
def updated(built_book, tmp_path_factory):
    """The copy after the maintainer's steps: add x 3, domains, build, release."""
    root = copy_built(built_book, tmp_path_factory.mktemp("maintainer") / "review")
    before = {d: results(root, d) for d in ("empowerment-self-efficacy",)}
    awaiting, study = awaiting_trial_file(root / "data", root.parent)
    for trial in (TRIALS / "binary-service-use.yml", awaiting, TRIALS / "second-report.yml"):
        proc = _run(root, "add", str(trial))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    with (root / "data" / "domains.yml").open("a", encoding="utf-8") as handle:
        handle.write((TRIALS / "service-use-domains.yml").read_text(encoding="utf-8"))
    assert _run(root, "check", "data").returncode == 0
    proc = build(root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    built = results(root, "build")
    release = _run(root, "release", "--version", "26.2.0", "--notes", "Service use: hospital admission.")
    return root, before, built, release, study


def test_only_the_touched_chapters_ran(updated):
    root, _, built, _, study = updated
    domains = [d["id"] for d in __import__("yaml").safe_load((root / "data" / "domains.yml").read_text())]
    # a chapter re-runs when it is new, or a row, a study or a report of one of its trials changed:
    # the extracted trial's rows, the second report of johnson2018 (solomon1995 and rivera2007 only
    # got rows in the new domains)
    touched = {"johnson2018", study}
    expected = {d for d in domains if touched & set(results(root, d)["studies"])} | {"drill-admission", "drill-crisis"}
    assert "empowerment-self-efficacy" in expected
    assert set(built["executed"]) == expected
    assert built["learn_executed"] == []          # Learn chapters are pinned to the dataset version


def test_the_binary_chapter_shows_a_risk_ratio_with_events_totals_and_absolute_effects(updated):
    root, _, _, _, _ = updated
    res = results(root, "drill-admission")
    assert res["measure"] == "RR" and res["orientation"] == -1           # admission is harmful
    assert res["n_studies"] == 2 and res["n_participants"] == (48 + 48) + (70 + 66)   # from the totals
    assert res["primary"]["exp"]["estimate"] == pytest.approx(
        __import__("math").exp(res["primary"]["estimate"]))
    absolute = res["summary_of_findings"]["absolute_effect"]
    # assumed control risk: the median of 15/48 and 14/66
    assert absolute["control_risk"] == pytest.approx((15 / 48 + 14 / 66) / 2)
    assert absolute["difference"] < 0 and absolute["per"] == 1000
    page = (root / "_build" / "html" / "chapters" / "domains" / "drill-admission.html").read_text(encoding="utf-8")
    assert "Risk ratio" in page and "per 1000" in page
    assert res["summary_of_findings"]["time_frame"].startswith("end of the intervention")
    assert any(s["analysis"].startswith("Mantel-Haenszel") for s in res["sensitivity"])


def test_a_domain_of_one_trial_is_shown_not_pooled(updated):
    root, _, _, _, _ = updated
    res = results(root, "drill-crisis")
    assert res["n_studies"] == 1 and res["primary"]["pi_low"] is None
    assert "not pooled" in res["key_message"] and res["grade"] is None
    page = (root / "_build" / "html" / "chapters" / "domains" / "drill-crisis.html").read_text(encoding="utf-8")
    assert "not pooled" in page and "fig-funnel-drill-crisis" not in page and "fig-loo-drill-crisis" not in page


def test_the_extracted_trial_enters_its_domain_and_whats_new_says_what_happened(updated):
    root, before, _, _, study = updated
    after = results(root, "empowerment-self-efficacy")
    assert study in after["studies"]
    assert after["n_studies"] == before["empowerment-self-efficacy"]["n_studies"] + 1
    whats_new = (root / "_build" / "html" / "chapters" / "generated" / "whats-new.html").read_text(encoding="utf-8")
    for phrase in ("Trials extracted", "Outcome rows added", "Reports added to a trial",
                   "Psychiatric hospital admission (drill)"):
        assert phrase in whats_new, phrase
    feed = (root / "_build" / "html" / "feed.xml").read_text(encoding="utf-8")
    assert feed.startswith("<?xml") and "<feed xmlns=\"http://www.w3.org/2005/Atom\">" in feed


def test_the_release_is_recorded_and_a_repeated_version_refused(updated):
    root, _, _, release, _ = updated
    assert release.returncode == 0, release.stdout + release.stderr
    package = json.loads((root / "data" / "datapackage.json").read_text(encoding="utf-8"))
    assert package["version"] == "26.2.0"
    assert json.loads((root / "data" / "release.json").read_text(encoding="utf-8"))["notes"] == \
        "Service use: hospital admission."
    assert "## 26.2.0" in (root / "data" / "CHANGELOG.md").read_text(encoding="utf-8")
    again = _run(root, "release", "--version", "26.2.0")
    assert again.returncode == 2 and "rule version-order" in again.stderr


def test_the_tests_of_the_live_data_pass_on_the_updated_copy(updated):
    root, _, _, _, _ = updated
    env = {**os.environ, "REVIEW_SHARED_DIR": str(SHARED)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *DATA_TESTS],
                          capture_output=True, text=True, cwd=root, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:]
