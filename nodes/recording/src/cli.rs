//! The `recording` command line: parsed here, run by the binary.

use std::path::PathBuf;
use std::time::Duration;

/// Usage text.
pub const USAGE: &str = "\
usage:
  recording info FILE.drec
  recording export FILE.drec --out FILE.arrow
  recording import FILE.arrow --out FILE.drec
  recording capture-mqtt --broker mqtt://HOST:PORT --topic FILTER [--topic FILTER ...]
                         --duration-s SECONDS [--max-messages N] --out FILE.drec
  recording publish-mqtt FILE.drec --broker mqtt://HOST:PORT [--speed FACTOR] [--qos 0|1|2]

MQTT logins and TLS come from the same MQTT_* variables as the nodes' (MQTT_USERNAME,
MQTT_PASSWORD, MQTT_CA_FILE, ...). --speed 1 keeps the recorded timing, 0 sends at once.";

/// One command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Per-topic summary.
    Info {
        /// The recording.
        file: PathBuf,
    },
    /// `.drec` to Arrow IPC file.
    Export {
        /// The recording.
        file: PathBuf,
        /// The Arrow IPC file to write.
        out: PathBuf,
    },
    /// Arrow IPC file to `.drec`.
    Import {
        /// The Arrow IPC file.
        file: PathBuf,
        /// The recording to write.
        out: PathBuf,
    },
    /// Raw MQTT from a broker into a recording.
    CaptureMqtt {
        /// Broker URL.
        broker: String,
        /// Topic filters.
        topics: Vec<String>,
        /// How long.
        duration: Duration,
        /// Stop after this many messages.
        max_messages: Option<u64>,
        /// The recording to write.
        out: PathBuf,
    },
    /// A recording's captured MQTT messages back to a broker.
    PublishMqtt {
        /// The recording.
        file: PathBuf,
        /// Broker URL.
        broker: String,
        /// Timing factor (0: at once).
        speed: f64,
        /// QoS of the publications.
        qos: u8,
    },
}

/// A command line that cannot be run.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}\n\n{USAGE}")]
pub struct UsageError(pub String);

fn number<T: std::str::FromStr>(flag: &str, value: Option<String>, check: impl Fn(&T) -> bool) -> Result<T, UsageError> {
    let text = value.ok_or_else(|| UsageError(format!("{flag} needs a value")))?;
    match text.parse::<T>() {
        Ok(v) if check(&v) => Ok(v),
        _ => Err(UsageError(format!("{flag} has invalid value {text:?}"))),
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let mut words = args.iter().cloned();
    let verb = words.next().ok_or_else(|| UsageError("no command given".into()))?;
    let mut positional = Vec::new();
    let (mut out, mut broker, mut topics, mut duration, mut max_messages) = (None, None, Vec::new(), None, None);
    let (mut speed, mut qos) = (1.0f64, 1u8);
    while let Some(word) = words.next() {
        match word.as_str() {
            "--out" => out = Some(PathBuf::from(words.next().ok_or_else(|| UsageError("--out needs a path".into()))?)),
            "--broker" => broker = Some(words.next().ok_or_else(|| UsageError("--broker needs a URL".into()))?),
            "--topic" => topics.push(words.next().ok_or_else(|| UsageError("--topic needs a filter".into()))?),
            "--duration-s" => {
                duration = Some(Duration::from_secs_f64(number("--duration-s", words.next(), |s: &f64| *s > 0.0 && *s < 1e7)?))
            }
            "--max-messages" => max_messages = Some(number("--max-messages", words.next(), |n: &u64| *n > 0)?),
            "--speed" => speed = number("--speed", words.next(), |s: &f64| s.is_finite() && *s >= 0.0)?,
            "--qos" => qos = number("--qos", words.next(), |q: &u8| *q <= 2)?,
            flag if flag.starts_with("--") => return Err(UsageError(format!("unknown option {flag}"))),
            _ => positional.push(PathBuf::from(word)),
        }
    }
    let one_file = |positional: &mut Vec<PathBuf>| match positional.len() {
        1 => Ok(positional.remove(0)),
        _ => Err(UsageError(format!("`{verb}` takes one file"))),
    };
    let need_out = |out: Option<PathBuf>| out.ok_or_else(|| UsageError(format!("`{verb}` needs --out")));
    let need_broker = |broker: Option<String>| broker.ok_or_else(|| UsageError(format!("`{verb}` needs --broker")));
    match verb.as_str() {
        "info" => Ok(Command::Info { file: one_file(&mut positional)? }),
        "export" => Ok(Command::Export { file: one_file(&mut positional)?, out: need_out(out)? }),
        "import" => Ok(Command::Import { file: one_file(&mut positional)?, out: need_out(out)? }),
        "capture-mqtt" => {
            if topics.is_empty() {
                return Err(UsageError("capture-mqtt needs at least one --topic".into()));
            }
            Ok(Command::CaptureMqtt {
                broker: need_broker(broker)?,
                topics,
                duration: duration.ok_or_else(|| UsageError("capture-mqtt needs --duration-s".into()))?,
                max_messages,
                out: need_out(out)?,
            })
        }
        "publish-mqtt" => {
            Ok(Command::PublishMqtt { file: one_file(&mut positional)?, broker: need_broker(broker)?, speed, qos })
        }
        other => Err(UsageError(format!("unknown command {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn commands_parse() {
        assert_eq!(
            parse(&args("export a.drec --out a.arrow")).unwrap(),
            Command::Export { file: "a.drec".into(), out: "a.arrow".into() }
        );
        let capture = parse(&args("capture-mqtt --broker mqtt://127.0.0.1:1883 --topic a/# --topic b --duration-s 2.5 --out x.drec"));
        assert!(matches!(capture, Ok(Command::CaptureMqtt { ref topics, .. }) if topics.len() == 2));
        assert!(matches!(
            parse(&args("publish-mqtt x.drec --broker mqtt://h:1 --speed 0")),
            Ok(Command::PublishMqtt { speed, qos: 1, .. }) if speed == 0.0
        ));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse(&args("capture-mqtt --broker mqtt://h:1 --duration-s 1 --out x")).unwrap_err().0.contains("--topic"));
        assert!(parse(&args("publish-mqtt x --broker mqtt://h:1 --speed -1")).unwrap_err().0.contains("--speed"));
        assert!(parse(&args("export a.drec")).unwrap_err().0.contains("--out"));
        assert!(parse(&args("frobnicate")).unwrap_err().0.contains("frobnicate"));
        assert!(parse(&args("info a --verbose")).unwrap_err().0.contains("--verbose"));
    }
}
