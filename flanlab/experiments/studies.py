"""Each study of FLAN_METHOD section 7 as a plan: a list of arms.

An arm is one model to evaluate: the base model as it is, or a model tuned on a mixture (possibly
starting from another arm's model). A mixture is described in flanlab's neutral terms
(`ArmMixture`), turned into a mixture recipe by the runner; an evaluation (`EvalSpec`) names its
tasks, shots, split, prompt style and the suite a report files it under.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from flanlab.experiments.config import ResolvedExperiment
from flanlab.mixture import plan_mixture, recipe_from_dict
from flanlab.tasks.clusters import EVAL_ONLY_CLUSTERS
from flanlab.tasks.examples import load_examples
from flanlab.tasks.registry import TaskRegistry

BASE = "base"
HELD_OUT = "held-out"


class ArmMixture(BaseModel):
    """One arm's training mixture; unset fields take the mixture recipe's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int
    held_out: list[str] = []
    clusters: list[str] | None = None
    tasks: list[str] | None = None
    collections: list[str] | None = None  # None: the experiment's collections
    fewshot_share: float | None = None  # share of few-shot rows; 0 also drops few-shot CoT (zero-shot only)
    cot_share: float | None = None  # share of CoT formats for rows with a rationale; 0: no CoT row at all
    inversion_rate: float | None = None
    instruction_mode: Literal["full", "name", "none"] | None = None
    source_weights: dict[str, float] | None = None  # per collection; None: examples-proportional
    cot_source: str | None = None  # a collection whose rationale rows are all chain of thought


@dataclass(frozen=True)
class EvalSpec:
    tasks: tuple[str, ...]  # selectors: "cluster:nli", "task:NAME"
    shots: tuple[int, ...] = (0,)
    suite: str = HELD_OUT  # the group a report files these scores under
    split: str = "test"
    cot: bool = False
    instruction_mode: Literal["full", "name", "none"] = "full"  # FLAN Fig. 8 evaluates with the dataset name too
    variant: str = ""  # tells two evaluations of one arm on one suite apart ("eval: dataset name")


@dataclass(frozen=True)
class Arm:
    name: str  # unique within the experiment
    label: str  # what figures and tables call it
    evals: tuple[EvalSpec, ...]
    mixture: ArmMixture | None = None  # None: evaluate `init` untouched
    train: dict[str, Any] = field(default_factory=dict)  # overrides of the experiment's training settings
    init: str = BASE  # BASE or the name of the arm whose tuned model this one starts from
    series: str = ""  # bar group / line the arm belongs to
    x: float | None = None  # position on the x axis of line figures
    compare_to: str | None = None  # the arm this one is paired against (difference = this - that)
    select_by: EvalSpec | None = None  # a validation evaluation that picks the kept checkpoint
    compare_shots: tuple[int, int] | None = None  # (a, b): also pair this arm's a-shot answers against its b-shot


Planner = Callable[[ResolvedExperiment, TaskRegistry], list[Arm]]


def experiment_collections(exp: ResolvedExperiment) -> list[str]:
    return list(exp.params.collections)


def held_out_tasks(exp: ResolvedExperiment, registry: TaskRegistry, clusters: list[str]) -> list[str]:
    """The datasets evaluated for held-out ``clusters``: from the experiment's collections."""
    return [card.name for card in registry.select(clusters=clusters, collections=experiment_collections(exp))]


def trainable_clusters(exp: ResolvedExperiment, registry: TaskRegistry) -> list[str]:
    cards = registry.select(collections=experiment_collections(exp), include_eval_only=False)
    return sorted({card.cluster for card in cards} - EVAL_ONLY_CLUSTERS)


def cluster_order(exp: ResolvedExperiment, registry: TaskRegistry) -> list[str]:
    """FLAN Fig. 6: the clusters left to train on once ``held_out`` is out, most tasks first (ties by name).

    Counted on the mixture plan, so tasks dropped with a held-out family do not count.
    """
    recipe = recipe_from_dict({"collections": experiment_collections(exp), "held_out": list(exp.config.held_out)})
    counts = Counter(task.card.cluster for task in plan_mixture(recipe, registry).tasks)
    return sorted(counts, key=lambda cluster: (-counts[cluster], cluster))


