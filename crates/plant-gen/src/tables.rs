//! What generated plants are made of: measurements, equipment and the
//! twelve kinds of plant. Written from how plants name things, not from the
//! assistant's word lists (which this crate does not use), so that the
//! evaluation finds what the matcher misses.

/// One kind of measurement and every way it is written.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    /// Key, and the English name in questions.
    pub key: &'static str,
    /// CamelCase name part.
    pub camel: &'static str,
    /// PLC-style abbreviation.
    pub plc: &'static str,
    /// German name in tag names and questions.
    pub german: &'static str,
    /// Spanish and French names in questions.
    pub spanish: &'static str,
    pub french: &'static str,
    /// Unit (EngineeringUnits), and its tag-name suffix.
    pub unit: Option<&'static str>,
    pub suffix: Option<&'static str>,
    /// ISA-5.1 letters of its transmitter.
    pub isa: &'static str,
    /// Normal range of values, and decimals shown.
    pub range: (f64, f64),
    pub decimals: i32,
    /// A high alarm limit, when the plant configures one.
    pub high_limit: Option<f64>,
    /// Text values instead of numbers (states).
    pub states: &'static [&'static str],
}

/// A numeric measurement; `names` are key, CamelCase, PLC, German, Spanish, French.
pub(crate) const fn measure(
    names: [&'static str; 6],
    unit: Option<&'static str>,
    suffix: Option<&'static str>,
    isa: &'static str,
    range: (f64, f64),
    decimals: i32,
    high_limit: Option<f64>,
) -> Measure {
    let [key, camel, plc, german, spanish, french] = names;
    Measure { key, camel, plc, german, spanish, french, unit, suffix, isa, range, decimals, high_limit, states: &[] }
}

/// Every measurement a generated plant may have.
pub const MEASURES: &[Measure] = &[
    measure(
        ["temperature", "Temperature", "Tmp", "Temperatur", "temperatura", "température"],
        Some("°C"),
        Some("degC"),
        "TT",
        (20.0, 95.0),
        1,
        Some(90.0),
    ),
    measure(
        ["pressure", "Pressure", "Prs", "Druck", "presión", "pression"],
        Some("bar"),
        Some("bar"),
        "PT",
        (1.0, 12.0),
        2,
        Some(10.0),
    ),
    measure(
        ["flow", "Flow", "Flw", "Durchfluss", "caudal", "débit"],
        Some("m³/h"),
        Some("m3h"),
        "FT",
        (5.0, 120.0),
        1,
        None,
    ),
    measure(
        ["level", "Level", "Lvl", "Fuellstand", "nivel", "niveau"],
        Some("%"),
        Some("pct"),
        "LT",
        (10.0, 95.0),
        1,
        Some(92.0),
    ),
    measure(
        ["speed", "Speed", "Spd", "Drehzahl", "velocidad", "vitesse"],
        Some("rpm"),
        Some("rpm"),
        "ST",
        (300.0, 3000.0),
        0,
        None,
    ),
    measure(
        ["power", "Power", "Pwr", "Leistung", "potencia", "puissance"],
        Some("kW"),
        Some("kW"),
        "JT",
        (2.0, 90.0),
        1,
        None,
    ),
    measure(
        ["current", "MotorCurrent", "Amps", "Strom", "corriente", "courant"],
        Some("A"),
        Some("A"),
        "IT",
        (3.0, 60.0),
        1,
        Some(55.0),
    ),
    measure(
        ["vibration", "Vibration", "Vib", "Schwingung", "vibración", "vibration"],
        Some("mm/s"),
        Some("mms"),
        "VT",
        (0.5, 7.0),
        2,
        Some(6.0),
    ),
    measure(
        ["weight", "Weight", "Wgt", "Gewicht", "peso", "poids"],
        Some("kg"),
        Some("kg"),
        "WT",
        (50.0, 900.0),
        1,
        None,
    ),
    measure(
        ["humidity", "Humidity", "Hum", "Feuchte", "humedad", "humidité"],
        Some("%RH"),
        Some("rh"),
        "MT",
        (30.0, 70.0),
        1,
        Some(65.0),
    ),
    measure(["ph", "PH", "pH", "pH", "pH", "pH"], Some("pH"), None, "AT", (6.0, 8.5), 2, None),
    measure(
        ["position", "Position", "Pos", "Position", "posición", "position"],
        Some("mm"),
        Some("mm"),
        "ZT",
        (0.0, 800.0),
        2,
        None,
    ),
    Measure {
        key: "count",
        camel: "Count",
        plc: "Cnt",
        german: "Zaehler",
        spanish: "contador",
        french: "compteur",
        unit: None,
        suffix: None,
        isa: "KQ",
        range: (100.0, 20000.0),
        decimals: 0,
        high_limit: None,
        states: &[],
    },
    Measure {
        key: "state",
        camel: "State",
        plc: "Sts",
        german: "Zustand",
        spanish: "estado",
        french: "état",
        unit: None,
        suffix: None,
        isa: "HS",
        range: (0.0, 0.0),
        decimals: 0,
        high_limit: None,
        states: &["RUNNING", "STOPPED", "IDLE", "FAULT"],
    },
];

/// The measurement called `key`.
pub fn measure_by_key(key: &str) -> Option<&'static Measure> {
    MEASURES
        .iter()
        .chain(crate::tables_second::SECOND_MEASURES)
        .chain(crate::tables_third::THIRD_MEASURES)
        .chain(crate::tables_fourth::FOURTH_MEASURES)
        .chain(crate::tables_fifth::FIFTH_MEASURES)
        .chain(crate::tables_held_out_second::SECOND_HELD_OUT_MEASURES)
        .find(|m| m.key == key)
}

