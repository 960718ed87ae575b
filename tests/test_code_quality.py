"""The import contract, ruff and mypy, run as the README's test command runs everything else.

Each tool reads its settings from pyproject.toml; a failure shows the tool's own report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CHECKS = {
    "import contract": [str(Path(sys.executable).parent / "lint-imports")],  # import-linter has no `-m` entry
    "ruff check": [sys.executable, "-m", "ruff", "check", "flanlab"],
    "ruff format": [sys.executable, "-m", "ruff", "format", "--check", "flanlab"],
    "mypy": [sys.executable, "-m", "mypy", "flanlab"],
}


@pytest.mark.parametrize("name", CHECKS)
def test_code_quality(name: str) -> None:
    done = subprocess.run(CHECKS[name], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
