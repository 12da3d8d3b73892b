//! [`Alarms`]: every tag's alarm state, fed one reading at a time; no dora,
//! no clock (an alert's time is the reading's).
//!
//! Per tag:
//!
//! ```text
//!            value > high (good, numeric)                value <= high - deadband
//!  normal ─────────────────────────────────> above high ───────────────────────────> normal
//!   │        alert: warning, or critical        │   excursion reaches the critical   alert: info,
//!   │        when ≥ ALARMS_CRITICAL_MARGIN      │   margin while warning:            limit_cleared
//!   │                                           └─> one more alert, critical
//!   └─ value < low: the same, mirrored (below low, cleared at value >= low + deadband)
//! ```
//!
//! A value exactly at the limit is not beyond it. Severity only rises while
//! an alarm holds: a critical excursion that eases stays critical until it
//! clears. A reading that is not good, not a number, or not finite changes
//! nothing; neither does one whose tag has no limit on the side of its alarm.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::config::LimitAlarmsConfig;
use shopfloor_core::schema::{Alert, Quality, Reading, ReadingValue, Severity};

/// Which limit a value is beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Above the high limit.
    High,
    /// Below the low limit.
    Low,
}

impl Side {
    /// The alert kind of an excursion on this side.
    pub fn kind(self) -> &'static str {
        match self {
            Side::High => "high_limit",
            Side::Low => "low_limit",
        }
    }

    fn limit(self, limits: Limits) -> Option<f64> {
        match self {
            Side::High => limits.high,
            Side::Low => limits.low,
        }
    }

    /// How far `value` is beyond `limit`; negative when inside.
    fn excursion(self, value: f64, limit: f64) -> f64 {
        match self {
            Side::High => value - limit,
            Side::Low => limit - value,
        }
    }

    fn beyond(self) -> &'static str {
        match self {
            Side::High => "above high limit",
            Side::Low => "below low limit",
        }
    }

    fn back(self) -> &'static str {
        match self {
            Side::High => "back below high limit",
            Side::Low => "back above low limit",
        }
    }
}

/// A tag's alarm state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagState {
    /// Within its limits (or never seen).
    #[default]
    Normal,
    /// Beyond a limit, alerted at `severity`.
    Beyond {
        side: Side,
        /// The highest severity alerted since it went beyond.
        severity: Severity,
    },
}

/// One tag beyond a limit, as kept between runs of the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveAlarm {
    /// The alert kind of the excursion: `high_limit` or `low_limit`.
    pub kind: String,
    /// The highest severity alerted: `warning` or `critical`.
    pub severity: String,
}

/// What one reading was to the alarms; counted by the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// A good number checked against its limits (alert or not).
    Checked,
    /// A good number of a tag with no limit on either side.
    NoLimit,
    /// Quality `uncertain`: ignored.
    Uncertain,
    /// Quality `bad`: ignored.
    Bad,
    /// A text value: ignored.
    Text,
    /// NaN or infinite: ignored.
    NotFinite,
}

impl Outcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Checked => "checked",
            Outcome::NoLimit => "no_limit",
            Outcome::Uncertain => "uncertain_quality",
            Outcome::Bad => "bad_quality",
            Outcome::Text => "text",
            Outcome::NotFinite => "not_finite",
        }
    }
}

/// The limits in force for one reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Lower alarm limit.
    pub low: Option<f64>,
    /// Upper alarm limit.
    pub high: Option<f64>,
}

/// What alerts say besides the reading: where, who, and the thresholds.
#[derive(Debug, Clone)]
struct Settings {
    station: String,
    line: Option<String>,
    source: String,
    deadband: f64,
    critical_margin: Option<f64>,
    high_limits: BTreeMap<String, f64>,
    low_limits: BTreeMap<String, f64>,
}

#[derive(Debug, Default)]
struct TagAlarm {
    state: TagState,
    /// The plant time of the tag's last alert and how many it had at that
    /// time, so that two alerts of one tag at one millisecond get distinct ids.
    last_alert: Option<(i64, u32)>,
}

/// Every tag's alarm state.
#[derive(Debug)]
pub struct Alarms {
    settings: Settings,
    tags: HashMap<String, TagAlarm>,
}

