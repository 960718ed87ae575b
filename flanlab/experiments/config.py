"""Experiment configs: one YAML per study of FLAN_METHOD section 7, with tiny/default/paper scales.

A config names its study (which decides the arms), the model, the held-out clusters, the evaluation
shots, the study's typed `params` and, per scale, the knobs that set its cost. `--scale tiny` runs in
CI on a tiny random model; `default` is sized in optimizer steps and evaluation examples to finish
in under 40 minutes on a 2-core CPU (docs/experiments.md gives each study's estimate); `paper`
records the papers' settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flanlab.configio import read_yaml_mapping, validate, validation_message
from flanlab.errors import FlanlabError, closest
from flanlab.experiments.record import Finding

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
Share = Annotated[float, Field(ge=0, le=1)]


class ScaleSettings(BaseModel):
    """What one scale costs: the model, how much data, how long to train, how much to evaluate."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # overrides the experiment's model (tiny: a random model)
    mixture_size: int = 2000  # training examples per mixture
    max_steps: int | None = None
    max_minutes: float | None = None  # a wall-clock cap (flanlab run's --budget); studies size by steps
    batch_size: int = 8
    max_length: int = 512  # input tokens (targets get a quarter of it)
    learning_rate: float | None = None
    eval_limit: int | None = 16  # examples per (dataset, template); None = the whole split
    eval_templates: int | None = None  # N templates per dataset, a seeded sample (the same for every arm); None = all
    eval_tasks: list[str] | None = None  # restrict held-out evaluation to these task names
    # Held-out datasets whose test split is smaller are left out (and named in the report): a paired CI
    # on 9-13 examples spans +-15-26 points and would swamp a cluster mean (docs/experiments.md).
    eval_min_examples: int | None = None
    cot_max_new_tokens: int | None = None  # chain-of-thought generation budget (None: the evaluator's 256)
    clusters: list[str] | None = None  # restrict studies that sweep over clusters
    train_clusters: list[str] | None = None  # restrict the clusters mixtures draw from
    shots: list[int] | None = None  # overrides the experiment's evaluation shots
    params: dict[str, Any] = Field(default_factory=dict)  # per-scale overrides of the study's params
    train: dict[str, Any] = Field(default_factory=dict)  # TrainConfig fields every arm trains with (lora_rank, ...)

    @model_validator(mode="after")
    def _check_train_fields(self) -> ScaleSettings:
        from flanlab.train.config import TrainConfig

        known = set(TrainConfig.model_fields) - {"model", "mixture", "out"}
        for name in self.train:
            if name not in known:
                raise ValueError(f"train.{name} is not a training setting{closest(name, sorted(known))}")
        return self


class MixtureDefaults(BaseModel):
    """Mixture settings every arm of a study starts from (unset: the mixture recipe's defaults)."""

    model_config = ConfigDict(extra="forbid")

    fewshot_share: Share | None = None  # share of few-shot rows among the non-CoT ones
    cot_share: Share | None = None  # share of CoT formats, for rows that carry a rationale
    inversion_rate: Share | None = None


class StudyParams(BaseModel):
    """Parameters every study takes; each study's own model below adds its knobs."""

    model_config = ConfigDict(extra="forbid")

    study: str = Field(default="", exclude=True)  # copied from the config: picks the params model
    collections: list[str] = Field(default_factory=lambda: ["core"])  # what arms train and evaluate on
    mixture: MixtureDefaults = Field(default_factory=MixtureDefaults)
    best_dev: bool = True  # also score each task's best template on the validation split (FLAN's best-dev)


class PlainParams(StudyParams):
    study: Literal["base_vs_tuned", "instruction_ablation", "leave_one_cluster_out"] = Field(exclude=True)


class NumClustersParams(StudyParams):
    study: Literal["num_clusters"] = Field(exclude=True)
    counts: list[int] | None = None  # training-cluster counts to train (default: 1..N)


class FewShotParams(StudyParams):
    study: Literal["zero_vs_few_shot"] = Field(exclude=True)
    few_shot: int = Field(default=3, ge=1)  # exemplars in the few-shot evaluation


class FewshotShareParams(StudyParams):
    study: Literal["fewshot_share"] = Field(exclude=True)
    few_shot: int = Field(default=3, ge=1)
    shares: list[Share] = Field(default_factory=lambda: [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])


