//! Moves chosen Int64 time fields of a struct payload into the replay's
//! present (`REPLAY_SHIFT_TIMES`): a value stamped `t` in the recording
//! becomes `replay start + (t - recording start) / speed`, so it is as old at
//! its send time as it was when it was recorded. Nodes that judge staleness,
//! deadlines or latency then see a live plant; the differences between
//! stamps stay as recorded at speed 1 (and scale with the speed otherwise).

use std::sync::Arc;

use dora_node_api::arrow_v59::array::{Array, ArrayRef, Int64Array, StructArray};
use dora_node_api::arrow_v59::datatypes::DataType;
pub use recording::time_shift::TimeShift;

/// `array` with every value of the Int64 fields `fields` moved by `shift`
/// (nulls stay null). Other payloads, and fields that are absent or not
/// Int64, are left as they are.
pub fn shift_fields(array: &ArrayRef, fields: &[String], shift: &TimeShift) -> ArrayRef {
    let Some(rows) = array.as_any().downcast_ref::<StructArray>() else { return array.clone() };
    let (schema_fields, columns, nulls) = rows.clone().into_parts();
    let columns: Vec<ArrayRef> = schema_fields
        .iter()
        .zip(columns)
        .map(|(field, column)| {
            let wanted = fields.iter().any(|f| f == field.name()) && *field.data_type() == DataType::Int64;
            match column.as_any().downcast_ref::<Int64Array>() {
                Some(times) if wanted => {
                    let moved: Int64Array = times.iter().map(|t| t.map(|t| shift.forward(t))).collect();
                    Arc::new(moved) as ArrayRef
                }
                _ => column,
            }
        })
        .collect();
    match StructArray::try_new(schema_fields, columns, nulls) {
        Ok(moved) => Arc::new(moved),
        Err(_) => array.clone(),
    }
}

#[cfg(test)]
mod tests {
    use dora_node_api::arrow_v59::array::StringArray;
    use dora_node_api::arrow_v59::datatypes::{Field, Fields};

    use super::*;

    #[test]
    fn only_the_named_int64_fields_move() {
        let fields = Fields::from(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("received_ts_ms", DataType::Int64, false),
            Field::new("source_ts_ms", DataType::Int64, true),
            Field::new("deadline_ms", DataType::Int64, true),
        ]);
        let original: ArrayRef = Arc::new(StructArray::new(
            fields,
            vec![
                Arc::new(StringArray::from(vec!["q1", "q2"])) as ArrayRef,
                Arc::new(Int64Array::from(vec![1_000, 2_000])) as ArrayRef,
                Arc::new(Int64Array::from(vec![Some(1_500), None])) as ArrayRef,
                Arc::new(Int64Array::from(vec![Some(9_000), None])) as ArrayRef,
            ],
            None,
        ));
        let shift = TimeShift { recording_start_ms: 0, replay_start_ms: 100_000, speed: 1.0 };
        let moved = shift_fields(&original, &["received_ts_ms".into(), "source_ts_ms".into(), "id".into()], &shift);
        let rows = moved.as_any().downcast_ref::<StructArray>().unwrap();
        let column =
            |name: &str| rows.column_by_name(name).unwrap().as_any().downcast_ref::<Int64Array>().unwrap().clone();
        assert_eq!(column("received_ts_ms").values().to_vec(), vec![101_000, 102_000]);
        assert_eq!(column("source_ts_ms").iter().collect::<Vec<_>>(), vec![Some(101_500), None]);
        assert_eq!(column("deadline_ms").iter().collect::<Vec<_>>(), vec![Some(9_000), None], "not named: as recorded");
        let before = original.as_any().downcast_ref::<StructArray>().unwrap();
        assert_eq!(rows.column(0).to_data(), before.column(0).to_data(), "Utf8 field untouched");
        let bytes: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        assert_eq!(shift_fields(&bytes, &["x".into()], &shift).to_data(), bytes.to_data());
    }
}
