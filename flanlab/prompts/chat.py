"""The chat format: a rendered example as one user turn (``inputs``) and one assistant turn (``targets``).

The tokenizer's own chat template decides the text around the two turns. `ChatTemplate.split` cuts a
rendered conversation into five verbatim pieces:

    before_user   what the template writes before the user's text (a default system prompt, the user header)
    user          the inputs, unchanged
    before_reply  between the user's text and the reply (end of the user turn, the assistant header)
    reply         the targets, unchanged
    closing       what follows the reply (the end-of-turn token and the like)

``context = before_user + user + before_reply`` is what the model reads before it answers. Training
(`flanlab.train.data`) learns ``reply`` and ``closing`` up to the end-of-sequence token; scoring
(`flanlab.evaluate`) scores exactly the ``reply`` tokens after the ``context`` tokens. Every piece is
tokenised without added special tokens, as transformers' own ``apply_chat_template`` does: the template
writes whatever BOS it wants. Both sides go through this module so the join lives in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flanlab.errors import FlanlabError

USER, ASSISTANT = "user", "assistant"
# Stand-ins for the two turns, rendered once to find the template's fixed text around them.
_USER_MARK, _REPLY_MARK = "\ue000flanlab-user\ue001", "\ue000flanlab-reply\ue001"


def encode_piece(tokenizer: Any, text: str) -> list[int]:
    """One piece's token ids: no special tokens added (the template wrote its own)."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def as_messages(inputs: str, targets: str) -> list[dict[str, str]]:
    """The conversational form of one example (what `flanlab mix export --format messages` writes)."""
    return [{"role": USER, "content": inputs}, {"role": ASSISTANT, "content": targets}]


@dataclass(frozen=True)
class ChatTurns:
    before_user: str
    user: str
    before_reply: str
    reply: str
    closing: str

    @property
    def context(self) -> str:
        return self.before_user + self.user + self.before_reply


class ChatTemplate:
    """A tokenizer's chat template, split around the user's text and the assistant's reply."""

    def __init__(self, tokenizer: Any, model_name: str = "") -> None:
        name = model_name or getattr(tokenizer, "name_or_path", "") or "this model"
        if not getattr(tokenizer, "chat_template", None):
            raise FlanlabError(
                f"the tokenizer of {name} has no chat template; drop --chat-template (chat_template: false)"
            )
        self.tokenizer, self.name = tokenizer, name
        self.template: str = tokenizer.chat_template
        marked = self._render(_USER_MARK, _REPLY_MARK)
        if marked.count(_USER_MARK) != 1 or marked.count(_REPLY_MARK) != 1:
            raise FlanlabError(f"the chat template of {name} does not show each turn's text exactly once")
        self.before_user, rest = marked.split(_USER_MARK)
        self.before_reply, self.closing = rest.split(_REPLY_MARK)

    def split(self, user: str, reply: str) -> ChatTurns:
        """The turns of one example; refuses a template that rewrites this example's text (it must be verbatim)."""
        turns = ChatTurns(self.before_user, user, self.before_reply, reply, self.closing)
        if self._render(user, reply) != turns.context + reply + self.closing:
            raise FlanlabError(
                f"the chat template of {self.name} renders this example differently from its text "
                f"(it may trim or rewrite a turn): {user[:60]!r} -> {reply[:40]!r}"
            )
        return turns

    def context(self, user: str, replies: Sequence[str]) -> str:
        """The text before the assistant's reply, checked with every candidate reply (at least one)."""
        if not replies:
            raise ValueError("checking a chat template needs at least one reply")
        for reply in replies:
            self.split(user, reply)
        return self.before_user + user + self.before_reply

    def encode(self, text: str) -> list[int]:
        return encode_piece(self.tokenizer, text)

    def encode_many(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []

    def closing_ids(self, eos_id: int | None) -> list[int]:
        """The tokens a trained reply ends with: the template's closing, cut right after EOS when it holds one."""
        ids = self.encode(self.closing)
        return ids[: ids.index(eos_id) + 1] if eos_id in ids else ids

    def _render(self, user: str, reply: str) -> str:
        return self.tokenizer.apply_chat_template(as_messages(user, reply), tokenize=False)
