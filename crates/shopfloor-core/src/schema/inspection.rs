//! `inspection`: a frame the stage-1 filter flagged, on its way to the
//! vision-language model. One row per flagged frame.
//!
//! Columns: `frame_id` Utf8, `ts_ms` Int64, `station` Utf8, `line` Utf8,
//! `width` Int64, `height` Int64, `score` Float32 (the frame's anomaly
//! score), `threshold` Float32 (the score above which a frame is flagged),
//! `regions` List<Struct> (see [`Region`]), `image` Binary (the frame as raw
//! `rgb8`, whatever encoding the camera sent, so the next stage need not
//! decode again).

use std::sync::Arc;

use super::columns::{build_struct, optional_i64, Columns, SchemaError};
use super::region::{regions_from_arrow, regions_to_arrow, Region};
use crate::arrow::array::{Array, ArrayRef, BinaryArray, Float32Array, Int64Array, ListArray, StringArray};

const MESSAGE: &str = "inspection";

/// A flagged frame with the filter's findings.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub frame_id: String,
    /// When the frame was taken (ms since epoch).
    pub ts_ms: i64,
    /// Station the camera watches.
    pub station: String,
    pub line: String,
    pub width: u32,
    pub height: u32,
    /// Anomaly score of the whole frame.
    pub score: f32,
    /// Score above which frames are flagged.
    pub threshold: f32,
    /// Anomalous regions, most anomalous first.
    pub regions: Vec<Region>,
    /// The frame as raw RGB, `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

impl Inspection {
    /// Encodes inspections as one struct array.
    pub fn to_arrow(rows: &[Inspection]) -> ArrayRef {
        let str_col = |f: &dyn Fn(&Inspection) -> &str| -> ArrayRef {
            Arc::new(rows.iter().map(|r| Some(f(r))).collect::<StringArray>())
        };
        let int_col = |f: &dyn Fn(&Inspection) -> i64| -> ArrayRef {
            Arc::new(rows.iter().map(|r| Some(f(r))).collect::<Int64Array>())
        };
        build_struct(vec![
            ("frame_id", str_col(&|r| &r.frame_id), false),
            ("ts_ms", int_col(&|r| r.ts_ms), false),
            ("station", str_col(&|r| &r.station), false),
            ("line", str_col(&|r| &r.line), false),
            ("width", int_col(&|r| i64::from(r.width)), false),
            ("height", int_col(&|r| i64::from(r.height)), false),
            ("score", Arc::new(rows.iter().map(|r| Some(r.score)).collect::<Float32Array>()), false),
            ("threshold", Arc::new(rows.iter().map(|r| Some(r.threshold)).collect::<Float32Array>()), false),
            ("regions", regions_to_arrow(rows.iter().map(|r| r.regions.as_slice())), false),
            ("image", Arc::new(rows.iter().map(|r| Some(r.rgb.as_slice())).collect::<BinaryArray>()), false),
        ])
    }

    /// Decodes inspections; the image must have `width * height * 3` bytes.
    pub fn from_arrow(array: &dyn Array) -> Result<Vec<Inspection>, SchemaError> {
        let cols = Columns::new(MESSAGE, array)?;
        let frame_id = cols.utf8("frame_id")?;
        let ts = cols.i64("ts_ms")?;
        let station = cols.utf8("station")?;
        let line = cols.utf8("line")?;
        let width = cols.i64("width")?;
        let height = cols.i64("height")?;
        let score = cols.f32("score")?;
        let threshold = cols.f32("threshold")?;
        let regions: Vec<Vec<Region>> = match cols.optional_list("regions")? {
            Some(list) => regions_from_arrow(list as &ListArray)?,
            None => vec![Vec::new(); cols.len()],
        };
        let image = cols.binary("image")?;
        (0..cols.len())
            .map(|row| {
                let side = |column: &Int64Array, name: &'static str| {
                    let value = optional_i64(column, row).ok_or_else(|| cols.null(name, row))?;
                    u32::try_from(value)
                        .ok()
                        .filter(|v| (1..=super::frame::MAX_FRAME_SIDE).contains(v))
                        .ok_or_else(|| cols.invalid(name, row, value.to_string()))
                };
                let (w, h) = (side(width, "width")?, side(height, "height")?);
                if image.is_null(row) {
                    return Err(cols.null("image", row));
                }
                let rgb = image.value(row);
                if rgb.len() != w as usize * h as usize * 3 {
                    return Err(cols.invalid("image", row, format!("{} bytes for {w}x{h} rgb8", rgb.len())));
                }
                let number = |column: &Float32Array, name: &'static str| {
                    (!column.is_null(row)).then(|| column.value(row)).ok_or_else(|| cols.null(name, row))
                };
                Ok(Inspection {
                    frame_id: cols.required_str(frame_id, "frame_id", row)?,
                    ts_ms: optional_i64(ts, row).ok_or_else(|| cols.null("ts_ms", row))?,
                    station: cols.required_str(station, "station", row)?,
                    line: cols.required_str(line, "line", row)?,
                    width: w,
                    height: h,
                    score: number(score, "score")?,
                    threshold: number(threshold, "threshold")?,
                    regions: regions[row].clone(),
                    rgb: rgb.to_vec(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspection(id: &str) -> Inspection {
        Inspection {
            frame_id: id.into(),
            ts_ms: 1_764_000_000_000,
            station: "station3".into(),
            line: "line1".into(),
            width: 2,
            height: 2,
            score: 7.5,
            threshold: 4.0,
            regions: vec![Region { x: 0, y: 1, width: 1, height: 1, score: 7.5 }],
            rgb: vec![9; 12],
        }
    }

    #[test]
    fn inspections_survive_a_round_trip() {
        let rows = vec![inspection("a"), Inspection { regions: Vec::new(), ..inspection("b") }];
        assert_eq!(Inspection::from_arrow(Inspection::to_arrow(&rows).as_ref()).unwrap(), rows);
    }

    #[test]
    fn an_image_of_the_wrong_length_is_refused() {
        let bad = Inspection { rgb: vec![0; 11], ..inspection("a") };
        let err = Inspection::from_arrow(Inspection::to_arrow(&[bad]).as_ref()).unwrap_err();
        assert!(err.to_string().contains("image"), "{err}");
    }
}
