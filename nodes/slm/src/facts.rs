//! Facts about one tag, computed in code and then only worded: limit
//! violations and margins, trend, staleness. A 135M model cannot compare
//! 87 with 80 reliably; it can copy "7 °C above high limit 80 °C".

use shopfloor_core::schema::{Quality, ReadingValue};
use shopfloor_vocabulary::language::Language;

/// Where a value stands against its limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LimitStatus {
    /// The tag has no known limit.
    NoLimit,
    /// Inside the limits; `margin` to the nearest one, which is `limit`.
    Within {
        limit: f64,
        /// Which side that limit is on.
        side: LimitSide,
        /// Distance to it (≥ 0).
        margin: f64,
    },
    /// Beyond a limit by `by` (> 0): an alarm.
    Beyond { limit: f64, side: LimitSide, by: f64 },
}

/// Upper or lower limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSide {
    /// Upper (high) limit.
    High,
    /// Lower (low) limit.
    Low,
}

impl LimitStatus {
    /// Compares `value` with the limits.
    pub fn of(value: f64, low: Option<f64>, high: Option<f64>) -> Self {
        if let Some(high) = high.filter(|h| value > *h) {
            return LimitStatus::Beyond { limit: high, side: LimitSide::High, by: value - high };
        }
        if let Some(low) = low.filter(|l| value < *l) {
            return LimitStatus::Beyond { limit: low, side: LimitSide::Low, by: low - value };
        }
        let to_high = high.map(|h| (h - value, h, LimitSide::High));
        let to_low = low.map(|l| (value - l, l, LimitSide::Low));
        match (to_high, to_low) {
            (Some(a), Some(b)) => {
                let (margin, limit, side) = if a.0 <= b.0 { a } else { b };
                LimitStatus::Within { limit, side, margin }
            }
            (Some((margin, limit, side)), None) | (None, Some((margin, limit, side))) => {
                LimitStatus::Within { limit, side, margin }
            }
            (None, None) => LimitStatus::NoLimit,
        }
    }

    /// Whether the value violates a limit.
    pub fn is_alarm(self) -> bool {
        matches!(self, LimitStatus::Beyond { .. })
    }
}

/// Direction of a value over the trend window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trend {
    /// Too few samples to say.
    Unknown,
    /// Changing by less than 1 % of its size per minute.
    Stable,
    /// Rising by `per_minute` units per minute.
    Rising {
        /// Rate (> 0).
        per_minute: f64,
    },
    /// Falling by `per_minute` units per minute.
    Falling {
        /// Rate (> 0).
        per_minute: f64,
    },
}

/// Whether the value can be used as current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Good quality, changed recently enough.
    Fresh,
    /// The source marked it uncertain.
    Uncertain,
    /// The source marked it bad (e.g. disconnected).
    Bad,
    /// Unchanged for longer than the stale limit.
    Stale,
}

/// Which optional details a prompt line carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detail {
    /// Distance to the nearest limit while within limits.
    pub limits: bool,
    /// Rising/falling/stable with the rate.
    pub trend: bool,
}

impl Detail {
    /// Every detail.
    pub const ALL: Detail = Detail { limits: true, trend: true };
    /// The value (and any alarm or quality problem) only.
    pub const VALUE: Detail = Detail { limits: false, trend: false };
}

/// Everything the node knows about one tag at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct TagFact {
    /// Tag name, e.g. `spindle_temperature`.
    pub tag: String,
    pub value: ReadingValue,
    pub unit: Option<String>,
    /// Against the limits (numbers only).
    pub limit: LimitStatus,
    /// Over the trend window (numbers only).
    pub trend: Trend,
    /// Usable as current?
    pub freshness: Freshness,
    /// Milliseconds since the value last changed.
    pub age_ms: i64,
    /// A boolean alarm tag that is active, or a limit violation.
    pub alarm: bool,
    /// What the tag is, in words, when its source says (`Conveyor 1 speed`
    /// for `ST_2101`).
    pub description: Option<String>,
}

impl TagFact {
    /// `spindle temperature`; `ST 2101 (Conveyor 1 speed)` when the tag
    /// has a description, so that the model and the operator can tell
    /// which instrument the code stands for.
    pub fn name(&self) -> String {
        let name = self.tag.replace(['_', '.'], " ");
        match &self.description {
            Some(description) => format!("{name} ({description})"),
            None => name,
        }
    }

