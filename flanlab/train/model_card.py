"""The model card (README.md) every exported model folder gets, in the Hugging Face model-card format.

Its YAML front matter carries the Hub's fields, so ``huggingface_hub.ModelCard.load`` reads it offline:
``base_model`` (the public id of the model tuned, where flanlab knows one), ``datasets`` (the data sources
of the mixture's tasks), ``library_name``, ``tags`` and, once an experiment has evaluated the model,
``model-index`` with one result per held-out dataset and format. The text under it says how the model
was made. The evaluation section is rebuilt from ``model-index`` alone, so results can be added later
(`add_evaluation`) without the card ever holding two versions of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flanlab.errors import FlanlabError
from flanlab.io import write_text

CARD_NAME = "README.md"
EVAL_HEADING = "## Evaluation"
METHOD_NAMES = {
    "full": "full finetuning",
    "merged-lora": "LoRA, merged into the weights",
    "lora-adapter": "LoRA (a PEFT adapter)",
    "prompt-adapter": "prompt tuning (a PEFT soft prompt)",
}
FORMAT_NAMES = {
    "zero_shot": "zero-shot",
    "few_shot": "few-shot",
    "cot": "chain of thought",
    "cot_few_shot": "few-shot chain of thought",
}


@dataclass(frozen=True)
class MixtureSummary:
    """What a card says about the training mixture (from its recipe, stats and rows)."""

    name: str
    collections: list[str]  # empty: every collection
    held_out: list[str]
    rows: int
    tasks: int
    formats: dict[str, int]  # rows per format kind
    datasets: list[str]  # hub ids for hub sources, else flanlab's source names


@dataclass(frozen=True)
class TrainingFacts:
    base_model: str  # what the run started from (zoo name, folder or hub id)
    exported: str  # full / merged-lora / lora-adapter / prompt-adapter
    steps: int
    real_tokens: int
    target_tokens: int
    chat_template: bool
    settings: dict[str, Any] = field(default_factory=dict)  # learning rate, optimizer, lengths... as trained


@dataclass(frozen=True)
class EvalRow:
    """One held-out dataset's score: the mean over its templates (0-100)."""

    task: str
    cluster: str
    format: str
    metric: str
    value: float
    templates: int
    examples: int


def write_model_card(folder: Path, facts: TrainingFacts, mixture: MixtureSummary | None) -> Path:
    """Write ``folder/README.md`` (replacing the one PEFT writes for adapters)."""
    from huggingface_hub import ModelCard, ModelCardData

    base = public_base_model(facts.base_model)
    data = ModelCardData(
        base_model=base,
        datasets=mixture.datasets if mixture else None,
        library_name="peft" if facts.exported.endswith("adapter") else "transformers",
        tags=["flanlab", "instruction-tuning", "flan"] + (["chat-template"] if facts.chat_template else []),
        model_name=f"{base.split('/')[-1]}-flanlab",
        base_model_relation="adapter" if facts.exported.endswith("adapter") else "finetune",
    )
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n{_body(facts, base, mixture)}")
    path = folder / CARD_NAME
    write_text(path, str(card))
    return path


def add_evaluation(folder: Path, rows: list[EvalRow], *, source: str) -> None:
    """Merge evaluation results into the card's ``model-index`` and rebuild its evaluation section."""
    from huggingface_hub import EvalResult, ModelCard

    path = folder / CARD_NAME
    if not path.exists():
        raise FlanlabError("no model card to add evaluation results to", where=str(path))
    card = ModelCard.load(path)
    fresh = [
        EvalResult(
            task_type="text-generation",
            task_name=f"held-out {row.cluster}",
            dataset_type=row.task,
            dataset_name=row.task,
            metric_type=row.metric,
            metric_value=round(row.value, 2),
            metric_config=row.format,
            metric_args={"templates": row.templates, "examples": row.examples, "evaluated_by": source},
        )
        for row in rows
    ]
    replaced = {_result_key(r) for r in fresh}
    kept = [r for r in card.data.eval_results or [] if _result_key(r) not in replaced]
    card.data.eval_results = sorted(kept + fresh, key=lambda r: (r.task_name or "", *_result_key(r)))
    card.text = card.text.split(EVAL_HEADING)[0].rstrip() + "\n\n" + _eval_section(card.data.eval_results)
    write_text(path, str(card))


