"""One outcome domain as its chapter shows it.

The analysis menu (:mod:`~analysis.chapter.menu`), its text and tables
(:mod:`~analysis.chapter.render`), the summary of findings
(:mod:`~analysis.chapter.sof`), the reproduction of a published analysis
(:mod:`~analysis.chapter.reproduction`) and what the build needs to know about a chapter
(:mod:`~analysis.chapter.params`).
"""
from analysis.chapter import conclusions, findings, render, sof
from analysis.chapter.menu import DomainReport, analyse_domain
from analysis.chapter.params import resolve_data_dir
from analysis.chapter.reproduction import reproduce_published

__all__ = ["analyse_domain", "DomainReport", "render", "sof", "findings", "conclusions", "resolve_data_dir",
           "reproduce_published"]
