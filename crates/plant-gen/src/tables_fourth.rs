//! A fourth, independent set of development plants: new measurements, new
//! equipment and six more kinds of plant. Written on 2026-12-07 by a separate
//! writer, without reading the held-out tables or the assistant's word lists
//! (the names already taken, held-out ones among them, were listed to it only
//! to be avoided), from how real plants and their operators name things, as
//! a fourth development set.

use super::tables::{equipment, measure, Equipment, Measure, PlantKind};

/// Measurements of the fourth set, none of them in [`super::tables::MEASURES`],
/// [`super::tables_second::SECOND_MEASURES`] or
/// [`super::tables_third::THIRD_MEASURES`].
pub const FOURTH_MEASURES: &[Measure] = &[
    // A cone crusher's closed side setting: what the crew calls "the gap".
    measure(
        ["gap", "CSS", "CSS", "Spaltweite", "abertura de descarga", "réglage côté fermé"],
        Some("mm"),
        Some("mm"),
        "ZT",
        (18.0, 42.0),
        1,
        Some(38.0),
    ),
    // Oxidation-reduction potential of an aeration basin: negative in the
    // anoxic zones, an alarm when a denitrification zone gets oxygen.
    measure(
        ["redox", "ORP", "ORP", "Redoxpotential", "potencial redox", "potentiel redox"],
        Some("mV"),
        Some("mV"),
        "AT",
        (-220.0, 80.0),
        0,
        Some(50.0),
    ),
    // The aeration's controlled variable, from an optical DO probe.
    measure(
        ["dissolved oxygen", "DO", "DO", "O2Konzentration", "oxígeno disuelto", "oxygène dissous"],
        Some("mg/l"),
        Some("mgl"),
        "AT",
        (0.2, 3.2),
        2,
        None,
    ),
    // Iron at the cupola spout and in the pouring ladles, by dip thermocouple.
    measure(
        ["melt temperature", "MeltTemp", "TMlt", "Schmelzetemperatur", "temperatura del baño", "température du bain"],
        Some("°C"),
        Some("degC"),
        "TT",
        (1390.0, 1520.0),
        0,
        Some(1500.0),
    ),
    // Green sand from the muller, measured by the inline sand tester.
    measure(
        ["compactability", "Compactability", "VB", "Verdichtbarkeit", "compactabilidad", "compactabilité"],
        Some("%"),
        Some("pct"),
        "AT",
        (33.0, 47.0),
        1,
        Some(45.0),
    ),
    // Cold-aisle air at the rack inlets, against the ASHRAE 27 °C.
    measure(
        ["inlet temperature", "InletTemp", "TIn", "Zulufttemperatur", "temperatura de entrada", "température d'entrée"],
        Some("°C"),
        Some("degC"),
        "TT",
        (19.0, 27.5),
        1,
        Some(27.0),
    ),
    // Birds per minute on the shackle line.
    measure(
        ["line speed", "LineSpeed", "LSpd", "Bandgeschwindigkeit", "velocidad de línea", "cadence de ligne"],
        Some("bpm"),
        Some("bpm"),
        "ST",
        (120.0, 170.0),
        0,
        Some(165.0),
    ),
    // Carcass core temperature after the chiller, from a probe that reads to
    // hundredths; 4 °C is the food-safety line.
    measure(
        ["core temperature", "CoreTemp", "TCor", "Kerntemperatur", "temperatura interna", "température à cœur"],
        Some("°C"),
        Some("degC"),
        "TT",
        (1.5, 7.0),
        2,
        Some(4.0),
    ),
    // A chiller plant with a waterside economiser.
    Measure {
        key: "cooling mode",
        camel: "CoolingMode",
        plc: "CMod",
        german: "Kuehlmodus",
        spanish: "modo de enfriamiento",
        french: "mode de refroidissement",
        unit: None,
        suffix: None,
        isa: "YS",
        range: (0.0, 0.0),
        decimals: 0,
        high_limit: None,
        states: &["MECHANICAL", "PARTIAL_FREE_COOLING", "FREE_COOLING"],
    },
];

