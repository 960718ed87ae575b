"""The model zoo: embedded GGUF models converted once to safetensors, local folders, hub ids, tiny test models."""

from flanlab.models.zoo import MODEL_ZOO, load_model, model_fingerprint, prepare_model, resolve_model_path

__all__ = ["MODEL_ZOO", "load_model", "model_fingerprint", "prepare_model", "resolve_model_path"]
