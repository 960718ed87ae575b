"""experiment.json as typed models: which unit produced what, for the report.

`ExperimentRecord.write` is the one writer (the experiment runner) and `read_experiment` the one
reader (the report). Paths inside are relative to the experiment folder. Records written before
the schema was versioned carry no ``schema`` key and read as version 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flanlab.errors import FlanlabError
from flanlab.evaluate.compare import Comparison
from flanlab.io import write_json

SCHEMA: Final = "flanlab.experiment"
SCHEMA_VERSION: Final = 1
RECORD_NAME = "experiment.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MixtureRecord(_Strict):
    """What an arm's mixture really holds (rows per format and per collection)."""

    rows: int
    formats: dict[str, int]
    collections: dict[str, int]
    notes: list[str]
    seconds: float | None = None  # the unit's wall time when it ran (records before 2026-12 lack it)
    reused: bool = False  # taken from an earlier run's cache


class ValidationPoint(_Strict):
    step: int
    score: float


class TrainRecord(_Strict):
    """An arm's training unit; a run that kept its best validation checkpoint also has the curve."""

    unit: str
    model_dir: str
    log: str  # train_log.jsonl
    steps: int
    final_loss: float | None = None
    target_tokens: int | None = None
    packing_efficiency: float | None = None
    elapsed_s: float | None = None
    stopped_by: str | None = None  # max_steps, or max_minutes when a time cap fired
    max_steps: int | None = None
    seconds: float | None = None
    reused: bool = False
    best_step: int | None = None
    best_validation: float | None = None
    validation: list[ValidationPoint] = Field(default_factory=list)


class EvalRecord(_Strict):
    """One evaluation of an arm; ``results`` is its results.json (`flanlab.evaluate.schema`)."""

    tasks: list[str]
    shots: list[int]
    suite: str
    split: str
    cot: bool
    instruction_mode: str
    variant: str
    results: str
    unit: str
    seconds: float | None = None
    reused: bool = False


class Finding(_Strict):
    """What the paper found, and the sign it found for each paired comparison (arm - its reference)."""

    text: str  # the paper's finding, with its number
    # a comparison's side a (an arm, or "arm@3-shot" for its few- vs zero-shot answers) -> the sign found
    expect: dict[str, Literal["improvement", "drop"]] = Field(default_factory=dict)


class ArmRecord(_Strict):
    name: str
    label: str
    series: str
    x: float | None
    init: str
    mixture: MixtureRecord | None
    train: TrainRecord | None
    evals: list[EvalRecord]


class ExperimentRecord(_Strict):
    schema_name: Literal["flanlab.experiment"] = Field(SCHEMA, alias="schema")
    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    study: str
    title: str
    description: str
    figure: str
    model: str
    held_out: list[str]
    shots: list[int]
    chat_template: bool
    seed: int
    scale: str
    units_run: int
    units_reused: int
    elapsed_s: float | None = None  # this invocation's wall time
    command: str | None = None  # the command line that reproduces the run
    too_small_to_evaluate: dict[str, int] = Field(default_factory=dict)  # held-out dataset -> test examples
    finding: Finding | None = None  # the paper's finding the study tests (records before 2026-12 lack it)
    arms: list[ArmRecord]
    comparisons: list[Comparison] = Field(default_factory=list)  # absent from records of older versions

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def write(self, folder: Path) -> Path:
        path = folder / RECORD_NAME
        write_json(path, self.model_dump(mode="json", by_alias=True))
        return path


def read_experiment(folder: Path) -> ExperimentRecord:
    path = Path(folder) / RECORD_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FlanlabError("not an experiment folder (no experiment.json)", where=str(folder)) from None
    except json.JSONDecodeError as error:
        raise FlanlabError(f"corrupt JSON ({error.msg} at line {error.lineno})", where=str(path)) from None
    try:
        return ExperimentRecord.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise FlanlabError(
            f"unsupported or invalid experiment record ({where}: {first['msg']})", where=str(path)
        ) from None
