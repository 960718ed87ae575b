from collections import Counter

from flanlab.sources.base import split_by_hash
from flanlab.sources.splits import hash_split, normalise_text


def test_normalisation_ignores_case_and_whitespace():
    assert normalise_text("  The  Cat\n sat ") == normalise_text("the cat sat")
    assert hash_split("The  Cat sat") == hash_split("the cat sat")


def test_split_is_stable_when_the_dataset_grows_or_is_reordered():
    texts = [f"example number {i}" for i in range(2000)]
    first = split_by_hash([{"input": t} for t in texts], "input", where="test")
    grown = texts[::-1] + [f"new example {i}" for i in range(500)]
    second = split_by_hash([{"input": t} for t in grown], "input", where="test")
    for split, records in first.items():
        assert {r["input"] for r in records} <= {r["input"] for r in second[split]}


def test_split_fractions_are_close_to_80_10_10():
    counts = Counter(hash_split(f"text {i}") for i in range(20000))
    assert abs(counts["train"] / 20000 - 0.8) < 0.015
    assert abs(counts["validation"] / 20000 - 0.1) < 0.01
    assert abs(counts["test"] / 20000 - 0.1) < 0.01


def test_normalisation_folds_exactly_the_whitespace_a_regex_would():
    """str.split() replaced a regex; every split assignment and guard hash must stay what it was."""
    import re
    import sys
    import unicodedata

    spaces = re.compile(r"\s+")
    for code in range(sys.maxunicode + 1):
        text = f" a{chr(code)}{chr(code)}b\t"
        assert normalise_text(text) == spaces.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
