"""The book's "Engine reference" appendix, generated from the engine's docstrings.

Every public engine function (``analysis.stats.__all__``) gets its signature, the references its
docstring cites and the docstring itself (formulas as plain text), grouped by module; functions
that a docstring names (``estimate_tau2``, ``_tau2_iterative``, ...) follow it, so that each
formula the engine computes can be read. The page ends with the conventions in which the engine
departs from R's metafor on purpose. Reviewers thus see what is computed without reading code.
"""
from __future__ import annotations

import fnmatch
import importlib
import inspect
import re

from analysis import stats

#: Module sections of the page, in order.
MODULES = (
    ("analysis.stats.effects", "Effect sizes"),
    ("analysis.stats.meta", "Pooling: inverse variance, Mantel-Haenszel, Peto"),
    ("analysis.stats.multilevel", "Dependent effects: the three-level model and robust inference"),
    ("analysis.stats.moderators", "Subgroups and meta-regression"),
    ("analysis.stats.sensitivity", "Sensitivity analyses"),
    ("analysis.stats.bias", "Small-study effects"),
    ("analysis.stats.bayes", "Bayesian random-effects model"),
    ("analysis.stats.sequential", "Sequential monitoring"),
)

#: Methods of result objects that compute something (not views), listed with their class.
METHODS = (
    ("analysis.stats.meta", "MetaResult", "refit"),
    ("analysis.stats.moderators", "MetaRegResult", "predict"),
    ("analysis.stats.moderators", "MetaRegResult", "test_terms"),
)

#: Where the engine departs from metafor 3.8 on purpose (each is a tested behaviour).
DIFFERENCES_FROM_METAFOR = (
    "A single study (k = 1): heterogeneity (tau², Q, I², H²) is reported as undefined; metafor "
    "reports tau² = 0, Q = 0, I² = 0 and H² = 1. The same holds for leave-one-out and cumulative "
    "rows left with one study, and for Mantel-Haenszel or Peto subsets with fewer than two tables "
    "with an effect.",
    "Fixed-effect fits report a prediction interval equal to the confidence interval; metafor "
    "gives none.",
    "Both I² are reported: `i2_q` = max(0, (Q − df)/Q) with the Higgins & Thompson (2002) CI, and "
    "`i2_tau2` = tau²/(tau² + s²). metafor's single I² is the tau²-based one for random-effects "
    "models and the Q-based one for fixed-effect models.",
    "Q-profile CIs of tau² search until the root is found; metafor stops at tau2.max = "
    "max(100, 10 tau²) and reports that cap (e.g. for raw mean differences).",
    "Profile-likelihood CIs of the multilevel variance components search upwards until the bound is "
    "found; metafor stops at max(10, 100 sigma²) and reports that cap (marked '>').",
    "The multilevel variance components are the exact maximiser of the (restricted) likelihood "
    "(Newton's method); metafor's rma.mv stops 1e-7 to 8e-7 (relative) short of it, so numbers "
    "derived from them differ in the 6th to 7th digit. The fixtures polish metafor's fit on the "
    "exact likelihood (tests/reference/README.md).",
    "A Mantel-Haenszel or Peto fit without a pooled estimate (e.g. no events in one arm of any "
    "table) raises UndefinedEstimateError; metafor returns NA. Leave-one-out, cumulative and "
    "subgroup analyses report such a subset as NaN and carry on, as metafor does.",
    "Residuals within rounding error of zero (identical effects) are treated as exactly zero: the "
    "regression test of Egger et al. and the trim-and-fill ranks then follow exact arithmetic, "
    "where metafor's results are driven by floating-point noise.",
    "escalc drops double-zero studies for RR and OR (metafor: drop00 = TRUE); metafor's own "
    "escalc default keeps them with the continuity correction.",
    "Factor levels of categorical moderators are ordered as R sorts them in an English UTF-8 "
    "locale (case-insensitive, then accents, then lower case first); R run with LC_COLLATE=C "
    "orders by code point instead.",
    "Boolean moderators enter as 0/1 columns; R treats logical variables as factors, which gives "
    "the same model with an intercept but two columns without one.",
    "Approximate permutation tests draw their permutations from numpy's generator (seeded), so "
    "their p-values agree with metafor's only in distribution; exact permutation tests agree "
    "exactly.",
    "The likelihood-ratio test reports no R² when the full model is a fixed-effect model "
    "(metafor computes one from weighted lm() fits).",
)

# a surname: capital then a letter (so "Q-based" is not one), O'Brien, or two capitals
_AUTHOR = r"(?:[A-Z][^\W\d_][\w'\u2019-]*|O'[A-Z][\w-]+)"
_CITATION = re.compile(
    rf"{_AUTHOR}(?:(?:,| &| and) {_AUTHOR})*(?: et al\.)?,? \(?(?:19|20)\d{{2}}[a-z]?"
    r"|Cochrane Handbook")
_NAMED = re.compile(r"(?:``|:func:`)(_?[a-z][a-z0-9_]*\*?)(?:\(\))?(?:``|`)")


