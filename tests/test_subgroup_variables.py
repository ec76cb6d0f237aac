"""Subgroup analyses of a domain chapter: trials without a value are left out, and a variable is
analysed only where at least two subgroups have trials, in a domain of three trials or more (the
setting of Egmose et al. 2023, the peer role of White et al. 2020 and the type of group of Lyons
et al. 2021 are known for some trials only)."""
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


@pytest.fixture
def shipped_copy(tmp_path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(ROOT / "data", target, ignore=shutil.ignore_patterns("sources"))
    return target


def one_setting(directory: Path, value: str) -> None:
    """Every classified setting of study_characteristics.csv set to ``value``."""
    path = directory / "study_characteristics.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields, records = reader.fieldnames, list(reader)
    for record in records:
        if record["characteristic"] == "setting" and record["value"]:
            record["value"] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def test_a_variable_with_one_subgroup_is_not_analysed(shipped_copy):
    one_setting(shipped_copy, "added-to-services")
    rep = analyse_domain(dataset.load(shipped_copy), "personal-recovery")
    coded = int(rep.trials["setting"].notna().sum())
    assert 0 < coded < len(rep.trials)
    assert rep.subgroups["setting"] == (f"not done: the {coded} trial(s) with a value are all "
                                        f"'peers added to services' ({len(rep.trials) - coded} without a value)")
    table = render.subgroup_table(rep).frame
    assert "Setting (Egmose et al. 2023)" not in set(table["variable"])
    # every column is filled where it applies: I² for each subgroup of two or more trials
    several = table["trials"] >= 2
    assert several.any() and (table.loc[several, "I²"].str.endswith("%")).all()
    listed = render.subgroups_not_done_md(rep)
    assert f"- {render.md_escape('Setting (Egmose et al. 2023)')}: " in listed
    assert render.md_escape(rep.subgroups["setting"]) in listed


def test_a_domain_of_fewer_than_three_trials_has_no_subgroup_tests(fixture_dir):
    rep = analyse_domain(dataset.load(fixture_dir), "clinical-recovery")   # alpha2010 and beta2015
    assert rep.primary.k == 2
    assert all(result == "not done: fewer than 3 trials" for result in rep.subgroups.values())


def test_trials_without_a_value_are_left_out():
    # personal recovery in the shipped data has trials Egmose did not classify
    ds = dataset.load(ROOT / "data")
    rep = analyse_domain(ds, "personal-recovery")
    res = rep.subgroups["setting"]
    trials = rep.trials
    coded = trials["setting"].notna().to_numpy()
    assert 0 < coded.sum() < len(coded)
    assert sum(r.k for r in res.groups.values()) == int(coded.sum())
    assert res.notes == [f"{int((~coded).sum())} of {rep.primary.k} trials without a value left out"]
    # each subgroup is the pooled result of exactly its trials, with the chapter's settings
    for name, fit in res.groups.items():
        mask = np.array([c and label_of(v, "setting") == name for c, v in zip(coded, trials["setting"])])
        alone = rma(trials["yi"].to_numpy(float)[mask], trials["vi"].to_numpy(float)[mask],
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
