"""`evaluate(config)`: tasks -> rendered prompts -> requests -> (cache | model) -> metrics -> results.

The experiment runner calls this; the CLI (`flanlab eval`) is a thin layer over it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flanlab.errors import DataUnavailable, FlanlabError
from flanlab.evaluate import metrics as M
from flanlab.evaluate.aggregate import TemplateRun
from flanlab.evaluate.backend import NEAR_TIE_NATS
from flanlab.evaluate.requests import Backend, GenerateRequest, OptionScores, RankRequest
from flanlab.evaluate.schema import EvalResults, EvalTiming
from flanlab.io import stable_hash
from flanlab.models.precision import Precision, precision_reason, resolve_precision
from flanlab.models.tokens import token_counter
from flanlab.progress import progress
from flanlab.prompts.chat import ChatTemplate
from flanlab.prompts.formats import (
    SEPARATORS,
    PromptFormat,
    RenderedExample,
    cot_exemplar_pool,
    extract_cot_answer,
    pick_exemplars,
    render,
)
from flanlab.prompts.layout import PromptLayout
from flanlab.prompts.options import OPTION_STYLES
from flanlab.tasks.card import TaskCard
from flanlab.tasks.examples import Example, load_examples
from flanlab.tasks.registry import TaskRegistry, load_registry

Request = RankRequest | GenerateRequest
SplitName = Literal["train", "validation", "test"]  # flanlab.sources.splits.SPLITS


class EvalConfig(BaseModel):
    """Everything that decides an evaluation's numbers (and a few knobs that only change speed)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("smollm2-135m", description="Model: a zoo name, a folder, a .gguf file or a hub id.")
    tasks: list[str] = Field(
        default_factory=lambda: ["cluster:nli"], description="Task selectors: cluster:NAME, task:NAME or NAME."
    )
    collections: list[str] | None = Field(
        None, description="Only tasks of these collections (default: all; cluster selectors only)."
    )
    strict: bool = Field(False, description="Fail on a selected task whose data cannot be had instead of skipping it.")
    shots: list[int] = Field(
        default_factory=lambda: [0], description="Shot counts, e.g. 0,3 (exemplars from the train split)."
    )
    exemplars: Literal["per_example", "per_template"] = Field(
        "per_example",
        description="Few-shot exemplars drawn anew for every evaluated example (FLAN's and GPT-3's protocol), or one "
        "set per task and template (fixed k-shot prompts, as for MMLU and BBH), which scoring computes once.",
    )
    cot: bool = Field(False, description="Chain-of-thought formats (generate, then extract the answer).")
    chat_template: bool = Field(
        False, description="Prompts as the user turn of the model's chat template; options scored as its reply."
    )
    templates: list[str] = Field(
        default_factory=lambda: ["all"], description="'all' or template ids (inverted ones are never evaluated)."
    )
    template_sample: int | None = Field(
        None,
        description="Score N templates per task: a sample of its non-inverted templates seeded by (seed, task), "
        "so every model sees the same ones (default: every template).",
    )
    limit: int | None = Field(None, description="Examples per template (a seeded sample of the split).")
    split: SplitName = Field("test", description="The split to report.")
    best_dev: bool = Field(True, description="Also score dev_split to pick each task's best template.")
    dev_split: SplitName = Field("validation", description="The split that picks the best template.")
    seed: int = Field(0, description="Seed for example sampling, few-shot exemplars and the bootstrap.")
    rank_by: Literal["sum", "per_token", "per_char"] = Field(
        "sum", description="Rank options by their summed log-likelihood, per token or per character."
    )
    options_style: str = Field("dash", description="How a classification prompt lists its options.")
    instruction_mode: Literal["full", "name", "none"] = Field(
        "full", description="Instructions in prompts: full templates, the dataset name only, or none (FLAN Fig. 8)."
    )
    layout: PromptLayout = Field(
        default_factory=PromptLayout, description="The boundary between prompt and answer (delimiter, answer cue)."
    )
    max_new_tokens: int = Field(64, description="Generation length limit.")
    cot_max_new_tokens: int = Field(256, description="Generation length limit for chain of thought.")
    stop: list[str] = Field(default_factory=lambda: ["\n\n"], description="Generation stops at any of these texts.")
    bootstrap_resamples: int = Field(1000, description="Bootstrap resamples for confidence intervals.")
    card_folders: list[str] = Field(default_factory=list, description="Extra folders of task cards.")
    precision: Precision = Field(
        "auto",
        description="fp32, bf16 (autocast: bf16 matrix products, fp32 residual stream and output head), or auto: "
        "bf16 where the device computes it natively and faster (CUDA with bf16; a CPU with AVX512-BF16/AMX whose "
        "measured bf16 matrix products beat fp32 by 1.25x), else fp32",
    )
    near_tie_nats: float = Field(
        NEAR_TIE_NATS,
        ge=0,
        description="under bf16, requests whose leading options are closer than this (summed log-likelihood, "
        "nats) are scored again in fp32, so bf16 predicts what fp32 would; 0 never rescores",
    )
    # speed only: never changes a number
    batch_size: int = Field(16, description="Sequences per forward pass (changes speed, never scores).")
    use_cache: bool = Field(True, description="Reuse cached answers of the same model to the same prompts.")
    write_samples: bool = Field(True, description="Write samples.jsonl.")

    @field_validator("options_style")
    @classmethod
    def _known_style(cls, value: str) -> str:
        if value not in OPTION_STYLES:
            raise ValueError(f"unknown options style {value!r}; known: {', '.join(OPTION_STYLES)}")
        return value

    @field_validator("shots")
    @classmethod
    def _shots(cls, value: list[int]) -> list[int]:
        if not value or any(k < 0 for k in value):
            raise ValueError("shots must be a non-empty list of numbers >= 0")
        return value

    def formats(self) -> list[PromptFormat]:
        kinds = [("cot" if self.cot else "fewshot" if k else "zeroshot", k) for k in self.shots]
        settings = {"options_style": self.options_style, "instruction_mode": self.instruction_mode}
        settings.update(self.layout.model_dump())
        return [PromptFormat.parse(f"{kind}:{k}" if k else kind, **settings) for kind, k in kinds]


