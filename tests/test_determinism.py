"""The same data give the same results, figures included, whatever the path or the row order.

Two clean builds of two copies of the repository at different paths (the session's book,
conftest.built_book, and conftest.second_build: ``--no-book``, since the book only copies these
files, and without the Learn chapters, which write none of them) must
write identical ``_build/results/*.json`` (``build.json`` holds timings and is left out) and
identical figures (every image output of the executed domain notebooks, which the book copies,
every SVG and PDF file the chapters write beside themselves, and every generated figure).

Row order: the analysis of data whose ``outcomes.csv`` rows are shuffled must give the same domain
results (``analyse_domain(...).to_dict()``, what each chapter writes as its results file) and the
same reproduction. The results list studies and curation notes in data order by design (the
forest plot shows trials in the order of the data slice), and data-quality notes cite line numbers
of outcomes.csv, which move with the rows. Lists are therefore compared as sorted multisets, and
the line numbers in note text are masked; every number is compared exactly except that a sum over
studies may change in the last bits with the order of summation (relative 1e-12).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import shutil
from pathlib import Path

import pytest

from analysis import chapter, dataset

from conftest import BLAS_ENV, ROOT

#: Relative difference allowed between results of shuffled rows: floating-point sums in another
#: order (k <= 30 terms of order 1 and double precision: well below 1e-13).
REORDER_RTOL = 1e-12


def _shuffled_data(target: Path) -> Path:
    shutil.copytree(ROOT / "data", target)
    path = target / "outcomes.csv"
    header, *rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    random.Random(20240611).shuffle(rows)
    path.write_text(header + "".join(rows), encoding="utf-8")
    return target


def _results(root: Path, mask_root: bool = True) -> dict[str, str]:
    """Results files by name; ``mask_root`` replaces the checkout path (its own test below)."""
    out = {}
    for path in sorted((root / "_build" / "results").glob("*.json")):
        if path.name != "build.json":
            text = path.read_text(encoding="utf-8")
            out[path.name] = text.replace(str(root), "<root>") if mask_root else text
    return out


def _figures(root: Path) -> dict[str, str]:
    """sha256 of every image: notebook outputs (by notebook, cell, MIME type) and generated files."""
    out = {}
    for notebook in sorted((root / "chapters" / "domains").glob("*.ipynb")):
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            for j, output in enumerate(cell.get("outputs", [])):
                for mime, content in output.get("data", {}).items():
                    if mime.startswith("image/"):
                        blob = "".join(content) if isinstance(content, list) else content
                        out[f"{notebook.name}:{i}:{j}:{mime}"] = hashlib.sha256(blob.encode()).hexdigest()
    # the figure files beside the pages: the chapters' SVG and PDF files and the generated pages'
    for figures in (root / "chapters" / "domains" / "figures", root / "chapters" / "generated" / "figures"):
        for path in sorted(figures.rglob("*")):
            if path.is_file():
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def builds(built_book, second_build):
    return built_book, second_build


@pytest.mark.slow
def test_two_clean_builds_write_identical_results(builds):
    a, b = builds
    ra, rb = _results(a), _results(b)
    assert ra.keys() == rb.keys() and len(ra) > 1
    for name in ra:
        assert ra[name] == rb[name], name


@pytest.mark.slow
def test_results_do_not_name_the_checkout_path(builds):
    a, _ = builds
    for name, text in _results(a, mask_root=False).items():
        assert str(a) not in text, f"{name} contains the build path {a}"


@pytest.mark.slow
def test_two_clean_builds_draw_identical_figures(builds):
    a, b = builds
    fa, fb = _figures(a), _figures(b)
    assert fa and fa.keys() == fb.keys()
    different = sorted(k for k in fa if fa[k] != fb[k])
    assert not different, different


def _canonical(value):
    """Lists as sorted multisets; line numbers in 'outcomes.csv:N' masked."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(value, str):
        return re.sub(r"(outcomes\.csv)(:| line )\d+", r"\1\2N", value)
    return value


def _close(x, y, path="") -> list[str]:
    if isinstance(x, dict) and isinstance(y, dict):
        if x.keys() != y.keys():
            return [f"{path}: keys {sorted(set(x) ^ set(y))}"]
        return [d for k in x for d in _close(x[k], y[k], f"{path}.{k}")]
    if isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y):
            return [f"{path}: length {len(x)} != {len(y)}"]
        return [d for i, (u, v) in enumerate(zip(x, y)) for d in _close(u, v, f"{path}[{i}]")]
    if isinstance(x, float) and isinstance(y, float):
        return [] if math.isclose(x, y, rel_tol=REORDER_RTOL, abs_tol=1e-15) else [f"{path}: {x!r} != {y!r}"]
    return [] if x == y else [f"{path}: {x!r} != {y!r}"]


def _analyses(data_dir: Path) -> dict:
    """What the chapters and the build write as results, computed in this process."""
    ds = dataset.load(data_dir)
    out = {d["id"]: chapter.analyse_domain(ds, d["id"]).to_dict() for d in ds.domains}
    out["reproduction"] = chapter.reproduce_published(ds, data_dir)
    return out


def test_row_order_of_outcomes_does_not_change_results(tmp_path):
    shuffled = _shuffled_data(tmp_path / "data")
    assert (shuffled / "outcomes.csv").read_bytes() != (ROOT / "data" / "outcomes.csv").read_bytes()
    ra, rs = _analyses(ROOT / "data"), _analyses(shuffled)
    assert ra.keys() == rs.keys() and len(ra) > 2
    for name in ra:
        ja, js = (_canonical(json.loads(json.dumps(r[name]))) for r in (ra, rs))
        # sorting puts near-equal numbers in the same place in both lists only if they are equal to
        # the last bit; compare sorted lists element-wise with the reorder tolerance
        problems = _close(ja, js)
        assert not problems, f"{name}: " + "; ".join(problems[:10])


def test_chapters_and_tests_run_numpy_with_one_blas_thread():
    """The build's kernels and the test processes agree on the linear-algebra thread count (one: a
    fixed order of sums on every machine, and no oversubscription when processes run side by side)."""
    from analysis.book.build import KERNEL_ENV

    assert KERNEL_ENV == BLAS_ENV
    assert all(os.environ[name] == value for name, value in BLAS_ENV.items())
