"""Held-out evaluation: requests, the HF scoring backend, metrics, aggregation, results files."""

from flanlab.evaluate.runner import EvalConfig, evaluate

__all__ = ["EvalConfig", "evaluate"]
