#!/usr/bin/env bash
# Install llama-cpp-python with its OpenAI-compatible server into the project's venv.
#
# PyPI ships llama-cpp-python as source only, so pip builds llama.cpp: 11 min on this 2-core
# machine while others used it (load ~7), probably 6-8 min idle. The wheel is built once into
# WHEEL_DIR and reused by later runs (instant). It is compiled for this CPU (GGML_NATIVE, the
# default): keep WHEEL_DIR per machine kind, or set CMAKE_ARGS="-DGGML_NATIVE=OFF ..." for a
# portable, slower build.
#
#   PY=.venv/bin/python scripts/install_llamacpp.sh
set -euo pipefail

PY=${PY:-.venv/bin/python}
VERSION=${LLAMA_CPP_VERSION:-0.3.36}
WHEEL_DIR=${LLAMACPP_WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/confalign/wheels}

if "$PY" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$VERSION')" 2>/dev/null \
    && "$PY" -c "import uvicorn, fastapi" 2>/dev/null; then
    echo "llama-cpp-python $VERSION (server) already installed"
    exit 0
fi

mkdir -p "$WHEEL_DIR"
if ! compgen -G "$WHEEL_DIR/llama_cpp_python-$VERSION-*.whl" >/dev/null; then
    # No multimodal (llava/mtmd) library, tests or examples: only what the bindings load.
    export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}"
    export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
    start=$(date +%s)
    "$PY" -m pip wheel --no-deps --wheel-dir "$WHEEL_DIR" "llama-cpp-python==$VERSION"
    echo "built llama-cpp-python $VERSION in $(( $(date +%s) - start )) s"
fi
"$PY" -m pip install --find-links "$WHEEL_DIR" "llama-cpp-python[server]==$VERSION"
