"""The main job's candidate training setups: one table row per measured candidate.

    for c in benchmarks/main_job/*.yaml; do
        flanlab experiment run "$c" --scale default --out runs/candidates
        cp runs/candidates/experiment.json "runs/candidates/$(basename "$c" .yaml).json"
    done
    python3 benchmarks/main_job/candidates.py runs/candidates

Each candidate is `configs/default.yaml` with one change; they share one run folder, so the base
evaluation and the mixture are computed once. experiment.json is overwritten by each run, hence the
copy per candidate. Prints a markdown table (docs/experiments.md) and the per-dataset differences.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from flanlab.experiments.config import load_experiment  # noqa: E402
from flanlab.experiments.record import ExperimentRecord  # noqa: E402

HEADER = (
    "| candidate | model | method | learning rate | mixture formats | steps | final train loss | base | tuned | "
    "tuned - base | 95% CI | n (examples x templates) |"
)


def row(name: str, record: ExperimentRecord) -> tuple[str, str]:
    config = load_experiment(HERE / f"{name}.yaml")
    scale = config.scales["default"]
    mixture = scale.params["mixture"]
    [comparison] = record.comparisons
    [overall] = comparison.overall()
    train = next(arm.train for arm in record.arms if arm.train)
    formats = f"{mixture['fewshot_share']:.0%} few-shot, {mixture['cot_share']:.0%} CoT"
    cells = [
        name.split("_", 1)[0], config.model, config.method, f"{scale.learning_rate:g}", formats, str(train.steps),
        f"{train.final_loss:.3f}", f"{overall.score_b:.1f}", f"{overall.score_a:.1f}", f"{overall.difference:+.1f}",
        f"[{overall.ci_low:+.1f}, {overall.ci_high:+.1f}]", str(overall.n),
    ]  # fmt: skip
    per_dataset = "; ".join(
        f"{d.name} {d.difference:+.1f} [{d.ci_low:+.1f}, {d.ci_high:+.1f}]"
        for d in comparison.differences
        if d.scope == "dataset"
    )
    return "| " + " | ".join(cells) + " |", f"{name.split('_', 1)[0]}: {per_dataset}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the shared run folder holding one <candidate>.json per candidate")
    args = parser.parse_args()
    rows, details = [], []
    for config in sorted(HERE.glob("*.yaml")):
        path = args.folder / f"{config.stem}.json"
        if path.exists():
            table_row, detail = row(config.stem, ExperimentRecord.model_validate_json(path.read_text()))
            rows.append(table_row)
            details.append(detail)
    print("\n".join([HEADER, "|---" * 12 + "|", *rows, "", *details]))


if __name__ == "__main__":
    main()
