"""A failed build leaves the published book untouched.

A copy of the session's built book (conftest.built_book: the real build, real data) is the
published book. Then, for a sample
of the malformed-input catalogue (tests/bad_inputs/, at least one case per file of the dataset),
the copy's ``data/`` is replaced by the valid fixture dataset with the case applied, and
``python -m analysis build`` (its ``main``, called in this process: validation refuses before any
chapter runs) must exit non-zero, print the lines the case's ``.expect`` file names (file, line,
column, value and rule) and leave every file of ``_build/html`` and ``_build/results``
byte-identical (sha256 of each file, and no file added or removed). A chapter that fails while
executing is refused the same way (a real build in a subprocess).
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from analysis.commands import build as build_command

from conftest import build, copy_built

BAD = Path(__file__).parent / "bad_inputs"
pytestmark = pytest.mark.slow

#: One or more cases per file of the dataset, and the encodings, delimiters and special values.
CASES = [
    "sd-negative", "decimal-comma-quoted", "nan", "blank-line", "duplicate-header",  # outcomes.csv
    "enum-design", "latin1-bytes", "bom",                                          # studies.csv
    "type-boolean", "inst-infinity",                                               # instruments.csv
    "rob-enum", "duplicate-composite-key",                                         # risk_of_bias.csv
    "curation-old-value",                                                          # curation.csv
    "sr-dangling-study",                                                           # study_reviews.csv
    "pub-i2-range",                                                                # published_estimates.csv
    "reviews-duplicate-id", "reviews-semicolon",                                   # reviews.csv
    "domain-id-code", "malformed-yaml",                                            # domains.yml
    "version", "malformed-json",                                                   # datapackage.json
    "grade-bad-level",                                                             # grade.yml
    "citation-key-missing",                                                        # references.bib
]


def tree_hashes(*dirs: Path) -> dict[str, str]:
    """sha256 of every file under ``dirs``, by path."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


def _case(name: str) -> tuple[Path, int, list[str]]:
    (case,) = [p for p in BAD.glob(f"{name}.*") if p.suffix != ".expect"]
    _, exit_line, *expected = (BAD / f"{name}.expect").read_text(encoding="utf-8").splitlines()
    return case, int(exit_line.split()[1]), [e.replace(" ", ": ", 1) for e in expected]


@pytest.fixture(scope="module")
def published(built_book, tmp_path_factory):
    root = copy_built(built_book, tmp_path_factory.mktemp("refusal") / "review")
    output = [root / "_build" / "html", root / "_build" / "results"]
    before = tree_hashes(*output)
    assert any(k.endswith("index.html") for k in before) and any(k.endswith("build.json") for k in before)
    return root, output, before


def test_sample_covers_every_file_of_the_dataset():
    files = {_case(name)[0].name.split(".", 1)[1] for name in CASES}
    assert files == {p.name for p in (BAD / "valid").iterdir()}


@pytest.mark.parametrize("name", CASES)
def test_bad_data_is_refused_and_nothing_is_published(name, published, capsys):
    root, output, before = published
    case, exit_code, expected = _case(name)
    assert exit_code == 1
    data_dir = root / "data"
    saved = root / "data-real"
    if not saved.exists():
        shutil.copytree(data_dir, saved)
    shutil.rmtree(data_dir)
    shutil.copytree(BAD / "valid", data_dir)
    shutil.copyfile(case, data_dir / case.name[len(name) + 1:])
    try:
        code = build_command.main(["--root", str(root)])
    finally:
        shutil.rmtree(data_dir)
        shutil.copytree(saved, data_dir)
    out, err = capsys.readouterr()
    lines = err.replace(f"{data_dir}/", "").splitlines()
    assert code == 1, out[-2000:] + err[-2000:]
    assert "Traceback" not in err
    for want in expected:
        assert any(line.startswith(want) for line in lines), f"missing {want!r} in\n" + err[-3000:]
    assert "left unchanged" in err
    assert tree_hashes(*output) == before


def test_failing_chapter_is_refused_and_nothing_is_published(published):
    root, output, before = published
    template = root / "chapters" / "_templates" / "domain.ipynb"
    original = template.read_text(encoding="utf-8")
    # a data-dependent failure inside the chapter (here: a statement the first code cell runs)
    broken = original.replace("from analysis import dataset",
                              "from analysis import dataset\\n"
                              "raise RuntimeError('chapter failed on purpose')", 1)
    assert broken != original
    template.write_text(broken, encoding="utf-8")
    try:
        proc = build(root)
    finally:
        template.write_text(original, encoding="utf-8")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "chapter failed on purpose" in proc.stderr and "left unchanged" in proc.stderr
    assert tree_hashes(*output) == before
