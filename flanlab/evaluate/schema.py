"""results.json as typed models: what an evaluation hands the experiments, comparisons and reports.

`EvalResults.write` is the one writer and `read_results` the one reader. The file holds no
timings or dates, so the same config, seed and model give the same bytes; `timing.json` keeps
the timings. The fields are documented in docs/evaluation.md; a change that breaks readers bumps
`SCHEMA_VERSION`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flanlab.errors import FlanlabError
from flanlab.evaluate.baselines import AnswerSpread, DatasetLines
from flanlab.io import write_json

SCHEMA: Final = "flanlab.eval.results"
SCHEMA_VERSION: Final = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemplateResult(_Strict):
    """One (task, format, split, template): every metric and its bootstrap standard error."""

    task: str
    cluster: str
    format: str
    shots: int
    split: str
    template_id: str
    n: int
    primary_metric: str
    metrics: dict[str, float | None]
    stderr: dict[str, float | None]


class BestDev(_Strict):
    """The template with the best validation score, and its test score."""

    template_id: str
    dev_score: float
    test_score: float | None


class TaskResult(_Strict):
    """One (task, format) across templates: FLAN's template mean and spread, best-dev template."""

    task: str
    cluster: str
    format: str
    shots: int
    primary_metric: str
    n_templates: int
    n_examples: int
    template_scores: dict[str, float | None]
    template_mean: float | None
    template_std: float | None
    template_min: float | None
    template_max: float | None
    template_mean_stderr: float | None
    best_dev: BestDev | None
    metric_means: dict[str, float | None]
    lines: DatasetLines | None  # classification only
    answers: AnswerSpread | None  # classification only


class ClusterResult(_Strict):
    cluster: str
    format: str
    shots: int
    n_tasks: int
    tasks: list[str]
    template_mean: float | None
    best_dev_mean: float | None  # only when every task has a best-dev score


class ModelInfo(_Strict):
    name: str
    path: str
    fingerprint: str
    kind: str  # causal or seq2seq


class EvalTiming(_Strict):
    """Where the time went (timing.json; never in results.json)."""

    requests: int
    cache_hits: int
    model_requests: int
    model_seconds: float
    model_requests_per_second: float | None
    precision: str
    precision_reason: str | None = None  # why config.precision resolved as it did (the bf16 probe's rates)
    near_ties_rescored_fp32: int
    seconds_total: float
    examples: int
    test_examples: int
    examples_per_second: float | None


class EvalResults(_Strict):
    schema_name: Literal["flanlab.eval.results"] = Field(SCHEMA, alias="schema")
    schema_version: Literal[1] = SCHEMA_VERSION
    model: ModelInfo
    config: dict[str, Any]  # the EvalConfig, dumped
    precision: str  # what config.precision resolved to on the machine that ran it
    seed: int
    git_commit: str
    templates: list[TemplateResult]
    tasks: list[TaskResult]
    clusters: list[ClusterResult]
    # tasks whose chain-of-thought exemplars are direct answers: their train split has no rationales
    cot_direct_exemplars: list[str]
    skipped: dict[str, str] = Field(default_factory=dict)  # task -> why its data cannot be had here
    timing: EvalTiming | None = Field(None, exclude=True)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @property
    def split(self) -> str:
        return self.config["split"]

    @property
    def rank_by(self) -> str:
        return self.config["rank_by"]

    def write(self, folder: Path) -> None:
        write_json(folder / "results.json", self.model_dump(mode="json", by_alias=True))
        if self.timing is not None:
            write_json(folder / "timing.json", self.timing.model_dump(mode="json"))


def read_results(path: Path) -> EvalResults:
    """One evaluation's results.json; a missing, corrupt or other-version file is a one-line error."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FlanlabError("missing results file", where=str(path)) from None
    except json.JSONDecodeError as error:
        raise FlanlabError(f"corrupt JSON ({error.msg} at line {error.lineno})", where=str(path)) from None
    if not isinstance(data, dict) or (data.get("schema"), data.get("schema_version")) != (SCHEMA, SCHEMA_VERSION):
        found = data.get("schema") if isinstance(data, dict) else None
        version = data.get("schema_version") if isinstance(data, dict) else None
        raise FlanlabError(f"unsupported results schema {found!r} v{version}", where=str(path))
    try:
        return EvalResults.model_validate(data)
    except ValidationError as error:
        raise FlanlabError(
            f"invalid results file ({error.error_count()} problems: {error.errors()[0]['msg']})", where=str(path)
        ) from None
