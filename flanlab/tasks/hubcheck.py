"""`flanlab tasks check-hub`: does each hub card still load, and does its data hold what it names?

For users with a hub, so anyone can re-verify the catalogs. Per card: the dataset id is looked up
(a moved dataset answers under its new id), one record of each split is streamed through the same
loading code training uses, and every record path the card reads is looked for in those records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from flanlab.errors import FlanlabError
from flanlab.sources.base import Record, SourceSpec, resolve_path
from flanlab.sources.huggingface import HubUnreachable, ScriptOnlyDataset, first_records, hub_dataset_id, is_hub_id
from flanlab.tasks.card import RENDER_FIELDS, STANDARD_FIELDS, TaskCard
from flanlab.tasks.manual import data_source, skip_reason

# Worst first: a card's status is its worst finding.
STATUSES = (
    "not-found",
    "script-only",
    "unreachable",
    "error",
    "manual",
    "missing-split",
    "missing-feature",
    "moved",
    "ok",
)

# (locator, revision) -> the id the hub files the dataset under now, or None when it has none.
IdResolver = Callable[[str, str | None], str | None]
_ABSENT = object()


@dataclass(frozen=True)
class HubCheck:
    task: str
    source: str
    status: str
    details: tuple[str, ...] = ()

    def to_row(self) -> dict[str, object]:
        return {"task": self.task, "source": self.source, "status": self.status, "details": list(self.details)}


def current_hub_id(locator: str, revision: str | None) -> str | None:
    """The hub's id for a hub locator (local folders are their own id)."""
    return hub_dataset_id(locator, revision) if is_hub_id(locator) else locator


def check_cards(cards: Iterable[TaskCard], resolve_id: IdResolver = current_hub_id) -> Iterator[HubCheck]:
    """Check each card in turn; once the hub proves unreachable, hub ids are not tried again."""
    unreachable: str | None = None
    for card in cards:
        spec = data_source(card)
        if unreachable and is_hub_id(spec.locator):
            yield HubCheck(card.name, _describe(spec), "unreachable", (unreachable,))
            continue
        result = check_card(card, resolve_id)
        if result.status == "unreachable":
            unreachable = result.details[-1]  # the unreachable finding comes last
        yield result


def check_card(card: TaskCard, resolve_id: IdResolver = current_hub_id) -> HubCheck:
    spec = data_source(card)
    where = _describe(spec)
    pending = skip_reason(card)
    if pending:
        return HubCheck(card.name, where, "manual", (pending,))
    findings: list[tuple[str, str]] = []
    try:
        current = resolve_id(spec.locator, spec.revision)
        if current is None:
            return HubCheck(card.name, where, "not-found", ("the hub has no dataset of this id",))
        if current != spec.locator:
            findings.append(("moved", f"the hub now files it as {current}"))
        records, hub_splits = first_records(spec)
    except ScriptOnlyDataset as error:
        return _result(card, where, [*findings, ("script-only", _message(error))])
    except HubUnreachable as error:
        return _result(card, where, [*findings, ("unreachable", _message(error))])
    except FlanlabError as error:
        return _result(card, where, [*findings, ("error", _message(error))])
    findings += _split_findings(spec, records, hub_splits)
    findings += _feature_findings(card, records)
    return _result(card, where, findings)


def required_paths(card: TaskCard) -> list[str]:
    """Every record path the card reads: its field rules' paths (those without a default) and the
    template placeholders that come straight from the record."""
    rules = card.compiled_fields
    paths = {path for rule in rules.values() if rule.default is None for path in rule.paths}
    placeholders = set().union(*(template.placeholders() for template in card.templates))
    return sorted(paths | (placeholders - set(rules) - set(STANDARD_FIELDS) - set(RENDER_FIELDS)))


def _split_findings(
    spec: SourceSpec, records: dict[str, Record | None], hub_splits: list[str]
) -> list[tuple[str, str]]:
    findings = [
        ("missing-split", f"the card reads split {name!r} for {split}; the dataset has {hub_splits}")
        for split, name in spec.splits.items()
        if name != "none" and name not in hub_splits
    ]
    if not any(records.values()):
        findings.append(("missing-split", f"no record in any split the card reads; the dataset has {hub_splits}"))
    elif records["train"] and not records["validation"] and not records["test"]:
        if not isinstance(_value(records["train"], spec.split_key), str):
            findings.append(("missing-feature", f"split_key {spec.split_key!r} (train only: needed to split by hash)"))
    return findings


def _feature_findings(card: TaskCard, records: dict[str, Record | None]) -> list[tuple[str, str]]:
    missing: dict[str, list[str]] = {}
    for split, record in records.items():
        for path in required_paths(card) if record else ():
            if _value(record, path) is _ABSENT:
                missing.setdefault(path, []).append(split)
    return [("missing-feature", f"{path!r} not in the {'/'.join(splits)} records") for path, splits in missing.items()]


def _value(record: Record | None, path: str) -> object:
    try:
        return resolve_path(record or {}, path)
    except KeyError:
        return _ABSENT


def _result(card: TaskCard, where: str, findings: list[tuple[str, str]]) -> HubCheck:
    status = min((kind for kind, _ in findings), key=STATUSES.index, default="ok")
    return HubCheck(card.name, where, status, tuple(detail for _, detail in findings))


def _message(error: FlanlabError) -> str:
    text = str(error)
    return text.split(": ", 1)[1] if error.where and text.startswith(f"{error.where}: ") else text


def _describe(spec: SourceSpec) -> str:
    return spec.locator + (f"/{spec.config}" if spec.config else "") + (f"@{spec.revision}" if spec.revision else "")