def too_small_to_evaluate(exp: ResolvedExperiment, registry: TaskRegistry, clusters: list[str]) -> dict[str, int]:
    """Held-out datasets left out for a test split under ``eval_min_examples``, with their test sizes."""
    least = exp.settings.eval_min_examples
    if not least:
        return {}
    sizes = {name: len(load_examples(registry.get(name), "test")) for name in held_out_tasks(exp, registry, clusters)}
    return {name: size for name, size in sizes.items() if size < least}


def _eval_tasks(exp: ResolvedExperiment, registry: TaskRegistry, clusters: list[str]) -> tuple[str, ...]:
    names = held_out_tasks(exp, registry, clusters)
    if exp.settings.eval_tasks:
        names = [name for name in names if name in exp.settings.eval_tasks] or list(exp.settings.eval_tasks)
    small = too_small_to_evaluate(exp, registry, clusters)
    return tuple(f"task:{name}" for name in names if name not in small)


def _held_out_eval(
    exp: ResolvedExperiment, registry: TaskRegistry, shots: list[int] | None = None
) -> tuple[EvalSpec, ...]:
    return (EvalSpec(_eval_tasks(exp, registry, exp.config.held_out), tuple(shots or exp.shots)),)


def _few_shots(exp: ResolvedExperiment) -> list[int]:
    return sorted(set(exp.shots) | {0, exp.params.few_shot})


def _standard_mixture(exp: ResolvedExperiment, **changes: Any) -> ArmMixture:
    settings: dict[str, Any] = {"held_out": list(exp.config.held_out), "size": exp.settings.mixture_size}
    settings.update(exp.params.mixture.model_dump(exclude_none=True))  # the config's defaults for every arm
    if exp.settings.train_clusters:
        settings["clusters"] = list(exp.settings.train_clusters)
    settings.update(changes)
    return ArmMixture(**settings)


