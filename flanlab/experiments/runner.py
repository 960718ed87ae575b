"""Run an experiment's arms as cached units: mixture -> training -> evaluation -> report.

Each unit is keyed by a hash of everything that determines it (upstream unit keys included), so a
rerun after a kill skips finished units and resumes an unfinished training run from its last
checkpoint. ``experiment.json`` records which unit produced what; reports read only that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from flanlab.evaluate.compare import Comparison
from flanlab.experiments.config import ResolvedExperiment
from flanlab.experiments.record import ArmRecord, EvalRecord, ExperimentRecord, MixtureRecord, TrainRecord
from flanlab.experiments.selection import train_with_selection
from flanlab.experiments.studies import (
    BASE,
    Arm,
    ArmMixture,
    EvalSpec,
    experiment_collections,
    plan,
    too_small_to_evaluate,
)
from flanlab.experiments.units import ModelRef, Unit, UnitStore
from flanlab.models.zoo import model_fingerprint
from flanlab.prompts.layout import PromptLayout
from flanlab.tasks.registry import TaskRegistry, load_registry

console = Console(stderr=True)
# Guard against every held-out / eval-only task whose data is local.
GUARD_COLLECTIONS = ["core", "cot", "bbh", "bigbench", "natural_instructions"]


@dataclass
class ExperimentRun:
    exp: ResolvedExperiment
    out: Path
    registry: TaskRegistry
    store: UnitStore = field(init=False)
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.store = UnitStore(self.out)


def mixture_recipe(exp: ResolvedExperiment, mixture: ArmMixture) -> dict[str, Any]:
    """An arm's mixture (flanlab's neutral terms, see studies.py) as a mixture recipe."""
    recipe: dict[str, Any] = {
        "name": exp.config.name,
        "collections": None if mixture.tasks else (mixture.collections or experiment_collections(exp)),
        "guard_collections": GUARD_COLLECTIONS,
        "held_out": list(mixture.held_out),
        "total_size": mixture.size,
        "seed": exp.config.seed,
        "max_prompt_tokens": min(960, exp.settings.max_length),
        # A training text equal to a held-out evaluation input is dropped and reported in the
        # mixture's stats.json rather than failing the experiment (the guard itself still runs).
        "on_contamination": "remove",
        # Written out so a unit cached under another default layout is never reused.
        "layout": PromptLayout().model_dump(),
    }
    for key in ("tasks", "clusters", "inversion_rate", "instruction_mode"):
        if getattr(mixture, key) is not None:
            recipe[key] = getattr(mixture, key)
    if mixture.fewshot_share is not None or mixture.cot_share is not None:
        few = 0.5 if mixture.fewshot_share is None else mixture.fewshot_share
        recipe["format_ratios"] = format_ratios(few, 0.1 if mixture.cot_share is None else mixture.cot_share)
    if mixture.source_weights:
        recipe["sources"] = {name: {"weight": weight} for name, weight in mixture.source_weights.items()}
    if mixture.cot_source and mixture.cot_source in recipe.get("sources", {}):
        few_shot_cot = 0.0 if mixture.fewshot_share == 0 else 1.0
        ratios = {"zero_shot": 0.0, "few_shot": 0.0, "cot": 1.0, "cot_few_shot": few_shot_cot}
        recipe["sources"][mixture.cot_source]["format_ratios"] = ratios
    return recipe


def format_ratios(fewshot_share: float, cot_share: float) -> dict[str, float]:
    """Format shares: ``cot_share`` of the rows that have a rationale are CoT (half few-shot CoT, none
    when ``fewshot_share`` is 0: zero-shot only), the rest zero- or few-shot by ``fewshot_share``."""
    cot_few = cot_share / 2 if fewshot_share > 0 else 0.0
    return {
        "zero_shot": (1 - cot_share) * (1 - fewshot_share),
        "few_shot": (1 - cot_share) * fewshot_share,
        "cot": cot_share - cot_few,
        "cot_few_shot": cot_few,
    }


def train_settings(exp: ResolvedExperiment, arm: Arm) -> dict[str, Any]:
    scale = exp.settings
    settings: dict[str, Any] = {
        "method": exp.config.method,
        "max_input_tokens": scale.max_length,
        "max_target_tokens": max(32, scale.max_length // 4),
        "micro_batch_size": scale.batch_size,
        "max_steps": scale.max_steps or 100_000,
        "max_minutes": scale.max_minutes,
        "seed": exp.config.seed,
        "optimizer": "adamw",
        "learning_rate": scale.learning_rate or 2e-4,
        "checkpoint_every": 20,
    }
    if exp.config.chat_template:  # set only when on, so the units of plain-text runs keep their keys
        settings["chat_template"] = True
    settings.update(scale.train)
    settings.update(arm.train)
    if settings["method"] == "prompt_tuning" and "learning_rate" not in arm.train:
        settings["learning_rate"] = 3e-2  # soft prompts need a far larger rate than weights
    return settings


def mixture_unit(recipe: dict[str, Any]) -> Unit:
    """The mixture's cache unit. The recipe's name only labels the mixture, so it is not in the key:
    studies that train the same mixture (the main job's and Fig. 5's NLI arm, Fig. 9, Fig. 10,
    single-task) share one mixture and one tuned model."""
    return Unit("mix", {"recipe": {key: value for key, value in recipe.items() if key != "name"}})


def _run_mixture(run: ExperimentRun, recipe: dict[str, Any]) -> tuple[str, Path, MixtureRecord]:
    """Build (or reuse) the mixture; returns its unit key, folder and what its rows really are."""
    from flanlab.mixture import build_mixture, recipe_from_dict
    from flanlab.mixture.stats import MixtureStats

    unit = mixture_unit(recipe)

    def work(folder: Path) -> dict[str, Any]:
        stats = build_mixture(
            recipe_from_dict(recipe, where=f"{run.exp.config.name} mixture"), run.registry, folder / "mixture"
        )
        return {"mixture": "mixture", "rows": stats.total_rows}

    folder, outputs = run.store.run(unit, work, stage=f"mixture ({recipe.get('total_size')} rows)")
    stats = MixtureStats.read(folder / outputs["mixture"] / "stats.json")
    summary = MixtureRecord(
        rows=stats.total_rows,
        formats={share.name: share.examples for share in stats.formats},
        collections={share.name: share.examples for share in stats.collections},
        notes=stats.notes,
        seconds=outputs.get("seconds"),
        reused=unit.key in run.store.reused,
    )
    return unit.key, folder / outputs["mixture"], summary


def _run_training(
    run: ExperimentRun, start: ModelRef, mixture_key: str, mixture: Path, settings: dict[str, Any]
) -> tuple[ModelRef, TrainRecord]:
    from flanlab.train import TrainConfig, train

    unit = Unit("train", {"model": start.identity, "mixture": mixture_key, "train": settings})

    def work(folder: Path) -> dict[str, Any]:
        run_dir = folder / "run"
        config = TrainConfig(model=start.location, mixture=mixture, out=run_dir, resume=run_dir.exists(), **settings)
        result = train(config)
        return {
            "model_dir": str(Path(result.model_dir).relative_to(folder)),
            "log": str((Path(result.run_dir) / "train_log.jsonl").relative_to(folder)),
            "steps": result.steps,
            "final_loss": result.final_loss,
            "target_tokens": result.target_tokens,
            "packing_efficiency": result.packing_efficiency,
            "elapsed_s": result.elapsed_s,
            "stopped_by": result.stopped_by,
            "max_steps": settings["max_steps"],
        }

    folder, outputs = run.store.run(unit, work, stage=f"training ({settings['method']}, {settings['max_steps']} steps)")
    model = ModelRef(str(folder / outputs["model_dir"]), unit.key)
    relative = folder.relative_to(run.out)
    record = {
        **outputs,
        "log": str(relative / outputs["log"]),
        "unit": unit.key,
        "reused": unit.key in run.store.reused,
    }
    return model, TrainRecord(**record)


def eval_fields(exp: ResolvedExperiment, spec: EvalSpec) -> dict[str, Any]:
    """The EvalConfig fields of one evaluation (the model aside): the spec at the experiment's scale."""
    scale = exp.settings
    fields: dict[str, Any] = {
        "tasks": list(spec.tasks),
        "shots": list(spec.shots),
        "limit": scale.eval_limit,
        "seed": exp.config.seed,
        # FLAN reports the best-dev template beside the template mean; a config may turn it off.
        "best_dev": exp.params.best_dev and spec.split != "validation",
        "split": spec.split,
        "cot": spec.cot,
        "instruction_mode": spec.instruction_mode,
        "layout": PromptLayout().model_dump(),  # the layout the mixtures were rendered with
    }
    if exp.config.chat_template:  # set only when on, so the units of plain-text runs keep their keys
        fields["chat_template"] = True
    if scale.eval_templates:
        fields["template_sample"] = scale.eval_templates
    if spec.cot and scale.cot_max_new_tokens:
        fields["cot_max_new_tokens"] = scale.cot_max_new_tokens
    return fields