    /// The value as it is written everywhere: `72.4`, `RUNNING`.
    pub fn value_text(&self) -> String {
        self.value.to_string()
    }

    fn unit_suffix(&self) -> String {
        self.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default()
    }

    /// One compact prompt line with every detail: `spindle temperature: 87
    /// °C, ALARM 7 °C above high limit 80 °C, rising 1.2 °C/min`. Every number
    /// in it is computed here, so the model only has to copy.
    pub fn prompt_line(&self) -> String {
        self.prompt_line_with(Detail::ALL)
    }

    /// A prompt line with the limit margin and trend only when `detail` asks
    /// for them. Each detail costs prompt tokens (about 10 ms each on a
    /// 2-core CPU) and gives a small model more to confuse; an alarm, bad
    /// quality or staleness is always stated.
    pub fn prompt_line_with(&self, detail: Detail) -> String {
        let mut line = format!("{}: {}{}", self.name(), self.value_text(), self.unit_suffix());
        let unit = self.unit_suffix();
        if detail.limits || self.limit.is_alarm() {
            line.push_str(&self.limit_phrase());
        }
        if self.alarm && !self.limit.is_alarm() {
            line.push_str(", ALARM active");
        }
        match self.trend {
            _ if !detail.trend => {}
            Trend::Unknown => {}
            Trend::Stable => line.push_str(", stable"),
            Trend::Rising { per_minute } => line.push_str(&format!(", rising {}{unit}/min", rate(per_minute))),
            Trend::Falling { per_minute } => line.push_str(&format!(", falling {}{unit}/min", rate(per_minute))),
        }
        match self.freshness {
            Freshness::Fresh => {}
            Freshness::Uncertain => line.push_str(", quality UNCERTAIN"),
            Freshness::Bad => line.push_str(", quality BAD"),
            Freshness::Stale => line.push_str(&format!(", STALE: unchanged for {}", age(self.age_ms))),
        }
        line
    }

    /// The prompt line plus quality and age, for an answer's `facts_used`.
    pub fn fact_line(&self) -> String {
        let quality = match self.freshness {
            Freshness::Fresh | Freshness::Stale => "good",
            Freshness::Uncertain => "UNCERTAIN",
            Freshness::Bad => "BAD",
        };
        let core = self.prompt_line();
        let core = core.split(", quality ").next().unwrap_or(&core).to_owned();
        format!("{core} (quality {quality}, changed {} ago)", age(self.age_ms))
    }

    /// A complete answer sentence from the fact alone, used when the model's
    /// sentence is not grounded or the value must not be presented as current.
    pub fn sentence(&self) -> String {
        self.sentence_in(Language::English)
    }

    /// [`TagFact::sentence`] in `language`.
    pub fn sentence_in(&self, language: Language) -> String {
        self.sentence_with(language, Detail::ALL)
    }

    /// The sentence that states what [`TagFact::prompt_line_with`] states
    /// for `detail`, and nothing more: what a model given that line can
    /// write (the tuned model's training targets).
    pub fn sentence_with(&self, language: Language, detail: Detail) -> String {
        let words = Phrases::of(language);
        let name = capitalized(&self.name());
        let value = format!("{}{}", self.value_text(), self.unit_suffix());
        match self.freshness {
            Freshness::Stale => return (words.stale)(&name, &value, &age(self.age_ms)),
            Freshness::Bad => return (words.bad)(&name, &value, &age(self.age_ms)),
            Freshness::Fresh | Freshness::Uncertain => {}
        }
        let unit = self.unit_suffix();
        let mut sentence = format!("{name} {} {value}", words.is);
        if detail.limits || self.limit.is_alarm() {
            sentence.push_str(&self.limit_sentence(words));
        }
        match self.trend {
            _ if !detail.trend => {}
            Trend::Rising { per_minute } => {
                sentence.push_str(&format!(", {} {}{unit}/min", words.rising, rate(per_minute)))
            }
            Trend::Falling { per_minute } => {
                sentence.push_str(&format!(", {} {}{unit}/min", words.falling, rate(per_minute)))
            }
            Trend::Stable | Trend::Unknown => {}
        }
        if self.freshness == Freshness::Uncertain {
            sentence.push_str(words.uncertain);
        }
        sentence.push('.');
        sentence
    }

