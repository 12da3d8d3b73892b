//! A fifth, independent set of development plants: new measurements, new
//! equipment and six more kinds of plant. Written on 2026-12-07 by a separate
//! writer, without reading the held-out tables or the assistant's word lists
//! (the names already taken, held-out ones among them, were listed to it only
//! to be avoided), from how real plants and their operators name things, as
//! a fifth development set.

use super::tables::{equipment, measure, Equipment, Measure, PlantKind};

/// Measurements of the fifth set, none of them in [`super::tables::MEASURES`],
/// [`super::tables_second::SECOND_MEASURES`],
/// [`super::tables_third::THIRD_MEASURES`] or
/// [`super::tables_fourth::FOURTH_MEASURES`].
pub const FIFTH_MEASURES: &[Measure] = &[
    // Head-pulley bearing of a bucket elevator, by a bolt-on RTD of the
    // hazard monitoring system: a hot bearing in grain dust starts fires.
    measure(
        [
            "bearing temperature",
            "BearingTemp",
            "TLg",
            "Lagertemperatur",
            "temperatura del rodamiento",
            "température palier",
        ],
        Some("°C"),
        Some("degC"),
        "TT",
        (25.0, 70.0),
        1,
        Some(60.0),
    ),
    // Stored grain, from the temperature cables hanging in a bin: a rising
    // reading is a hot spot starting.
    measure(
        [
            "grain temperature",
            "GrainTemp",
            "TKrn",
            "Getreidetemperatur",
            "temperatura del grano",
            "température du grain",
        ],
        Some("°C"),
        Some("degC"),
        "TT",
        (8.0, 32.0),
        1,
        Some(28.0),
    ),
    // Hot air in a column grain dryer's plenum, under the burner's control.
    measure(
        [
            "plenum temperature",
            "PlenumTemp",
            "TPl",
            "Heisslufttemperatur",
            "temperatura de aire caliente",
            "température d'air chaud",
        ],
        Some("°C"),
        Some("degC"),
        "TT",
        (65.0, 95.0),
        1,
        Some(90.0),
    ),
    // Molten zinc in a hot-dip galvanising kettle, by a sheathed thermocouple
    // in the bath; above about 455 °C the kettle wall wears fast.
    measure(
        ["bath temperature", "ZincTemp", "TZn", "Badtemperatur", "temperatura del zinc", "température du bain"],
        Some("°C"),
        Some("degC"),
        "TT",
        (440.0, 462.0),
        0,
        Some(455.0),
    ),
    // How long the crane held the last load in the zinc, from its cycle timer.
    measure(
        ["dip time", "DipTime", "TchZ", "Tauchzeit", "tiempo de inmersión", "temps d'immersion"],
        Some("s"),
        Some("s"),
        "KT",
        (120.0, 420.0),
        0,
        None,
    ),
    // Hydrochloric acid left in a pickling tank, from its titration or an
    // inline conductivity-and-temperature analyser; weak acid pickles slowly.
    measure(
        ["acid concentration", "AcidConc", "HCl", "Saeuregehalt", "concentración de ácido", "concentration en acide"],
        Some("%"),
        Some("pct"),
        "AT",
        (4.0, 16.0),
        1,
        None,
    ),
    // Dissolved iron in a pickling tank: the acid is spent near 150 g/l.
    measure(
        ["iron content", "IronContent", "Fe", "Eisengehalt", "contenido de hierro", "teneur en fer"],
        Some("g/l"),
        Some("gpl"),
        "AT",
        (20.0, 150.0),
        1,
        Some(140.0),
    ),
    // Sliver mass variation (CV %) from the autoleveller's sensor on a card
    // or draw frame; what spinners call "the CV".
    measure(
        ["evenness", "SliverCV", "CV", "Ungleichmaessigkeit", "irregularidad", "irrégularité"],
        Some("%"),
        Some("pct"),
        "AT",
        (2.2, 4.4),
        2,
        Some(4.0),
    ),
    // A ring frame's spindles, from the main drive's speed; the frame runs a
    // speed curve over the doff.
    measure(
        ["spindle speed", "SpindleSpeed", "NSp", "Spindeldrehzahl", "velocidad de husos", "vitesse des broches"],
        Some("rpm"),
        Some("rpm"),
        "ST",
        (14000.0, 19500.0),
        0,
        Some(19000.0),
    ),
    // Yarn breaks on one ring frame in the last hour, from the travelling
    // spindle monitor as a rolling rate; the crew's "ends down".
    measure(
        ["end breaks", "EndsDown", "FB", "Fadenbrueche", "roturas de hilo", "casses de fil"],
        Some("1/h"),
        Some("ph"),
        "QT",
        (15.0, 80.0),
        1,
        Some(60.0),
    ),
    // Water leaving a heating plant for the network (UK "flow", German
    // "Vorlauf"), on a boiler's outlet or a heat exchanger's secondary side.
    measure(
        ["flow temperature", "FlowTemp", "TVL", "Vorlauftemperatur", "temperatura de impulsión", "température départ"],
        Some("°C"),
        Some("degC"),
        "TT",
        (75.0, 120.0),
        1,
        Some(115.0),
    ),
    // Water coming back from the network; a high return wastes the
    // condensing economiser and the pumps' power.
    measure(
        [
            "return temperature",
            "ReturnTemp",
            "TRL",
            "Ruecklauftemperatur",
            "temperatura de retorno",
            "température retour",
        ],
        Some("°C"),
        Some("degC"),
        "TT",
        (40.0, 65.0),
        1,
        Some(60.0),
    ),
    // How full of heat the storage tank is, computed from the string of
    // thermometers down its height.
    measure(
        ["state of charge", "StorageCharge", "SOC", "Ladezustand", "carga del depósito", "état de charge"],
        Some("%"),
        Some("pct"),
        "UT",
        (10.0, 95.0),
        1,
        None,
    ),
    // Steam platens of a tyre curing press, top and bottom averaged.
    measure(
        [
            "platen temperature",
            "PlatenTemp",
            "THP",
            "Heizplattentemperatur",
            "temperatura de platos",
            "température des plateaux",
        ],
        Some("°C"),
        Some("degC"),
        "TT",
        (165.0, 185.0),
        1,
        Some(182.0),
    ),
    // Steam or nitrogen inside the curing bladder during the cure.
    measure(
        ["bladder pressure", "BladderPress", "PBlg", "Balgdruck", "presión de vejiga", "pression vessie"],
        Some("bar"),
        Some("bar"),
        "PT",
        (12.0, 26.0),
        1,
        Some(24.0),
    ),
    // Lignin left in the pulp after the cook, from the blow-line analyser;
    // a dimensionless number, so the DCS shows no unit.
    measure(
        ["kappa number", "Kappa", "Kap", "Kappazahl", "número kappa", "indice kappa"],
        None,
        None,
        "AT",
        (24.0, 34.0),
        1,
        Some(32.0),
    ),
    // Effective alkali left in a kraft digester's liquor, by the cooking
    // liquor analyser.
    measure(
        ["residual alkali", "ResidualAlkali", "RA", "Restalkali", "álcali residual", "alcali résiduel"],
        Some("g/l"),
        Some("gpl"),
        "AT",
        (6.0, 14.0),
        1,
        None,
    ),
    // Pulp in water leaving the blow tank, by a rotating consistency
    // transmitter (tagged N on most pulp mills' P&IDs).
    measure(
        ["consistency", "Consistency", "SD", "Stoffdichte", "consistencia", "consistance"],
        Some("%"),
        Some("pct"),
        "NT",
        (8.0, 12.5),
        1,
        Some(12.0),
    ),
    // The step a curing press's sequence is in.
    Measure {
        key: "cure phase",
        camel: "CurePhase",
        plc: "Schr",
        german: "Heizschritt",
        spanish: "fase de vulcanizado",
        french: "phase de cuisson",
        unit: None,
        suffix: None,
        isa: "YS",
        range: (0.0, 0.0),
        decimals: 0,
        high_limit: None,
        states: &["LOADING", "SHAPING", "STEAM", "NITROGEN", "EXHAUST", "OPENING"],
    },
];