impl Alarms {
    /// Alarms filed under the config's station and line, raised by `source`
    /// (the node's dataflow id).
    pub fn new(config: &LimitAlarmsConfig, source: &str) -> Self {
        Self {
            settings: Settings {
                station: config.station.clone(),
                line: config.line.clone(),
                source: source.to_owned(),
                deadband: config.deadband,
                critical_margin: config.critical_margin,
                high_limits: config.high_limits.clone(),
                low_limits: config.low_limits.clone(),
            },
            tags: HashMap::new(),
        }
    }

    /// The limits for `reading`: the configured ones of its tag where there
    /// are some, else those the reading carries.
    pub fn limits(&self, reading: &Reading) -> Limits {
        let pick = |configured: &BTreeMap<String, f64>, carried: Option<f64>| {
            configured.get(&reading.tag).copied().or(carried).filter(|limit| limit.is_finite())
        };
        Limits {
            low: pick(&self.settings.low_limits, reading.low_limit),
            high: pick(&self.settings.high_limits, reading.high_limit),
        }
    }

    /// A tag's state now.
    pub fn state(&self, tag: &str) -> TagState {
        self.tags.get(tag).map(|t| t.state).unwrap_or_default()
    }

    /// How many tags are beyond a limit now.
    pub fn active(&self) -> usize {
        self.tags.values().filter(|t| t.state != TagState::Normal).count()
    }

    /// Every tag beyond a limit now, by tag.
    pub fn active_alarms(&self) -> BTreeMap<String, ActiveAlarm> {
        self.tags
            .iter()
            .filter_map(|(tag, alarm)| match alarm.state {
                TagState::Normal => None,
                TagState::Beyond { side, severity } => Some((
                    tag.clone(),
                    ActiveAlarm { kind: side.kind().to_owned(), severity: severity.as_str().to_owned() },
                )),
            })
            .collect()
    }

    /// Takes back the tags a previous run had beyond a limit, so that their
    /// return inside is alerted and they are not alerted again. Returns the
    /// entries that could not be read (an unknown kind or severity), which
    /// are left normal.
    pub fn restore(&mut self, active: BTreeMap<String, ActiveAlarm>) -> Vec<String> {
        let mut unreadable = Vec::new();
        for (tag, alarm) in active {
            let side = [Side::High, Side::Low].into_iter().find(|side| side.kind() == alarm.kind);
            let severity = Severity::parse(&alarm.severity).filter(|s| *s != Severity::Info);
            match (side, severity) {
                (Some(side), Some(severity)) => {
                    self.tags.entry(tag).or_default().state = TagState::Beyond { side, severity };
                }
                _ => unreadable.push(tag),
            }
        }
        unreadable
    }

    /// Takes one reading: pushes the alerts it raises (none, one, or two when
    /// one value clears one limit and is beyond the other) onto `alerts`.
    pub fn observe(&mut self, reading: &Reading, alerts: &mut Vec<Alert>) -> Outcome {
        let value = match (reading.quality, &reading.value) {
            (Quality::Uncertain, _) => return Outcome::Uncertain,
            (Quality::Bad, _) => return Outcome::Bad,
            (Quality::Good, ReadingValue::Text(_)) => return Outcome::Text,
            (Quality::Good, ReadingValue::Number(n)) if !n.is_finite() => return Outcome::NotFinite,
            (Quality::Good, ReadingValue::Number(n)) => *n,
        };
        let limits = self.limits(reading);
        if limits.low.is_none() && limits.high.is_none() {
            return Outcome::NoLimit;
        }
        let settings = &self.settings;
        let tag = self.tags.entry(reading.tag.clone()).or_default();
        let mut raise = |severity: Severity, kind: &str, message: String| {
            alerts.push(settings.alert(tag_alert_id(&mut tag.last_alert, reading), reading, severity, kind, message));
        };
        if let TagState::Beyond { side, severity } = tag.state {
            let Some(limit) = side.limit(limits) else {
                return Outcome::Checked;
            };
            let excursion = side.excursion(value, limit);
            if !settings.is_back_inside(excursion, limit) {
                if severity == Severity::Warning && settings.is_critical(excursion, limit) {
                    raise(Severity::Critical, side.kind(), settings.beyond_message(reading, value, side, limit));
                    tag.state = TagState::Beyond { side, severity: Severity::Critical };
                }
                return Outcome::Checked;
            }
            raise(Severity::Info, "limit_cleared", settings.cleared_message(reading, value, side, limit));
            tag.state = TagState::Normal;
        }
        for side in [Side::High, Side::Low] {
            let Some(limit) = side.limit(limits) else { continue };
            let excursion = side.excursion(value, limit);
            if excursion > 0.0 {
                let severity =
                    if settings.is_critical(excursion, limit) { Severity::Critical } else { Severity::Warning };
                raise(severity, side.kind(), settings.beyond_message(reading, value, side, limit));
                tag.state = TagState::Beyond { side, severity };
                break;
            }
        }
        Outcome::Checked
    }
}

