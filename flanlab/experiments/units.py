"""Units of work cached by a hash of their config: a killed experiment rerun skips finished units.

A unit's folder is ``<root>/units/<kind>-<hash>/``. The unit runs into a staging folder and writes
``unit.json`` (its config and outputs) last; only folders with ``unit.json`` count as finished, so a
kill at any moment leaves either a finished unit or one that is redone from scratch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flanlab.io import stable_hash, write_json
from flanlab.progress import stage_line

DONE_FILE = "unit.json"


@dataclass
class ModelRef:
    """A model to start from or evaluate: where it is, and an identity for cache keys."""

    location: str
    identity: str


@dataclass(frozen=True)
class Unit:
    kind: str  # "mix", "train", "eval"
    config: dict[str, Any]  # everything that determines the output, upstream unit keys included

    @property
    def key(self) -> str:
        return f"{self.kind}-{stable_hash({'kind': self.kind, 'config': self.config}, 12)}"


class UnitStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "units"
        self.root.mkdir(parents=True, exist_ok=True)
        self.ran: list[str] = []  # keys run (not taken from the cache) in this process
        self.reused: list[str] = []

    def folder(self, unit: Unit) -> Path:
        return self.root / unit.key

    def is_done(self, unit: Unit) -> bool:
        return (self.folder(unit) / DONE_FILE).exists()

    def outputs(self, unit: Unit) -> dict[str, Any]:
        return json.loads((self.folder(unit) / DONE_FILE).read_text())["outputs"]

    def run(
        self, unit: Unit, work: Callable[[Path], dict[str, Any]], stage: str | None = None
    ) -> tuple[Path, dict[str, Any]]:
        """Run ``work(folder) -> outputs`` unless the unit already finished; return its folder and outputs.

        ``work`` writes into the final folder (trainers need stable paths to resume); a folder
        without ``unit.json`` is unfinished work that ``work`` may resume or overwrite.
        """
        folder = self.folder(unit)
        name = stage or unit.kind
        if self.is_done(unit):
            self.reused.append(unit.key)
            stage_line(f"{name}: reused from an earlier run ({unit.key})")
            return folder, self.outputs(unit)
        folder.mkdir(parents=True, exist_ok=True)
        stage_line(f"{name}: started ({unit.key})")
        started = time.monotonic()
        # Wall time of this unit's (last) run; a reused unit reports the time it took when it ran.
        outputs = {**work(folder), "seconds": round(time.monotonic() - started, 1)}
        stage_line(f"{name}: done in {outputs['seconds']:.0f} s")
        write_json(folder / DONE_FILE, {"kind": unit.kind, "key": unit.key, "config": unit.config, "outputs": outputs})
        self.ran.append(unit.key)
        return folder, outputs
