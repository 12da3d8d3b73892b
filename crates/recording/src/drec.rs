//! `.drec` files, dora's recording format: the container of crate
//! `dora-recording`, and in each entry the event dora's own record node
//! writes (`Timestamped<InterDaemonEvent::Output>`, payload as an Arrow IPC
//! stream), so that the dora CLI's `dora replay` plays our recordings and we
//! play theirs.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use dora_message::aligned_vec::{AVec, ConstAlign};
use dora_message::common::Timestamped;
use dora_message::daemon_to_daemon::InterDaemonEvent;
use dora_message::id::{DataId, NodeId};
use dora_message::metadata::Metadata;
use dora_node_api::arrow_utils::{decode_arrow_ipc, encode_arrow_ipc};
use dora_node_api::arrow_v59::array::{Array, ArrayRef};
use dora_node_api::arrow_v59::datatypes::DataType;
use dora_node_api::DoraArray;
use dora_recording::{RecordEntry, RecordingFooter, RecordingHeader, RecordingReader, RecordingWriter, FORMAT_VERSION};

use crate::message::RecordedMessage;

/// An error of dora's recording container or event encoding (they report
/// `eyre` errors; boxed, their chain of causes is kept).
pub type DoraError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a recording cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum DrecError {
    #[error("cannot open {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The container is damaged or of another version.
    #[error("{path}: not a readable recording")]
    Format {
        path: PathBuf,
        #[source]
        source: DoraError,
    },
    #[error("{path}: entry {index} ({topic}) cannot be decoded")]
    Entry {
        path: PathBuf,
        /// Entry number, from 0.
        index: u64,
        /// `node/output` of the entry.
        topic: String,
        #[source]
        source: EntryError,
    },
    /// A node or output name is not a valid dora id.
    #[error("`{id}` is not a valid dora node or output id")]
    BadId { id: String },
    #[error("cannot encode a message of {topic}")]
    Encode {
        /// `node/output`.
        topic: String,
        #[source]
        source: DoraError,
    },
}

