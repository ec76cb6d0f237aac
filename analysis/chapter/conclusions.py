"""Hand-written findings and the premises they rest on; the certainty order of domains.

A sentence written by hand that states a finding (in the abstract, the plain-language summary,
the authors' conclusions, ...) is written in a ``finding`` block that declares, machine-readably,
the premises it rests on::

    :::{finding}
    :domain: depression
    :direction: little-or-no-difference
    :certainty: very low
    Peer support may make little to no difference to depression ({{ depression.effect }}).
    :::

``domain`` is an outcome domain id of ``domains.yml``; ``direction`` is what the size of the point
estimate says against the thresholds (``benefit``, ``harm`` or ``little-or-no-difference``,
:func:`analysis.stats.grade.direction`); ``certainty`` the GRADE level (``high``, ``moderate``,
``low``, ``very low``); ``size`` (optional) the size category (``trivial``, ``small``,
``moderate``, ``large``); ``rated_down_for`` (optional, one domain only) the GRADE domains the
sentence says its certainty was rated down for (``inconsistency, indirectness``), for a sentence
that gives the reasons. :func:`check_findings` compares every premise with the results of the
current build, so that an update that changes a premise stops the build with a message naming the
file, the line, the sentence and the premise, and a conclusion can never silently go stale.

Numbers are never typed: ``{{ name }}`` placeholders are filled from the results
(:func:`fill`). ``{{ <domain>.<key> }}`` takes the domain's key (:func:`domain_numbers`); it may be
used only inside a ``finding`` block of that domain, so every sentence that quotes a result
declares its premises. ``{{ review.<key> }}`` takes a number of the whole review (currency and
completeness, passed in by the build).

Sub-domains and certainty: a sub-domain (its outcome rows a strict subset of another domain's)
that the review team has judged must not be rated above its parent domain unless the team states
why (``above_parent`` in ``grade.yml``); :func:`hierarchy_problems` lists every violation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from analysis import dataset
from analysis.chapter.render import md_escape
from analysis.stats import grade
from analysis.stats.formatting import text as fmt

#: Keys a finding block must declare, and the optional ones.
REQUIRED_PREMISES = ("domain", "direction", "certainty")
OPTIONAL_PREMISES = ("size", "rated_down_for")

_BLOCK_OPEN = re.compile(r"^(?P<fence>:{3,}|`{3,})\{finding\}\s*$")
_OPTION = re.compile(r"^:(?P<key>[a-z_-]+):\s*(?P<value>.*?)\s*$")
_PLACEHOLDER = re.compile(r"\{\{\s*(?P<name>[^{}]*?)\s*\}\}")


class FindingError(ValueError):
    """A finding block or placeholder is malformed, or a premise no longer holds."""


@dataclass
class Finding:
    """One hand-written finding: where it is, its premises and its text."""

    file: str
    line: int                  # line of the opening fence (1-based)
    premises: dict
    body: str
    body_line: int = 0         # first line of the sentence
    end: int = 0               # line of the closing fence

    @property
    def sentence(self) -> str:
        """The finding's first words, for messages."""
        words = " ".join(_PLACEHOLDER.sub("…", self.body).split())
        return words if len(words) <= 90 else words[:87].rstrip() + "…"


def parse(text: str, file: str) -> tuple[list[Finding], list[str]]:
    """The finding blocks of a Markdown text, and the problems of their syntax."""
    found, problems = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _BLOCK_OPEN.match(lines[i].strip())
        if not match:
            i += 1
            continue
        fence, start = match.group("fence"), i
        premises, body = {}, []
        i += 1
        while i < len(lines) and _OPTION.match(lines[i].strip()) and not body:
            option = _OPTION.match(lines[i].strip())
            premises[option.group("key")] = option.group("value")
            i += 1
        body_start = i
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i])
            i += 1
        if i == len(lines):
            problems.append(f"{file}:{start + 1}: a finding block is not closed with {fence}")
            break
        finding = Finding(file, start + 1, premises, "\n".join(body).strip(), body_start + 1, i + 1)
        missing = [k for k in REQUIRED_PREMISES if not premises.get(k)]
        unknown = sorted(set(premises) - set(REQUIRED_PREMISES) - set(OPTIONAL_PREMISES))
        if missing:
            problems.append(f"{file}:{start + 1}: the finding \"{finding.sentence}\" declares no "
                            f"{', '.join(missing)} (every finding states its domain, direction and certainty)")
        if unknown:
            problems.append(f"{file}:{start + 1}: the finding \"{finding.sentence}\" has an unknown premise "
                            f"'{unknown[0]}' (known: {', '.join(REQUIRED_PREMISES + OPTIONAL_PREMISES)})")
        if not finding.body:
            problems.append(f"{file}:{start + 1}: a finding block has no sentence")
        found.append(finding)
        i += 1
    return found, problems


