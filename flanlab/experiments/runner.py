"""Run an experiment's arms as cached units: mixture -> training -> evaluation -> report.

Each unit is keyed by a hash of everything that determines it (upstream unit keys included), so a
rerun after a kill skips finished units and resumes an unfinished training run from its last
checkpoint. ``experiment.json`` records which unit produced what; reports read only that.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from flanlab.experiments.config import ResolvedExperiment
from flanlab.experiments.studies import BASE, Arm, EvalSpec, experiment_collections, plan
from flanlab.experiments.units import Unit, UnitStore
from flanlab.io import write_json
from flanlab.models.zoo import model_fingerprint
from flanlab.tasks.registry import TaskRegistry, load_registry

console = Console(stderr=True)
# Guard against every held-out / eval-only task whose data is local.
GUARD_COLLECTIONS = ["core", "bbh", "bigbench", "natural_instructions"]


@dataclass
class ModelRef:
    """A model to start from or evaluate: where it is, and an identity for cache keys."""

    location: str
    identity: str


@dataclass
class ExperimentRun:
    exp: ResolvedExperiment
    out: Path
    registry: TaskRegistry
    store: UnitStore = field(init=False)
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.store = UnitStore(self.out)


def mixture_recipe(exp: ResolvedExperiment, settings: dict[str, Any]) -> dict[str, Any]:
    """flanlab's neutral mixture keys (see studies.py) as a mixture recipe."""
    recipe: dict[str, Any] = {
        "name": exp.config.name,
        "collections": experiment_collections(exp),
        "guard_collections": GUARD_COLLECTIONS,
        "held_out": settings.get("held_out", []),
        "total_size": settings["size"],
        "seed": exp.config.seed,
        "max_prompt_tokens": min(960, exp.settings.max_length),
        # A training text equal to a held-out evaluation input is dropped and reported in the
        # mixture's stats.json rather than failing the experiment (the guard itself still runs).
        "on_contamination": "remove",
    }
    for key, target in (("clusters", "clusters"), ("tasks", "tasks"), ("inversion_rate", "inversion_rate"), ("instruction_mode", "instruction_mode")):
        if key in settings:
            recipe[target] = settings[key]
    if "tasks" in settings:
        recipe["collections"] = None
    if "fewshot_share" in settings or "cot_share" in settings:
        few, cot = settings.get("fewshot_share", 0.5), settings.get("cot_share", 0.1)
        recipe["format_ratios"] = {"zero_shot": (1 - cot) * (1 - few), "few_shot": (1 - cot) * few, "cot": cot / 2, "cot_few_shot": cot / 2}
    if settings.get("balanced") is False:
        recipe["max_rate"] = 1_000_000_000  # plain examples-proportional: no maximum mixing rate
    return recipe


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
    settings.update(arm.train)
    if settings["method"] == "prompt_tuning" and "learning_rate" not in arm.train:
        settings["learning_rate"] = 3e-2  # soft prompts need a far larger rate than weights
    return settings


def _run_mixture(run: ExperimentRun, recipe: dict[str, Any]) -> tuple[str, Path]:
    from flanlab.mixture import build_mixture, recipe_from_dict

    unit = Unit("mix", {"recipe": recipe})

    def work(folder: Path) -> dict[str, Any]:
        stats = build_mixture(recipe_from_dict(recipe, where=f"{run.exp.config.name} mixture"), run.registry, folder / "mixture")
        return {"mixture": "mixture", "rows": stats.total_rows}

    folder, outputs = run.store.run(unit, work)
    return unit.key, folder / outputs["mixture"]


def _run_training(run: ExperimentRun, start: ModelRef, mixture_key: str, mixture: Path, settings: dict[str, Any]) -> tuple[ModelRef, dict[str, Any]]:
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
        }

    folder, outputs = run.store.run(unit, work)
    model = ModelRef(str(folder / outputs["model_dir"]), unit.key)
    relative = folder.relative_to(run.out)
    return model, {**outputs, "log": str(relative / outputs["log"]), "unit": unit.key}


