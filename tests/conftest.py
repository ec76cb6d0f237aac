"""Shared test set-up: where the repository and the material beside it are, and one build of the book.

Tests that read material outside the repository (the source reviews' texts and their structured
extractions in ``../shared``) call :func:`shared`, which skips with one stated reason when the
material is absent; the browser test likewise without Chromium. ``REVIEW_NO_SKIP=1`` (set by
``.ci/run`` where the material is there) turns every such skip into a failure, so that a wrong
path or a missing tool can never silently switch tests off.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: One thread for the linear-algebra libraries in every test process and everything it starts (the
#: builds' kernels set the same: analysis.book.build.KERNEL_ENV): ``make test`` runs a worker per
#: core beside the session's builds, and a BLAS thread per core in each process oversubscribes the
#: machine. Set before any test module imports numpy.
BLAS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
os.environ.update(BLAS_ENV)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REVIEW_SHARED_DIR") or ROOT.parent / "shared")
SHARED_REASON = "needs the source reviews' material (../shared beside the repository)"


def missing(what: str, *, module: bool = False) -> None:
    """Skip because ``what`` is not available here, or fail under ``REVIEW_NO_SKIP=1``."""
    if os.environ.get("REVIEW_NO_SKIP") == "1":
        pytest.fail(f"{what} is missing, and REVIEW_NO_SKIP=1 forbids skipping", pytrace=False)
    pytest.skip(what, allow_module_level=module)


def shared(*parts: str) -> Path:
    """``../shared/<parts>``; skips the calling test when it is absent (fails under REVIEW_NO_SKIP=1)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        missing(SHARED_REASON)
    return path


# ---------------------------------------------------------------------------------------------
# the command line, in this process or as a subprocess

