"""The summary of findings in the GRADE layout: its keys, its cells, its CSV; the re-expression
of an SMD on the dominant instrument; the currency of the review."""
from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from analysis import dataset
from analysis.book import citation
from analysis.book.pages.currency import currency, currency_md, long_date, review_numbers
from analysis.chapter import analyse_domain, coverage, sof
from analysis.stats import grade
from analysis.stats.formatting import text as fmt

from conftest import ROOT

#: Keys every row of summary_of_findings.json carries (the GRADE layout and its machine form).
SOF_KEYS = {"outcome", "domain", "participants", "studies", "k", "effect", "interpretation", "certainty",
            "certainty_label", "footnotes", "time_frame", "instruments", "absolute_effect", "comment"}


@pytest.fixture(scope="module")
def ds():
    return dataset.load(ROOT / "data")


@pytest.fixture(scope="module")
def depression(ds):
    return analyse_domain(ds, "depression")


def test_rows_carry_the_grade_keys(ds, depression):
    row = sof.summary_of_findings(depression)
    assert SOF_KEYS <= set(row)
    json.dumps(row, allow_nan=False)                     # JSON-safe
    assert row["time_frame"].startswith("end of the intervention")
    assert row["instruments"][0]["trials"] >= row["instruments"][-1]["trials"]
    assert sum(e["trials"] for e in row["instruments"]) >= row["studies"]
    assert row["comment"] == row["statement"] == grade.informative_statement(
        depression.grade.certainty, depression.primary.estimate, "depression")
    assert row["absolute_effect"] is None or row["absolute_effect"]["kind"] in {"instrument-units", "per-1000"}


def test_table_in_the_grade_layout(depression):
    row = sof.summary_of_findings(depression)
    table = sof.sof_table_md([row])
    header = next(line for line in table.splitlines() if line.startswith("| "))
    for column in ("Outcome", "Participants (trials)", "Relative effect", "Anticipated absolute effect",
                   "Certainty of the evidence (GRADE)", "What happens"):
        assert column in header
    e = row["effect"]
    shown = table.replace("\u00a0", " ")    # the table keeps numbers and their intervals on one line
    assert f"SMD {fmt(e['estimate'])} ({fmt(e['ci_low'])} to {fmt(e['ci_high'])})" in shown
    assert row["certainty_label"] in table and "Rated down for" in table
    # the footnotes give the reasons in reviewer language; the rules with their numbers are collapsed
    body, _, details = table.partition(":::{dropdown}")
    assert "rule:" not in body and "rule" in details
    for j in depression.grade.judgements:
        assert grade.DOMAIN_TITLES[j.domain] in details


def test_absolute_effect_text_for_both_kinds():
    base = {"effect": {"estimate": 0.17, "ci_low": -0.14, "ci_high": 0.49}, "interpretation": "trivial"}
    units = dict(base, absolute_effect={"kind": "instrument-units", "instrument": "EPDS", "higher_is_better": False,
                                        "sd": 5.24, "estimate": -0.91, "ci_low": -2.56, "ci_high": 0.73,
                                        "scale_min": 0.0, "scale_max": 30.0})
    text = sof.absolute_text(units)
    assert "≈ 0.9 points lower on the EPDS (0–30) (2.6 points lower to 0.7 points higher; lower is better" in text
    per_1000 = dict(base, absolute_effect={"kind": "per-1000", "control": 300, "intervention": 240, "ci_low": 200,
                                           "ci_high": 290})
    assert sof.absolute_text(per_1000).startswith("300 per 1000 with control; 240 per 1000 with peer support")
    assert sof.absolute_text(dict(base, absolute_effect=None)).endswith("<br>trivial")


def test_csv_has_one_row_per_outcome_with_unrounded_numbers(depression):
    row = sof.summary_of_findings(depression)
    records = list(csv.DictReader(io.StringIO(sof.sof_csv([row, row]))))
    assert len(records) == 2 and tuple(records[0]) == sof.CSV_COLUMNS
    assert float(records[0]["estimate"]) == row["effect"]["estimate"]
    assert records[0]["certainty"] == row["certainty"] and records[0]["statement"] == row["statement"]


# -- re-expression on the dominant instrument ----------------------------------------------------

def rows(instruments, sds, data_type="msd", better=False):
    return pd.DataFrame({"study_id": [f"t{i}" for i in range(len(instruments))], "instrument": instruments,
                         "data_type": data_type, "sd2": sds, "higher_is_better": better})


