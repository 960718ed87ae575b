"""Tokenising a mixture: exact context/target boundary, left truncation, never a cut target, cache."""

from __future__ import annotations

import pytest

from flanlab.errors import FlanlabError
from flanlab.mixture.reader import read_text_columns
from flanlab.train import data as train_data
from flanlab.train.data import cut_left, load_tokenized_mixture, tokenize_examples
from tests.train_support import write_mixture


@pytest.fixture
def tokenizer(tiny_causal):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_causal)


def test_causal_ids_are_inputs_then_delimiter_target_eos(tokenizer):
    data = tokenize_examples(["Is it?", "Or?"], ["yes", "no"], tokenizer, "causal", 64, 16, delimiters=[" ", "\n"])
    assert tokenizer.decode(data.input_ids[0]) == "Is it?"
    assert data.target_ids[0][-1] == tokenizer.eos_token_id
    assert tokenizer.decode(data.target_ids[0][:-1]) == " yes"
    assert tokenizer.decode(data.target_ids[1][:-1]) == "\nno"


def test_long_input_loses_its_left_side_and_is_counted(tokenizer):
    text = "0123456789" * 3  # 30 byte tokens
    data = tokenize_examples([text, "ok"], ["a", "b"], tokenizer, "causal", 12, 8, delimiters=" ")
    assert tokenizer.decode(data.input_ids[0]) == text[-12:]
    assert data.stats["truncated_examples"] == 1 and data.stats["truncated_tokens"] == 18


def test_target_is_never_cut_long_ones_are_dropped(tokenizer):
    data = tokenize_examples(
        ["q1", "q2"], ["short", "a much longer answer"], tokenizer, "causal", 16, 8, delimiters=" "
    )
    assert data.stats["dropped_long_target"] == 1 and data.stats["kept_examples"] == 1
    assert list(data.source_rows) == [0]


def test_cut_left_keeps_special_prefix_and_suffix():
    assert cut_left([1, 10, 11, 12, 13, 2], 4, prefix=[1], suffix=[2]) == [1, 12, 13, 2]


def test_tokenised_mixture_is_cached_by_content(tmp_path, isolated_home, tokenizer, monkeypatch):
    mixture = write_mixture(tmp_path / "mix", [{"inputs": f"q{i}", "targets": f"a{i}"} for i in range(10)])
    first = load_tokenized_mixture(mixture, tokenizer, "causal", 32, 8)

    def tokenised_again(*args, **kwargs):
        raise RuntimeError("tokenised again")

    monkeypatch.setattr(train_data, "tokenize_examples", tokenised_again)
    again = load_tokenized_mixture(mixture, tokenizer, "causal", 32, 8)
    assert [list(x) for x in again.target_ids] == [list(x) for x in first.target_ids]
    with pytest.raises(RuntimeError, match="tokenised again"):  # other lengths: another cache entry
        load_tokenized_mixture(mixture, tokenizer, "causal", 32, 9)


def test_bad_mixture_names_file_and_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "mix" / "shards").mkdir(parents=True)
    pq.write_table(pa.table({"inputs": ["x"]}), tmp_path / "mix" / "shards" / "part-0.parquet")
    with pytest.raises(FlanlabError, match="part-0.parquet.*missing column 'targets'"):
        read_text_columns(tmp_path / "mix")
    with pytest.raises(FlanlabError, match="no shards"):
        read_text_columns(tmp_path)


def test_rows_without_a_delimiter_column_were_joined_with_a_space(tmp_path):
    old = write_mixture(tmp_path / "old", [{"inputs": "q", "targets": "a"}], shards=1)
    new = write_mixture(tmp_path / "new", [{"inputs": "q", "targets": "a", "delimiter": "\n"}], shards=1)
    assert read_text_columns(old) == (["q"], ["a"], [" "])
    assert read_text_columns(new) == (["q"], ["a"], ["\n"])
