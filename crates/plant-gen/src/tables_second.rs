//! A second, independent set of development plants: new measurements, new
//! equipment and six more kinds of plant. Written on 2026-12-07 by a separate
//! writer, without reading the held-out kinds or the assistant's word lists,
//! from how real plants name things, as a second development set.

use super::tables::{equipment, measure, Equipment, Measure, PlantKind};

/// Measurements of the second set, none of them in [`super::tables::MEASURES`].
pub const SECOND_MEASURES: &[Measure] = &[
    measure(
        ["torque", "Torque", "Trq", "Drehmoment", "par", "couple"],
        Some("Nm"),
        Some("Nm"),
        "WT",
        (20.0, 450.0),
        1,
        Some(400.0),
    ),
    measure(
        ["conductivity", "Conductivity", "Cond", "Leitfaehigkeit", "conductividad", "conductivité"],
        Some("µS/cm"),
        Some("uS_cm"),
        "AT",
        (150.0, 6000.0),
        0,
        None,
    ),
    measure(
        ["dew point", "DewPoint", "DewPt", "Taupunkt", "punto de rocío", "point de rosée"],
        Some("°C"),
        Some("degC"),
        "MT",
        (2.0, 12.0),
        1,
        Some(10.0),
    ),
    measure(
        ["moisture", "Moisture", "Moist", "Restfeuchte", "contenido de humedad", "teneur en humidité"],
        Some("%"),
        Some("pct"),
        "MT",
        (4.0, 16.0),
        1,
        Some(14.0),
    ),
    measure(
        ["tension", "Tension", "Tens", "Bandzug", "tensión de banda", "tension de bande"],
        Some("kN"),
        Some("kN"),
        "WT",
        (1.0, 60.0),
        1,
        Some(55.0),
    ),
    measure(
        [
            "differential pressure",
            "DiffPressure",
            "dP",
            "Differenzdruck",
            "presión diferencial",
            "pression différentielle",
        ],
        Some("Pa"),
        Some("Pa"),
        "PDT",
        (8.0, 45.0),
        1,
        None,
    ),
    measure(
        ["voltage", "Voltage", "Volt", "Spannung", "tensión", "tension"],
        Some("kV"),
        Some("kV"),
        "ET",
        (19.6, 21.0),
        2,
        Some(22.0),
    ),
    measure(
        ["energy", "Energy", "Enrg", "Wirkenergie", "energía", "énergie"],
        Some("MWh"),
        Some("MWh"),
        "JQ",
        (500.0, 90000.0),
        1,
        None,
    ),
    measure(
        [
            "runtime hours",
            "RunHours",
            "OpHrs",
            "Betriebsstunden",
            "horas de funcionamiento",
            "heures de fonctionnement",
        ],
        Some("h"),
        Some("h"),
        "KQI",
        (500.0, 60000.0),
        0,
        None,
    ),
    Measure {
        key: "mode",
        camel: "OperatingMode",
        plc: "Mode",
        german: "Betriebsart",
        spanish: "modo",
        french: "mode de marche",
        unit: None,
        suffix: None,
        isa: "HS",
        range: (0.0, 0.0),
        decimals: 0,
        high_limit: None,
        states: &["PRODUCTION", "CLEANING", "MANUAL", "STANDBY"],
    },
];

/// Equipment of the second set, none of it in [`super::tables::EQUIPMENT`].
pub const SECOND_EQUIPMENT: &[Equipment] = &[
    equipment("silo", "Silo", "SIL", "Silo", "silo", "silo"),
    equipment("pasteurizer", "Pasteurizer", "PAST", "Erhitzer", "pasteurizador", "pasteurisateur"),
    equipment("separator", "Separator", "SEP", "Separator", "desnatadora", "écrémeuse"),
    equipment("bandsaw", "Bandsaw", "BS", "Bandsaege", "sierra de cinta", "scie à ruban"),
    equipment("kiln", "Kiln", "KLN", "Trockenkammer", "secadero", "séchoir"),
    equipment("chipper", "Chipper", "CHP", "Hacker", "astilladora", "déchiqueteuse"),
    equipment("headbox", "Headbox", "HB", "Stoffauflauf", "caja de entrada", "caisse de tête"),
    equipment("reel", "Reel", "RL", "Aufrollung", "enrolladora", "enrouleuse"),
    equipment("stand", "Stand", "STD", "Geruest", "caja", "cage"),
    equipment("coiler", "Coiler", "CLR", "Haspel", "bobinadora", "bobineuse"),
    equipment("press", "Press", "TP", "Tablettenpresse", "tableteadora", "presse à comprimés"),
    equipment("turbine", "Turbine", "WTG", "WEA", "aerogenerador", "éolienne"),
    equipment("transformer", "Transformer", "TR", "Trafo", "transformador", "transformateur"),
];

/// Six more development kinds of plant, built from both sets of tables.
pub const SECOND_KINDS: &[PlantKind] = &[
    PlantKind {
        name: "dairy",
        area: "Process1",
        units: &[
            ("silo", 2, &["level"]),
            ("pasteurizer", 1, &["temperature", "flow", "conductivity", "mode"]),
            ("separator", 1, &["speed", "vibration", "current"]),
        ],
    },
    PlantKind {
        name: "sawmill",
        area: "SawLine",
        units: &[
            ("conveyor", 1, &["speed", "state"]),
            ("bandsaw", 2, &["speed", "current"]),
            ("kiln", 2, &["temperature", "moisture"]),
            ("chipper", 1, &["current", "runtime hours"]),
        ],
    },
    PlantKind {
        name: "paper_machine",
        area: "PM2",
        units: &[
            ("pump", 1, &["flow", "current"]),
            ("headbox", 1, &["pressure", "temperature"]),
            ("dryer", 2, &["pressure", "temperature"]),
            ("reel", 1, &["speed", "tension", "moisture"]),
        ],
    },
    PlantKind {
        name: "rolling_mill",
        area: "HSM",
        units: &[
            ("stand", 3, &["speed", "current"]),
            ("coiler", 1, &["speed", "tension", "state"]),
            ("pump", 1, &["pressure", "flow"]),
        ],
    },
    PlantKind {
        name: "pharma",
        area: "OSD1",
        units: &[
            ("mixer", 1, &["torque", "speed"]),
            ("dryer", 1, &["temperature", "dew point"]),
            ("press", 1, &["speed", "count", "mode"]),
            ("zone", 2, &["differential pressure", "temperature"]),
        ],
    },
    PlantKind {
        name: "wind_farm",
        area: "WF1",
        units: &[
            ("turbine", 3, &["power", "speed", "state"]),
            ("transformer", 1, &["temperature", "voltage", "energy"]),
        ],
    },
];
