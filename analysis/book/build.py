"""Build the living review: ``python -m analysis build``.

validate the data (refuse on errors) -> fingerprint each domain (its data slice, the template,
the analysis package source, the parameters) -> execute only stale domain notebooks with
papermill, in parallel -> results JSON -> generated pages and changelog -> ``jupyter-book build -W``
(execution off) -> with ``--pdf``, the whole review as one PDF (:mod:`analysis.book.pdf`) ->
publish ``_build/html`` and ``_build/results`` atomically.

Jupyter Book's own cache hashes only code cells, so a changed CSV would not re-run anything; the
build therefore decides staleness itself. A domain notebook records its fingerprint as a papermill
parameter, so staleness is read back from the executed notebook.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from analysis import chapter, dataset
from analysis.book import pages, pdf
from analysis.book.fingerprint import (
    chapter_code_fingerprint,
    code_fingerprint,
    data_fingerprint,
    domain_fingerprint,
    notebook_fingerprint,
    sha,
)
from analysis.dataset.files import atomic_write, swap_in

TEMPLATE = Path("chapters/_templates/domain.ipynb")
DOMAIN_DIR = Path("chapters/domains")
GENERATED_DIR = Path("chapters/generated")
LEARN_DIR = Path("chapters/learn")
LEARN_OUT = GENERATED_DIR / "learn"
BUILD_DIR = Path("_build")
WORK_DIR = BUILD_DIR / ".work"
KERNEL = "python3"

#: The environment of every chapter's kernel: one thread for the linear-algebra libraries. The
#: build runs several kernels at once (``--jobs``, one per core), and a BLAS that starts a thread
#: per core in each of them oversubscribes the machine: two chapters in parallel on two cores took
#: two to four times as long as one alone (benchmarks/blas.py). The chapters' matrices are small
#: enough that threads never help, and a fixed thread count keeps the sums in the same order on
#: every machine.
KERNEL_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class BuildError(Exception):
    """A build step failed; the published book and results are left untouched."""


@dataclass
class Job:
    """A chapter notebook to execute: a domain chapter (from the template) or a Learn chapter."""

    kind: str                 # "domain" or "learn"
    name: str                 # domain id or Learn chapter file stem
    template: Path            # the notebook papermill executes
    output: Path              # the executed notebook the book renders
    fingerprint: str
    parameters: dict
    substitutions: dict
    results: Path | None      # the domain's results JSON (domain chapters only)
    stale: bool = True


@dataclass
class BuildReport:
    """What a build did: chapters executed and reused, seconds per step, book and PDF built."""

    executed: list[str] = field(default_factory=list)        # domain chapters
    reused: list[str] = field(default_factory=list)
    learn_executed: list[str] = field(default_factory=list)  # Learn chapters
    learn_reused: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    book_built: bool = False
    data_fingerprint: str | None = None   # of the data the results were computed from
    pdf_built: bool = False

    def to_dict(self) -> dict:
        return {
            "executed": self.executed,
            "reused": self.reused,
            "learn_executed": self.learn_executed,
            "learn_reused": self.learn_reused,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "book_built": self.book_built,
            "data_fingerprint": self.data_fingerprint,
            "pdf_built": self.pdf_built,
        }


# ---------------------------------------------------------------------------------------------
# fingerprints


# ---------------------------------------------------------------------------------------------
# execution


def _execute_domain(template: str, output: str, parameters: dict, cwd: str,
                    substitutions: dict[str, str]) -> float:
    """Run one domain notebook with papermill (in a worker process); returns seconds.

    Markdown cells of the template carry placeholders (``@DOMAIN_ID@`` ...) for what must be
    static text in the page (its title, figure labels); they are filled after execution with
    values that were escaped for MyST by the caller. ``@PREPEND@`` is a Markdown cell inserted
    after the title cell. Parameters go through papermill, which
    writes them as Python literals: data never becomes code.
    """
    import logging

    import nbformat
    import papermill as pm

    start = time.perf_counter()
    os.environ.update(KERNEL_ENV)     # inherited by the kernel papermill starts (this is a worker process)
    # The kernel's and papermill's chatter goes to a log beside the output, not to the terminal;
    # a failing cell still raises PapermillExecutionError naming the cell and the error.
    logging.getLogger("papermill").setLevel(logging.ERROR)
    log_path = Path(output).with_suffix(".log")
    saved = os.dup(2)
    with open(log_path, "w") as log:
        os.dup2(log.fileno(), 2)
        try:
            nb = pm.execute_notebook(
                template,
                output,
                parameters=parameters,
                kernel_name=KERNEL,
                progress_bar=False,
                log_output=False,
                cwd=cwd,
            )
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    prepend = substitutions.pop("@PREPEND@", None)
    if prepend is not None and nb.cells:
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(prepend, id="dataset-version"))
    nb.cells = drop_undrawn_figures(nb.cells)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = [*cell.metadata["tags"], "remove-cell"]
        if cell.cell_type == "markdown":
            for placeholder, value in substitutions.items():
                cell.source = cell.source.replace(placeholder, value)
    nbformat.write(nb, output)
    return time.perf_counter() - start


_GLUE_FIGURE = re.compile(r"\{glue:figure\}\s+(\S+)")


def drop_undrawn_figures(cells: list) -> list:
    """The cells without the figure directives whose figure the chapter did not draw.

    A chapter draws a figure only where it applies (a domain of one or two trials has no
    leave-one-out or funnel plot; the page says why); a ``{glue:figure} KEY`` directive whose
    ``KEY`` no cell glued would fail the strict book build, so its Markdown cell is dropped. Every
    other glue reference stays, so that a missing number still fails the build.
    """
    glued = {output.get("metadata", {}).get("scrapbook", {}).get("name")
             for cell in cells if cell.cell_type == "code" for output in cell.get("outputs", [])}
    kept = []
    for cell in cells:
        keys = _GLUE_FIGURE.findall(cell.source) if cell.cell_type == "markdown" else []
        if keys and not all(key in glued for key in keys):
            continue
        kept.append(cell)
    return kept


class Builder:
    """One build of the book rooted at ``root``."""

    def __init__(self, root: Path, data_dir: Path, jobs: int, force: bool = False,
                 run_book: bool = True, quiet: bool = False, only: list[str] | None = None,
                 make_pdf: bool = False):
        self.root = root.resolve()
        # a preview of some domain chapters: only they (and chapters that were never built) run,
        # and the book goes to _build/preview, never over the published one
        self.only = list(only or [])
        self.data_dir = (self.root / data_dir).resolve() if not data_dir.is_absolute() else data_dir
        self.jobs = max(1, jobs)
        self.force = force
        self.run_book = run_book
        self.quiet = quiet
        # the PDF (``--pdf``) needs a browser to print it: without one the book says so instead of
        # linking it. It is an option because Chromium needs 2-3 GB to print the whole review
        # (benchmarks/RESULTS.md), more than the build's memory goal.
        self.make_pdf = make_pdf and run_book
        self.browser = pdf.chromium() if self.make_pdf else None
        if self.make_pdf and not self.browser:
            raise BuildError("--pdf: no Chromium found (apt-get install chromium, or set REVIEW_CHROMIUM)")
        self.report = BuildReport()

    # -- output ---------------------------------------------------------------------------
    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    # -- steps ----------------------------------------------------------------------------
    def validate(self):
        start = time.perf_counter()
        try:
            ds = dataset.load(self.data_dir)
        except dataset.DataError as exc:
            for issue in exc.issues:
                print(f"{issue.severity}: {issue}", file=sys.stderr)
            raise BuildError(f"the data in {self.data_dir} have {len(exc.issues)} error(s); "
                             "nothing was built (run `python -m analysis check` for details)") from exc
        self.report.seconds["validate"] = time.perf_counter() - start
        warnings = [i for i in getattr(ds, "issues", []) if getattr(i, "severity", "") == "warning"]
        self.say(f"data: {self.data_dir.relative_to(self.root) if self.data_dir.is_relative_to(self.root) else self.data_dir}"
                 f" valid (version {ds.version}; {len(warnings)} warning(s))")
        return ds

    def plan(self, ds) -> list[Job]:
        """One job per domain chapter and per Learn chapter, each knowing whether it is stale."""
        template_bytes = (self.root / TEMPLATE).read_bytes()
        package_fp = chapter_code_fingerprint()
        jobs = []
        for domain in ds.domains:
            domain_id = domain["id"]
            params = chapter.params.chapter_parameters(domain_id)
            fp = domain_fingerprint(chapter.params.domain_slice(ds, domain_id), template_bytes, package_fp, params)
            results = self.root / WORK_DIR / "domain-results" / f"{domain_id}.json"
            jobs.append(Job("domain", domain_id, self.root / TEMPLATE, self.root / DOMAIN_DIR / f"{domain_id}.ipynb",
                            fp, dict(params, results_path=str(results)),
                            chapter.params.chapter_substitutions(ds, domain_id), results))
        # Learn chapters are worked examples on the whole dataset. They are pinned to the dataset
        # version: they re-run when the version changes (a release), when their notebook or the
        # analysis code changes, not at every edit between releases, so that a class's examples do
        # not shift under it. Each Learn page states the version it was computed from.
        for source in sorted((self.root / LEARN_DIR).glob("*.ipynb")):
            fp = domain_fingerprint(str(ds.version).encode(), source.read_bytes(), package_fp, {})
            note = (f"*Worked on dataset version {ds.version}; Learn chapters are recomputed at each release "
                    "of the dataset.*")
            jobs.append(Job("learn", source.stem, source, self.root / LEARN_OUT / source.name, fp, {},
                            {"@PREPEND@": note}, None))
        unknown = sorted(set(self.only) - {d["id"] for d in ds.domains})
        if unknown:
            raise BuildError(f"--only: unknown domain(s) {', '.join(unknown)} (domains.yml has "
                             f"{', '.join(d['id'] for d in ds.domains)})")
        for job in jobs:
            missing = not job.output.exists() or (job.results is not None and not job.results.exists())
            job.stale = (self.force or missing or notebook_fingerprint(job.output) != job.fingerprint)
            if self.only and job.name not in self.only and not missing:
                job.stale = False
        return jobs

    def execute(self, jobs: list[Job]) -> None:
        stale = [job for job in jobs if job.stale]
        self.report.reused = [j.name for j in jobs if j.kind == "domain" and not j.stale]
        self.report.learn_reused = [j.name for j in jobs if j.kind == "learn" and not j.stale]
        if not stale:
            self.say(f"chapters: all {len(jobs)} chapters up to date")
            return
        self.say(f"chapters: executing {len(stale)} of {len(jobs)} chapters ({self.jobs} in parallel)")
        staging = self.root / WORK_DIR / "notebooks"
        staging.mkdir(parents=True, exist_ok=True)
        (self.root / WORK_DIR / "domain-results").mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        failures = []
        with cf.ProcessPoolExecutor(max_workers=self.jobs) as pool:
            futures = {}
            for job in stale:
                job.output.parent.mkdir(parents=True, exist_ok=True)
                parameters = dict(job.parameters, fingerprint=job.fingerprint, data_dir=str(self.data_dir))
                futures[pool.submit(_execute_domain, str(job.template), str(staging / f"{job.kind}-{job.name}.ipynb"),
                                    parameters, str(job.output.parent), job.substitutions)] = job
            for done, future in enumerate(cf.as_completed(futures), start=1):
                job = futures[future]
                try:
                    seconds = future.result()
                except Exception as exc:  # papermill raises PapermillExecutionError naming the cell
                    failures.append((job, exc))
                    self.say(f"  [{done}/{len(stale)}] FAILED {job.kind} {job.name}")
                    continue
                os.replace(staging / f"{job.kind}-{job.name}.ipynb", job.output)
                (self.report.executed if job.kind == "domain" else self.report.learn_executed).append(job.name)
                self.say(f"  [{done}/{len(stale)}] {job.kind} {job.name} ({seconds:.1f} s)")
        self.report.seconds["execute"] = time.perf_counter() - start
        self.report.executed.sort()
        self.report.learn_executed.sort()
        if failures:
            lines = [f"{job.kind} {job.name}: "
                     f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}"
                     for job, exc in failures]
            raise BuildError("chapter(s) failed:\n  " + "\n  ".join(lines))

    def collect(self, ds, plan) -> Path:
        """Write every results file into a staging directory and the generated pages."""
        start = time.perf_counter()
        staging = self.root / WORK_DIR / "results-new"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        domain_results = {}
        for job in plan:
            if job.kind == "domain":
                domain_results[job.name] = json.loads(job.results.read_text(encoding="utf-8"))
                shutil.copyfile(job.results, staging / f"{job.name}.json")
        # what the review says must still hold: sub-domains not rated above their parents without a
        # stated reason, and every hand-written finding's premises (checked while the pages are written)
        problems = chapter.conclusions.hierarchy_problems(ds, domain_results)
        if problems:
            raise BuildError("the certainty ratings contradict each other:\n  " + "\n  ".join(problems))
        sof = {"rows": [domain_results[d["id"]]["summary_of_findings"] for d in ds.domains],
               "dataset_version": ds.version}
        atomic_write(staging / "summary_of_findings.json", json.dumps(sof, indent=2, sort_keys=True) + "\n")
        atomic_write(staging / "summary_of_findings.csv", chapter.sof.sof_csv(sof["rows"]))
        reproduction = chapter.reproduce_published(ds, self.data_dir)
        atomic_write(staging / "reproduction.json", json.dumps(reproduction, indent=2, sort_keys=True) + "\n")
        earlier = chapter.earlier_reviews(ds, reproduction, self.data_dir)
        atomic_write(staging / "earlier_reviews.json", json.dumps(earlier, indent=2, sort_keys=True) + "\n")
        implementation = chapter.implementation_summary(ds)
        atomic_write(staging / "implementation.json", json.dumps(implementation, indent=2, sort_keys=True) + "\n")
        learn = [job.name for job in plan if job.kind == "learn"]
        try:
            pages.write_pages(ds, domain_results, reproduction, self.root, staging, self.data_dir, learn,
                              earlier_reviews=earlier, implementation=implementation,
                              pdf=pdf.PDF_NAME if self.browser else None)
        except pages.FrontMatterError as exc:
            raise BuildError("a hand-written finding no longer holds (nothing was published):\n  "
                             + "\n  ".join(exc.problems)) from exc
        self.report.seconds["pages"] = time.perf_counter() - start
        return staging

    def book(self) -> Path:
        start = time.perf_counter()
        jb_dir = self.root / WORK_DIR / "jb"
        # Sphinx reuses its environment between builds; a changed _config.yml (a new bibliography
        # file, for one) is not always picked up by extensions that cache their inputs in it, so the
        # environment is discarded when the configuration changes.
        config_sha = sha((self.root / "_config.yml").read_bytes())
        stamp = jb_dir / ".config-sha"
        if jb_dir.exists() and (not stamp.exists() or stamp.read_text().strip() != config_sha):
            shutil.rmtree(jb_dir)
        cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
               "build", str(self.root), "--path-output", str(jb_dir), "-W", "--keep-going", "--quiet"]
        self.say("book: jupyter-book build -W (execution off)")
        proc = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True)
        self.report.seconds["book"] = time.perf_counter() - start
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
            raise BuildError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
        self.report.book_built = True
        stamp.write_text(config_sha + "\n")
        html = jb_dir / "_build" / "html"
        if self.browser:
            start = time.perf_counter()
            self.say("pdf: single-page build printed by headless Chromium")
            try:
                pdf.build_pdf(self.root, jb_dir, html / pdf.PDF_NAME, self.browser)
            except (pdf.PdfError, subprocess.TimeoutExpired) as exc:
                raise BuildError(f"the PDF of the review could not be made: {exc}") from exc
            self.report.pdf_built = True
            self.report.seconds["pdf"] = time.perf_counter() - start
        return html

    @property
    def target(self) -> Path:
        """Where the book and results are published: ``_build``, or ``_build/preview`` for --only."""
        return self.root / BUILD_DIR / "preview" if self.only else self.root / BUILD_DIR

    def publish(self, html: Path | None, results_staging: Path) -> None:
        """Swap the new book and results in; on any earlier failure this is never reached."""
        build = self.target
        build.mkdir(parents=True, exist_ok=True)
        if html is not None:
            html_new = build / ".html-new"
            if html_new.exists():
                shutil.rmtree(html_new)
            shutil.copytree(html, html_new)
            swap_in(html_new, build / "html")
        swap_in(results_staging, build / "results")

    def book_fingerprint(self, plan) -> str:
        """Everything the published book depends on besides the domain notebooks."""
        parts = [job.fingerprint.encode() for job in plan] + [code_fingerprint().encode()]
        sources = [self.root / "_config.yml", self.root / "_toc.yml"]
        sources += sorted(self.data_dir.glob("*"))
        sources += sorted(p for p in (self.root / "chapters").glob("*.md"))
        sources += sorted((self.root / "chapters").glob("*.bib"))
        sources += sorted((self.root / "chapters" / "front").glob("*.md"))   # the hand-written front matter
        sources += [self.root / "CITATION.cff"]
        sources += sorted((self.root / "chapters" / "_static").glob("*"))
        for path in sources:
            if path.is_file():
                parts += [path.name.encode(), path.read_bytes()]
        parts.append(str(self.run_book).encode())
        parts.append(str(bool(self.browser)).encode())
        return sha(*parts)

    def run(self) -> BuildReport:
        total = time.perf_counter()
        ds = self.validate()
        self.report.data_fingerprint = data_fingerprint(self.data_dir)
        plan = self.plan(ds)
        state_file = self.root / WORK_DIR / "state.json"
        published = self.root / BUILD_DIR / "results"
        if not any(job.stale for job in plan) and not self.force and not self.only:
            book_fp = self.book_fingerprint(plan)
            state = json.loads(state_file.read_text()) if state_file.exists() else {}
            if state.get("book") == book_fp and published.exists() and \
                    (not self.run_book or (self.root / BUILD_DIR / "html" / "index.html").exists()):
                self.report.reused = [job.name for job in plan if job.kind == "domain"]
                self.report.learn_reused = [job.name for job in plan if job.kind == "learn"]
                self.report.seconds["total"] = time.perf_counter() - total
                atomic_write(published / "build.json",
                              json.dumps(self.report.to_dict(), indent=2, sort_keys=True) + "\n")
                self.say(f"up to date: nothing changed since the last build "
                         f"({self.report.seconds['total']:.1f} s)")
                return self.report
        self.execute(plan)
        staging = self.collect(ds, plan)
        html = self.book() if self.run_book else None
        self.report.seconds["total"] = time.perf_counter() - total
        atomic_write(staging / "build.json", json.dumps(self.report.to_dict(), indent=2, sort_keys=True) + "\n")
        self.publish(html, staging)
        if not self.only:
            atomic_write(state_file, json.dumps({"book": self.book_fingerprint(plan)}) + "\n")
        where = (self.target / "html" / "index.html") if html else None
        if self.only:
            self.say(f"preview of {', '.join(self.only)}: other chapters as they were built last (not re-run)")
        self.say(f"done in {self.report.seconds['total']:.1f} s: executed {len(self.report.executed)} domain and "
                 f"{len(self.report.learn_executed)} Learn chapters, reused {len(self.report.reused)} and "
                 f"{len(self.report.learn_reused)}" + (f"; open {where}" if where else ""))
        return self.report
