"""`flanlab tasks check-hub` on local dataset folders read through the real Hugging Face code path.

No network: each "hub dataset" is a local folder `datasets.load_dataset` reads as it would a hub
repository (data files named by split, or only a loading script). Hub id lookups are replaced where a
test needs a moved dataset.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from flanlab.tasks.card import card_from_dict
from flanlab.tasks.hubcheck import check_card, required_paths
from tests.conftest import run_cli

PIQA_ROWS = [
    {"goal": "keep bread fresh", "sol1": "Seal it in a bag.", "sol2": "Leave it in the sun.", "label": 0},
    {"goal": "clean a pan", "sol1": "Use cold water only.", "sol2": "Use hot soapy water.", "label": 1},
]
TEMPLATES = [
    {"id": "t1", "input": "Goal: {goal}\nWhich way is better?"},
    {"id": "t2", "input": "How would you {goal}?", "target": "{answer}"},
]


def write_dataset(folder: Path, splits: dict[str, list[dict]]) -> Path:
    folder.mkdir(parents=True)
    for split, rows in splits.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def card_data(name: str, locator: Path | str, **source: object) -> dict:
    return {
        "name": name,
        "collection": "hubtest",
        "cluster": "commonsense",
        "source": {"kind": "huggingface", "locator": str(locator), **source},
        "fields": {"options": {"from": ["sol1", "sol2"]}, "answer": "label"},
        "templates": TEMPLATES,
    }


def card(name: str, locator: Path | str, **source: object):
    return card_from_dict(card_data(name, locator, **source), where=f"card {name}")


@pytest.fixture
def hub(tmp_path) -> Path:
    """Three "hub datasets": one as the card expects, one with a renamed feature, one script only."""
    write_dataset(tmp_path / "piqa", {"train": PIQA_ROWS, "validation": PIQA_ROWS})
    renamed = [{("solution1" if key == "sol1" else key): value for key, value in row.items()} for row in PIQA_ROWS]
    write_dataset(tmp_path / "piqa_renamed", {"train": renamed})
    (tmp_path / "piqa_script").mkdir()
    (tmp_path / "piqa_script" / "piqa_script.py").write_text("import datasets\n")
    return tmp_path


def test_required_paths_are_field_paths_and_record_placeholders(hub):
    assert required_paths(card("p", hub / "piqa")) == ["goal", "label", "sol1", "sol2"]


def test_a_dataset_as_the_card_expects_is_ok(hub):
    result = check_card(card("p", hub / "piqa", splits={"test": "validation", "validation": "none"}))
    assert (result.status, result.details) == ("ok", ())


def test_a_script_only_dataset_is_reported_as_such(hub):
    result = check_card(card("p", hub / "piqa_script"))
    assert result.status == "script-only"
    assert "loading script" in result.details[0] and "refs/convert/parquet" in result.details[0]


def test_a_feature_the_dataset_lacks_is_named(hub):
    result = check_card(card("p", hub / "piqa_renamed"))
    assert result.status == "missing-feature"
    assert any("'sol1' not in the train records" in detail for detail in result.details)
    # A train-only dataset is split by hash on `split_key`, which this card leaves at `input`.
    assert any("split_key 'input'" in detail for detail in result.details)


def test_a_split_the_card_maps_but_the_dataset_lacks(hub):
    result = check_card(card("p", hub / "piqa", splits={"test": "test_r1"}))
    assert result.status == "missing-split"
    assert "'test_r1'" in result.details[0] and "['train', 'validation']" in result.details[0]


def test_a_moved_dataset_is_reported_with_its_new_id(hub):
    def resolve(locator: str, revision: str | None) -> str | None:
        return "new-owner/piqa" if locator == str(hub / "piqa") else None

    moved = check_card(card("p", hub / "piqa"), resolve_id=resolve)
    assert (moved.status, moved.details) == ("moved", ("the hub now files it as new-owner/piqa",))
    gone = check_card(card("q", hub / "other"), resolve_id=resolve)
    assert gone.status == "not-found"


def test_manual_download_card_waits_for_its_folder_then_reads_it(hub, isolated_home):
    data = {**card_data("story", "owner/needs_a_form"), "manual_download": "fill in the form"}
    manual = card_from_dict(data, where="card story")
    waiting = check_card(manual)
    assert waiting.status == "manual" and str(isolated_home / "manual" / "story") in waiting.details[0]
    write_dataset(isolated_home / "manual" / "story", {"train": PIQA_ROWS, "test": PIQA_ROWS})
    assert check_card(manual).status == "ok"


def test_cli_reports_each_card_and_exits_1_on_findings(hub, tmp_path):
    folder = tmp_path / "cards"
    folder.mkdir()
    for name, dataset in (("good", "piqa"), ("renamed", "piqa_renamed"), ("script", "piqa_script")):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(card_data(name, hub / dataset)))
    offline = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = run_cli("tasks", "check-hub", "--cards", str(folder), "--collection", "hubtest", "--json", env=offline)
    assert result.returncode == 1, result.stderr
    statuses = {row["task"]: row["status"] for row in json.loads(result.stdout)}
    assert statuses == {"good": "ok", "renamed": "missing-feature", "script": "script-only"}
    assert "checked 3 hub cards: 1 ok" in result.stderr and "Traceback" not in result.stderr


def test_cli_without_a_hub_is_one_line(tmp_path):
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "remote.yaml").write_text(yaml.safe_dump(card_data("remote", "owner/remote_dataset")))
    offline = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = run_cli("tasks", "check-hub", "--cards", str(folder), "--collection", "hubtest", env=offline)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: check-hub needs the hub: cannot reach the hub")
    assert "Traceback" not in result.stderr


def test_hub_id_lookup_tells_moved_from_missing(monkeypatch):
    """The lookup behind `moved` / `not-found`, with the hub's answers stood in for."""
    from types import SimpleNamespace

    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError
    from huggingface_hub.utils import httpx

    from flanlab.tasks.hubcheck import current_hub_id

    def answer(self, repo_id: str, *, revision: str | None = None, **_: object) -> SimpleNamespace:
        if repo_id == "story_cloze":  # the hub redirects a renamed dataset to its new id
            return SimpleNamespace(id="LSDSem/story_cloze")
        response = httpx.Response(404, request=httpx.Request("GET", f"https://hub.example/api/datasets/{repo_id}"))
        raise RepositoryNotFoundError("not found", response=response)

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", answer)
    assert current_hub_id("story_cloze", None) == "LSDSem/story_cloze"
    assert current_hub_id("nobody/nothing", None) is None
    assert current_hub_id("/a/local/folder/path", None) == "/a/local/folder/path"  # local folders are not looked up


def test_an_unreachable_hub_is_tried_once(hub):
    from flanlab.sources.huggingface import HubUnreachable
    from flanlab.tasks.hubcheck import check_cards

    asked = []

    def no_hub(locator: str, revision: str | None) -> str | None:
        asked.append(locator)
        raise HubUnreachable("cannot reach the hub (no network)")

    cards = [card("a", "owner/a"), card("local", hub / "piqa"), card("b", "owner/b")]
    results = list(check_cards(cards, resolve_id=no_hub))
    assert [result.status for result in results] == ["unreachable", "unreachable", "unreachable"]
    assert asked == ["owner/a", str(hub / "piqa")]  # local folders are still checked; owner/b is not tried
    assert results[2].details == ("cannot reach the hub (no network)",)
