"""The prompt layout: one inputs/targets join for training, scoring, exemplars and the lm-eval export."""

from __future__ import annotations

import json

import pytest
import yaml

from flanlab.errors import FlanlabError
from flanlab.evaluate import EvalConfig
from flanlab.evaluate.backend import HFBackend
from flanlab.evaluate.lm_eval_export import export_lm_eval
from flanlab.evaluate.runner import plan_requests
from flanlab.mixture import MixtureRecipe, build_mixture
from flanlab.mixture.reader import read_text_columns as read_training_rows
from flanlab.models import load_model
from flanlab.prompts.formats import COT_TRIGGER, PromptFormat, render
from flanlab.prompts.layout import DEFAULT_LAYOUT, PromptLayout
from flanlab.tasks.registry import TaskRegistry
from flanlab.train.data import tokenize_examples
from tests.eval_fixtures import nli_card
from tests.test_prompts import CARD, PLAIN, POOL, example

LAYOUTS = [PromptLayout(delimiter="space"), PromptLayout(delimiter="newline"), PromptLayout(answer_cue="Answer:")]


@pytest.mark.parametrize("layout", LAYOUTS, ids=["space", "newline", "cue"])
def test_training_scoring_and_export_use_the_same_join(layout, tiny_causal, tmp_path):
    card = nli_card(tmp_path)
    registry = TaskRegistry([card])
    config = EvalConfig(tasks=["task:toy_nli"], templates=["a"], limit=1, best_dev=False, layout=layout)
    [(_, [item])] = plan_requests([card], config, len)
    rendered = item.rendered
    gold = rendered.options[rendered.answer_index]
    expected = layout.join(rendered.inputs, gold)
    assert rendered.delimiter == layout.separator and rendered.inputs == layout.close(rendered.inputs)
    model, tokenizer = load_model(tiny_causal)  # byte-level: decoding ids gives the exact text back

    # training: the row as a mixture stores it, tokenised the way the trainer does
    recipe = MixtureRecipe(tasks=["toy_nli"], total_size=4, layout=layout, options_rate=1.0)
    build_mixture(recipe, registry, tmp_path / "mix")
    inputs, _, delimiters = read_training_rows(tmp_path / "mix")
    assert set(delimiters) == {layout.separator}
    trained = tokenize_examples([rendered.inputs], [gold], tokenizer, "causal", 4096, 64, delimiters=delimiters[:1])
    ids = [*trained.input_ids[0], *trained.target_ids[0][:-1]]  # without the EOS
    assert tokenizer.decode(ids, skip_special_tokens=True) == expected
    if layout.answer_cue:  # every training prompt ends with the cue the evaluation prompts end with
        assert all(text.endswith("\n" + layout.answer_cue) for text in inputs)
        assert rendered.inputs.endswith(layout.answer_cue)

    # scoring: the prompt ids then the option's ids, as the backend lays them out
    backend = HFBackend(model, tokenizer)
    scored = backend.prompt_ids(item.request.prompt) + backend.option_ids(gold, item.request.delimiter)
    assert tokenizer.decode(scored, skip_special_tokens=True) == expected

    # the lm-eval export: its prompt, target_delimiter and choice
    [name] = export_lm_eval(registry, config, tmp_path / "lm").tasks
    spec = yaml.safe_load((tmp_path / "lm" / f"{name}.yaml").read_text())
    [record] = [json.loads(line) for line in open(spec["dataset_kwargs"]["data_files"]["test"])]
    assert record["prompt"] + spec["target_delimiter"] + record["options"][record["answer_index"]] == expected


def test_answer_cue_closes_the_prompt_unless_the_template_has_its_own():
    cue = PromptLayout(delimiter="space", answer_cue="Answer:")
    assert cue.close("Is it?") == "Is it?\nAnswer:" and cue.join(cue.close("Is it?"), "yes") == "Is it?\nAnswer: yes"
    assert cue.close("Question: Is it?\nA:") == "Question: Is it?\nA:"
    assert PromptLayout(delimiter="newline").join("Is it?", "yes") == "Is it?\nyes"
    rendered = render(CARD, PLAIN, example(1), PromptFormat(answer_cue="Answer:", delimiter="space"))
    assert rendered.inputs == "Question: Is 1 a number?\n\nOPTIONS:\n- yes\n- no\nAnswer:" and rendered.delimiter == " "


def test_exemplars_show_the_layout_join_and_cot_prompts_end_with_the_trigger():
    fmt = PromptFormat.parse("fewshot:2,options_style=none,delimiter=newline,answer_cue=Answer:")
    rendered = render(CARD, PLAIN, POOL[0], fmt, exemplars=POOL[1:3])
    assert rendered.inputs == (
        "Question: Is 1 a number?\nAnswer:\nno\n\n"
        "Question: Is 2 a number?\nAnswer:\nyes\n\n"
        "Question: Is 0 a number?\nAnswer:"
    )
    assert PromptFormat.parse(fmt.spec) == fmt
    cot = render(CARD, PLAIN, POOL[0], PromptFormat(cot=True, answer_cue="Answer:"))
    assert cot.inputs.endswith(COT_TRIGGER)  # the trigger is the cue: no "Answer:" before the reasoning


def test_bad_layouts_are_one_line_errors():
    with pytest.raises(FlanlabError, match="unknown delimiter 'tab'"):
        PromptFormat.parse("zeroshot,delimiter=tab")
    with pytest.raises(ValueError, match="one line"):
        PromptLayout(answer_cue="Answer\nNow:")
    assert EvalConfig().layout == MixtureRecipe().layout == DEFAULT_LAYOUT
