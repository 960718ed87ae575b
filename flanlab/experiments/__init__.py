"""Experiments: the paper's studies as configs, run as cached units (mix, train, eval)."""
