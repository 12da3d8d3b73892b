//! `recording`: inspect, export, import, capture and publish recordings
//! (see `recording::cli::USAGE` and docs/recording.md).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use recording::cli::{parse, Command};
use recording::{arrow_file, mqtt, summary, DrecWriter};
use shopfloor_core::config::{process_env, MqttConfig};

fn main() -> ExitCode {
    shopfloor_core::logging::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("recording: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// MQTT settings as the nodes read them, with the broker (and QoS) given.
fn mqtt_config(broker: &str, qos: u8, client_id: &str) -> anyhow::Result<MqttConfig> {
    let mut vars = process_env();
    vars.retain(|key, _| key.starts_with("MQTT_"));
    vars.insert("MQTT_BROKER_URL".into(), broker.into());
    vars.insert("MQTT_QOS".into(), qos.to_string());
    vars.entry("MQTT_CLIENT_ID".into()).or_insert_with(|| format!("{client_id}-{}", std::process::id()));
    Ok(MqttConfig::from_env("recording", &vars)?)
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args)? {
        Command::Info { file } => {
            let messages = recording::read_file(&file)?;
            print!("{}", summary::render(&messages));
        }
        Command::Export { file, out } => {
            let messages = recording::read_file(&file)?;
            arrow_file::export(&out, &messages)?;
            println!("exported {} messages to {}", messages.len(), out.display());
        }
        Command::Import { file, out } => {
            let messages = arrow_file::import(&file)?;
            recording::write_file(&out, "", &messages)?;
            println!("imported {} messages into {}", messages.len(), out.display());
        }
        Command::CaptureMqtt { broker, topics, duration, max_messages, out } => {
            let config = mqtt_config(&broker, 1, "recording-capture")?;
            let mut writer = DrecWriter::create(&out, "")?;
            let captured = mqtt::capture(&config, &topics, duration, max_messages, &mut writer)?;
            writer.finish()?;
            println!("captured {captured} messages into {}", out.display());
        }
        Command::PublishMqtt { file, broker, speed, qos } => {
            let config = mqtt_config(&broker, qos, "recording-publish")?;
            let messages = recording::read_file(&file)?;
            let sent = mqtt::publish_recorded(&config, &messages, speed, Duration::from_secs(30))
                .with_context(|| format!("publishing {}", file.display()))?;
            println!("published {sent} messages to {broker}");
        }
    }
    Ok(())
}