    /// `, 7 °C above its high limit of 80 °C (ALARM)` in the sentence's language.
    fn limit_sentence(&self, words: &Phrases) -> String {
        let unit = self.unit_suffix();
        let (amount, limit, side, beyond) = match self.limit {
            LimitStatus::NoLimit => return String::new(),
            LimitStatus::Within { limit, side, margin } => (margin, limit, side, false),
            LimitStatus::Beyond { limit, side, by } => (by, limit, side, true),
        };
        let above = (side == LimitSide::High) == beyond;
        let direction = if above { words.above } else { words.below };
        let limit_of = if side == LimitSide::High { words.high_limit_of } else { words.low_limit_of };
        let alarm = if beyond { format!(" ({})", words.alarm) } else { String::new() };
        format!(", {}{unit} {direction} {limit_of} {}{unit}{alarm}", number(amount), number(limit))
    }
}

/// The words of a fact sentence in one language.
struct Phrases {
    is: &'static str,
    above: &'static str,
    below: &'static str,
    high_limit_of: &'static str,
    low_limit_of: &'static str,
    alarm: &'static str,
    rising: &'static str,
    falling: &'static str,
    uncertain: &'static str,
    stale: fn(&str, &str, &str) -> String,
    bad: fn(&str, &str, &str) -> String,
}

impl Phrases {
    fn of(language: Language) -> &'static Phrases {
        match language {
            Language::English => &ENGLISH,
            Language::German => &GERMAN,
            Language::Spanish => &SPANISH,
            Language::French => &FRENCH,
        }
    }
}

const ENGLISH: Phrases = Phrases {
    is: "is",
    above: "above",
    below: "below",
    high_limit_of: "its high limit of",
    low_limit_of: "its low limit of",
    alarm: "ALARM",
    rising: "rising",
    falling: "falling",
    uncertain: " (quality UNCERTAIN)",
    stale: |name, value, age| {
        format!("{name} was {value}, but that value is {age} old and has not been updated since, so it may be stale.")
    },
    bad: |name, value, age| {
        format!("{name}'s last value {value} ({age} old) has BAD quality: the source cannot vouch for it.")
    },
};

const GERMAN: Phrases = Phrases {
    is: "ist",
    above: "über",
    below: "unter",
    high_limit_of: "dem oberen Grenzwert von",
    low_limit_of: "dem unteren Grenzwert von",
    alarm: "ALARM",
    rising: "steigend",
    falling: "fallend",
    uncertain: " (Qualität UNSICHER)",
    stale: |name, value, age| {
        format!("{name} war {value}, aber dieser Wert ist {age} alt und seitdem nicht aktualisiert, er kann also veraltet sein.")
    },
    bad: |name, value, age| {
        format!("Der letzte Wert von {name}, {value} ({age} alt), hat die Qualität BAD: die Quelle kann ihn nicht bestätigen.")
    },
};

const SPANISH: Phrases = Phrases {
    is: "es",
    above: "por encima de",
    below: "por debajo de",
    high_limit_of: "su límite superior de",
    low_limit_of: "su límite inferior de",
    alarm: "ALARMA",
    rising: "subiendo",
    falling: "bajando",
    uncertain: " (calidad INCIERTA)",
    stale: |name, value, age| {
        format!("{name} era {value}, pero ese valor tiene {age} y no se ha actualizado desde entonces: puede estar desfasado.")
    },
    bad: |name, value, age| {
        format!(
            "El último valor de {name}, {value} (de hace {age}), tiene calidad BAD: la fuente no puede garantizarlo."
        )
    },
};

const FRENCH: Phrases = Phrases {
    is: "est",
    above: "au-dessus de",
    below: "en dessous de",
    high_limit_of: "sa limite haute de",
    low_limit_of: "sa limite basse de",
    alarm: "ALARME",
    rising: "en hausse de",
    falling: "en baisse de",
    uncertain: " (qualité INCERTAINE)",
    stale: |name, value, age| {
        format!("{name} était {value}, mais cette valeur date de {age} et n'a pas été mise à jour depuis : elle peut être périmée.")
    },
    bad: |name, value, age| {
        format!("La dernière valeur de {name}, {value} (il y a {age}), est de qualité BAD : la source ne peut pas la garantir.")
    },
};