/// Why one entry of a recording is not a message.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("not a dora event")]
    Event(#[source] DoraError),
    #[error("its payload is not an Arrow IPC stream")]
    Payload(#[source] DoraError),
    #[error("its payload is not an Arrow IPC stream")]
    CorruptPayload(#[source] crate::corrupt::CorruptArrow),
}

/// Nanoseconds since the Unix epoch now (0 for a clock set before 1970).
pub fn unix_nanos_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Writes a `.drec` file, entry by entry, flushed after each so that a
/// recording cut short (power loss, kill) keeps every entry written before.
pub struct DrecWriter {
    path: PathBuf,
    writer: RecordingWriter<File>,
    start_nanos: u64,
    messages: u64,
}

impl DrecWriter {
    /// Creates `path`; `descriptor_yaml` is the dataflow recorded (may be empty).
    pub fn create(path: &Path, descriptor_yaml: &str) -> Result<Self, DrecError> {
        Self::create_at(path, descriptor_yaml, unix_nanos_now())
    }

    /// Like [`DrecWriter::create`], with the recording's start time given.
    pub fn create_at(path: &Path, descriptor_yaml: &str, start_nanos: u64) -> Result<Self, DrecError> {
        let file = File::create(path).map_err(|source| DrecError::Open { path: path.into(), source })?;
        let header = RecordingHeader {
            version: FORMAT_VERSION,
            start_nanos,
            dataflow_id: uuid::Uuid::nil(),
            descriptor_yaml: descriptor_yaml.as_bytes().to_vec(),
        };
        let writer = RecordingWriter::new(file, &header)
            .map_err(|e| DrecError::Format { path: path.into(), source: e.into() })?;
        Ok(Self { path: path.into(), writer, start_nanos, messages: 0 })
    }

    /// When the recording started (ns since the Unix epoch).
    pub fn start_nanos(&self) -> u64 {
        self.start_nanos
    }

    /// Messages written so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Appends one message and flushes it to the file.
    pub fn write(&mut self, message: &RecordedMessage) -> Result<(), DrecError> {
        let entry = encode_entry(message)?;
        self.writer
            .write_entry(&entry)
            .and_then(|()| self.writer.flush())
            .map_err(|e| DrecError::Format { path: self.path.clone(), source: e.into() })?;
        self.messages += 1;
        Ok(())
    }

    /// Writes the footer (message and byte counts) and closes the file.
    pub fn finish(self) -> Result<RecordingFooter, DrecError> {
        let path = self.path;
        self.writer.finish().map_err(|e| DrecError::Format { path, source: e.into() })
    }
}

/// Encodes one message as dora's record node does.
pub fn encode_entry(message: &RecordedMessage) -> Result<RecordEntry, DrecError> {
    let node_id: NodeId = message.node_id.parse().map_err(|_| DrecError::BadId { id: message.node_id.clone() })?;
    let output_id: DataId =
        message.output_id.parse().map_err(|_| DrecError::BadId { id: message.output_id.clone() })?;
    let encode_error = |source: DoraError| DrecError::Encode { topic: message.topic(), source };
    let data = match &message.data {
        // dora replays an absent payload as an empty null array, so that is
        // what an absent payload means in the file too.
        None => None,
        Some(array) if array.is_empty() && *array.data_type() == DataType::Null => None,
        Some(array) => {
            let ipc = encode_arrow_ipc(&DoraArray::from(array.clone())).map_err(|e| encode_error(e.into()))?;
            Some(AVec::<u8, ConstAlign<128>>::from_slice(128, &ipc))
        }
    };
    let metadata = Metadata::from_parameters(message.timestamp, message.parameters.clone());
    let event = Timestamped {
        inner: InterDaemonEvent::Output { dataflow_id: uuid::Uuid::nil(), node_id, output_id, metadata, data },
        timestamp: message.timestamp,
    };
    let event_bytes = event.serialize().map_err(|e| encode_error(e.into()))?;
    Ok(RecordEntry {
        node_id: message.node_id.clone(),
        output_id: message.output_id.clone(),
        timestamp_offset_nanos: message.offset_ns,
        event_bytes,
    })
}

/// Decodes one entry; `None` for entries that are not outputs (dora writes
/// only outputs, but the format allows other events).
pub fn decode_entry(entry: &RecordEntry) -> Result<Option<RecordedMessage>, EntryError> {
    let event =
        Timestamped::deserialize_inter_daemon_event(&entry.event_bytes).map_err(|e| EntryError::Event(e.into()))?;
    let InterDaemonEvent::Output { node_id, output_id, metadata, data, .. } = event.inner else {
        return Ok(None);
    };
    let data: Option<ArrayRef> = match data {
        None => None,
        Some(bytes) => Some(
            crate::corrupt::check_ipc_stream(&bytes)
                .and_then(|()| crate::corrupt::catching(|| decode_arrow_ipc(&bytes)))
                .map_err(EntryError::CorruptPayload)?
                .map_err(|e| EntryError::Payload(e.into()))?
                .into_inner(),
        ),
    };
    Ok(Some(RecordedMessage {
        node_id: node_id.to_string(),
        output_id: output_id.to_string(),
        offset_ns: entry.timestamp_offset_nanos,
        timestamp: metadata.timestamp(),
        parameters: metadata.parameters,
        data,
    }))
}

/// Reads a `.drec` file entry by entry.
pub struct DrecReader {
    path: PathBuf,
    reader: RecordingReader<BufReader<File>>,
    index: u64,
}

impl DrecReader {
    /// Opens `path` and checks its header.
    pub fn open(path: &Path) -> Result<Self, DrecError> {
        let file = File::open(path).map_err(|source| DrecError::Open { path: path.into(), source })?;
        let reader = RecordingReader::open(BufReader::new(file))
            .map_err(|e| DrecError::Format { path: path.into(), source: e.into() })?;
        Ok(Self { path: path.into(), reader, index: 0 })
    }

    /// The recorded dataflow's YAML (empty when the recorder did not know it).
    pub fn descriptor_yaml(&self) -> String {
        String::from_utf8_lossy(&self.reader.header().descriptor_yaml).into_owned()
    }

    /// When the recording started (ns since the Unix epoch).
    pub fn start_nanos(&self) -> u64 {
        self.reader.header().start_nanos
    }

    /// The next message, `None` at the end.
    pub fn next_message(&mut self) -> Result<Option<RecordedMessage>, DrecError> {
        loop {
            let entry = self
                .reader
                .next_entry()
                .map_err(|e| DrecError::Format { path: self.path.clone(), source: e.into() })?;
            let Some(entry) = entry else { return Ok(None) };
            let index = self.index;
            self.index += 1;
            let decoded = decode_entry(&entry).map_err(|source| DrecError::Entry {
                path: self.path.clone(),
                index,
                topic: format!("{}/{}", entry.node_id, entry.output_id),
                source,
            })?;
            if let Some(message) = decoded {
                return Ok(Some(message));
            }
        }
    }

    /// Every remaining message.
    pub fn read_all(mut self) -> Result<Vec<RecordedMessage>, DrecError> {
        let mut messages = Vec::new();
        while let Some(message) = self.next_message()? {
            messages.push(message);
        }
        Ok(messages)
    }
}

/// Every message of the `.drec` file at `path`.
pub fn read_file(path: &Path) -> Result<Vec<RecordedMessage>, DrecError> {
    DrecReader::open(path)?.read_all()
}

/// Writes `messages` to a new `.drec` file at `path`.
pub fn write_file(path: &Path, descriptor_yaml: &str, messages: &[RecordedMessage]) -> Result<(), DrecError> {
    let mut writer = DrecWriter::create(path, descriptor_yaml)?;
    for message in messages {
        writer.write(message)?;
    }
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use dora_node_api::arrow_v59::array::{Float64Array, NullArray, StringArray, StructArray, UInt8Array};
    use dora_node_api::arrow_v59::datatypes::{Field, Fields};
    use dora_node_api::uhlc::HLC;
    use dora_node_api::Parameter;

    use super::*;

    fn message(output: &str, data: Option<ArrayRef>, offset_ns: u64) -> RecordedMessage {
        let mut parameters = MetadataParameters::default();
        parameters.insert("width".into(), Parameter::Integer(640));
        parameters.insert("station".into(), Parameter::String("station3".into()));
        RecordedMessage {
            node_id: "camera-source".into(),
            output_id: output.into(),
            offset_ns,
            timestamp: HLC::default().new_timestamp(),
            parameters,
            data,
        }
    }

    use dora_node_api::MetadataParameters;

    fn readings() -> ArrayRef {
        let fields =
            Fields::from(vec![Field::new("tag", DataType::Utf8, false), Field::new("value", DataType::Float64, true)]);
        Arc::new(StructArray::new(
            fields,
            vec![
                Arc::new(StringArray::from(vec!["spindle_temperature", "spindle_speed"])) as ArrayRef,
                Arc::new(Float64Array::from(vec![Some(81.25), None])) as ArrayRef,
            ],
            None,
        ))
    }

    #[test]
    fn messages_come_back_as_written() {
        let dir = std::env::temp_dir().join(format!("drec-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.drec");
        let written = vec![
            message("frames", Some(Arc::new(UInt8Array::from(vec![1u8, 2, 3]))), 5),
            message("readings", Some(readings()), 1_000_000),
            message("tick", None, 2_000_000),
            message("empty", Some(Arc::new(Float64Array::from(Vec::<f64>::new()))), 3_000_000),
        ];
        write_file(&path, "nodes: []", &written).unwrap();
        let mut reader = DrecReader::open(&path).unwrap();
        assert_eq!(reader.descriptor_yaml(), "nodes: []");
        let mut read = Vec::new();
        while let Some(m) = reader.next_message().unwrap() {
            read.push(m);
        }
        assert_eq!(read.len(), written.len());
        for (a, b) in written.iter().zip(&read) {
            assert!(a.same_content(b), "{a:?} != {b:?}");
            assert_eq!(a.offset_ns, b.offset_ns);
            assert_eq!(a.timestamp, b.timestamp);
        }
        // A typed empty array keeps its type; only "no data" becomes None.
        assert_eq!(read[3].data.as_ref().unwrap().data_type(), &DataType::Float64);
        let null = message("n", Some(Arc::new(NullArray::new(0))), 0);
        assert!(encode_entry(&null).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_ids_and_damaged_files_are_errors() {
        let mut bad = message("frames", None, 0);
        bad.node_id = "my node".into();
        assert!(matches!(encode_entry(&bad), Err(DrecError::BadId { .. })));
        let dir = std::env::temp_dir().join(format!("drec-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("junk.drec");
        std::fs::write(&path, b"not a recording").unwrap();
        assert!(matches!(DrecReader::open(&path), Err(DrecError::Format { .. })));
        // A file cut short mid-entry: the entries before it still read.
        let good = dir.join("cut.drec");
        write_file(&good, "", &vec![message("frames", Some(Arc::new(UInt8Array::from(vec![7u8; 100]))), 0); 2])
            .unwrap();
        let bytes = std::fs::read(&good).unwrap();
        std::fs::write(&good, &bytes[..bytes.len() - 60]).unwrap();
        let mut reader = DrecReader::open(&good).unwrap();
        assert!(reader.next_message().unwrap().is_some());
        assert!(!matches!(reader.next_message(), Ok(Some(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
