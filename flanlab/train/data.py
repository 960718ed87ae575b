"""Mixture shards -> token ids, cached by a hash of (mixture files, tokenizer, lengths, model kind).

Causal LMs see ``inputs + delimiter + targets`` then EOS, where each row's ``delimiter`` column is
the join its prompt layout rendered it for (flanlab/prompts/layout.py): inputs and (delimiter +
targets) are tokenised separately and their ids concatenated, so the boundary between context and
answer is exact (no marker token to search for) and is the one evaluation scores. In the chat format
(`flanlab.prompts.chat`) they see the model's chat template instead (the row's delimiter is not
used): the context is the templated text up to the assistant's reply, the target is the reply plus
the template's closing up to EOS. Seq2seq models get inputs on the encoder, targets on the decoder.
Too-long inputs lose their LEFT side (the oldest context, e.g. the first few-shot exemplars; in the
chat format the left of the user's text, never the template around it); a target is never cut: an
example whose target alone exceeds the target budget is dropped. Both are counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flanlab.errors import FlanlabError
from flanlab.io import atomic_open, file_sha256, stable_hash, write_json
from flanlab.mixture.reader import mixture_shards, read_text_columns
from flanlab.paths import cache_dir
from flanlab.progress import progress
from flanlab.prompts.chat import ChatTemplate

ModelKind = Literal["causal", "seq2seq"]
TOKENIZE_CHUNK = 2000
CACHE_VERSION = 2  # bump when the tokenisation rules below change


@dataclass
class TokenizedMixture:
    """Token ids of every kept example, in mixture order, and what tokenisation had to cut."""

    input_ids: list[np.ndarray]  # per example (int32); causal: the context; seq2seq: the encoder input
    target_ids: list[np.ndarray]  # per example (int32), ends with EOS; causal: starts with the delimiter
    source_rows: np.ndarray  # index of each kept example in the mixture (shard order, then row order)
    stats: dict[str, Any]

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self, kind: ModelKind) -> np.ndarray:
        """Tokens each example occupies in a causal row (inputs + targets); seq2seq: the encoder side."""
        inputs = np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self))
        if kind == "seq2seq":
            return inputs
        return inputs + self.target_lengths()

    def target_lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.target_ids), dtype=np.int64, count=len(self))


def mixture_fingerprint(mixture: str | Path) -> str:
    return stable_hash([(shard.name, shard.stat().st_size, file_sha256(shard)) for shard in mixture_shards(mixture)])


def tokenizer_fingerprint(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return stable_hash([type(tokenizer).__name__, backend.to_str(), tokenizer.eos_token_id])
    vocab = sorted(tokenizer.get_vocab().items())
    return stable_hash([type(tokenizer).__name__, tokenizer.name_or_path, vocab, tokenizer.eos_token_id])


def tokenized_cache_key(
    mixture: str | Path,
    tokenizer: Any,
    kind: ModelKind,
    max_input_tokens: int,
    max_target_tokens: int,
    chat: ChatTemplate | None = None,
) -> str:
    return stable_hash(
        {
            "version": CACHE_VERSION,
            "mixture": mixture_fingerprint(mixture),
            "tokenizer": tokenizer_fingerprint(tokenizer),
            "kind": kind,
            "max_input_tokens": max_input_tokens,
            "max_target_tokens": max_target_tokens,
            **({"chat_template": chat.template} if chat else {}),
        }
    )


def load_tokenized_mixture(
    mixture: str | Path,
    tokenizer: Any,
    kind: ModelKind,
    max_input_tokens: int,
    max_target_tokens: int,
    *,
    chat: ChatTemplate | None = None,
    progress: bool = False,
) -> TokenizedMixture:
    """Token ids for a mixture, from the cache or tokenised now and cached (``chat``: the chat format)."""
    key = tokenized_cache_key(mixture, tokenizer, kind, max_input_tokens, max_target_tokens, chat)
    folder = cache_dir("tokenized") / key
    tokens_path, stats_path = folder / "tokens.parquet", folder / "stats.json"
    if tokens_path.exists() and stats_path.exists():
        return _read_tokens(tokens_path, json.loads(stats_path.read_text()))
    inputs, targets, delimiters = read_text_columns(mixture)
    tokenized = tokenize_examples(
        inputs,
        targets,
        tokenizer,
        kind,
        max_input_tokens,
        max_target_tokens,
        delimiters=delimiters,
        chat=chat,
        progress=progress,
    )
    tokenized.stats.update(cache_key=key, mixture=str(mixture))
    _write_tokens(tokens_path, tokenized)
    write_json(stats_path, tokenized.stats)
    return tokenized


def tokenize_examples(
    inputs: list[str],
    targets: list[str],
    tokenizer: Any,
    kind: ModelKind,
    max_input_tokens: int,
    max_target_tokens: int,
    *,
    delimiters: Sequence[str] | str,
    chat: ChatTemplate | None = None,
    progress: bool = False,
) -> TokenizedMixture:
    """Tokenise (inputs, targets) pairs with the rules in the module docstring.

    ``delimiters``: each row's join (one string: the same for every row), as rendered.
    """
    if isinstance(delimiters, str):
        delimiters = [delimiters] * len(inputs)
    eos = tokenizer.eos_token_id
    if eos is None:
        raise FlanlabError(f"the tokenizer of {tokenizer.name_or_path} has no EOS token; training needs one")
    if chat is not None and kind != "causal":
        raise FlanlabError("the chat format needs a causal (decoder-only) model; drop --chat-template")
    encoder = _ChatPairs(chat, eos) if chat is not None else _PlainPairs(tokenizer, kind)
    kept_inputs: list[np.ndarray] = []
    kept_targets: list[np.ndarray] = []
    kept_rows: list[int] = []
    counts = {
        "examples": len(inputs),
        "truncated_examples": 0,
        "truncated_tokens": 0,
        "dropped_long_target": 0,
        "dropped_empty_input": 0,
    }
    for start in _progress_range(len(inputs), progress):
        chunk = slice(start, start + TOKENIZE_CHUNK)
        pairs = encoder.pairs(inputs[chunk], targets[chunk], delimiters[chunk])
        for offset, (input_ids, target_ids) in enumerate(pairs):
            if not target_ids or target_ids[-1] != eos:
                target_ids = [*target_ids, eos]
            if len(target_ids) > max_target_tokens:
                counts["dropped_long_target"] += 1
                continue
            if len(input_ids) == 0:  # nothing to condition on; in a packed row it would see its neighbour
                counts["dropped_empty_input"] += 1
                continue
            if len(input_ids) > max_input_tokens:
                counts["truncated_examples"] += 1
                counts["truncated_tokens"] += len(input_ids) - max_input_tokens
                input_ids = encoder.cut(input_ids, max_input_tokens, inputs[start + offset])
            kept_inputs.append(np.asarray(input_ids, dtype=np.int32))
            kept_targets.append(np.asarray(target_ids, dtype=np.int32))
            kept_rows.append(start + offset)
    counts["kept_examples"] = len(kept_rows)
    counts["chat_template"] = chat is not None
    if not kept_rows:
        raise FlanlabError(f"no example survived tokenisation ({counts}); raise max_target_tokens?")
    return TokenizedMixture(kept_inputs, kept_targets, np.asarray(kept_rows, dtype=np.int64), counts)


class _PlainPairs:
    """inputs (with the tokenizer's special tokens) | the row's delimiter + targets; seq2seq: encoder | decoder."""

    def __init__(self, tokenizer: Any, kind: ModelKind) -> None:
        self.tokenizer, self.kind = tokenizer, kind
        self.prefix, self.suffix = _special_affixes(tokenizer)

    def pairs(
        self, inputs: Sequence[str], targets: Sequence[str], delimiters: Sequence[str]
    ) -> list[tuple[list[int], list[int]]]:
        input_batch = self.tokenizer(list(inputs), add_special_tokens=True)["input_ids"]
        if self.kind == "causal":
            joined = [delimiter + text for delimiter, text in zip(delimiters, targets)]
            target_batch = self.tokenizer(joined, add_special_tokens=False)["input_ids"]
        else:
            target_batch = self.tokenizer(list(targets), add_special_tokens=True)["input_ids"]
        return list(zip(input_batch, target_batch))

    def cut(self, ids: list[int], limit: int, text: str) -> list[int]:
        return cut_left(ids, limit, self.prefix, self.suffix)


class _ChatPairs:
    """context (the templated text up to the reply) | reply + the template's closing up to EOS."""

    def __init__(self, chat: ChatTemplate, eos: int) -> None:
        self.chat = chat
        self.closing = chat.closing_ids(eos)
        self.before_user, self.before_reply = chat.encode(chat.before_user), chat.encode(chat.before_reply)

    def pairs(
        self, inputs: Sequence[str], targets: Sequence[str], delimiters: Sequence[str]
    ) -> list[tuple[list[int], list[int]]]:
        """``delimiters`` is not used: the template's own text separates the turns."""
        turns = [self.chat.split(user, reply) for user, reply in zip(inputs, targets)]
        contexts = self.chat.encode_many([t.context for t in turns])
        replies = self.chat.encode_many([t.reply for t in turns])
        return [(context, reply + self.closing) for context, reply in zip(contexts, replies)]

    def cut(self, ids: list[int], limit: int, text: str) -> list[int]:
        """Keep the template around the user's text whole; drop the left of the user's text."""
        room = limit - len(self.before_user) - len(self.before_reply)
        if room < 1:
            return ids[len(ids) - limit :]
        user = self.chat.encode(text)
        return self.before_user + user[max(len(user) - room, 0) :] + self.before_reply


def cut_left(ids: list[int], limit: int, prefix: list[int], suffix: list[int]) -> list[int]:
    """Keep the last ``limit`` ids, but keep the tokenizer's special prefix (BOS) and suffix (EOS)."""
    head = prefix if ids[: len(prefix)] == prefix else []
    tail = suffix if suffix and ids[-len(suffix) :] == suffix else []
    body = ids[len(head) : len(ids) - len(tail)]
    room = max(limit - len(head) - len(tail), 0)
    return head + (body[len(body) - room :] if room else []) + tail


def _special_affixes(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special ids the tokenizer adds before and after a text (e.g. [BOS] and [], or [] and [EOS])."""
    plain = tokenizer("x", add_special_tokens=False)["input_ids"]
    full = tokenizer("x", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    return [], []


def _progress_range(total: int, show: bool) -> Iterator[int]:
    with progress("tokenising mixture", total, show=show, transient=True) as bar:
        for start in range(0, total, TOKENIZE_CHUNK):
            yield start
            bar.update(done=min(start + TOKENIZE_CHUNK, total))


def _write_tokens(path: Path, tokenized: TokenizedMixture) -> None:
    table = pa.table(
        {
            "input_ids": pa.array([ids.tolist() for ids in tokenized.input_ids], type=pa.list_(pa.int32())),
            "target_ids": pa.array([ids.tolist() for ids in tokenized.target_ids], type=pa.list_(pa.int32())),
            "source_row": pa.array(tokenized.source_rows, type=pa.int64()),
        }
    )
    with atomic_open(path, "wb") as handle:
        pq.write_table(table, handle)


def _read_tokens(path: Path, stats: dict[str, Any]) -> TokenizedMixture:
    table = pq.read_table(path)
    return TokenizedMixture(
        _split_list_column(table.column("input_ids")),
        _split_list_column(table.column("target_ids")),
        table.column("source_row").to_numpy(),
        stats,
    )


def _split_list_column(column: pa.ChunkedArray) -> list[np.ndarray]:
    """A list<int32> column as one numpy array per row, without a Python loop over tokens."""
    arrays: list[np.ndarray] = []
    for chunk in column.chunks:
        values = chunk.flatten().to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
        offsets = chunk.offsets.to_numpy()
        arrays.extend(np.split(values, offsets[1:-1] - offsets[0]) if len(chunk) else [])
    return arrays