def actual_premises(result: dict) -> dict:
    """What a domain's results say, in the terms of the premises."""
    p, g = result["primary"], result.get("grade") or {}
    thresholds = tuple(g.get("thresholds") or grade.thresholds_for(g.get("mid", grade.MID)))
    estimate = p.get("estimate")
    if estimate is not None:   # on the analysis scale, turned so that positive favours peer support
        estimate = estimate * result.get("orientation", 1)
    return {"direction": grade.direction(estimate, thresholds) if estimate is not None else None,
            "size": grade.size_category(estimate, thresholds) if estimate is not None else None,
            "certainty": (g.get("certainty") or "").lower() or None,
            "rated_down_for": [d.replace(" ", "_") for d in g.get("rated_down_for") or []]}


def _split(value: str) -> list[str]:
    return [" ".join(v.lower().split()) for v in str(value).split(",") if v.strip()]


def premises_of(f: Finding) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(domain, premise, stated value) of a finding, and the problems of its declaration.

    ``domain`` may list several domains (comma-separated); each other premise gives one value for
    all of them or one value per domain, in the same order.
    """
    domains = _split(f.premises.get("domain", ""))
    out, problems = [], []
    for key in ("direction", "certainty", "size"):
        if key not in f.premises:
            continue
        values = _split(f.premises[key])
        if len(values) == 1:
            values = values * len(domains)
        if len(values) != len(domains):
            problems.append(f"{f.file}:{f.line}: the finding \"{f.sentence}\" gives {len(values)} values of {key} "
                            f"for {len(domains)} domains (give one, or one per domain)")
            continue
        out += [(d, key, v) for d, v in zip(domains, values)]
    return out, problems


def check_findings(findings: list[Finding], results: dict) -> list[str]:
    """Every premise that the current results contradict, as a message naming the sentence."""
    allowed = {"direction": grade.DIRECTIONS, "certainty": tuple(level.lower() for level in grade.LEVELS),
               "size": grade.EFFECT_SIZES}
    problems = []
    for f in findings:
        declared, found = premises_of(f)
        problems += found
        for domain in _split(f.premises.get("domain", "")):
            if domain not in results:
                problems.append(f"{f.file}:{f.line}: the finding \"{f.sentence}\" rests on domain '{domain}', "
                                f"which the review does not analyse (known: {', '.join(sorted(results))})")
        domains = _split(f.premises.get("domain", ""))
        if "rated_down_for" in f.premises:
            reasons = [r.replace(" ", "_") for r in _split(f.premises["rated_down_for"])]
            unknown = [r for r in reasons if r not in grade.DOMAINS]
            if len(domains) != 1 or unknown:
                problems.append(f"{f.file}:{f.line}: the finding \"{f.sentence}\" declares rated_down_for for "
                                f"{len(domains)} domains or with unknown GRADE domains {unknown} (one domain; "
                                f"GRADE domains: {', '.join(grade.DOMAINS)})")
            elif domains[0] in results:
                actual = actual_premises(results[domains[0]])["rated_down_for"]
                for reason in reasons:
                    if reason not in actual:
                        problems.append(f"{f.file}:{f.line}: the finding \"{f.sentence}\" rests on the premise "
                                        f"that {domains[0]} is rated down for {reason.replace('_', ' ')}, but it "
                                        f"now is rated down for {', '.join(actual).replace('_', ' ') or 'nothing'}: "
                                        "revise the sentence and its premises")
        for domain, key, stated in declared:
            if domain not in results:
                continue
            actual = actual_premises(results[domain])[key]
            if stated not in allowed[key]:
                problems.append(f"{f.file}:{f.line}: the finding \"{f.sentence}\" declares {key} '{stated}', "
                                f"not one of {', '.join(allowed[key])}")
            elif stated != actual:
                problems.append(f"{f.file}:{f.line}: the finding \"{f.sentence}\" rests on the premise "
                                f"{key} = {stated} for {domain}, but the analysis now gives {actual}: "
                                "revise the sentence and its premises")
    return problems


def domain_numbers(result: dict) -> dict[str, str]:
    """The placeholders of one domain: its glued numbers plus effect, certainty and statement."""
    numbers = dict(result.get("numbers") or {})
    numbers.pop("conventions", None)
    p, g = result["primary"], result.get("grade") or {}
    numbers["effect"] = f"SMD {fmt(p.get('estimate'))}, 95% CI {fmt(p.get('ci_low'))} to {fmt(p.get('ci_high'))}"
    numbers["trials"] = str(result.get("n_studies"))
    numbers["participants"] = str(result.get("n_participants"))
    numbers["certainty"] = (g.get("certainty") or "not graded").lower()
    reason = g.get("short_reason") or ""
    numbers["certainty_reason"] = (reason[0].lower() + reason[1:]).rstrip(".") if reason else ""
    # the statement names the domain's title, which comes from the data: shown, never interpreted
    numbers["statement"] = md_escape((result.get("summary_of_findings") or {}).get("statement", ""))
    return numbers


def fill(text: str, file: str, results: dict, review: dict[str, str]) -> tuple[str, list[str]]:
    """``text`` with every placeholder filled and the finding blocks turned into paragraphs.

    Returns the page and the problems (malformed blocks, unknown names, a domain's number outside
    a finding block of that domain, premises contradicted by the results).
    """
    findings, problems = parse(text, file)
    problems += check_findings([f for f in findings if all(f.premises.get(k) for k in REQUIRED_PREMISES)], results)
    block_of: dict[int, Finding] = {}
    skipped: set[int] = set()
    for f in findings:
        skipped |= set(range(f.line, f.body_line)) | {f.end}
        block_of.update({n: f for n in range(f.body_line, f.end)})
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if number in skipped:
            continue
        finding = block_of.get(number)

        def value(match, number=number, finding=finding):
            name = match.group("name")
            scope, _, key = name.partition(".")
            if scope == "review":
                if key in review:
                    return review[key]
                problems.append(f"{file}:{number}: unknown placeholder {{{{ {name} }}}} (review numbers: "
                                f"{', '.join(sorted(review))})")
                return match.group(0)
            if scope not in results:
                problems.append(f"{file}:{number}: unknown placeholder {{{{ {name} }}}}: '{scope}' is neither "
                                "'review' nor a domain id")
                return match.group(0)
            if finding is None or scope not in _split(finding.premises.get("domain", "")):
                problems.append(f"{file}:{number}: {{{{ {name} }}}} quotes a result of {scope} outside a finding "
                                f"block of {scope}: put the sentence in a finding block that declares its premises")
            numbers = domain_numbers(results[scope])
            if key not in numbers:
                problems.append(f"{file}:{number}: unknown placeholder {{{{ {name} }}}} (keys of a domain: "
                                f"{', '.join(sorted(numbers))})")
                return match.group(0)
            return numbers[key]

        out.append(_PLACEHOLDER.sub(value, line))
    return "\n".join(out).rstrip("\n") + "\n", problems


def render_file(path: Path, label: str, results: dict, review: dict[str, str]) -> tuple[str, list[str]]:
    """A front-matter source file filled (see :func:`fill`); ``label`` names it in messages."""
    return fill(path.read_text(encoding="utf-8"), label, results, review)


# ---------------------------------------------------------------------------------------------
# the certainty of sub-domains


def parent_domains(ds) -> dict[str, list[str]]:
    """For each domain, the domains whose outcome rows strictly contain its rows (its parents)."""
    rows = {d["id"]: set(dataset.domain_rows(ds, d["id"])["outcome_id"]) for d in ds.domains}
    return {child: sorted(parent for parent, theirs in rows.items()
                          if parent != child and mine and mine < theirs)
            for child, mine in rows.items()}


def hierarchy_problems(ds, results: dict) -> list[str]:
    """Sub-domains rated above a parent domain without the review team's stated reason."""
    order = {level: i for i, level in enumerate(grade.LEVELS)}
    problems = []
    for child, parents in parent_domains(ds).items():
        mine = (results.get(child, {}).get("grade") or {})
        # the rule applies to the review team's ratings; a domain nobody has judged yet is already
        # reported by `check` (grade-missing), and its rules alone cannot state a reason
        judged = any(j.get("source") == grade.REVIEW_TEAM for j in mine.get("judgements") or [])
        if not mine.get("certainty") or mine.get("above_parent") or not judged:
            continue
        for parent in parents:
            theirs = (results.get(parent, {}).get("grade") or {}).get("certainty")
            if theirs and order[mine["certainty"]] > order[theirs]:
                problems.append(f"grade: {child} is rated {mine['certainty'].lower()}, above its broader domain "
                                f"{parent} ({theirs.lower()}): revise the judgements or state the reason as "
                                f"'above_parent' in grade.yml")
    return problems
