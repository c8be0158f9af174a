#!/usr/bin/env bash
# Install llama-cpp-python with its OpenAI-compatible server into the project's venv.
#
# PyPI ships llama-cpp-python as source only, so pip builds llama.cpp: 11 min on this 2-core
# machine while others used it (load ~7), probably 6-8 min idle. The wheel is built once into
# WHEEL_DIR (one folder per set of build flags) and reused by later runs (instant).
#
# Not GGML_NATIVE: these machines' CPUs advertise AMX, -march=native compiles ggml's AMX
# kernels, and the kernel here does not enable AMX state for the process, so the first decode
# dies with a general protection fault (`ldtilecfg` in libggml-cpu.so; seen 2026-12-02).
# The build names its instruction sets instead: AVX2/FMA/F16C and AVX-512 with VNNI/BF16, no
# AMX. Set CMAKE_ARGS to build otherwise (e.g. "-DGGML_NATIVE=ON" where AMX is enabled).
#
#   PY=.venv/bin/python scripts/install_llamacpp.sh
set -euo pipefail

PY=${PY:-.venv/bin/python}
VERSION=${LLAMA_CPP_VERSION:-0.3.36}
FEATURES="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
FEATURES="$FEATURES -DGGML_BMI2=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON"
# No multimodal (llava/mtmd) library, tests or examples: only what the bindings load.
export CMAKE_ARGS="${CMAKE_ARGS:-$FEATURES -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}"
FLAGS_KEY=$(printf '%s' "$CMAKE_ARGS" | sha1sum | cut -c1-8)
WHEEL_DIR=${LLAMACPP_WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/confalign/wheels/$FLAGS_KEY}

if "$PY" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$VERSION')" 2>/dev/null \
    && "$PY" -c "import uvicorn, fastapi" 2>/dev/null; then
    echo "llama-cpp-python $VERSION (server) already installed"
    exit 0
fi

mkdir -p "$WHEEL_DIR"
if ! compgen -G "$WHEEL_DIR/llama_cpp_python-$VERSION-*.whl" >/dev/null; then
    export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
    start=$(date +%s)
    # --no-cache-dir: pip caches a wheel it built by the source archive, whatever CMAKE_ARGS were
    "$PY" -m pip wheel --no-cache-dir --no-deps --wheel-dir "$WHEEL_DIR" "llama-cpp-python==$VERSION"
    echo "built llama-cpp-python $VERSION in $(( $(date +%s) - start )) s"
fi
# --no-deps: its dependencies and the [server] extra's are in requirements/lock.txt, installed
# by the set-up at their locked versions.
"$PY" -m pip install --no-deps --find-links "$WHEEL_DIR" "llama-cpp-python==$VERSION"
