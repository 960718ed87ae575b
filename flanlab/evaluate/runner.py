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

from flanlab.errors import FlanlabError
from flanlab.evaluate import metrics as M
from flanlab.evaluate.aggregate import TemplateRun
from flanlab.evaluate.backend import NEAR_TIE_NATS
from flanlab.evaluate.requests import GenerateRequest, OptionScores, RankRequest
from flanlab.io import stable_hash
from flanlab.models.precision import Precision, resolve_precision
from flanlab.prompts.formats import SEPARATORS, PromptFormat, RenderedExample, pick_exemplars, render
from flanlab.sources.splits import SPLITS
from flanlab.tasks.card import TaskCard
from flanlab.tasks.examples import Example, load_examples
from flanlab.tasks.registry import TaskRegistry, load_registry

Request = RankRequest | GenerateRequest


class EvalConfig(BaseModel):
    """Everything that decides an evaluation's numbers (and a few knobs that only change speed)."""

    model_config = ConfigDict(extra="forbid")

    model: str = "smollm2-135m"
    tasks: list[str] = Field(default_factory=lambda: ["cluster:nli"])  # cluster:X, task:NAME or NAME
    shots: list[int] = Field(default_factory=lambda: [0])
    cot: bool = False  # chain-of-thought formats instead of plain ones
    templates: list[str] = Field(default_factory=lambda: ["all"])  # template ids, or "all"
    limit: int | None = None  # examples per template (a seeded sample of the split)
    split: str = "test"
    best_dev: bool = True  # also evaluate on dev_split to pick each task's best template
    dev_split: str = "validation"
    seed: int = 0
    rank_by: Literal["sum", "per_token", "per_char"] = "sum"
    options_style: str = "dash"
    max_new_tokens: int = 64
    cot_max_new_tokens: int = 256
    stop: list[str] = Field(default_factory=lambda: ["\n\n"])
    bootstrap_resamples: int = 1000
    card_folders: list[str] = Field(default_factory=list)
    precision: Precision = Field(
        "auto",
        description="fp32, bf16 (autocast: bf16 matrix products, fp32 residual stream and output head), or auto: "
        "bf16 where the device computes it natively (CPU with AVX512-BF16/AMX, CUDA with bf16), else fp32",
    )
    near_tie_nats: float = Field(
        NEAR_TIE_NATS,
        ge=0,
        description="under bf16, requests whose leading options are closer than this (summed log-likelihood, "
        "nats) are scored again in fp32, so bf16 predicts what fp32 would; 0 never rescores",
    )
    # speed only: never changes a number
    batch_size: int = 16
    use_cache: bool = True
    write_samples: bool = True

    @field_validator("split", "dev_split")
    @classmethod
    def _known_split(cls, value: str) -> str:
        if value not in SPLITS:
            raise ValueError(f"unknown split {value!r}; expected one of {SPLITS}")
        return value

    @field_validator("shots")
    @classmethod
    def _shots(cls, value: list[int]) -> list[int]:
        if not value or any(k < 0 for k in value):
            raise ValueError("shots must be a non-empty list of numbers >= 0")
        return value

    def formats(self) -> list[PromptFormat]:
        kinds = [("cot" if self.cot else "fewshot" if k else "zeroshot", k) for k in self.shots]
        return [PromptFormat.parse(f"{kind}:{k}" if k else kind, options_style=self.options_style) for kind, k in kinds]


@dataclass
class Evaluated:
    """One rendered example and the request that asks the model about it."""

    example_index: int
    rendered: RenderedExample
    request: Request


def select_cards(registry: TaskRegistry, selectors: Sequence[str]) -> list[TaskCard]:
    chosen: dict[str, TaskCard] = {}
    for selector in selectors:
        kind, _, value = selector.partition(":") if ":" in selector else ("task", "", selector)
        if kind == "cluster":
            cards = registry.select(clusters=[value])
            if not cards:
                raise FlanlabError(f"no task in cluster {value!r}; clusters with tasks: {registry.clusters()}")
        elif kind == "task":
            cards = [registry.get(value)]
        else:
            raise FlanlabError(f"bad task selector {selector!r}; expected cluster:NAME or task:NAME")
        chosen.update((card.name, card) for card in cards)
    return [chosen[name] for name in sorted(chosen)]


