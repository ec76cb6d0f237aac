"""The loader: curation, domain slices, effect sizes (on the fixture dataset of
tests/bad_inputs/valid/), and the shipped data/ (28 Metapsy trials, 66 outcome rows)."""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest

from analysis import dataset
from analysis.chapter import analyse_domain
from analysis.stats import aggregate

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "data"
VALID = Path(__file__).parent / "bad_inputs" / "valid"
needs_shipped = pytest.mark.skipif(not (SHIPPED / "datapackage.json").exists(),
                                   reason="data/datapackage.json not written yet")


@pytest.fixture
def fixture_dir(tmp_path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(VALID, target)
    return target


def _row(frame, outcome_id):
    (row,) = frame[frame["outcome_id"] == outcome_id].to_dict("records")
    return row


def _hedges_g(n1, m1, s1, n2, m2, s2):
    """Hedges' g with the exact J (Hedges 1981, eq. 6e) and metafor's LS variance, written out."""
    m = n1 + n2 - 2
    sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / m)
    j = math.exp(math.lgamma(m / 2) - math.lgamma((m - 1) / 2)) / math.sqrt(m / 2)
    g = j * (m1 - m2) / sp
    return g, 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))


# --------------------------------------------------------------------------- fixture


def test_curated_view_applies_set_and_keeps_raw(fixture_dir):
    ds = dataset.load(fixture_dir)
    assert _row(ds.outcomes, "beta2015-o2")["sd1"] == 12.0
    assert _row(ds.outcomes, "beta2015-o2")["sd2"] == 13.0
    assert _row(ds.raw_outcomes, "beta2015-o2")["sd1"] == 1.2
    assert [a["curation_id"] for a in ds.applied] == ["c-001", "c-002", "c-003"]
    raw = dataset.load(fixture_dir, curated=False)
    assert _row(raw.outcomes, "beta2015-o2")["sd1"] == 1.2 and raw.applied == []


def test_exclude_drops_row_or_study(fixture_dir):
    shutil.copyfile(fixture_dir / "curation.csv", fixture_dir / "curation.orig")
    with open(fixture_dir / "curation.csv", "a", encoding="utf-8") as fh:
        fh.write("c-004,beta2015,beta2015-o1,,exclude,,,not a comparison of interest,protocol,2026-01-16\n")
    ds = dataset.load(fixture_dir)
    assert "beta2015-o1" not in set(ds.outcomes["outcome_id"]) and len(ds.outcomes) == 4
    assert len(ds.raw_outcomes) == 5
    assert sorted(dataset.domain_rows(ds, "clinical-recovery", curated=False)["outcome_id"]) == [
        "alpha2010-o2", "beta2015-o1"]
    shutil.copyfile(fixture_dir / "curation.orig", fixture_dir / "curation.csv")
    with open(fixture_dir / "curation.csv", "a", encoding="utf-8") as fh:
        fh.write("c-004,alpha2010,,,exclude,,,wrong population,protocol,2026-01-16\n")
    ds = dataset.load(fixture_dir)
    assert sorted(ds.outcomes["outcome_id"]) == ["beta2015-o1", "beta2015-o2", "gamma2020-o1"]
    # the g-sign warning of alpha2010-o2 stays a note: the row is excluded
    assert not [i for i in ds.issues if i.severity == "warning"]


def test_excluding_every_row_of_a_domain_is_an_error(fixture_dir):
    with open(fixture_dir / "curation.csv", "a", encoding="utf-8") as fh:
        fh.write("c-004,gamma2020,,,exclude,,,not a comparison of interest,protocol,2026-01-16\n")
    errors = [(i.file.split("/")[-1], i.line, i.rule) for i in dataset.check(fixture_dir) if i.severity == "error"]
    assert ("domains.yml", 13, "domain-select") in errors
    assert not [i for i in dataset.check(fixture_dir, curated=False) if i.severity == "error"]


