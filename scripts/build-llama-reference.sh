#!/usr/bin/env bash
# Builds llama.cpp's own tools as the reference peers of the benchmarks, into
# target/llama-reference/build/bin: llama-bench (`shopfloor-bench
# generation`), llama-batched-bench (`batched`) and llama-server (`serving`).
# Idempotent.
#
# The llama.cpp source that llama-cpp-sys-2 vendors ships tools/ with READMEs
# only, so the tools' sources come from the llama-cpp-python sdist (its
# vendor/llama.cpp, a PyPI download), and the crate's own ggml/, src/ and
# include/ replace the sdist's: the tools run the same kernels and model code
# as the product, with the CPU features of its Rust build (x86-64-v3: AVX2,
# FMA, F16C, BMI2), not the build machine's native ones. The server's web UI
# is left out (no npm, no download): the server's API is what is measured.
#
#   scripts/build-llama-reference.sh
#   target/llama-reference/build/bin/llama-bench -m models/SmolLM2-135M-Instruct.Q4_1.gguf -t 2 -p 0 -n 128
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

SDIST="llama-cpp-python==0.3.36"
OUT="$REPO_ROOT/target/llama-reference"
BIN="$OUT/build/bin"

TOOLS=(llama-bench llama-batched-bench llama-server)
if [ -x "$BIN/llama-bench" ] && [ -x "$BIN/llama-batched-bench" ] && [ -x "$BIN/llama-server" ]; then
    say "llama.cpp reference tools present in $BIN"
    exit 0
fi
ensure_build_tools
ensure_dora_cli # creates .venv, whose pip downloads the sdist

crate_src=$(cargo metadata --format-version 1 --manifest-path "$REPO_ROOT/Cargo.toml" 2>/dev/null |
    "$VENV/bin/python" -c 'import json,sys,os; m=json.load(sys.stdin); print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"]=="llama-cpp-sys-2"))')
[ -d "$crate_src/llama.cpp" ] || { echo "llama-cpp-sys-2's source not found (run cargo fetch)" >&2; exit 1; }

work="$OUT"
rm -rf "$work" && mkdir -p "$work"
say "downloading the $SDIST sdist for the tools' sources"
"$VENV/bin/pip" download --quiet --no-deps --no-binary :all: -d "$work" "$SDIST"
tar xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
upstream=$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)

say "building ${TOOLS[*]} against llama-cpp-sys-2's ggml and llama"
cp -r "$upstream" "$work/llama.cpp"
for part in ggml src include; do
    rm -rf "$work/llama.cpp/$part"
    cp -r "$crate_src/llama.cpp/$part" "$work/llama.cpp/$part"
done
cmake -S "$work/llama.cpp" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DGGML_OPENMP=ON \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON >/dev/null
cmake --build "$work/build" -j"$(nproc)" --target "${TOOLS[@]}" >/dev/null
say "built: ${TOOLS[*]} in $BIN"
