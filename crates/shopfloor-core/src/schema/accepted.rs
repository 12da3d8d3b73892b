//! `accepted`: the router has taken a question: it is in the router's pending
//! file (or already answered), so a router restart no longer loses it. The
//! node that handed the question in may now forget it (`mqtt-source`
//! acknowledges its MQTT message then); until this arrives it sends the
//! question again. One row per question.
//!
//! Columns: `id` Utf8, `origin` Utf8 (`mqtt`/`http`).

use std::sync::Arc;

use super::columns::{build_struct, Columns, SchemaError};
use super::question::{Origin, Question};
use crate::arrow::array::{Array, ArrayRef, StringArray};

const MESSAGE: &str = "accepted";

/// One question the router has taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The question's id.
    pub id: String,
    /// The front door it came through (ids are unique per origin).
    pub origin: Origin,
}

impl Accepted {
    /// The acceptance of `question`.
    pub fn of(question: &Question) -> Self {
        Self { id: question.id.clone(), origin: question.origin }
    }

    /// Encodes acceptances as one struct array.
    pub fn to_arrow(rows: &[Accepted]) -> ArrayRef {
        build_struct(vec![
            ("id", Arc::new(rows.iter().map(|r| Some(r.id.as_str())).collect::<StringArray>()), false),
            ("origin", Arc::new(rows.iter().map(|r| Some(r.origin.as_str())).collect::<StringArray>()), false),
        ])
    }

    /// Decodes acceptances.
    pub fn from_arrow(array: &dyn Array) -> Result<Vec<Accepted>, SchemaError> {
        let cols = Columns::new(MESSAGE, array)?;
        let id = cols.utf8("id")?;
        let origin = cols.utf8("origin")?;
        (0..cols.len())
            .map(|row| {
                let origin_text = cols.required_str(origin, "origin", row)?;
                let origin = Origin::parse(&origin_text).ok_or_else(|| cols.invalid("origin", row, origin_text))?;
                Ok(Accepted { id: cols.required_str(id, "id", row)?, origin })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptances_survive_a_round_trip() {
        let rows = vec![
            Accepted { id: "q-1".into(), origin: Origin::Mqtt },
            Accepted { id: "q-2".into(), origin: Origin::Http },
        ];
        assert_eq!(Accepted::from_arrow(Accepted::to_arrow(&rows).as_ref()).unwrap(), rows);
    }

    #[test]
    fn an_unknown_origin_or_a_foreign_array_is_an_error_not_a_panic() {
        let bad = build_struct(vec![
            ("id", Arc::new(StringArray::from(vec!["q-1"])) as ArrayRef, false),
            ("origin", Arc::new(StringArray::from(vec!["carrier-pigeon"])) as ArrayRef, false),
        ]);
        let error = Accepted::from_arrow(bad.as_ref()).unwrap_err().to_string();
        assert!(error.contains("origin") && error.contains("carrier-pigeon"), "{error}");
        let foreign = StringArray::from(vec!["q-1"]);
        assert!(Accepted::from_arrow(&foreign).is_err());
    }
}
