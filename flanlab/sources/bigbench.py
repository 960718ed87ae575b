"""The BIG-bench benchmark as shipped in the `bigbench==1.0.0` source archive on PyPI.

The archive is fetched once with ``pip download`` (no install: the package's own dependencies are
heavy) and only its ``task.json`` files are extracted into the cache. An index of every task with
its metadata and example count is built at the same time, so listings never re-read 1.7 GB of JSON.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from flanlab.errors import DataUnavailable, FlanlabError
from flanlab.io import atomic_open, write_json
from flanlab.paths import cache_dir
from flanlab.progress import progress, track
from flanlab.sources.base import RawRecords, Record, SourceSpec

VERSION = "1.0.0"
TASKS_PREFIX = "bigbench/benchmark_tasks/"
INDEX_NAME = "index.json"
_METADATA_KEYS = (
    "description",
    "keywords",
    "metrics",
    "preferred_score",
    "task_prefix",
    "example_input_prefix",
    "example_output_prefix",
    "append_choices_to_input",
)


def bigbench_root() -> Path:
    return cache_dir("bigbench", VERSION)


def tasks_dir() -> Path:
    return bigbench_root() / "tasks"


def ensure_bigbench(quiet: bool = False) -> Path:
    """Download and extract the archive if needed; return the extracted tasks directory.

    Idempotent: a second call downloads and extracts nothing.
    """
    root = bigbench_root()
    if (root / INDEX_NAME).exists():
        return tasks_dir()
    archive = _download_archive(root / "archive", quiet)
    _extract_task_files(archive, tasks_dir(), quiet)
    _build_index(tasks_dir(), root / INDEX_NAME, quiet)
    return tasks_dir()


def _download_archive(folder: Path, quiet: bool) -> Path:
    existing = sorted(folder.glob(f"bigbench-{VERSION}.tar.gz"))
    if existing:
        return existing[0]
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", f"bigbench=={VERSION}", "-d", str(folder)]
    if not quiet:
        print(f"Downloading bigbench=={VERSION} (358 MB) into {folder} ...", file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True)
    found = sorted(folder.glob(f"bigbench-{VERSION}.tar.gz"))
    if result.returncode != 0 or not found:
        raise FlanlabError(f"could not download bigbench=={VERSION} with pip: {result.stderr.strip()[-300:]}")
    return found[0]


def _extract_task_files(archive: Path, target: Path, quiet: bool) -> None:
    target.mkdir(parents=True, exist_ok=True)
    label, size = "extracting BIG-bench task.json files (bytes)", archive.stat().st_size
    try:
        with tarfile.open(archive, "r:gz") as tar, progress(label, size, show=not quiet, transient=True) as bar:
            for member in tar:
                bar.update(done=tar.fileobj.tell())  # type: ignore[union-attr]
                relative = _task_relative_path(member.name)
                if relative is None or not member.isfile():
                    continue
                destination = target / relative
                source = tar.extractfile(member)
                assert source is not None
                with atomic_open(destination, "wb") as handle:
                    while block := source.read(1 << 20):
                        handle.write(block)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise FlanlabError(f"corrupt or truncated archive ({error}); delete it and retry", where=str(archive)) from None


def _task_relative_path(member_name: str) -> str | None:
    _, _, rest = member_name.partition(TASKS_PREFIX)
    if not rest or not rest.endswith("/task.json"):
        return None
    return rest


def _build_index(root: Path, index_path: Path, quiet: bool) -> None:
    entries = []
    paths = sorted(root.rglob("task.json"))
    for path in track(paths, "indexing BIG-bench tasks", len(paths), show=not quiet, transient=True):
        try:
            data = read_task_json(path)
        except FlanlabError:
            continue  # a broken file is reported when someone loads that task, not at setup
        entries.append(_index_entry(root, path, data))
    write_json(index_path, {"version": VERSION, "tasks": entries})


def _index_entry(root: Path, path: Path, data: dict[str, Any]) -> dict[str, Any]:
    examples = data.get("examples") or []
    kinds = {("multiple_choice" if "target_scores" in ex else "generation") for ex in examples}
    entry = {
        "name": path.parent.relative_to(root).as_posix(),
        "n_examples": len(examples),
        "kind": kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "empty"),
        "has_rationales": any("target_scores" in ex and isinstance(ex.get("target"), str) for ex in examples),
    }
    entry.update({key: data.get(key) for key in _METADATA_KEYS})
    return entry


def read_task_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise DataUnavailable("no such BIG-bench task file", where=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FlanlabError(f"corrupt or truncated task.json ({error})", where=str(path)) from None
    if not isinstance(data, dict):
        raise FlanlabError("task.json must hold a JSON object", where=str(path))
    return data


def list_tasks() -> list[dict[str, Any]]:
    """Every BIG-bench task (subtasks included) with its metadata and example count."""
    ensure_bigbench(quiet=True)
    index_path = bigbench_root() / INDEX_NAME
    try:
        return json.loads(index_path.read_text(encoding="utf-8"))["tasks"]
    except (json.JSONDecodeError, KeyError, OSError) as error:
        raise FlanlabError(f"unreadable cache index ({error}); delete it to rebuild", where=str(index_path)) from None


@functools.lru_cache(maxsize=32)
def load_task_records(name: str, task_file: str | None = None) -> tuple[Record, ...]:
    """The normalised examples of one BIG-bench task (see `normalise_example`)."""
    path = Path(task_file) if task_file else ensure_bigbench(quiet=True) / name / "task.json"
    data = read_task_json(path)
    examples = data.get("examples")
    if not isinstance(examples, list):
        raise FlanlabError("task has no 'examples' list", where=str(path))
    normalised = (normalise_example(example, index, str(path)) for index, example in enumerate(examples))
    records = [record for record in normalised if record is not None]
    # A blank input is noise (a few in multiemo), unless the task has no inputs at all and its
    # content lives in the options (cause_and_effect).
    with_input = [record for record in records if record["input"].strip()]
    return tuple(with_input or records)


def normalise_example(example: Any, index: int, where: str) -> Record | None:
    """One BIG-bench example as a flat record; None for an example that has no gold answer.

    Multiple choice: ``options``, ``answer_index`` (the best-scored option), ``answer``, and
    ``rationale`` when the example also carries a free-text ``target`` (StrategyQA). When several
    options share the top score (``3`` and ``three``), ``references`` lists all of them.
    Generation: ``references`` (all non-empty targets) and ``answer`` (the first).
    A few archive examples have only zero scores or empty targets: they are skipped (None).
    """
    place = f"{where}: record {index}"
    if not isinstance(example, dict) or not isinstance(example.get("input"), str):
        raise FlanlabError("expected an object with a string field 'input'", where=place)
    record: Record = {"idx": index, "input": example["input"]}
    scores = example.get("target_scores")
    target = example.get("target")
    if isinstance(scores, dict) and scores:
        options = [str(option).strip() for option in scores]  # some carry stray spaces or newlines
        values = [float(value) for value in scores.values()]
        best = max(values)
        if best <= 0:
            return None
        answer_index = values.index(best)
        record.update(options=options, answer_index=answer_index, answer=options[answer_index])
        tied = [option for option, value in zip(options, values) if value == best]
        if len(tied) > 1:
            record["references"] = tied
        if isinstance(target, str) and target.strip() and target not in options:
            record["rationale"] = target
    elif isinstance(target, (str, list)):
        candidates = [target] if isinstance(target, str) else [str(item) for item in target]
        references = [text for text in candidates if text.strip()]
        if not references:
            return None
        record.update(references=references, answer=references[0])
    else:
        raise FlanlabError("expected field 'target_scores' (an object) or 'target' (text or list)", where=place)
    return record


def load_bigbench_source(spec: SourceSpec) -> RawRecords:
    return RawRecords(where=f"bigbench:{spec.locator}", records=load_task_records(spec.locator))