def _run_eval(run: ExperimentRun, model: ModelRef, spec: EvalSpec, arm_label: str) -> EvalRecord:
    from flanlab.evaluate import EvalConfig, evaluate

    fields = eval_fields(run.exp, spec)
    unit = Unit("eval", {"model": model.identity, **fields})

    def work(folder: Path) -> dict[str, Any]:
        evaluate(EvalConfig(model=model.location, **fields), out=folder, registry=run.registry)
        return {"results": "results.json"}

    stage = f"evaluation ({arm_label}, {len(spec.tasks)} task{'s' if len(spec.tasks) != 1 else ''}, {spec.split})"
    folder, outputs = run.store.run(unit, work, stage=stage)
    return EvalRecord(
        tasks=list(spec.tasks),
        shots=list(spec.shots),
        suite=spec.suite,
        split=spec.split,
        cot=spec.cot,
        instruction_mode=spec.instruction_mode,
        variant=spec.variant,
        results=str(folder.relative_to(run.out) / outputs["results"]),
        unit=unit.key,
        seconds=outputs.get("seconds"),
        reused=unit.key in run.store.reused,
    )


def evaluated_clusters(exp: ResolvedExperiment) -> list[str]:
    """The held-out clusters a study scores: the config's, and those a leave-one-out study sweeps."""
    return list(dict.fromkeys([*exp.config.held_out, *(exp.settings.clusters or [])]))