def test_reexpression_multiplies_by_the_median_control_sd_and_turns_lower_is_better():
    r = coverage.reexpression(rows(["EPDS", "EPDS", "EPDS", "CES-D"], [5.0, 6.0, 4.0, 11.0]), 0.2, -0.1, 0.5)
    assert r["sd"] == 5.0 and r["sd_trials"] == 3 and r["trials_using"] == 3 and r["trials"] == 4
    assert r["estimate"] == pytest.approx(-1.0)                      # a benefit is fewer points
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(-2.5), pytest.approx(0.5))
    up = coverage.reexpression(rows(["RAS"] * 2, [10.0, 12.0], better=True), 0.2, -0.1, 0.5)
    assert up["estimate"] == pytest.approx(2.2) and up["ci_low"] == pytest.approx(-1.1)


@pytest.mark.parametrize("instruments,sds,why", [
    (["A", "B", "C", "D"], [5.0, 5.0, 5.0, 5.0], "no instrument used by half the trials"),
    (["A", "A", "B"], [5.0, None, 5.0], "fewer than two control SDs"),
    (["A", "A", "A"], [14.0, 0.7, 12.0], "SDs of different scorings (sum and item mean)"),
])
def test_no_reexpression_without_one_typical_sd(instruments, sds, why):
    assert coverage.reexpression(rows(instruments, sds), 0.2, -0.1, 0.5) is None, why


def test_instrument_families_merge_subgroup_rows_and_spelling():
    r = rows(["RAS - total (high)", "RAS - total (low)", "RAS - Total", "QPR"], [1, 1, 1, 1])
    r.loc[1, "study_id"] = "t0"                                          # one trial, two subgroup rows
    assert coverage.instruments(r) == [{"instrument": "RAS - total", "trials": 2}, {"instrument": "QPR", "trials": 1}]


# -- currency and completeness --------------------------------------------------------------------

def test_currency_counts_come_from_the_data(ds):
    flow = json.loads((ROOT / "data" / "search_flow.json").read_text(encoding="utf-8"))
    cur = currency(ds, flow, "2026-11-21")
    assert cur["trials_known"] == len(ds.studies)
    assert cur["trials_with_data"] + cur["trials_awaiting"] == cur["trials_known"]
    assert cur["trials_with_data"] == ds.outcomes["study_id"].nunique()
    assert cur["last_search"] == flow["last_search"]
    box = currency_md(cur)
    n = review_numbers(cur)
    for fact in (n["last_search"], n["last_update"], f"{n['trials_awaiting']} of the {n['trials_known']} trials"):
        assert fact.replace(".", "\\.") in box or fact in box


def test_long_dates():
    assert long_date("2020-12-18") == "18 December 2020" and long_date("not a date") == "not a date"


# -- how to cite -----------------------------------------------------------------------------------

def test_citation_files_agree_with_the_dataset_version_and_release():
    cff = citation.read_citation(ROOT)
    zenodo = json.loads((ROOT / citation.ZENODO).read_text(encoding="utf-8"))
    version = json.loads((ROOT / "data" / "datapackage.json").read_text(encoding="utf-8"))["version"]
    released = json.loads((ROOT / "data" / "release.json").read_text(encoding="utf-8"))["date"]
    assert str(cff["version"]) == zenodo["version"] == version
    assert str(cff["date-released"]) == zenodo["publication_date"] == released
    assert cff["title"] == zenodo["title"]


def test_stamp_writes_version_and_date_into_both_files(tmp_path):
    for name in (citation.CFF, citation.ZENODO):
        (tmp_path / name).write_text((ROOT / name).read_text(encoding="utf-8"), encoding="utf-8")
    written = citation.stamp(tmp_path, "27.0.1", "2027-03-04")
    assert {p.name for p in written} == {citation.CFF, citation.ZENODO}
    cff = citation.read_citation(tmp_path)
    assert str(cff["version"]) == "27.0.1" and str(cff["date-released"]) == "2027-03-04"
    assert "# How to cite this living review" in (tmp_path / citation.CFF).read_text(encoding="utf-8")  # comments kept
    zenodo = json.loads((tmp_path / citation.ZENODO).read_text(encoding="utf-8"))
    assert (zenodo["version"], zenodo["publication_date"]) == ("27.0.1", "2027-03-04")
    page = citation.how_to_cite_md(cff, "2027-03-05", long_date)
    assert "Version 27.0.1, released 4 March 2027" in page.replace("\\", "") and cff["url"] in page
