#!/usr/bin/env bash
# Runs every test: installs what is missing (build tools, Mosquitto, the dora
# CLI, the models), checks formatting, builds every target once with the
# lint gate, validates every dataflow, then runs the whole suite with
# cargo-nextest (model and dataflow tests one at a time; see
# .config/nextest.toml).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

ensure_build_tools
# procps: `ps` and `kill`, which the test harness uses to stop and check process groups.
# chromium: the operator console is tested in a real headless browser.
# aravis-tools: Aravis's simulated GigE Vision camera, the camera source's peer.
# GStreamer's plugins: RTSP, decoders (libav: H.264) and, for the tests' RTSP
# camera, the test picture's encoders (ugly: x264enc; good: jpegenc).
ensure_system_packages mosquitto mosquitto-clients procps chromium aravis-tools \
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav
if ! cargo nextest --version >/dev/null 2>&1; then
    say "installing cargo-nextest"
    cargo install --locked cargo-nextest
fi
say "checking formatting (cargo fmt --check)"
(cd "$REPO_ROOT" && cargo fmt --all --check)
# The clippy gate runs inside this build: .cargo/config.toml makes
# clippy-driver compile the workspace's own crates, and [workspace.lints]
# turns every rustc and clippy warning into an error (docs/decisions.md).
build_workspace_while ensure_test_python_packages ensure_model ensure_gemma_model ensure_embedding_model

say "validating dataflows"
for dataflow in "$REPO_ROOT"/dataflows/*.yml; do
    (cd "$(dirname "$dataflow")" && "$VENV/bin/dora" validate --strict-types "$(basename "$dataflow")")
done

say "running tests"
cd "$REPO_ROOT"
export SHOPFLOOR_DORA_BIN="$VENV/bin/dora"
# The OpenMP spin limit the shipped dataflows set (dataflows/plant-assistant.yml
# says why), for the tests that run a model in their own process or in dora's
# testing mode; a value set outside is kept.
export GOMP_SPINCOUNT="${GOMP_SPINCOUNT:-1000}"
cargo nextest run --release --locked --workspace --no-fail-fast "$@"