/// One kind of equipment and every way it is written.
#[derive(Debug, Clone, Copy)]
pub struct Equipment {
    /// Key, and the English name in questions.
    pub key: &'static str,
    pub camel: &'static str,
    /// PLC-style abbreviation (`P` for a pump).
    pub plc: &'static str,
    pub german: &'static str,
    pub spanish: &'static str,
    pub french: &'static str,
}

pub(crate) const fn equipment(
    key: &'static str,
    camel: &'static str,
    plc: &'static str,
    german: &'static str,
    spanish: &'static str,
    french: &'static str,
) -> Equipment {
    Equipment { key, camel, plc, german, spanish, french }
}

pub const EQUIPMENT: &[Equipment] = &[
    equipment("filler", "Filler", "FIL", "Fueller", "llenadora", "remplisseuse"),
    equipment("conveyor", "Conveyor", "CV", "Foerderband", "cinta", "convoyeur"),
    equipment("labeler", "Labeler", "LAB", "Etikettierer", "etiquetadora", "étiqueteuse"),
    equipment("tank", "Tank", "TK", "Tank", "tanque", "cuve"),
    equipment("palletizer", "Palletizer", "PAL", "Palettierer", "paletizadora", "palettiseur"),
    equipment("sealer", "Sealer", "SLR", "Siegelstation", "selladora", "scelleuse"),
    equipment("compressor", "Compressor", "CMP", "Kompressor", "compresor", "compresseur"),
    equipment("dryer", "Dryer", "DRY", "Trockner", "secador", "sécheur"),
    equipment("fan", "Fan", "FAN", "Luefter", "ventilador", "ventilateur"),
    equipment("chiller", "Chiller", "CHL", "Kaeltemaschine", "enfriadora", "refroidisseur"),
    equipment("zone", "Zone", "ZN", "Zone", "zona", "zone"),
    equipment("pump", "Pump", "P", "Pumpe", "bomba", "pompe"),
    equipment("filter", "Filter", "FLT", "Filter", "filtro", "filtre"),
    equipment("mould", "Mould", "MLD", "Werkzeug", "molde", "moule"),
    equipment("barrel", "Barrel", "BRL", "Zylinder", "cilindro", "fourreau"),
    equipment("motor", "Motor", "M", "Motor", "motor", "moteur"),
    equipment("kettle", "Kettle", "KTL", "Sudpfanne", "olla", "chaudron"),
    equipment("fermenter", "Fermenter", "FV", "Gaertank", "fermentador", "fermenteur"),
    equipment("spindle", "Spindle", "SP", "Spindel", "husillo", "broche"),
    equipment("axis", "Axis", "AX", "Achse", "eje", "axe"),
    equipment("boiler", "Boiler", "BLR", "Kessel", "caldera", "chaudière"),
    equipment("booth", "Booth", "BTH", "Kabine", "cabina", "cabine"),
    equipment("oven", "Oven", "OV", "Ofen", "horno", "four"),
    equipment("reactor", "Reactor", "R", "Reaktor", "reactor", "réacteur"),
    equipment("mixer", "Mixer", "MX", "Mischer", "mezclador", "mélangeur"),
];

