#!/usr/bin/env bash
# Runs the benchmarks and appends their results, with machine and date, to
# docs/benchmarks.md. Run scripts/test.sh (or demo.sh) once first: it installs
# what the benchmarks need.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
build_workspace_while ensure_test_python_packages ensure_model ensure_gemma_model ensure_embedding_model
cd "$REPO_ROOT"
export SHOPFLOOR_DORA_BIN="$VENV/bin/dora"
out=$(mktemp)
{
    echo
    echo "## $(date -u +%Y-%m-%d) — $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
    echo
    echo "Command: \`scripts/bench.sh\` (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
    echo
    target/release/shopfloor-bench generation 2>/dev/null
    echo
    target/release/shopfloor-bench plant-assistant
    echo
    target/release/shopfloor-bench mqtt-ingest
    echo
    target/release/shopfloor-bench mqtt-roundtrip
    echo
    target/release/shopfloor-bench opcua-ingest
    echo
    target/release/shopfloor-bench http-gateway
    echo
    # llama.cpp's own server, built from source once (minutes), as the peer.
    scripts/build-llama-reference.sh >/dev/null
    target/release/shopfloor-bench serving
    echo
    # The operator console in headless Chromium (Debian's chromium, as scripts/test.sh installs it).
    target/release/shopfloor-bench console
    echo
    # Every quantization of the shipped model, plus the ternary one the gate must reject.
    variants=target/bench-variants
    target/release/shopfloor model quantize models/SmolLM2-135M-Instruct.Q4_1.gguf "$variants" >/dev/null 2>&1
    target/release/shopfloor model quantize models/SmolLM2-135M-Instruct.Q4_1.gguf "$variants" TQ1_0 >/dev/null 2>&1
    echo "### Quantization variants (\`shopfloor model evaluate\`, SmolLM2-135M-Instruct from its Q4_1, profile \`generic-x86-2core\`)"
    echo
    target/release/shopfloor model evaluate hw-profiles/generic-x86-2core.toml models/SmolLM2-135M-Instruct.Q4_1.gguf \
        "$variants"/SmolLM2-135M-Instruct.{F16,Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0,Q3_K_M,Q2_K,TQ1_0}.gguf 2>/dev/null || true
    echo
    echo "### Routing (\`shopfloor router calibrate dataflows/plant-assistant.yml\`: each tier alone and routed, one run)"
    echo
    target/release/shopfloor router calibrate dataflows/plant-assistant.yml 2>/dev/null
    echo
    echo "### Engine knobs (\`shopfloor model tune\`, SmolLM2-135M-Instruct.Q4_1, profile \`generic-x86-2core\`, not written)"
    echo
    target/release/shopfloor model tune hw-profiles/generic-x86-2core.toml 2>/dev/null
    echo
    target/release/shopfloor-bench replay
    echo
    target/release/shopfloor-bench distributed
    echo
    echo "### Vision stage 1 (\`shopfloor-bench filter --images 500 --learn 24 --seed 2026 --runs 5\`: one thread, 640x480)"
    echo
    target/release/shopfloor-bench filter --images 500 --learn 24 --seed 2026 --runs 5
    echo
    for product in plate board; do
        echo "### Vision stage 1 under a line's conditions, ${product}s (\`shopfloor-bench filter --conditions --product $product --images 400 --learn 24 --seed 2026\`)"
        echo
        target/release/shopfloor-bench filter --conditions --product "$product" --images 400 --learn 24 --seed 2026
        echo
    done
    # Aravis's simulated GigE Vision camera (Debian aravis-tools, installed by scripts/test.sh).
    ensure_system_packages aravis-tools
    target/release/shopfloor-bench gige --rate-hz 30 --seconds 30
    echo
    # GStreamer's RTSP server in the benchmark process; x264enc from gstreamer1.0-plugins-ugly (scripts/test.sh).
    target/release/shopfloor-bench rtsp --seconds 30
    echo
    # The tiny random-weight VLM of the tests (written from a seed; see docs/vision.md).
    tiny=target/bench-tiny-vlm
    [ -f "$tiny/tiny-vlm.gguf" ] || "$VENV/bin/python" tests/python/make_tiny_vlm.py models/SmolLM2-135M-Instruct.Q4_1.gguf "$tiny" >/dev/null
    target/release/shopfloor images generate --out target/bench-vision --good 0 --defective 1 --seed 9 >/dev/null
    echo "### Vision stage 2 (\`shopfloor-bench vlm\`: the tiny random-weight VLM, one whole 640x480 frame, profile \`generic-x86-2core\`)"
    echo
    target/release/shopfloor-bench vlm --model "$tiny/tiny-vlm.gguf" --mmproj "$tiny/tiny-vlm-mmproj.gguf" \
        --image target/bench-vision/scratch-0000.png --runs 20 2>/dev/null
} | tee "$out"
cat "$out" >> docs/benchmarks.md
rm -f "$out"