def test_load_raises_with_every_error(fixture_dir):
    bad = (fixture_dir / "outcomes.csv").read_text().replace(",50,60,15,50,55,15,", ",50,60,-1,1,55,15,")
    (fixture_dir / "outcomes.csv").write_text(bad)
    with pytest.raises(dataset.DataError) as err:
        dataset.load(fixture_dir)
    rules = sorted((i.line, i.column, i.rule) for i in err.value.issues if i.severity == "error")
    assert rules == [(2, "n2", "n-min"), (2, "sd1", "sd-positive")]


def test_raw_file_never_modified(fixture_dir):
    before = hashlib.sha256((fixture_dir / "outcomes.csv").read_bytes()).hexdigest()
    dataset.load(fixture_dir)
    assert hashlib.sha256((fixture_dir / "outcomes.csv").read_bytes()).hexdigest() == before


def test_domain_rows_join_study_and_rob(fixture_dir):
    ds = dataset.load(fixture_dir)
    rows = dataset.domain_rows(ds, "personal-recovery")
    assert sorted(rows["outcome_id"]) == ["alpha2010-o1", "beta2015-o2"]
    # outcome-specific RoB wins over the study-level row (risk_of_bias.csv lines 3 and 4)
    assert _row(rows, "beta2015-o2")["rob_overall"] == "high"
    assert _row(rows, "alpha2010-o1")["rob_overall"] == "some-concerns"
    assert _row(rows, "alpha2010-o1")["label"] == "Alpha, 2010"
    assert _row(rows, "beta2015-o2")["comparator_study"] == "waitlist"
    assert _row(dataset.domain_rows(ds, "personal-recovery", curated=False), "beta2015-o2")["sd1"] == 1.2
    with pytest.raises(KeyError, match="unknown domain 'nope'"):
        dataset.domain_rows(ds, "nope")


def test_effect_sizes_by_data_type(fixture_dir):
    ds = dataset.load(fixture_dir)
    es = dataset.effect_sizes(dataset.domain_rows(ds, "clinical-recovery"), ds)
    # msd, Symptom B (lower is better): 40/20/8 vs 40/23/9 -> sign flipped to favour arm 1
    g, v = _hedges_g(40, 20, 8, 40, 23, 9)
    assert _row(es, "alpha2010-o2")["yi"] == pytest.approx(-g, rel=1e-12)
    assert _row(es, "alpha2010-o2")["vi"] == pytest.approx(v, rel=1e-12)
    # effect-se: yi as recorded, vi = sei^2
    assert (_row(es, "beta2015-o1")["yi"], _row(es, "beta2015-o1")["vi"]) == (0.2, pytest.approx(0.01, rel=1e-12))
    # events: 20/40 vs 12/40, log OR x sqrt(3)/pi, var x 3/pi^2 (Chinn 2000)
    es = dataset.effect_sizes(dataset.domain_rows(ds, "functioning"), ds)
    log_or = math.log(20 * 28 / (20 * 12))
    var = 1 / 20 + 1 / 20 + 1 / 12 + 1 / 28
    assert _row(es, "gamma2020-o1")["yi"] == pytest.approx(log_or * math.sqrt(3) / math.pi, rel=1e-12)
    assert _row(es, "gamma2020-o1")["vi"] == pytest.approx(var * 3 / math.pi**2, rel=1e-12)


def test_effect_sizes_curated_and_as_published(fixture_dir):
    ds = dataset.load(fixture_dir)
    rows = dataset.domain_rows(ds, "personal-recovery")
    curated = dataset.effect_sizes(rows, ds)
    g, v = _hedges_g(30, 70, 12, 30, 66, 13)  # SDs as set by c-001, c-002
    assert _row(curated, "beta2015-o2")["yi"] == pytest.approx(g, rel=1e-12)
    published = dataset.effect_sizes(rows, ds, as_published=True)
    assert _row(published, "beta2015-o2")["yi"] == 3.1559
    assert _row(published, "beta2015-o2")["vi"] == pytest.approx(0.3869**2, rel=1e-12)


