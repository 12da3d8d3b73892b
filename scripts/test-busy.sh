#!/usr/bin/env bash
# Runs scripts/test.sh while CPU-heavy processes run beside it, as on a
# gateway that also runs another dataflow with a model: the suite must stay
# green when it gets only part of the CPU (issue 29, "tests that hold on a
# busy machine").
#
#   scripts/test-busy.sh [HOGS] [-- nextest arguments]
#
# HOGS (default 2, one per core here) busy loops run at normal priority for
# the whole run, like llama.cpp's spinning OpenMP threads; each stops by
# itself after two hours at the latest, and all are stopped when this script
# ends.
set -euo pipefail
cd "$(dirname "$0")/.."
hogs=2
if [[ $# -gt 0 && "$1" != "--" ]]; then
  hogs="$1"
  shift
fi
[[ "${1:-}" == "--" ]] && shift
pids=()
stop_hogs() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_hogs EXIT
for _ in $(seq "$hogs"); do
  timeout 7200 bash -c 'while :; do :; done' &
  pids+=("$!")
done
echo "== $hogs CPU hogs running beside the suite (pids ${pids[*]})"
started=$(date +%s)
scripts/test.sh --profile busy "$@"
echo "== suite green beside $hogs CPU hogs in $(( $(date +%s) - started )) s"
