"""`flanlab mix export`: both schemas load with `datasets`, row for row, and TRL's SFTTrainer trains on them."""

from __future__ import annotations

import importlib.util
import math

import pytest

from flanlab.mixture import MixtureRecipe, build_mixture, read_mixture
from flanlab.mixture.export import PROVENANCE, export_mixture
from tests.synthetic import SyntheticTask, write_synthetic_registry
from tests.test_chat_format import TEMPLATE

TASKS = [
    SyntheticTask("anli_r1", "nli"),
    SyntheticTask("squad", "reading_comprehension", shape="gen"),
    SyntheticTask("cosmos", "commonsense", shape="choice", inverted=True, train=40),
    SyntheticTask("trivia", "closed_book_qa", shape="gen", inverted=True),
]


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    registry = write_synthetic_registry(folder / "data", TASKS)
    build_mixture(MixtureRecipe(held_out=["nli"], total_size=40), registry, folder / "mix")
    return folder / "mix"


def _load(kind: str, path, cache) -> object:
    import datasets

    if kind == "folder":  # through the dataset card's `configs`
        return datasets.load_dataset(str(path), split="train", cache_dir=str(cache))
    return datasets.load_dataset(kind, data_files=str(path), split="train", cache_dir=str(cache))


SCHEMAS = [("messages", ["messages"]), ("prompt-completion", ["prompt", "completion"])]
NO_TRL = "TRL is not installed (FLANLAB_WITH_PEERS=1 bash scripts/setup.sh installs it)"


@pytest.mark.parametrize("fmt, text_columns", SCHEMAS)
def test_both_schemas_load_with_datasets_row_for_row(mixture, tmp_path, fmt, text_columns, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    out = tmp_path / fmt
    manifest = export_mixture(mixture, out, fmt)
    rows = list(read_mixture(mixture).iter_rows())
    assert manifest["rows"] == len(rows) == 40
    for kind, path in (("json", out / "train.jsonl"), ("parquet", out / "train.parquet"), ("folder", out)):
        loaded = _load(kind, path, tmp_path / "hf_cache")
        assert loaded.column_names == text_columns + list(PROVENANCE), kind
        assert len(loaded) == len(rows)
        for row, record in zip(rows, loaded):
            if fmt == "messages":
                turns = [{"role": "user", "content": row["inputs"]}, {"role": "assistant", "content": row["targets"]}]
                assert record["messages"] == turns
            else:
                assert record["prompt"] + record["completion"] == row["inputs"] + row["delimiter"] + row["targets"]
                assert record["prompt"] == row["inputs"]
            assert {key: record[key] for key in PROVENANCE} == {key: row[key] for key in PROVENANCE}
    assert any(record["inverted"] for record in loaded) and {r["cluster"] for r in loaded}.isdisjoint({"nli"})
    assert (out / "dataset_info.json").exists() == (fmt == "messages")


def test_cli_export_and_its_user_errors(mixture, tmp_path, monkeypatch, capsys):
    from flanlab.cli.app import main

    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr("sys.argv", ["flanlab", "mix", "export", *args])
        try:
            main()
        except SystemExit as exited:
            return exited.code or 0, capsys.readouterr().err
        return 0, capsys.readouterr().err

    code, err = run(str(mixture), "--format", "messages", "-o", str(tmp_path / "x"))
    assert code == 0 and "wrote 40 rows" in err
    assert run(str(mixture), "--format", "messages", "-o", str(tmp_path / "x"))[0] == 0  # an export folder is replaced
    code, err = run(str(mixture), "--format", "sharegpt", "-o", str(tmp_path / "y"))
    assert code == 2 and "--format must be one of messages, prompt-completion" in err
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    code, err = run(str(mixture), "--format", "messages", "-o", str(tmp_path / "notes"))
    assert code == 2 and "refusing to overwrite" in err and (tmp_path / "notes" / "mine.txt").exists()
    code, err = run(str(tmp_path / "nowhere"), "--format", "messages", "-o", str(tmp_path / "z"))
    assert code == 2 and "no such mixture folder" in err


@pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason=NO_TRL)
@pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated:FutureWarning")  # raised inside TRL
@pytest.mark.parametrize("fmt", ["messages", "prompt-completion"])
def test_trl_sft_trainer_runs_two_steps_on_the_export(mixture, tmp_path, fmt, monkeypatch):
    import datasets
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from flanlab.models.tiny import make_tiny_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    model = make_tiny_model("causal", tmp_path / "model")
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = TEMPLATE  # the messages schema goes through the tokenizer's chat template
    export_mixture(mixture, tmp_path / "export", fmt)
    data_file = str(tmp_path / "export" / "train.jsonl")
    dataset = datasets.load_dataset("json", data_files=data_file, split="train", cache_dir=str(tmp_path / "hf_cache"))
    args = SFTConfig(
        output_dir=str(tmp_path / "sft"), max_steps=2, per_device_train_batch_size=2, max_length=256, use_cpu=True,
        report_to=[], save_strategy="no", logging_steps=1,
    )
    try:
        result = SFTTrainer(model=str(model), args=args, train_dataset=dataset, processing_class=tokenizer).train()
    finally:  # the trainer leaves process-wide accelerate state (bf16 on CPU) flanlab must not inherit
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    assert result.global_step == 2 and math.isfinite(result.training_loss)