def base_vs_tuned(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    evals = _held_out_eval(exp, registry)
    return [
        Arm(BASE, "base model", evals, series="base"),
        Arm("tuned", "instruction-tuned", evals, mixture=_standard_mixture(exp), series="tuned", compare_to=BASE),
    ]


def leave_one_cluster_out(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    """FLAN Fig. 5: per held-out cluster, the base model and a model tuned on every other cluster."""
    clusters = exp.settings.clusters or trainable_clusters(exp, registry)
    arms = []
    for cluster in clusters:
        evals = (EvalSpec(_eval_tasks(exp, registry, [cluster]), tuple(exp.shots), suite=cluster),)
        mixture = _standard_mixture(exp, held_out=[cluster])
        arms.append(Arm(f"base-{cluster}", cluster, evals, series="base"))
        arms.append(
            Arm(f"tuned-{cluster}", cluster, evals, mixture=mixture, series="tuned", compare_to=f"base-{cluster}")
        )
    return arms


def num_clusters(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    """FLAN Fig. 6: held-out score as training clusters are added, largest clusters first."""
    order = cluster_order(exp, registry)
    counts = [count for count in (exp.params.counts or range(1, len(order) + 1)) if count <= len(order)]
    evals = tuple(
        EvalSpec(_eval_tasks(exp, registry, [cluster]), tuple(exp.shots), suite=cluster)
        for cluster in exp.config.held_out
    )
    arms = [Arm(BASE, "0 clusters (base)", evals, series="held-out score", x=0)]
    for count in counts:
        mixture = _standard_mixture(exp, clusters=order[:count])
        label = f"{count} clusters (+{order[count - 1]})"
        previous = arms[-1].name  # the figure's claim: each added cluster raises the held-out score
        arms.append(
            Arm(
                f"clusters-{count}",
                label,
                evals,
                mixture=mixture,
                series="held-out score",
                x=count,
                compare_to=previous,
            )
        )
    return arms


def instruction_ablation(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    """FLAN Fig. 8: train with no template / the dataset name / full instructions.

    The ablated arms train without inverted templates (with no instruction, nothing tells the
    model to write the input instead of the answer); the dataset-name arm is evaluated both with
    full instructions and with dataset-name prompts, the others with full instructions. The
    figure's claim is about full instructions against each ablation, so the ablated arms are
    paired against the full-instruction arm, and that one against the base model.
    """
    full = _held_out_eval(exp, registry)
    by_name = tuple(
        EvalSpec(spec.tasks, spec.shots, instruction_mode="name", variant="eval: dataset name") for spec in full
    )
    arms = [Arm(BASE, "base model", full, series="base")]
    for mode, label, evals, inversion, reference in (
        ("none", "no template", full, 0.0, "mode-full"),
        ("name", "dataset name", full + by_name, 0.0, "mode-full"),
        ("full", "full instructions", full, None, BASE),
    ):
        mixture = _standard_mixture(exp, instruction_mode=mode)
        if inversion is not None:
            mixture = mixture.model_copy(update={"inversion_rate": inversion})
        arms.append(Arm(f"mode-{mode}", label, evals, mixture=mixture, series=label, compare_to=reference))
    return arms


def zero_vs_few_shot(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    """FLAN Fig. 9: each model's few-shot answers paired against its zero-shot answers, and tuned vs base."""
    evals = _held_out_eval(exp, registry, _few_shots(exp))
    shots = (exp.params.few_shot, 0)
    mixture = _standard_mixture(exp)
    return [
        Arm(BASE, "base model", evals, series="base", compare_shots=shots),
        Arm("tuned", "instruction-tuned", evals, mixture=mixture, series="tuned", compare_to=BASE, compare_shots=shots),
    ]


def prompt_tuning(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    """FLAN Fig. 10: prompt-tune the base and the tuned model on held-out tasks, full data and few examples."""
    tasks = [selector.removeprefix("task:") for selector in _eval_tasks(exp, registry, exp.config.held_out)]
    low_resource = exp.params.low_resource_examples
    prompt_train = {"method": "prompt_tuning", **exp.params.prompt_tuning}
    arms = [Arm("tuned", "instruction-tuned", (), mixture=_standard_mixture(exp))]
    for task in tasks:
        evals = (EvalSpec((f"task:{task}",), tuple(exp.shots)),)
        for init, init_label in ((BASE, "base"), ("tuned", "instruction-tuned")):
            for size, size_key, size_label in (
                (exp.settings.mixture_size, "full", "full data"),
                (low_resource, f"n{low_resource}", f"{low_resource} examples"),
            ):
                mixture = ArmMixture(tasks=[task], size=size, fewshot_share=0.0, cot_share=0.0, inversion_rate=0.0)
                from_base = None if init == BASE else f"pt-{BASE}-{size_key}-{task}"
                arms.append(
                    Arm(
                        f"pt-{init}-{size_key}-{task}",
                        f"{init_label}, {size_label}",
                        evals,
                        mixture=mixture,
                        train=prompt_train,
                        init=init,
                        series=size_label,
                        compare_to=from_base,
                    )
                )
    return arms


def fewshot_share(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    evals = _held_out_eval(exp, registry, _few_shots(exp))
    shares = exp.params.shares
    reference = f"share-{shares[0]:g}"  # every share is paired against the first (zero few-shot by default)
    return [
        Arm(
            f"share-{share:g}",
            f"{share:.0%} few-shot",
            evals,
            mixture=_standard_mixture(exp, fewshot_share=share, cot_share=0.0),
            series="tuned",
            x=share,
            compare_to=None if index == 0 else reference,
        )
        for index, share in enumerate(shares)
    ]


def method_ablations(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    """Flan 2022 Table 1: the full recipe, then one method removed at a time.

    - mixture balancing: equal source weights instead of the recipe's tuned ones;
    - CoT data: no CoT source and no CoT format, so not one CoT row;
    - few-shot templates: zero-shot rows only (no few-shot CoT either);
    - input inversion: inversion rate 0.
    """
    params = exp.params
    weights = dict(params.sources)
    full = _standard_mixture(exp, collections=list(weights), source_weights=weights, cot_source=params.cot_source)
    without_cot = {name: weight for name, weight in weights.items() if name != params.cot_source}
    variants: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("full", "full recipe", {}),
        ("minus-balancing", "- mixture balancing", {"source_weights": {name: 1.0 for name in weights}}),
        (
            "minus-cot",
            "- CoT data",
            {"collections": list(without_cot), "source_weights": without_cot, "cot_share": 0.0},
        ),
        ("minus-fewshot", "- few-shot templates", {"fewshot_share": 0.0}),
        ("minus-inversion", "- input inversion", {"inversion_rate": 0.0}),
    )
    evals = table1_suites(exp, registry, full)
    # each ablation is paired against the full recipe
    return [
        Arm(
            name,
            label,
            evals,
            mixture=full.model_copy(update=change),
            series=label,
            compare_to=None if name == "full" else "full",
        )
        for name, label, change in variants
    ]


def table1_suites(exp: ResolvedExperiment, registry: TaskRegistry, mixture: ArmMixture) -> tuple[EvalSpec, ...]:
    """Held-in (dev splits of trained clusters), held-out cluster, CoT (with CoT prompts), BBH zero/few-shot.

    Held-in takes the first ``held_in_per_cluster`` curated tasks (by name) of each cluster the
    recipe trains on, outside the CoT source (generated cards have no written templates to score),
    unless ``held_in_tasks`` names them.
    """
    params = exp.params
    recipe = recipe_from_dict(
        {
            "collections": [c for c in mixture.collections or [] if c != params.cot_source],
            "held_out": list(mixture.held_out),
        }
    )
    by_cluster: dict[str, list[str]] = {}
    for task in plan_mixture(recipe, registry).tasks:  # sorted by name
        if task.card.curated:
            by_cluster.setdefault(task.card.cluster, []).append(task.name)
    held_in = params.held_in_tasks or [
        name for cluster in sorted(by_cluster) for name in by_cluster[cluster][: params.held_in_per_cluster]
    ]
    cot = params.cot_tasks or [card.name for card in registry.select(collections=[params.cot_source])]
    bbh = params.bbh_tasks or [card.name for card in registry.select(clusters=["bbh"], collections=["bbh"])]
    return (
        EvalSpec(tuple(f"task:{name}" for name in held_in), tuple(exp.shots), suite="held-in", split="validation"),
        *_held_out_eval(exp, registry),
        EvalSpec(tuple(f"task:{name}" for name in cot), (0,), suite="CoT", cot=True),
        EvalSpec(tuple(f"task:{name}" for name in bbh), (0, params.few_shot), suite="BBH"),
    )


def single_task(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    """Flan 2022 section 4: finetune on one held-out task, from the base vs from the tuned model.

    Dropout 0.1; every ``validate_every`` steps the model is scored on the task's validation split
    and the best checkpoint is the one evaluated (and drawn as validation score vs steps).
    """
    params = exp.params
    tasks = params.tasks or [s.removeprefix("task:") for s in _eval_tasks(exp, registry, exp.config.held_out)][:1]
    single_train = {**params.single_task_train, "dropout": params.dropout}
    arms = [Arm("tuned", "instruction-tuned", (), mixture=_standard_mixture(exp))]
    for task in tasks:
        evals = (EvalSpec((f"task:{task}",), tuple(exp.shots)),)
        validation = EvalSpec((f"task:{task}",), tuple(exp.shots), suite="validation", split="validation")
        mixture = ArmMixture(
            tasks=[task], size=exp.settings.mixture_size, fewshot_share=0.0, cot_share=0.0, inversion_rate=0.0
        )
        for init, label in ((BASE, "from base"), ("tuned", "from instruction-tuned")):
            compare_to = None if init == BASE else f"single-{BASE}-{task}"
            arms.append(
                Arm(
                    f"single-{init}-{task}",
                    label,
                    evals,
                    mixture=mixture,
                    train=single_train,
                    init=init,
                    series=label,
                    select_by=validation,
                    compare_to=compare_to,
                )
            )
    return arms


PLANNERS: dict[str, Planner] = {
    "base_vs_tuned": base_vs_tuned,
    "leave_one_cluster_out": leave_one_cluster_out,
    "num_clusters": num_clusters,
    "instruction_ablation": instruction_ablation,
    "zero_vs_few_shot": zero_vs_few_shot,
    "prompt_tuning": prompt_tuning,
    "fewshot_share": fewshot_share,
    "method_ablations": method_ablations,
    "single_task": single_task,
}


def plan(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    arms = PLANNERS[exp.config.study](exp, registry)
    names = [arm.name for arm in arms]
    assert len(names) == len(set(names)), f"arm names repeat in {exp.config.study}: {names}"
    assert all(arm.compare_to in names for arm in arms if arm.compare_to), f"unknown compare_to in {exp.config.study}"
    return arms