class PromptTuningParams(StudyParams):
    study: Literal["prompt_tuning"] = Field(exclude=True)
    low_resource_examples: int = Field(default=32, ge=1)
    prompt_tuning: dict[str, Any] = Field(default_factory=dict)  # training overrides (num_virtual_tokens, ...)


class MethodAblationsParams(StudyParams):
    """Flan 2022 Table 1: the recipe (source weights, a CoT source) and its evaluation suites."""

    study: Literal["method_ablations"] = Field(exclude=True)
    few_shot: int = Field(default=3, ge=1)
    sources: dict[str, float] = Field(default_factory=lambda: {"core": 0.46, "natural_instructions": 0.25, "cot": 0.02})
    cot_source: str = "cot"  # the collection whose rows are all chain of thought
    held_in_per_cluster: int = Field(default=1, ge=1)  # held-in suite: tasks per trained cluster (dev split)
    held_in_tasks: list[str] | None = None  # held-in suite named outright (default: the rule above)
    cot_tasks: list[str] | None = None  # CoT suite (default: the CoT source's tasks)
    bbh_tasks: list[str] | None = None  # BBH suite (default: every offline BBH card)


class SingleTaskParams(StudyParams):
    """Flan 2022 section 4: finetune one held-out task from the base and from the tuned model."""

    study: Literal["single_task"] = Field(exclude=True)
    tasks: list[str] | None = None  # default: the first held-out task
    single_task_train: dict[str, Any] = Field(default_factory=dict)  # training overrides (method, lr, ...)
    dropout: Share = 0.1
    validate_every: int = Field(default=10, ge=1)  # steps between validation scores (and kept checkpoints)


AnyStudyParams = Annotated[
    PlainParams
    | NumClustersParams
    | FewShotParams
    | FewshotShareParams
    | PromptTuningParams
    | MethodAblationsParams
    | SingleTaskParams,
    Field(discriminator="study"),
]


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    study: Study
    title: str
    description: str = ""
    figure: str = ""  # the paper figure or table reproduced
    finding: Finding | None = None  # the paper's finding and the sign it expects of each comparison
    model: str = "smollm2-135m"
    method: Literal["lora", "full", "prompt_tuning"] = "lora"
    chat_template: bool = Field(False, description="Train and evaluate every arm in the model's chat template.")
    held_out: list[str] = Field(default_factory=lambda: ["nli"])
    shots: list[int] = Field(default_factory=lambda: [0])
    seed: int = 0
    params: AnyStudyParams
    scales: dict[ScaleName, ScaleSettings] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _tag_params(cls, data: Any) -> Any:
        """The study picks the params model: copy it into ``params`` as the union's discriminator."""
        if isinstance(data, dict) and "study" in data:
            params = data.get("params")
            params = params.model_dump() if isinstance(params, BaseModel) else dict(params or {})
            data = {**data, "params": {**params, "study": data["study"]}}
        return data

    @model_validator(mode="after")
    def _check_scale_params(self) -> ExperimentConfig:
        for scale in self.scales:
            try:
                self.params_at(scale)
            except ValidationError as error:
                raise ValueError(f"scales.{scale}.params: {validation_message(error, 'field')}") from None
        return self

    def params_at(self, scale: ScaleName) -> StudyParams:
        """The study's params with the scale's overrides on top (a top-level key replaces the whole value)."""
        overrides = self.scales[scale].params if scale in self.scales else {}
        merged = {**self.params.model_dump(), **overrides, "study": self.study}
        return type(self.params).model_validate(merged)

    def at_scale(self, scale: ScaleName) -> ResolvedExperiment:
        settings = self.scales.get(scale, ScaleSettings())
        return ResolvedExperiment(
            config=self,
            scale=scale,
            settings=settings,
            model=settings.model or self.model,
            shots=settings.shots or self.shots,
            params=self.params_at(scale),
        )


class ResolvedExperiment(BaseModel):
    """An experiment at one scale: the values the planner and the runner use."""

    config: ExperimentConfig
    scale: ScaleName
    settings: ScaleSettings
    model: str
    shots: list[int]
    params: Any  # the study's params model (a StudyParams subclass), overrides applied


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
        names = builtin_config_names()
        hint = closest(str(name_or_path), names)
        raise FlanlabError(f"no such experiment config{hint}; built-in: {', '.join(names)}", where=str(name_or_path))
    return load_experiment(path)
