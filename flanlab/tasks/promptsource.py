"""PromptSource (P3, the T0 templates) as flanlab task cards, for users who install `promptsource`.

promptsource keeps one ``templates.yaml`` per dataset (and subset). Each template has a Jinja
``jinja`` string in which ``|||`` separates the prompt from the target, an optional
``answer_choices`` string (choices separated by ``|||``, themselves Jinja), and metadata
(``original_task``, ``choices_in_prompt``, ``metrics``).

flanlab templates are ``str.format`` patterns, so the bridge converts the Jinja that maps onto
them exactly and reports the rest as skipped (never silently approximated):
- ``{{ premise }}``, ``{{ answers.text[0] }}``: a placeholder over that (dotted) record path;
- ``{{ answer_choices[label] }}``: the gold choice, i.e. ``{answer}`` with the choices as options;
- ``{{ answer_choices[1] }}`` and ``{{ answer_choices | join(", ") }}``: fixed choice text;
- ``{% if label != -1 %}...{% endif %}`` around the target (unlabelled records are dropped);
- answer choices that are fixed text, or each a single record path (``{{option1}} ||| {{option2}}``).
Templates whose target is not the gold choice are generation templates, flagged inverted.
Converted templates are grouped by their answer choices: one card per group.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flanlab.errors import FlanlabError
from flanlab.sources.base import SourceSpec
from flanlab.tasks.card import TaskCard, card_from_dict

SEPARATOR = "|||"
_PATH = r"[A-Za-z_]\w*(?:\.\w+|\[\d+\])*"
_VARIABLE = re.compile(rf"^\s*({_PATH})\s*$")
_GOLD_CHOICE = re.compile(rf"^\s*answer_choices\s*\[\s*({_PATH})\s*\]\s*$")
_FIXED_CHOICE = re.compile(r"^\s*answer_choices\s*\[\s*(\d+)\s*\]\s*$")
_JOINED_CHOICES = re.compile(r"""^\s*answer_choices\s*\|\s*join\(\s*(["'])(.*?)\1\s*\)\s*$""")
_LABEL_GUARD = re.compile(rf"^\s*{{%-?\s*if\s+({_PATH})\s*!=\s*-1\s*-?%}}(.*){{%-?\s*endif\s*-?%}}\s*$", re.DOTALL)
_JINJA_TOKEN = re.compile(r"({{.*?}}|{%.*?%}|{#.*?#})", re.DOTALL)


@dataclass(frozen=True)
class PromptSourceTemplate:
    id: str
    name: str
    jinja: str
    answer_choices: str | None = None
    original_task: bool | None = None


@dataclass(frozen=True)
class PromptSourceSet:
    dataset: str
    subset: str | None
    templates: tuple[PromptSourceTemplate, ...]


@dataclass
class _Converted:
    template: dict[str, Any]
    paths: dict[str, str]  # placeholder -> record path
    choices: tuple[str, ...] | None  # fixed choice texts, or None
    choice_paths: tuple[str, ...] | None  # per-record choices, or None
    label_path: str | None


@dataclass
class BridgeResult:
    cards: list[TaskCard] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # template name -> why it was not converted


class _TemplatesLoader(yaml.SafeLoader):
    """Reads promptsource's ``!Template`` / ``!TemplateMetadata`` tags as plain mappings."""


for _tag in ("!Template", "!TemplateMetadata"):
    _TemplatesLoader.add_constructor(_tag, lambda loader, node: loader.construct_mapping(node, deep=True))


def installed() -> bool:
    return importlib.util.find_spec("promptsource") is not None


def read_templates_yaml(path: Path | str) -> PromptSourceSet:
    """Parse a promptsource ``templates.yaml`` file."""
    try:
        data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_TemplatesLoader)  # noqa: S506 (safe subclass)
    except FileNotFoundError:
        raise FlanlabError("no such promptsource templates file", where=str(path)) from None
    except yaml.YAMLError as error:
        raise FlanlabError(f"invalid YAML ({error})", where=str(path)) from None
    if not isinstance(data, dict) or not isinstance(data.get("templates"), dict):
        raise FlanlabError("not a promptsource templates file (needs dataset and templates)", where=str(path))
    templates = []
    for key, entry in data["templates"].items():
        if not isinstance(entry, dict) or "jinja" not in entry:
            raise FlanlabError(f"template {key}: expected a mapping with jinja", where=str(path))
        templates.append(
            PromptSourceTemplate(
                id=str(entry.get("id", key)),
                name=str(entry.get("name", key)),
                jinja=str(entry["jinja"]),
                answer_choices=entry.get("answer_choices"),
                original_task=(entry.get("metadata") or {}).get("original_task"),
            )
        )
    return PromptSourceSet(dataset=str(data.get("dataset", "")), subset=data.get("subset"), templates=tuple(templates))


def installed_templates(dataset: str, subset: str | None = None) -> PromptSourceSet:
    """The templates the installed `promptsource` package ships for a hub dataset."""
    if not installed():
        raise FlanlabError("the promptsource package is not installed (pip install promptsource)")
    from promptsource.templates import DatasetTemplates

    collection = DatasetTemplates(dataset, subset)
    templates = tuple(
        PromptSourceTemplate(
            id=str(template.id),
            name=str(template.name),
            jinja=template.jinja,
            answer_choices=template.answer_choices,
            original_task=getattr(template.metadata, "original_task", None),
        )
        for template in collection.templates.values()
    )
    if not templates:
        raise FlanlabError(f"promptsource has no templates for {dataset}" + (f"/{subset}" if subset else ""))
    return PromptSourceSet(dataset=dataset, subset=subset, templates=templates)


def bridge(
    templates: PromptSourceSet, *, cluster: str, collection: str = "p3", source: SourceSpec | None = None
) -> BridgeResult:
    """Cards over the hub dataset the templates were written for, one per answer-choice group."""
    source = source or SourceSpec(kind="huggingface", locator=templates.dataset, config=templates.subset)
    result = BridgeResult()
    groups: dict[tuple[Any, ...], list[_Converted]] = {}
    for template in templates.templates:
        try:
            converted = convert(template)
        except _Unsupported as reason:
            result.skipped[template.name] = str(reason)
            continue
        key = (converted.choices, converted.choice_paths, converted.label_path)
        groups.setdefault(key, []).append(converted)
    base = "p3_" + "_".join(_slug(part) for part in (templates.dataset, templates.subset) if part)
    for number, members in enumerate(groups.values()):
        name = base if len(groups) == 1 else f"{base}_{number + 1}"
        result.cards.append(_card(name, members, templates, cluster, collection, source))
    return result


class _Unsupported(Exception):
    pass


def convert(template: PromptSourceTemplate) -> _Converted:
    """One promptsource template as a flanlab template dict (raises _Unsupported with a reason)."""
    if template.jinja.count(SEPARATOR) != 1:
        raise _Unsupported(f"expected one {SEPARATOR!r} between prompt and target")
    prompt, target = template.jinja.split(SEPARATOR)
    guard = _LABEL_GUARD.match(target)
    if guard:
        target = guard.group(2)
    choices, choice_paths = _parse_choices(template.answer_choices)
    paths: dict[str, str] = {}
    label_paths: set[str] = set()
    input_pattern = _to_pattern(prompt, choices, paths, label_paths)
    target_pattern = _to_pattern(target, choices, paths, label_paths)
    if len(label_paths) > 1:
        raise _Unsupported("the gold choice is indexed by more than one field")
    label_path = next(iter(label_paths), None)
    is_answer = target_pattern == "{answer}" and label_path is not None
    if not is_answer and target_pattern.strip() in {"", "{answer}"}:
        raise _Unsupported("the target is empty or not a record field")
    if not is_answer and "{answer}" in input_pattern:
        raise _Unsupported("a generation template shows the gold choice in its prompt")
    converted: dict[str, Any] = {
        "id": _slug(template.name) or template.id,
        "input": input_pattern,
        "target": target_pattern,
    }
    if not is_answer:
        converted["inverted"] = True
    if not is_answer:
        return _Converted(converted, paths, None, None, None)
    return _Converted(converted, paths, choices, choice_paths, label_path)


def _parse_choices(answer_choices: str | None) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    if not answer_choices:
        return None, None
    parts = [part.strip() for part in answer_choices.split(SEPARATOR)]
    if not any("{" in part for part in parts):
        return tuple(parts), None
    paths = []
    for part in parts:
        match = re.fullmatch(r"{{(.*?)}}", part)
        variable = _VARIABLE.match(match.group(1)) if match else None
        if variable is None:
            raise _Unsupported(f"answer choice {part!r} is neither fixed text nor one record field")
        paths.append(_dotted(variable.group(1)))
    return None, tuple(paths)


def _to_pattern(text: str, choices: tuple[str, ...] | None, paths: dict[str, str], label_paths: set[str]) -> str:
    pieces = []
    for token in _JINJA_TOKEN.split(text):
        if not token.startswith(("{{", "{%", "{#")):
            pieces.append(token.replace("{", "{{").replace("}", "}}"))
        elif token.startswith("{{"):
            pieces.append(_expression(token[2:-2], choices, paths, label_paths))
        else:
            raise _Unsupported(f"Jinja statement {token.strip()!r} has no flanlab equivalent")
    return "".join(pieces).strip()


def _expression(expression: str, choices: tuple[str, ...] | None, paths: dict[str, str], label_paths: set[str]) -> str:
    if gold := _GOLD_CHOICE.match(expression):
        label_paths.add(_dotted(gold.group(1)))
        return "{answer}"
    if (fixed := _FIXED_CHOICE.match(expression)) and choices and int(fixed.group(1)) < len(choices):
        return _escape(choices[int(fixed.group(1))])
    if (joined := _JOINED_CHOICES.match(expression)) and choices:
        return _escape(joined.group(2).join(choices))
    if (variable := _VARIABLE.match(expression)) and variable.group(1) != "answer_choices":
        path = _dotted(variable.group(1))
        name = re.sub(r"\W+", "_", path)
        paths[name] = path
        return "{" + name + "}"
    raise _Unsupported(f"Jinja expression {{{{{expression.strip()}}}}} has no flanlab equivalent")


def _card(
    name: str, members: list[_Converted], templates: PromptSourceSet, cluster: str, collection: str, source: SourceSpec
) -> TaskCard:
    first = members[0]
    fields: dict[str, Any] = {}
    for member in members:
        fields.update({placeholder: path for placeholder, path in member.paths.items()})
    data: dict[str, Any] = {
        "name": name,
        "collection": collection,
        "cluster": cluster,
        "source": source.model_dump(exclude_defaults=True),
        "description": f"PromptSource templates for {templates.dataset}"
        + (f"/{templates.subset}" if templates.subset else ""),
        "templates": [member.template for member in members],
        "metrics": ["accuracy"] if first.label_path else ["rougeL"],
    }
    if first.label_path:
        width = len(first.choices or first.choice_paths or ())
        # Hub datasets mark unlabelled records with -1: listing the valid labels drops them.
        fields["answer"] = {"from": first.label_path, "values": {str(i): i for i in range(width)}}
        if first.choices:
            data["options"] = list(first.choices)
        else:
            fields["options"] = {"from": list(first.choice_paths or ())}
    else:
        # Generation only: every template is inverted; `answer` is the first template's target field.
        target_fields = re.findall(r"{(\w+)}", first.template["target"])
        fields["answer"] = (
            first.paths.get(target_fields[0], target_fields[0]) if target_fields else first.template["target"]
        )
    data["fields"] = fields
    return card_from_dict(data, where=f"promptsource:{name}")


def _dotted(path: str) -> str:
    return re.sub(r"\[(\d+)\]", r".\1", path)


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
