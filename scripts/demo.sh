#!/usr/bin/env bash
# The main job: install what is missing, build, launch the plant-assistant
# dataflow on its embedded defaults (simulated CNC cell, embedded MQTT
# broker), ask one question over MQTT and print the answer. The dataflow keeps
# running for your own questions until Ctrl-C (or exits at once with --once).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

once=false
[ "${1:-}" = "--once" ] && once=true

ensure_build_tools
ensure_system_packages mosquitto-clients
build_workspace_while ensure_dora_cli ensure_model ensure_gemma_model ensure_embedding_model

free_port() { # first free loopback TCP port from $1 on
    local port=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    echo "$port"
}
MQTT_PORT=$(free_port 1883)
OPCUA_PORT=$(free_port 4840)
HTTP_PORT=$(free_port 8080)
TOPIC_ROOT=plant1/assembly/cell1

LOG="$REPO_ROOT/.cache/demo-dataflow.log"
mkdir -p "$(dirname "$LOG")"
say "starting dataflows/plant-assistant.yml (MQTT on 127.0.0.1:$MQTT_PORT, OPC UA on 127.0.0.1:$OPCUA_PORT, HTTP on 127.0.0.1:$HTTP_PORT; log: $LOG)"
"$VENV/bin/dora" run "$REPO_ROOT/dataflows/plant-assistant.yml" \
    --env "MQTT_EMBEDDED_LISTEN=127.0.0.1:$MQTT_PORT" \
    --env "SIM_PORT=$OPCUA_PORT" \
    --env "OPCUA_ENDPOINT=opc.tcp://127.0.0.1:$OPCUA_PORT/" \
    --env "GATEWAY_LISTEN=127.0.0.1:$HTTP_PORT" >"$LOG" 2>&1 &
DORA_PID=$!
stop_dataflow() { kill -INT "$DORA_PID" 2>/dev/null && wait "$DORA_PID" 2>/dev/null || true; }
trap stop_dataflow EXIT

QUESTION='What is the spindle temperature?'
say "asking: $QUESTION"
answer=""
for attempt in $(seq 1 30); do # the model loads and the first readings arrive within seconds
    kill -0 "$DORA_PID" 2>/dev/null || { cat "$LOG" >&2; echo "error: the dataflow stopped" >&2; exit 1; }
    id="demo-$attempt"
    answer=$(
        mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t "$TOPIC_ROOT/assistant/answer/demo" -C 1 -W 3 2>/dev/null &
        sub=$!
        sleep 0.3
        mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "$TOPIC_ROOT/assistant/query/demo" \
            -m "{\"id\":\"$id\",\"question\":\"$QUESTION\"}" 2>/dev/null || true
        wait "$sub" || true
    )
    if grep -q "\"id\":\"$id\"" <<<"$answer" && ! grep -q '"error":"no_plant_data"' <<<"$answer"; then break; fi
    answer=""
    sleep 1
done
[ -n "$answer" ] || { cat "$LOG" >&2; echo "error: no answer after 30 attempts" >&2; exit 1; }

echo
echo "Answer (JSON from $TOPIC_ROOT/assistant/answer/demo):"
echo "$answer" | python3 -c "import json, sys; print(json.dumps(json.load(sys.stdin), indent=2, ensure_ascii=False))"
echo
echo "Operator console: http://127.0.0.1:$HTTP_PORT/console (no GATEWAY_API_KEY on loopback: your name logs you in)"
echo
if $once; then exit 0; fi
cat <<HELP
The dataflow keeps running. Open the console above in a browser, or ask your own questions from another terminal:

  mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -t '$TOPIC_ROOT/assistant/answer/#' -v &
  mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -t '$TOPIC_ROOT/assistant/query/alice' \\
      -m '{"id":"q-1","question":"How many parts have been made?"}'

or over HTTP, with any OpenAI client (base URL http://127.0.0.1:$HTTP_PORT/v1):

  curl -s http://127.0.0.1:$HTTP_PORT/v1/chat/completions -H 'Content-Type: application/json' \
      -d '{"model":"shopfloor-assistant","messages":[{"role":"user","content":"Is the machine running?"}]}'
  curl -s http://127.0.0.1:$HTTP_PORT/metrics

Press Ctrl-C to stop the dataflow.
HELP
wait "$DORA_PID"
