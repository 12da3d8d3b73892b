//! Benchmarks of Shopfloor SLM (`scripts/bench.sh` runs them and appends
//! the figures to `docs/benchmarks.md`). Each `bench-*` binary measures one
//! thing; the `bench-*` nodes are the stand-ins of `dataflows/bench-*.yml`.

pub mod latency_common;
