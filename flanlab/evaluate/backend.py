"""The Hugging Face scoring backend: option log-likelihoods with a shared prompt, and greedy decoding.

Causal models score a request in one pass: the prompt and all its options are laid out in one row
(``prompt | option 1 | option 2 | ...``) with a 4D attention mask that lets each option see only
the prompt and itself, and position ids that restart each option right after the prompt. The prompt
is thus computed once, and the numbers equal scoring ``prompt + option`` separately (the
``share_prompt=False`` path, kept for the invariance test). An option's last token is only ever
predicted, never a predictor, so it is not fed: single-token options cost no position at all.
Only the logits the scores need are computed, never the full vocabulary at every prompt position:
for plain-head architectures the output projection runs on the scored positions alone, in fp32.

In bf16 the transformer body runs under ``torch.autocast`` (fp32 residual stream, bf16 matrix
products) and the output head stays fp32; a score moves by up to a few tenths of a nat, so requests
whose options are that close are scored again in fp32 (``near_tie``). ``torch.no_grad`` rather than
``inference_mode`` lets autocast cast each weight once per ``score`` call instead of once per batch.
Greedy generation has no such settling: under bf16 it may pick another token at a near tie.

Requests whose prompts open with the same long run of tokens (few-shot prompts with one exemplar
set per template, see ``EvalConfig.exemplars``) go further: that common prefix runs once, and its
keys and values are reused by every request that shares it (`shared_prefixes`), so each request
feeds only its own tail. Causal models without a soft prompt only; the numbers are unchanged.

Seq2seq models run the encoder once per prompt and reuse its output for every option.

Tokenisation is the one training uses: prompt and ``delimiter + option`` (the request's join, see
flanlab/prompts/layout.py) are tokenised separately and the ids concatenated. A BOS token is
prepended only when the tokenizer adds one by itself. A chat request (its prompt already wrapped in
the chat template) is tokenised as `flanlab.prompts.chat` says: prompt and option as they stand, no
special tokens added, no delimiter.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from flanlab.errors import FlanlabError
from flanlab.evaluate.requests import GenerateRequest, OptionScores, Progress, RankRequest, no_progress
from flanlab.models.precision import Resolved, autocast
from flanlab.models.zoo import has_plain_head
from flanlab.prompts.chat import encode_piece
from flanlab.prompts.layout import DEFAULT_LAYOUT

# bf16 moved the gap between two options' summed log-likelihoods by at most 0.144 nats over the 321
# requests of benchmarks/bench_eval.py (smollm2-135m); requests closer than this margin are settled in fp32
NEAR_TIE_NATS = 0.25
# a common prompt opening shorter than this is recomputed per request: one extra forward pass and a
# copy of its cache per batch would cost more than it saves
MIN_SHARED_PREFIX = 32
KEEP_SHARED = 0.9  # a prompt joins a group of shared openings when it shares at least this much of it


@dataclass
class _Row:
    """One sequence to run: a request's prompt and some of its options (all, when sharing)."""

    request: int
    prompt: list[int]
    options: list[tuple[int, list[int]]]  # (option index, token ids)

    @property
    def length(self) -> int:
        """Positions fed: the prompt and each option without its last token."""
        return len(self.prompt) + sum(len(ids) - 1 for _, ids in self.options)


