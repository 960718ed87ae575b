"""`build_mixture`: recipe + registry -> a mixture folder (or, in a dry run, only the intended plan)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from flanlab.errors import FlanlabError
from flanlab.io import write_text
from flanlab.mixture.guard import ContaminationReport, EvalIndex, build_eval_index
from flanlab.mixture.plan import (
    MixturePlan,
    apportion,
    default_total,
    intended_weights,
    plan_mixture,
)
from flanlab.mixture.pools import TaskPool, contamination_report, grown, load_pools
from flanlab.mixture.recipe import FORMAT_KINDS, MixtureRecipe
from flanlab.mixture.sampling import PLAIN_KINDS, generate_blocks
from flanlab.mixture.stats import (
    MixtureStats,
    Share,
    StatsCounter,
    TaskShare,
    format_shares,
    group_shares,
)
from flanlab.mixture.writer import (
    PREVIEW,
    RECIPE,
    SHARDS,
    STATS,
    ShardWriter,
    preview_line,
    rows_to_table,
    staged_folder,
)
from flanlab.prompts.formats import TokenCounter, estimate_tokens
from flanlab.tasks.registry import TaskRegistry

Progress = Callable[[str, int, int], None]  # (stage "guard" / "pools" / "rows", done, total)


def build_mixture(
    recipe: MixtureRecipe,
    registry: TaskRegistry,
    out_dir: str | Path | None,
    *,
    dry_run: bool = False,
    on_contamination: Literal["error", "remove"] | None = None,
    count_tokens: TokenCounter | None = None,
    token_counter_name: str = "estimate",
    progress: Progress | None = None,
) -> MixtureStats:
    """Build the mixture ``recipe`` describes into ``out_dir``; returns its statistics.

    ``dry_run`` loads no data and writes nothing: the stats describe the intended mixture (every
    task assumed to reach its rate). ``on_contamination`` overrides the recipe's setting.
    """
    if on_contamination is not None:
        recipe = recipe.model_copy(update={"on_contamination": on_contamination})
    plan = plan_mixture(recipe, registry)
    if not plan.tasks:
        raise FlanlabError("no task left to draw from after the recipe's filters and held-out clusters")
    if dry_run:
        return _dry_run_stats(plan)
    if out_dir is None:
        raise FlanlabError("an output folder is needed unless dry_run is set")
    count = count_tokens or estimate_tokens
    guard = build_eval_index(
        plan.guard_tasks,
        min_chars=recipe.contamination_min_chars,
        on_unavailable=recipe.on_unavailable,
        progress=_stage(progress, "guard"),
    )
    on_pools = _stage(progress, "pools")
    pools, skipped = load_pools(plan.tasks, recipe.seed, guard, recipe.on_unavailable, progress=on_pools)
    if not pools:
        raise FlanlabError(f"none of the {len(plan.tasks)} tasks has usable train examples: {skipped}")
    plan.tasks = [pool.task for pool in pools]
    sizes = {pool.task.name: len(pool) for pool in pools}  # min(usable, cap, rate): all a weight needs
    weights = intended_weights(plan, sizes)
    total = recipe.total_size or default_total(plan, sizes)
    counts = apportion(total, weights)
    pools = [grown(pool, counts[pool.task.name], recipe.seed, guard) for pool in pools]
    report = contamination_report(pools)
    if report.total() and recipe.on_contamination == "error":
        raise FlanlabError(report.message())
    resolved = recipe.model_copy(update={"total_size": total})
    counter = StatsCounter(len(pools))
    with staged_folder(Path(out_dir)) as stage:
        shards = _write_rows(stage, pools, [counts[p.task.name] for p in pools], resolved, count, counter, progress)
        stats = _stats(plan, pools, weights, counter, total, guard, report, skipped, shards, token_counter_name)
        write_text(stage / RECIPE, resolved.dump())
        stats.write(stage / STATS)
    return stats


def _stage(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    return (lambda done, total: progress(stage, done, total)) if progress else None


def _write_rows(
    stage: Path,
    pools: list[TaskPool],
    counts: list[int],
    recipe: MixtureRecipe,
    count_tokens: TokenCounter,
    counter: StatsCounter,
    progress: Progress | None,
) -> list[str]:
    writer = ShardWriter(stage / SHARDS, recipe.shard_rows)
    collections = [pool.task.card.collection for pool in pools]
    can_invert = [bool(pool.inverted and pool.original) for pool in pools]
    preview: list[str] = []
    done, total = 0, sum(counts)
    for block in generate_blocks(pools, counts, recipe, count_tokens):
        block_collections = [collections[i] for i in block.pool_indices]
        for row, task, kind, collection in zip(block.rows, block.pool_indices, block.kinds, block_collections):
            counter.add(task, kind, row, can_invert[task], count_tokens)
            if len(preview) < recipe.preview_rows:
                preview.append(preview_line(row, collection))
        writer.write(rows_to_table(block.rows, block_collections))
        done += len(block.rows)
        if progress:
            progress("rows", done, total)
    write_text(stage / PREVIEW, "".join(line + "\n" for line in preview))
    return writer.close()


def _stats(
    plan: MixturePlan,
    pools: list[TaskPool],
    weights: dict[str, float],
    counter: StatsCounter,
    total: int,
    guard: EvalIndex,
    report: ContaminationReport,
    skipped: dict[str, str],
    shards: list[str],
    token_counter_name: str,
) -> MixtureStats:
    tasks = [
        _task_share(
            pool, weights[pool.task.name], counter.examples[i], counter.input_tokens[i], counter.target_tokens[i], total
        )
        for i, pool in enumerate(pools)
    ]
    for task, positions in zip(tasks, counter.gold_positions):
        task.gold_positions = positions
    stats = _base_stats(
        plan, tasks, total, format_shares(counter, _intended_formats(plan.recipe, pools, weights), total)
    )
    stats.token_counter = token_counter_name
    stats.shards = [f"{SHARDS}/{name}" for name in shards]
    stats.options_shown_share = counter.options_shown / counter.options_eligible if counter.options_eligible else None
    stats.inverted_share = counter.inverted / counter.inversion_eligible if counter.inversion_eligible else None
    stats.skipped = skipped
    stats.contamination_removed = report.as_dict()
    stats.guarded_tasks = len(guard.tasks)
    stats.guard_hashes = len(guard.owner)
    stats.unchecked_tasks = guard.unchecked
    return stats


def _task_share(
    pool: TaskPool, weight: float, examples: int, input_tokens: int, target_tokens: int, total: int
) -> TaskShare:
    card = pool.task.card
    return TaskShare(
        name=card.name,
        collection=card.collection,
        cluster=card.cluster,
        family=card.family_name,
        cap=pool.task.cap,
        rate=pool.task.rate,
        pool=len(pool),
        epochs=round(examples / len(pool), 4),
        examples=examples,
        input_tokens=input_tokens,
        target_tokens=target_tokens,
        intended_weight=weight,
        achieved_weight=examples / total,
    )


def _base_stats(plan: MixturePlan, tasks: list[TaskShare], total: int, formats: list[Share]) -> MixtureStats:
    return MixtureStats(
        name=plan.recipe.name,
        seed=plan.recipe.seed,
        total_rows=total,
        held_out_clusters=sorted(plan.held_out_clusters),
        tasks=tasks,
        clusters=group_shares(tasks, lambda t: t.cluster, total),
        collections=group_shares(tasks, lambda t: t.collection, total),
        formats=formats,
        excluded=plan.excluded,
        notes=plan.notes,
        guarded_tasks=len(plan.guard_tasks),
    )


def _dry_run_stats(plan: MixturePlan) -> MixtureStats:
    weights = intended_weights(plan)
    total = plan.recipe.total_size or default_total(plan)
    tasks = [
        TaskShare(
            name=task.name,
            collection=task.card.collection,
            cluster=task.card.cluster,
            family=task.card.family_name,
            cap=task.cap,
            rate=task.rate,
            intended_weight=weights[task.name],
        )
        for task in plan.tasks
    ]
    stats = _base_stats(plan, tasks, total, format_shares(None, None, total))
    stats.dry_run = True
    for group in (*stats.clusters, *stats.collections):
        group.achieved_weight = None
    return stats


def _intended_formats(recipe: MixtureRecipe, pools: list[TaskPool], weights: dict[str, float]) -> dict[str, float]:
    """Expected format shares: inverted rows and rows without a rationale take zero-/few-shot only."""
    expected = {kind: 0.0 for kind in FORMAT_KINDS}
    for pool in pools:
        ratios = recipe.ratios_for(pool.task.card.collection).as_dict()
        every = _normalised_kinds({kind: ratios[kind] for kind in FORMAT_KINDS})
        plain = _normalised_kinds({kind: ratios[kind] for kind in PLAIN_KINDS}) or {"zero_shot": 1.0}
        inverted = 1.0 if not pool.original else (recipe.inversion_rate if pool.inverted else 0.0)
        with_rationale = (1 - inverted) * len(pool.with_rationale) / len(pool)
        for kind in FORMAT_KINDS:
            share = with_rationale * every.get(kind, 0.0) + (1 - with_rationale) * plain.get(kind, 0.0)
            expected[kind] += weights[pool.task.name] * share
    return expected


def _normalised_kinds(ratios: dict[str, float]) -> dict[str, float]:
    """Shares summing to one; empty when every share is zero."""
    total = sum(ratios.values())
    return {kind: value / total for kind, value in ratios.items()} if total else {}
