//! Benchmarks of Shopfloor SLM (`scripts/bench.sh` runs them and appends
//! the figures to `docs/benchmarks.md`). The `shopfloor-bench` binary holds
//! every benchmark and the stand-in nodes of `dataflows/bench-*.yml` as
//! subcommands; this library holds what its node subcommands share.

pub mod latency_common;
