"""The mixture recipe: which tasks, how much of each, and in which prompt formats (YAML, validated).

Every field has a default, so an empty YAML file is a valid recipe: all trainable tasks, FLAN 2021
caps and rates, Flan 2022's mixed zero-shot / few-shot / chain-of-thought formats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flanlab.configio import read_yaml_mapping, validate
from flanlab.prompts.formats import SEPARATORS
from flanlab.prompts.layout import PromptLayout
from flanlab.prompts.options import OPTION_STYLES


class FormatRatios(BaseModel):
    """Relative shares of the prompt formats (normalised; they need not sum to one).

    Chain-of-thought formats are only used for examples that carry a rationale; for the others the
    chain-of-thought share is spread over zero-shot and few-shot in proportion. With zero_shot and
    few_shot both 0 (a chain-of-thought source), rows that cannot take a CoT format (inverted ones,
    examples without a rationale) are zero-shot.
    """

    model_config = ConfigDict(extra="forbid")

    zero_shot: float = Field(default=0.45, ge=0)
    few_shot: float = Field(default=0.45, ge=0)
    cot: float = Field(default=0.05, ge=0, description="Zero-shot chain of thought.")
    cot_few_shot: float = Field(
        default=0.05, ge=0, description="Few-shot chain of thought (exemplars with rationales)."
    )

    @model_validator(mode="after")
    def _some_format(self) -> FormatRatios:
        if self.zero_shot + self.few_shot + self.cot + self.cot_few_shot <= 0:
            raise ValueError("at least one format needs a positive share")
        return self

    def as_dict(self) -> dict[str, float]:
        return {
            "zero_shot": self.zero_shot,
            "few_shot": self.few_shot,
            "cot": self.cot,
            "cot_few_shot": self.cot_few_shot,
        }


class SourceMix(BaseModel):
    """Flan 2022 style settings for one collection ("source") of tasks; unset fields fall back to the recipe's."""

    model_config = ConfigDict(extra="forbid")

    weight: float | None = Field(default=None, ge=0, description="Share of the mixture for this collection (relative).")
    cap: int | None = Field(default=None, ge=1, description="Per-dataset cap for tasks of this collection.")
    rate: int | None = Field(default=None, ge=1, description="Maximum mixing rate for tasks of this collection.")
    format_ratios: FormatRatios | None = Field(
        default=None, description="Format shares for this collection's rows (Flan 2022's CoT source: CoT formats only)."
    )


FORMAT_KINDS = ("zero_shot", "few_shot", "cot", "cot_few_shot")


