//! Arrow's IPC reader (and dora's payload decoder built on it) trusts the
//! lengths and offsets it reads and panics on some corrupt ones (found by the
//! fuzz targets `drec_recording` and `arrow_import`). A recording is outside
//! data, so its readers run Arrow under [`catching`] and report such a file as
//! corrupt instead of taking the process down.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Arrow gave up on corrupt data with a panic; the message says where.
#[derive(Debug, thiserror::Error)]
#[error("corrupt Arrow data ({0})")]
pub struct CorruptArrow(pub String);

/// Runs `read`, turning a panic into [`CorruptArrow`]. Only for code that
/// reads bytes into fresh values: nothing it half-changed survives the panic.
pub fn catching<T>(read: impl FnOnce() -> T) -> Result<T, CorruptArrow> {
    catch_unwind(AssertUnwindSafe(read)).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned());
        CorruptArrow(message)
    })
}

/// Checks that every message of an Arrow IPC stream, and its body, lies
/// inside `bytes`. Arrow's stream reader allocates each message's declared
/// length before reading it, so a payload of a few kB declaring 2 GB (found
/// by the fuzz target `arrow_import`) would hold that much memory.
pub fn check_ipc_stream(bytes: &[u8]) -> Result<(), CorruptArrow> {
    let corrupt = |why: &str| CorruptArrow(why.to_owned());
    let word = |at: usize| -> Option<[u8; 4]> { bytes.get(at..at + 4)?.try_into().ok() };
    let mut at = 0usize;
    while at < bytes.len() {
        let first = word(at).ok_or_else(|| corrupt("a message length is cut off"))?;
        // A continuation marker, then the length (or, in old streams, the length alone).
        let (length, start) = if first == [0xff; 4] {
            (word(at + 4).ok_or_else(|| corrupt("a message length is cut off"))?, at + 8)
        } else {
            (first, at + 4)
        };
        let length = i32::from_le_bytes(length);
        if length == 0 {
            return Ok(());
        }
        let metadata_end = usize::try_from(length)
            .ok()
            .and_then(|length| start.checked_add(length))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| corrupt("a message is longer than the stream"))?;
        let message = dora_node_api::arrow_v59::ipc::root_as_message(&bytes[start..metadata_end])
            .map_err(|e| CorruptArrow(format!("message header: {e}")))?;
        at = usize::try_from(message.bodyLength())
            .ok()
            .and_then(|body| metadata_end.checked_add(body))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| corrupt("a message body is longer than the stream"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let caught = catching(|| -> u32 { panic!("slice offset 9 beyond 4") });
        assert_eq!(caught.map_err(|e| e.to_string()), Err("corrupt Arrow data (slice offset 9 beyond 4)".to_owned()));
        assert_eq!(catching(|| 7).ok(), Some(7));
    }

    #[test]
    fn a_stream_whose_lengths_exceed_it_is_refused_before_arrow_reads_it() {
        use dora_node_api::arrow_v59::array::{Float64Array, RecordBatch};
        use dora_node_api::arrow_v59::datatypes::{DataType, Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Float64, false)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Float64Array::from(vec![1.0, 2.0]))]).unwrap();
        let mut stream = Vec::new();
        let mut writer = dora_node_api::arrow_v59::ipc::writer::StreamWriter::try_new(&mut stream, &schema).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        assert!(check_ipc_stream(&stream).is_ok());
        assert!(check_ipc_stream(&stream[..stream.len() - 12]).is_err(), "cut short");
        let mut huge = stream.clone();
        huge[4..8].copy_from_slice(&0x7fff_0000i32.to_le_bytes());
        assert!(check_ipc_stream(&huge).is_err(), "a 2 GB message in a few bytes");
    }
}
