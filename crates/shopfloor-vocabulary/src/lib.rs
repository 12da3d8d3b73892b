//! The words operators use for plant things: what the `slm` node matches
//! questions to tags with, and what the router classifies questions by.
//! One list, so the two never disagree about what a plant word is.
//!
//! - [`tag_match`]: which tags a question is about, for any plant's naming
//!   and in English, German, Spanish or French.
//! - [`lexicon`]: the words and abbreviations it reads, by concept.
//! - [`text`]: folding case and accents, splitting identifiers.
//! - [`language`]: which supported language a question is written in.

pub mod language;
pub mod lexicon;
pub mod tag_match;
pub mod text;

/// Everyday words for parts of tag names.
pub const SYNONYMS: &[(&str, &str)] = &[
    ("temp", "temperature"),
    ("temps", "temperature"),
    ("temperatures", "temperature"),
    ("hot", "temperature"),
    ("warm", "temperature"),
    ("cold", "temperature"),
    ("heat", "temperature"),
    ("rpm", "speed"),
    ("fast", "speed"),
    ("turning", "speed"),
    ("rotating", "speed"),
    ("vibrating", "vibration"),
    ("vibrate", "vibration"),
    ("vibrations", "vibration"),
    ("shaking", "vibration"),
    ("parts", "part"),
    ("pieces", "part"),
    ("produced", "count"),
    ("made", "count"),
    ("many", "count"),
    ("status", "state"),
    ("running", "state"),
    ("doing", "state"),
    ("stopped", "state"),
    ("idle", "state"),
    ("pressures", "pressure"),
];

/// Words for what plants measure and the equipment they have. A question
/// using one of these that matches no tag asks about something this plant
/// does not have, and is told so instead of being answered with another tag.
/// Words also used loosely ("level", "current") are left out.
pub const PLANT_NOUNS: &[&str] = &[
    "temperature",
    "pressure",
    "speed",
    "vibration",
    "flow",
    "voltage",
    "power",
    "humidity",
    "torque",
    "count",
    "position",
    "weight",
    "energy",
    "frequency",
    "coolant",
    "oil",
    "hydraulic",
    "tank",
    "valve",
    "motor",
    "pump",
    "conveyor",
    "oven",
    "press",
    "robot",
    "spindle",
    "feeder",
    "gripper",
    "furnace",
    "boiler",
    "compressor",
    "fan",
    "heater",
    "chiller",
    "mixer",
    "filler",
    "labeler",
    "palletizer",
    "axis",
    "belt",
    "laser",
    "welder",
    "extruder",
    "kiln",
];

/// Words that ask about alarms in general.
pub const ALARM_WORDS: &[&str] = &["alarm", "alarms", "alert", "alerts", "warning", "warnings", "fault", "faults"];

/// Words that ask about limits.
pub const LIMIT_WORDS: &[&str] = &[
    "limit",
    "limits",
    "exceed",
    "exceeds",
    "exceeding",
    "above",
    "over",
    "below",
    "under",
    "within",
    "normal",
    "ok",
    "okay",
    "safe",
    "too",
    "overheating",
    "overheat",
    "alarm",
];

/// Words that ask how a value changes.
pub const TREND_WORDS: &[&str] = &[
    "rising",
    "rise",
    "falling",
    "fall",
    "trend",
    "trending",
    "increasing",
    "decreasing",
    "climbing",
    "dropping",
    "changing",
    "change",
    "stable",
    "steady",
    "history",
    "up",
    "down",
    "faster",
    "slower",
];

/// Unit spellings operators use, and the unit as tags carry it.
pub const UNIT_WORDS: &[(&str, &str)] =
    &[("degrees", "°C"), ("celsius", "°C"), ("rpm", "rpm"), ("mm/s", "mm/s"), ("bar", "bar"), ("kw", "kW")];

/// Words for the plant in general: with [`PLANT_NOUNS`], [`SYNONYMS`] and
/// [`ALARM_WORDS`], a question using none of them is not about the plant.
pub const GENERAL_PLANT_WORDS: &[&str] = &[
    "machine",
    "machines",
    "cell",
    "line",
    "plant",
    "station",
    "part",
    "production",
    "shift",
    "state",
    "status",
    "sensor",
    "sensors",
    "tag",
    "tags",
    "value",
    "values",
    "reading",
    "readings",
    "level",
    "tool",
    "tooling",
    "maintenance",
    "process",
    "batch",
    "order",
    "downtime",
    "uptime",
    "oee",
    "cycle",
    "scrap",
    "quality",
    "hopper",
    "silo",
    "bin",
    "cnc",
    "plc",
    "drive",
    "bearing",
    "lubrication",
    "limit",
    "limits",
    "setpoint",
    "running",
    "stopped",
    "idle",
    "operating",
    "equipment",
    "lathe",
    "mill",
    "milling",
    "cutting",
    "coolant",
];

/// Words that ask how to do something: the procedure class.
pub const PROCEDURE_WORDS: &[&str] = &[
    "procedure",
    "procedures",
    "steps",
    "instructions",
    "instruction",
    "checklist",
    "reset",
    "restart",
    "replace",
    "calibrate",
    "clean",
    "lockout",
    "sop",
];

/// The lower-case words of `text` (`mm/s` stays one word).
pub fn raw_words(question: &str) -> Vec<String> {
    question
        .split(|c: char| !(c.is_alphanumeric() || c == '/'))
        .map(|w| w.trim_matches('/'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The tag-name word an everyday word stands for (`hot` -> `temperature`).
pub fn canonical(word: &str) -> String {
    SYNONYMS
        .iter()
        .find(|(said, _)| *said == word)
        .map(|(_, tag_word)| (*tag_word).to_owned())
        .unwrap_or_else(|| word.to_owned())
}