@dataclass
class Evaluated:
    """One rendered example and the request that asks the model about it."""

    example_index: int
    rendered: RenderedExample
    request: Request


def select_cards(
    registry: TaskRegistry, selectors: Sequence[str], collections: Sequence[str] | None = None
) -> list[TaskCard]:
    """The cards the selectors name; ``collections`` narrows cluster selectors (named tasks always count)."""
    chosen: dict[str, TaskCard] = {}
    registry.check_collections(collections or ())
    for selector in selectors:
        kind, value = _selector(selector)
        if kind == "cluster":
            registry.check_cluster(value)
            cards = registry.select(clusters=[value], collections=collections)
            if not cards:
                where = f" of collections {list(collections)}" if collections else ""
                raise FlanlabError(f"no task{where} in cluster {value!r}; clusters with tasks: {registry.clusters()}")
        elif kind == "task":
            cards = [registry.get(value)]
        else:
            raise FlanlabError(f"bad task selector {selector!r}; expected cluster:NAME or task:NAME")
        chosen.update((card.name, card) for card in cards)
    return [chosen[name] for name in sorted(chosen)]


def _selector(selector: str) -> tuple[str, str]:
    kind, _, value = selector.partition(":") if ":" in selector else ("task", "", selector)
    return kind, value


def available_cards(cards: list[TaskCard], config: EvalConfig) -> tuple[list[TaskCard], dict[str, str]]:
    """The cards whose data can be had, and the skipped ones with why.

    A task named on its own (task:NAME) or ``config.strict`` turns unavailable data into the error.
    """
    named = {value for kind, value in map(_selector, config.tasks) if kind == "task"}
    usable, skipped = [], {}
    for card in cards:
        try:
            load_examples(card, config.split)
        except DataUnavailable as error:
            if config.strict or card.name in named:
                raise
            skipped[card.name] = error.message
            continue
        usable.append(card)
    if not usable:
        raise FlanlabError(f"nothing to evaluate: no selected task has data here ({next(iter(skipped.values()))})")
    return usable, skipped


