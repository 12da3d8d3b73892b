#!/usr/bin/env bash
# Runs the benchmarks and appends their results, with machine and date, to
# docs/benchmarks.md. Run scripts/test.sh (or demo.sh) once first: it installs
# what the benchmarks need.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ensure_dora_cli
ensure_model
build_workspace
cd "$REPO_ROOT"
export SHOPFLOOR_DORA_BIN="$VENV/bin/dora"
out=$(mktemp)
{
    echo
    echo "## $(date -u +%Y-%m-%d) — $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
    echo
    echo "Command: \`scripts/bench.sh\` (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
    echo
    target/release/bench-generation 2>/dev/null
    echo
    target/release/bench-plant-assistant
    echo
    target/release/bench-mqtt-ingest
    echo
    target/release/bench-mqtt-roundtrip
    echo
    target/release/bench-opcua-ingest
    echo
    target/release/bench-http-gateway
} | tee "$out"
cat "$out" >> docs/benchmarks.md
rm -f "$out"
