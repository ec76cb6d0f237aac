"""Entering a trial with ``python -m analysis add``: merged rows, canonical order, refusals that
leave the data untouched, messages that name the YAML file, key path, value and rule.

The trial files of the maintainer's drill are in tests/fixtures/trials/ (illustrative values,
never merged into data/); every test merges into a temporary copy of the shipped data.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from analysis import dataset
from analysis.commands import add as add_command
from analysis.dataset.add import AddError, add_trial, template

from conftest import ROOT, TRIALS, awaiting_trial_file


@pytest.fixture
def data_dir(tmp_path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(ROOT / "data", target, ignore=shutil.ignore_patterns("sources"))
    return target


def _hashes(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trial.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_binary_outcomes_of_existing_trials_are_added(data_dir):
    report = add_trial(TRIALS / "binary-service-use.yml", data_dir, today="2026-12-02")
    assert sorted(report.added["outcomes"]) == ["rivera2007-drill-admission", "solomon1995-drill-admission",
                                                "solomon1995-drill-crisis"]
    rows = _rows(data_dir / "outcomes.csv")
    assert [r["outcome_id"] for r in rows] == sorted(r["outcome_id"] for r in rows)   # canonical order
    added = {r["outcome_id"]: r for r in rows}["solomon1995-drill-admission"]
    assert (added["events1"], added["total1"], added["events2"], added["total2"]) == ("9", "48", "15", "48")
    assert json.loads((data_dir / "datapackage.json").read_text())["updated"] == "2026-12-02"
    # no domain selects service use yet: the maintainer is told, with the row's key path
    assert any(w.startswith(f"{TRIALS / 'binary-service-use.yml'}: outcomes[0].subdomain") and "domain-unselected" in w
               for w in report.warnings)


def test_the_worked_example_of_data_readme_merges(data_dir, tmp_path):
    """The first worked example of data/README.md ("A new trial with a continuous outcome") works as
    printed and leaves no warning on the new trial; without its study characteristics, the warnings
    name the dataset's own files."""
    readme = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    example = readme.split("**A new trial with a continuous outcome.**", 1)[1].split("```yaml\n", 1)[1]
    # a fresh identifier: the example's trial may have been entered for real in the live data
    example = example.split("```", 1)[0].replace("smith2024", "readme-example-2099")
    bare = re.sub(r"study_characteristics:.*?(?=^outcomes:)", "", example, flags=re.S | re.M)
    assert bare != example
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    report = add_trial(_write(tmp_path, example), data_dir, today="2026-12-02")
    assert report.added["studies"] == ["readme-example-2099"]
    assert report.added["outcomes"] == ["readme-example-2099-ras"]
    assert report.warnings == []
    without = add_trial(_write(tmp_path, bare), copy, today="2026-12-02")
    missing = [w for w in without.warnings if "characteristic-missing" in w]
    assert missing and all(str(copy / "study_characteristics.csv") in w for w in missing), missing
    assert not any("/add-" in w for w in without.warnings), without.warnings   # not the checked copy


def test_a_trial_that_awaited_extraction_is_filled(data_dir, tmp_path):
    trial, study = awaiting_trial_file(data_dir, tmp_path)
    before = {r["study_id"]: r for r in _rows(data_dir / "studies.csv")}[study]
    assert before["outcome_data"] == "not yet extracted"
    report = add_trial(trial, data_dir)
    after = {r["study_id"]: r for r in _rows(data_dir / "studies.csv")}[study]
    assert after["outcome_data"] == "extracted" and after["design"] == "individual-rct" and after["arms"] == "2"
    # what was there stays as it was
    assert {k: after[k] for k in ("label", "setting", "source", "source_row")} == \
        {k: before[k] for k in ("label", "setting", "source", "source_row")}
    assert report.filled and report.added["risk_of_bias"] == [f"{study}, "]
    ds = dataset.load(data_dir)
    assert study in set(dataset.domain_rows(ds, "empowerment-self-efficacy")["study_id"])


def test_a_second_report_is_cited_with_the_trial(data_dir):
    add_trial(TRIALS / "second-report.yml", data_dir)
    ds = dataset.load(data_dir)
    assert dataset.citation_keys(ds, ["johnson2018"]) == ["johnson2018", "johnson2018-drill-report"]
    assert "@article{johnson2018-drill-report," in (data_dir / "references.bib").read_text()


def test_adding_the_same_file_twice_changes_nothing(data_dir):
    add_trial(TRIALS / "second-report.yml", data_dir)
    before = _hashes(data_dir)
    with pytest.raises(AddError) as caught:
        add_trial(TRIALS / "second-report.yml", data_dir)
    assert _hashes(data_dir) == before
    assert any("study_references[0]" in p and "rule already-added" in p for p in caught.value.problems)
    assert any("references[0]" in p and "rule already-added" in p for p in caught.value.problems)


def test_an_error_names_file_key_path_value_and_rule_and_writes_nothing(data_dir, tmp_path):
    text = (TRIALS / "binary-service-use.yml").read_text().replace("events1: 9", "events1: 90", 1)
    path = _write(tmp_path, text)
    before = _hashes(data_dir)
    with pytest.raises(AddError) as caught:
        add_trial(path, data_dir)
    assert _hashes(data_dir) == before
    assert f"{path}: outcomes[0].events1: value '90': rule events-range: events must satisfy 0 <= events <= total (48)" \
        in caught.value.problems


def test_an_existing_value_is_never_changed(data_dir, tmp_path):
    path = _write(tmp_path, "studies:\n  - study_id: johnson2018\n    year: 2019\n")
    with pytest.raises(AddError) as caught:
        add_trial(path, data_dir)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: studies[0].year: value '2019': rule study-exists: study 'johnson2018' "
                              "already has year '2018'")


def test_unknown_tables_and_columns_get_a_suggestion(data_dir, tmp_path):
    path = _write(tmp_path, "studes: []\noutcomes:\n  - outcome_id: x-1\n    studyid: x\n")
    with pytest.raises(AddError) as caught:
        add_trial(path, data_dir)
    problems = caught.value.problems
    assert f"{path}: studes: rule unknown-table: not a table of the dataset (did you mean 'studies'?)" in problems
    assert f"{path}: outcomes[0].studyid: rule unknown-column: not a column of outcomes.csv " \
           "(did you mean 'study_id'?)" in problems


def test_yaml_that_does_not_parse_is_refused(data_dir, tmp_path):
    path = _write(tmp_path, "outcomes:\n  - outcome_id: [unclosed\n")
    with pytest.raises(AddError) as caught:
        add_trial(path, data_dir)
    assert caught.value.problems[0].startswith(f"{path}: line ") and "rule yaml" in caught.value.problems[0]


def test_the_command_prints_one_line_per_problem(data_dir, tmp_path, capsys):
    path = _write(tmp_path, "studies:\n  - study_id: johnson2018\n    year: 2019\n")
    assert add_command.main([str(path), "--data", str(data_dir)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"error: {path}: studies[0].year") and err[-1] == f"nothing was written to {data_dir}"
    assert "Traceback" not in "\n".join(err)


def test_template_lists_every_column_of_the_schema():
    package = json.loads((ROOT / "data" / "datapackage.json").read_text(encoding="utf-8"))
    committed = (ROOT / "data" / "templates" / "trial.yml").read_text(encoding="utf-8")
    assert committed == template(package), "data/templates/trial.yml is out of date: regenerate it with template()"
