import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flanlab.errors import DataUnavailable, FlanlabError
from flanlab.sources import bigbench
from flanlab.sources.base import SourceSpec, load_split_records

RECORDS = [{"input": f"question {i}", "answer": f"answer {i}"} for i in range(60)]


def test_bigbench_multiple_choice_with_rationale():
    example = {"input": "Q?", "target_scores": {"Yes": 1, "No": 0}, "target": "Yes. Because."}
    record = bigbench.normalise_example(example, 0, "task.json")
    assert record["options"] == ["Yes", "No"]
    assert record["answer_index"] == 0 and record["answer"] == "Yes"
    assert record["rationale"] == "Yes. Because."


def test_bigbench_generation_with_list_target():
    record = bigbench.normalise_example({"input": "x", "target": ["a", "b"]}, 3, "task.json")
    assert record["references"] == ["a", "b"] and record["answer"] == "a" and record["idx"] == 3


def test_bigbench_bad_record_names_file_and_record():
    with pytest.raises(FlanlabError, match=r"task.json: record 7: expected field 'target_scores'"):
        bigbench.normalise_example({"input": "x"}, 7, "task.json")


def test_corrupt_task_json_names_the_file(tmp_path):
    path = tmp_path / "task.json"
    path.write_text('{"examples": [{"input": "a", ')
    with pytest.raises(FlanlabError, match="corrupt or truncated task.json") as error:
        bigbench.read_task_json(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet"])
def test_file_sources_round_trip_and_split_by_hash(tmp_path, kind):
    path = tmp_path / f"data.{kind}"
    if kind == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in RECORDS))
    elif kind == "csv":
        path.write_text("input,answer\n" + "\n".join(f"{r['input']},{r['answer']}" for r in RECORDS))
    else:
        pq.write_table(pa.Table.from_pylist(RECORDS), path)
    grouped = load_split_records(SourceSpec(kind=kind, locator=str(path)))
    assert sorted(r["input"] for rs in grouped.values() for r in rs) == sorted(r["input"] for r in RECORDS)
    assert grouped["train"] and grouped["test"]


def test_file_source_with_its_own_splits(tmp_path):
    for split in ("train", "test"):
        (tmp_path / f"{split}.jsonl").write_text(json.dumps({"input": split, "answer": "a"}) + "\n")
    grouped = load_split_records(SourceSpec(kind="jsonl", locator=str(tmp_path / "{split}.jsonl")))
    assert [r["input"] for r in grouped["train"]] == ["train"]
    assert grouped["validation"] == []


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"input": "ok", "answer": "a"}\n{"input": oops}\n')
    with pytest.raises(FlanlabError, match=r"bad.jsonl:2: invalid JSON"):
        load_split_records(SourceSpec(kind="jsonl", locator=str(path)))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FlanlabError, match="no such jsonl file"):
        load_split_records(SourceSpec(kind="jsonl", locator=str(tmp_path / "nope.jsonl")))


def test_huggingface_source_through_the_real_datasets_code(tmp_path):
    folder = tmp_path / "my_dataset"
    folder.mkdir()
    for split, rows in (("train", RECORDS[:40]), ("validation", RECORDS[40:50]), ("test", RECORDS[50:])):
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    grouped = load_split_records(SourceSpec(kind="huggingface", locator=str(folder)))
    assert [len(grouped[s]) for s in ("train", "validation", "test")] == [40, 10, 10]


def test_huggingface_source_failure_is_one_line(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "train.jsonl").write_text("{not json\n")
    with pytest.raises(FlanlabError, match="could not load Hugging Face dataset") as caught:
        load_split_records(SourceSpec(kind="huggingface", locator=str(folder)))
    assert not isinstance(caught.value, DataUnavailable) and "\n" not in str(caught.value)


def test_hub_without_an_answer_is_decided_once_and_puts_the_libraries_offline(hub_state, monkeypatch):
    import time

    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: refused at once
    started = time.monotonic()
    reason = hub_state.hub_offline_reason()
    assert reason.startswith("127.0.0.1:9 unreachable: ") and time.monotonic() - started < hub_state.PROBE_TIMEOUT_S + 1
    assert all(os.environ[name] == "1" for name in hub_state.OFFLINE_VARIABLES)
    assert huggingface_hub.constants.HF_HUB_OFFLINE and datasets.config.HF_DATASETS_OFFLINE
    monkeypatch.setattr(hub_state, "_probe", lambda endpoint: pytest.fail("a second probe"))
    assert hub_state.hub_offline_reason() == reason


