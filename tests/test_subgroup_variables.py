"""Subgroup analyses of a domain chapter: comparisons without a value are left out, and a
variable is analysed only where at least two subgroups have comparisons (the setting of Egmose et
al. 2023, the peer role of White et al. 2020 and the type of group of Lyons et al. 2021 are
known for some trials only)."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from analysis import dataset, rma
from analysis.chapter import analyse_domain, render
from analysis.chapter.labels import SUBGROUP_VARIABLES, label_of

ROOT = Path(__file__).resolve().parents[1]
VALID = Path(__file__).parent / "bad_inputs" / "valid"


@pytest.fixture
def fixture_dir(tmp_path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(VALID, target)
    return target


def set_setting(directory: Path, study_id: str, value: str) -> None:
    path = directory / "studies.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields, records = reader.fieldnames, list(reader)
    for record in records:
        if record["study_id"] == study_id:
            record["setting"] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def test_a_variable_with_one_subgroup_is_not_analysed(fixture_dir):
    # clinical recovery: alpha2010 (peers added to services) and beta2015 (no setting)
    set_setting(fixture_dir, "beta2015", "")
    rep = analyse_domain(dataset.load(fixture_dir), "clinical-recovery")
    assert rep.subgroups["setting"] == ("not done: the 1 comparison(s) with a value are all "
                                        "'peers added to services' (1 without a value)")
    table = render.subgroup_table(rep).data
    assert "Setting (Egmose et al. 2023)" not in set(table["variable"])
    listed = render.subgroups_not_done_md(rep)
    assert f"- {render.md_escape('Setting (Egmose et al. 2023)')}: " in listed
    assert render.md_escape(rep.subgroups["setting"]) in listed


def test_two_subgroups_are_analysed(fixture_dir):
    rep = analyse_domain(dataset.load(fixture_dir), "clinical-recovery")
    res = rep.subgroups["setting"]
    assert {name: r.k for name, r in res.groups.items()} == {"peers added to services": 1,
                                                           "peers independent of services": 1}
    assert res.notes == []


def test_comparisons_without_a_value_are_left_out(fixture_dir):
    # personal recovery in the shipped data has trials Egmose did not classify
    ds = dataset.load(ROOT / "data")
    rep = analyse_domain(ds, "personal-recovery")
    res = rep.subgroups["setting"]
    coded = rep.rows["setting"].notna().to_numpy()
    assert 0 < coded.sum() < len(coded)
    assert sum(r.k for r in res.groups.values()) == int(coded.sum())
    assert res.notes == [f"{int((~coded).sum())} of {rep.primary.k} comparisons without a value left out"]
    # each subgroup is the pooled result of exactly its comparisons, with the chapter's settings
    for name, fit in res.groups.items():
        mask = np.array([c and label_of(v, "setting") == name for c, v in zip(coded, rep.rows["setting"])])
        alone = rma(rep.rows["yi"].to_numpy(float)[mask], rep.rows["vi"].to_numpy(float)[mask],
                    method=rep.settings["method"], ci=rep.settings["ci"], pi=rep.settings["pi"])
        assert fit.estimate == pytest.approx(alone.estimate, rel=1e-10)


def test_every_domain_reports_every_variable():
    ds = dataset.load(ROOT / "data")
    for domain in ds.domains:
        rep = analyse_domain(ds, domain["id"])
        subgroups = rep.to_dict()["subgroups"]
        assert set(subgroups) == {column for column, _ in SUBGROUP_VARIABLES}
        for column, result in subgroups.items():
            assert "not_done" in result or len(result["groups"]) >= 2, (domain["id"], column)