class MixtureRecipe(BaseModel):
    """A mixture recipe. Field descriptions are the documentation (see also docs/mixture.md)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="mixture", description="A label carried into stats.json.")
    # --- what to draw from (None = no filter; eval-only tasks are never drawn) ---
    tasks: list[str] | None = Field(default=None, description="Task names to draw from (default: all).")
    clusters: list[str] | None = Field(default=None, description="Only tasks of these clusters (default: all).")
    collections: list[str] | None = Field(default=None, description="Only tasks of these collections (default: all).")
    exclude_tasks: list[str] = Field(default_factory=list, description="Task names never to draw from.")
    held_out: list[str] = Field(
        default_factory=list,
        description="Held-out clusters: they, their related clusters and whole families touching them are left out.",
    )
    # --- how much of each task (FLAN 2021 defaults) ---
    dataset_cap: int = Field(default=30_000, ge=1, description="At most this many training examples per dataset.")
    max_rate: int = Field(
        default=3_000, ge=1, description="Examples-proportional mixing: weight = min(size, max_rate)."
    )
    sources: dict[str, SourceMix] = Field(
        default_factory=dict,
        description="Per-collection weight / cap / rate / format_ratios. With any weight set, every collection drawn "
        "from needs one; a weighted collection listed in `collections` that has no tasks gives its share to the "
        "others.",
    )
    total_size: int | None = Field(
        default=None, ge=1, description="Rows in the mixture (default: the sum of min(size, rate) over the tasks)."
    )
    # --- prompt formats (Flan 2022 defaults) ---
    format_ratios: FormatRatios = Field(
        default_factory=FormatRatios,
        description="Relative shares of zero-shot, few-shot and chain-of-thought rows "
        "(CoT only where rationales exist).",
    )
    few_shot_counts: list[int] = Field(default_factory=lambda: [2, 3, 5], description="Shot counts drawn uniformly.")
    options_rate: float = Field(
        default=0.5, ge=0, le=1, description="Share of classification rows that show their options."
    )
    options_styles: dict[str, float] = Field(
        default_factory=lambda: {"dash": 0.4, "letter": 0.2, "number": 0.2, "inline": 0.2},
        description="Relative weights of the options styles used when options are shown.",
    )
    inversion_rate: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Share of a task's rows that use an inverted template (tasks that have one).",
    )
    instruction_mode: Literal["full", "name", "none"] = Field(
        default="full", description="FLAN's instruction ablation: full templates, dataset name only, or no template."
    )
    instruction_after_rate: float = Field(
        default=0.5, ge=0, le=1, description="Share of few-shot rows that place the instruction after the exemplars."
    )
    separators: dict[str, float] = Field(
        default_factory=lambda: {"blank": 0.5, "rule": 0.25, "hash": 0.25},
        description="Relative weights of the separators between few-shot exemplars.",
    )
    max_prompt_tokens: int = Field(default=960, ge=16, description="Few-shot prompts drop exemplars until they fit.")
    layout: PromptLayout = Field(
        default_factory=PromptLayout,
        description="The inputs/targets boundary (delimiter and answer cue); evaluate with the same layout.",
    )
    # --- safety and output ---
    on_contamination: Literal["remove", "error"] = Field(
        default="remove",
        description="A training example equal to an evaluation input: drop it and report it (remove), or fail (error).",
    )
    on_unavailable: Literal["skip", "error"] = Field(
        default="skip",
        description="A task whose data cannot be had (no hub and no local copy, a missing file): skip it and record "
        "it in stats.json (skip; guarded tasks are listed as unchecked), or fail (error).",
    )
    guard_collections: list[str] | None = Field(
        default=None, description="Only guard against held-out / eval-only tasks of these collections (default: all)."
    )
    contamination_min_chars: int = Field(
        default=20, ge=1, description="Single evaluation input fields shorter than this are not hashed on their own."
    )
    seed: int = Field(default=0, description="One seed for selection, order, templates, formats and exemplars.")
    shard_rows: int = Field(default=100_000, ge=1, description="Rows per Parquet shard.")
    preview_rows: int = Field(default=100, ge=0, description="Rows copied to preview.jsonl.")

    @field_validator("few_shot_counts")
    @classmethod
    def _positive_shots(cls, value: list[int]) -> list[int]:
        if not value or any(count < 1 for count in value):
            raise ValueError("few_shot_counts needs at least one count, each >= 1")
        return value

    @field_validator("options_styles")
    @classmethod
    def _known_styles(cls, value: dict[str, float]) -> dict[str, float]:
        _check_weights(value, OPTION_STYLES, "options style", forbidden=frozenset({"none"}))
        return value

    @field_validator("separators")
    @classmethod
    def _known_separators(cls, value: dict[str, float]) -> dict[str, float]:
        _check_weights(value, SEPARATORS, "separator")
        return value

    def ratios_for(self, collection: str) -> FormatRatios:
        """The format shares rows of ``collection`` use: its source's own, else the recipe's."""
        source = self.sources.get(collection)
        return source.format_ratios if source and source.format_ratios else self.format_ratios

    def dump(self) -> str:
        """The recipe as YAML, every field written out (what `recipe.yaml` in a mixture holds)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def _check_weights(value: dict[str, float], known: dict, what: str, forbidden: frozenset[str] = frozenset()) -> None:
    unknown = sorted((set(value) - set(known)) | (set(value) & forbidden))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {sorted(set(known) - forbidden)}")
    if any(weight < 0 for weight in value.values()) or sum(value.values()) <= 0:
        raise ValueError(f"{what} weights must be >= 0 and not all zero")


def recipe_from_dict(data: dict, where: str = "recipe") -> MixtureRecipe:
    return validate(MixtureRecipe, data, where)


def load_recipe(path: str | Path | None) -> MixtureRecipe:
    """A recipe from a YAML file (None: the default recipe)."""
    if path is None:
        return MixtureRecipe()
    return recipe_from_dict(read_yaml_mapping(path, "recipe file", empty_ok=True), where=str(path))