class HFBackend:
    """The `Backend` of a Hugging Face model: scores rank-classification requests and decodes
    generation requests."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        batch_size: int = 16,
        share_prompt: bool = True,
        padding_side: Literal["left", "right"] = "left",
        max_length: int | None = None,
        precision: Resolved = "fp32",
        rank_by: str = "sum",
        near_tie_nats: float = NEAR_TIE_NATS,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = max(1, batch_size)
        self.share_prompt = share_prompt
        self.padding_side = padding_side
        self.is_seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
        self.max_length = max_length or _model_max_length(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._bos = _bos_prefix(tokenizer)
        self.virtual_tokens = _soft_prompt_length(model)
        if self.virtual_tokens and self.is_seq2seq:
            raise FlanlabError("scoring a prompt-tuned encoder-decoder model is not supported")
        self.precision, self.rank_by, self.near_tie_nats = precision, rank_by, near_tie_nats
        self.rescored_fp32 = 0  # near ties scored again in fp32 (bf16 only)
        self.device_type = next(model.parameters()).device.type
        self.plain_head = has_plain_head(model.config)

    # ---- tokenisation -------------------------------------------------------------------------

    def prompt_ids(self, prompt: str, chat: bool = False) -> list[int]:
        if chat:
            ids = encode_piece(self.tokenizer, prompt)
        elif self.is_seq2seq:
            ids = self.tokenizer(prompt).input_ids
        else:
            ids = self._bos + self.tokenizer(prompt, add_special_tokens=False).input_ids
        # a continuation needs at least one token to be conditioned on
        return ids or [self.tokenizer.bos_token_id or self.tokenizer.eos_token_id]

    def option_ids(self, option: str, delimiter: str = DEFAULT_LAYOUT.separator, chat: bool = False) -> list[int]:
        if chat:
            return encode_piece(self.tokenizer, option)  # the assistant's reply: no delimiter
        if self.is_seq2seq:
            return self.tokenizer(option).input_ids  # the decoder target, EOS included
        return self.tokenizer(delimiter + option, add_special_tokens=False).input_ids

    # ---- rank classification ------------------------------------------------------------------

    def score(self, requests: Sequence[RankRequest], progress: Progress = no_progress) -> list[OptionScores]:
        """Log-likelihood of each option of each request, in request order.

        Under bf16, a request whose ranking a bf16 rounding error could flip (its leading options closer
        than ``near_tie_nats``) is scored again in fp32, so its prediction is the one fp32 would make.
        """
        scores = self._score(requests, self.precision, progress)
        if self.precision != "bf16" or self.near_tie_nats <= 0:
            return scores
        close = [i for i, s in enumerate(scores) if near_tie(s, self.rank_by, self.near_tie_nats)]
        for i, settled in zip(close, self._score([requests[i] for i in close], "fp32", no_progress)):
            scores[i] = settled
        self.rescored_fp32 += len(close)
        return scores

    def _score(self, requests: Sequence[RankRequest], precision: Resolved, progress: Progress) -> list[OptionScores]:
        import torch

        option_ids = {
            (request.delimiter, option, request.chat): self.option_ids(option, request.delimiter, request.chat)
            for request in requests
            for option in request.options
        }
        rows = self._rows(requests, option_ids)
        logprobs: list[list[float]] = [[0.0] * len(request.options) for request in requests]
        done: list[int] = [0] * len(requests)
        sharing = self.share_prompt and not self.is_seq2seq and not self.virtual_tokens
        groups = shared_prefixes(rows) if sharing else [([], rows)]
        with torch.no_grad(), autocast(precision, self.device_type):
            for prefix, group in groups:
                group.sort(key=lambda row: (-row.length, row.request))  # longest first: memory errors come early
                cache = self._prefix_cache(prefix) if prefix else None
                for start in range(0, len(group), self.batch_size):
                    batch = group[start : start + self.batch_size]
                    values = self._seq2seq_batch(batch) if self.is_seq2seq else self._causal_batch(batch, cache)
                    for row, row_values in zip(batch, values):
                        for (option_index, _), value in zip(row.options, row_values):
                            logprobs[row.request][option_index] = value
                        done[row.request] += len(row.options)
                    finished = {row.request for row in batch if done[row.request] == len(requests[row.request].options)}
                    progress(len(finished))
        return [
            OptionScores(
                logprob=tuple(logprobs[index]),
                num_tokens=tuple(
                    len(option_ids[request.delimiter, option, request.chat]) for option in request.options
                ),
                num_chars=tuple(len(option) for option in request.options),
            )
            for index, request in enumerate(requests)
        ]

    def _rows(self, requests: Sequence[RankRequest], option_ids: dict[tuple[str, str, bool], list[int]]) -> list[_Row]:
        rows: list[_Row] = []
        for index, request in enumerate(requests):
            key = request.delimiter, request.chat
            options = [(j, option_ids[key[0], option, key[1]]) for j, option in enumerate(request.options)]
            longest = max((len(ids) for _, ids in options), default=0)
            prompt = self.prompt_ids(request.prompt, request.chat)
            if not self.is_seq2seq:
                prompt = prompt[-max(1, self.max_length - longest) :]  # keep the end of an over-long prompt
            if not self.share_prompt:
                rows.extend(_Row(index, prompt, [option]) for option in options)
                continue
            if self.is_seq2seq:  # the decoder sees one option at a time; the encoder runs once
                rows.append(_Row(index, prompt, options))
                continue
            chunk: list[tuple[int, list[int]]] = []
            for option in options:  # several rows only when all options do not fit in one
                if chunk and _Row(index, prompt, [*chunk, option]).length > self.max_length:
                    rows.append(_Row(index, prompt, chunk))
                    chunk = []
                chunk.append(option)
            if chunk:
                rows.append(_Row(index, prompt, chunk))
        return rows

    @cached_property
    def _cache_name(self) -> str:
        """What this transformers version calls the key/value cache in forward() and its outputs
        (``past_key_values`` until 5.2x renamed it ``cache``)."""
        import inspect

        inner = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model  # under PEFT
        return "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"

    def _prefix_cache(self, prefix: list[int]) -> Any:
        """Keys and values of a prompt opening shared by several rows (batch of one)."""
        import torch

        ids = torch.tensor([prefix])
        body = self.model.base_model if self.plain_head else self.model
        extra = {} if self.plain_head else {"logits_to_keep": 1}
        output = body(input_ids=ids, position_ids=torch.arange(len(prefix))[None], use_cache=True, **extra)
        return output[self._cache_name]

    def _causal_batch(self, batch: list[_Row], prefix_cache: Any = None) -> list[list[float]]:
        """Option scores of one batch of rows; with ``prefix_cache`` the rows hold only the prompt tails
        that follow the shared prefix whose keys and values it holds."""
        import copy

        import torch

        width = max(row.length for row in batch)
        # rows that are prompts alone (every option a single token) need no mask: right-padded, plain
        # causal attention gives each prompt token exactly what it would see alone
        causal_only = (
            not self.virtual_tokens and prefix_cache is None and all(row.length == len(row.prompt) for row in batch)
        )
        left = self.padding_side == "left" and not causal_only
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        positions = torch.zeros((len(batch), width), dtype=torch.long)
        segments = torch.full((len(batch), width), -1, dtype=torch.long)  # -1 pad, 0 prompt, j>0 option j
        targets: list[tuple[int, int, int]] = []  # (row, position predicting it, token)
        spans: list[list[tuple[int, int]]] = []  # per row, per option: its slice of `targets`
        for r, row in enumerate(batch):
            offset = width - row.length if left else 0
            prompt_len = len(row.prompt)
            ids[r, offset : offset + prompt_len] = torch.tensor(row.prompt)
            positions[r, offset : offset + prompt_len] = torch.arange(prompt_len)
            segments[r, offset : offset + prompt_len] = 0
            cursor = offset + prompt_len
            row_spans = []
            for segment, (_, option) in enumerate(row.options, start=1):
                n = len(option) - 1  # the last token is predicted, never fed
                ids[r, cursor : cursor + n] = torch.tensor(option[:-1], dtype=torch.long)
                positions[r, cursor : cursor + n] = torch.arange(prompt_len, prompt_len + n)
                segments[r, cursor : cursor + n] = segment
                first = len(targets)
                predictors = [offset + prompt_len - 1, *range(cursor, cursor + n)]
                targets.extend((r, p, token) for p, token in zip(predictors, option))
                row_spans.append((first, len(targets)))
                cursor += n
            spans.append(row_spans)
        rows_t = torch.tensor([r for r, _, _ in targets])
        cols_t = torch.tensor([p for _, p, _ in targets])
        tokens_t = torch.tensor([token for _, _, token in targets])
        past = None
        if prefix_cache is not None:  # a copy per batch: the forward pass appends this batch's keys to it
            past = copy.deepcopy(prefix_cache)
            past.batch_repeat_interleave(len(batch))
            positions += past.get_seq_length()
        logits = self._scored_logits(ids, positions, None if causal_only else segments, rows_t, cols_t, past)
        picked = torch.log_softmax(logits, dim=-1)[torch.arange(len(targets)), tokens_t]
        values = picked.tolist()
        return [[sum(values[a:b]) for a, b in row_spans] for row_spans in spans]

    def _scored_logits(
        self, ids: Any, positions: Any, segments: Any | None, rows: Any, cols: Any, past: Any = None
    ) -> Any:
        """fp32 logits at the (row, column) positions that predict a scored token; ``segments=None``:
        right-padded prompts that need only the causal mask (sdpa then skips the masked half);
        ``past``: a shared prefix's keys and values, which every real position also sees."""
        import torch

        width = ids.shape[1]
        model, inputs = self.model, {"input_ids": ids}
        if self.virtual_tokens:
            model, inputs, positions, segments = self._with_soft_prompt(ids, positions, segments)
        mask = self._segment_mask(segments) if segments is not None else None
        common = {"attention_mask": mask, "position_ids": positions, "use_cache": past is not None}
        if past is not None:
            common["attention_mask"] = self._behind_prefix(mask, segments, past.get_seq_length())
            common[self._cache_name] = past
        if self.plain_head:
            hidden = model.base_model(**inputs, **common).last_hidden_state
            picked = hidden[:, -width:][rows, cols]  # counted from the end: a soft prompt in front changes nothing
            with torch.autocast(self.device_type, enabled=False):
                return model.get_output_embeddings()(picked.float())
        keep = width - int(cols.min())
        logits = model(**inputs, **common, logits_to_keep=keep).logits
        return logits[rows, cols - (width - keep)].float()

    def _with_soft_prompt(self, ids: Any, positions: Any, segments: Any) -> tuple[Any, dict[str, Any], Any, Any]:
        """Prepend a prompt-tuned model's soft prompt as embeddings, as training does.

        PEFT's own forward would prepend it too, but it only extends 2D masks; here the soft prompt
        is part of the shared prompt (segment 0) and positions continue after it, so each option
        still sees only the prompt and itself, and the scored logits keep their places from the end.
        """
        import torch

        batch, virtual = ids.shape[0], self.virtual_tokens
        base = self.model.get_base_model()
        embeds = base.get_input_embeddings()(ids)
        soft = self.model.get_prompt(batch).to(embeds.dtype)
        prompt_positions = torch.arange(virtual).expand(batch, virtual)
        shared = torch.zeros((batch, virtual), dtype=segments.dtype)
        return (
            base,
            {"inputs_embeds": torch.cat([soft, embeds], dim=1)},
            torch.cat([prompt_positions, positions + virtual], dim=1),
            torch.cat([shared, segments], dim=1),
        )

    def _segment_mask(self, segments: Any) -> Any:
        """(batch, 1, L, L) mask: causal, and an option sees only the prompt and itself.

        Boolean for sdpa (nothing to cast to bf16 in every layer), additive for any other attention
        (eager silently ignores boolean 4D masks); every position sees at least itself so padding
        rows never produce NaNs.
        """
        import torch

        width = segments.shape[1]
        causal = torch.ones(width, width, dtype=torch.bool).tril()
        query, key = segments[:, :, None], segments[:, None, :]
        same_option = (query == key) & (query > 0)
        sees_prompt = (key == 0) & (query >= 0)
        allowed = (causal & (same_option | sees_prompt)) | torch.eye(width, dtype=torch.bool)
        if getattr(self.model.config, "_attn_implementation", None) == "sdpa":
            return allowed[:, None, :, :]
        dtype = self.model.dtype
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
        return mask[:, None, :, :]

    def _behind_prefix(self, mask: Any, segments: Any, prefix_len: int) -> Any:
        """The segment mask widened by the shared prefix's columns, which every real position sees."""
        import torch

        sees = (segments >= 0)[:, None, :, None].expand(-1, 1, -1, prefix_len)
        if mask.dtype == torch.bool:
            return torch.cat([sees, mask], dim=-1)
        blocked = torch.zeros(sees.shape, dtype=mask.dtype).masked_fill(~sees, torch.finfo(mask.dtype).min)
        return torch.cat([blocked, mask], dim=-1)

    def _seq2seq_batch(self, batch: list[_Row]) -> list[list[float]]:
        import torch

        prompts = [torch.tensor(row.prompt) for row in batch]
        enc_ids, enc_mask = self._pad(prompts, self.padding_side)
        encoded = self.model.get_encoder()(input_ids=enc_ids, attention_mask=enc_mask).last_hidden_state
        owners = [r for r, row in enumerate(batch) for _ in row.options]
        options = [ids for row in batch for _, ids in row.options]
        start = self.model.config.decoder_start_token_id
        dec_ids, dec_mask = self._pad([torch.tensor([start] + ids[:-1]) for ids in options], "right")
        index = torch.tensor(owners)
        logits = self.model(
            encoder_outputs=(encoded[index],),
            attention_mask=enc_mask[index],
            decoder_input_ids=dec_ids,
            decoder_attention_mask=dec_mask,
            use_cache=False,
        ).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        sums = iter(
            logprobs[k, torch.arange(len(ids)), torch.tensor(ids)].sum().item() for k, ids in enumerate(options)
        )
        return [[next(sums) for _ in row.options] for row in batch]

    def _pad(self, sequences: list[Any], side: str) -> tuple[Any, Any]:
        import torch

        width = max(len(seq) for seq in sequences)
        ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for r, seq in enumerate(sequences):
            where = slice(width - len(seq), width) if side == "left" else slice(0, len(seq))
            ids[r, where] = seq
            mask[r, where] = 1
        return ids, mask

    # ---- generation ---------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerateRequest], progress: Progress = no_progress) -> list[str]:
        """Greedy continuations, cut before the first stop sequence, in request order."""
        import torch

        order = sorted(range(len(requests)), key=lambda i: (-len(requests[i].prompt), i))
        texts: list[str] = [""] * len(requests)
        with torch.no_grad(), autocast(self.precision, self.device_type):
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                # one batch shares its settings: group equal (stop, limit) pairs together
                groups: dict[tuple, list[int]] = {}
                for i in chunk:
                    groups.setdefault((requests[i].stop, requests[i].max_new_tokens, requests[i].chat), []).append(i)
                for (stop, limit, chat), members in groups.items():
                    prompts = [requests[i].prompt for i in members]
                    for i, text in zip(members, self._generate_batch(prompts, stop, limit, chat)):
                        texts[i] = text
                progress(len(chunk))
        return texts

    def _generate_batch(self, prompts: list[str], stop: tuple[str, ...], limit: int, chat: bool = False) -> list[str]:
        import torch
        from transformers import StoppingCriteriaList

        encoded = [
            torch.tensor(self.prompt_ids(prompt, chat)[-max(1, self.max_length - limit) :]) for prompt in prompts
        ]
        ids, mask = self._pad(encoded, "left" if not self.is_seq2seq else self.padding_side)
        width = 0 if self.is_seq2seq else ids.shape[1]
        criteria = StoppingCriteriaList([_StopOnText(self.tokenizer, stop, width)]) if stop else None
        output = self.model.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=False,
            num_beams=1,
            max_new_tokens=limit,
            stopping_criteria=criteria,
            pad_token_id=self.pad_id,
        )
        texts = self.tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
        return [_cut_at_stop(text, stop) for text in texts]


