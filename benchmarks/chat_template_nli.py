"""What the chat format changes: held-out accuracy of two `flanlab run` folders, paired example by example.

Run the default experiment twice, once in the model's chat template, then compare the two folders:

    flanlab run --out runs/plain
    flanlab run --out runs/chat --chat-template
    python3 benchmarks/chat_template_nli.py runs/plain runs/chat

Both runs evaluate the same sampled test examples with the same templates, so every (dataset,
template, example) is scored under both formats. The score is FLAN's: accuracy averaged over a
dataset's templates, then over the cluster's datasets. Its difference (chat - plain) gets a 95%
percentile interval from a paired bootstrap that resamples examples within each dataset (the same
draw for both formats and every template, as the pairing requires). The "top answer" columns give
the share of the most frequent prediction: 100% is a model that answers the same whatever it reads.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

Key = tuple[str, str, int]  # (dataset, template, example index)
Arrays = dict[str, tuple[np.ndarray, np.ndarray]]  # dataset -> (plain, chat) outcomes, templates x examples


def correct_by_example(results_path: Path) -> dict[Key, bool]:
    """Zero-shot test-split rank-classification outcomes of one evaluation, keyed for pairing."""
    return {key: row["predicted_index"] == row["gold_index"] for key, row in _samples(results_path).items()}


def top_answer_share(results_path: Path) -> dict[str, float]:
    """Per dataset, the share (0-100) of predictions that are its most frequent answer."""
    answers: dict[str, list[str]] = defaultdict(list)
    for (task, _, _), row in _samples(results_path).items():
        answers[task].append(row["prediction"])
    return {task: 100 * Counter(given).most_common(1)[0][1] / len(given) for task, given in answers.items()}


def _samples(results_path: Path) -> dict[Key, dict]:
    rows = {}
    for line in (results_path.parent / "samples.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["split"] == "test" and row["format"] == "zeroshot" and row["options"]:
            rows[row["task"], row["template_id"], row["example_index"]] = row
    return rows


def arm_results(folder: Path) -> dict[str, Path]:
    record = json.loads((folder / "experiment.json").read_text())
    return {arm["name"]: folder / arm["evals"][0]["results"] for arm in record["arms"] if arm["evals"]}


def paired_arrays(plain: dict[Key, bool], chat: dict[Key, bool]) -> Arrays:
    """Per dataset: (templates x examples) outcome arrays for both formats, on the keys both scored."""
    shared = sorted(set(plain) & set(chat))
    if len(shared) != len(plain) or len(shared) != len(chat):
        raise SystemExit(f"the two runs scored different examples ({len(plain)} vs {len(chat)}, {len(shared)} shared)")
    by_task: dict[str, dict[str, dict[int, Key]]] = defaultdict(lambda: defaultdict(dict))
    for key in shared:
        by_task[key[0]][key[1]][key[2]] = key
    arrays = {}
    for task, templates in sorted(by_task.items()):
        examples = sorted(next(iter(templates.values())))
        grid = [[templates[t][e] for e in examples] for t in sorted(templates)]
        arrays[task] = tuple(np.array([[run[k] for k in row] for row in grid], float) for run in (plain, chat))
    return arrays


def cluster_score(arrays: Arrays, draws: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """[plain, chat] cluster scores (0-100): template means, then the mean over datasets."""
    scores = []
    for task, (plain, chat) in arrays.items():
        take = draws[task] if draws is not None else slice(None)
        scores.append([plain[:, take].mean(), chat[:, take].mean()])
    return 100 * np.mean(scores, axis=0)


def bootstrap(arrays: Arrays, resamples: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bootstrap cluster differences and per-dataset differences (chat - plain, 0-100)."""
    rng = np.random.default_rng(seed)
    cluster, per_task = [], defaultdict(list)
    for _ in range(resamples):
        draws = {task: rng.integers(0, plain.shape[1], plain.shape[1]) for task, (plain, _) in arrays.items()}
        plain_score, chat_score = cluster_score(arrays, draws)
        cluster.append(chat_score - plain_score)
        for task, (plain, chat) in arrays.items():
            per_task[task].append(100 * (chat[:, draws[task]].mean() - plain[:, draws[task]].mean()))
    return np.array(cluster), {task: np.array(values) for task, values in per_task.items()}


Shares = tuple[dict[str, float], dict[str, float]]  # (plain, chat) top-answer shares per dataset


def report(name: str, arrays: Arrays, top: Shares, resamples: int, seed: int) -> str:
    cluster, per_task = bootstrap(arrays, resamples, seed)
    plain_score, chat_score = cluster_score(arrays)
    columns = ["dataset", "templates x examples", "plain", "chat template", "difference [95% CI]"]
    columns.append("top answer plain / chat")
    lines = [f"**{name}**", "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for task, (plain, chat) in arrays.items():
        low, high = np.percentile(per_task[task], [2.5, 97.5])
        diff = 100 * (chat.mean() - plain.mean())
        shape = f"{plain.shape[0]} x {plain.shape[1]}"
        scores = f"{100 * plain.mean():.1f} | {100 * chat.mean():.1f}"
        shares = f"{top[0][task]:.0f}% / {top[1][task]:.0f}%"
        lines.append(f"| {task} | {shape} | {scores} | {diff:+.1f} [{low:+.1f}, {high:+.1f}] | {shares} |")
    low, high = np.percentile(cluster, [2.5, 97.5])
    pairs = sum(plain.size for plain, _ in arrays.values())
    lines.append(f"| **cluster mean** | {pairs} pairs | {plain_score:.1f} | {chat_score:.1f} | "
                 f"**{chat_score - plain_score:+.1f} [{low:+.1f}, {high:+.1f}]** | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plain", type=Path, help="run folder of the plain-text run")
    parser.add_argument("chat", type=Path, help="run folder of the --chat-template run")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    plain_arms, chat_arms = arm_results(args.plain), arm_results(args.chat)
    for arm in sorted(set(plain_arms) & set(chat_arms)):
        arrays = paired_arrays(correct_by_example(plain_arms[arm]), correct_by_example(chat_arms[arm]))
        top = (top_answer_share(plain_arms[arm]), top_answer_share(chat_arms[arm]))
        print(report(arm, arrays, top, args.resamples, args.seed))


if __name__ == "__main__":
    main()
