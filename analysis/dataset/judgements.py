"""The review team's GRADE judgements (``data/grade.yml``): reading and validation."""
from __future__ import annotations

from pathlib import Path

import yaml

from analysis.dataset.issues import Issue
from analysis.stats.grade import DOMAINS


def check_grade(data_dir: Path, label: str, domain_ids: set) -> list[Issue]:
    """The reviewed GRADE judgements (optional ``grade.yml``) must be well formed and name known domains."""
    file = f"{label}/{FILE}"
    try:
        judgements = load_judgements(data_dir)
    except (ValueError, yaml.YAMLError) as exc:
        return [Issue(file, None, None, None, "grade-judgements", str(exc).replace(str(data_dir / FILE) + ": ", ""))]
    return [Issue(file, None, None, str(outcome), "grade-domain", "not a domain id of domains.yml")
            for outcome in judgements if outcome not in domain_ids]


#: The judgement file of a dataset directory (optional).
FILE = "grade.yml"


def load_judgements(data_dir) -> dict:
    """Read ``grade.yml`` of the dataset directory ``data_dir`` (none: ``{}``).

    ``{domain_id: {grade_domain: {downgrade: 0-2, reason: text}}}``; raises ``ValueError`` naming
    the file, the entry and the rule for a malformed entry.
    """
    path = Path(data_dir) / FILE
    if not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of outcome ids")
    for outcome, entries in raw.items():
        for domain, entry in (entries or {}).items():
            if domain not in DOMAINS:
                raise ValueError(f"{path}: {outcome}: unknown GRADE domain {domain!r} (one of {', '.join(DOMAINS)})")
            if not isinstance(entry, dict) or entry.get("downgrade") not in (0, 1, 2) or not entry.get("reason"):
                raise ValueError(f"{path}: {outcome}.{domain}: needs 'downgrade' (0, 1 or 2) and a 'reason'")
    return raw
