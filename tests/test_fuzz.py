"""Fuzzing: the validator never crashes on damaged files; the engine never returns non-finite
numbers for valid input.

Validator: random damage to one file of the valid fixture dataset (tests/bad_inputs/valid/) -
cells deleted, duplicated, swapped or replaced by odd text, rows deleted or duplicated, bytes
injected, the file truncated, very long fields. ``python -m analysis check`` must answer with exit
0 (still valid) or 1 (errors named) and must never raise or report an internal error (exit 2).

Engine: ``analysis.stats.meta.rma`` over every tau2 estimator and CI method, k = 1..50, sampling
variances over 12 orders of magnitude. The pooled estimate, its SE and CI are always finite;
heterogeneity statistics are finite or None (k = 1), tau2 is never negative.

A trial added by a maintainer (no printed g) must not change the reproduction of Smit et al.

Crashes the fuzzers found are kept as minimal reproducers (regression tests).
Examples are kept few (the module runs in well under a minute on 2 cores); ``derandomize`` makes
a failure reproducible from the test name alone.
"""
from __future__ import annotations

import csv
import io
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.commands import check as validate
from analysis.stats import meta

VALID = Path(__file__).parent / "bad_inputs" / "valid"
CSV_FILES = sorted(p.name for p in VALID.glob("*.csv"))

FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Cell values that have broken CSV readers and number parsers elsewhere.
ODD_CELLS = ["", " ", '"', "\n", "\r\n", ",", ";", "nan", "-inf", "1e309", "-0", "0x1A", "1_000",
             "\u00a0", "\u2212" "1", "\ufeff", "\x00", "NULL", "true", "1e-400", "9" * 400]