/// Equipment of the fourth set, none of it in [`super::tables::EQUIPMENT`],
/// [`super::tables_second::SECOND_EQUIPMENT`] or
/// [`super::tables_third::THIRD_EQUIPMENT`].
pub const FOURTH_EQUIPMENT: &[Equipment] = &[
    equipment("hoist", "Hoist", "FM", "Foerdermaschine", "máquina de extracción", "machine d'extraction"),
    equipment("crusher", "ConeCrusher", "CRSH", "Brecher", "trituradora", "concasseur"),
    equipment("basin", "AerationBasin", "BB", "Belebungsbecken", "balsa de aireación", "bassin d'aération"),
    equipment("blower", "Blower", "BLW", "Geblaese", "soplante", "surpresseur"),
    equipment("cupola", "Cupola", "KUP", "Kupolofen", "cubilote", "cubilot"),
    equipment("ladle", "Ladle", "LDL", "Giesspfanne", "cuchara", "poche de coulée"),
    equipment("muller", "SandMuller", "MLR", "Sandmischer", "mezcladora de arena", "malaxeur à sable"),
    equipment("line", "KillLine", "KL", "Schlachtband", "línea de sacrificio", "chaîne d'abattage"),
    equipment("scalder", "Scalder", "SCLD", "Bruehkessel", "escaldadora", "échaudoir"),
    equipment("plucker", "Picker", "PKR", "Rupfmaschine", "desplumadora", "plumeuse"),
    equipment("crah", "CRAH", "CRAH", "Umluftkuehlgeraet", "climatizadora", "armoire de climatisation"),
    equipment("hall", "DataHall", "DH", "Datenhalle", "sala IT", "salle IT"),
    equipment("drum", "DryerDrum", "DRM", "Trockentrommel", "tambor secador", "tambour sécheur"),
    equipment("baghouse", "Baghouse", "BH", "Schlauchfilter", "filtro de mangas", "filtre à manches"),
];

/// Six more development kinds of plant, built from all four sets of tables.
pub const FOURTH_KINDS: &[PlantKind] = &[
    PlantKind {
        name: "mine_hoist",
        area: "Shaft2",
        units: &[
            ("hoist", 1, &["speed", "weight", "current", "state"]),
            ("crusher", 2, &["gap", "current", "state"]),
            ("conveyor", 2, &["speed", "feed rate"]),
        ],
    },
    PlantKind {
        name: "wastewater_aeration",
        area: "Bio2",
        units: &[
            ("basin", 4, &["dissolved oxygen", "redox"]),
            ("blower", 2, &["speed", "current", "runtime hours"]),
            ("pump", 2, &["flow", "state"]),
        ],
    },
    PlantKind {
        name: "foundry",
        area: "Melt1",
        units: &[
            ("cupola", 1, &["melt temperature", "flow"]),
            ("ladle", 2, &["melt temperature", "weight"]),
            ("muller", 2, &["compactability", "temperature", "current"]),
            ("fan", 1, &["speed", "current"]),
        ],
    },
    PlantKind {
        name: "poultry",
        area: "KillFloor",
        units: &[
            ("line", 1, &["line speed", "count", "state"]),
            ("scalder", 2, &["temperature", "level"]),
            ("plucker", 2, &["current", "state"]),
            ("chiller", 1, &["temperature", "core temperature"]),
        ],
    },
    PlantKind {
        name: "data_centre",
        area: "DC2",
        units: &[
            ("hall", 2, &["inlet temperature", "humidity"]),
            ("crah", 3, &["speed", "state"]),
            ("chiller", 2, &["temperature", "power", "cooling mode"]),
            ("pump", 2, &["speed"]),
        ],
    },
    PlantKind {
        name: "asphalt_plant",
        area: "AMP1",
        units: &[
            ("feeder", 4, &["feed rate"]),
            ("drum", 1, &["temperature", "gas flow", "state"]),
            ("baghouse", 1, &["differential pressure", "temperature"]),
            ("tank", 2, &["temperature", "level"]),
        ],
    },
];
