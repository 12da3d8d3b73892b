//! Export to and import from an Arrow IPC file, for analysis (pandas,
//! polars, DuckDB read it directly) and back, losslessly.
//!
//! One row per message: `node_id` Utf8, `output_id` Utf8, `offset_ns`
//! UInt64, `timestamp` Utf8 (dora's hybrid logical clock, `time/id`),
//! `parameters` Utf8 (the metadata parameters as JSON, dora's serde form,
//! e.g. `{"width":{"Integer":640}}`), `data_type` Utf8 (the payload's Arrow
//! type, for reading without decoding), `rows` UInt64 and `payload`
//! LargeBinary? (the payload as an Arrow IPC stream; null without data).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use dora_node_api::arrow_utils::{decode_arrow_ipc, encode_arrow_ipc};
use dora_node_api::arrow_v59::array::{Array, ArrayRef, LargeBinaryArray, RecordBatch, StringArray, UInt64Array};
use dora_node_api::arrow_v59::datatypes::{DataType, Field, Schema};
use dora_node_api::arrow_v59::ipc::reader::FileReader;
use dora_node_api::arrow_v59::ipc::writer::FileWriter;
use dora_node_api::uhlc::Timestamp;
use dora_node_api::DoraArray;

use dora_node_api::arrow_v59::error::ArrowError;

use crate::drec::DoraError;
use crate::message::RecordedMessage;

/// Messages per record batch of the exported file.
const BATCH_ROWS: usize = 1024;

/// Why an export or import failed.
#[derive(Debug, thiserror::Error)]
pub enum ArrowFileError {
    #[error("{path}: cannot open")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Arrow refused to read or write.
    #[error("{path}: not a readable Arrow IPC file")]
    Arrow {
        path: String,
        #[source]
        source: ArrowError,
    },
    /// A message's payload or parameters cannot be encoded.
    #[error("{path}: cannot encode a message of {topic}")]
    Encode {
        path: String,
        /// `node/output`.
        topic: String,
        #[source]
        source: RowError,
    },
    /// A row does not hold what the layout says.
    #[error("{path}: row {row} is not a message")]
    Row {
        path: String,
        /// Row number over the whole file, from 0.
        row: usize,
        #[source]
        source: RowError,
    },
}

/// What is wrong with one row (or one message to export).
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("no {kind} column `{name}`")]
    Column { name: &'static str, kind: &'static str },
    #[error("timestamp `{value}` is not dora's `time/id` form")]
    Timestamp { value: String },
    #[error("bad parameters")]
    Parameters(#[source] serde_json::Error),
    #[error("bad payload")]
    Payload(#[source] DoraError),
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("node_id", DataType::Utf8, false),
        Field::new("output_id", DataType::Utf8, false),
        Field::new("offset_ns", DataType::UInt64, false),
        Field::new("timestamp", DataType::Utf8, false),
        Field::new("parameters", DataType::Utf8, false),
        Field::new("data_type", DataType::Utf8, true),
        Field::new("rows", DataType::UInt64, false),
        Field::new("payload", DataType::LargeBinary, true),
    ]))
}

/// Writes `messages` to an Arrow IPC file at `path`.
pub fn export(path: &Path, messages: &[RecordedMessage]) -> Result<(), ArrowFileError> {
    let shown = path.display().to_string();
    let arrow = |source: ArrowError| ArrowFileError::Arrow { path: shown.clone(), source };
    let encode = |message: &RecordedMessage, source: RowError| ArrowFileError::Encode {
        path: shown.clone(),
        topic: message.topic(),
        source,
    };
    let file = File::create(path).map_err(|source| ArrowFileError::Io { path: shown.clone(), source })?;
    let schema = schema();
    let mut writer = FileWriter::try_new(file, &schema).map_err(arrow)?;
    for chunk in messages.chunks(BATCH_ROWS) {
        let mut payloads = Vec::with_capacity(chunk.len());
        let mut parameters = Vec::with_capacity(chunk.len());
        for message in chunk {
            payloads.push(match &message.data {
                None => None,
                Some(data) => Some(
                    encode_arrow_ipc(&DoraArray::from(data.clone()))
                        .map_err(|e| encode(message, RowError::Payload(e.into())))?,
                ),
            });
            parameters.push(
                serde_json::to_string(&message.parameters).map_err(|e| encode(message, RowError::Parameters(e)))?,
            );
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(chunk.iter().map(|m| m.node_id.as_str()))),
            Arc::new(StringArray::from_iter_values(chunk.iter().map(|m| m.output_id.as_str()))),
            Arc::new(UInt64Array::from_iter_values(chunk.iter().map(|m| m.offset_ns))),
            Arc::new(StringArray::from_iter_values(chunk.iter().map(|m| m.timestamp.to_string()))),
            Arc::new(StringArray::from_iter_values(parameters)),
            Arc::new(StringArray::from_iter(chunk.iter().map(|m| m.data.as_ref().map(|d| d.data_type().to_string())))),
            Arc::new(UInt64Array::from_iter_values(chunk.iter().map(|m| m.rows() as u64))),
            Arc::new(LargeBinaryArray::from_iter(payloads.iter().map(|p| p.as_deref()))),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(arrow)?;
        writer.write(&batch).map_err(arrow)?;
    }
    writer.finish().map_err(arrow)
}

/// Reads the messages of an Arrow IPC file written by [`export`].
pub fn import(path: &Path) -> Result<Vec<RecordedMessage>, ArrowFileError> {
    let shown = path.display().to_string();
    let arrow = |source: ArrowError| ArrowFileError::Arrow { path: shown.clone(), source };
    let file = File::open(path).map_err(|source| ArrowFileError::Io { path: shown.clone(), source })?;
    let reader = FileReader::try_new(file, None).map_err(arrow)?;
    let mut messages = Vec::new();
    for batch in reader {
        let batch = batch.map_err(arrow)?;
        let first_row = messages.len();
        let bad =
            |row: usize, source: RowError| ArrowFileError::Row { path: shown.clone(), row: first_row + row, source };
        let strings = |name: &'static str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| bad(0, RowError::Column { name, kind: "Utf8" }))
        };
        let numbers = |name: &'static str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
                .ok_or_else(|| bad(0, RowError::Column { name, kind: "UInt64" }))
        };
        let (node_ids, output_ids, timestamps, parameters) =
            (strings("node_id")?, strings("output_id")?, strings("timestamp")?, strings("parameters")?);
        let offsets = numbers("offset_ns")?;
        let payloads = batch
            .column_by_name("payload")
            .and_then(|c| c.as_any().downcast_ref::<LargeBinaryArray>())
            .ok_or_else(|| bad(0, RowError::Column { name: "payload", kind: "LargeBinary" }))?;
        for row in 0..batch.num_rows() {
            let timestamp: Timestamp = timestamps
                .value(row)
                .parse()
                .map_err(|_| bad(row, RowError::Timestamp { value: timestamps.value(row).to_owned() }))?;
            let parameters =
                serde_json::from_str(parameters.value(row)).map_err(|e| bad(row, RowError::Parameters(e)))?;
            let data = if payloads.is_null(row) {
                None
            } else {
                Some(
                    decode_arrow_ipc(payloads.value(row))
                        .map_err(|e| bad(row, RowError::Payload(e.into())))?
                        .into_inner(),
                )
            };
            messages.push(RecordedMessage {
                node_id: node_ids.value(row).to_owned(),
                output_id: output_ids.value(row).to_owned(),
                offset_ns: offsets.value(row),
                timestamp,
                parameters,
                data,
            });
        }
    }
    Ok(messages)
}
