"""Each study of FLAN_METHOD section 7 as a plan: a list of arms.

An arm is one model to evaluate: the base model as it is, or a model tuned on a mixture (possibly
starting from another arm's model). Mixture settings use flanlab's own neutral keys, turned into a
mixture recipe by the runner: ``held_out``, ``clusters``, ``tasks``, ``size``, ``fewshot_share``,
``cot_share``, ``inversion_rate``, ``instruction_mode``, ``balanced``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flanlab.experiments.config import ResolvedExperiment
from flanlab.tasks.clusters import EVAL_ONLY_CLUSTERS, held_out_closure
from flanlab.tasks.registry import TaskRegistry

BASE = "base"
# Experiments train and evaluate on the curated collection by default: its data is local and
# loads in seconds. A config's `params.collections` widens it (e.g. with bigbench, flan2021).
DEFAULT_COLLECTIONS = ("core",)


def experiment_collections(exp: ResolvedExperiment) -> list[str]:
    return list(exp.params.get("collections") or DEFAULT_COLLECTIONS)


def held_out_tasks(exp: ResolvedExperiment, registry: TaskRegistry, clusters: list[str]) -> list[str]:
    """The datasets evaluated for held-out ``clusters``: from the experiment's collections."""
    return [card.name for card in registry.select(clusters=clusters, collections=experiment_collections(exp))]


@dataclass(frozen=True)
class EvalSpec:
    tasks: tuple[str, ...]  # selectors: "cluster:nli", "task:NAME"
    shots: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class Arm:
    name: str  # unique within the experiment
    label: str  # what figures and tables call it
    evals: tuple[EvalSpec, ...]
    mixture: dict[str, Any] | None = None  # None: evaluate `init` untouched
    train: dict[str, Any] = field(default_factory=dict)  # overrides of the experiment's training settings
    init: str = BASE  # BASE or the name of the arm whose tuned model this one starts from
    series: str = ""  # bar group / line the arm belongs to
    x: float | None = None  # position on the x axis of line figures
    compare_to: str | None = None  # the arm this one is paired against (difference = this - that)


Planner = Callable[[ResolvedExperiment, TaskRegistry], list[Arm]]


def trainable_clusters(exp: ResolvedExperiment, registry: TaskRegistry) -> list[str]:
    cards = registry.select(collections=experiment_collections(exp), include_eval_only=False)
    return sorted({card.cluster for card in cards} - EVAL_ONLY_CLUSTERS)


def _held_out_eval(exp: ResolvedExperiment, registry: TaskRegistry, shots: list[int] | None = None) -> tuple[EvalSpec, ...]:
    names = exp.settings.eval_tasks or held_out_tasks(exp, registry, exp.config.held_out)
    return (EvalSpec(tuple(f"task:{name}" for name in names), tuple(shots or exp.shots)),)


def _standard_mixture(exp: ResolvedExperiment, **changes: Any) -> dict[str, Any]:
    mixture: dict[str, Any] = {"held_out": list(exp.config.held_out), "size": exp.settings.mixture_size}
    mixture.update(exp.params.get("mixture", {}))  # a config's defaults for every arm's mixture
    if exp.settings.train_clusters:
        mixture["clusters"] = list(exp.settings.train_clusters)
    mixture.update(changes)
    return mixture


