"""A mixture in the schemas other trainers read (TRL's SFTTrainer, axolotl, LLaMA-Factory).

Two schemas, one row per mixture row, in mixture order, with flanlab's provenance columns kept:

- ``messages``: ``[{"role": "user", "content": inputs}, {"role": "assistant", "content": targets}]``,
  the conversational form (`flanlab.prompts.chat.as_messages`, the same turns `--chat-template` trains on);
- ``prompt-completion``: ``prompt`` = inputs, ``completion`` = the row's delimiter + targets (its
  prompt layout's join, `flanlab.prompts.layout`), so that prompt + completion is exactly the plain
  text flanlab trains on.

The export folder::

    OUT/train.jsonl         one JSON object per row
    OUT/train.parquet       the same rows
    OUT/README.md           a dataset card: `datasets.load_dataset(OUT)` reads train.parquet through its `configs`
    OUT/dataset_info.json   (messages only) LLaMA-Factory's description of train.jsonl
    OUT/export.json         what was exported, from which mixture
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from flanlab.io import write_json, write_text
from flanlab.mixture.reader import Mixture, read_mixture
from flanlab.mixture.writer import SCHEMA, staged_folder
from flanlab.prompts.chat import as_messages
from flanlab.prompts.layout import LEGACY_DELIMITER

ExportFormat = Literal["messages", "prompt-completion"]
EXPORT_FORMATS: tuple[str, ...] = ("messages", "prompt-completion")
PROVENANCE = ("task", "cluster", "collection", "source", "template_id", "format", "shots", "inverted", "options_style")
DELIMITER = "delimiter"  # the mixture column holding each row's inputs/targets join
JSONL, PARQUET, MANIFEST, LLAMA_FACTORY = "train.jsonl", "train.parquet", "export.json", "dataset_info.json"
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
TEXT_COLUMNS: dict[str, list[tuple[str, pa.DataType]]] = {
    "messages": [("messages", pa.list_(MESSAGE))],
    "prompt-completion": [("prompt", pa.string()), ("completion", pa.string())],
}


def export_mixture(folder: str | Path, out: str | Path, fmt: ExportFormat, *, batch_rows: int = 4096) -> dict[str, Any]:
    """Write the export folder; returns its manifest (export.json's content)."""
    mixture = read_mixture(folder)
    out = Path(out)
    with staged_folder(out, marker=MANIFEST, kind="mixture export") as stage:
        rows = _write_rows(mixture, stage, fmt, batch_rows)
        manifest = {
            "format": fmt,
            "rows": rows,
            "columns": [name for name, _ in TEXT_COLUMNS[fmt]] + list(PROVENANCE),
            "mixture": str(mixture.folder.resolve()),
            "mixture_name": mixture.stats.name,
            "held_out_clusters": mixture.stats.held_out_clusters,
            "files": [JSONL, PARQUET],
        }
        write_text(stage / "README.md", _dataset_card(manifest))
        if fmt == "messages":
            write_json(stage / LLAMA_FACTORY, _llama_factory_entry())
        write_json(stage / MANIFEST, manifest)
    return manifest


def schema(fmt: ExportFormat) -> pa.Schema:
    return pa.schema(TEXT_COLUMNS[fmt] + [(name, SCHEMA.field(name).type) for name in PROVENANCE])


def _write_rows(mixture: Mixture, stage: Path, fmt: ExportFormat, batch_rows: int) -> int:
    shards = mixture.shard_paths
    # rows of a mixture written before rows recorded their delimiter were joined with LEGACY_DELIMITER
    has_delimiter = bool(shards) and DELIMITER in pq.read_schema(shards[0]).names
    columns = ["inputs", "targets", *([DELIMITER] if has_delimiter else []), *PROVENANCE]
    table_schema = schema(fmt)
    rows = 0
    parquet = pq.ParquetWriter(stage / PARQUET, table_schema, compression="zstd")
    with open(stage / JSONL, "w", encoding="utf-8") as jsonl, parquet:
        for records in _converted(mixture.iter_batches(columns, batch_rows), fmt):
            parquet.write_table(pa.Table.from_pylist(records, schema=table_schema))
            jsonl.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
            rows += len(records)
    return rows


def _converted(batches: Iterator[pa.RecordBatch], fmt: ExportFormat) -> Iterator[list[dict[str, Any]]]:
    for batch in batches:
        records = []
        for row in batch.to_pylist():
            inputs, targets = row.pop("inputs"), row.pop("targets")
            delimiter = row.pop(DELIMITER, LEGACY_DELIMITER)
            if fmt == "messages":
                text: dict[str, Any] = {"messages": as_messages(inputs, targets)}
            else:
                text = {"prompt": inputs, "completion": delimiter + targets}
            records.append({**text, **row})
        yield records


def _dataset_card(manifest: dict[str, Any]) -> str:
    meta = {
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": PARQUET}]}],
        "tags": ["flanlab", "instruction-tuning", "flan"],
        "task_categories": ["text-generation"],
    }
    held_out = ", ".join(manifest["held_out_clusters"]) or "none"
    body = (
        f"# flanlab mixture `{manifest['mixture_name']}` in the `{manifest['format']}` schema\n\n"
        f"{manifest['rows']:,} rows exported by `flanlab mix export` "
        f"(held-out clusters, never in these rows: {held_out}).\n"
        f"Columns: {', '.join(manifest['columns'])}. `{JSONL}` and `{PARQUET}` hold the same rows; "
        "`datasets.load_dataset` on this folder reads the Parquet file.\n"
    )
    return f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n{body}"


def _llama_factory_entry() -> dict[str, Any]:
    """LLaMA-Factory's dataset description of the messages file (its OpenAI-style sharegpt format)."""
    return {
        "flanlab": {
            "file_name": JSONL,
            "formatting": "sharegpt",
            "columns": {"messages": "messages"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
        }
    }