/// `limit-<tag>-<ts_ms>`, the time being plant time (the source's stamp, or
/// the gateway's when the source gives none), so that a replay at any speed
/// gives the same ids; `-2`, `-3`… for a tag's further alerts at one time.
fn tag_alert_id(last_alert: &mut Option<(i64, u32)>, reading: &Reading) -> String {
    let ts_ms = plant_time(reading);
    let count = match *last_alert {
        Some((ts, count)) if ts == ts_ms => count + 1,
        _ => 1,
    };
    *last_alert = Some((ts_ms, count));
    match count {
        1 => format!("limit-{}-{ts_ms}", reading.tag),
        n => format!("limit-{}-{ts_ms}-{n}", reading.tag),
    }
}

/// What decimal values lose in binary subtraction (`79.7 - 80` is
/// `-0.29999999999999716`): a value written exactly at the deadband or the
/// critical margin counts as reaching it.
fn tolerance(limit: f64) -> f64 {
    1e-9 * (1.0 + limit.abs())
}

/// When the value was measured, as far as the plant says.
fn plant_time(reading: &Reading) -> i64 {
    reading.source_ts_ms.unwrap_or(reading.received_ts_ms)
}

/// `80.25 °C`, `12`: numbers as operators read them (ReadingValue's spelling).
fn amount(value: f64, unit: Option<&str>) -> String {
    let number = ReadingValue::Number(value);
    match unit.filter(|u| !u.is_empty()) {
        Some(unit) => format!("{number} {unit}"),
        None => number.to_string(),
    }
}

impl Settings {
    /// At least the critical margin beyond the limit.
    fn is_critical(&self, excursion: f64, limit: f64) -> bool {
        self.critical_margin.is_some_and(|margin| excursion >= margin - tolerance(limit))
    }

    /// Back inside the limit by at least the deadband.
    fn is_back_inside(&self, excursion: f64, limit: f64) -> bool {
        excursion <= -self.deadband + tolerance(limit)
    }

    fn alert(&self, id: String, reading: &Reading, severity: Severity, kind: &str, message: String) -> Alert {
        Alert {
            line: self.line.clone(),
            tag: Some(reading.tag.clone()),
            ..Alert::new(id, plant_time(reading), self.station.clone(), severity, kind, message, self.source.clone())
        }
    }

    /// `spindle_temperature 80.25 °C above high limit 80 °C`, and for a
    /// critical excursion ` by 5.25 °C (critical margin 5 °C)`.
    fn beyond_message(&self, reading: &Reading, value: f64, side: Side, limit: f64) -> String {
        let unit = reading.unit.as_deref();
        let mut message = format!("{} {} {} {}", reading.tag, amount(value, unit), side.beyond(), amount(limit, unit));
        if let Some(margin) = self.critical_margin.filter(|_| self.is_critical(side.excursion(value, limit), limit)) {
            message += &format!(
                " by {} (critical margin {})",
                amount(side.excursion(value, limit), unit),
                amount(margin, unit)
            );
        }
        message
    }

