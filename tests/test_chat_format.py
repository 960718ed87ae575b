"""The chat format: training masks all but the assistant turn; scoring equals the hand-templated string."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from flanlab.errors import FlanlabError
from flanlab.evaluate import EvalConfig, evaluate
from flanlab.evaluate.runner import plan_requests, select_cards
from flanlab.prompts.chat import ChatTemplate
from flanlab.tasks.registry import TaskRegistry
from flanlab.train import train
from flanlab.train.batching import IGNORE_INDEX, causal_batch
from flanlab.train.data import load_tokenized_mixture
from tests.eval_fixtures import nli_card
from tests.train_support import addition_rows, tiny_config, write_mixture

# A ChatML-like template with a default system turn (as SmolLM2's has), ending each turn with EOS.
TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<|system|>\nAnswer briefly.</s>\n{% endif %}"
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    """The tiny random Llama with a chat template given to its tokenizer (it ships without one)."""
    from transformers import AutoTokenizer

    from flanlab.models.tiny import make_tiny_model

    folder = make_tiny_model("causal", tmp_path_factory.mktemp("chat") / "model")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def tokenizer(chat_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(chat_model)


def _generation_prompt(tokenizer, user: str) -> str:
    messages = [{"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def test_training_labels_are_exactly_the_assistant_turn(chat_model, tokenizer, tmp_path, isolated_home):
    rows = addition_rows(6)
    mixture = write_mixture(tmp_path / "mix", rows, shards=1)
    data = load_tokenized_mixture(mixture, tokenizer, "causal", 128, 8, chat=ChatTemplate(tokenizer))
    assert data.stats["chat_template"] is True and data.stats["kept_examples"] == 6
    batch = causal_batch([[0, 1, 2], [3, 4, 5]], data, tokenizer.pad_token_id)  # three examples packed per row
    ids, labels = batch.tensors["input_ids"], batch.tensors["labels"]
    for r, row in enumerate(([0, 1, 2], [3, 4, 5])):
        offset = 0
        for example in row:
            user, reply = rows[example]["inputs"], rows[example]["targets"]
            size = len(data.input_ids[example]) + len(data.target_ids[example])
            seen = tokenizer.decode(ids[r, offset : offset + size])
            # the template's own text, its end of turn included
            assert seen == _generation_prompt(tokenizer, user) + reply + "</s>"
            learned = labels[r, offset : offset + size]
            assert tokenizer.decode(learned[learned != IGNORE_INDEX]) == reply + "</s>"
            context = len(data.input_ids[example])
            assert (learned[:context] == IGNORE_INDEX).all() and (learned[context:] != IGNORE_INDEX).all()
            offset += size
        assert (labels[r, offset:] == IGNORE_INDEX).all()  # padding learns nothing


def test_chat_training_runs_and_keeps_the_template_around_a_cut_input(chat_model, tokenizer, tmp_path, isolated_home):
    long_rows = [{"inputs": "x" * 200 + " What is 2 plus 2?", "targets": "4"}] + addition_rows(20)
    mixture = write_mixture(tmp_path / "mix", long_rows, shards=1)
    settings = {"max_steps": 2, "chat_template": True, "max_input_tokens": 96, "pack_length": 128}
    result = train(tiny_config(chat_model, mixture, tmp_path / "run", **settings))
    assert result.steps == 2 and result.tokenization["chat_template"] is True
    assert result.tokenization["truncated_examples"] == 1
    data = load_tokenized_mixture(mixture, tokenizer, "causal", 96, 8, chat=ChatTemplate(tokenizer))
    cut = tokenizer.decode(data.input_ids[0])
    assert len(data.input_ids[0]) == 96
    assert cut.startswith("<|system|>\nAnswer briefly.</s>\n<|user|>\n") and cut.endswith("2?</s>\n<|assistant|>\n")


def test_chat_scoring_equals_scoring_the_hand_templated_string(chat_model, tokenizer, tmp_path, isolated_home):
    from transformers import AutoModelForCausalLM

    registry = TaskRegistry([nli_card(tmp_path)])
    config = EvalConfig(
        model=str(chat_model), tasks=["task:toy_nli"], limit=3, best_dev=False, bootstrap_resamples=0, precision="fp32"
    )  # fp32: compared with a plain fp32 forward pass
    evaluate(config.model_copy(update={"chat_template": True}), registry=registry, out=tmp_path / "o", progress=False)
    lines = (tmp_path / "o" / "samples.jsonl").read_text().splitlines()
    samples = {(s["template_id"], s["example_index"]): s for s in map(json.loads, lines)}
    plain = plan_requests(select_cards(registry, config.tasks), config, lambda text: len(text))
    model = AutoModelForCausalLM.from_pretrained(chat_model).eval()
    checked = 0
    for run, items in plain:
        for item in items:
            sample = samples[run.template_id, item.example_index]
            prompt = _generation_prompt(tokenizer, item.rendered.inputs)
            assert sample["prompt"] == prompt
            for option, scored in zip(item.rendered.options, sample["scores"]["logprob"]):
                assert scored == pytest.approx(_logprob(model, tokenizer, prompt, option), abs=1e-4)
                checked += 1
    assert checked == 3 * 3 * 3  # 3 templates x 3 examples x 3 options


def _logprob(model, tokenizer, prompt: str, option: str) -> float:
    context = tokenizer(prompt, add_special_tokens=False).input_ids
    reply = tokenizer(option, add_special_tokens=False).input_ids
    ids = torch.tensor([context + reply])
    with torch.no_grad():
        logprobs = model(ids).logits[0].log_softmax(-1)
    positions = np.arange(len(context) - 1, len(context) + len(reply) - 1)
    return float(logprobs[positions, reply].sum())


def test_a_template_that_rewrites_the_turns_is_refused(tokenizer):
    tokenizer.chat_template = "{% for message in messages %}{{ message['content'] | trim }}</s>{% endfor %}"
    chat = ChatTemplate(tokenizer, "trimming-model")
    assert chat.split("is it?", "yes").context == "is it?</s>"
    with pytest.raises(FlanlabError, match="trimming-model renders this example differently"):
        chat.split("is it?  ", "yes")  # the template would drop the spaces the user turn holds
    tokenizer.chat_template = "{% for message in messages %}{{ message['content'] | upper }}</s>{% endfor %}"
    with pytest.raises(FlanlabError, match="does not show each turn's text exactly once"):
        ChatTemplate(tokenizer, "shouting-model")


def test_model_without_a_chat_template_is_one_line_exit_2(tiny_causal, tmp_path, isolated_home, monkeypatch, capsys):
    from flanlab.cli.app import main

    mixture = write_mixture(tmp_path / "mix", addition_rows(4))
    for command in (
        ["train", "--model", str(tiny_causal), "--mixture", str(mixture), "--out", str(tmp_path / "run"),
         "--chat-template"],
        ["eval", "--model", str(tiny_causal), "--tasks", "task:bb_epistemic_reasoning", "--chat-template",
         "--out", str(tmp_path / "e")],
    ):
        monkeypatch.setattr("sys.argv", ["flanlab", *command])
        with pytest.raises(SystemExit) as exited:
            main()
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert exited.value.code == 2 and "Traceback" not in err
        assert len(errors) == 1 and "has no chat template" in errors[0]