impl TagFact {
    /// The limit comparison as a prompt-line phrase starting with `, `
    /// (`, ALARM 7 °C above high limit 80 °C`); empty without a limit.
    fn limit_phrase(&self) -> String {
        let unit = self.unit_suffix();
        let (amount, limit, side, beyond) = match self.limit {
            LimitStatus::NoLimit => return String::new(),
            LimitStatus::Within { limit, side, margin } => (margin, limit, side, false),
            LimitStatus::Beyond { limit, side, by } => (by, limit, side, true),
        };
        // Within a high limit the value is below it; beyond it, above it.
        let direction = if (side == LimitSide::High) == beyond { "above" } else { "below" };
        let (amount, limit, side) = (number(amount), number(limit), side_word(side));
        let alarm = if beyond { "ALARM " } else { "" };
        format!(", {alarm}{amount}{unit} {direction} {side} limit {limit}{unit}")
    }
}

/// A number as facts write it (≤ 3 decimals, no trailing zeros).
pub fn number(value: f64) -> String {
    ReadingValue::Number(value).to_string()
}

/// A rate rounded to 2 significant decimals so that it reads well.
fn rate(per_minute: f64) -> String {
    let rounded = if per_minute >= 10.0 {
        per_minute.round()
    } else if per_minute >= 1.0 {
        (per_minute * 10.0).round() / 10.0
    } else {
        (per_minute * 100.0).round() / 100.0
    };
    number(rounded)
}

/// `0.4 s`, `12 s`, `7 min`, `3 h`.
pub fn age(age_ms: i64) -> String {
    let age_ms = age_ms.max(0);
    if age_ms < 10_000 {
        format!("{:.1} s", age_ms as f64 / 1000.0)
    } else if age_ms < 120_000 {
        format!("{} s", age_ms / 1000)
    } else if age_ms < 7_200_000 {
        format!("{} min", age_ms / 60_000)
    } else {
        format!("{} h", age_ms / 3_600_000)
    }
}

