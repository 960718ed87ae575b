"""The prompt layout: where a prompt ends and its answer begins, decided in this one place.

A rendered example is ``inputs`` (the prompt, closed by the answer cue when there is one) and
``targets`` (the answer). Every consumer joins them the same way, ``inputs + delimiter + targets``:
training puts the loss on ``delimiter + targets``, rank classification scores ``delimiter + option``
after the prompt, few-shot exemplars are shown joined, and the lm-eval export writes the delimiter
as its ``target_delimiter``. Neither side carries whitespace at the join.

The default was chosen by measuring the base model's calibration and accuracy on the dev splits of
non-NLI tasks (``benchmarks/layout_calibration.py``; the table is in docs/evaluation.md).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

# Named so a layout fits on a command line and in a format spec (``delimiter=newline``).
DELIMITERS = {"space": " ", "newline": "\n"}
# Mixture rows written before rows recorded their delimiter were joined with one space.
LEGACY_DELIMITER = " "


class PromptLayout(BaseModel):
    """The inputs/targets boundary: a delimiter, and an optional answer cue that closes the prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: str = "space"  # a key of DELIMITERS
    answer_cue: str = "Answer:"  # the prompt's last line ("" for none): the prompt ends "...\nAnswer:"

    @field_validator("delimiter")
    @classmethod
    def _known_delimiter(cls, value: str) -> str:
        if value not in DELIMITERS:
            raise ValueError(f"unknown delimiter {value!r}; known: {sorted(DELIMITERS)}")
        return value

    @field_validator("answer_cue")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value.strip():
            raise ValueError("the answer cue must be one line")
        return value.strip()

    @property
    def separator(self) -> str:
        """The text between inputs and targets."""
        return DELIMITERS[self.delimiter]

    def close(self, body: str) -> str:
        """The prompt: ``body`` with the answer cue as its last line.

        A body whose last line already ends with a colon ("Answer:", "TL;DR:") carries a cue of its
        own, from the template, and gets no second one.
        """
        if not self.answer_cue or body.rstrip().endswith(":"):
            return body
        return f"{body}\n{self.answer_cue}"

    def join(self, inputs: str, target: str) -> str:
        return f"{inputs}{self.separator}{target}"


DEFAULT_LAYOUT = PromptLayout()
