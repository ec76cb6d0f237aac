"""One outcome domain as its chapter shows it, and the chapter-level analyses of the book.

The analysis menu (:mod:`~analysis.chapter.menu`), its text and tables
(:mod:`~analysis.chapter.render`), the summary of findings (:mod:`~analysis.chapter.sof`) and
what it says of time frames, instruments and re-expression (:mod:`~analysis.chapter.coverage`),
the estimates of earlier reviews oriented as ours (:mod:`~analysis.chapter.published`), the
conclusions and their changes (:mod:`~analysis.chapter.conclusions`), the reproduction of a
published analysis (:mod:`~analysis.chapter.reproduction`), the earlier reviews' questions
answered from our data (:mod:`~analysis.chapter.earlier_reviews`), the umbrella review's
implementation and experiences findings (:mod:`~analysis.chapter.findings`) and what the build
needs to know about a chapter (:mod:`~analysis.chapter.params`).
"""
from analysis.chapter import conclusions, coverage, findings, published, render, sof
from analysis.chapter.earlier_reviews import earlier_reviews
from analysis.chapter.findings import implementation_summary
from analysis.chapter.menu import DomainReport, analyse_domain
from analysis.chapter.params import resolve_data_dir
from analysis.chapter.reproduction import reproduce_published

__all__ = ["analyse_domain", "DomainReport", "render", "sof", "coverage", "findings", "conclusions", "published",
           "resolve_data_dir", "reproduce_published", "earlier_reviews", "implementation_summary"]