fn side_word(side: LimitSide) -> &'static str {
    match side {
        LimitSide::High => "high",
        LimitSide::Low => "low",
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Quality of a reading as freshness, before the age check.
pub fn freshness_of(quality: Quality, age_ms: i64, stale_after_ms: i64) -> Freshness {
    match quality {
        Quality::Bad => Freshness::Bad,
        Quality::Uncertain => Freshness::Uncertain,
        Quality::Good if age_ms > stale_after_ms => Freshness::Stale,
        Quality::Good => Freshness::Fresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temperature(value: f64) -> TagFact {
        TagFact {
            tag: "spindle_temperature".into(),
            value: ReadingValue::Number(value),
            unit: Some("°C".into()),
            limit: LimitStatus::of(value, None, Some(80.0)),
            trend: Trend::Stable,
            freshness: Freshness::Fresh,
            age_ms: 400,
            alarm: LimitStatus::of(value, None, Some(80.0)).is_alarm(),
            description: None,
        }
    }

    #[test]
    fn fact_sentences_are_written_in_the_askers_language() {
        let hot = temperature(87.0);
        assert_eq!(hot.sentence(), hot.sentence_in(Language::English));
        let german = hot.sentence_in(Language::German);
        assert!(german.contains("ist 87 °C, 7 °C über dem oberen Grenzwert von 80 °C (ALARM)"), "{german}");
        let spanish = temperature(72.0).sentence_in(Language::Spanish);
        assert!(spanish.contains("es 72 °C, 8 °C por debajo de su límite superior de 80 °C"), "{spanish}");
        let french = hot.sentence_in(Language::French);
        assert!(french.contains("au-dessus de sa limite haute de 80 °C (ALARME)"), "{french}");
    }

    #[test]
    fn a_value_above_its_high_limit_is_an_alarm_by_the_computed_amount() {
        assert_eq!(
            LimitStatus::of(87.0, None, Some(80.0)),
            LimitStatus::Beyond { limit: 80.0, side: LimitSide::High, by: 7.0 }
        );
        assert!(LimitStatus::of(87.0, None, Some(80.0)).is_alarm());
        assert!(!LimitStatus::of(80.0, None, Some(80.0)).is_alarm());
        assert!(LimitStatus::of(1.0, Some(2.0), Some(80.0)).is_alarm());
    }

    #[test]
    fn within_limits_the_nearest_limit_and_margin_are_reported() {
        assert_eq!(
            LimitStatus::of(30.0, Some(20.0), Some(80.0)),
            LimitStatus::Within { limit: 20.0, side: LimitSide::Low, margin: 10.0 }
        );
        assert_eq!(LimitStatus::of(30.0, None, None), LimitStatus::NoLimit);
    }

    #[test]
    fn prompt_lines_carry_the_computed_comparison() {
        assert_eq!(
            temperature(87.0).prompt_line(),
            "spindle temperature: 87 °C, ALARM 7 °C above high limit 80 °C, stable"
        );
        assert_eq!(
            temperature(72.4).prompt_line(),
            "spindle temperature: 72.4 °C, 7.6 °C below high limit 80 °C, stable"
        );
    }

    #[test]
    fn a_value_only_line_still_states_an_alarm() {
        assert_eq!(temperature(72.4).prompt_line_with(Detail::VALUE), "spindle temperature: 72.4 °C");
        assert_eq!(
            temperature(87.0).prompt_line_with(Detail::VALUE),
            "spindle temperature: 87 °C, ALARM 7 °C above high limit 80 °C"
        );
    }

    #[test]
    fn a_sentence_states_what_its_prompt_line_states() {
        let mut fact = temperature(72.4);
        fact.trend = Trend::Rising { per_minute: 1.2 };
        assert_eq!(fact.sentence_with(Language::English, Detail::VALUE), "Spindle temperature is 72.4 °C.");
        assert_eq!(
            fact.sentence_with(Language::English, Detail { limits: true, trend: false }),
            "Spindle temperature is 72.4 °C, 7.6 °C below its high limit of 80 °C."
        );
        assert!(fact
            .sentence_with(Language::English, Detail { limits: false, trend: true })
            .ends_with("rising 1.2 °C/min."));
        // An alarm is in every prompt line, so in every sentence.
        let alarm = temperature(87.0);
        assert!(alarm.sentence_with(Language::English, Detail::VALUE).contains("above its high limit"));
    }

    #[test]
    fn rates_read_well() {
        let mut fact = temperature(72.4);
        fact.trend = Trend::Rising { per_minute: 1.2345 };
        assert!(fact.prompt_line().ends_with("rising 1.2 °C/min"), "{}", fact.prompt_line());
        fact.trend = Trend::Falling { per_minute: 0.0123 };
        assert!(fact.prompt_line().ends_with("falling 0.01 °C/min"), "{}", fact.prompt_line());
    }

    #[test]
    fn stale_and_bad_values_are_never_presented_as_current() {
        let mut fact = temperature(72.4);
        fact.freshness = Freshness::Stale;
        fact.age_ms = 7 * 60_000;
        assert!(fact.prompt_line().ends_with("STALE: unchanged for 7 min"));
        assert!(fact.sentence().contains("7 min old"), "{}", fact.sentence());
        assert!(fact.sentence().contains("stale"));
        fact.freshness = Freshness::Bad;
        assert!(fact.sentence().contains("BAD quality"), "{}", fact.sentence());
    }

    #[test]
    fn the_sentence_states_value_limit_and_alarm() {
        assert_eq!(
            temperature(87.0).sentence(),
            "Spindle temperature is 87 °C, 7 °C above its high limit of 80 °C (ALARM)."
        );
    }

    #[test]
    fn fact_lines_show_quality_and_age() {
        assert_eq!(
            temperature(72.4).fact_line(),
            "spindle temperature: 72.4 °C, 7.6 °C below high limit 80 °C, stable (quality good, changed 0.4 s ago)"
        );
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(age(400), "0.4 s");
        assert_eq!(age(45_000), "45 s");
        assert_eq!(age(7 * 60_000), "7 min");
        assert_eq!(age(3 * 3_600_000), "3 h");
    }
}