def _comparisons(run: ExperimentRun, arms: list[Arm], records: list[ArmRecord]) -> list[Comparison]:
    """Each arm against its ``compare_to`` arm, on the evaluations both ran (same tasks and shots), and
    an arm's few-shot answers against its zero-shot ones where ``compare_shots`` asks for it."""
    from flanlab.evaluate.compare import compare_evaluations, compare_shots

    by_name = {record.name: record for record in records}
    comparisons = []
    for arm in arms:
        if arm.compare_shots:
            folders = [run.out / Path(record.results).parent for record in by_name[arm.name].evals]
            shots_a, shots_b = arm.compare_shots
            seed = run.exp.config.seed
            comparisons.append(compare_shots(folders, arm=arm.name, shots_a=shots_a, shots_b=shots_b, seed=seed))
        if arm.compare_to is None:
            continue
        pairs = [
            (run.out / Path(mine.results).parent, run.out / Path(theirs.results).parent)
            for mine in by_name[arm.name].evals
            for theirs in by_name[arm.compare_to].evals
            if (mine.tasks, mine.shots) == (theirs.tasks, theirs.shots)
        ]
        if pairs:
            folders_a, folders_b = (list(side) for side in zip(*pairs))
            seed = run.exp.config.seed
            comparison = compare_evaluations(folders_a, folders_b, a=arm.name, b=arm.compare_to, seed=seed)
            comparisons.append(comparison)
    return comparisons


