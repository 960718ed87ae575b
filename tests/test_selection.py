"""Checkpoint selection by validation score: the best stage is kept, and a killed unit resumes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from flanlab.experiments import selection
from flanlab.experiments.units import ModelRef, UnitStore


class FakeTraining:
    """Stands in for train(): each stage "exports" a model folder naming the step it reached."""

    def __init__(self, scores: list[float], fail_at: int | None = None) -> None:
        self.scores, self.fail_at, self.stages, self.scored = scores, fail_at, [], 0

    def train_to(self, start, mixture, run_dir: Path, settings):
        model_dir = run_dir / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "step.txt").write_text(str(settings["max_steps"]))
        self.stages.append(settings["max_steps"])
        return SimpleNamespace(steps=settings["max_steps"], stopped_by="max_steps", model_dir=model_dir)

    def score(self, run, model_dir: Path, fields) -> float:
        if self.fail_at is not None and self.scored == self.fail_at:
            raise KeyboardInterrupt("killed")
        step = int((model_dir / "step.txt").read_text())
        self.scored += 1
        return self.scores[step // 10 - 1]


def _select(tmp_path, fake, monkeypatch):
    monkeypatch.setattr(selection, "_train_to", fake.train_to)
    monkeypatch.setattr(selection, "validation_score", fake.score)
    run = SimpleNamespace(
        store=UnitStore(tmp_path), out=tmp_path, exp=SimpleNamespace(params=SimpleNamespace(validate_every=10))
    )
    settings = {"max_steps": 40, "method": "full"}
    return selection.train_with_selection(
        run, ModelRef("base", "base@1"), "mix-1", tmp_path / "m", settings, {"split": "validation"}
    )


def test_the_best_validation_stage_is_the_model_kept(tmp_path, monkeypatch):
    fake = FakeTraining([40.0, 55.0, 50.0, 55.0])  # a tie keeps the earlier checkpoint
    model, record = _select(tmp_path, fake, monkeypatch)
    assert fake.stages == [10, 20, 30, 40]
    assert [(point.step, point.score) for point in record.validation] == [(10, 40.0), (20, 55.0), (30, 50.0), (40, 55.0)]
    assert record.best_step == 20 and (Path(model.location) / "step.txt").read_text() == "20"


def test_a_killed_selection_resumes_at_its_last_scored_stage(tmp_path, monkeypatch):
    with pytest.raises(KeyboardInterrupt):
        _select(tmp_path, FakeTraining([40.0, 60.0, 50.0, 45.0], fail_at=2), monkeypatch)
    again = FakeTraining([40.0, 60.0, 50.0, 45.0])
    model, record = _select(tmp_path, again, monkeypatch)
    assert again.stages == [30, 40]  # stages 10 and 20 were scored before the kill
    assert [point.step for point in record.validation] == [10, 20, 30, 40]
    assert record.best_step == 20 and (Path(model.location) / "step.txt").read_text() == "20"
