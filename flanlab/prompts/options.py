"""Answer-option styles: how the OPTIONS block looks, and what the model must answer with.

Label styles (``letter``, ``upper``) switch the target from the option text to its label, so the
scored continuations are the labels; text styles keep the option text as the target.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from string import ascii_uppercase


@functools.lru_cache(maxsize=1024)
def letters(index: int) -> str:
    """A, B, ..., Z, AA, AB, ...: BIG-bench has tasks with 100 options."""
    label = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        label = ascii_uppercase[remainder] + label
    return label


@dataclass(frozen=True)
class OptionStyle:
    name: str
    header: str
    enumerator: str  # how an option line starts: "-", "({letter})", "{number}."; "" for inline / none
    answer_label: str = ""  # label styles only: what the target becomes, e.g. "({letter})"

    @property
    def targets_are_labels(self) -> bool:
        return bool(self.answer_label)

    def label(self, index: int) -> str:
        """The answer form of option ``index`` in a label style (its list marker otherwise)."""
        return _numbered(self.answer_label or self.enumerator, index)

    def marker(self, index: int) -> str:
        return _numbered(self.enumerator, index)

    def block(self, options: list[str]) -> str:
        """The options block shown in the prompt (empty for the ``none`` style)."""
        if self.name == "none":
            return ""
        if self.name == "inline":
            return f"{self.header} " + "; ".join(options)
        lines = [f"{self.marker(index)} {option}" for index, option in enumerate(options)]
        return "\n".join([self.header, *lines])

    def scored(self, options: list[str]) -> list[str]:
        """The continuations rank classification compares (and the target is one of them)."""
        if self.targets_are_labels:
            return [self.label(index) for index in range(len(options))]
        return list(options)


@functools.lru_cache(maxsize=4096)
def _numbered(pattern: str, index: int) -> str:
    return pattern.format(letter=letters(index), number=index + 1)


OPTION_STYLES: dict[str, OptionStyle] = {
    style.name: style
    for style in (
        OptionStyle("dash", "OPTIONS:", "-"),
        OptionStyle("bullet", "Choose from:", "*"),
        OptionStyle("letter", "Answer choices:", "({letter})", answer_label="({letter})"),
        OptionStyle("upper", "Options:", "{letter}.", answer_label="{letter}"),
        OptionStyle("number", "Pick one of the following:", "{number}."),
        OptionStyle("inline", "Possible answers:", ""),
        OptionStyle("none", "", ""),
    )
}
