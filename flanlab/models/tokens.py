"""Token counts as a model sees a text: what prompt-length budgets and mixture stats are measured in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flanlab.errors import FlanlabError
from flanlab.models.zoo import resolve_model_path

TokenCounter = Callable[[str], int]


def token_counter(tokenizer: Any) -> TokenCounter:
    """Tokens of a text alone: no BOS/EOS, as the text is one piece of a longer prompt."""
    return lambda text: len(tokenizer(text, add_special_tokens=False).input_ids)


def load_token_counter(name: str) -> TokenCounter:
    """The counter of a model's tokenizer (a zoo name, a folder or a hub id)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(name))
    except OSError as error:
        raise FlanlabError(f"could not load tokenizer ({error})", where=name) from None
    return token_counter(tokenizer)
