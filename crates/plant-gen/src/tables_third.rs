//! A third, independent set of development plants: new measurements, new
//! equipment and six more kinds of plant. Written on 2026-12-07 by a separate
//! writer, without reading the held-out kinds or the assistant's word lists,
//! from how real plants and their operators name things, as a third
//! development set.

use super::tables::{equipment, measure, Equipment, Measure, PlantKind};

/// Measurements of the third set, none of them in [`super::tables::MEASURES`]
/// or [`super::tables_second::SECOND_MEASURES`].
pub const THIRD_MEASURES: &[Measure] = &[
    // Flue-gas oxygen from an analyser at the kiln inlet or furnace exit.
    measure(
        ["oxygen", "O2Content", "O2", "O2Gehalt", "oxígeno", "teneur en oxygène"],
        Some("%"),
        Some("pct"),
        "AT",
        (0.5, 6.0),
        2,
        None,
    ),
    // Stack dust from the emission monitor, against the permit limit.
    measure(
        ["dust", "DustConc", "Dust", "Staubgehalt", "concentración de polvo", "concentration de poussières"],
        Some("mg/Nm³"),
        Some("mgNm3"),
        "AT",
        (1.0, 35.0),
        1,
        Some(30.0),
    ),
    // What a weigh feeder or belt scale delivers.
    measure(
        ["feed rate", "FeedRate", "Feed", "Foerderstaerke", "tasa de alimentación", "débit d'alimentation"],
        Some("t/h"),
        Some("tph"),
        "WT",
        (150.0, 350.0),
        1,
        None,
    ),
    // The hottest refractory of a glass melting furnace.
    measure(
        [
            "crown temperature",
            "CrownTemp",
            "TCrwn",
            "Gewoelbetemperatur",
            "temperatura de bóveda",
            "température de voûte",
        ],
        Some("°C"),
        Some("degC"),
        "TT",
        (1500.0, 1600.0),
        0,
        Some(1585.0),
    ),
    // Natural gas to the burners, in normal cubic metres.
    measure(
        ["gas flow", "GasFlow", "GasFlw", "Gasmenge", "caudal de gas", "débit de gaz"],
        Some("Nm³/h"),
        Some("Nm3h"),
        "FT",
        (900.0, 2200.0),
        0,
        None,
    ),
    // A canal's water level above the gauge datum, not a tank's percent.
    measure(
        ["water level", "WaterLevel", "WL", "Wasserstand", "nivel de agua", "niveau d'eau"],
        Some("m"),
        Some("m"),
        "LT",
        (1.5, 4.5),
        2,
        Some(4.2),
    ),
    // A freezer room's air; the alarm is warmer than -18 °C.
    measure(
        ["air temperature", "AirTemp", "Tair", "Lufttemperatur", "temperatura del aire", "température d'air"],
        Some("°C"),
        Some("degC"),
        "TT",
        (-26.0, -17.0),
        1,
        Some(-18.0),
    ),
    // Sugar content of juice and syrup.
    measure(
        ["brix", "Brix", "Bx", "Brix", "grados Brix", "brix"],
        Some("°Bx"),
        Some("Bx"),
        "DT",
        (55.0, 70.0),
        1,
        Some(68.0),
    ),
    // An evaporator's defrost cycle.
    Measure {
        key: "defrost",
        camel: "DefrostState",
        plc: "Dfst",
        german: "Abtauung",
        spanish: "desescarche",
        french: "dégivrage",
        unit: None,
        suffix: None,
        isa: "YS",
        range: (0.0, 0.0),
        decimals: 0,
        high_limit: None,
        states: &["COOLING", "DEFROST", "DRIP", "FAN_DELAY"],
    },
];

/// Equipment of the third set, none of it in [`super::tables::EQUIPMENT`]
/// or [`super::tables_second::SECOND_EQUIPMENT`].
pub const THIRD_EQUIPMENT: &[Equipment] = &[
    equipment("feeder", "WeighFeeder", "WF", "Dosierbandwaage", "báscula dosificadora", "doseur pondéral"),
    equipment("preheater", "Preheater", "PH", "Waermetauscher", "precalentador", "préchauffeur"),
    equipment("cooler", "ClinkerCooler", "GC", "Klinkerkuehler", "enfriador de clínker", "refroidisseur à clinker"),
    equipment("stack", "Stack", "STK", "Kamin", "chimenea", "cheminée"),
    equipment("furnace", "Furnace", "FCE", "Schmelzwanne", "horno de fusión", "four de fusion"),
    equipment("ismachine", "ISMachine", "ISM", "ISMaschine", "máquina IS", "machine IS"),
    equipment("gate", "SluiceGate", "SG", "Schuetz", "compuerta", "vanne"),
    equipment("room", "ColdRoom", "KR", "Kuehlraum", "cámara frigorífica", "chambre froide"),
    equipment("condenser", "Condenser", "CND", "Verfluessiger", "condensador", "condenseur"),
    equipment("jet", "Jet", "FA", "Faerbeapparat", "jet de tintura", "jet de teinture"),
    equipment("mill", "Mill", "ML", "Muehle", "molino", "moulin"),
    equipment("evaporator", "Evaporator", "EV", "Verdampfer", "evaporador", "évaporateur"),
    equipment("centrifugal", "Centrifugal", "CF", "Zentrifuge", "centrífuga", "turbine"),
];

/// Six more development kinds of plant, built from all three sets of tables.
pub const THIRD_KINDS: &[PlantKind] = &[
    PlantKind {
        name: "cement_kiln",
        area: "Kiln1",
        units: &[
            ("feeder", 1, &["feed rate", "state"]),
            ("preheater", 1, &["oxygen"]),
            ("fan", 2, &["speed", "current", "vibration"]),
            ("cooler", 1, &["current", "state"]),
            ("stack", 1, &["dust"]),
        ],
    },
    PlantKind {
        name: "glass_furnace",
        area: "F1",
        units: &[
            ("furnace", 1, &["crown temperature", "gas flow", "oxygen"]),
            ("fan", 2, &["speed", "current"]),
            ("ismachine", 2, &["count", "state"]),
            ("stack", 1, &["dust"]),
        ],
    },
    PlantKind {
        name: "pumping_station",
        area: "PS2",
        units: &[
            ("gate", 2, &["position", "water level"]),
            ("pump", 3, &["speed", "current", "vibration", "runtime hours"]),
            ("transformer", 1, &["temperature"]),
        ],
    },
    PlantKind {
        name: "cold_store",
        area: "CS1",
        units: &[
            ("room", 4, &["air temperature", "defrost"]),
            ("compressor", 2, &["current", "runtime hours", "state"]),
            ("condenser", 1, &["pressure", "speed"]),
        ],
    },
    PlantKind {
        name: "dye_house",
        area: "DH1",
        units: &[
            ("jet", 3, &["temperature", "ph", "level", "mode"]),
            ("tank", 2, &["level", "temperature"]),
            ("dryer", 1, &["moisture", "state"]),
        ],
    },
    PlantKind {
        name: "sugar_mill",
        area: "SM1",
        units: &[
            ("conveyor", 1, &["feed rate", "speed"]),
            ("mill", 4, &["current", "state"]),
            ("evaporator", 2, &["brix", "level"]),
            ("centrifugal", 2, &["speed", "current"]),
        ],
    },
];
