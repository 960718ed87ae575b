"""The FLAN 2021 and Flan 2022 hub catalogs: every card loads its fixture through the real
`datasets` code path, every template renders on every fixture example, and the results pass lint."""

from __future__ import annotations

import re
from functools import cache

import pytest

from flanlab.errors import FlanlabError
from flanlab.prompts.formats import PromptFormat, render
from flanlab.tasks.card import TaskCard, pattern_fields
from flanlab.tasks.clusters import CLUSTERS
from flanlab.tasks.examples import Example, load_examples
from flanlab.tasks.fixtures import fixture_dir, with_fixture_source
from flanlab.tasks.registry import load_registry

# FLAN 2021's 62 datasets (67 tasks: ANLI R1-R3, MNLI m/mm, SQuAD v1/v2 and ARC e/c count once each).
FLAN2021_TASKS = {
    "nli": {"anli_r1", "anli_r2", "anli_r3", "cb", "mnli_matched", "mnli_mismatched", "qnli", "rte", "snli", "wnli"},
    "reading_comprehension": {"boolq", "drop", "multirc", "openbookqa", "squad_v1", "squad_v2"},
    "closed_book_qa": {"arc_challenge", "arc_easy", "natural_questions", "trivia_qa"},
    "commonsense": {"copa", "hellaswag", "piqa", "story_cloze"},
    "coreference": {"definite_pronoun_resolution", "winogrande", "wsc273"},
    "rc_commonsense": {"cosmos_qa", "record"},
    "sentiment": {"imdb", "sentiment140", "sst2", "yelp_polarity"},
    "paraphrase": {"glue_mrpc", "glue_qqp", "paws_wiki", "stsb"},
    "struct_to_text": {"common_gen", "dart", "e2e_nlg", "web_nlg"},
    "translation": {"para_crawl_enes", "wmt14_enfr", *(f"wmt16_{code}en" for code in ("cs", "de", "fi", "ro", "ru", "tr"))},
    "summarization": {
        "aeslc", "ag_news", "cnn_dailymail", "gigaword", "multi_news", "newsroom", "opinion_abstracts_idebate",
        "opinion_abstracts_rotten_tomatoes", "samsum", "wiki_lingua_en", "xsum",
    },
    "misc": {"coqa", "quac", "trec", "cola", "wic", "math_dataset", "fix_punct"},
}
FLAN2021_FAMILIES = {"anli": 3, "mnli": 2, "squad": 2, "arc": 2}
COT_TASKS = {"gsm8k", "svamp", "asdiv", "strategyqa", "aqua_rat"}