def command(*argv: str, subprocess_run: bool = False, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``python -m analysis ARGV``: by default in this process (``analysis.commands.main`` with its
    output captured; a usage error's ``SystemExit`` is its exit status), or as a real subprocess.
    Either way a traceback on stdout or stderr fails the calling test."""
    if subprocess_run:
        proc = subprocess.run([sys.executable, "-m", "analysis", *argv], cwd=cwd, capture_output=True,
                              text=True, timeout=300)
    else:
        import contextlib
        import io

        from analysis.commands import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        proc = subprocess.CompletedProcess(["analysis", *argv], code, out.getvalue(), err.getvalue())
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


# ---------------------------------------------------------------------------------------------
# one real build of the book per test session

#: What a copy of the repository leaves out: build outputs, the environment, version control.
IGNORE = shutil.ignore_patterns(".venv", "_build", ".git", "__pycache__", ".pytest_cache", ".hypothesis",
                                "domains", "generated", "*.egg-info", "benchmarks")


def copy_repository(target: Path) -> Path:
    """A copy of the repository (sources and data, no build outputs) at ``target``."""
    shutil.copytree(ROOT, target, ignore=IGNORE)
    return target


def build_command(root: Path, *args: str) -> list[str]:
    """``python -m analysis build --root ROOT [args]``, to run in ``root`` (so the copy's own package runs)."""
    return [sys.executable, "-m", "analysis", "build", "--root", str(root), *args]


def build(root: Path, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    """:func:`build_command` run in ``root``, its output captured."""
    return subprocess.run(build_command(root, *args), capture_output=True, text=True, timeout=timeout, cwd=root)


def results(root: Path, name: str) -> dict:
    """``_build/results/<name>.json`` of a built copy."""
    return json.loads((root / "_build" / "results" / f"{name}.json").read_text(encoding="utf-8"))


# The session's builds start in the background as soon as the session knows a collected test needs
# them (the first test's set-up), so that the tests that do not need them run meanwhile; the tests
# that need them are ordered last (pytest_collection_modifyitems). Under pytest-xdist (make test
# runs ``-n auto``) every worker shares one build: the first worker to claim it starts it, the
# others wait for its exit status in the shared temporary directory.

#: Builds shared by the session, by the fixture that returns them: (directory, build arguments,
#: leave the Learn chapters out). ``built_book`` is the real build of the book (with the PDF where
#: Chromium is installed); ``second_build`` a clean build of another copy at another path, without
#: the book (test_determinism compares their results and figures; Learn chapters write neither).
SESSION_BUILDS = {
    "built_book": ("book", None, False),
    "second_build": ("second-build", ("--no-book",), True),
}

#: How long a test waits for a session build (seconds); a clean build takes about two minutes.
BUILD_TIMEOUT = 1800

_WRAPPER = ("import os, subprocess, sys\n"
            "rc_file, log_file, cwd, *cmd = sys.argv[1:]\n"
            "with open(log_file, 'w') as log:\n"
            "    rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)\n"
            "with open(rc_file + '.new', 'w') as out:\n"
            "    out.write(str(rc))\n"
            "os.replace(rc_file + '.new', rc_file)\n")
_STARTED: dict[str, subprocess.Popen] = {}


def _shared_tmp(tmp_path_factory) -> Path:
    """The temporary directory all workers of this session share (xdist gives each its own below it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def session_build_args(name: str = "built_book") -> list[str]:
    """The arguments of session build ``name`` (for the book: ``--pdf`` where Chromium is installed);
    a rebuild of a copy with the same arguments and no change is up to date."""
    args = SESSION_BUILDS[name][1]
    if args is None:
        from analysis.book.pdf import chromium

        args = ("--pdf",) if chromium() else ()
    return list(args)


def _start_session_build(name: str, tmp_path_factory) -> None:
    """Start build ``name`` unless a worker of this session already has (an exclusive claim file)."""
    where = _shared_tmp(tmp_path_factory) / f"session-{SESSION_BUILDS[name][0]}"
    where.mkdir(exist_ok=True)
    try:
        os.close(os.open(where / "claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    try:
        root = copy_repository(where / "review")
        if SESSION_BUILDS[name][2]:
            for notebook in (root / "chapters" / "learn").glob("*.ipynb"):
                notebook.unlink()
        _STARTED[name] = subprocess.Popen([sys.executable, "-c", _WRAPPER, str(where / "exit-status"),
                                           str(where / "build.log"), str(root),
                                           *build_command(root, *session_build_args(name))])
    except Exception as exc:   # the workers waiting for it must not wait in vain
        (where / "build.log").write_text(f"the build could not be started: {exc!r}\n", encoding="utf-8")
        (where / "exit-status").write_text("not started", encoding="utf-8")
        raise


def _session_build(name: str, tmp_path_factory) -> Path:
    """Wait for build ``name`` (starting it if nobody has) and return its root; fail on a failed build."""
    _start_session_build(name, tmp_path_factory)
    where = _shared_tmp(tmp_path_factory) / f"session-{SESSION_BUILDS[name][0]}"
    rc_file = where / "exit-status"
    deadline = time.monotonic() + BUILD_TIMEOUT
    while not rc_file.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the session build {name} did not finish in {BUILD_TIMEOUT} s ({where / 'build.log'})")
        time.sleep(0.2)
    log = (where / "build.log").read_text(encoding="utf-8", errors="replace")
    assert rc_file.read_text() == "0", f"the session build {name} failed:\n{log[-6000:]}"
    return where / "review"


@pytest.fixture(scope="session", autouse=True)
def _start_session_builds(request, tmp_path_factory):
    """Start, in the background, each session build that a collected test needs."""
    needed = {name for item in request.session.items for name in SESSION_BUILDS if name in item.fixturenames}
    for name in sorted(needed):
        _start_session_build(name, tmp_path_factory)


#: Test modules whose work after the session build takes longest (a copy of the built book
#: rebuilt after a change, then more tests on it), longest first: scheduled first among the tests
#: that wait for a build, so that they do not start last and finish alone. A scheduling hint only.
LONGEST_AFTER_BUILD = (
    "test_maintainer.py", "test_learn.py", "test_browser.py", "test_injection.py", "test_book.py")


def _after_build_rank(item) -> int:
    name = item.path.name
    return LONGEST_AFTER_BUILD.index(name) if name in LONGEST_AFTER_BUILD else len(LONGEST_AFTER_BUILD)


def pytest_collection_modifyitems(session, config, items):
    """Test modules with a test that waits for a session build run after the others (a stable
    sort; xdist's ``--dist loadscope`` gives a module to one worker, so a module that waits would
    block its worker while other modules could run), the longest first (LONGEST_AFTER_BUILD)."""
    waiting = {item.path for item in items if any(name in item.fixturenames for name in SESSION_BUILDS)}
    items.sort(key=lambda item: (item.path in waiting, _after_build_rank(item) if item.path in waiting else 0))


def pytest_sessionfinish(session, exitstatus):
    """A build this process started is waited for (another worker may still need it); stopped on ^C."""
    for proc in _STARTED.values():
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            proc.terminate()
        proc.wait()


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """One clean build (``jupyter-book build -W``) of a copy of the repository with the shipped data,
    shared by the book, browser, injection, determinism, refusal and Learn tests. Read it, never
    change it: a test that changes data or code works on :func:`copy_built` of it. Where Chromium
    is installed the build also prints the review to PDF (``--pdf``), as the published book does."""
    return _session_build("built_book", tmp_path_factory)


@pytest.fixture(scope="session")
def second_build(tmp_path_factory) -> Path:
    """A clean build with ``--no-book`` of another copy of the repository, at another path, without
    the Learn chapters (they write no results and no figure of the comparison): test_determinism
    compares its results and figures with :func:`built_book`'s."""
    return _session_build("second_build", tmp_path_factory)


def copy_built(built: Path, target: Path) -> Path:
    """A copy of a built tree (sources, data, executed chapters, ``_build``): a rebuild of it is
    incremental, as a maintainer's next build after an edit."""
    shutil.copytree(built, target, symlinks=True)
    return target


# ---------------------------------------------------------------------------------------------
# the maintainer's drill (tests/fixtures/trials)

TRIALS = Path(__file__).parent / "fixtures" / "trials"


def awaiting_trial_file(data_dir: Path, target_dir: Path) -> tuple[Path, str]:
    """The drill's file that extracts a trial awaiting extraction, for a trial of ``data_dir`` that
    awaits it and whose cells the file fills are empty (so the test does not depend on which trials
    await data today); returns the file and the trial's id."""
    import csv

    import yaml

    template = (TRIALS / "awaiting-extracted.yml").read_text(encoding="utf-8")
    filled = set(yaml.safe_load(template)["studies"][0]) - {"study_id", "outcome_data"}
    with (data_dir / "studies.csv").open(encoding="utf-8", newline="") as handle:
        candidates = [r["study_id"] for r in csv.DictReader(handle)
                      if r["outcome_data"] == "not yet extracted" and not any(r[c] for c in filled)]
    assert candidates, "no trial awaits extraction with the cells the drill fills empty"
    path = target_dir / "awaiting-extracted.yml"
    path.write_text(template.replace("STUDY", candidates[0]), encoding="utf-8")
    return path, candidates[0]
