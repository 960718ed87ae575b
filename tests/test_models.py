import pytest
import torch

from flanlab.errors import FlanlabError
from flanlab.models.zoo import load_model, model_fingerprint, prepare_model, resolve_model_path
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
