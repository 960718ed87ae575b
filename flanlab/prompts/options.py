"""Answer-option styles: how the OPTIONS block looks, and what the model must answer with.

Label styles (``letter``) switch the target from the option text to its label, so the scored
continuations are the labels; text styles keep the option text as the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import ascii_uppercase


@dataclass(frozen=True)
class OptionStyle:
    name: str
    header: str
    targets_are_labels: bool = False

    def label(self, index: int) -> str:
        if self.name == "letter":
            return f"({ascii_uppercase[index]})"
        if self.name == "number":
            return f"{index + 1}."
        return "-"

    def block(self, options: list[str]) -> str:
        """The options block appended to the prompt (empty for the ``none`` style)."""
        if self.name == "none":
            return ""
        if self.name == "inline":
            return f"{self.header} " + ", ".join(options)
        lines = [f"{self.label(index)} {option}" for index, option in enumerate(options)]
        return "\n".join([self.header, *lines])

    def scored(self, options: list[str]) -> list[str]:
        """The continuations rank classification compares (and the target is one of them)."""
        if self.targets_are_labels:
            return [self.label(index) for index in range(len(options))]
        return list(options)


OPTION_STYLES: dict[str, OptionStyle] = {
    style.name: style
    for style in (
        OptionStyle("dash", "OPTIONS:"),
        OptionStyle("letter", "Answer choices:", targets_are_labels=True),
        OptionStyle("number", "Pick one of the following:"),
        OptionStyle("inline", "Possible answers:"),
        OptionStyle("none", ""),
    )
}
