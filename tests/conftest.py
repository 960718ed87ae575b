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


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m flanlab ARGS` in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "flanlab", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd or REPO,
    )
