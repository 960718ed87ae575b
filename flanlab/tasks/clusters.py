"""FLAN's task clusters, and which clusters are held out together.

FLAN (2021) holds related clusters out with the one under evaluation to stay conservative:
paraphrase detection with NLI, and reading comprehension and commonsense with "reading
comprehension with commonsense".
"""

from __future__ import annotations

CLUSTERS: dict[str, str] = {
    "nli": "natural language inference",
    "reading_comprehension": "reading comprehension",
    "closed_book_qa": "closed-book QA",
    "commonsense": "commonsense reasoning",
    "coreference": "coreference resolution",
    "rc_commonsense": "reading comprehension with commonsense",
    "sentiment": "sentiment analysis",
    "paraphrase": "paraphrase detection",
    "struct_to_text": "struct-to-text generation",
    "translation": "translation",
    "summarization": "summarization",
    "math": "arithmetic and math word problems",
    "misc": "miscellaneous",
    "bbh": "BIG-Bench Hard (evaluation only)",
    "mmlu": "MMLU exams (evaluation only)",
}

RELATED_CLUSTERS: dict[str, frozenset[str]] = {
    "nli": frozenset({"paraphrase"}),
    "paraphrase": frozenset({"nli"}),
    "reading_comprehension": frozenset({"rc_commonsense"}),
    "commonsense": frozenset({"rc_commonsense"}),
    "rc_commonsense": frozenset({"reading_comprehension", "commonsense"}),
}

EVAL_ONLY_CLUSTERS = frozenset({"bbh", "mmlu"})


def held_out_closure(clusters: set[str] | frozenset[str]) -> frozenset[str]:
    """The clusters to exclude from training when ``clusters`` are held out."""
    closed = set(clusters)
    for cluster in clusters:
        closed |= RELATED_CLUSTERS.get(cluster, frozenset())
    return frozenset(closed)