class _StopOnText:
    """Marks a row finished once its decoded continuation contains a stop sequence after its
    leading whitespace (text that starts with "\n\n" has not ended yet: it has not begun)."""

    def __init__(self, tokenizer: Any, stop: tuple[str, ...], prompt_width: int) -> None:
        self.tokenizer, self.stop, self.prompt_width = tokenizer, stop, prompt_width

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_width :], skip_special_tokens=True)
        return torch.tensor([any(s in text.lstrip() for s in self.stop) for text in texts], dtype=torch.bool)


def shared_prefixes(rows: list[_Row], minimum: int = MIN_SHARED_PREFIX) -> list[tuple[list[int], list[_Row]]]:
    """Rows grouped by a common prompt opening of at least ``minimum`` tokens, each row's prompt cut
    to what follows it; rows that share none form one group with an empty prefix.

    Sorted prompts put those with a common opening next to each other, and neighbours share it plus
    a little of what follows (k-shot queries that open alike). A run of neighbours is one group while
    each new one keeps at least ``KEEP_SHARED`` of the run's shared length; a prompt that shares
    clearly less (a query whose own example was swapped out of the exemplars) starts a group of its
    own rather than shortening everyone's prefix. Each row keeps at least one prompt token: the one
    that predicts its first option token.
    """
    ordered = sorted(rows, key=lambda row: row.prompt)
    common = [len(os.path.commonprefix([a.prompt, b.prompt])) for a, b in zip(ordered, ordered[1:])] + [0]
    groups: list[tuple[list[int], list[_Row]]] = []
    alone: list[_Row] = []
    start = 0
    while start < len(ordered):
        shared = common[start]
        if shared < minimum or shared < KEEP_SHARED * common[start + 1]:  # the odd one out of the next run
            alone.append(ordered[start])
            start += 1
            continue
        end = start + 1
        while common[end] >= max(minimum, KEEP_SHARED * shared):
            shared = min(shared, common[end])
            end += 1
        members = ordered[start : end + 1]
        length = min(shared, *(len(row.prompt) - 1 for row in members))
        groups.append(
            (members[0].prompt[:length], [_Row(row.request, row.prompt[length:], row.options) for row in members])
        )
        start = end + 1
    return ([([], alone)] if alone else []) + groups


