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
def test_split_pattern_splits_one_question_alike_under_different_hints():
    questions = [f"what is {i} plus {i}?" for i in range(400)]
    hinted = [{"input": f"{q}\nadd({i}, {i})"} for i, q in enumerate(questions)]
    worded = [{"input": f"{q}\nadd {i} to itself"} for i, q in enumerate(questions)]
    formula = split_by_hash(hinted, "input", "x", pattern=r"^(.*)\n")
    words = split_by_hash(worded, "input", "x", pattern=r"^(.*)\n")
    for split in formula:
        assert [r["input"].split("\n")[0] for r in formula[split]] == [r["input"].split("\n")[0] for r in words[split]]
    whole = split_by_hash(hinted, "input", "x")
    assert whole != formula  # without the pattern the hint line moves questions between splits


def test_a_source_without_validation_holds_out_train_examples(tmp_path):
    import json

    from flanlab.sources.base import VALIDATION_FROM_TRAIN, SourceSpec, load_split_records

    for split, count in (("train", 12000), ("test", 50)):
        lines = [json.dumps({"input": f"{split} text {i}", "answer": "a"}) for i in range(count)]
        (tmp_path / f"{split}.jsonl").write_text("\n".join(lines))
    spec = SourceSpec(kind="jsonl", locator=str(tmp_path / "{split}.jsonl"))
    grouped = load_split_records(spec)
    assert len(grouped["validation"]) == VALIDATION_FROM_TRAIN == 1024 and len(grouped["train"]) == 12000 - 1024
    assert not {r["input"] for r in grouped["validation"]} & {r["input"] for r in grouped["train"]}
    assert load_split_records(spec) == grouped  # the same examples every time
    small = tmp_path / "small"
    small.mkdir()
    (small / "train.jsonl").write_text("\n".join(json.dumps({"input": f"t {i}", "answer": "a"}) for i in range(300)))
    few = load_split_records(SourceSpec(kind="jsonl", locator=str(small / "{split}.jsonl")))
    assert len(few["validation"]) == 30 and len(few["train"]) == 270  # a tenth of a small train split
