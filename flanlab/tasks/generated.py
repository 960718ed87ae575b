"""The extended collection: every other usable BIG-bench task and Natural Instructions v1 subtask.

Cards are generated from the BIG-bench index alone (no task file is read), so building ~900 of them
takes a fraction of a second. Each card's instruction is the task's own text (the Natural
Instructions definition, or the BIG-bench description plus its task prefix); its templates are a
few generic ones written for this collection, one of them inverted. Rules:

- Skipped: tasks with fewer than `MIN_EXAMPLES` examples, tasks listed in `SKIPPED_TASKS` (images
  or ASCII art rendered as text, or inputs far beyond a 1,024-token window), and every locator a
  YAML card already uses (the registry passes those in).
- BIG-Bench Hard tasks (`BBH_TASKS`) are generated eval-only in cluster ``bbh``, never trainable.
- The cluster comes from `assign_cluster`: dataset names first (`NAME_CLUSTERS`), then the task's
  keywords in the order its authors listed them (`KEYWORD_CLUSTERS`), else ``misc``.
- The family is the source dataset (`dataset_key`): the parent task for BIG-bench subtasks
  (``list_functions/c001`` -> ``bigbench_list_functions``), and inside the BIG-bench tasks that bundle
  several datasets (`BUNDLES`) the dataset itself: ``subtask002_quoref_answer_generation`` ->
  ``ni_quoref``, ``gem/mlsum_de`` -> ``bigbench_gem_mlsum``. Siblings are held out together; a
  sibling of a locator a YAML card covers takes that card's family.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, Final

from flanlab.sources import bigbench
from flanlab.sources.base import SourceSpec
from flanlab.tasks.card import TaskCard, Template
from flanlab.tasks.registry import CoveredSources

BIGBENCH: Final = "bigbench"
NATURAL_INSTRUCTIONS = "natural_instructions"
NI_PREFIX = "natural_instructions/"
MIN_EXAMPLES = 20
# BIG-bench tasks whose subtasks come from different source datasets: a subtask's siblings are the
# subtasks of its dataset (for Natural Instructions the word after the number, else the first word),
# not the whole bundle, so holding out one dataset does not drag unrelated ones along.
BUNDLES = frozenset({NATURAL_INSTRUCTIONS, "gem", "linguistic_mappings"})

# The 23 BIG-Bench Hard tasks by their BIG-bench locator (a task or the parent of subtasks).
# boolean_expressions, multistep_arithmetic and web_of_lies exist in the archive only as generator
# scripts, so they have no data here. BBH is evaluation-only: no mixture may train on it.
BBH_TASKS = frozenset(
    {
        "boolean_expressions",
        "causal_judgment",
        "date_understanding",
        "disambiguation_qa",
        "dyck_languages",
        "formal_fallacies_syllogisms_negation",
        "geometric_shapes",
        "hyperbaton",
        "logical_deduction",
        "movie_recommendation",
        "multistep_arithmetic",
        "navigate",
        "object_counting",
        "penguins_in_a_table",
        "reasoning_about_colored_objects",
        "ruin_names",
        "salient_translation_error_detection",
        "snarks",
        "sports_understanding",
        "temporal_sequences",
        "tracking_shuffled_objects",
        "web_of_lies",
        "word_sorting",
    }
)

# Task (or parent task) -> why it is not turned into a text task.
SKIPPED_TASKS: dict[str, str] = {
    "cifar10_classification": "images encoded as base64/hex text",
    "mnist_ascii": "images drawn in ASCII art",
    "kanji_ascii": "characters drawn in ASCII art",
    "ascii_word_recognition": "words drawn in ASCII art",
    "intersect_geometry": "250,000 synthetic coordinate problems (a huge, non-language task)",
    "which_wiki_edit": "inputs average 9,000 characters, far beyond a 1,024-token window",
    "paragraph_segmentation": "inputs of up to 200,000 characters (a 50 MB task file)",
}

# Tasks whose inputs are all empty (the content is in the options): no inverted template, since
# "write the input" would have an empty target. Found by scanning every task file once.
INPUTLESS_TASKS = frozenset({"cause_and_effect", "misconceptions_russian"})

# Substrings of a locator that name its dataset or task type, checked first (first match wins).
NAME_CLUSTERS: tuple[tuple[str, str], ...] = (
    ("semantic_parsing", "misc"),
    ("_nli", "nli"),
    ("entail", "nli"),
    ("fact_checker", "nli"),
    ("fact_verification", "nli"),
    ("anaphora", "coreference"),
    ("winogrande", "coreference"),
    ("quoref", "reading_comprehension"),
    ("drop_", "reading_comprehension"),
    ("multirc", "reading_comprehension"),
    ("ropes", "reading_comprehension"),
    ("reading_comprehension", "reading_comprehension"),
    ("cosmosqa", "rc_commonsense"),
    ("mctaco", "commonsense"),
    ("qasc", "closed_book_qa"),
    ("essential_terms", "closed_book_qa"),
    ("science_questions", "closed_book_qa"),
    ("wikidata", "closed_book_qa"),
    ("gem/e2e_nlg", "struct_to_text"),
    ("gem/webnlg", "struct_to_text"),
    ("gem/common_gen", "struct_to_text"),
    ("gem/cs_restaurants", "struct_to_text"),
    ("gem/schema_guided_dialog", "struct_to_text"),
    ("gem/dart", "struct_to_text"),
    ("gem/totto", "struct_to_text"),
    ("xsum", "summarization"),
    ("wikilingua", "summarization"),
    ("wiki_lingua", "summarization"),
    ("mlsum", "summarization"),
    ("gem/asset", "paraphrase"),
    ("gem/turk", "paraphrase"),
    ("paraphras", "paraphrase"),
    ("rephrase", "paraphrase"),
    ("multiemo", "sentiment"),
    ("translation", "translation"),
    ("transliterate", "translation"),
)

# BIG-bench / Natural Instructions keyword -> cluster. Generic keywords ("logical reasoning",
# "multiple choice", "zero-shot") are left out on purpose so a more telling later keyword decides.
KEYWORD_CLUSTERS: dict[str, str] = {
    "translation": "translation",
    "summarization": "summarization",
    "text simplification": "summarization",
    "paraphrase": "paraphrase",
    "paraphrases": "paraphrase",
    "mathematics": "math",
    "arithmetic": "math",
    "algebra": "math",
    "mathematical proof": "math",
    "reading comprehension": "reading_comprehension",
    "contextual question-answering": "reading_comprehension",
    "contextual question answering": "reading_comprehension",
    "passage": "reading_comprehension",
    "paragraph": "reading_comprehension",
    "context-free question answering": "closed_book_qa",
    "truthfulness": "closed_book_qa",
    "memorization": "closed_book_qa",
    "emotional understanding": "sentiment",
    "emotional intelligence": "sentiment",
    "humor": "sentiment",
    "common sense": "commonsense",
    "commonsense": "commonsense",
    "causal reasoning": "commonsense",
    "physical reasoning": "commonsense",
    "social reasoning": "commonsense",
    "theory of mind": "commonsense",
}

# Templates written for this collection. {task_instruction} is the task's own instruction.
GENERIC_TEMPLATES: tuple[Template, ...] = (
    Template(id="g1", instruction="{task_instruction}", input="{input}"),
    Template(id="g2", input="Task: {task_instruction}\n\nInput: {input}\n\nOutput:"),
    Template(id="g3", input="{input}\n\nRespond to the text above as this task asks. {task_instruction}"),
    Template(
        id="g4_inverted",
        inverted=True,
        input="Here is a task and the answer one of its inputs should get.\n\nTask: {task_instruction}\n\n"
        "Answer: {answer}\n\nWrite an input that this answer fits.",
        target="{input}",
    ),
)

_METRICS = {
    "multiple_choice_grade": "accuracy",
    "exact_str_match": "exact_match",
    "bleu": "bleu",
    "rouge": "rouge_l",
    "sequence_f1": "f1",
    "macro_f1": "f1",
}


def generated_cards(collection: str, covered: CoveredSources) -> list[TaskCard]:
    """The generated cards of ``collection`` (``bigbench`` or ``natural_instructions``).

    Reads only the BIG-bench index; an environment that has not fetched BIG-bench yet gets none.
    """
    if not bigbench_index_available():
        return []
    return [card for card in cards_from_index(bigbench.list_tasks(), covered) if card.collection == collection]


def bigbench_index_available() -> bool:
    return (bigbench.bigbench_root() / bigbench.INDEX_NAME).exists()


def bigbench_provider(covered: CoveredSources) -> list[TaskCard]:
    return generated_cards(BIGBENCH, covered)


def natural_instructions_provider(covered: CoveredSources) -> list[TaskCard]:
    return generated_cards(NATURAL_INSTRUCTIONS, covered)


def cards_from_index(entries: Iterable[dict[str, Any]], covered: CoveredSources) -> Iterator[TaskCard]:
    """A card for every usable index entry that no YAML card covers."""
    families = _covered_families(covered)
    for entry in entries:
        locator = entry["name"]
        if (BIGBENCH, locator) in covered or skip_reason(entry) is not None:
            continue
        yield card_for_task(entry, family=families.get(dataset_key(locator)))


def skip_reason(entry: dict[str, Any]) -> str | None:
    """Why an index entry does not become a generated task (None if it does)."""
    if entry["n_examples"] < MIN_EXAMPLES:
        return f"fewer than {MIN_EXAMPLES} examples"
    if entry["kind"] not in {"multiple_choice", "generation"}:
        return f"unsupported example kind {entry['kind']!r}"
    return SKIPPED_TASKS.get(parent_task(entry["name"]))


def parent_task(locator: str) -> str:
    return locator.split("/", 1)[0]


def dataset_key(locator: str) -> str:
    """The source dataset a locator belongs to, which decides its family: the parent task, or
    inside a bundle the dataset (``natural_instructions/subtask002_quoref_x`` -> ``natural_instructions/quoref``)."""
    parent, _, subtask = locator.partition("/")
    if parent not in BUNDLES or not subtask:
        return parent
    words = subtask.split("_")
    word = words[1] if parent == NATURAL_INSTRUCTIONS and len(words) > 1 else words[0]
    return f"{parent}/{word}"


def is_bbh(locator: str) -> bool:
    """Whether a BIG-bench locator is one of the BIG-Bench Hard tasks (or a subtask of one)."""
    return parent_task(locator) in BBH_TASKS


def card_for_task(entry: dict[str, Any], *, family: str | None = None) -> TaskCard:
    locator = entry["name"]
    is_ni = locator.startswith(NI_PREFIX)
    bbh = is_bbh(locator)
    multiple_choice = entry["kind"] == "multiple_choice"
    return TaskCard(
        name=task_name(locator),
        collection=NATURAL_INSTRUCTIONS if is_ni else BIGBENCH,
        cluster="bbh" if bbh else assign_cluster(locator, entry.get("keywords") or []),
        family=family or _default_family(locator),
        source=SourceSpec(kind=BIGBENCH, locator=locator),
        description=_clean(entry.get("description") or ""),
        instruction=task_instruction(entry),
        metrics=_metrics(entry.get("metrics") or [], multiple_choice),
        templates=[t for t in GENERIC_TEMPLATES if not (t.inverted and parent_task(locator) in INPUTLESS_TASKS)],
        curated=False,
        eval_only=bbh,
    )


def task_name(locator: str) -> str:
    """``natural_instructions/subtask001_x`` -> ``ni_subtask001_x``; ``a/b`` -> ``bigbench_a_b``."""
    if locator.startswith(NI_PREFIX):
        return "ni_" + locator[len(NI_PREFIX) :]
    return "bigbench_" + re.sub(r"[^A-Za-z0-9_]+", "_", locator)


def task_instruction(entry: dict[str, Any]) -> str:
    """The task's own words: the Natural Instructions definition (its ``task_prefix``), or the
    BIG-bench description followed by the task prefix when there is one."""
    description = _clean(entry.get("description") or "")
    prefix = _clean(entry.get("task_prefix") or "")
    if entry["name"].startswith(NI_PREFIX):
        return prefix or description
    if not prefix or prefix in description:
        return _sentence(description) or prefix
    if not description or description in prefix:
        return prefix
    return f"{_sentence(description)} {prefix}"


def assign_cluster(locator: str, keywords: Iterable[str]) -> str:
    """The FLAN cluster of a task: its name first, then its keywords in the authors' order."""
    lowered = locator.lower()
    for fragment, cluster in NAME_CLUSTERS:
        if fragment in lowered:
            return cluster
    for keyword in keywords:
        keyword_cluster = KEYWORD_CLUSTERS.get(keyword.strip().lower())
        if keyword_cluster is not None:
            return keyword_cluster
    return "misc"


def _default_family(locator: str) -> str | None:
    key = dataset_key(locator)
    if key == locator:
        return None  # a task without siblings is its own family
    if locator.startswith(NI_PREFIX):
        return "ni_" + key[len(NI_PREFIX) :]
    return "bigbench_" + key.replace("/", "_")


def _covered_families(covered: CoveredSources) -> dict[str, str]:
    """Source dataset (`dataset_key`) -> family of the YAML card covering one of its subtasks."""
    covered_subtasks = ((locator, family) for (kind, locator), family in sorted(covered.items()) if kind == BIGBENCH)
    return {dataset_key(locator): family for locator, family in covered_subtasks if "/" in locator}


def _metrics(names: Iterable[str], multiple_choice: bool) -> list[str]:
    mapped = list(dict.fromkeys(_METRICS[name] for name in names if name in _METRICS))
    if multiple_choice:
        return ["accuracy"]
    return [metric for metric in mapped if metric != "accuracy"] or ["exact_match"]


def _clean(text: str) -> str:
    return " ".join(text.split())


def _sentence(text: str) -> str:
    return text if not text or text.endswith((".", "!", "?", ":")) else f"{text}."