def base_vs_tuned(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    evals = _held_out_eval(exp, registry)
    return [
        Arm(BASE, "base model", evals, series="base"),
        Arm("tuned", "instruction-tuned", evals, mixture=_standard_mixture(exp), series="tuned", compare_to=BASE),
    ]


def leave_one_cluster_out(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    clusters = exp.settings.clusters or exp.params.get("clusters") or trainable_clusters(exp, registry)
    arms = []
    for cluster in clusters:
        names = exp.settings.eval_tasks or held_out_tasks(exp, registry, [cluster])
        evals = (EvalSpec(tuple(f"task:{name}" for name in names), tuple(exp.shots)),)
        mixture = _standard_mixture(exp, held_out=[cluster])
        arms.append(Arm(f"base-{cluster}", cluster, evals, series="base"))
        arms.append(
            Arm(f"tuned-{cluster}", cluster, evals, mixture=mixture, series="tuned", compare_to=f"base-{cluster}")
        )
    return arms


def num_clusters(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    excluded = held_out_closure(frozenset(exp.config.held_out))
    order = exp.params.get("cluster_order") or [c for c in trainable_clusters(exp, registry) if c not in excluded]
    order = [cluster for cluster in order if cluster not in excluded]
    counts = exp.params.get("counts") or list(range(1, len(order) + 1))
    evals = _held_out_eval(exp, registry)
    arms = [Arm(BASE, "0 clusters (base)", evals, series="held-out score", x=0)]
    for count in counts:
        mixture = _standard_mixture(exp, clusters=order[:count])
        arms.append(Arm(f"clusters-{count}", f"{count} clusters", evals, mixture=mixture, series="held-out score",
                        x=count, compare_to=BASE))
    return arms


def instruction_ablation(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    evals = _held_out_eval(exp, registry)
    modes = (("none", "no template"), ("name", "dataset name"), ("full", "full instructions"))
    arms = [Arm(BASE, "base model", evals, series="base")]
    for mode, label in modes:
        mixture = _standard_mixture(exp, instruction_mode=mode)
        arms.append(Arm(f"mode-{mode}", label, evals, mixture=mixture, series=label, compare_to=BASE))
    return arms


def zero_vs_few_shot(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    shots = sorted(set(exp.shots) | {0, int(exp.params.get("few_shot", 3))})
    evals = _held_out_eval(exp, registry, shots)
    return [
        Arm(BASE, "base model", evals, series="base"),
        Arm("tuned", "instruction-tuned", evals, mixture=_standard_mixture(exp), series="tuned", compare_to=BASE),
    ]


def prompt_tuning(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    """FLAN Fig. 10: prompt-tune the base and the tuned model on held-out tasks, full data and 32 examples."""
    tasks = exp.settings.eval_tasks or held_out_tasks(exp, registry, exp.config.held_out)
    low_resource = int(exp.params.get("low_resource_examples", 32))
    prompt_train = {"method": "prompt_tuning", **exp.params.get("prompt_tuning", {})}
    arms = [Arm("tuned", "instruction-tuned", (), mixture=_standard_mixture(exp))]
    for task in tasks:
        evals = (EvalSpec((f"task:{task}",), tuple(exp.shots)),)
        for init, init_label in ((BASE, "base"), ("tuned", "instruction-tuned")):
            for size, size_key, size_label in (
                (exp.settings.mixture_size, "full", "full data"),
                (low_resource, f"n{low_resource}", f"{low_resource} examples"),
            ):
                mixture = {"tasks": [task], "held_out": [], "size": size, "fewshot_share": 0.0, "cot_share": 0.0, "inversion_rate": 0.0}
                from_base = None if init == BASE else f"pt-{BASE}-{size_key}-{task}"
                arms.append(
                    Arm(f"pt-{init}-{size_key}-{task}", f"{init_label}, {size_label}", evals, mixture=mixture,
                        train=prompt_train, init=init, series=size_label, compare_to=from_base)
                )
    return arms


def fewshot_share(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    shares = exp.params.get("shares") or [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
    evals = _held_out_eval(exp, registry, sorted(set(exp.shots) | {0, int(exp.params.get("few_shot", 3))}))
    reference = f"share-{shares[0]:g}"  # every share is paired against the first (zero few-shot by default)
    return [
        Arm(f"share-{share:g}", f"{share:.0%} few-shot", evals,
            mixture=_standard_mixture(exp, fewshot_share=share, cot_share=0.0), series="tuned", x=share,
            compare_to=None if index == 0 else reference)
        for index, share in enumerate(shares)
    ]


def method_ablations(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    evals = _held_out_eval(exp, registry, sorted(set(exp.shots) | {0, int(exp.params.get("few_shot", 3))}))
    variants = (
        ("full", "full recipe", {}),
        ("minus-cot", "- CoT data", {"cot_share": 0.0}),
        ("minus-inversion", "- input inversion", {"inversion_rate": 0.0}),
        ("minus-balancing", "- mixture balancing", {"balanced": False}),
        ("minus-fewshot", "- few-shot templates", {"fewshot_share": 0.0}),
    )
    # each ablation is paired against the full recipe
    return [
        Arm(name, label, evals, mixture=_standard_mixture(exp, **change), series=label,
            compare_to=None if name == "full" else "full")
        for name, label, change in variants
    ]


def single_task(exp: ResolvedExperiment, registry: TaskRegistry) -> list[Arm]:
    """Flan 2022 section 4: finetune on one held-out task, from the base vs from the tuned model."""
    tasks = exp.settings.eval_tasks or exp.params.get("tasks") or held_out_tasks(exp, registry, exp.config.held_out)[:1]
    single_train = exp.params.get("single_task_train", {})
    arms = [Arm("tuned", "instruction-tuned", (), mixture=_standard_mixture(exp))]
    for task in tasks:
        evals = (EvalSpec((f"task:{task}",), tuple(exp.shots)),)
        mixture = {"tasks": [task], "held_out": [], "size": exp.settings.mixture_size, "fewshot_share": 0.0, "cot_share": 0.0}
        for init, label in ((BASE, "from base"), ("tuned", "from instruction-tuned")):
            compare_to = None if init == BASE else f"single-{BASE}-{task}"
            arms.append(
                Arm(f"single-{init}-{task}", label, evals, mixture=mixture, train=single_train, init=init, series=label,
                    compare_to=compare_to)
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
