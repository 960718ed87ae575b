"""Deterministic train/validation/test assignment for sources that have no splits of their own.

An example's split is a function of its normalised input text alone, so it never changes when the
dataset grows, shrinks or is reordered, and the same text lands in the same split in every task.
"""

from __future__ import annotations

import hashlib
import unicodedata

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def normalise_text(text: str) -> str:
    """Case-, width- and whitespace-insensitive form of a text, used for split hashing and dedup."""
    # str.split() splits on exactly the characters regex \s matches (str.isspace), and is much faster.
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def text_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


def hash_split(text: str, fractions: dict[str, float] = DEFAULT_FRACTIONS) -> str:
    """The split an input text belongs to, from the first 8 bytes of its normalised hash."""
    point = int(text_hash(text)[:16], 16) / float(1 << 64)
    edge = 0.0
    for name in SPLITS:
        edge += fractions.get(name, 0.0)
        if point < edge:
            return name
    return SPLITS[-1]
