"""The "Engine reference" appendix: every public engine function with its formula's references."""
import inspect
import re

from analysis import stats
from analysis.book import engine_reference
from analysis.book.pages import toc


def _entries(md: str) -> dict[str, str]:
    """Heading title -> the text of its entry (up to the next heading)."""
    parts = re.split(r"^#{3,4} `([^`]+)`\n", md, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_public_engine_function_appears_with_a_reference():
    md = engine_reference.engine_reference_md()
    entries = _entries(md)
    public = [name for name in stats.__all__ if inspect.isfunction(getattr(stats, name))]
    assert len(public) >= 25
    for name in public:
        assert name in entries, f"{name} is not in the engine reference"
        entry = entries[name]
        refs = re.search(r"^References: (.+)\.$", entry, flags=re.M)
        assert refs and refs.group(1).strip(), f"{name}: no reference cited in its docstring"
        # the docstring itself is shown (its formulas), under the function's signature
        body = inspect.getdoc(getattr(stats, name)).partition("\n\n")[2]
        assert f"```text\n{name}(" in entry
        assert body.splitlines()[0] in entry if body else True


def test_named_helpers_and_methods_follow():
    entries = _entries(engine_reference.engine_reference_md())
    # rma's docstring names estimate_tau2, which names the estimators' own functions
    for helper in ("estimate_tau2", "tau2_qprofile_ci", "_tau2_iterative", "_score_step", "_missing_studies"):
        assert helper in entries, helper
    for method in ("MetaRegResult.predict", "MetaRegResult.test_terms", "MetaResult.refit"):
        assert method in entries, method


def test_citations_are_author_year():
    doc = ("Q-based, Higgins & Thompson 2002; Knapp & Hartung (2003); Robins, Breslow & Greenland "
           "(1986); Harrer et\n al. 2021; O'Brien & Fleming (1979); Cochrane Handbook v6, 6.3.1; "
           "Röver 2020")
    assert engine_reference.citations(doc) == [
        "Higgins & Thompson 2002", "Knapp & Hartung 2003", "Robins, Breslow & Greenland 1986",
        "Harrer et al. 2021", "O'Brien & Fleming 1979", "Cochrane Handbook", "Röver 2020"]
    assert engine_reference.citations("no year here (metafor's rma)") == []


def test_differences_from_metafor_are_listed():
    md = engine_reference.engine_reference_md()
    section = md.split("## Conventions that differ from metafor on purpose\n", 1)[1]
    items = [line for line in section.splitlines() if line.startswith("- ")]
    assert len(items) == len(engine_reference.DIFFERENCES_FROM_METAFOR) >= 10


def test_markdown_is_inert():
    # prose is escaped (no accidental emphasis, links or math) and every fence is closed
    md = engine_reference.engine_reference_md()
    assert md.count("```") % 2 == 0
    prose = re.sub(r"```text\n.*?```", "", md, flags=re.S)
    assert ":math:" not in prose and ":func:" not in prose
    assert "{math}`1 + (m - 1) \\mathrm{ICC}`" in prose  # design_effect's summary, as MyST math
    assert not re.search(r"(?<![\\`])\$", prose)


def test_appendix_in_the_table_of_contents():
    text = toc([{"id": "depression"}])
    assert text.rstrip().endswith("- caption: Appendix\n  chapters:\n  - file: chapters/generated/engine-reference")