/// The equipment called `key`.
pub fn equipment_by_key(key: &str) -> Option<&'static Equipment> {
    EQUIPMENT
        .iter()
        .chain(crate::tables_second::SECOND_EQUIPMENT)
        .chain(crate::tables_third::THIRD_EQUIPMENT)
        .chain(crate::tables_fourth::FOURTH_EQUIPMENT)
        .chain(crate::tables_fifth::FIFTH_EQUIPMENT)
        .chain(crate::tables_held_out_second::SECOND_HELD_OUT_EQUIPMENT)
        .find(|e| e.key == key)
}

/// A kind of plant: its equipment, how many of each, what each measures.
#[derive(Debug, Clone, Copy)]
pub struct PlantKind {
    pub name: &'static str,
    /// Area name in hierarchical tag names.
    pub area: &'static str,
    pub units: &'static [(&'static str, u32, &'static [&'static str])],
}

/// The twelve kinds. The first six are the development plants; the last
/// six are held out (see [`crate::Split`]).
pub const KINDS: &[PlantKind] = &[
    PlantKind {
        name: "bottling",
        area: "Line1",
        units: &[
            ("filler", 1, &["speed", "count", "state"]),
            ("conveyor", 2, &["speed", "state"]),
            ("labeler", 1, &["count", "state"]),
            ("tank", 1, &["level", "temperature"]),
        ],
    },
    PlantKind {
        name: "packaging",
        area: "Pack2",
        units: &[
            ("conveyor", 3, &["speed", "state"]),
            ("palletizer", 1, &["count", "state"]),
            ("sealer", 2, &["temperature", "count"]),
        ],
    },
    PlantKind {
        name: "compressors",
        area: "Utilities",
        units: &[
            ("compressor", 3, &["pressure", "temperature", "current", "state"]),
            ("dryer", 1, &["temperature", "pressure"]),
        ],
    },
    PlantKind {
        name: "hvac",
        area: "Building3",
        units: &[
            ("fan", 2, &["speed", "current"]),
            ("chiller", 1, &["temperature", "power"]),
            ("zone", 3, &["temperature", "humidity"]),
        ],
    },
    PlantKind {
        name: "water_treatment",
        area: "WTP",
        units: &[
            ("pump", 3, &["flow", "pressure", "state"]),
            ("tank", 2, &["level", "ph"]),
            ("filter", 2, &["pressure"]),
        ],
    },
    PlantKind {
        name: "injection_moulding",
        area: "Moulding",
        units: &[
            ("mould", 2, &["temperature"]),
            ("barrel", 2, &["temperature", "pressure"]),
            ("motor", 2, &["speed", "current"]),
        ],
    },
    PlantKind {
        name: "brewing",
        area: "Brewhouse",
        units: &[
            ("kettle", 1, &["temperature", "level"]),
            ("fermenter", 3, &["temperature", "pressure"]),
            ("pump", 2, &["flow", "state"]),
        ],
    },
    PlantKind {
        name: "cnc",
        area: "Machining",
        units: &[
            ("spindle", 2, &["speed", "temperature", "vibration"]),
            ("axis", 3, &["position"]),
            ("tank", 1, &["level"]),
        ],
    },
    PlantKind {
        name: "conveyors",
        area: "Logistics",
        units: &[("conveyor", 4, &["speed", "current", "state"]), ("motor", 2, &["temperature", "vibration"])],
    },
    PlantKind {
        name: "boilers",
        area: "Steam",
        units: &[("boiler", 2, &["pressure", "temperature", "level", "state"]), ("pump", 1, &["flow", "current"])],
    },
    PlantKind {
        name: "paint_shop",
        area: "Paint",
        units: &[
            ("booth", 2, &["temperature", "humidity"]),
            ("oven", 1, &["temperature"]),
            ("fan", 2, &["speed", "power"]),
        ],
    },
    PlantKind {
        name: "pharma_batch",
        area: "Suite4",
        units: &[
            ("reactor", 2, &["temperature", "pressure", "ph"]),
            ("mixer", 1, &["speed", "power"]),
            ("tank", 1, &["weight", "level"]),
        ],
    },
];
