"""Whether llama-cpp-python works on this machine, for the tests of the backends that use it
(imported by name: ``tests/backends`` is on the path of its own tests)."""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys

import pytest

_PROBE = """
import sys, llama_cpp
llm = llama_cpp.Llama(sys.argv[1], n_ctx=64, n_threads=1, verbose=False)
llm.eval(llm.tokenize(b"Hello world", add_bos=False))
"""


@functools.cache
def _llama_cpp_crash(gguf: str) -> str | None:
    """Why llama.cpp cannot decode here (None: it can). Probed in a child process: a build
    whose kernels the machine refuses (e.g. AMX tile instructions where the kernel does not
    enable AMX: a general protection fault) kills the process, and would end the whole run."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, gguf], capture_output=True, text=True, timeout=300
    )
    if done.returncode == 0:
        return None
    tail = " ".join(done.stderr.strip().splitlines()[-1:])
    return f"llama-cpp-python crashes decoding on this machine (exit {done.returncode}) {tail}"


def require_llama_cpp() -> None:
    """Skip unless llama-cpp-python is installed and decodes the embedded GGUF here."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama_cpp not installed (pip install 'llama-cpp-python[server]')")
    crash = _llama_cpp_crash(str(_gguf()))
    if crash:
        pytest.skip(crash)


def _gguf() -> str:
    from confalign.backends.default_model import DefaultModelMissingError, gguf_path

    try:
        return str(gguf_path())
    except DefaultModelMissingError as error:
        pytest.skip(str(error))
