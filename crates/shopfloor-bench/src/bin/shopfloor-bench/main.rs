//! `shopfloor-bench`: every benchmark of Shopfloor SLM, and the stand-in
//! nodes of the benchmark dataflows, in one binary (`scripts/bench.sh` runs
//! the benchmarks and appends their figures to docs/benchmarks.md).
//!
//! One binary rather than one per benchmark: each binary links dora, zenoh,
//! Arrow and llama.cpp again (docs/decisions.md, "The cold build").

mod batched;
mod console;
mod distributed;
mod docs;
mod echo_answerer;
mod filter;
mod frames_counter;
mod generation;
mod gige;
mod http_gateway;
mod latency_echo;
mod latency_probe;
mod latency_source;
mod mqtt_ingest;
mod mqtt_roundtrip;
mod opcua_ingest;
mod plant_assistant;
mod readings_counter;
mod replay;
mod rtsp;
mod serving;
mod soak;
mod vlm;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "shopfloor-bench", about = "Benchmarks of Shopfloor SLM and the nodes of dataflows/bench-*.yml")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// End-to-end latency and correctness of dataflows/plant-assistant.yml over MQTT.
    PlantAssistant,
    /// MQTT telemetry ingest: a bare client against mqtt-source, QoS 0 and 1.
    MqttIngest,
    /// What the MQTT nodes add to a question's round trip.
    MqttRoundtrip,
    /// OPC UA ingest: a bare client against opcua-source on one server.
    OpcuaIngest(opcua_ingest::Args),
    /// Load on the HTTP gateway at 1, 4 and 16 clients.
    HttpGateway,
    /// Our HTTP gateway and MQTT path against llama-server, at 1, 4 and 16 clients.
    Serving(serving::Args),
    /// The operator console in headless Chromium: page weight and first paint with 1,000 live tags.
    Console(console::Args),
    /// The site's documents: answers on both halves, indexing and search of 2,000 pages, a procedure through the dataflow.
    Docs(docs::Args),
    /// Record/replay throughput and timing fidelity.
    Replay,
    /// Cross-daemon against in-daemon latency on a local two-machine cluster.
    Distributed,
    /// Generation speed of the engine against a plain llama.cpp loop.
    Generation,
    /// Answers/s with 1, 2, 4 and 8 sequences decoded together against one after another.
    Batched,
    /// The assistant dataflow under a steady mixed load for 30 minutes: every node's memory and open files.
    Soak(soak::Args),
    /// Vision stage 1: recall, false alarms and frames per second on generated parts.
    Filter(filter::Options),
    /// A GigE Vision camera (Aravis's simulated one) through camera-source into the defect filter.
    Gige(gige::Args),
    /// An IP camera over RTSP (GStreamer's server, H.264) through camera-source into the defect filter.
    Rtsp(rtsp::Args),
    /// Vision stage 2: the vision-language model's time per flagged frame.
    Vlm(vlm::Args),
    /// Node of dataflows/bench-mqtt-ingest.yml and bench-opcua-ingest.yml: counts readings.
    ReadingsCounter,
    /// Node of dataflows/bench-gige.yml and bench-rtsp.yml: counts frames and their skipped camera ids.
    FramesCounter,
    /// Node of dataflows/bench-mqtt-roundtrip.yml: answers every question at once.
    EchoAnswerer,
    /// Node of dataflows/bench-distributed.yml: sends readings, frames and questions.
    LatencySource,
    /// Node of dataflows/bench-distributed.yml: times what arrives.
    LatencyProbe,
    /// Node of dataflows/bench-distributed.yml: the tier stand-in.
    LatencyEcho,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::PlantAssistant => plant_assistant::run(),
        Command::MqttIngest => mqtt_ingest::run(),
        Command::MqttRoundtrip => mqtt_roundtrip::run(),
        Command::OpcuaIngest(args) => opcua_ingest::run(args),
        Command::HttpGateway => http_gateway::run(),
        Command::Serving(args) => serving::run(args),
        Command::Console(args) => console::run(args),
        Command::Docs(args) => docs::run(&args),
        Command::Replay => replay::run(),
        Command::Distributed => distributed::run(),
        Command::Generation => generation::run(),
        Command::Batched => batched::run(),
        Command::Soak(args) => soak::run(args),
        Command::Filter(options) => filter::run(options),
        Command::Gige(args) => gige::run(args),
        Command::Rtsp(args) => rtsp::run(args),
        Command::Vlm(args) => vlm::run(args),
        Command::ReadingsCounter => readings_counter::run(),
        Command::FramesCounter => frames_counter::run(),
        Command::EchoAnswerer => echo_answerer::run(),
        Command::LatencySource => latency_source::run(),
        Command::LatencyProbe => latency_probe::run(),
        Command::LatencyEcho => latency_echo::run(),
    }
}
