//! The node on dora: every input message into the `.drec` file until the
//! inputs end or dora stops the node; the file is finished either way.

use std::path::PathBuf;

use dora_node_api::{DoraNode, Event, EventStream};
use recording::drec::unix_nanos_now;
use recording::{DrecError, DrecWriter};
use shopfloor_node::{Driver, Wiring};

use crate::config::RecorderConfig;
use crate::state::{Counts, RecorderState, RECORDED_OUTPUT};
use crate::topics::resolve;

#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("cannot create the recording's folder {path}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Recording(#[from] DrecError),
}

/// Records until the stream ends; returns what it counted.
pub fn run(
    config: &RecorderConfig,
    wiring: &Wiring,
    node: DoraNode,
    mut events: EventStream,
) -> Result<Counts, RecorderError> {
    let topics = resolve(&config.topics, &wiring.inputs);
    if let Some(folder) = config.file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|source| RecorderError::Folder { path: folder.to_owned(), source })?;
    }
    // The dataflow goes into the header, as `dora record` does, so that
    // `dora replay` can rebuild the graph from the file alone.
    let descriptor_yaml = if config.descriptor_yaml.is_empty() {
        node.dataflow_descriptor().ok().and_then(|d| serde_norway::to_string(d).ok()).unwrap_or_default()
    } else {
        config.descriptor_yaml.clone()
    };
    let mut writer = DrecWriter::create(&config.file, &descriptor_yaml)?;
    tracing::info!(file = %config.file.display(), topics = ?topics, "recording");
    let reports = wiring.outputs.iter().any(|output| output.as_str() == RECORDED_OUTPUT);
    let mut state = RecorderState::new(topics, reports, writer.start_nanos());
    let mut driver = Driver::new(node);
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, metadata, data } => {
                let message = state.message(
                    id.as_str(),
                    &metadata.parameters,
                    metadata.timestamp(),
                    data.into_inner(),
                    unix_nanos_now(),
                );
                let Some(message) = message else { continue };
                writer.write(&message)?;
                if let Some(progress) = state.written(&message) {
                    // A lost report only slows a paced replayer down.
                    if let Err(error) = driver.send(progress) {
                        tracing::warn!(%error, "cannot report progress");
                    }
                }
            }
            Event::Stop(_) => break,
            _ => {}
        }
    }
    let messages = writer.messages();
    writer.finish()?;
    tracing::info!(messages, recorded = ?state.counts().recorded, "recording closed");
    Ok(state.counts().clone())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use dora_node_api::arrow_v59::array::{Array, ArrayRef, UInt64Array, UInt8Array};
    use dora_node_api::{MetadataParameters, Parameter};
    use shopfloor_core::schema::{Reading, ReadingValue};
    use shopfloor_node::testing::TestRun;

    use super::*;

    fn reading(value: f64, ts_ms: i64) -> Reading {
        Reading::good(
            "opc",
            "spindle_temperature".into(),
            ReadingValue::Number(value),
            Some("°C".into()),
            Some(ts_ms),
            ts_ms,
        )
    }

    /// Under dora: readings and a frame with its metadata are written to
    /// the file under the outputs they come from (the dataflow's mapping,
    /// or RECORD_TOPICS), in order and spaced as they came; the progress
    /// output counts them; the file is finished at stop and reads back.
    #[test]
    fn inputs_are_recorded_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let config = RecorderConfig {
            file: dir.path().join("shift/a.drec"),
            topics: BTreeMap::from([("frames".to_owned(), "camera-source/frames".parse().unwrap())]),
            descriptor_yaml: "nodes: []".into(),
        };
        let mut parameters = MetadataParameters::default();
        parameters.insert("width".into(), Parameter::Integer(2));
        let frame: ArrayRef = Arc::new(UInt8Array::from(vec![1u8, 2, 3, 4, 5, 6]));
        let (counts, outputs) = TestRun::new("recorder")
            .declare_output("recorded")
            .input(0.0, "readings", Reading::to_arrow(&[reading(70.0, 1_000)]))
            .input_with_parameters(0.1, "frames", frame, parameters)
            .input(0.2, "readings", Reading::to_arrow(&[reading(81.0, 2_000), reading(82.0, 2_001)]))
            .stop(0.3)
            .run_wired(|node, events, wiring| run(&config, wiring, node, events))
            .unwrap();
        let counts = counts.unwrap();
        assert_eq!(counts.recorded.get("upstream/readings"), Some(&2), "{counts:?}");
        assert_eq!(counts.recorded.get("camera-source/frames"), Some(&1), "{counts:?}");
        let progress: Vec<u64> = outputs
            .on("recorded")
            .map(|sent| sent.data.as_any().downcast_ref::<UInt64Array>().unwrap().value(0))
            .collect();
        assert_eq!(progress, [1, 2, 3]);

        let messages = recording::read_file(&config.file).unwrap();
        let topics: Vec<String> = messages.iter().map(|m| m.topic()).collect();
        assert_eq!(topics, ["upstream/readings", "camera-source/frames", "upstream/readings"]);
        assert_eq!(messages[1].parameters.get("width"), Some(&Parameter::Integer(2)));
        assert_eq!(messages[1].rows(), 6);
        let last = Reading::from_arrow(messages[2].data.as_ref().unwrap().as_ref()).unwrap();
        assert_eq!(last.len(), 2);
        assert!(messages[2].offset_ns > messages[0].offset_ns + 100_000_000, "spaced as they came");
        assert_eq!(recording::DrecReader::open(&config.file).unwrap().descriptor_yaml(), "nodes: []");
    }
}