    /// `spindle_temperature 79.5 °C back below high limit 80 °C`.
    fn cleared_message(&self, reading: &Reading, value: f64, side: Side, limit: f64) -> String {
        let unit = reading.unit.as_deref();
        format!("{} {} {} {}", reading.tag, amount(value, unit), side.back(), amount(limit, unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_086_400_000;

    fn config() -> LimitAlarmsConfig {
        LimitAlarmsConfig {
            station: "station1".into(),
            line: None,
            deadband: 0.5,
            critical_margin: None,
            high_limits: BTreeMap::new(),
            low_limits: BTreeMap::new(),
            state_file: "out/limit-alarms/active.json".into(),
            docs_dir: None,
            docs_rescan: std::time::Duration::from_secs(5),
        }
    }

    fn alarms(config: LimitAlarmsConfig) -> Alarms {
        Alarms::new(&config, "limit-alarms")
    }

    /// A good spindle temperature at `T0 + n` s with the plant's high limit 80 °C.
    fn temperature(n: i64, value: f64) -> Reading {
        Reading {
            high_limit: Some(80.0),
            ..Reading::good(
                "opc.tcp://127.0.0.1:4840/",
                "spindle_temperature".into(),
                ReadingValue::Number(value),
                Some("°C".into()),
                Some(T0 + n * 1000),
                T0 + n * 1000 + 12,
            )
        }
    }

    /// Feeds `readings` in order; the alerts as (severity, kind, message).
    fn feed(alarms: &mut Alarms, readings: &[Reading]) -> Vec<(Severity, String, String)> {
        let mut alerts = Vec::new();
        for reading in readings {
            alarms.observe(reading, &mut alerts);
        }
        alerts.into_iter().map(|a| (a.severity, a.kind, a.message)).collect()
    }

    fn alert(severity: Severity, kind: &str, message: &str) -> (Severity, String, String) {
        (severity, kind.into(), message.into())
    }

    #[test]
    fn a_value_above_the_high_limit_raises_one_warning_with_plant_time_and_where() {
        let mut alarms = alarms(LimitAlarmsConfig { line: Some("line1".into()), ..config() });
        let mut alerts = Vec::new();
        assert_eq!(alarms.observe(&temperature(0, 79.0), &mut alerts), Outcome::Checked);
        assert!(alerts.is_empty());
        alarms.observe(&temperature(1, 80.25), &mut alerts);
        let expected = Alert {
            line: Some("line1".into()),
            tag: Some("spindle_temperature".into()),
            ..Alert::new(
                format!("limit-spindle_temperature-{}", T0 + 1000),
                T0 + 1000,
                "station1",
                Severity::Warning,
                "high_limit",
                "spindle_temperature 80.25 °C above high limit 80 °C",
                "limit-alarms",
            )
        };
        assert_eq!(alerts, [expected]);
        assert_eq!(
            alarms.state("spindle_temperature"),
            TagState::Beyond { side: Side::High, severity: Severity::Warning }
        );
        assert_eq!(alarms.active(), 1);
    }

    #[test]
    fn a_value_exactly_at_the_limit_is_not_beyond_it() {
        let mut alarms = alarms(config());
        assert!(feed(&mut alarms, &[temperature(0, 80.0)]).is_empty());
    }

    #[test]
    fn no_alert_repeats_while_the_value_stays_beyond() {
        let mut alarms = alarms(config());
        let alerts = feed(
            &mut alarms,
            &[temperature(0, 81.0), temperature(1, 84.0), temperature(2, 79.8), temperature(3, 82.0)],
        );
        assert_eq!(alerts.len(), 1, "{alerts:?}");
    }

    #[test]
    fn the_alarm_clears_only_once_back_inside_by_the_deadband() {
        let mut alarms = alarms(config());
        let alerts = feed(
            &mut alarms,
            &[temperature(0, 81.0), temperature(1, 79.6), temperature(2, 79.5), temperature(3, 79.0)],
        );
        assert_eq!(
            alerts,
            [
                alert(Severity::Warning, "high_limit", "spindle_temperature 81 °C above high limit 80 °C"),
                alert(Severity::Info, "limit_cleared", "spindle_temperature 79.5 °C back below high limit 80 °C"),
            ]
        );
        assert_eq!(alarms.state("spindle_temperature"), TagState::Normal);
        assert_eq!(alarms.active(), 0);
    }

    #[test]
    fn a_zero_deadband_clears_at_the_limit_itself() {
        let mut alarms = alarms(LimitAlarmsConfig { deadband: 0.0, ..config() });
        let alerts = feed(&mut alarms, &[temperature(0, 80.5), temperature(1, 80.0)]);
        assert_eq!(alerts[1].1, "limit_cleared");
    }

    #[test]
    fn values_written_exactly_at_the_deadband_or_margin_reach_it() {
        let mut alarms = alarms(LimitAlarmsConfig { deadband: 0.3, critical_margin: Some(5.3), ..config() });
        let alerts = feed(&mut alarms, &[temperature(0, 80.1), temperature(1, 85.3), temperature(2, 79.7)]);
        let summary: Vec<(Severity, &str)> = alerts.iter().map(|(s, k, _)| (*s, k.as_str())).collect();
        assert_eq!(
            summary,
            [(Severity::Warning, "high_limit"), (Severity::Critical, "high_limit"), (Severity::Info, "limit_cleared")]
        );
    }

    #[test]
    fn an_excursion_of_the_critical_margin_is_critical_at_once() {
        let mut alarms = alarms(LimitAlarmsConfig { critical_margin: Some(5.0), ..config() });
        let alerts = feed(&mut alarms, &[temperature(0, 85.25), temperature(1, 86.0)]);
        assert_eq!(
            alerts,
            [alert(
                Severity::Critical,
                "high_limit",
                "spindle_temperature 85.25 °C above high limit 80 °C by 5.25 °C (critical margin 5 °C)"
            )]
        );
    }

    #[test]
    fn a_warning_that_reaches_the_critical_margin_raises_one_critical_alert() {
        let mut alarms = alarms(LimitAlarmsConfig { critical_margin: Some(5.0), ..config() });
        let readings = [
            temperature(0, 80.5),
            temperature(1, 84.9),
            temperature(2, 85.0),
            temperature(3, 86.0),
            temperature(4, 82.0),
            temperature(5, 79.0),
        ];
        let alerts = feed(&mut alarms, &readings);
        let summary: Vec<(Severity, &str)> = alerts.iter().map(|(s, k, _)| (*s, k.as_str())).collect();
        assert_eq!(
            summary,
            [(Severity::Warning, "high_limit"), (Severity::Critical, "high_limit"), (Severity::Info, "limit_cleared")]
        );
        assert_eq!(alerts[1].2, "spindle_temperature 85 °C above high limit 80 °C by 5 °C (critical margin 5 °C)");
    }

    #[test]
    fn a_value_below_the_low_limit_raises_and_clears_the_low_alarm() {
        let mut alarms = alarms(config());
        let flow = |n: i64, value: f64| Reading {
            low_limit: Some(2.5),
            ..Reading::good(
                "mqtt",
                "coolant_flow".into(),
                ReadingValue::Number(value),
                Some("l/min".into()),
                None,
                T0 + n,
            )
        };
        let alerts = feed(&mut alarms, &[flow(0, 3.0), flow(1, 2.25), flow(2, 2.75), flow(3, 3.0)]);
        assert_eq!(
            alerts,
            [
                alert(Severity::Warning, "low_limit", "coolant_flow 2.25 l/min below low limit 2.5 l/min"),
                alert(Severity::Info, "limit_cleared", "coolant_flow 3 l/min back above low limit 2.5 l/min"),
            ]
        );
    }

    #[test]
    fn uncertain_bad_and_text_readings_change_nothing() {
        let mut alarms = alarms(config());
        let mut alerts = Vec::new();
        let uncertain = Reading { quality: Quality::Uncertain, ..temperature(0, 95.0) };
        let bad = Reading { quality: Quality::Bad, ..temperature(1, 95.0) };
        let text = Reading { value: ReadingValue::Text("HOT".into()), ..temperature(2, 0.0) };
        let nan = temperature(3, f64::NAN);
        let outcomes: Vec<Outcome> =
            [uncertain, bad, text, nan].iter().map(|r| alarms.observe(r, &mut alerts)).collect();
        assert_eq!(outcomes, [Outcome::Uncertain, Outcome::Bad, Outcome::Text, Outcome::NotFinite]);
        assert!(alerts.is_empty());
        assert_eq!(alarms.active(), 0);

        // Nor do they clear an alarm that holds.
        alarms.observe(&temperature(4, 81.0), &mut alerts);
        alarms.observe(&Reading { quality: Quality::Bad, ..temperature(5, 20.0) }, &mut alerts);
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            alarms.state("spindle_temperature"),
            TagState::Beyond { side: Side::High, severity: Severity::Warning }
        );
    }

    #[test]
    fn a_tag_without_limits_is_counted_not_judged() {
        let mut alarms = alarms(config());
        let speed = Reading::good("opc", "spindle_speed".into(), ReadingValue::Number(99_999.0), None, Some(T0), T0);
        let mut alerts = Vec::new();
        assert_eq!(alarms.observe(&speed, &mut alerts), Outcome::NoLimit);
        assert!(alerts.is_empty());
    }

    #[test]
    fn a_configured_limit_wins_over_the_readings_own() {
        let mut alarms = alarms(LimitAlarmsConfig {
            high_limits: BTreeMap::from([("spindle_temperature".into(), 75.0)]),
            low_limits: BTreeMap::from([("spindle_temperature".into(), 20.0)]),
            ..config()
        });
        assert_eq!(alarms.limits(&temperature(0, 0.0)), Limits { low: Some(20.0), high: Some(75.0) });
        let alerts = feed(&mut alarms, &[temperature(0, 76.0), temperature(1, 74.0), temperature(2, 19.0)]);
        let messages: Vec<&str> = alerts.iter().map(|(_, _, m)| m.as_str()).collect();
        assert_eq!(
            messages,
            [
                "spindle_temperature 76 °C above high limit 75 °C",
                "spindle_temperature 74 °C back below high limit 75 °C",
                "spindle_temperature 19 °C below low limit 20 °C",
            ]
        );
    }

    #[test]
    fn readings_of_one_tag_are_taken_in_order_with_distinct_ids() {
        let mut alarms = alarms(config());
        let mut alerts = Vec::new();
        // One batch, the source stamping all three at the same millisecond.
        let batch = [temperature(0, 81.0), temperature(0, 79.0), temperature(0, 81.5)];
        for reading in &batch {
            alarms.observe(reading, &mut alerts);
        }
        let ids: Vec<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "limit-spindle_temperature-1764086400000",
                "limit-spindle_temperature-1764086400000-2",
                "limit-spindle_temperature-1764086400000-3",
            ]
        );
        let kinds: Vec<&str> = alerts.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["high_limit", "limit_cleared", "high_limit"]);
    }

    #[test]
    fn a_swing_from_above_high_to_below_low_clears_and_raises() {
        let mut alarms = alarms(config());
        let reading = |n: i64, value: f64| Reading { low_limit: Some(10.0), ..temperature(n, value) };
        let alerts = feed(&mut alarms, &[reading(0, 90.0), reading(1, 5.0)]);
        let kinds: Vec<&str> = alerts.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["high_limit", "limit_cleared", "low_limit"]);
    }

    #[test]
    fn without_a_source_stamp_the_gateways_time_is_used() {
        let mut alarms = alarms(config());
        let mut alerts = Vec::new();
        alarms.observe(&Reading { source_ts_ms: None, ..temperature(0, 90.0) }, &mut alerts);
        assert_eq!(alerts[0].ts_ms, T0 + 12);
        assert_eq!(alerts[0].id, format!("limit-spindle_temperature-{}", T0 + 12));
    }

    #[test]
    fn tags_are_independent() {
        let mut alarms = alarms(config());
        let other = |n: i64, value: f64| Reading { tag: "bearing_temperature".into(), ..temperature(n, value) };
        let alerts = feed(&mut alarms, &[temperature(0, 81.0), other(0, 81.0), other(1, 70.0)]);
        assert_eq!(alerts.len(), 3);
        assert_eq!(
            alarms.state("spindle_temperature"),
            TagState::Beyond { side: Side::High, severity: Severity::Warning }
        );
        assert_eq!(alarms.state("bearing_temperature"), TagState::Normal);
    }

    #[test]
    fn a_restored_alarm_clears_with_an_alert_and_is_not_raised_again() {
        let mut before = alarms(config());
        assert_eq!(feed(&mut before, &[temperature(0, 81.0)]).len(), 1);
        let kept = before.active_alarms();
        assert_eq!(kept["spindle_temperature"], ActiveAlarm { kind: "high_limit".into(), severity: "warning".into() });

        let mut after = alarms(config());
        assert!(after.restore(kept).is_empty());
        assert!(feed(&mut after, &[temperature(1, 81.5)]).is_empty(), "still beyond: already alerted");
        let cleared = feed(&mut after, &[temperature(2, 79.0)]);
        assert_eq!(cleared.iter().map(|(_, kind, _)| kind.as_str()).collect::<Vec<_>>(), ["limit_cleared"]);
        assert!(after.active_alarms().is_empty());
    }

    #[test]
    fn unreadable_kept_alarms_are_named_and_left_normal() {
        let mut alarms = alarms(config());
        let kept = BTreeMap::from([
            ("a".to_owned(), ActiveAlarm { kind: "sideways".into(), severity: "warning".into() }),
            ("b".to_owned(), ActiveAlarm { kind: "low_limit".into(), severity: "info".into() }),
        ]);
        assert_eq!(alarms.restore(kept), ["a", "b"]);
        assert_eq!(alarms.active(), 0);
    }
}
