//! What a replay run showed, on one time axis: the recording's readings and
//! questions, and the collected answers and alerts.
//!
//! Time is plant time in seconds from the recording's first event (a
//! reading's source timestamp, a question's receipt, a frame's `ts_ms`), so
//! that a replay at any speed gives the same times: readings carry their
//! source timestamps, questions the time they were received, alerts the time
//! of the reading or frame that raised them.

use std::collections::BTreeMap;

use dora_node_api::Parameter;
use recording::time_shift::TimeShift;
use recording::RecordedMessage;
use shopfloor_core::schema::{Alert, Answer, Question, Reading, ReadingValue};

/// A recorded question.
#[derive(Debug, Clone, PartialEq)]
pub struct AskedQuestion {
    /// Plant time, s.
    pub t_s: f64,
    pub id: String,
    pub text: String,
}

/// A collected answer.
#[derive(Debug, Clone, PartialEq)]
pub struct GivenAnswer {
    /// Plant time of its question, s (`None`: the question is not in the recording).
    pub t_s: Option<f64>,
    pub question_id: String,
    pub text: String,
    /// Model that worded it (`None`: a fact sentence or a refusal).
    pub model: Option<String>,
    /// Confidence, when a model answered.
    pub confidence: Option<f32>,
    /// Latency the answering node measured, ms.
    pub latency_ms: i64,
    /// Tiers the question went through.
    pub route: Vec<String>,
}

/// A collected alert.
#[derive(Debug, Clone, PartialEq)]
pub struct RaisedAlert {
    /// Plant time, s.
    pub t_s: f64,
    pub id: String,
    pub kind: String,
    pub severity: String,
    pub message: String,
}

/// Everything on one axis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Plant time origin, ms since the epoch.
    pub origin_ms: i64,
    /// Numeric readings per tag: (s, value).
    pub series: BTreeMap<String, Vec<(f64, f64)>>,
    /// Last high limit seen per tag.
    pub high_limits: BTreeMap<String, f64>,
    /// Recorded questions, in time order.
    pub questions: Vec<AskedQuestion>,
    /// Collected answers, in question time order.
    pub answers: Vec<GivenAnswer>,
    /// Collected alerts, in time order.
    pub alerts: Vec<RaisedAlert>,
    /// Messages per recorded topic.
    pub recorded: BTreeMap<String, u64>,
    /// Messages per collected topic.
    pub collected: BTreeMap<String, u64>,
    /// Messages that did not decode as their output's message type.
    pub undecodable: u64,
}

fn reading_ts(reading: &Reading) -> i64 {
    reading.source_ts_ms.unwrap_or(reading.received_ts_ms)
}

/// Builds the timeline from the recording played and the outputs collected;
/// with `shift`, the outputs' times are replay times, mapped back.
pub fn timeline(recorded: &[RecordedMessage], collected: &[RecordedMessage], shift: Option<&TimeShift>) -> Timeline {
    let mut line = Timeline::default();
    let mut readings = Vec::new();
    let mut questions = Vec::new();
    // Frames and other messages that say when they were made (`ts_ms`).
    let mut stamped = Vec::new();
    for message in recorded {
        *line.recorded.entry(message.topic()).or_default() += 1;
        if let Some(Parameter::Integer(ts_ms)) = message.parameters.get("ts_ms") {
            stamped.push(*ts_ms);
        }
        let Some(data) = &message.data else { continue };
        match message.output_id.as_str() {
            "readings" => match Reading::from_arrow(data.as_ref()) {
                Ok(batch) => readings.extend(batch),
                Err(_) => line.undecodable += 1,
            },
            "questions" => match Question::from_arrow(data.as_ref()) {
                Ok(batch) => questions.extend(batch),
                Err(_) => line.undecodable += 1,
            },
            _ => {}
        }
    }
    line.origin_ms = readings
        .iter()
        .map(reading_ts)
        .chain(questions.iter().map(|q| q.received_ts_ms))
        .chain(stamped.iter().copied())
        .min()
        .unwrap_or(0);
    let at = |ms: i64| (ms - line.origin_ms) as f64 / 1000.0;
    for reading in &readings {
        if let ReadingValue::Number(value) = reading.value {
            line.series.entry(reading.tag.clone()).or_default().push((at(reading_ts(reading)), value));
        }
        if let Some(limit) = reading.high_limit {
            line.high_limits.insert(reading.tag.clone(), limit);
        }
    }
    for series in line.series.values_mut() {
        series.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    line.questions = questions
        .iter()
        .map(|q| AskedQuestion { t_s: at(q.received_ts_ms), id: q.id.clone(), text: q.text.clone() })
        .collect();
    line.questions.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    let asked: BTreeMap<&str, f64> = line.questions.iter().map(|q| (q.id.as_str(), q.t_s)).collect();
    for message in collected {
        *line.collected.entry(message.topic()).or_default() += 1;
        let Some(data) = &message.data else { continue };
        match message.output_id.as_str() {
            "answers" => match Answer::from_arrow(data.as_ref()) {
                Ok(batch) => line.answers.extend(batch.into_iter().map(|a| GivenAnswer {
                    t_s: asked.get(a.id.as_str()).copied(),
                    question_id: a.id,
                    text: a.text,
                    model: a.model,
                    confidence: a.confidence,
                    latency_ms: a.latency_ms,
                    route: a.route.iter().map(|hop| hop.tier.clone()).collect(),
                })),
                Err(_) => line.undecodable += 1,
            },
            "alerts" => match Alert::from_arrow(data.as_ref()) {
                Ok(batch) => line.alerts.extend(batch.into_iter().map(|a| RaisedAlert {
                    t_s: at(shift.map_or(a.ts_ms, |s| s.back(a.ts_ms))),
                    id: a.id,
                    kind: a.kind,
                    severity: a.severity.as_str().to_owned(),
                    message: a.message,
                })),
                Err(_) => line.undecodable += 1,
            },
            _ => {}
        }
    }
    line.answers.sort_by(|a, b| {
        a.t_s.unwrap_or(f64::MAX).total_cmp(&b.t_s.unwrap_or(f64::MAX)).then(a.question_id.cmp(&b.question_id))
    });
    line.alerts.sort_by(|a, b| a.t_s.total_cmp(&b.t_s).then(a.id.cmp(&b.id)));
    line
}
