"""The review team's GRADE judgements (``data/grade.yml``): reading and validation.

One entry per outcome domain of ``domains.yml``; in it, one entry per GRADE domain
(``risk_of_bias``, ``inconsistency``, ``indirectness``, ``imprecision``, ``publication_bias``),
each with ``downgrade`` (levels rated down: 0 not serious, 1 serious, 2 very serious) and the
``reason`` in reviewer language. Optional: ``recorded`` (``date`` and ``trials``: the evidence
the judgement was made on, so that a later update that changes the trials is flagged for
review) and ``above_parent`` (the stated reason why the domain's certainty may exceed that of
the broader domain it belongs to).

Errors (the build refuses): a malformed entry, an unknown outcome domain. Warnings: an outcome
domain without a judgement (its certainty then follows the rules alone), a GRADE domain left
out, a judgement recorded for another number of trials than the domain now has.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from analysis.dataset.issues import Issue
from analysis.stats.grade import DOMAINS, ENTRY_KEYS

#: The judgement file of a dataset directory (optional).
FILE = "grade.yml"


def check_grade(data_dir: Path, label: str, domain_ids: set | None) -> list[Issue]:
    """Errors and warnings of ``grade.yml`` against the domain ids of ``domains.yml``.

    ``domain_ids`` None: the domains could not all be read, so only the file's own form is checked.
    """
    file = f"{label}/{FILE}"
    try:
        judgements = load_judgements(data_dir)
    except (ValueError, yaml.YAMLError) as exc:
        return [Issue(file, None, None, None, "grade-judgements", str(exc).replace(str(data_dir / FILE) + ": ", ""))]
    if domain_ids is None:
        return []
    lines = _lines(Path(data_dir) / FILE)
    issues = [Issue(file, lines.get(outcome), None, str(outcome), "grade-domain", "not a domain id of domains.yml")
              for outcome in judgements if outcome not in domain_ids]
    for domain_id in sorted(d for d in domain_ids if isinstance(d, str)):
        entry = judgements.get(domain_id)
        if not entry:
            issues.append(Issue(file, None, None, domain_id, "grade-missing",
                                "no judgement recorded for this outcome domain: its certainty follows the rules "
                                "alone", "warning"))
            continue
        missing = [d for d in DOMAINS if d not in entry]
        if missing:
            issues.append(Issue(file, lines.get(domain_id), None, domain_id, "grade-incomplete",
                                f"no judgement of {', '.join(missing)}: the rule decides", "warning"))
    return issues


def check_grade_evidence(data_dir: Path, label: str, domains: list[dict], outcomes, at_timepoint=None) -> list[Issue]:
    """Warn when a judgement was recorded for another number of trials than its domain now has.

    ``outcomes``: the analysed outcome rows (curated view); ``at_timepoint(rows, timepoint)``
    keeps the rows a domain analyses at its time point (default: all). A living review's judgements are made
    on the evidence of their date; adding or removing a trial calls for a new look. A malformed
    file is reported by :func:`check_grade` and skipped here.
    """
    try:
        judgements = load_judgements(data_dir)
    except (ValueError, yaml.YAMLError):
        return []
    lines = _lines(Path(data_dir) / FILE)
    issues = []
    for domain in domains:
        recorded = (judgements.get(domain.get("id")) or {}).get("recorded") or {}
        if "trials" not in recorded:
            continue
        key, values = next(iter(domain["select"].items()))
        chosen = outcomes.loc[outcomes[key].isin(values)]
        if at_timepoint is not None:
            chosen = at_timepoint(chosen, domain.get("timepoint", "post"))
        trials = int(chosen["study_id"].nunique())
        if trials != recorded["trials"]:
            issues.append(Issue(f"{label}/{FILE}", lines.get(domain["id"]), "recorded.trials",
                                str(recorded["trials"]), "grade-evidence",
                                f"{domain['id']} was judged on {recorded['trials']} trials and now has {trials}: "
                                "review the judgement and update 'recorded'", "warning"))
    return issues


def load_judgements(data_dir) -> dict:
    """Read ``grade.yml`` of the dataset directory ``data_dir`` (none: ``{}``).

    ``{domain_id: {grade_domain: {downgrade: 0-2, reason: text}, recorded: {...}, above_parent: text}}``;
    raises ``ValueError`` naming the file, the entry and the rule for a malformed entry.
    """
    path = Path(data_dir) / FILE
    if not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of outcome ids")
    for outcome, entries in raw.items():
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise ValueError(f"{path}: {outcome}: expected a mapping of GRADE domains")
        for domain, entry in entries.items():
            if domain == "recorded":
                _check_recorded(path, outcome, entry)
                continue
            if domain == "above_parent":
                if not isinstance(entry, str) or not entry.strip():
                    raise ValueError(f"{path}: {outcome}.above_parent: needs a reason (text)")
                continue
            if domain not in DOMAINS:
                raise ValueError(f"{path}: {outcome}: unknown GRADE domain {domain!r} "
                                 f"(one of {', '.join(DOMAINS + ENTRY_KEYS)})")
            if not isinstance(entry, dict) or entry.get("downgrade") not in (0, 1, 2) \
                    or isinstance(entry.get("downgrade"), bool) or not str(entry.get("reason") or "").strip():
                raise ValueError(f"{path}: {outcome}.{domain}: needs 'downgrade' (0, 1 or 2) and a 'reason'")
            extra = sorted(set(entry) - {"downgrade", "reason"})
            if extra:
                raise ValueError(f"{path}: {outcome}.{domain}: unknown key {extra[0]!r} (expected downgrade, reason)")
    return raw


def _check_recorded(path: Path, outcome: str, entry) -> None:
    if not isinstance(entry, dict) or set(entry) - {"date", "trials"}:
        raise ValueError(f"{path}: {outcome}.recorded: expected 'date' (YYYY-MM-DD) and 'trials' (a count)")
    date = entry.get("date")
    if date is not None and not isinstance(date, dt.date):
        try:
            dt.date.fromisoformat(str(date))
        except ValueError:
            raise ValueError(f"{path}: {outcome}.recorded.date: {date!r} is not a date (YYYY-MM-DD)") from None
    trials = entry.get("trials")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise ValueError(f"{path}: {outcome}.recorded.trials: {trials!r} is not a positive count")


def _lines(path: Path) -> dict:
    """Line (1-based) of each top-level key of a YAML mapping file (for messages)."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {key.value: key.start_mark.line + 1 for key, _ in node.value}
