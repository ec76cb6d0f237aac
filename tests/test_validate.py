"""``python -m analysis check`` on the catalogue of malformed inputs in tests/bad_inputs/.

Each case replaces one file of the valid fixture dataset (tests/bad_inputs/valid/) and states in
its ``.expect`` file the exit code and the lines the check must print (see
tests/bad_inputs/README.md). The expected lines were written from the rule each case breaks,
not copied from the program's output.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analysis.commands import check as validate
from analysis.dataset import Issue

BAD = Path(__file__).parent / "bad_inputs"
VALID = BAD / "valid"
CASES = sorted(p.stem for p in BAD.glob("*.expect"))


def _case_file(name: str) -> Path:
    (path,) = [p for p in BAD.glob(f"{name}.*") if p.suffix != ".expect"]
    return path


def _expectation(name: str) -> tuple[str, int, list[str]]:
    lines = (BAD / f"{name}.expect").read_text(encoding="utf-8").splitlines()
    comment, exit_line, *expected = lines
    assert comment.startswith("# ") and exit_line.startswith("exit ")
    return comment[2:], int(exit_line.split()[1]), [e.replace(" ", ": ", 1) for e in expected]


def _run(directory: Path, *options: str, capsys) -> tuple[int, list[str]]:
    code = validate.main([str(directory), *options])
    out = capsys.readouterr().out
    return code, out.replace(f"{directory}/", "").splitlines()


@pytest.fixture
def dataset(tmp_path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(VALID, target)
    return target


def test_catalogue_is_large_enough():
    assert len(CASES) >= 40


def test_valid_fixture_passes(dataset, capsys):
    code, lines = _run(dataset, capsys=capsys)
    assert code == 0
    assert not [line for line in lines if line.startswith(("error:", "warning:"))], lines


@pytest.mark.parametrize("name", CASES)
def test_bad_input(name, dataset, capsys):
    comment, exit_code, expected = _expectation(name)
    case = _case_file(name)
    target = case.name[len(name) + 1:]
    assert (dataset / target).exists(), f"{case.name} must replace a file of the fixture"
    shutil.copyfile(case, dataset / target)
    code, lines = _run(dataset, capsys=capsys)
    assert code == exit_code, f"{comment}: exit {code}\n" + "\n".join(lines)
    for want in expected:
        assert any(line.startswith(want) for line in lines), f"{comment}: missing {want!r} in\n" + "\n".join(lines)
    assert (": INVALID: " in lines[-1]) == (exit_code == 1), lines[-1]


def test_sorted_by_file_and_line(dataset, capsys):
    shutil.copyfile(_case_file("sd-negative"), dataset / "outcomes.csv")
    shutil.copyfile(_case_file("enum-design"), dataset / "studies.csv")
    shutil.copyfile(_case_file("curation-old-value"), dataset / "curation.csv")
    code, lines = _run(dataset, capsys=capsys)
    assert code == 1
    issues = [line.split(": ", 1)[1] for line in lines[:-1]]
    keys = [(i.split(":")[0], int(i.split(":")[1])) for i in issues]
    assert keys == sorted(keys)
    # a curation log with an error is not applied: the fixture's notes stay warnings
    assert lines[-1].endswith("3 error(s), 3 warning(s), 0 note(s)")


def test_json_output(dataset, capsys):
    shutil.copyfile(_case_file("sd-negative"), dataset / "outcomes.csv")
    code = validate.main([str(dataset), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["errors"] == 1
    (issue,) = [i for i in report["issues"] if i["severity"] == "error"]
    assert issue == {"file": f"{dataset}/outcomes.csv", "line": 2, "column": "sd1", "value": "-1",
                     "rule": "sd-positive", "message": "SD must be > 0", "severity": "error"}


def test_no_curation_turns_notes_into_warnings(dataset, capsys):
    # The fixture's beta2015-o2 has SDs of 1.2 and 1.3 on a 0-100 scale (set to 12 and 13 by
    # c-001/c-002) and alpha2010-o2 a printed g with the sign reversed (flagged by c-003).
    code, lines = _run(dataset, "--no-curation", capsys=capsys)
    assert code == 0
    warnings = {line.split(": rule ")[0] for line in lines if line.startswith("warning:")}
    assert warnings == {
        "warning: outcomes.csv:3: column 'recorded_g': value '-0.3489'",
        "warning: outcomes.csv:5: column 'sd1': value '1.2'",
        "warning: outcomes.csv:5: column 'sd2': value '1.3'",
    }
    code, lines = _run(dataset, capsys=capsys)
    assert not any(line.startswith("warning:") for line in lines)
    notes = [line for line in lines if line.startswith("note:")]
    assert any("outcomes.csv:3:" in n and "accounted for by c-003" in n for n in notes)


def test_missing_directory_is_an_error_not_a_traceback(tmp_path, capsys):
    code, lines = _run(tmp_path / "nowhere", capsys=capsys)
    assert code == 1
    assert "rule missing-file" in lines[0]


def test_internal_error_is_one_line(dataset, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(validate.dataset, "check", broken)
    assert validate.main([str(dataset)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: internal error while checking {dataset}: RuntimeError: boom"]


def test_usage_error_exit_2(capsys):
    assert validate.main(["--no-such-option"]) == 2


def test_issue_rendering():
    issue = Issue("data/outcomes.csv", 17, "sd1", "-1", "sd-positive", "SD must be > 0")
    assert str(issue) == "data/outcomes.csv:17: column 'sd1': value '-1': rule sd-positive: SD must be > 0"
    assert str(Issue("data/x.csv", None, None, None, "r", "m")) == "data/x.csv: rule r: m"
