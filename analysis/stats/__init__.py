"""The engine: effect sizes, pooling, heterogeneity, moderators, sensitivity, small-study effects,
certainty rules and living-update methods. Pure functions on numbers (numpy, scipy; pandas only
for the frame views of results); no files, no figures.

One verb per step of an analysis, as in R's metafor: ``escalc`` -> ``rma`` -> ``subgroup`` /
``metareg`` -> ``leave_one_out`` / ``influence`` / ``cumulative`` -> ``regtest`` / ``ranktest`` /
``trimfill``. Every fit returns one result object that the later verbs take.
"""
from analysis.stats.bayes import BayesResult, bayes_meta
from analysis.stats.bias import failsafe, ranktest, regtest, trimfill
from analysis.stats.effects import (
                                    EffectInputError,
                                    EffectSizes,
                                    combine_arms,
                                    combine_events,
                                    design_effect,
                                    effective_n,
                                    escalc,
                                    se_from_ci,
)
from analysis.stats.meta import PRESETS, ConvergenceError, MetaResult, Settings, fit, rma, rma_mh, rma_peto
from analysis.stats.moderators import MetaRegResult, SubgroupResult, metareg, subgroup
from analysis.stats.sensitivity import aggregate, cumulative, influence, leave_one_out, outliers
from analysis.stats.sequential import SequentialResult, monitor, required_information_size

__all__ = [
    "escalc", "EffectSizes", "EffectInputError", "se_from_ci", "design_effect", "effective_n", "combine_arms",
    "combine_events",
    "rma", "rma_mh", "rma_peto", "fit", "MetaResult", "Settings", "PRESETS", "ConvergenceError",
    "subgroup", "metareg", "SubgroupResult", "MetaRegResult",
    "leave_one_out", "influence", "cumulative", "outliers", "aggregate",
    "regtest", "ranktest", "trimfill", "failsafe",
    "bayes_meta", "BayesResult", "monitor", "required_information_size", "SequentialResult",
]
