"""Mixtures: the Flan recipe (caps, rates, source weights, formats) with held-out clusters and a leak guard.

Public API::

    from flanlab.mixture import MixtureRecipe, load_recipe, build_mixture, read_mixture
    stats = build_mixture(load_recipe("recipe.yaml"), load_registry(), "out/mix")
    for row in read_mixture("out/mix").iter_rows(["inputs", "targets"]): ...
"""

from flanlab.mixture.build import build_mixture
from flanlab.mixture.plan import MixturePlan, plan_mixture
from flanlab.mixture.reader import Mixture, iter_mixture_rows, read_mixture
from flanlab.mixture.recipe import FormatRatios, MixtureRecipe, SourceMix, load_recipe, recipe_from_dict
from flanlab.mixture.stats import MixtureStats

__all__ = [
    "FormatRatios",
    "Mixture",
    "MixturePlan",
    "MixtureRecipe",
    "MixtureStats",
    "SourceMix",
    "build_mixture",
    "iter_mixture_rows",
    "load_recipe",
    "plan_mixture",
    "read_mixture",
    "recipe_from_dict",
]
