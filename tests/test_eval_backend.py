"""The scoring backend: shared-prompt scores equal separate scoring, at every batch size and padding side."""

from __future__ import annotations

import itertools

import pytest
import torch

from flanlab.evaluate.backend import HFBackend, near_tie
from flanlab.evaluate.requests import GenerateRequest, RankRequest
from flanlab.models import load_model

REQUESTS = [
    RankRequest("Premise: the cat sat.\nDoes it follow?" * (1 + i % 3) + f" #{i}", ("yes", "no", "it is not possible to tell"))
    for i in range(8)
] + [RankRequest("Pick a colour:", ("red", "dark green")), RankRequest("", ("a",))]


def _plain_logprob(model, backend: HFBackend, prompt: str, option: str) -> float:
    """The log-likelihood of one option by a plain forward pass, without any of the backend's tricks."""
    prompt_ids, option_ids = backend.prompt_ids(prompt), backend.option_ids(option)
    with torch.inference_mode():
        if backend.is_seq2seq:
            logits = model(input_ids=torch.tensor([prompt_ids]), labels=torch.tensor([option_ids])).logits[0]
            return torch.log_softmax(logits, -1)[torch.arange(len(option_ids)), torch.tensor(option_ids)].sum().item()
        logits = torch.log_softmax(model(torch.tensor([prompt_ids + option_ids])).logits[0], -1)
    return sum(logits[len(prompt_ids) - 1 + k, token].item() for k, token in enumerate(option_ids))


@pytest.fixture(scope="module", params=["causal", "seq2seq"])
def loaded(request, tiny_causal, tiny_seq2seq):
    return load_model(tiny_causal if request.param == "causal" else tiny_seq2seq)


def test_scores_match_a_plain_forward_pass(loaded):
    model, tokenizer = loaded
    backend = HFBackend(model, tokenizer, batch_size=8)
    scores = backend.score(REQUESTS)
    for request, result in zip(REQUESTS[::3], scores[::3]):
        expected = [_plain_logprob(model, backend, request.prompt, option) for option in request.options]
        assert result.logprob == pytest.approx(expected, abs=1e-4)
        assert result.num_tokens == tuple(len(backend.option_ids(option)) for option in request.options)


def test_invariant_to_batch_size_prompt_sharing_and_padding_side(loaded):
    model, tokenizer = loaded
    reference = HFBackend(model, tokenizer, batch_size=1, share_prompt=False, padding_side="right").score(REQUESTS)
    for batch_size, share, side in itertools.product((1, 8, 32), (True, False), ("left", "right")):
        scores = HFBackend(model, tokenizer, batch_size=batch_size, share_prompt=share, padding_side=side).score(REQUESTS)
        for got, want in zip(scores, reference):
            assert got.logprob == pytest.approx(want.logprob, abs=1e-4), (batch_size, share, side)
            assert max(range(len(got.logprob)), key=got.logprob.__getitem__) == max(
                range(len(want.logprob)), key=want.logprob.__getitem__
            )


def test_options_split_over_rows_when_they_do_not_fit_together(tiny_causal):
    model, tokenizer = load_model(tiny_causal)
    separate = HFBackend(model, tokenizer, batch_size=4, max_length=100, share_prompt=False).score(REQUESTS[:4])
    tight_backend = HFBackend(model, tokenizer, batch_size=4, max_length=100)
    ids = {(r.delimiter, o, r.chat): tight_backend.option_ids(o, r.delimiter, r.chat) for r in REQUESTS[:4] for o in r.options}
    rows = tight_backend._rows(REQUESTS[:4], ids)
    assert len(rows) > 4  # at least one request needed several rows
    for got, want in zip(tight_backend.score(REQUESTS[:4]), separate):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-4)


PROMPTS = [f"Question {i}: what comes next?" * (1 + i % 3) for i in range(6)]


def test_generation_does_not_depend_on_batch_size(loaded):
    model, tokenizer = loaded
    free = HFBackend(model, tokenizer, batch_size=1).generate([GenerateRequest(p, (), 12) for p in PROMPTS])
    batched = HFBackend(model, tokenizer, batch_size=4).generate([GenerateRequest(p, (), 12) for p in PROMPTS])
    assert batched == free


def test_generation_stops_before_a_stop_sequence(tiny_causal):
    model, tokenizer = load_model(tiny_causal)
    prompts = PROMPTS
    free = HFBackend(model, tokenizer, batch_size=4).generate([GenerateRequest(p, (), 12) for p in prompts])
    text = next(t for t in free if len(t) >= 4)
    stop = text[2:4]
    cut = HFBackend(model, tokenizer, batch_size=4).generate([GenerateRequest(prompts[free.index(text)], (stop,), 12)])
    assert cut == [text[: text.find(stop)].strip()]


