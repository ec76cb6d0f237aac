"""benchmarks/results.py: a benchmark's ``--write`` replaces its own section of RESULTS.md only."""
from __future__ import annotations

import importlib.util

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("benchmark_results", ROOT / "benchmarks" / "results.py")
results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(results)

PAGE = ("# Benchmarks\n\n## Test suite\n\nold table\n\n## Test suite: notes on the goal\n\nnotes\n\n"
        "## Book build\n\nbuild table\n")


def test_replaces_its_section_and_keeps_the_others(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(PAGE, encoding="utf-8")
    results.replace_section("Test suite", "new table\n", path)
    assert path.read_text(encoding="utf-8") == PAGE.replace("old table", "new table")
    results.replace_section("Book build", "build table", path)      # the same body: the same file
    assert path.read_text(encoding="utf-8") == PAGE.replace("old table", "new table")


def test_a_new_section_goes_at_the_end(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(PAGE, encoding="utf-8")
    results.replace_section("Scale", "scale table", path)
    assert path.read_text(encoding="utf-8") == PAGE + "\n## Scale\n\nscale table\n"
