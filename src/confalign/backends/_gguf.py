"""Helpers shared by the ``llamacpp`` and ``openai`` backends: the GGUF file of a model and its
chat template, rendered exactly as transformers renders it.

``read_metadata`` reads the key-value header of a GGUF file (format version 2 or 3) without
the tensors, and without the ``gguf`` package, whose reader maps the whole file and takes
seconds: a chat template is a string near the start of the file.

``ChatTemplate`` renders system and user turns with ``add_generation_prompt=True`` the way
``transformers``' ``apply_chat_template`` does (a sandboxed jinja2 environment with
``trim_blocks``, ``lstrip_blocks`` and the loop-controls extension; ``raise_exception``,
``strftime_now`` and a non-escaping ``tojson``; the special tokens as variables), so the
``hf``, ``llamacpp`` and ``openai`` backends send the model the same text for the same
``Prompt`` (the tests check it on the embedded model).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from confalign.backends.base import Prompt

_MAGIC = b"GGUF"
# GGUF value types: id -> struct format (strings and arrays are read apart).
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9


def default_gguf() -> Path:
    """The embedded SmolLM2-135M-Instruct GGUF file (see ``default_model``)."""
    from confalign.backends.default_model import gguf_path

    return gguf_path()


def resolve_gguf(model: str) -> Path:
    """``"default"``/``"gemma-3-270m"`` -> the embedded GGUF file; otherwise ``model`` must be
    a ``.gguf`` file."""
    if model == "default":
        return default_gguf()
    from confalign.backends.default_model import GEMMA_KEY, gemma_gguf_path

    if model == GEMMA_KEY:
        return gemma_gguf_path()
    path = Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"no GGUF file at {model!r} (a .gguf path, 'default' or 'gemma-3-270m')"
        )
    return path


def read_metadata(path: Path | str, *, skip_arrays: bool = True) -> dict[str, Any]:
    """The key-value metadata of a GGUF file. Arrays (the vocabulary, merges) are left out
    unless ``skip_arrays`` is False, except that ``tokenizer.ggml.tokens`` is always kept
    (special tokens are named by index into it)."""
    with open(path, "rb") as f:
        if f.read(4) != _MAGIC:
            raise ValueError(f"{path} is not a GGUF file")
        (version,) = struct.unpack("<I", f.read(4))
        if version not in (2, 3):
            raise ValueError(f"{path}: GGUF version {version} is not supported (2 or 3)")
        _n_tensors, n_kv = struct.unpack("<QQ", f.read(16))
        out: dict[str, Any] = {}
        for _ in range(n_kv):
            key = _read_string(f)
            (kind,) = struct.unpack("<I", f.read(4))
            keep = not skip_arrays or kind != _ARRAY or key == "tokenizer.ggml.tokens"
            value = _read_value(f, kind, keep)
            if keep:
                out[key] = value
    return out


def _read_string(f: BinaryIO) -> str:
    (n,) = struct.unpack("<Q", f.read(8))
    return f.read(n).decode("utf-8", errors="replace")


def _read_value(f: BinaryIO, kind: int, keep: bool) -> Any:
    if kind == _STRING:
        return _read_string(f)
    if kind in _SCALARS:
        fmt = "<" + _SCALARS[kind]
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
    if kind != _ARRAY:
        raise ValueError(f"unknown GGUF value type {kind}")
    item_kind, n = struct.unpack("<IQ", f.read(12))
    if item_kind in _SCALARS:  # fixed size: read (or skip) in one go
        fmt = "<" + _SCALARS[item_kind]
        size = struct.calcsize(fmt)
        if not keep:
            f.seek(n * size, 1)
            return None
        return list(struct.unpack(f"<{n}{_SCALARS[item_kind]}", f.read(n * size)))
    items = [_read_value(f, item_kind, keep) for _ in range(n)]
    return items if keep else None


@dataclass(frozen=True)
class ChatTemplate:
    """A jinja chat template and the special tokens it may refer to."""

    source: str
    bos_token: str | None = None
    eos_token: str | None = None

    @classmethod
    def from_gguf(cls, path: Path | str) -> ChatTemplate | None:
        """The template in a GGUF file's metadata (None when it has none)."""
        meta = read_metadata(path)
        source = meta.get("tokenizer.chat_template")
        if not source:
            return None
        tokens = meta.get("tokenizer.ggml.tokens") or []

        def token(key: str) -> str | None:
            index = meta.get(key)
            return tokens[index] if index is not None and 0 <= index < len(tokens) else None

        return cls(
            source, token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id")
        )

    @classmethod
    def from_tokenizer_folder(cls, folder: Path | str) -> ChatTemplate | None:
        """The template of a transformers tokenizer folder (``chat_template.jinja`` or
        ``tokenizer_config.json``), read without loading transformers."""
        folder = Path(folder)
        config_file = folder / "tokenizer_config.json"
        config = json.loads(config_file.read_text()) if config_file.is_file() else {}
        jinja = folder / "chat_template.jinja"
        source = jinja.read_text() if jinja.is_file() else config.get("chat_template")
        if isinstance(source, list):  # named templates: take the default one
            source = next((t["template"] for t in source if t.get("name") == "default"), None)
        if not source:
            return None
        return cls(
            source, _token_text(config.get("bos_token")), _token_text(config.get("eos_token"))
        )

    @classmethod
    def load(cls, where: str) -> ChatTemplate | None:
        """From a ``.gguf`` file or a tokenizer folder."""
        path = Path(where).expanduser()
        if path.is_dir():
            return cls.from_tokenizer_folder(path)
        if path.is_file():
            return cls.from_gguf(path)
        raise FileNotFoundError(f"no GGUF file or tokenizer folder at {where!r}")

    @cached_property
    def _compiled(self) -> Callable[..., str]:
        return _compile(self.source).render

    def render(self, prompt: Prompt) -> str:
        """System and user turns with the generation prompt, then ``assistant_prefix``.

        A template that refuses a system turn gets it merged into the user turn, as the
        ``hf`` backend does."""
        messages = [{"role": "user", "content": prompt.user}]
        if prompt.system:
            messages.insert(0, {"role": "system", "content": prompt.system})
        try:
            text = self._render(messages)
        except Exception as error:  # jinja2 TemplateError from raise_exception
            if not prompt.system:
                raise
            merged = [{"role": "user", "content": f"{prompt.system}\n\n{prompt.user}"}]
            try:
                text = self._render(merged)
            except Exception:
                raise error from None
        return text + prompt.assistant_prefix

    def _render(self, messages: list[dict[str, str]]) -> str:
        special = {"bos_token": self.bos_token, "eos_token": self.eos_token}
        special = {k: v for k, v in special.items() if v is not None}
        return self._compiled(messages=messages, add_generation_prompt=True, **special)


def _token_text(token: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(token, dict):
        return token.get("content")
    return token if isinstance(token, str) else None


def _compile(source: str) -> Any:
    """The template compiled as transformers compiles it (``_compile_jinja_template``)."""
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        x: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: tuple[str, str] | None = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    def strftime_now(fmt: str) -> str:
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)