def test_quality_notes_cite_decisions(fixture_dir):
    ds = dataset.load(fixture_dir)
    notes = dataset.quality_notes(ds, dataset.domain_rows(ds, "clinical-recovery"))
    assert any(n.startswith("c-003: flag alpha2010-o2") for n in notes)
    assert any(n.startswith("note: ") and "rule g-sign" in n for n in notes)


# --------------------------------------------------------------------------- shipped data


@needs_shipped
def test_shipped_data_pass_check():
    errors = [str(i) for i in dataset.check(SHIPPED) if i.severity == "error"]
    assert not errors, f"{len(errors)} error(s), first: " + "\n".join(errors[:10])


@needs_shipped
def test_shipped_schema_has_the_contract_columns():
    """Column lists of data/datapackage.json = docs/DESIGN.md (as transcribed in the fixture)."""
    def fields(path):
        package = json.loads(path.read_text(encoding="utf-8"))
        return {r["path"]: [f["name"] for f in r["schema"]["fields"]]
                for r in package["resources"] if r["path"].endswith(".csv")}
    shipped, contract = fields(SHIPPED / "datapackage.json"), fields(VALID / "datapackage.json")
    assert {p: shipped.get(p) for p in contract} == contract


@needs_shipped
def test_shipped_trials_with_data_are_the_extracted_ones():
    ds = dataset.load(SHIPPED)
    # rules of the live data (the Metapsy rows themselves are compared with the vendored snapshot's
    # import in test_import.py): every extracted trial has rows, every trial with rows is extracted
    assert set(ds.studies.loc[ds.studies["outcome_data"] == "extracted", "study_id"]) == set(ds.raw_outcomes["study_id"])
    assert ds.raw_outcomes["outcome_id"].is_unique and not ds.raw_outcomes.empty


@needs_shipped
def test_shipped_curation_corrects_salzer():
    ds = dataset.load(SHIPPED)
    raw, curated = _row(ds.raw_outcomes, "salzer2016-ras"), _row(ds.outcomes, "salzer2016-ras")
    # Metapsy data.csv:61 prints SD 1.49 and 1.54 (n = 50, 49) for the RAS total
    assert (raw["sd1"], raw["sd2"]) == (1.49, 1.54)
    assert curated["sd1"] > 5 * raw["sd1"] and curated["sd2"] > 5 * raw["sd2"]
    decisions = {a["field"] for a in ds.applied if a["outcome_id"] == "salzer2016-ras" and a["action"] == "set"}
    assert decisions == {"sd1", "sd2"}


def _flagged(issues, severity, ds):
    lines = dict(zip(ds.raw_outcomes["_line"], ds.raw_outcomes["study_id"]))
    return {(lines[i.line], i.rule) for i in issues
            if i.severity == severity and i.file.endswith("outcomes.csv") and i.line in lines}


@needs_shipped
def test_shipped_raw_import_flags_salzer_and_davidson():
    ds = dataset.load(SHIPPED)
    raw = _flagged(dataset.check(SHIPPED, curated=False), "warning", ds)
    assert {("salzer2016", "sd-small"), ("davidson2004", "g-sign")} <= raw
    curated = dataset.check(SHIPPED)
    assert not {s for s, _ in _flagged(curated, "warning", ds)} & {"salzer2016", "davidson2004"}
    assert {("davidson2004", "g-sign")} <= _flagged(curated, "note", ds)


def test_every_shipped_domain_has_one_effect_per_trial():
    ds = dataset.load(SHIPPED)
    for domain in ds.domains:
        rep = analyse_domain(ds, domain["id"])
        assert rep.primary.k == rep.rows["study_id"].nunique() == len(rep.trials)
        several = rep.rows.groupby("study_id").size()
        for sid in several[several > 1].index:
            rows = rep.rows[rep.rows["study_id"] == sid]
            combined = aggregate(rows["yi"], rows["vi"], [sid] * len(rows), rho=0.5)
            trial = rep.trials.set_index("study_id").loc[sid]
            assert (trial["yi"], trial["vi"]) == pytest.approx((combined.yi[0], combined.vi[0]))
            assert any(s["analysis"] == "All rows as independent comparisons" for s in rep.sensitivity)
