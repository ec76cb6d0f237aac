"""The shared data sets of tests/datasets.py against their two other records.

Each typed-out column must equal (a) the table or list of tests/reference/REFERENCE-VALUES.md in
the section the data set names, and (b) the ``input`` of the metafor fixtures it names, which
tests/reference/generate_fixtures.R exported from metafor's data sets. A mistyped number fails
here, with the column and study, instead of as a reference value missed elsewhere.
"""
import re

import numpy as np
import pytest

from datasets import (
    BCG,
    CLASP,
    FIXTURES,
    FROM_FIXTURES,
    NORMAND1999,
    NORMAND1999_TABLE3,
    RAUDENBUSH1985,
    REFERENCE_VALUES,
    TYPED_OUT,
    Dataset,
    csv_text,
    fixture_input,
    hackshaw_log_or,
    magnesium_log_or,
)


def section(reference: str) -> str:
    """The text of section ``R<n>`` of tests/reference/REFERENCE-VALUES.md."""
    label = reference.rsplit(" ", 1)[1]
    text = REFERENCE_VALUES.read_text(encoding="utf-8")
    match = re.search(rf"^## {label}\. .*?(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"{REFERENCE_VALUES.name} has no section {label}"
    return match.group(0)


def table(text: str) -> dict[str, list[str]]:
    """The first markdown table of ``text`` as columns of cell strings."""
    rows = [line.strip().strip("|").split("|") for line in text.splitlines()
            if line.startswith("|") and not set(line) <= set("|- ")]
    header, *body = [[cell.strip() for cell in row] for row in rows]
    return {name: [row[i] for row in body] for i, name in enumerate(header)}


def listed(text: str, name: str) -> list[float]:
    """The numbers of ``name = a, b, c`` in ``text``."""
    match = re.search(rf"\b{name} = ([-\d., ]+?)[;\n]", text)
    assert match, f"no list {name} = ... in the section"
    return [float(value) for value in match.group(1).rstrip(".").split(",")]


def same(actual, expected, what):
    actual, expected = list(actual), list(expected)
    assert len(actual) == len(expected), f"{what}: {len(actual)} values, the record has {len(expected)}"
    for study, (a, e) in enumerate(zip(actual, expected), start=1):
        assert a == e, f"{what}, study {study}: {a!r} here, {e!r} in the record"


# -- (a) the reference document ------------------------------------------------------------------

def test_bcg_is_the_table_of_r1():
    columns = table(section(BCG.reference))
    same(BCG.labels, columns["trial"], "BCG trial")
    for name in ("year", "tpos", "tneg", "cpos", "cneg", "ablat"):
        same(BCG.columns[name], [int(v) for v in columns[name]], f"BCG {name}")


def test_normand1999_is_the_table_of_r2():
    columns = table(section(NORMAND1999.reference))
    for ours, theirs in (("n1", "n1"), ("mean1", "m1"), ("sd1", "sd1"), ("n2", "n2"),
                         ("mean2", "m2"), ("sd2", "sd2")):
        same(NORMAND1999.columns[ours], [int(v) for v in columns[theirs]], f"Normand {ours}")


def test_raudenbush1985_is_the_list_of_r3():
    # R3 lists yi only; vi are metafor's (checked against the fixture below)
    same(RAUDENBUSH1985.yi, listed(section(RAUDENBUSH1985.reference), "yi"), "Raudenbush yi")


def test_clasp_is_the_list_of_r4():
    text = section(CLASP.reference)
    for ours, theirs in (("total1", "n1"), ("total2", "n2"), ("events1", "events1"),
                         ("events2", "events2")):
        same(CLASP.columns[ours], listed(text, theirs), f"CLASP {ours}")


def test_normand1999_table3_is_the_list_of_r5():
    text = section(NORMAND1999_TABLE3.reference)
    for name in ("yi", "vi"):
        same(NORMAND1999_TABLE3.columns[name], listed(text, name), f"Normand Table III {name}")


# -- (b) the metafor fixtures --------------------------------------------------------------------

def test_bcg_is_metafor_s_dat_bcg():
    data = fixture_input("bcg_rr")
    same(BCG.labels, data["study"], "BCG study")
    for ours, theirs in (("tpos", "events1"), ("cpos", "events2"), ("year", "year"),
                         ("ablat", "ablat"), ("alloc", "alloc")):
        same(BCG.columns[ours], data[theirs], f"BCG {ours}")
    same(BCG.tpos + BCG.tneg, data["total1"], "BCG tpos + tneg")
    same(BCG.cpos + BCG.cneg, data["total2"], "BCG cpos + cneg")


@pytest.mark.parametrize("fixture", NORMAND1999.fixtures)
def test_normand1999_is_metafor_s_dat_normand1999(fixture):
    data = fixture_input(fixture)
    same(NORMAND1999.labels, data["source"], f"{fixture} source")
    for name in ("n1", "mean1", "sd1", "n2", "mean2", "sd2"):
        same(NORMAND1999.columns[name], data[name], f"{fixture} {name}")


@pytest.mark.parametrize("dataset, columns", [
    (RAUDENBUSH1985, ("yi", "vi")),
    (CLASP, ("events1", "total1", "events2", "total2")),
    (NORMAND1999_TABLE3, ("yi", "vi")),
], ids=lambda value: value.fixtures[0] if isinstance(value, Dataset) else None)
def test_columns_are_the_fixture_input(dataset, columns):
    (fixture,) = dataset.fixtures
    data = fixture_input(fixture)
    same(dataset.labels, data["study"], f"{fixture} study")
    for name in columns:
        same(dataset.columns[name], data[name], f"{fixture} {name}")


@pytest.mark.parametrize("dataset", TYPED_OUT, ids=lambda d: d.name)
def test_every_data_set_names_its_records(dataset):
    assert dataset.source and section(dataset.reference)
    for fixture in dataset.fixtures:
        assert (FIXTURES / f"{fixture}.json").is_file(), fixture


@pytest.mark.parametrize("fixture", list(FROM_FIXTURES))
def test_data_read_from_fixtures_name_their_records(fixture):
    source, reference = FROM_FIXTURES[fixture]
    assert source and section(reference)
    assert (FIXTURES / f"{fixture}.json").is_file()


# -- the module's own behaviour ------------------------------------------------------------------

def test_shared_columns_cannot_be_altered():
    with pytest.raises(ValueError, match="read-only"):
        BCG.tpos[0] = 0
    with pytest.raises(TypeError):
        BCG.columns["tpos"] = np.zeros(13)
    assert isinstance(BCG.alloc, tuple)
    with pytest.raises(AttributeError, match="no column 'tposs'"):
        BCG.tposs


def test_columns_must_have_one_value_per_study():
    with pytest.raises(ValueError, match="column x has 2 values for 3 studies"):
        Dataset("bad", source="s", reference="r", fixtures=[], labels="abc", x=[1, 2])


def test_fixture_derived_data_sets():
    yi, vi, labels = magnesium_log_or()
    assert len(yi) == len(vi) == len(labels) == 16 and np.all(vi > 0)
    # Bertschat has no death in the magnesium arm: 1/2 is added to its four cells only
    (i,) = [i for i, name in enumerate(labels) if name == "Bertschat"]
    assert vi[i] == 1 / 0.5 + 1 / 22.5 + 1 / 1.5 + 1 / 20.5
    yi, vi, labels = hackshaw_log_or()
    assert len(yi) == len(vi) == len(labels) == 37


def test_csv_text_writes_integers_and_printed_decimals():
    assert csv_text({"study": ["a", "b"], "n": np.array([3, 40])}) == "study,n\na,3\nb,40\n"
    assert csv_text({"yi": np.array([0.0, 6.132])}, decimals=4) == "yi\n0.0000\n6.1320\n"
    with pytest.raises(ValueError, match="decimals"):
        csv_text({"yi": np.array([0.5])})
