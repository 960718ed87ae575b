"""Shared fixtures: tiny models made in code, an isolated cache root, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def isolated_home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty FLANLAB_HOME for tests that exercise the cache itself."""
    home = tmp_path / "flanlab_home"
    monkeypatch.setenv("FLANLAB_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory) -> Path:
    from flanlab.models.tiny import make_tiny_model

    return make_tiny_model("causal", tmp_path_factory.mktemp("tiny") / "causal")


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory) -> Path:
    from flanlab.models.tiny import make_tiny_model

    return make_tiny_model("seq2seq", tmp_path_factory.mktemp("tiny") / "seq2seq")


@pytest.fixture
def hub_state(monkeypatch):
    """Undo what a hub probe changes: the cached decision, the offline variables, the libraries' flags."""
    import datasets.config
    import huggingface_hub.constants

    from flanlab import hub

    for name in hub.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", huggingface_hub.constants.HF_HUB_OFFLINE)
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setattr(datasets.config, name, getattr(datasets.config, name))
    hub.hub_offline_reason.cache_clear()
    yield hub
    hub.hub_offline_reason.cache_clear()


@pytest.fixture
def no_hub(hub_state, monkeypatch):
    """No hub, as the offline variable says; a probe would be a failure."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(hub_state, "_probe", lambda endpoint: pytest.fail("the offline variable must be honoured"))
    return hub_state


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m flanlab ARGS` in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "flanlab", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd or REPO,
    )