def _run_eval(run: ExperimentRun, model: ModelRef, spec: EvalSpec) -> dict[str, Any]:
    from flanlab.evaluate import EvalConfig, evaluate

    scale = run.exp.settings
    eval_fields: dict[str, Any] = {
        "tasks": list(spec.tasks),
        "shots": list(spec.shots),
        "limit": scale.eval_limit,
        "seed": run.exp.config.seed,
        "best_dev": bool(run.exp.params.get("best_dev", False)),
    }
    if run.exp.config.chat_template:
        eval_fields["chat_template"] = True
    if scale.eval_templates:
        eval_fields["templates"] = [f"t{index:02d}" for index in range(1, scale.eval_templates + 1)]
    unit = Unit("eval", {"model": model.identity, **eval_fields})

    def work(folder: Path) -> dict[str, Any]:
        evaluate(EvalConfig(model=model.location, **eval_fields), out=folder, registry=run.registry)
        return {"results": "results.json"}

    folder, outputs = run.store.run(unit, work)
    return {"tasks": list(spec.tasks), "shots": list(spec.shots), "results": str(folder.relative_to(run.out) / outputs["results"]), "unit": unit.key}


def _card_evaluation(run: ExperimentRun, model: ModelRef, evals: list[dict[str, Any]]) -> None:
    """Put the held-out results of a tuned model into its model card (README.md)."""
    from flanlab.train.model_card import EvalRow, add_evaluation

    rows = [
        EvalRow(t["task"], t["cluster"], t["format"], t["primary_metric"], t["template_mean"], t["n_templates"], t["n_examples"])
        for record in evals
        for t in json.loads((run.out / record["results"]).read_text())["tasks"]
        if t["template_mean"] is not None
    ]
    add_evaluation(Path(model.location), rows, source=f"flanlab experiment {run.exp.config.name} ({run.exp.scale})")


def _base_model(exp: ResolvedExperiment) -> ModelRef:
    return ModelRef(exp.model, f"{exp.model}@{model_fingerprint(exp.model)}")


def run_experiment(exp: ResolvedExperiment, out: str | Path, registry: TaskRegistry | None = None) -> Path:
    """Run (or finish) every arm of the experiment into ``out``; return the experiment.json path."""
    run = ExperimentRun(exp=exp, out=Path(out), registry=registry or load_registry())
    arms = plan(exp, run.registry)
    base = _base_model(exp)
    trained: dict[str, ModelRef] = {BASE: base}
    records = []
    for index, arm in enumerate(arms, start=1):
        elapsed = time.monotonic() - run.started
        console.print(f"[bold]arm {index}/{len(arms)}[/bold] {arm.name} ({arm.label}) · {elapsed / 60:.1f} min elapsed")
        model, train_record = trained[arm.init], None
        if arm.mixture is not None:
            mixture_key, mixture = _run_mixture(run, mixture_recipe(exp, arm.mixture))
            model, train_record = _run_training(run, model, mixture_key, mixture, train_settings(exp, arm))
            trained[arm.name] = model
        evals = [_run_eval(run, model, spec) for spec in arm.evals]
        if train_record is not None and evals:
            _card_evaluation(run, model, evals)
        records.append(
            {"name": arm.name, "label": arm.label, "series": arm.series, "x": arm.x, "init": arm.init, "train": train_record, "evals": evals}
        )
    record = {
        "name": exp.config.name,
        "study": exp.config.study,
        "title": exp.config.title,
        "description": exp.config.description,
        "figure": exp.config.figure,
        "model": exp.model,
        "held_out": exp.config.held_out,
        "shots": exp.shots,
        "chat_template": exp.config.chat_template,
        "seed": exp.config.seed,
        "scale": exp.scale,
        "units_run": len(run.store.ran),
        "units_reused": len(run.store.reused),
        "arms": records,
    }
    path = run.out / "experiment.json"
    write_json(path, record)
    return path