/// Equipment of the fifth set, none of it in [`super::tables::EQUIPMENT`],
/// [`super::tables_second::SECOND_EQUIPMENT`],
/// [`super::tables_third::THIRD_EQUIPMENT`] or
/// [`super::tables_fourth::FOURTH_EQUIPMENT`].
pub const FIFTH_EQUIPMENT: &[Equipment] = &[
    // A bucket elevator, "the leg" to the people who run a grain elevator.
    equipment("leg", "BucketElevator", "BE", "Becherwerk", "elevador de cangilones", "élévateur à godets"),
    // A storage bin (one cell of a silo battery).
    equipment("bin", "Bin", "ZL", "Silozelle", "celda de silo", "cellule de stockage"),
    // An en-masse chain conveyor under the bins; "Redler" after its maker.
    equipment("drag", "DragConveyor", "DRG", "Trogkettenfoerderer", "transportador de cadena", "redler"),
    // The kettle of molten zinc a galvaniser dips into.
    equipment("bath", "ZincKettle", "ZK", "Zinkkessel", "cuba de zinc", "cuve de zinc"),
    // The overhead crane that carries jigs through the pretreatment and the zinc.
    equipment("crane", "Crane", "KR", "Kran", "puente grúa", "pont roulant"),
    // A packed-bed scrubber on the pickling hall's fume extraction.
    equipment("scrubber", "FumeScrubber", "WSC", "Abgaswaescher", "lavador de gases", "laveur de fumées"),
    // A carding machine, opening cotton into sliver.
    equipment("card", "Card", "KD", "Karde", "carda", "carde"),
    // A draw frame, doubling and drafting sliver.
    equipment("drawframe", "DrawFrame", "STR", "Strecke", "manuar", "étireuse"),
    // A ring spinning frame of some twelve hundred spindles.
    equipment("ringframe", "RingFrame", "RSM", "Ringspinnmaschine", "continua de anillos", "continu à filer"),
    // An automatic cone winder.
    equipment("winder", "Winder", "SPUL", "Spulmaschine", "bobinadora", "bobinoir"),
    // A district-heating plant's hot-water storage tank.
    equipment("accumulator", "HeatStorage", "WSP", "Waermespeicher", "depósito de inercia", "ballon tampon"),
    // A plate heat exchanger between the plant's and the network's water.
    equipment("exchanger", "HeatExchanger", "WT", "Waermetauscher", "intercambiador", "échangeur"),
    // The steam header that feeds a row of curing presses.
    equipment("header", "SteamHeader", "DV", "Dampfverteiler", "colector de vapor", "collecteur vapeur"),
    // A batch kraft digester.
    equipment("digester", "Digester", "KCH", "Kocher", "digestor", "lessiveur"),
    // The tank a digester blows its cooked chips into.
    equipment("blowtank", "BlowTank", "BT", "Ausblasetank", "tanque de soplado", "cuvier de soufflage"),
    // The chip bin ahead of the digesters, with steaming.
    equipment("chipbin", "ChipBin", "HSB", "Hackschnitzelbunker", "silo de astillas", "silo à copeaux"),
    // A rotary vacuum drum washer on the brown stock.
    equipment("washer", "BrownStockWasher", "BSW", "Trommelwaescher", "lavador de pasta", "laveur de pâte"),
];