def citations(doc: str) -> list[str]:
    """The literature a docstring cites (author-year references and the Cochrane Handbook)."""
    found = []
    for match in _CITATION.finditer(" ".join((doc or "").split())):
        text = match.group(0).replace("(", "").strip(" ,;")
        if text not in found:
            found.append(text)
    return found


def _public_functions() -> dict[str, list]:
    """Public engine functions by module, in source order.

    The verbs of ``analysis.stats`` and the functions in each module's ``__all__``.
    """
    by_module: dict[str, list] = {}
    names = [(stats, name) for name in stats.__all__]
    for module_name, _ in MODULES:
        module = importlib.import_module(module_name)
        names += [(module, name) for name in getattr(module, "__all__", ())]
    for owner, name in names:
        obj = getattr(owner, name)
        if inspect.isfunction(obj) and obj not in by_module.get(obj.__module__, []):
            by_module.setdefault(obj.__module__, []).append(obj)
    for functions in by_module.values():
        functions.sort(key=lambda f: inspect.getsourcelines(f)[1])
    return by_module


def _named_helpers(function, module) -> list:
    """Functions of the same module that the docstring names, followed recursively."""
    seen, queue, out = {function.__name__}, [function], []
    own = {name: obj for name, obj in vars(module).items()
           if inspect.isfunction(obj) and obj.__module__ == module.__name__}
    while queue:
        current = queue.pop(0)
        for pattern in _NAMED.findall(inspect.getdoc(current) or ""):
            for name in sorted(fnmatch.filter(own, pattern), key=lambda n: inspect.getsourcelines(own[n])[1]):
                if name not in seen:
                    seen.add(name)
                    out.append(own[name])
                    queue.append(own[name])
    return out


def _entry(title: str, obj, level: str = "###") -> str:
    doc = inspect.getdoc(obj) or "(no docstring)"
    summary, _, body = doc.partition("\n\n")
    refs = citations(doc)
    parts = [f"{level} `{title}`\n", _plain(summary.replace("\n", " ")) + "\n"]
    if refs:
        parts.append("References: " + "; ".join(_plain(r) for r in refs) + ".\n")
    block = f"{title}{_signature(obj)}" + (f"\n\n{body}" if body else "")
    parts.append("```text\n" + block + "\n```\n")
    return "\n".join(parts)


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def _plain(text: str) -> str:
    """Docstring text as Markdown prose.

    ``:math:`` becomes MyST's ``{math}`` role, other RST roles and double backticks become code
    spans; Markdown's special characters are escaped outside them.
    """
    text = re.sub(r":(?:func|class|meth|attr|mod):`([^`]*)`", r"``\1``", text)
    pieces = re.split(r"(:math:`[^`]*`|``[^`]*``|`[^`]*`)", text)
    out = []
    for piece in pieces:
        if piece.startswith(":math:`"):
            out.append("{math}" + piece[len(":math:"):])
        elif piece.startswith("``") and piece.endswith("``") and len(piece) >= 4:
            out.append("`" + piece[2:-2] + "`")
        elif piece.startswith("`") and piece.endswith("`") and len(piece) >= 2:
            out.append(piece)
        else:
            out.append(re.sub(r"([\\*_\[\]<>|#{}$])", r"\\\1", piece))
    return "".join(out)


def engine_reference_md() -> str:
    """The Markdown of the "Engine reference" appendix."""
    functions = _public_functions()
    listed = {f for fs in functions.values() for f in fs}
    unknown = sorted(m for m in functions if m not in dict(MODULES))
    if unknown:
        raise ValueError(f"engine functions in modules without a section: {unknown}")
    parts = [
        "# Engine reference\n",
        "What the review's analysis engine (`analysis.stats`) computes: every public function with "
        "the formulas and references of its documentation, generated from the code's docstrings when "
        "the book is built. The engine is checked number by number against R's metafor 3.8.1 (and "
        "clubSandwich 0.5.8 for cluster-robust inference) at a relative tolerance of 1e-6; the "
        "conventions in which it departs from metafor on purpose are listed at the end.\n",
    ]
    for module_name, heading in MODULES:
        module = importlib.import_module(module_name)
        if module_name not in functions:
            continue
        parts.append(f"## {heading}\n")
        first = (inspect.getdoc(module) or "").split("\n\n", 1)[0]
        parts.append(f"Module `{module_name}`: {_plain(first.replace(chr(10), ' '))}\n")
        for function in functions[module_name]:
            parts.append(_entry(function.__name__, function))
            for helper in _named_helpers(function, module):
                if helper not in listed:
                    listed.add(helper)
                    parts.append(_entry(helper.__name__, helper, level="####"))
        for owner, cls_name, method in METHODS:
            if owner == module_name:
                parts.append(_entry(f"{cls_name}.{method}", getattr(getattr(module, cls_name), method)))
    parts.append("## Conventions that differ from metafor on purpose\n")
    parts.append("\n".join(f"- {_plain(item)}" for item in DIFFERENCES_FROM_METAFOR) + "\n")
    return "\n".join(parts)
