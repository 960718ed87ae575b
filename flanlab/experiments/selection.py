"""Training that keeps the checkpoint with the best validation score (Flan 2022's single-task runs).

The run trains in stages of ``validate_every`` steps, resuming its own checkpoint each time (the
optimizer state carries over; only ``max_steps`` changes). After each stage the exported model is
scored on the validation split; the best so far is copied to ``best/``. The curve (step, score) is
appended to ``validation.jsonl`` as it grows, so a killed unit resumes at its last finished stage.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flanlab.experiments.record import TrainRecord
from flanlab.experiments.units import ModelRef, Unit

if TYPE_CHECKING:
    from flanlab.experiments.runner import ExperimentRun

CURVE = "validation.jsonl"
BEST = "best"


def train_with_selection(
    run: ExperimentRun,
    start: ModelRef,
    mixture_key: str,
    mixture: Path,
    settings: dict[str, Any],
    validation: dict[str, Any],
) -> tuple[ModelRef, TrainRecord]:
    """Train as ``settings`` say, scoring ``validation`` (EvalConfig fields) every few steps; the
    returned model is the best-scoring checkpoint."""
    every = run.exp.params.validate_every
    settings = {**settings, "checkpoint_every": every}
    unit = Unit("train", {"model": start.identity, "mixture": mixture_key, "train": settings, "select_by": validation})

    def work(folder: Path) -> dict[str, Any]:
        _recover(folder / BEST)
        curve = _read_curve(folder / CURVE)
        step, stopped_by = (curve[-1]["step"] if curve else 0), "max_steps"
        while step < settings["max_steps"] and stopped_by == "max_steps":
            result = _train_to(
                start, mixture, folder / "run", {**settings, "max_steps": min(step + every, settings["max_steps"])}
            )
            step, stopped_by = result.steps, result.stopped_by
            score = validation_score(run, Path(result.model_dir), validation)
            if not curve or score > max(point["score"] for point in curve):
                _replace_folder(Path(result.model_dir), folder / BEST)
            curve.append({"step": step, "score": score})
            with open(folder / CURVE, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(curve[-1]) + "\n")
        best = max(curve, key=lambda point: (point["score"], -point["step"]))
        return {
            "model_dir": BEST,
            "log": "run/train_log.jsonl",
            "steps": step,
            "best_step": best["step"],
            "best_validation": best["score"],
            "validation": curve,
        }

    folder, outputs = run.store.run(unit, work)
    relative = folder.relative_to(run.out)
    record = TrainRecord(**{**outputs, "log": str(relative / outputs["log"]), "unit": unit.key})
    return ModelRef(str(folder / outputs["model_dir"]), unit.key), record


def _train_to(start: ModelRef, mixture: Path, run_dir: Path, settings: dict[str, Any]) -> Any:
    from flanlab.train import TrainConfig, train

    return train(TrainConfig(model=start.location, mixture=mixture, out=run_dir, resume=run_dir.exists(), **settings))


def validation_score(run: ExperimentRun, model_dir: Path, fields: dict[str, Any]) -> float:
    """The mean over tasks (and formats) of the template-mean score on the validation split."""
    from flanlab.evaluate import EvalConfig, evaluate

    results = evaluate(EvalConfig(model=str(model_dir), **fields), registry=run.registry, progress=False)
    scores = [task.template_mean for task in results.tasks if task.template_mean is not None]
    return sum(scores) / len(scores) if scores else float("nan")


def _read_curve(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _recover(target: Path) -> None:
    """Undo a kill between the two renames of `_replace_folder`: the previous copy comes back."""
    old = target.with_name(target.name + ".old")
    if old.exists() and not target.exists():
        os.replace(old, target)


def _replace_folder(source: Path, target: Path) -> None:
    """Copy ``source`` over ``target`` so that a kill leaves the old or the new copy, never half of one."""
    staging, old = target.with_name(target.name + ".new"), target.with_name(target.name + ".old")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
