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

use crate::message::RecordedMessage;

/// Messages per record batch of the exported file.
const BATCH_ROWS: usize = 1024;

/// Why an export or import failed.
#[derive(Debug, thiserror::Error)]
pub enum ArrowFileError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS' reason.
        source: std::io::Error,
    },
    /// Arrow refused to read or write.
    #[error("{path}: {message}")]
    Arrow {
        /// The file.
        path: String,
        /// Arrow's words.
        message: String,
    },
    /// A row does not hold what the layout says.
    #[error("{path}: row {row}: {message}")]
    Row {
        /// The file.
        path: String,
        /// Row number over the whole file, from 0.
        row: usize,
        /// What is wrong.
        message: String,
    },
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
    let arrow = |e: &dyn std::fmt::Display| ArrowFileError::Arrow { path: shown.clone(), message: e.to_string() };
    let file = File::create(path).map_err(|source| ArrowFileError::Io { path: shown.clone(), source })?;
    let schema = schema();
    let mut writer = FileWriter::try_new(file, &schema).map_err(|e| arrow(&e))?;
    for chunk in messages.chunks(BATCH_ROWS) {
        let mut payloads = Vec::with_capacity(chunk.len());
        let mut parameters = Vec::with_capacity(chunk.len());
        for message in chunk {
            payloads.push(match &message.data {
                None => None,
                Some(data) => Some(encode_arrow_ipc(&DoraArray::from(data.clone())).map_err(|e| arrow(&e))?),
            });
            parameters.push(serde_json::to_string(&message.parameters).map_err(|e| arrow(&e))?);
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
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| arrow(&e))?;
        writer.write(&batch).map_err(|e| arrow(&e))?;
    }
    writer.finish().map_err(|e| arrow(&e))
}

/// Reads the messages of an Arrow IPC file written by [`export`].
pub fn import(path: &Path) -> Result<Vec<RecordedMessage>, ArrowFileError> {
    let shown = path.display().to_string();
    let arrow = |e: &dyn std::fmt::Display| ArrowFileError::Arrow { path: shown.clone(), message: e.to_string() };
    let file = File::open(path).map_err(|source| ArrowFileError::Io { path: shown.clone(), source })?;
    let reader = FileReader::try_new(file, None).map_err(|e| arrow(&e))?;
    let mut messages = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| arrow(&e))?;
        let first_row = messages.len();
        let bad =
            |row: usize, message: String| ArrowFileError::Row { path: shown.clone(), row: first_row + row, message };
        let strings = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| bad(0, format!("no Utf8 column `{name}`")))
        };
        let numbers = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
                .ok_or_else(|| bad(0, format!("no UInt64 column `{name}`")))
        };
        let (node_ids, output_ids, timestamps, parameters) =
            (strings("node_id")?, strings("output_id")?, strings("timestamp")?, strings("parameters")?);
        let offsets = numbers("offset_ns")?;
        let payloads = batch
            .column_by_name("payload")
            .and_then(|c| c.as_any().downcast_ref::<LargeBinaryArray>())
            .ok_or_else(|| bad(0, "no LargeBinary column `payload`".into()))?;
        for row in 0..batch.num_rows() {
            let timestamp: Timestamp =
                timestamps.value(row).parse().map_err(|e| bad(row, format!("timestamp: {e:?}")))?;
            let parameters =
                serde_json::from_str(parameters.value(row)).map_err(|e| bad(row, format!("parameters: {e}")))?;
            let data = if payloads.is_null(row) {
                None
            } else {
                Some(
                    decode_arrow_ipc(payloads.value(row))
                        .map_err(|e| bad(row, format!("payload: {e:#}")))?
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
