"""The run manifest: what produced a run's results, read and written as ``manifest.json``.

A manifest is a JSON object. Its ``identity`` section is everything that determines the results
(model, adapter hash, backend, datasets and their sizes, prompts, methods, seed...); a resumed
run must present the same identity, and ``diff_identity`` says field by field what differs.
The rest is bookkeeping: package versions, times, status, the loaded backend's description.

Secrets never reach the file: ``redact`` replaces the value of any secret-looking key
(``api_key``, ``token``, ``password``...) and any occurrence of a secret-looking environment
variable's value (``OPENAI_API_KEY``...) before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from confalign.runs.atomic import atomic_write
from confalign.runs.errors import DamagedRunError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "confalign-run/1"
# How a run stored before graders were named was graded (the normalised exact match).
LEGACY_GRADING: Mapping[str, str] = {"grader": "exact"}
Status = Literal["running", "complete", "interrupted", "failed"]
REDACTED = "<redacted>"

# Key names whose values are secrets. Matches api_key, apiKey, access_token, hf_token,
# password, secret, authorization, bearer...; not batch_tokens or generated_tokens.
_SECRET_KEY = re.compile(
    r"(api[_-]?key|secret|passw(or)?d|authori[sz]ation|bearer|credential|(^|[_-])token$)",
    re.IGNORECASE,
)
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
_MIN_SECRET_LEN = 6


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    """Versions of confalign, torch, transformers and Python, without importing torch."""
    versions = {"python": platform.python_version()}
    for name in ("confalign", "torch", "transformers"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def stored_grading(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The grading a run's ``manifest`` records, or ``LEGACY_GRADING`` for a run stored before
    graders were named."""
    return dict(manifest.get("grading") or LEGACY_GRADING)


def content_hash(path: str | os.PathLike[str] | None) -> str | None:
    """SHA-256 of a file, or of a folder's files (relative paths and bytes, in sorted order).

    None when ``path`` is None or not a local file or folder (e.g. a Hub id).
    """
    if path is None:
        return None
    root = Path(path)
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file())
    else:
        return None
    digest = hashlib.sha256()
    for file in files:
        rel = file.name if file == root else file.relative_to(root).as_posix()
        digest.update(rel.encode() + b"\0")
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short SHA-256 of ``obj``'s canonical JSON (sorted keys): a key for what produced it."""
    text = json.dumps(obj, sort_keys=True, default=json_default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def json_default(obj: Any) -> Any:
    """JSON fallback for numpy scalars/arrays, paths, sets and tuples-as-keys-free objects."""
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _secret_env_values() -> list[str]:
    return sorted(
        (v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= _MIN_SECRET_LEN),
        key=len,
        reverse=True,
    )


def redact(obj: Any, *, _secrets: list[str] | None = None) -> Any:
    """A copy of ``obj`` (JSON-like) with secret keys' values and secret env values replaced."""
    secrets = _secret_env_values() if _secrets is None else _secrets
    if isinstance(obj, Mapping):
        return {
            str(k): REDACTED if _SECRET_KEY.search(str(k)) else redact(v, _secrets=secrets)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [redact(v, _secrets=secrets) for v in obj]
    if isinstance(obj, str):
        for value in secrets:
            obj = obj.replace(value, REDACTED)
        return obj
    return obj


def write_manifest(run_dir: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest.json`` atomically (temporary file, then rename), secrets redacted; a
    failed write raises ``RunWriteError`` naming the file and leaves the previous one."""
    text = json.dumps(redact(manifest), indent=2, sort_keys=False, default=json_default)
    atomic_write(run_dir / MANIFEST_NAME, text + "\n")


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of ``run_dir`` (unchecked: see ``check_manifest``)."""
    with (run_dir / MANIFEST_NAME).open(encoding="utf-8") as fh:
        return json.load(fh)


def check_manifest(
    run_dir: Path, *, name: str = MANIFEST_NAME, expected: str = MANIFEST_FORMAT
) -> dict[str, Any]:
    """The manifest ``run_dir / name``, checked: readable, valid JSON, an object with an
    ``identity`` object, written in format ``expected`` (``family/version``). Raises
    ``DamagedRunError`` naming the file and what is wrong (an unknown version: which one, and
    which this confalign reads)."""
    path = run_dir / name
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DamagedRunError(f"{path} is damaged: it is not UTF-8 text") from None
    except OSError as exc:
        raise DamagedRunError(f"{path} cannot be read: {exc.strerror or exc}") from None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise DamagedRunError(f"{path} is damaged: not valid JSON ({exc.msg} at {where})") from None
    if not isinstance(manifest, dict):
        kind = type(manifest).__name__
        raise DamagedRunError(f"{path} is not a {expected} manifest (a JSON {kind}, not an object)")
    found = manifest.get("format")
    family = expected.rpartition("/")[0]
    if not isinstance(found, str) or not found.startswith(family + "/"):
        raise DamagedRunError(f"{path} is not a {family} manifest (format: {found!r})")
    if found != expected:
        raise DamagedRunError(
            f"{path} was written in manifest format {found}, which this confalign "
            f"({package_versions()['confalign']}) cannot read (it reads {expected}); use the "
            "confalign version that wrote it"
        )
    if not isinstance(manifest.get("identity"), dict):
        raise DamagedRunError(f"{path} is damaged: it has no 'identity' object")
    return manifest


def canonical(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists...), secrets redacted."""
    return json.loads(json.dumps(redact(obj), default=json_default))


def diff_identity(old: Any, new: Any, path: str = "") -> list[str]:
    """Lines ``field: old → new`` for every leaf that differs between two identities.

    Dict keys extend the path with ``.key``; lists of objects that carry a ``name`` are matched
    by name (``datasets[mmlu].size``); other lists are compared whole.
    """
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        lines: list[str] = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                lines.append(f"{sub}: {_show(old[key])} → (absent)")
            elif key not in old:
                lines.append(f"{sub}: (absent) → {_show(new[key])}")
            else:
                lines.extend(diff_identity(old[key], new[key], sub))
        return lines
    if _named_list(old) and _named_list(new):
        old_by, new_by = {d["name"]: d for d in old}, {d["name"]: d for d in new}
        if list(old_by) == list(new_by):
            lines = []
            for name in old_by:
                lines.extend(diff_identity(old_by[name], new_by[name], f"{path}[{name}]"))
            return lines
        return [f"{path}: {_show(list(old_by))} → {_show(list(new_by))}"]
    return [] if old == new else [f"{path}: {_show(old)} → {_show(new)}"]


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(d, Mapping) and "name" in d for d in value)


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=json_default, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
