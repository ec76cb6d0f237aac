"""The review's dataset (``data/``): schema, typed reading, rules, curation, loading, imports.

``load`` reads and validates everything and returns a :class:`Dataset`; ``check`` returns every
problem (:class:`Issue`: file, line, column, value, rule); ``domain_rows`` and ``effect_sizes``
give the oriented effect of each outcome row of a domain.
"""
from analysis.dataset.effect_rows import effect_sizes
from analysis.dataset.issues import SEVERITIES, DataError, Issue
from analysis.dataset.judgements import load_judgements
from analysis.dataset.load import Dataset, check, citation_keys, domain_rows, load, quality_notes

__all__ = ["load", "check", "Dataset", "Issue", "DataError", "SEVERITIES", "domain_rows", "effect_sizes",
           "quality_notes", "load_judgements", "citation_keys"]