def _check(directory: Path, capsys) -> tuple[int, str]:
    code = validate.main([str(directory)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _with_file(name: str, content: bytes, capsys) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "data"
        shutil.copytree(VALID, target)
        (target / name).write_bytes(content)
        return _check(target, capsys)


def _assert_handled(code: int, out: str) -> None:
    assert code in (0, 1), f"exit {code}:\n{out}"
    assert "Traceback" not in out and "internal error" not in out, out
    if code == 1:
        assert " rule " in out and ": INVALID: " in out, out


def _rows(name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO((VALID / name).read_text(encoding="utf-8"), newline="")))


def _write(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8", errors="surrogatepass")


@st.composite
def cell_mutation(draw, name: str) -> bytes:
    """One structural mutation of a CSV file, as bytes."""
    rows = _rows(name)
    r = draw(st.integers(0, len(rows) - 1))
    c = draw(st.integers(0, len(rows[r]) - 1))
    kind = draw(st.sampled_from(["delete", "duplicate", "swap", "odd", "text", "long", "row-delete",
                                 "row-duplicate", "row-swap"]))
    row = rows[r]
    if kind == "delete":
        del row[c]
    elif kind == "duplicate":
        row.insert(c, row[c])
    elif kind == "swap":
        c2 = draw(st.integers(0, len(row) - 1))
        row[c], row[c2] = row[c2], row[c]
    elif kind == "odd":
        row[c] = draw(st.sampled_from(ODD_CELLS))
    elif kind == "text":
        row[c] = draw(st.text(max_size=30))
    elif kind == "long":
        # long text; a long run of digits is the known crash of test_integer_beyond_4300_digits
        row[c] = draw(st.sampled_from(["x", "é", ",", '"', "1."])) * 5_000
    elif kind == "row-delete" and len(rows) > 1:
        del rows[r]
    elif kind == "row-duplicate":
        rows.insert(r, list(row))
    elif kind == "row-swap":
        r2 = draw(st.integers(0, len(rows) - 1))
        rows[r], rows[r2] = rows[r2], rows[r]
    return _write(rows)


@st.composite
def byte_mutation(draw, name: str) -> bytes:
    """Bytes injected at a random position, or the file truncated."""
    data = (VALID / name).read_bytes()
    pos = draw(st.integers(0, len(data)))
    if draw(st.booleans()):
        return data[:pos]
    return data[:pos] + draw(st.binary(min_size=1, max_size=8)) + data[pos:]


# ------------------------------------------------------------------------------- validator


#: Files whose fuzzing currently finds a crash; each has a minimal reproducer below.
@pytest.mark.parametrize("name", CSV_FILES)
def test_cell_mutations_never_crash(name, capsys):
    @FUZZ
    @given(content=cell_mutation(name))
    def run(content):
        _assert_handled(*_with_file(name, content, capsys))
    run()


@pytest.mark.parametrize("name", CSV_FILES + ["domains.yml"])
def test_byte_mutations_never_crash(name, capsys):
    @FUZZ
    @given(content=byte_mutation(name))
    def run(content):
        _assert_handled(*_with_file(name, content, capsys))
    run()


def test_random_text_in_every_column_of_outcomes(capsys):
    header, *rows = _rows("outcomes.csv")

    @settings(FUZZ, max_examples=40)
    @given(column=st.integers(0, len(header) - 1), value=st.text(max_size=20))
    def run(column, value):
        damaged = [list(r) for r in rows]
        damaged[0][column] = value
        _assert_handled(*_with_file("outcomes.csv", _write([header, *damaged]), capsys))
    run()


def test_catalogue_of_odd_cells_in_numbers(capsys):
    # deterministic companion of the fuzzers: every odd value in every number column of outcomes
    header, *rows = _rows("outcomes.csv")
    for column in ("n1", "mean1", "sd1", "yi", "sei", "time_weeks"):
        for value in ODD_CELLS:
            damaged = [list(r) for r in rows]
            damaged[0][header.index(column)] = value
            code, out = _with_file("outcomes.csv", _write([header, *damaged]), capsys)
            _assert_handled(code, out)
            if value.strip() and value not in ("-0", "1e-400"):  # both parse as a number (0)
                assert code == 1, f"{column}={value!r} accepted:\n{out}"


# Minimal reproducers of crashes the fuzzers found (each was an exit 2 "internal error" instead of
# exit 1 with the file, line, column and rule); kept as regression tests.

def test_duplicate_instrument(capsys):
    text = (VALID / "instruments.csv").read_text(encoding="utf-8") + "Scale A,recovery,false,0,100,,fixture\n"
    code, out = _with_file("instruments.csv", text.encode(), capsys)
    assert code == 1 and "instruments.csv:5: column 'instrument': value 'Scale A': rule primary-key" in out, out


def test_integer_beyond_4300_digits(capsys):
    text = (VALID / "studies.csv").read_text(encoding="utf-8").replace("individual-rct,2,smi", "individual-rct," + "1" * 5000 + ",smi", 1)
    code, out = _with_file("studies.csv", text.encode(), capsys)
    assert code == 1 and "studies.csv:2: column 'arms'" in out and "rule number-range" in out, out[:2000]


def test_non_ascii_digits(capsys):
    header, *rows = _rows("outcomes.csv")
    rows[0][header.index("n1")] = "\uff15\uff10"  # full-width "50", as typed with an East Asian IME
    code, out = _with_file("outcomes.csv", _write([header, *rows]), capsys)
    assert code == 1 and "outcomes.csv:2: column 'n1'" in out and "rule type" in out, out


def test_unknown_field_type(capsys):
    text = (VALID / "datapackage.json").read_text(encoding="utf-8").replace('"type": "integer"', '"type": "int"', 1)
    code, out = _with_file("datapackage.json", text.encode(), capsys)
    assert code == 1 and "datapackage.json" in out and "'int'" in out, out


def test_resource_without_schema(capsys):
    text = (VALID / "datapackage.json").read_text(encoding="utf-8").replace('"schema"', '"schema_"', 1)
    code, out = _with_file("datapackage.json", text.encode(), capsys)
    assert code == 1 and "datapackage.json" in out and "schema" in out, out


def test_schema_path_missing(capsys):
    text = (VALID / "datapackage.json").read_text(encoding="utf-8").replace('"schema": {', '"schema": "nowhere.json", "x": {', 1)
    code, out = _with_file("datapackage.json", text.encode(), capsys)
    assert code == 1 and "nowhere.json" in out, out


# ------------------------------------------------------------------------------- engine


FINITE = ("estimate", "se", "ci_low", "ci_high")
FINITE_OR_NONE = ("p", "tau2", "tau2_ci_low", "tau2_ci_high", "tau", "i2_q", "i2_q_ci_low", "i2_q_ci_high",
                  "i2_tau2", "h2", "q", "q_p", "pi_low", "pi_high", "statistic")


def _assert_sane(res: meta.MetaResult) -> None:
    d = res.to_dict()
    for key in FINITE:
        assert d[key] is not None and math.isfinite(d[key]), (key, d)
    for key in FINITE_OR_NONE:
        assert d[key] is None or math.isfinite(d[key]), (key, d)
    assert d["se"] >= 0
    # p is undefined (0/0) only for a zero Knapp-Hartung SE with a zero estimate; metafor: NaN
    assert (0 <= d["p"] <= 1) if d["p"] is not None else (d["se"] == 0 and d["estimate"] == 0), d
    assert d["ci_low"] <= d["estimate"] <= d["ci_high"]
    for key in ("tau2", "tau2_ci_low", "tau2_ci_high", "q"):
        assert d[key] is None or d[key] >= 0, (key, d)
    if d["tau2_ci_low"] is not None:
        assert d["tau2_ci_low"] <= d["tau2_ci_high"]
    if d["pi_low"] is not None:
        assert d["pi_low"] <= d["estimate"] <= d["pi_high"]
        if d["ci_method"] == "z":
            # same normal quantile (or a t quantile for pi t-1/t-2) times sqrt(tau2 + se^2) >= se;
            # with Knapp-Hartung the CI's t(k-1) quantile may exceed the PI's, by design
            assert d["pi_low"] <= d["ci_low"] + 1e-12 and d["pi_high"] >= d["ci_high"] - 1e-12
    weights = np.array([s["weight"] for s in d["studies"]])
    assert np.all(np.isfinite(weights)) and np.all(weights >= 0)
    assert weights.sum() == pytest.approx(100)
    # the estimate is a weighted mean of the effects: it lies within their range
    yi = np.array([s["yi"] for s in d["studies"]])
    assert yi.min() - 1e-9 * (1 + abs(yi.min())) <= d["estimate"] <= yi.max() + 1e-9 * (1 + abs(yi.max()))


@st.composite
def studies(draw):
    k = draw(st.integers(1, 50))
    yi = draw(st.lists(st.floats(-5, 5, allow_nan=False), min_size=k, max_size=k))
    log_vi = draw(st.lists(st.floats(-8, 4), min_size=k, max_size=k))
    return np.array(yi), 10.0 ** np.array(log_vi)


@pytest.mark.parametrize("ci", meta.CI_METHODS)
@pytest.mark.parametrize("method", meta.METHODS)
@settings(max_examples=15, deadline=None, derandomize=True)
@given(data=studies(), pi=st.sampled_from(meta.PI_METHODS))
def test_engine_random_valid_inputs(method, ci, data, pi):
    yi, vi = data
    try:
        res = meta.rma(yi, vi, method=method, ci=ci, pi=pi)
    except meta.ConvergenceError:
        return  # an iterative estimator may fail to converge, but then it says so
    _assert_sane(res)


EXTREME = {
    "mixed 1e-12 and 1e6": ([0.1, 0.5, -0.2, 0.3], [1e-12, 1e6, 1e-12, 1e6]),
    "identical yi": ([0.3] * 5, [0.01, 0.02, 0.05, 0.1, 0.2]),
    "identical yi and vi": ([0.3] * 4, [0.04] * 4),
    "k = 1": ([0.3], [0.04]),
    "k = 2": ([0.3, -0.3], [0.04, 0.05]),
    "huge heterogeneity": ([-50.0, 50.0, -40.0, 45.0], [1e-6] * 4),
    "tiny variances": ([0.1, 0.2, 0.3], [1e-12] * 3),
    "huge variances": ([0.1, 0.2, 0.3], [1e6] * 3),
}


@pytest.mark.parametrize("case", EXTREME)
@pytest.mark.parametrize("ci", meta.CI_METHODS)
@pytest.mark.parametrize("method", meta.METHODS)
def test_engine_extreme_valid_inputs(method, ci, case):
    yi, vi = (np.array(x, dtype=float) for x in EXTREME[case])
    try:
        res = meta.rma(yi, vi, method=method, ci=ci)
    except (ValueError, meta.ConvergenceError) as exc:
        assert str(exc).strip(), "an error must say what is wrong"
        return
    _assert_sane(res)


@pytest.mark.parametrize("bad", [([0.1, np.nan], [0.1, 0.1]), ([0.1, 0.2], [0.1, np.inf]),
                                 ([0.1, 0.2], [0.1, 0.0]), ([0.1, 0.2], [0.1, -1.0]), ([], [])])
def test_engine_invalid_inputs_raise_valueerror(bad):
    with pytest.raises(ValueError, match=r"\S"):
        meta.rma(np.array(bad[0]), np.array(bad[1]))


# ------------------------------------------------------------------------------- a new trial


def test_new_trial_without_printed_g_leaves_the_reproduction_alone(tmp_path):
    from analysis import chapter, dataset

    real = Path(__file__).resolve().parent.parent / "data"
    before = {r["outcome"]: r["reproduced"] for r in chapter.reproduce_published(dataset.load(real), real)}
    target = tmp_path / "data"
    shutil.copytree(real, target)
    header, *_ = list(csv.reader((target / "studies.csv").open(encoding="utf-8", newline="")))
    study = dict.fromkeys(header, "") | {
        "study_id": "newtrial2026", "label": "Newtrial 2026", "first_author": "Newtrial", "year": "2026",
        "design": "individual-rct", "arms": "2", "population": "smi", "outcome_data": "extracted",
        "citation_key": "newtrial2026", "source": "trial report", "source_row": "table 2"}
    with (target / "studies.csv").open("a", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerow([study[c] for c in header])
    with (target / "references.bib").open("a", encoding="utf-8") as f:
        f.write("\n@article{newtrial2026,\n  author = {Newtrial, A.},\n  title = {A new trial},\n  year = {2026}\n}\n")
    header, *_ = list(csv.reader((target / "outcomes.csv").open(encoding="utf-8", newline="")))
    outcome = dict.fromkeys(header, "") | {
        "outcome_id": "newtrial2026-bprs", "study_id": "newtrial2026", "arm1": "peer support",
        "arm2": "care as usual", "comparator": "cau", "category": "clinical-recovery",
        "subdomain": "global-symptoms", "instrument": "Brief Psychiatric Rating Scale", "timepoint": "post",
        "data_type": "msd", "n1": "50", "mean1": "40", "sd1": "12", "n2": "50", "mean2": "42", "sd2": "12",
        "source": "trial report", "source_row": "table 2", "verified": "unverified"}
    with (target / "outcomes.csv").open("a", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerow([outcome[c] for c in header])
    ds = dataset.load(target)
    after = {r["outcome"]: r["reproduced"] for r in chapter.reproduce_published(ds, target)}
    assert after == before
