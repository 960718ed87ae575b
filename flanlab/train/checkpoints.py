"""Checkpoints: ``RUN_DIR/checkpoints/step-NNNNNN``, written to a ``.partial`` folder and renamed.

A kill at any moment leaves the previous checkpoints intact; ``latest`` names the newest complete
one. The engine state (weights or only the trainable ones, optimizer, scheduler, RNG of every
process) is accelerate's ``save_state``; ``trainer_state.json`` holds the step and counters.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from flanlab.io import write_json, write_text

STATE_NAME = "trainer_state.json"
POINTER = "latest"


def checkpoints_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def step_dir(run_dir: Path, step: int) -> Path:
    return checkpoints_dir(run_dir) / f"step-{step:06d}"


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint (the pointer, else the highest complete step folder)."""
    folder = checkpoints_dir(run_dir)
    pointer = folder / POINTER
    if pointer.exists():
        candidate = folder / pointer.read_text().strip()
        if (candidate / STATE_NAME).exists():
            return candidate
    complete = sorted(path for path in folder.glob("step-*") if path.is_dir() and (path / STATE_NAME).exists())
    return complete[-1] if complete else None


def read_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / STATE_NAME).read_text())


def begin(run_dir: Path, step: int) -> Path:
    """A fresh partial folder for the checkpoint of ``step`` (main process)."""
    partial = step_dir(run_dir, step).with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def partial_dir(run_dir: Path, step: int) -> Path:
    return step_dir(run_dir, step).with_suffix(".partial")


def commit(run_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Finish the partial folder: state file, rename, pointer, prune old ones (main process)."""
    partial, final = partial_dir(run_dir, step), step_dir(run_dir, step)
    write_json(partial / STATE_NAME, state)
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    write_text(checkpoints_dir(run_dir) / POINTER, final.name + "\n")
    complete = sorted(
        path for path in checkpoints_dir(run_dir).glob("step-*") if path.is_dir() and path.suffix != ".partial"
    )
    for old in complete[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def remove_partials(run_dir: Path) -> None:
    for leftover in checkpoints_dir(run_dir).glob("step-*.partial"):
        shutil.rmtree(leftover, ignore_errors=True)
