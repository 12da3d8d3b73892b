//! Whole-dataflow tests: the real dora CLI, real Mosquitto, real OPC UA
//! servers, the real node binaries and models, and the `shopfloor` CLI.
//! One test binary, so dora, OPC UA and llama.cpp are linked once; one
//! module per subject; the shared harness is this package's library
//! (`tests/util`, also used by the benchmarks). Node binaries must be built
//! first (`cargo build --release --workspace --bins`); each test checks that
//! what it starts is newer than the workspace's sources.

mod any_plant;
mod chaos;
mod console;
mod distributed;
mod embedded_broker;
mod harness;
mod http_gateway;
mod mqtt_redelivery;
mod mqtt_sink_outage;
mod mqtt_source_telemetry;
mod mqtt_tls;
mod opcua_asyncua;
mod opcua_browse;
mod opcua_security;
mod opcua_source_restart;
mod plant_assistant;
mod plant_docs;
mod replay_suite;
mod router_calibrate;
mod router_tiers;
mod slm_power_swap;
mod slm_startup;
mod slm_tune;
mod vision_filter_node;
mod vision_inspection;