def test_prompt_tuned_model_scores_like_peft_forward(tiny_causal):
    """A soft prompt is prepended as training does; the scores equal PEFT's own forward pass with
    the virtual-token logits sliced off (the misalignment prompt-tuning evaluations often get wrong)."""
    from peft import PromptTuningConfig, get_peft_model

    from flanlab.models.zoo import peft_warnings_silenced

    base, tokenizer = load_model(tiny_causal)
    torch.manual_seed(0)
    with peft_warnings_silenced():
        model = get_peft_model(base, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    with torch.no_grad():
        model.prompt_encoder["default"].embedding.weight.normal_()
    model.eval()
    requests = REQUESTS[:5]
    backend = HFBackend(model, tokenizer, batch_size=3)
    assert backend.virtual_tokens == 4
    for request, result in zip(requests, backend.score(requests)):
        prompt_ids = backend.prompt_ids(request.prompt)
        expected = []
        for option in request.options:
            option_ids = backend.option_ids(option)
            with torch.inference_mode():
                logits = model(input_ids=torch.tensor([prompt_ids + option_ids])).logits[0, 4:]
            logprobs = torch.log_softmax(logits, -1)
            expected.append(sum(logprobs[len(prompt_ids) - 1 + k, t].item() for k, t in enumerate(option_ids)))
        assert result.logprob == pytest.approx(expected, abs=1e-4)
    unshared = HFBackend(model, tokenizer, batch_size=1, share_prompt=False, padding_side="right").score(requests)
    for got, want in zip(backend.score(requests), unshared):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-4)


class ScriptedModel:
    """A causal 'model' whose greedy continuation is a fixed text, fed through the stopping criteria
    token by token the way `generate` does."""

    config = type("Config", (), {"is_encoder_decoder": False, "max_position_embeddings": 512})()
    dtype = torch.float32

    def __init__(self, tokenizer, text: str) -> None:
        self.script = tokenizer(text, add_special_tokens=False).input_ids

    def parameters(self):  # the backend reads the device from the first parameter
        return iter([torch.zeros(1)])

    def generate(self, input_ids, max_new_tokens, stopping_criteria=None, **_):
        out = input_ids
        for token in self.script[:max_new_tokens]:
            out = torch.cat([out, torch.full((out.shape[0], 1), token)], dim=1)
            if stopping_criteria is not None and bool(stopping_criteria(out, None).all()):
                break
        return out


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("\n\n- yes\n- no\n\nThe answer is no.", "- yes\n- no"),  # leading blank lines are not a stop
        ("  \n\n\nno\n\nmore", "no"),
        ("\n\n", ""),  # nothing but whitespace: empty, and decoding ran to the limit
        ("yes\n\nno", "yes"),
    ],
)
def test_leading_whitespace_never_triggers_a_stop(tiny_causal, script, expected):
    _, tokenizer = load_model(tiny_causal)
    backend = HFBackend(ScriptedModel(tokenizer, script), tokenizer)
    [text] = backend.generate([GenerateRequest("Question: is it?", ("\n\n",), 64)])
    assert text == expected
BINARY = [RankRequest(f"Question {i}: is {i * 7 % 13} more than {i * 3 % 11}?" * (1 + i % 2), ("yes", "no"))
          for i in range(24)]


def _linear_output_dtypes(model, run) -> set:
    """The dtypes the model's linear layers produced while ``run()`` ran."""
    seen: set = set()
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype)) for m in linears]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def test_bf16_agrees_with_fp32_on_well_separated_options(loaded):
    model, tokenizer = loaded
    requests = REQUESTS + BINARY
    fp32 = HFBackend(model, tokenizer, batch_size=8, precision="fp32").score(requests)
    bf16_backend = HFBackend(model, tokenizer, batch_size=8, precision="bf16")
    out: list = []
    assert torch.bfloat16 in _linear_output_dtypes(model, lambda: out.extend(bf16_backend.score(requests)))
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the caller's model is left as it was
    worst = max(abs(a - b) for x, y in zip(fp32, out) for a, b in zip(x.logprob, y.logprob))
    assert 0 < worst < 0.1  # really computed in bf16, and close
    separated = 0
    for x, y in zip(fp32, out):
        ranked = sorted(x.logprob, reverse=True)
        if len(ranked) > 1 and ranked[0] - ranked[1] > 4 * worst:
            separated += 1
            assert x.logprob.index(ranked[0]) == y.logprob.index(max(y.logprob))
    assert separated >= len(requests) // 2


def test_bf16_settles_near_ties_in_fp32(loaded):
    model, tokenizer = loaded
    ties = [RankRequest(f"Say it {i}:", ("same", "same", "different words")) for i in range(3)]  # exact ties
    requests = BINARY[:6] + ties
    fp32 = HFBackend(model, tokenizer, batch_size=4, precision="fp32").score(requests)
    plain_bf16 = HFBackend(model, tokenizer, batch_size=4, precision="bf16", near_tie_nats=0).score(requests)
    backend = HFBackend(model, tokenizer, batch_size=4, precision="bf16", near_tie_nats=0.25)
    settled = backend.score(requests)
    close = [i for i, s in enumerate(plain_bf16) if near_tie(s, "sum", 0.25)]
    assert set(range(6, 9)) <= set(close) and backend.rescored_fp32 == len(close)
    assert max(abs(a - b) for i in close for a, b in zip(plain_bf16[i].logprob, fp32[i].logprob)) > 1e-4
    for i, scores in enumerate(settled):
        assert scores.logprob == pytest.approx((fp32 if i in close else plain_bf16)[i].logprob, abs=1e-5)


