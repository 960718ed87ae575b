"""What a run reports while it trains: JSONL (one line per logged step), TensorBoard, loss.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flanlab.figures import new_figure
from flanlab.io import atomic_open

LOG_NAME = "train_log.jsonl"
PLOT_NAME = "loss.png"


class RunLog:
    """Writes on the main process only; on resume, drops lines past the checkpoint's step."""

    def __init__(self, run_dir: Path, *, resume_step: int, enabled: bool) -> None:
        self.enabled = enabled
        self.path = run_dir / LOG_NAME
        self.run_dir = run_dir
        self._writer: Any = None
        self._handle: Any = None
        if not enabled:
            return
        _truncate_after(self.path, resume_step)
        self._handle = open(self.path, "a", encoding="utf-8")
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(
            log_dir=str(run_dir / "tensorboard"), purge_step=resume_step + 1 if resume_step else None
        )

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)):
                self._writer.add_scalar(f"train/{key}", value, record["step"])

    def close(self) -> None:
        if not self.enabled:
            return
        self._handle.close()
        self._writer.close()
        plot_loss(self.path, self.run_dir / PLOT_NAME)


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _truncate_after(path: Path, step: int) -> None:
    kept = [record for record in read_log(path) if record["step"] <= step]
    with atomic_open(path) as handle:
        handle.writelines(json.dumps(record, sort_keys=True) + "\n" for record in kept)


def plot_loss(log_path: Path, png_path: Path) -> None:
    records = read_log(log_path)
    figure, axis = new_figure(7, 4)
    axis.plot([r["step"] for r in records], [r["loss"] for r in records], color="tab:blue")
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("loss per target token")
    axis.set_title("training loss")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_open(png_path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100, metadata={"Software": None})
