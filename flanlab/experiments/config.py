"""Experiment configs: one YAML per study of FLAN_METHOD section 7, with tiny/default/paper scales.

A config names its study (which decides the arms), the model, the held-out cluster, the evaluation
shots, and per scale the knobs that set its cost. `--scale tiny` runs in CI on a tiny random model,
`default` fits a workstation hour on the embedded model, `paper` records the papers' settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flanlab.configio import read_yaml_mapping, validate
from flanlab.errors import FlanlabError

Study = Literal[
    "base_vs_tuned",
    "leave_one_cluster_out",
    "num_clusters",
    "instruction_ablation",
    "zero_vs_few_shot",
    "prompt_tuning",
    "fewshot_share",
    "method_ablations",
    "single_task",
]
ScaleName = Literal["tiny", "default", "paper"]


class ScaleSettings(BaseModel):
    """What one scale costs: the model, how much data, how long to train, how much to evaluate."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # overrides the experiment's model (tiny: a random model)
    mixture_size: int = 2000  # training examples per mixture
    max_steps: int | None = None
    max_minutes: float | None = None
    batch_size: int = 8
    max_length: int = 512  # input tokens (targets get a quarter of it)
    learning_rate: float | None = None
    eval_limit: int | None = 16  # examples per (dataset, template); None = the whole split
    eval_templates: int | None = None  # first N templates of each dataset; None = all
    eval_tasks: list[str] | None = None  # restrict evaluation to these task names
    clusters: list[str] | None = None  # restrict studies that sweep over clusters
    train_clusters: list[str] | None = None  # restrict the clusters mixtures draw from
    shots: list[int] | None = None  # overrides the experiment's evaluation shots
    params: dict[str, Any] = Field(default_factory=dict)  # per-scale study parameters


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    study: Study
    title: str
    description: str = ""
    figure: str = ""  # the paper figure or table reproduced
    model: str = "smollm2-135m"
    method: Literal["lora", "full", "prompt_tuning"] = "lora"
    chat_template: bool = Field(False, description="Train and evaluate every arm in the model's chat template.")
    held_out: list[str] = Field(default_factory=lambda: ["nli"])
    shots: list[int] = Field(default_factory=lambda: [0])
    seed: int = 0
    params: dict[str, Any] = Field(default_factory=dict)  # study-specific (see studies.py)
    scales: dict[ScaleName, ScaleSettings] = Field(default_factory=dict)

    def at_scale(self, scale: ScaleName) -> ResolvedExperiment:
        settings = self.scales.get(scale, ScaleSettings())
        return ResolvedExperiment(
            config=self,
            scale=scale,
            settings=settings,
            model=settings.model or self.model,
            shots=settings.shots or self.shots,
            params={**self.params, **settings.params},
        )


class ResolvedExperiment(BaseModel):
    """An experiment at one scale: the values the planner and the runner use."""

    config: ExperimentConfig
    scale: ScaleName
    settings: ScaleSettings
    model: str
    shots: list[int]
    params: dict[str, Any]


def load_experiment(path: str | Path) -> ExperimentConfig:
    return validate(ExperimentConfig, read_yaml_mapping(path, "experiment config"), str(path))


BUILTIN_CONFIGS = Path(__file__).parent / "configs"


def builtin_config_names() -> list[str]:
    return sorted(path.stem for path in BUILTIN_CONFIGS.glob("*.yaml"))


def resolve_experiment(name_or_path: str | Path) -> ExperimentConfig:
    """A config file path, or the name of a built-in config (``default``, ``fig5_leave_one_cluster_out``...)."""
    path = Path(name_or_path)
    if not path.exists() and (BUILTIN_CONFIGS / f"{name_or_path}.yaml").exists():
        path = BUILTIN_CONFIGS / f"{name_or_path}.yaml"
    if not path.exists():
        raise FlanlabError(f"no such experiment config; built-in: {', '.join(builtin_config_names())}", where=str(name_or_path))
    return load_experiment(path)