def evaluate(
    config: EvalConfig,
    *,
    registry: TaskRegistry | None = None,
    out: str | Path | None = None,
    loaded: tuple[Any, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run an evaluation; returns the results (results.json's content, plus a ``timing`` entry).

    ``loaded`` reuses an already loaded (model, tokenizer); ``out`` writes results.json,
    samples.jsonl, results.md and timing.json there.
    """
    from flanlab.evaluate.backend import HFBackend
    from flanlab.evaluate.results import build_results, write_outputs
    from flanlab.models import load_model, model_fingerprint

    started = time.perf_counter()
    registry = registry or load_registry([Path(p) for p in config.card_folders])
    cards = select_cards(registry, config.tasks)
    model, tokenizer = loaded or load_model(config.model)
    fingerprint = model_fingerprint(config.model)
    precision = resolve_precision(config.precision, next(model.parameters()).device.type)
    backend = HFBackend(
        model, tokenizer, batch_size=config.batch_size, precision=precision, rank_by=config.rank_by,
        near_tie_nats=config.near_tie_nats,
    )
    count_tokens = _token_counter(tokenizer)

    plans = plan_requests(cards, config, count_tokens)
    all_requests = [item.request for _, items in plans for item in items]
    settings = {"dtype": str(model.dtype), "precision": precision}
    if precision == "bf16":  # which requests were settled in fp32 depends on these two
        settings.update(near_tie_nats=config.near_tie_nats, rank_by=config.rank_by)
    answers, stats = _answer(all_requests, backend, config, fingerprint, settings, progress)
    runs = [_template_run(run, items, answers, config) for run, items in plans]
    kind = "seq2seq" if backend.is_seq2seq else "causal"
    results = build_results(config, runs, fingerprint=fingerprint, model_kind=kind, precision=precision)
    test_examples = sum(len(run.items) for run in runs if run.split == config.split)
    elapsed = time.perf_counter() - started
    results["timing"] = {
        **stats,
        "precision": precision,
        "near_ties_rescored_fp32": backend.rescored_fp32,
        "seconds_total": round(elapsed, 3),
        "examples": sum(len(run.items) for run in runs),
        "test_examples": test_examples,
        "examples_per_second": round(sum(len(run.items) for run in runs) / elapsed, 3) if elapsed else None,
    }
    if out is not None:
        write_outputs(Path(out), results, runs, plans if config.write_samples else None, answers)
    return results


def _token_counter(tokenizer: Any) -> Callable[[str], int]:
    return lambda text: len(tokenizer(text, add_special_tokens=False).input_ids)


def _sample_indices(n: int, limit: int | None, seed: int, task: str, split: str) -> list[int]:
    """A seeded sample of a split, the same for every template and format of the task."""
    if limit is None or limit >= n:
        return list(range(n))
    return sorted(random.Random(f"{seed}:{task}:{split}").sample(range(n), limit))


def plan_requests(
    cards: list[TaskCard], config: EvalConfig, count_tokens: Callable[[str], int]
) -> list[tuple[TemplateRun, list[Evaluated]]]:
    """Every (format, task, split, template) to evaluate, with its rendered examples and requests."""
    splits = [config.split] + ([config.dev_split] if config.best_dev and config.dev_split != config.split else [])
    plans = []
    for fmt in config.formats():
        for card in cards:
            templates = _templates(card, config.templates)
            train_pool = _exemplar_pool(card, fmt) if fmt.shots else []
            for split in splits:
                examples = load_examples(card, split)
                if not examples:
                    continue
                chosen = _sample_indices(len(examples), config.limit, config.seed, card.name, split)
                for template in templates:
                    items = [
                        _evaluated(card, template, examples[i], i, fmt, train_pool, config, count_tokens) for i in chosen
                    ]
                    classification = bool(items[0].rendered.options)
                    names = M.metrics_for(card.metrics, classification=classification, where=card.where())
                    run = TemplateRun(card.name, card.cluster, fmt.name, fmt.shots, split, template.id, names)
                    plans.append((run, items))
    if not plans:
        raise FlanlabError(f"nothing to evaluate: the selected tasks have no {config.split} examples")
    return plans


def _templates(card: TaskCard, wanted: list[str]) -> list:
    """The card's non-inverted templates (inverted ones are for training only), filtered by id."""
    usable = [t for t in card.templates if not t.inverted]
    if wanted == ["all"]:
        return usable
    chosen = [t for t in usable if t.id in wanted]
    if not chosen:
        raise FlanlabError(f"none of the templates {wanted} is a non-inverted template of this card", where=card.where())
    return chosen


def _exemplar_pool(card: TaskCard, fmt: PromptFormat) -> tuple[Example, ...]:
    pool = load_examples(card, "train")
    if fmt.cot:
        with_rationale = tuple(example for example in pool if example.get("rationale"))
        return with_rationale or pool
    return pool


def _evaluated(
    card: TaskCard,
    template: Any,
    example: Example,
    index: int,
    fmt: PromptFormat,
    pool: Sequence[Example],
    config: EvalConfig,
    count_tokens: Callable[[str], int],
) -> Evaluated:
    exemplars = pick_exemplars(
        pool, fmt.shots, seed=config.seed, query_key=stable_hash(example), exclude_text=str(example.get("input", ""))
    )
    rendered = render(card, template, example, fmt, exemplars=exemplars, count_tokens=count_tokens)
    if rendered.options and not fmt.cot:
        request: Request = RankRequest(rendered.inputs, rendered.options)
    else:
        stop = tuple(dict.fromkeys([*config.stop, SEPARATORS[fmt.separator]])) if fmt.shots else tuple(config.stop)
        limit = config.cot_max_new_tokens if fmt.cot else config.max_new_tokens
        request = GenerateRequest(rendered.inputs, stop, limit)
    return Evaluated(index, rendered, request)


def _answer(
    requests: list[Request], backend: Any, config: EvalConfig, fingerprint: str, settings: dict[str, Any], show: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Answers for every request (request key -> OptionScores | str), from the cache or the model."""
    from flanlab.evaluate.cache import AnswerCache, default_cache_path

    unique = {request.cache_key(): request for request in requests}
    cache = AnswerCache(default_cache_path(), model_hash=fingerprint, settings=settings) if config.use_cache else None
    cached = cache.get_many(unique) if cache else {}
    answers: dict[str, Any] = {
        key: OptionScores.from_json(value) if isinstance(unique[key], RankRequest) else value for key, value in cached.items()
    }
    missing = [key for key in unique if key not in answers]
    rank = [key for key in missing if isinstance(unique[key], RankRequest)]
    generate = [key for key in missing if isinstance(unique[key], GenerateRequest)]
    model_started = time.perf_counter()
    with _progress_bar(show, len(missing)) as advance:
        for keys, run in ((rank, backend.score), (generate, backend.generate)):
            if not keys:
                continue
            outputs = run([unique[key] for key in keys], advance)
            fresh = dict(zip(keys, outputs))
            answers.update(fresh)
            if cache:
                cache.put_many({k: v.to_json() if isinstance(v, OptionScores) else v for k, v in fresh.items()})
    if cache:
        cache.close()
    model_seconds = time.perf_counter() - model_started
    return answers, {
        "requests": len(unique),
        "cache_hits": len(cached),
        "model_requests": len(missing),
        "model_seconds": round(model_seconds, 3),
        "model_requests_per_second": round(len(missing) / model_seconds, 3) if missing and model_seconds else None,
    }


class _progress_bar:
    """A rich progress bar with ETA over model requests (silent when not shown)."""

    def __init__(self, show: bool, total: int) -> None:
        self.show, self.total = show and total > 0, total

    def __enter__(self) -> Callable[[int], None]:
        if not self.show:
            return lambda _: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from flanlab.cli.common import console

        self.bar = Progress(
            TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=console,
        )
        self.bar.start()
        task = self.bar.add_task("scoring", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: Any) -> None:
        if self.show:
            self.bar.stop()


def _template_run(run: TemplateRun, items: list[Evaluated], answers: dict[str, Any], config: EvalConfig) -> TemplateRun:
    run.items = [_scored(item, answers[item.request.cache_key()], config) for item in items]
    return run


def _scored(item: Evaluated, answer: Any, config: EvalConfig) -> M.Scored:
    rendered = item.rendered
    references = rendered.references or (rendered.targets,)
    if isinstance(answer, OptionScores):
        ranked = answer.by(config.rank_by)
        best = max(range(len(ranked)), key=lambda k: (ranked[k], -k))  # ties go to the first option
        return M.Scored(rendered.options[best], references, best, rendered.answer_index, tuple(ranked), len(ranked))
    if rendered.options:  # chain of thought over a classification task
        answer_text = M.extract_cot_answer(answer)
        predicted = M.match_option(answer_text, rendered.options)
        return M.Scored(answer_text, references, predicted, rendered.answer_index, (), len(rendered.options))
    prediction = M.extract_cot_answer(answer) if rendered.format.startswith("cot") else answer
    return M.Scored(prediction, references)