/// Six more development kinds of plant, built from all five sets of tables.
pub const FIFTH_KINDS: &[PlantKind] = &[
    PlantKind {
        name: "grain_elevator",
        area: "Elev1",
        units: &[
            ("leg", 2, &["speed", "bearing temperature", "current"]),
            ("bin", 4, &["grain temperature", "level"]),
            ("dryer", 1, &["moisture", "plenum temperature", "state"]),
            ("drag", 2, &["current", "state"]),
        ],
    },
    PlantKind {
        name: "galvanising_line",
        area: "Galv1",
        units: &[
            ("tank", 3, &["acid concentration", "iron content", "temperature"]),
            ("bath", 1, &["bath temperature", "level"]),
            ("crane", 2, &["weight", "dip time", "state"]),
            ("scrubber", 1, &["differential pressure", "ph"]),
        ],
    },
    PlantKind {
        name: "spinning_mill",
        area: "Spin2",
        units: &[
            ("card", 4, &["evenness", "speed", "current"]),
            ("drawframe", 2, &["evenness", "speed", "state"]),
            ("ringframe", 3, &["spindle speed", "end breaks"]),
            ("winder", 2, &["speed", "count", "state"]),
        ],
    },
    PlantKind {
        name: "district_heating",
        area: "HW1",
        units: &[
            ("boiler", 2, &["flow temperature", "return temperature", "power"]),
            ("accumulator", 1, &["state of charge", "temperature"]),
            ("exchanger", 2, &["flow temperature", "return temperature"]),
            ("pump", 3, &["differential pressure", "speed", "state"]),
        ],
    },
    PlantKind {
        name: "tyre_curing",
        area: "Curing",
        units: &[
            ("press", 4, &["platen temperature", "bladder pressure", "cure phase"]),
            ("header", 1, &["pressure", "temperature"]),
            ("conveyor", 2, &["speed", "count"]),
        ],
    },
    PlantKind {
        name: "pulp_digester",
        area: "FL1",
        units: &[
            ("chipbin", 1, &["level", "temperature"]),
            ("digester", 3, &["temperature", "pressure", "residual alkali"]),
            ("blowtank", 1, &["level", "consistency", "kappa number"]),
            ("washer", 2, &["speed", "conductivity"]),
        ],
    },
];
