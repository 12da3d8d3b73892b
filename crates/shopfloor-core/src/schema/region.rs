//! `region`: a rectangle of a camera frame where inspection found something,
//! in frame pixels. Carried as List<Struct{`x`, `y`, `width`, `height` Int64,
//! `score` Float32}> by [`Inspection`](super::Inspection) and
//! [`Alert`](super::Alert).

use std::sync::Arc;

use super::columns::{build_struct, list_column, list_rows, optional_i64, Columns, SchemaError};
use crate::arrow::array::{Array, ArrayRef, Float32Array, Int64Array, ListArray};

const MESSAGE: &str = "region";

/// One anomalous rectangle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    /// Left edge (pixels from the frame's left).
    pub x: u32,
    /// Top edge (pixels from the frame's top).
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// How anomalous the region is (the stage-1 filter's score).
    pub score: f32,
}

impl Region {
    /// The region as JSON (MQTT payloads).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"x": self.x, "y": self.y, "width": self.width, "height": self.height, "score": self.score})
    }
}

pub(crate) fn regions_to_arrow<'a>(rows: impl Iterator<Item = &'a [Region]>) -> ArrayRef {
    let mut regions: Vec<&Region> = Vec::new();
    let mut lengths = Vec::new();
    for row in rows {
        lengths.push(row.len());
        regions.extend(row);
    }
    let int_col = |f: &dyn Fn(&Region) -> u32| -> ArrayRef {
        Arc::new(regions.iter().map(|r| Some(i64::from(f(r)))).collect::<Int64Array>())
    };
    let values = build_struct(vec![
        ("x", int_col(&|r| r.x), false),
        ("y", int_col(&|r| r.y), false),
        ("width", int_col(&|r| r.width), false),
        ("height", int_col(&|r| r.height), false),
        ("score", Arc::new(regions.iter().map(|r| Some(r.score)).collect::<Float32Array>()), false),
    ]);
    list_column(lengths, values)
}

pub(crate) fn regions_from_arrow(list: &ListArray) -> Result<Vec<Vec<Region>>, SchemaError> {
    let values = list.values();
    let cols = Columns::new(MESSAGE, values.as_ref())?;
    let columns = [cols.i64("x")?, cols.i64("y")?, cols.i64("width")?, cols.i64("height")?];
    let names = ["x", "y", "width", "height"];
    let score = cols.f32("score")?;
    list_rows(list, |i| {
        let mut edges = [0u32; 4];
        for ((edge, column), name) in edges.iter_mut().zip(columns).zip(names) {
            let value = optional_i64(column, i).ok_or_else(|| cols.null(name, i))?;
            *edge = u32::try_from(value).map_err(|_| cols.invalid(name, i, value.to_string()))?;
        }
        let [x, y, width, height] = edges;
        let score = if score.is_null(i) { f32::NAN } else { score.value(i) };
        Ok(Region { x, y, width, height, score })
    })
}
