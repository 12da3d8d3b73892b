#!/usr/bin/env bash
# Runs every fuzz target of crates/shopfloor-fuzz at length: CASES inputs each
# (default 1000000), two targets at a time, and prints each target's line of
# the report table (inputs, decoded, rejections by name, slowest input, most
# memory held by one input). A failing input is shrunk and kept in
# crates/shopfloor-fuzz/crashers/<target>/, which the test suite replays.
#
#   scripts/fuzz.sh [CASES] [TARGET-FILTER]
#
# Needs what scripts/test.sh installs (Rust, cargo-nextest, the build).
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-1000000}"
filter="${2:-}"
# The corpus replay and the helper tests are not targets.
expression='package(shopfloor-fuzz) & not test(/crashers|mutations|every_target/)'
if [[ -n "$filter" ]]; then
  expression="$expression & test(/$filter/)"
fi
cargo build --release --locked -p shopfloor-fuzz --lib --tests
echo "| target | inputs | decoded | rejected (by name) | slowest | peak held | took | failure |"
echo "|---|---|---|---|---|---|---|---|"
SHOPFLOOR_FUZZ_CASES="$cases" cargo nextest run --release --locked --profile fuzz -E "$expression" \
  --test-threads 2 --success-output immediate --failure-output immediate 2>&1 | grep --line-buffered -E '^\s*\| [a-z_]+ \| [0-9]|FAIL|panicked|Summary' | sed -u 's/^ *//'