def evaluate(
    config: EvalConfig,
    *,
    registry: TaskRegistry | None = None,
    out: str | Path | None = None,
    loaded: tuple[Any, Any] | None = None,
    progress: bool = True,
    on_skipped: Callable[[dict[str, str]], None] | None = None,
) -> EvalResults:
    """Run an evaluation; returns the results (results.json's content, with the ``timing``).

    ``loaded`` reuses an already loaded (model, tokenizer); ``out`` writes results.json,
    samples.jsonl, results.md and timing.json there. ``on_skipped`` hears, before any scoring,
    which selected tasks were skipped because their data cannot be had (results.json keeps them).
    """
    from flanlab.evaluate.backend import HFBackend
    from flanlab.evaluate.results import build_results, write_outputs
    from flanlab.models import load_model, model_fingerprint

    started = time.perf_counter()
    registry = registry or load_registry([Path(p) for p in config.card_folders])
    cards, skipped = available_cards(select_cards(registry, config.tasks, config.collections), config)
    if on_skipped and skipped:
        on_skipped(skipped)
    model, tokenizer = loaded or load_model(config.model)
    fingerprint = model_fingerprint(config.model)
    device_type = next(model.parameters()).device.type
    precision = resolve_precision(config.precision, device_type)
    backend = HFBackend(
        model,
        tokenizer,
        batch_size=config.batch_size,
        precision=precision,
        rank_by=config.rank_by,
        near_tie_nats=config.near_tie_nats,
    )
    count_tokens = token_counter(tokenizer)
    chat = _chat_template(config, tokenizer, backend.is_seq2seq)

    plans = plan_requests(cards, config, count_tokens, chat)
    all_requests = [item.request for _, items in plans for item in items]
    settings: dict[str, Any] = {"dtype": str(model.dtype), "precision": precision}
    if precision == "bf16":  # which requests were settled in fp32 depends on these two
        settings.update(near_tie_nats=config.near_tie_nats, rank_by=config.rank_by)
    answers, stats = _answer_cached(all_requests, backend, config, fingerprint, settings, progress)
    runs = [_template_run(run, items, answers, config) for run, items in plans]
    kind = "seq2seq" if backend.is_seq2seq else "causal"
    results = build_results(
        config, runs, fingerprint=fingerprint, model_kind=kind, precision=precision, skipped=skipped
    )
    examples = sum(len(run.items) for run in runs)
    elapsed = time.perf_counter() - started
    results.timing = EvalTiming(
        **stats,
        precision=precision,
        precision_reason=precision_reason(config.precision, device_type),
        near_ties_rescored_fp32=backend.rescored_fp32,
        seconds_total=round(elapsed, 3),
        examples=examples,
        test_examples=sum(len(run.items) for run in runs if run.split == config.split),
        examples_per_second=round(examples / elapsed, 3) if elapsed else None,
    )
    if out is not None:
        write_outputs(Path(out), results, runs, plans if config.write_samples else None, answers)
    return results


def _chat_template(config: EvalConfig, tokenizer: Any, seq2seq: bool) -> ChatTemplate | None:
    if not config.chat_template:
        return None
    if seq2seq:
        raise FlanlabError("the chat format needs a causal (decoder-only) model; drop --chat-template")
    return ChatTemplate(tokenizer, config.model)


def _sample_indices(n: int, limit: int | None, seed: int, task: str, split: str) -> list[int]:
    """A seeded sample of a split, the same for every template and format of the task."""
    if limit is None or limit >= n:
        return list(range(n))
    return sorted(random.Random(f"{seed}:{task}:{split}").sample(range(n), limit))


