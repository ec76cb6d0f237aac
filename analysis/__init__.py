"""Analysis package of the living systematic review of peer support for mental health.

Verbs follow the steps of an analysis: ``escalc`` (effect sizes) -> ``rma`` (pooling) ->
subgroups, sensitivity, small-study effects -> plots. See ``docs/DESIGN.md``.
"""
__version__ = "0.1.0"