_DOUBLED_WORD = re.compile(r"\b(\w+)\s+\1\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"{\w*}")


@cache
def catalog() -> dict[str, TaskCard]:
    return load_registry(collections=["flan2021", "flan2022"]).cards


@cache
def fixture_examples(name: str) -> dict[str, tuple[Example, ...]]:
    card = with_fixture_source(catalog()[name])
    assert card is not None, f"{name} has no fixture folder {fixture_dir(catalog()[name])}"
    return {split: load_examples(card, split) for split in ("train", "validation", "test")}


def card_names(collection: str) -> list[str]:
    return sorted(name for name, card in catalog().items() if card.collection == collection)


def test_flan2021_has_the_papers_62_datasets_in_12_clusters():
    cards = {name: card for name, card in catalog().items() if card.collection == "flan2021"}
    by_cluster: dict[str, set[str]] = {}
    for card in cards.values():
        by_cluster.setdefault(card.cluster, set()).add(card.name)
    assert by_cluster == FLAN2021_TASKS
    families = {}
    for card in cards.values():
        families.setdefault(card.family_name, []).append(card.name)
    assert {family: len(names) for family, names in families.items() if len(names) > 1} == {**FLAN2021_FAMILIES, "opinion_abstracts": 2}
    siblings_counted_once = sum(count - 1 for count in FLAN2021_FAMILIES.values())
    assert len(cards) - siblings_counted_once == 62


def test_flan2022_suites():
    cards = [card for card in catalog().values() if card.collection == "flan2022"]
    mmlu = [card for card in cards if card.cluster == "mmlu"]
    bbh = [card for card in cards if card.cluster == "bbh"]
    assert len(mmlu) == 57 and len({card.source.config for card in mmlu}) == 57
    assert len(bbh) == 27 and all(card.name.startswith("hub_bbh_") for card in bbh)
    assert all(card.eval_only for card in mmlu + bbh)
    assert COT_TASKS <= {card.name for card in cards}
    assert all("rationale" in card.fields for card in cards if card.name in COT_TASKS)


@pytest.mark.parametrize("name", card_names("flan2021") + card_names("flan2022"))
def test_card_loads_renders_and_lints(name: str):
    card = catalog()[name]
    assert card.cluster in CLUSTERS
    assert card.source.kind == "huggingface"
    assert card.path is not None and card.path.parent.parent.name == card.collection
    _lint_templates(card)
    examples = fixture_examples(name)
    assert sum(len(split) for split in examples.values()) >= 3, "a fixture should hold at least 3 usable records"
    train = examples["train"]
    for split, rows in examples.items():
        for index, example in enumerate(rows):
            for template in card.templates:
                rendered = render(card, template, example)
                _lint_rendered(card, template.id, f"{split}[{index}]", example, rendered)
            if train and split != "train":
                zero_shot = render(card, card.templates[0], example)
                few_shot = render(card, card.templates[0], example, PromptFormat(shots=2), exemplars=train)
                assert few_shot.shots == min(2, len(train)) and few_shot.inputs.endswith(zero_shot.inputs)
                assert render(card, card.templates[0], train[0]).targets in few_shot.inputs


def _lint_templates(card: TaskCard) -> None:
    n_inverted = sum(template.inverted for template in card.templates)
    assert len(card.templates) == 10 and n_inverted <= 3, (len(card.templates), n_inverted)
    for template in card.templates:
        for text in (template.input, template.target, template.instruction):
            literal = re.sub(r"{\w*}", "", text)
            assert "{" not in literal and "}" not in literal, f"{template.id}: stray brace in {text!r}"
            assert "\\n" not in text, f"{template.id}: literal backslash-n"
            assert not _DOUBLED_WORD.search(re.sub(r"{\w*}", "{}", text)), f"{template.id}: doubled word in {text!r}"
            assert all(line == line.rstrip() for line in text.split("\n")), f"{template.id}: trailing whitespace"
        if template.inverted:
            assert pattern_fields(template.target) - {"answer"}, f"{template.id}: an inverted template must ask for an input"


def _lint_rendered(card: TaskCard, template_id: str, where: str, example: Example, rendered) -> None:
    label = f"{card.name} {template_id} {where}"
    assert rendered.targets.strip(), f"{label}: empty target"
    for text in (rendered.inputs, rendered.targets):
        assert not _PLACEHOLDER.search(text), f"{label}: unfilled placeholder in {text!r}"
        assert "\\n" not in text, f"{label}: literal backslash-n"
    assert rendered.inputs == rendered.inputs.strip(), f"{label}: whitespace at the edges of the input"
    if rendered.options:
        assert rendered.options[rendered.answer_index] == rendered.targets, f"{label}: gold not among the options"
        assert len(set(rendered.options)) == len(rendered.options), f"{label}: repeated options"


@pytest.mark.parametrize("name", sorted(COT_TASKS))
def test_cot_cards_put_the_rationale_before_the_answer(name: str):
    card = catalog()[name]
    example = next(row for split in fixture_examples(name).values() for row in split)
    assert example["rationale"] and "<<" not in example["rationale"] and "####" not in example["rationale"]
    rendered = render(card, card.templates[0], example, PromptFormat(cot=True))
    assert rendered.targets.startswith(example["rationale"].strip())
    assert rendered.targets.endswith(f"So the answer is {example['answer']}.")


def test_field_rules_on_real_dataset_shapes():
    squad_v2 = fixture_examples("squad_v2")["test"]
    assert {row["answer"] for row in squad_v2} >= {"unanswerable", "57 kilometres"}
    arc = fixture_examples("arc_easy")["validation"]
    numbered = next(row for row in arc if row["answerKey"].isdigit())
    assert numbered["answer"] == numbered["choices"]["text"][int(numbered["answerKey"]) - 1]
    story = fixture_examples("story_cloze")["train"][1]  # answer_right_ending 2
    assert story["answer"] == story["sentence_quiz2"] and story["context"].count(".") == 4
    assert all(row["sentiment"] != 2 for row in fixture_examples("sentiment140")["test"])  # neutral tweets dropped
    punct = fixture_examples("fix_punct")
    assert all(not re.search(r"[^\w\s]", row["text"]) and re.search(r"[^\w\s]", row["answer"]) for rows in punct.values() for row in rows)
    assert sum(len(rows) for rows in punct.values()) == 9  # the one sentence without punctuation is dropped
    assert [row["answer"] for row in fixture_examples("stsb")["train"]] == ["4", "0", "3"]
    gsm = fixture_examples("gsm8k")["train"][0]
    assert gsm["answer"] == "26" and gsm["rationale"].endswith("36 - 10 = 26.")
    dart = fixture_examples("dart")["train"][0]
    assert dart["data"] == "Mars Hill College, JOINED, 1973 | Mars Hill College, LOCATION, Mars Hill, North Carolina"


def test_mnli_trains_once_for_its_family():
    matched, mismatched = fixture_examples("mnli_matched"), fixture_examples("mnli_mismatched")
    assert matched["train"] and not mismatched["train"] and mismatched["test"]
    assert catalog()["mnli_mismatched"].source.splits["train"] == "none"


def test_opinion_abstracts_render_from_their_tfds_export_shape():
    for name, opinions, summary in (
        ("opinion_abstracts_idebate", "_argument_sentences", "_claim"),
        ("opinion_abstracts_rotten_tomatoes", "_critics", "_critic_consensus"),
    ):
        examples = fixture_examples(name)
        assert all(examples[split] for split in ("train", "validation", "test")), f"{name}: hashed into all splits"
        for example in (row for rows in examples.values() for row in rows):
            pairs = example[opinions]
            assert isinstance(pairs, list) and {"key", "value"} == set(pairs[0])  # TFDS: Sequence({key, value})
            assert example["document"] == " ".join(pair["value"] for pair in pairs)
            assert example["answer"] == example[summary]


def test_idebate_claims_of_one_debate_share_a_split():
    examples = fixture_examples("opinion_abstracts_idebate")
    where = {row["_claim"]: split for split, rows in examples.items() for row in rows}
    same_debate = ("A shorter week makes workers more productive.", "A four-day week would cut commuting emissions.")
    assert where[same_debate[0]] == where[same_debate[1]]


@pytest.mark.parametrize("name", ["para_crawl_enes", "fix_punct", "wiki_lingua_en"])
def test_train_only_datasets_are_hashed_into_held_out_splits(name: str):
    assert sorted(path.name for path in fixture_dir(catalog()[name]).iterdir()) == ["train.jsonl"]
    examples = fixture_examples(name)
    assert examples["train"] and (examples["validation"] or examples["test"])


def test_a_card_naming_a_feature_its_fixture_lacks_fails():
    card = catalog()["opinion_abstracts_idebate"]
    stale = card.model_copy(update={"fields": {**card.fields, "answer": "claim"}})  # the pre-TFDS name
    stale.path = card.path
    with pytest.raises(FlanlabError, match=r"has no field 'claim'"):
        load_examples(with_fixture_source(stale), "train")


def test_hub_cards_use_current_ids():
    """The ids and revisions issue 18 found stale: every hub card points where `datasets` 4+ can load it."""
    retired = {"story_cloze", "definite_pronoun_resolution", "web_nlg", "para_crawl", "wiki_lingua", "lukaemon/bbh",
               "ybisk/piqa", "ErnestSDavis/winograd_wsc"}
    assert not {card.name for card in catalog().values() if card.source.locator in retired}
    script_only = {
        "allenai/cosmos_qa", "stanfordnlp/sentiment140", "Yale-LILY/dart", "Harvard/gigaword", "Samsung/samsum",
        "deepmind/math_dataset", "allenai/quac", "CogComp/trec", "webnlg-challenge/web_nlg", "ParaCrawl/para_crawl",
    }
    for card in catalog().values():
        if card.source.locator in script_only:
            assert card.source.revision == "refs/convert/parquet" and card.source.config, card.name
    manual = {card.name for card in catalog().values() if card.manual_download}
    assert manual == {"story_cloze", "newsroom", "opinion_abstracts_idebate", "opinion_abstracts_rotten_tomatoes"}
