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

use crate::corrupt::CorruptArrow;
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
    /// Arrow panicked on the file's contents.
    #[error("{path}: not a readable Arrow IPC file")]
    Corrupt {
        path: String,
        #[source]
        source: crate::corrupt::CorruptArrow,
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
    #[error("bad payload")]
    CorruptPayload(#[source] CorruptArrow),
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

/// Checks that every block the file's footer lists lies inside the file.
/// Arrow's reader allocates a block's declared length before reading it, so
/// a corrupt length (found by the fuzz target `arrow_import`: 4.6 EB) would
/// abort the process on a failed allocation, which no panic guard catches.
fn blocks_fit(file: &mut File) -> Result<(), CorruptArrow> {
    use std::io::{Read, Seek, SeekFrom};
    let corrupt = |why: &str| CorruptArrow(why.to_owned());
    let io = |e: std::io::Error| CorruptArrow(e.to_string());
    let file_len = file.seek(SeekFrom::End(0)).map_err(io)?;
    let mut tail = [0u8; 10];
    file.seek(SeekFrom::End(-(tail.len() as i64))).map_err(|_| corrupt("shorter than an Arrow file's tail"))?;
    file.read_exact(&mut tail).map_err(io)?;
    let footer_len = dora_node_api::arrow_v59::ipc::reader::read_footer_length(tail)
        .map_err(|e| CorruptArrow(e.to_string()))? as u64;
    let footer_start = file_len
        .checked_sub(tail.len() as u64 + footer_len)
        .ok_or_else(|| corrupt("the footer is longer than the file"))?;
    file.seek(SeekFrom::Start(footer_start)).map_err(io)?;
    let mut footer = vec![0u8; footer_len as usize];
    file.read_exact(&mut footer).map_err(io)?;
    let footer =
        dora_node_api::arrow_v59::ipc::root_as_footer(&footer).map_err(|e| CorruptArrow(format!("footer: {e}")))?;
    let blocks = footer.recordBatches().into_iter().flatten().chain(footer.dictionaries().into_iter().flatten());
    for block in blocks {
        let parts = [block.offset(), i64::from(block.metaDataLength()), block.bodyLength()];
        let end = parts.iter().try_fold(0u64, |sum, &part| sum.checked_add(u64::try_from(part).ok()?));
        if end.is_none_or(|end| end > footer_start) {
            return Err(corrupt("a record batch lies beyond the end of the file"));
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(())
}

/// Reads the messages of an Arrow IPC file written by [`export`]; a file
/// that makes Arrow panic is reported as corrupt.
pub fn import(path: &Path) -> Result<Vec<RecordedMessage>, ArrowFileError> {
    crate::corrupt::catching(|| import_unguarded(path))
        .map_err(|source| ArrowFileError::Corrupt { path: path.display().to_string(), source })?
}

fn import_unguarded(path: &Path) -> Result<Vec<RecordedMessage>, ArrowFileError> {
    let shown = path.display().to_string();
    let arrow = |source: ArrowError| ArrowFileError::Arrow { path: shown.clone(), source };
    let mut file = File::open(path).map_err(|source| ArrowFileError::Io { path: shown.clone(), source })?;
    blocks_fit(&mut file).map_err(|source| ArrowFileError::Corrupt { path: shown.clone(), source })?;
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
                let payload = payloads.value(row);
                crate::corrupt::check_ipc_stream(payload).map_err(|e| bad(row, RowError::CorruptPayload(e)))?;
                Some(decode_arrow_ipc(payload).map_err(|e| bad(row, RowError::Payload(e.into())))?.into_inner())
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
