"""Analysis package of the living systematic review of peer support for mental health.

Layers, each importing only the layers before it (``tests/test_layers.py`` holds the rule):

``stats`` (the engine) <- ``dataset`` (the review's data: schema, reading, rules, curation,
loading, imports) <- ``figures`` (matplotlib: result objects in, figures out) <- ``chapter`` (the
analyses and text of one outcome domain) <- ``book`` (build, generated pages, changelog) <-
``commands`` (``python -m analysis ...``: argument parsing only).

The engine's verbs are re-exported here, so ``from analysis import escalc, rma`` is all a user
needs for a meta-analysis; see docs/DESIGN.md.
"""
from analysis.stats import *  # noqa: F401,F403  (the engine's public verbs)
from analysis.stats import __all__ as _engine

__version__ = "0.1.0"

#: The layers in order: a module may import its own layer and the layers before it, never after.
LAYERS = ("stats", "dataset", "figures", "chapter", "book", "commands")

__all__ = [*_engine, "LAYERS", "__version__"]