def _result_key(result: Any) -> tuple[str, str, str]:
    """One result per dataset, format and metric: a newer evaluation replaces an older one."""
    return result.dataset_name, result.metric_config or "", result.metric_type


def public_base_model(name: str) -> str:
    """The id a reader can look up: a zoo model's hub id, the base recorded in a tuned folder's card, else the name."""
    from flanlab.models.zoo import MODEL_ZOO

    if name in MODEL_ZOO and MODEL_ZOO[name].hub_id:
        return MODEL_ZOO[name].hub_id
    card = Path(name).expanduser() / CARD_NAME
    if card.is_file():
        from huggingface_hub import ModelCard

        return ModelCard.load(card).data.base_model or name
    return name


def mixture_summary(folder: Path) -> MixtureSummary | None:
    """The card's mixture facts; None for a folder of bare shards (no recipe or stats to read)."""
    from flanlab.mixture import read_mixture

    try:
        mixture = read_mixture(folder)
    except FlanlabError:
        return None
    stats = mixture.stats
    sources: dict[str, str] = {}
    for batch in mixture.iter_batches(columns=["task", "source"]):
        sources.update(zip(batch.column("task").to_pylist(), batch.column("source").to_pylist()))
    return MixtureSummary(
        name=stats.name,
        collections=list(mixture.recipe.collections or []),
        held_out=list(stats.held_out_clusters),
        rows=stats.total_rows,
        tasks=len(sources),
        formats={share.name: share.examples for share in stats.formats if share.examples},
        datasets=sorted({_dataset_id(task, source) for task, source in sources.items()}),
    )


def _dataset_id(task: str, source: str) -> str:
    """Hub sources by their hub id; BIG-bench by its task path; local files by the flanlab task name."""
    kind, _, locator = source.partition(":")
    if kind == "huggingface":
        return locator
    return f"bigbench/{locator}" if kind == "bigbench" else task


def _body(facts: TrainingFacts, base: str, mixture: MixtureSummary | None) -> str:
    prompt = (
        "the base model's chat template: inputs as the user turn, targets as the assistant turn"
        if facts.chat_template
        else "plain text: inputs + delimiter + targets + EOS (each row's delimiter: its prompt layout's join)"
    )
    lines = [
        f"# {base} instruction-tuned with flanlab",
        "",
        f"This model is `{base}` tuned on a FLAN-style instruction mixture by flanlab: every example is a task "
        "phrased through one of many instruction templates, and the loss covers the answer only.",
        "",
        "## Training",
        "",
        "| | |",
        "|---|---|",
        f"| started from | `{facts.base_model}` |",
        f"| method | {METHOD_NAMES.get(facts.exported, facts.exported)} |",
        f"| prompt format | {prompt} |",
        f"| optimizer steps | {facts.steps:,} |",
        f"| tokens trained | {facts.real_tokens:,} ({facts.target_tokens:,} of them answer tokens under the loss) |",
    ]
    lines += [f"| {key.replace('_', ' ')} | {value} |" for key, value in facts.settings.items()]
    return "\n".join(lines + [""] + _mixture_section(mixture)) + "\n"


def _mixture_section(mixture: MixtureSummary | None) -> list[str]:
    if mixture is None:
        return ["## Mixture", "", "A folder of mixture shards without a recipe or stats: nothing more is known.", ""]
    formats = ", ".join(f"{FORMAT_NAMES.get(kind, kind)} {rows:,}" for kind, rows in mixture.formats.items())
    return [
        "## Mixture",
        "",
        f"- name: {mixture.name}",
        f"- collections: {', '.join(mixture.collections) or 'all'}",
        f"- held-out clusters (never trained on): {', '.join(mixture.held_out) or 'none'}",
        f"- rows: {mixture.rows:,} from {mixture.tasks} tasks",
        f"- rows per prompt format: {formats or '-'}",
        "",
    ]


def _eval_section(results: list[Any]) -> str:
    lines = [
        EVAL_HEADING,
        "",
        "Held-out datasets, each scored as the mean over its instruction templates (0-100).",
        "",
        "| held-out cluster | dataset | format | metric | score | templates | examples |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        args = r.metric_args or {}
        cluster = (r.task_name or "").removeprefix("held-out ")
        lines.append(
            f"| {cluster} | {r.dataset_name} | {r.metric_config} | {r.metric_type} | {r.metric_value:.1f} | "
            f"{args.get('templates', '-')} | {args.get('examples', '-')} |"
        )
    return "\n".join(lines) + "\n"