def plan_requests(
    cards: list[TaskCard], config: EvalConfig, count_tokens: Callable[[str], int], chat: ChatTemplate | None = None
) -> list[tuple[TemplateRun, list[Evaluated]]]:
    """Every (format, task, split, template) to evaluate, with its rendered examples and requests.

    With ``chat`` each prompt becomes the chat template's text up to the assistant's reply.
    """
    splits = [config.split] + ([config.dev_split] if config.best_dev and config.dev_split != config.split else [])
    plans = []
    for fmt in config.formats():
        for card in cards:
            templates = _templates(card, config.templates, config.template_sample, config.seed)
            train_pool, card_fmt = _exemplar_pool(card, fmt) if fmt.shots else ((), fmt)
            for split in splits:
                examples = load_examples(card, split)
                if not examples:
                    continue
                pool = train_pool or (examples if fmt.shots else ())  # no train split: leave-one-out
                chosen = _sample_indices(len(examples), config.limit, config.seed, card.name, split)
                for template in templates:
                    items = [
                        _evaluated(card, template, examples[i], i, card_fmt, pool, config, count_tokens, chat)
                        for i in chosen
                    ]
                    classification = bool(items[0].rendered.options)
                    names = M.metrics_for(card.metrics, classification=classification, where=card.where())
                    exemplars = card_fmt.cot_exemplars if fmt.cot and fmt.shots else None
                    run = TemplateRun(
                        card.name, card.cluster, fmt.name, fmt.shots, split, template.id, names, cot_exemplars=exemplars
                    )
                    plans.append((run, items))
    if not plans:
        raise FlanlabError(f"nothing to evaluate: the selected tasks have no {config.split} examples")
    return plans


def _templates(card: TaskCard, wanted: list[str], sample: int | None = None, seed: int = 0) -> list:
    """The card's non-inverted templates (inverted ones are for training only), filtered by id, then
    ``sample`` of them drawn with a generator seeded by (seed, task) and kept in the card's order."""
    usable = [t for t in card.templates if not t.inverted]
    chosen = usable if wanted == ["all"] else [t for t in usable if t.id in wanted]
    if not chosen:
        raise FlanlabError(
            f"none of the templates {wanted} is a non-inverted template of this card", where=card.where()
        )
    if sample is None or sample >= len(chosen):
        return chosen
    kept = set(random.Random(f"{seed}:{card.name}:templates").sample(range(len(chosen)), sample))
    return [template for index, template in enumerate(chosen) if index in kept]


def _exemplar_pool(card: TaskCard, fmt: PromptFormat) -> tuple[Sequence[Example], PromptFormat]:
    """The train examples exemplars come from (a task without a train split, scored whole, uses the
    evaluated split itself, never the query: see `_evaluated`), and the format to render with:
    chain-of-thought on a task without rationales falls back to direct-answer exemplars (recorded in
    the results)."""
    pool = load_examples(card, "train")
    if not fmt.cot:
        return pool, fmt
    chosen, kind = cot_exemplar_pool(pool)
    return chosen, fmt.model_copy(update={"cot_exemplars": kind})


