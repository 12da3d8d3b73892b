//! `route`: the path a routed question took through the model tiers, one
//! hop per tier tried. Carried by [`Answer`](super::Answer) as the column
//! `route` List<Struct{`tier` Utf8, `model` Utf8?, `confidence` Float32?,
//! `latency_ms` Int64, `outcome` Utf8, `reason` Utf8}>.

use std::sync::Arc;

use super::columns::{build_struct, list_column, list_rows, optional_i64, optional_str, Columns, SchemaError};
use crate::arrow::array::{Array, ArrayRef, Float32Array, Int64Array, ListArray, StringArray};

const MESSAGE: &str = "answer.route";

/// What the router did with one tier's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopOutcome {
    /// Confident enough (or written from facts): this answer was returned.
    Accepted,
    /// Below the tier's threshold, or the tier failed: the next tier was asked.
    Escalated,
    /// The last tier, still below its threshold: returned, marked low-confidence.
    Kept,
    /// A higher tier would have missed the deadline: the best answer so far was returned.
    Deadline,
    /// The tier gave no answer in time (or its request failed).
    NoAnswer,
    /// The router answered itself (an out-of-scope question, refused politely).
    Refused,
    /// The tier was unreachable (its liveness input silent): not asked, or
    /// given up on; a reachable tier answered instead, marked low-confidence.
    Unreachable,
}

impl HopOutcome {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            HopOutcome::Accepted => "accepted",
            HopOutcome::Escalated => "escalated",
            HopOutcome::Kept => "kept",
            HopOutcome::Deadline => "deadline",
            HopOutcome::NoAnswer => "no_answer",
            HopOutcome::Refused => "refused",
            HopOutcome::Unreachable => "unreachable",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Accepted, Self::Escalated, Self::Kept, Self::Deadline, Self::NoAnswer, Self::Refused, Self::Unreachable]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// One tier tried for a question.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteHop {
    /// The tier's name in the router's configuration (`router` for a refusal).
    pub tier: String,
    /// The model that answered there, if one did.
    pub model: Option<String>,
    /// That answer's confidence, if a model wrote it.
    pub confidence: Option<f32>,
    /// From asking the tier to its answer (or to giving up on it), ms.
    pub latency_ms: i64,
    /// What the router did next.
    pub outcome: HopOutcome,
    /// Why, in words (e.g. `confidence 0.31 below threshold 0.44`).
    pub reason: String,
}

impl RouteHop {
    /// The router's own hop for a question it refused without asking a model.
    pub fn refused(reason: impl Into<String>) -> Self {
        Self {
            tier: "router".into(),
            model: None,
            confidence: None,
            latency_ms: 0,
            outcome: HopOutcome::Refused,
            reason: reason.into(),
        }
    }

    /// The hop as JSON, as the MQTT sink and the HTTP gateway publish it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "tier": self.tier,
            "model": self.model,
            "confidence": self.confidence,
            "latency_ms": self.latency_ms,
            "outcome": self.outcome.as_str(),
            "reason": self.reason,
        })
    }
}

/// Encodes one route per answer as a `List<Struct>` column.
pub(crate) fn routes_to_arrow<'a>(routes: impl Iterator<Item = &'a [RouteHop]>) -> ArrayRef {
    let mut hops: Vec<&RouteHop> = Vec::new();
    let mut lengths = Vec::new();
    for route in routes {
        lengths.push(route.len());
        hops.extend(route);
    }
    let str_col = |f: &dyn Fn(&RouteHop) -> Option<&str>| -> ArrayRef {
        Arc::new(hops.iter().map(|h| f(h)).collect::<StringArray>())
    };
    let values = build_struct(vec![
        ("tier", str_col(&|h| Some(&h.tier)), false),
        ("model", str_col(&|h| h.model.as_deref()), true),
        ("confidence", Arc::new(hops.iter().map(|h| h.confidence).collect::<Float32Array>()), true),
        ("latency_ms", Arc::new(hops.iter().map(|h| Some(h.latency_ms)).collect::<Int64Array>()), false),
        ("outcome", str_col(&|h| Some(h.outcome.as_str())), false),
        ("reason", str_col(&|h| Some(&h.reason)), false),
    ]);
    list_column(lengths, values)
}

/// Decodes the `route` column: one route per row.
pub(crate) fn routes_from_arrow(list: &ListArray) -> Result<Vec<Vec<RouteHop>>, SchemaError> {
    let values = list.values();
    let cols = Columns::new(MESSAGE, values.as_ref())?;
    let tier = cols.utf8("tier")?;
    let model = cols.utf8("model")?;
    let confidence = cols.f32("confidence")?;
    let latency = cols.i64("latency_ms")?;
    let outcome = cols.utf8("outcome")?;
    let reason = cols.utf8("reason")?;
    list_rows(list, |i| {
        let outcome_text = cols.required_str(outcome, "outcome", i)?;
        Ok(RouteHop {
            tier: cols.required_str(tier, "tier", i)?,
            model: optional_str(model, i),
            confidence: (!confidence.is_null(i)).then(|| confidence.value(i)),
            latency_ms: optional_i64(latency, i).ok_or_else(|| cols.null("latency_ms", i))?,
            outcome: HopOutcome::parse(&outcome_text).ok_or_else(|| cols.invalid("outcome", i, outcome_text))?,
            reason: cols.required_str(reason, "reason", i)?,
        })
    })
}
