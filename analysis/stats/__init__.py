"""The engine: effect sizes, pooling, moderators, sensitivity, small-study effects and more.

Also the certainty rules and the living-update methods. Pure functions on numbers (numpy,
scipy; pandas only for the frame views of results); no files, no figures.

One verb per step of an analysis, as in R's metafor: ``escalc`` -> ``rma`` (or ``rma_mh``,
``rma_peto``; ``rma_multilevel`` for several comparisons per trial) -> ``subgroup`` /
``metareg`` -> ``leave_one_out`` / ``influence`` / ``cumulative`` -> ``regtest`` / ``ranktest``
/ ``trimfill``. Every fit returns one result object that the later verbs take.
"""
from analysis.stats.bayes import BayesResult, bayes_meta
from analysis.stats.bias import FailSafeResult, failsafe, ranktest, regtest, trimfill
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
from analysis.stats.meta import (
                                 PRESETS,
                                 ConvergenceError,
                                 MetaResult,
                                 Settings,
                                 UndefinedEstimateError,
                                 fit,
                                 rma,
                                 rma_mh,
                                 rma_peto,
)
from analysis.stats.moderators import (
                                       LikelihoodRatioTest,
                                       MetaRegResult,
                                       PermutationTest,
                                       SubgroupResult,
                                       WaldTest,
                                       likelihood_ratio_test,
                                       metareg,
                                       permutation_test,
                                       subgroup,
)
from analysis.stats.multilevel import MultilevelResult, RobustResult, che, cluster_robust, rma_multilevel, vcalc
from analysis.stats.sensitivity import aggregate, cumulative, influence, leave_one_out, outliers
from analysis.stats.sequential import SequentialResult, monitor, required_information_size

__all__ = [
    "escalc", "EffectSizes", "EffectInputError", "se_from_ci", "design_effect", "effective_n", "combine_arms",
    "combine_events",
    "rma", "rma_mh", "rma_peto", "fit", "MetaResult", "Settings", "PRESETS", "ConvergenceError",
    "UndefinedEstimateError",
    "rma_multilevel", "che", "cluster_robust", "vcalc", "MultilevelResult", "RobustResult",
    "subgroup", "metareg", "likelihood_ratio_test", "permutation_test", "SubgroupResult", "MetaRegResult",
    "WaldTest", "LikelihoodRatioTest", "PermutationTest",
    "leave_one_out", "influence", "cumulative", "outliers", "aggregate",
    "regtest", "ranktest", "trimfill", "failsafe", "FailSafeResult",
    "bayes_meta", "BayesResult", "monitor", "required_information_size", "SequentialResult",
]