def test_near_tie_scales_with_the_ranking_normalisation():
    from flanlab.evaluate.requests import OptionScores

    scores = OptionScores(logprob=(-2.0, -2.3, -9.0), num_tokens=(1, 4, 2), num_chars=(3, 20, 6))
    assert near_tie(scores, "sum", 0.35) and not near_tie(scores, "sum", 0.25)  # the top two are 0.3 apart
    # per token: -2.0 vs -0.575 -> option 1 leads by 1.425; a 0.5-nat shift moves it by at most 0.25/4 + 0.25/1
    assert not near_tie(scores, "per_token", 0.5) and near_tie(scores, "per_token", 4.0)
    assert not near_tie(OptionScores((-1.0,), (1,), (1,)), "sum", 10.0)


@pytest.mark.slow
def test_single_token_options_score_prompts_alone_like_a_plain_forward_pass():
    """With the default model, " yes" / " no" are one token each: rows hold only the prompts (no mask)."""
    model, tokenizer = load_model("smollm2-135m")
    backend = HFBackend(model, tokenizer, batch_size=4)
    requests = BINARY[:6]
    assert all(len(backend.option_ids(option)) == 1 for option in ("yes", "no"))
    for precision in ("fp32", "bf16"):
        scores = HFBackend(model, tokenizer, batch_size=4, precision=precision, near_tie_nats=0).score(requests)
        for request, result in zip(requests, scores):
            expected = [_plain_logprob(model, backend, request.prompt, option) for option in request.options]
            assert result.logprob == pytest.approx(expected, abs=1e-3 if precision == "fp32" else 0.3)
            if precision == "fp32" or abs(expected[0] - expected[1]) > 0.3:
                assert (result.logprob[0] > result.logprob[1]) == (expected[0] > expected[1])


EXEMPLARS = "".join(f"Example {k}: the sky over the harbour was grey and calm. Answer: yes\n\n" for k in range(4))
SHARED = [
    RankRequest(EXEMPLARS + f"Query {i}: is it raining?" * (1 + i % 2), ("yes", "no", "it is not possible to tell"))
    for i in range(6)
] + [RankRequest(EXEMPLARS, ("yes", "no")), RankRequest("Unrelated prompt.", ("a", "b b"))]


def test_shared_prompt_openings_are_grouped_and_cut():
    from flanlab.evaluate.backend import _Row, shared_prefixes

    base = list(range(100, 140))
    rows = [_Row(i, base + [i, i + 1], [(0, [1])]) for i in range(4)]
    rows.append(_Row(4, base[:35] + [7, 7, 7, 7, 7], [(0, [1])]))  # shares only 35 tokens: not cut to 35 for all
    rows.append(_Row(5, list(range(500, 540)), [(0, [1])]))  # shares nothing
    rows.append(_Row(6, base[:20], [(0, [1])]))  # too short a common opening
    groups = shared_prefixes(rows, minimum=32)
    by_request = {row.request: (prefix, row) for prefix, group in groups for row in group}
    assert sorted(by_request) == list(range(7))
    for i in range(4):
        prefix, row = by_request[i]
        assert prefix == base and row.prompt == [i, i + 1]
    for i in (4, 5, 6):
        prefix, row = by_request[i]
        assert prefix == [] and row.prompt == rows[i].prompt
    # queries that open alike share a little more with their neighbours than with the rest: still one group
    alike = [_Row(i, base + [1, 2 + i // 3, i], [(0, [1])]) for i in range(6)]
    [(prefix, group)] = shared_prefixes(alike, minimum=32)
    assert prefix == base + [1] and len(group) == 6
    same = [_Row(0, base, [(0, [1])]), _Row(0, base, [(1, [2])])]  # one request's options over two rows
    [(prefix, group)] = shared_prefixes(same, minimum=32)
    assert prefix == base[:-1] and all(row.prompt == base[-1:] for row in group)  # one token left to predict from


@pytest.mark.parametrize("side", ["left", "right"])
def test_a_shared_prefix_changes_no_score(tiny_causal, side):
    model, tokenizer = load_model(tiny_causal)
    backend = HFBackend(model, tokenizer, batch_size=3, padding_side=side)
    ids = {(r.delimiter, o, r.chat): backend.option_ids(o, r.delimiter, r.chat) for r in SHARED for o in r.options}
    from flanlab.evaluate.backend import shared_prefixes

    assert any(len(prefix) >= 32 for prefix, _ in shared_prefixes(backend._rows(SHARED, ids)))  # the path is taken
    separate = HFBackend(model, tokenizer, batch_size=1, share_prompt=False, padding_side="right").score(SHARED)
    for got, want in zip(backend.score(SHARED), separate):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-4)
    for request, result in zip(SHARED[:2], backend.score(SHARED[:2])):
        expected = [_plain_logprob(model, backend, request.prompt, option) for option in request.options]
        assert result.logprob == pytest.approx(expected, abs=1e-4)
