"""From a recipe and a registry to the tasks a mixture may draw from, without loading any data.

Leave-one-cluster-out is decided here: a held-out cluster removes its tasks, the clusters FLAN holds
out with it (`held_out_closure`), and every task of a family that has a member in an excluded cluster.
Eval-only tasks (and whole families containing one) never enter a mixture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flanlab.errors import FlanlabError, closest
from flanlab.mixture.recipe import MixtureRecipe
from flanlab.tasks.card import TaskCard
from flanlab.tasks.clusters import CLUSTERS, EVAL_ONLY_CLUSTERS, held_out_closure
from flanlab.tasks.registry import TaskRegistry


@dataclass(frozen=True)
class PlannedTask:
    card: TaskCard
    cap: int  # the per-dataset cap that applies (its collection's or the recipe's)
    rate: int  # the maximum mixing rate that applies

    @property
    def name(self) -> str:
        return self.card.name


@dataclass
class MixturePlan:
    recipe: MixtureRecipe
    tasks: list[PlannedTask]  # sorted by name
    excluded: dict[str, str]  # task chosen by the filters -> why it was left out
    held_out_clusters: frozenset[str]  # the closure of the recipe's held-out clusters
    guard_tasks: list[TaskCard]  # held-out and eval-only tasks whose evaluation inputs are hashed
    source_weights: dict[str, float] | None = None  # per collection, normalised; None = examples-proportional
    notes: list[str] = field(default_factory=list)


def plan_mixture(recipe: MixtureRecipe, registry: TaskRegistry) -> MixturePlan:
    """The tasks to draw from and those to guard against; raises on a contradictory recipe."""
    _check_clusters(recipe, registry)
    held_out = held_out_closure(frozenset(recipe.held_out))
    reasons = _exclusion_reasons(registry, held_out, frozenset(recipe.held_out))
    chosen = registry.select(names=recipe.tasks, clusters=recipe.clusters, collections=recipe.collections)
    for name in recipe.tasks or ():
        if name in reasons:
            raise FlanlabError(f"recipe names task {name!r}, but it may not be trained on: {reasons[name]}")
    for name in recipe.exclude_tasks:
        registry.get(name)  # an unknown name is a typo worth reporting
    excluded = {card.name: reasons[card.name] for card in chosen if card.name in reasons}
    excluded.update(
        {name: "excluded by the recipe" for name in recipe.exclude_tasks if name in {c.name for c in chosen}}
    )
    tasks = [_planned(card, recipe) for card in chosen if card.name not in excluded]
    guard = [card for card in registry.select(collections=recipe.guard_collections) if card.name in reasons]
    weights, notes = _source_weights(recipe, tasks, registry)
    return MixturePlan(
        recipe=recipe,
        tasks=tasks,
        excluded=dict(sorted(excluded.items())),
        held_out_clusters=held_out,
        guard_tasks=guard,
        source_weights=weights,
        notes=notes,
    )


def _check_clusters(recipe: MixtureRecipe, registry: TaskRegistry) -> None:
    known = set(CLUSTERS) | set(registry.clusters())
    for field_name, names in (("held_out", recipe.held_out), ("clusters", recipe.clusters or [])):
        unknown = sorted(set(names) - known)
        if unknown:
            hint = closest(unknown[0], known)
            raise FlanlabError(f"recipe field {field_name}: unknown clusters {unknown}{hint}; known: {sorted(known)}")


def _exclusion_reasons(registry: TaskRegistry, held_out: frozenset[str], asked: frozenset[str]) -> dict[str, str]:
    """Every registry task that may never be trained on, with the reason."""
    reasons: dict[str, str] = {}
    for card in registry.cards.values():
        if card.eval_only or card.cluster in EVAL_ONLY_CLUSTERS:
            reasons[card.name] = "eval-only task"
        elif card.cluster in asked:
            reasons[card.name] = f"held-out cluster {card.cluster}"
        elif card.cluster in held_out:
            reasons[card.name] = f"cluster {card.cluster} is held out with {sorted(asked)}"
    tainted_families = {registry.cards[name].family_name: name for name in sorted(reasons)}
    for card in registry.cards.values():
        if card.name not in reasons and card.family_name in tainted_families:
            member = tainted_families[card.family_name]
            reasons[card.name] = f"family {card.family_name} has member {member} ({reasons[member]})"
    return reasons


def _planned(card: TaskCard, recipe: MixtureRecipe) -> PlannedTask:
    source = recipe.sources.get(card.collection)
    cap = source.cap if source and source.cap else recipe.dataset_cap
    rate = source.rate if source and source.rate else recipe.max_rate
    return PlannedTask(card=card, cap=cap, rate=rate)


def _source_weights(
    recipe: MixtureRecipe, tasks: list[PlannedTask], registry: TaskRegistry
) -> tuple[dict[str, float] | None, list[str]]:
    """Normalised weights of the collections that have tasks, and a note for weighted ones that have none.

    A source the recipe names in ``collections`` may lack cards (P3 before its PromptSource bridge
    is run): its weight is then spread over the others in proportion, and the note says so.
    """
    unknown = sorted(set(recipe.sources) - set(registry.collections()) - set(recipe.collections or ()))
    if unknown:
        raise FlanlabError(f"recipe field sources: unknown collections {unknown}; known: {registry.collections()}")
    weighted = {name: mix.weight for name, mix in recipe.sources.items() if mix.weight is not None}
    if not weighted:
        return None, []
    used = sorted({task.card.collection for task in tasks})
    missing = [name for name in used if name not in weighted]
    if missing:
        raise FlanlabError(f"recipe field sources: collections {missing} need a weight (the others have one)")
    absent = {name: weight for name, weight in weighted.items() if name not in used and weight > 0}
    notes = []
    if absent:
        listed = ", ".join(f"{name} ({weight:g})" for name, weight in sorted(absent.items()))
        notes.append(f"weighted sources without tasks: {listed}; their share is spread over the others in proportion")
    return _normalised({name: weighted[name] for name in used}), notes


def _normalised(weights: Mapping[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {name: (value / total if total else 0.0) for name, value in weights.items()}


def intended_weights(plan: MixturePlan, sizes: Mapping[str, int] | None = None) -> dict[str, float]:
    """Each task's share of the mixture: examples-proportional with caps and rates, within source weights.

    ``sizes`` are the usable train examples per task; without them (dry run) every task is assumed
    to reach its rate.
    """
    mass = {
        task.name: min(task.cap, task.rate, sizes[task.name] if sizes is not None else task.rate) for task in plan.tasks
    }
    if plan.source_weights is None:
        return _normalised(mass)
    per_source: dict[str, float] = {}
    for task in plan.tasks:
        per_source[task.card.collection] = per_source.get(task.card.collection, 0) + mass[task.name]
    live = _normalised({name: weight for name, weight in plan.source_weights.items() if per_source.get(name)})
    return {
        task.name: live.get(task.card.collection, 0.0) * mass[task.name] / per_source[task.card.collection]
        if per_source.get(task.card.collection)
        else 0.0
        for task in plan.tasks
    }


def default_total(plan: MixturePlan, sizes: Mapping[str, int] | None = None) -> int:
    """Rows when the recipe gives no total: the sum of min(size, cap, rate) over the tasks."""
    return sum(min(t.cap, t.rate, sizes[t.name] if sizes is not None else t.rate) for t in plan.tasks)


def apportion(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Integer counts summing to ``total`` closest to ``total * weight`` (largest remainders, ties by name)."""
    exact = {name: total * weight for name, weight in weights.items()}
    counts = {name: int(value) for name, value in exact.items()}
    short = total - sum(counts.values())
    by_remainder = sorted(exact, key=lambda name: (-(exact[name] - counts[name]), name))
    for name in by_remainder[:short]:
        counts[name] += 1
    return counts