def _card_evaluation(run: ExperimentRun, model: ModelRef, evals: list[EvalRecord]) -> None:
    """Put the held-out results of a tuned model into its model card (README.md)."""
    from flanlab.evaluate.schema import read_results
    from flanlab.train.model_card import EvalRow, add_evaluation

    rows = [
        EvalRow(t.task, t.cluster, t.format, t.primary_metric, t.template_mean, t.n_templates, t.n_examples)
        for record in evals
        for t in read_results(run.out / record.results).tasks
        if t.template_mean is not None
    ]
    add_evaluation(Path(model.location), rows, source=f"flanlab experiment {run.exp.config.name} ({run.exp.scale})")


def _base_model(exp: ResolvedExperiment) -> ModelRef:
    return ModelRef(exp.model, f"{exp.model}@{model_fingerprint(exp.model)}")


def _run_arm(run: ExperimentRun, arm: Arm, trained: dict[str, ModelRef]) -> ArmRecord:
    exp = run.exp
    model = trained[arm.init]
    train_record: TrainRecord | None = None
    mixture_record: MixtureRecord | None = None
    if arm.mixture is not None:
        mixture_key, mixture, mixture_record = _run_mixture(run, mixture_recipe(exp, arm.mixture))
        settings = train_settings(exp, arm)
        if arm.select_by is not None:
            model, train_record = train_with_selection(
                run, model, mixture_key, mixture, settings, eval_fields(exp, arm.select_by)
            )
        else:
            model, train_record = _run_training(run, model, mixture_key, mixture, settings)
        trained[arm.name] = model
    evals = [_run_eval(run, model, spec, arm.label) for spec in arm.evals]
    if train_record is not None and evals:
        _card_evaluation(run, model, evals)
    return ArmRecord(
        name=arm.name,
        label=arm.label,
        series=arm.series,
        x=arm.x,
        init=arm.init,
        mixture=mixture_record,
        train=train_record,
        evals=evals,
    )


def run_experiment(
    exp: ResolvedExperiment, out: str | Path, registry: TaskRegistry | None = None, command: str | None = None
) -> Path:
    """Run (or finish) every arm of the experiment into ``out``; return the experiment.json path.
    ``command`` is the command line that reproduces the run, quoted in the report."""
    run = ExperimentRun(exp=exp, out=Path(out), registry=registry or load_registry())
    arms = plan(exp, run.registry)
    trained: dict[str, ModelRef] = {BASE: _base_model(exp)}
    records = []
    for index, arm in enumerate(arms, start=1):
        elapsed = time.monotonic() - run.started
        console.print(f"[bold]arm {index}/{len(arms)}[/bold] {arm.name} ({arm.label}) · {elapsed / 60:.1f} min elapsed")
        records.append(_run_arm(run, arm, trained))
    record = ExperimentRecord(
        name=exp.config.name,
        study=exp.config.study,
        title=exp.config.title,
        description=exp.config.description,
        figure=exp.config.figure,
        model=exp.model,
        held_out=exp.config.held_out,
        shots=exp.shots,
        chat_template=exp.config.chat_template,
        seed=exp.config.seed,
        scale=exp.scale,
        units_run=len(run.store.ran),
        units_reused=len(run.store.reused),
        elapsed_s=round(time.monotonic() - run.started, 1),
        command=command,
        too_small_to_evaluate=too_small_to_evaluate(exp, run.registry, evaluated_clusters(exp)),
        finding=exp.config.finding,
        arms=records,
        comparisons=_comparisons(run, arms, records),
    )
    return record.write(run.out)
