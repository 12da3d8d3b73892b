#!/usr/bin/env bash
# Visual inspection on the embedded defaults: installs what is missing,
# builds, renders test parts (16 good ones to learn from, and a camera folder
# of good and defective parts) with `shopfloor images generate`, then runs
# dataflows/vision-inspection.yml on the embedded MQTT broker and prints the
# alerts. Without a vision-language model (the profile's [vision] table, or
# VLM_MODEL_PATH and VLM_MMPROJ_PATH in the environment) alerts carry the
# filter's findings alone; docs/vision.md says how to plug one in.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

ensure_build_tools
ensure_system_packages mosquitto-clients
ensure_dora_cli
build_workspace
cd "$REPO_ROOT"

VISION="$REPO_ROOT/data/vision"
[ -f "$VISION/good/truth.json" ] || target/release/shopfloor images generate --out "$VISION/good" --good 16 --defective 0 --seed 1
[ -f "$VISION/frames/truth.json" ] || target/release/shopfloor images generate --out "$VISION/frames" --good 8 --defective 4 --seed 2

port=1883
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
TOPIC_ROOT=plant1/assembly/cell1
http_port=8081
while (exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null; do http_port=$((http_port + 1)); done
model_env=()
if [ -n "${VLM_MODEL_PATH:-}" ]; then
    model_env=(--env "VLM_MODEL_PATH=$VLM_MODEL_PATH" --env "VLM_MMPROJ_PATH=${VLM_MMPROJ_PATH:?set VLM_MMPROJ_PATH too}")
fi
LOG="$REPO_ROOT/.cache/vision-demo.log"
mkdir -p "$(dirname "$LOG")"
say "starting dataflows/vision-inspection.yml (MQTT on 127.0.0.1:$port; log: $LOG)"
"$VENV/bin/dora" run dataflows/vision-inspection.yml --stop-after 30s --env CAMERA_LOOP=true \
    --env "MQTT_EMBEDDED_LISTEN=127.0.0.1:$port" --env "GATEWAY_LISTEN=127.0.0.1:$http_port" \
    "${model_env[@]}" >"$LOG" 2>&1 &
DORA_PID=$!
trap 'kill -INT "$DORA_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 40); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.5; done
say "operator console with the defect alarms: http://127.0.0.1:$http_port/console (for the 30 s the demo runs)"
say "alerts from $TOPIC_ROOT/alerts/# (12 frames at 5 Hz, looped; crops in $VISION/crops):"
mosquitto_sub -h 127.0.0.1 -p "$port" -t "$TOPIC_ROOT/alerts/#" -v -W 20 || true
wait "$DORA_PID" || true