def near_tie(scores: OptionScores, rank_by: str, nats: float) -> bool:
    """Whether shifting any two options' summed log-likelihoods apart by ``nats`` could change the top one.

    Normalised rankings divide each option's share of the shift by its length, as they divide its score.
    """
    values = scores.by(rank_by)
    if len(values) < 2:
        return False
    lengths = {"sum": (1,) * len(values), "per_token": scores.num_tokens, "per_char": scores.num_chars}[rank_by]
    best = max(range(len(values)), key=lambda k: (values[k], -k))
    room = [nats / 2 / max(n, 1) for n in lengths]
    return any(values[best] - values[k] <= room[best] + room[k] for k in range(len(values)) if k != best)


def _soft_prompt_length(model: Any) -> int:
    """The number of virtual tokens of a PEFT prompt-learning model (0 for any other model)."""
    config = getattr(model, "active_peft_config", None)
    return int(config.num_virtual_tokens) if config is not None and getattr(config, "is_prompt_learning", False) else 0


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """The text before the first stop sequence; leading whitespace never counts as one."""
    text = text.lstrip()
    cut = min((text.find(s) for s in stop if s in text), default=len(text))
    return text[:cut].strip()


def _bos_prefix(tokenizer: Any) -> list[int]:
    """[BOS] when the tokenizer adds it on its own (Llama-style), else nothing (GPT-2-style)."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return []
    with_special = tokenizer("a").input_ids
    return [bos] if with_special and with_special[0] == bos else []


def _model_max_length(model: Any, tokenizer: Any) -> int:
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(model.config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", 0)
    return limit if 0 < limit < 1_000_000 else 2048
