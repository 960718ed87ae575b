"""The task card schema: one validated YAML file per dataset.

A card says where the records come from, how record fields map to template placeholders, which
cluster and family the dataset belongs to, how it is scored, and its instruction templates.
"""

from __future__ import annotations

import re
import string
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from flanlab.configio import read_yaml_mapping, validate
from flanlab.errors import closest
from flanlab.metric_names import UnknownMetric, canonical_metric
from flanlab.sources.base import SourceSpec
from flanlab.tasks.clusters import CLUSTERS

# Placeholders every task example provides after `build_examples` (besides the record's own fields).
STANDARD_FIELDS = ("answer", "options", "answer_index", "references", "rationale")
# Placeholders the prompt layer adds from the card itself when it renders (`template_values`).
RENDER_FIELDS = ("task_name", "task_instruction")


class Template(BaseModel):
    """An instruction pattern for the input and one for the target, with ``{field}`` placeholders.

    Inverted templates turn the task around (give the answer, ask for the input); they are always
    generation tasks, never scored against options.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    input: str
    target: str = "{answer}"
    inverted: bool = False
    # Optional instruction kept apart from the input: zero-shot puts it before the input, few-shot
    # places it once, before or after the exemplars. Without it the input pattern carries it.
    instruction: str = ""

    def placeholders(self) -> set[str]:
        return pattern_fields(self.input) | pattern_fields(self.target) | pattern_fields(self.instruction)


class FieldRule(BaseModel):
    """A placeholder taken from a record, optionally reshaped on the way.

    ``from`` is a record key, a dotted path into nested features (``answers.text.0``: key ``answers``,
    key ``text``, list index 0), or a list of such paths (the placeholder becomes their list of
    values, e.g. options kept in separate columns). The steps run in this order: ``default``,
    ``values``, ``regex``, ``remove``, ``join``.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str | list[str] = Field(alias="from")
    default: Any = None  # used when the path is absent or its value is empty (e.g. unanswerable QA)
    values: dict[str, Any] | None = None  # raw value (as text) -> value used; other raw values drop the record
    regex: str | None = None  # its first group (or the group named like the placeholder) is kept
    remove: str | None = None  # every match of this regex is deleted from the text
    join: str | None = None  # a list value becomes one text, items joined by this (inner lists by ", ")

    @field_validator("regex", "remove")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value

    @property
    def paths(self) -> list[str]:
        return [self.source] if isinstance(self.source, str) else list(self.source)


class TaskCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    collection: str
    cluster: str
    family: str | None = None  # sibling datasets that are held out together; defaults to the name
    source: SourceSpec
    description: str = ""
    instruction: str = ""  # the task's own written instruction, for collections that come with one
    fields: dict[str, str | FieldRule] = Field(default_factory=dict)
    options: list[str] | None = None  # fixed answer options; otherwise each record's own `options`
    # Shuffle the options (see flanlab/tasks/option_order.py)? None: only per-record options that differ.
    shuffle_options: bool | None = None
    answer_map: dict[str, str] = Field(default_factory=dict)  # raw label -> option text shown
    metrics: list[str] = Field(default_factory=lambda: ["accuracy"])
    templates: list[Template]
    curated: bool = False
    eval_only: bool = False  # never trained on (BIG-Bench Hard, MMLU)
    max_examples: int | None = None  # cap on records read per split (huge sources)
    # The manual step the data needs (a form, a licence, an export), if any: see `flanlab.tasks.manual`.
    manual_download: str | None = None
    path: Path | None = Field(default=None, exclude=True)  # the file the card was read from

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, names: list[str], info: ValidationInfo) -> list[str]:
        """Every metric in the vocabulary (``flanlab.metric_names``), stored under its canonical name."""
        try:
            return list(dict.fromkeys(canonical_metric(name) for name in names))
        except UnknownMetric as error:
            raise ValueError(f"card {info.data.get('name', '?')}: {error}") from None

    @field_validator("cluster")
    @classmethod
    def _known_cluster(cls, value: str) -> str:
        if value not in CLUSTERS:
            raise ValueError(f"unknown cluster {value!r}{closest(value, CLUSTERS)}; known: {', '.join(CLUSTERS)}")
        return value

    @model_validator(mode="after")
    def _check(self) -> TaskCard:
        ids = [template.id for template in self.templates]
        duplicates = sorted({tid for tid in ids if ids.count(tid) > 1})
        if duplicates:
            raise ValueError(f"template ids must be unique; repeated: {duplicates}")
        if not self.templates:
            raise ValueError("a card needs at least one template")
        return self

    @property
    def family_name(self) -> str:
        return self.family or self.name

    @cached_property
    def compiled_fields(self) -> dict[str, FieldRule]:
        return {
            name: rule if isinstance(rule, FieldRule) else FieldRule.model_validate({"from": rule})
            for name, rule in self.fields.items()
        }

    def where(self) -> str:
        return str(self.path) if self.path else f"card {self.name}"


def pattern_fields(pattern: str) -> set[str]:
    """The placeholder names in a ``str.format`` pattern (``{{`` escapes a brace)."""
    return {name for _, name, _, _ in string.Formatter().parse(pattern) if name}


def load_card(path: Path) -> TaskCard:
    """Read and validate one card file; errors name the file and the offending field."""
    return card_from_dict(read_yaml_mapping(path, "task card"), where=str(path), path=path)


def card_from_dict(data: dict[str, Any], where: str, path: Path | None = None) -> TaskCard:
    card = validate(TaskCard, data, where)
    card.path = path
    return card


def dump_card(card: TaskCard) -> str:
    return yaml.safe_dump(
        card.model_dump(mode="json", by_alias=True, exclude_defaults=True), sort_keys=False, allow_unicode=True
    )