def _evaluated(
    card: TaskCard,
    template: Any,
    example: Example,
    index: int,
    fmt: PromptFormat,
    pool: Sequence[Example],
    config: EvalConfig,
    count_tokens: Callable[[str], int],
    chat: ChatTemplate | None = None,
) -> Evaluated:
    leave_one_out = index < len(pool) and pool[index] is example  # the pool is the evaluated split
    # one set per template: every query draws the same ones; the spares stand in for a query that was drawn
    query_key = stable_hash(example) if config.exemplars == "per_example" else f"{card.name}:{template.id}"
    exemplars = pick_exemplars(
        pool,
        fmt.shots + leave_one_out,
        seed=config.seed,
        query_key=query_key,
        exclude_text=str(example.get("input", "")),
    )
    exemplars = [exemplar for exemplar in exemplars if exemplar is not example][: fmt.shots]
    rendered = render(card, template, example, fmt, exemplars=exemplars, count_tokens=count_tokens)
    ranked = bool(rendered.options) and not fmt.cot
    prompt = rendered.inputs
    if chat is not None:  # the template is checked with the replies this example can get
        prompt = chat.context(prompt, rendered.options if ranked else (rendered.targets,))
    if ranked:
        request: Request = RankRequest(prompt, rendered.options, rendered.delimiter, chat=chat is not None)
    else:
        stop = tuple(dict.fromkeys([*config.stop, SEPARATORS[fmt.separator]])) if fmt.shots else tuple(config.stop)
        limit = config.cot_max_new_tokens if fmt.cot else config.max_new_tokens
        request = GenerateRequest(prompt, stop, limit, chat=chat is not None)
    return Evaluated(index, rendered, request)


def _answer_cached(
    requests: list[Request],
    backend: Backend,
    config: EvalConfig,
    fingerprint: str,
    settings: dict[str, Any],
    show: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``_answer`` through the answer cache (unless the config turns it off), with the counts."""
    from flanlab.evaluate.cache import AnswerCache, CachedBackend, default_cache_path

    unique = len({request.cache_key() for request in requests})
    started = time.perf_counter()
    if not config.use_cache:
        answers, hits = _answer(requests, backend, show), 0
    else:
        cache = AnswerCache(default_cache_path(), model_hash=fingerprint, settings=settings)
        try:
            cached = CachedBackend(backend, cache)
            answers, hits = _answer(requests, cached, show), cached.cache_hits
        finally:
            cache.close()
    seconds = time.perf_counter() - started
    computed = unique - hits
    return answers, {
        "requests": unique,
        "cache_hits": hits,
        "model_requests": computed,
        "model_seconds": round(seconds, 3),
        "model_requests_per_second": round(computed / seconds, 3) if computed and seconds else None,
    }


def _answer(requests: list[Request], backend: Backend, show: bool) -> dict[str, Any]:
    """Answers for every distinct request (request key -> OptionScores | str)."""
    unique = {request.cache_key(): request for request in requests}
    rank = [request for request in unique.values() if isinstance(request, RankRequest)]
    generate = [request for request in unique.values() if isinstance(request, GenerateRequest)]
    answers: dict[str, Any] = {}
    with progress("scoring", len(unique), show=show) as bar:
        if rank:
            answers.update(zip((r.cache_key() for r in rank), backend.score(rank, bar.advance)))
        if generate:
            answers.update(zip((r.cache_key() for r in generate), backend.generate(generate, bar.advance)))
    return answers


def _template_run(run: TemplateRun, items: list[Evaluated], answers: dict[str, Any], config: EvalConfig) -> TemplateRun:
    run.items = [_scored(item, answers[item.request.cache_key()], config) for item in items]
    return run


def _scored(item: Evaluated, answer: Any, config: EvalConfig) -> M.Scored:
    rendered = item.rendered
    references = rendered.references or (rendered.targets,)
    if isinstance(answer, OptionScores):
        ranked = answer.by(config.rank_by)
        best = max(range(len(ranked)), key=lambda k: (ranked[k], -k))  # ties go to the first option
        options = tuple(rendered.options)
        return M.Scored(options[best], references, best, rendered.answer_index, tuple(ranked), len(ranked), options)
    if rendered.options:  # chain of thought over a classification task
        answer_text = extract_cot_answer(answer)
        predicted = M.match_option(answer_text, rendered.options)
        options = tuple(rendered.options)
        return M.Scored(answer_text, references, predicted, rendered.answer_index, (), len(options), options)
    prediction = extract_cot_answer(answer) if rendered.format.startswith("cot") else answer
    return M.Scored(prediction, references)