def test_a_hub_dataset_without_hub_or_local_copy_is_unavailable_at_once(no_hub):
    with pytest.raises(DataUnavailable) as caught:
        load_split_records(SourceSpec(kind="huggingface", locator="someone/absent-dataset"))
    assert str(caught.value) == (
        "huggingface:someone/absent-dataset: no hub (HF_DATASETS_OFFLINE is set) and no local copy"
    )


def test_hub_revision_reaches_load_dataset(tmp_path, monkeypatch):
    import datasets

    from flanlab.sources import huggingface

    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in RECORDS))
    calls = []

    def recording_load(**arguments):
        calls.append(arguments)
        return real_load(str(folder))

    real_load = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset", recording_load)
    export = SourceSpec(
        kind="huggingface", locator="owner/script_only", config="plain_text", revision="refs/convert/parquet"
    )
    pinned = SourceSpec(kind="huggingface", locator="owner/data", config="en", revision="0123abcd")
    for spec in (export, pinned):
        grouped = load_split_records(spec)
        assert sum(len(rows) for rows in grouped.values()) == len(RECORDS)
    # The Parquet export keeps a config as a folder, so it is passed as data_dir, not as a config name.
    assert calls[0] == {
        "path": "owner/script_only", "revision": "refs/convert/parquet", "data_dir": "plain_text", "streaming": False
    }
    assert calls[1] == {"path": "owner/data", "revision": "0123abcd", "name": "en", "streaming": False}
    assert huggingface.load_arguments(SourceSpec(kind="huggingface", locator="a/b")) == {"path": "a/b"}


def test_script_only_dataset_is_named_with_the_way_out(tmp_path):
    from flanlab.sources.huggingface import ScriptOnlyDataset

    folder = tmp_path / "old_dataset"
    folder.mkdir()
    (folder / "old_dataset.py").write_text("import datasets\n")
    with pytest.raises(ScriptOnlyDataset, match=r"old_dataset: the dataset is only a loading script.*convert/parquet"):
        load_split_records(SourceSpec(kind="huggingface", locator=str(folder)))


def test_key_step_reads_every_item_of_a_list_of_records():
    from flanlab.sources.base import resolve_path

    pairs = {"_critics": [{"key": "a", "value": "Fine."}, {"key": "b", "value": "Dull."}]}
    assert resolve_path(pairs, "_critics.value") == ["Fine.", "Dull."]
    columns = {"_critics": {"key": ["a", "b"], "value": ["Fine.", "Dull."]}}
    assert resolve_path(columns, "_critics.value") == ["Fine.", "Dull."]
    assert resolve_path(pairs, "_critics.1.value") == "Dull."
    with pytest.raises(KeyError):
        resolve_path(pairs, "_critics.text")


@pytest.mark.slow
def test_real_bigbench_has_at_least_900_tasks_and_loads_one():
    tasks = bigbench.list_tasks()
    with_examples = [t for t in tasks if t["n_examples"] > 0]
    assert len(with_examples) >= 900
    grouped = load_split_records(SourceSpec(kind="bigbench", locator="strategyqa"))
    assert sum(len(v) for v in grouped.values()) == 2290
    assert any("rationale" in r for r in grouped["train"])


def test_unreadable_cache_index_is_a_clear_error(isolated_home):
    root = bigbench.bigbench_root()
    (root / bigbench.INDEX_NAME).write_text('{"version": "1.0.0", "tas')
    with pytest.raises(FlanlabError, match="unreadable cache index") as error:
        bigbench.list_tasks()
    assert str(root / bigbench.INDEX_NAME) in str(error.value)


def test_split_all_makes_every_record_test_data(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS))
    whole = load_split_records(SourceSpec(kind="jsonl", locator=str(path), split="all"))
    assert [len(whole[s]) for s in ("train", "validation", "test")] == [0, 0, len(RECORDS)]
    # an evaluation-only task without splits of its own is scored whole too; own splits are kept
    unsplit = load_split_records(SourceSpec(kind="jsonl", locator=str(path)), unsplit_is_test=True)
    assert len(unsplit["test"]) == len(RECORDS)
    pattern = tmp_path / "{split}.jsonl"
    for split, rows in (("train", RECORDS[:40]), ("test", RECORDS[40:])):
        (tmp_path / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    own = load_split_records(SourceSpec(kind="jsonl", locator=str(pattern)), unsplit_is_test=True)
    # (a source without a validation split lends a tenth of train to it)
    assert [len(own[s]) for s in ("train", "validation", "test")] == [36, 4, len(RECORDS) - 40]
    with pytest.raises(ValueError, match="'auto' or 'all'"):
        SourceSpec(kind="jsonl", locator=str(path), split="half")
