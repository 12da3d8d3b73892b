//! A second held-out split: new measurements, new equipment and six kinds of
//! plant. Written on 2026-12-07 by a separate writer who read neither the
//! assistant's word lists nor the matcher nor any earlier held-out or
//! development tables, only the fifth set's format (the names already taken
//! were listed to it only to be avoided), from how real plants and their
//! operators name things, as a second held-out split ([`crate::Split::SecondHeldOut`]).

use super::tables::{equipment, measure, Equipment, Measure, PlantKind};

/// Measurements of the second held-out split, none of them in an earlier
/// table.
pub const SECOND_HELD_OUT_MEASURES: &[Measure] = &[
    // Beans in a drum roaster, by the thermocouple in the bean mass; what the
    // roast profile is drawn against ("BT" in roasting software).
    measure(
        ["bean temperature", "BeanTemp", "BT", "Bohnentemperatur", "temperatura del grano", "température des grains"],
        Some("°C"),
        Some("degC"),
        "TT",
        (95.0, 225.0),
        1,
        Some(232.0),
    ),
    // How fast the bean temperature climbs, computed over the last 30 s;
    // roasters call it "RoR" and steer the gas by it.
    measure(
        ["rate of rise", "RateOfRise", "RoR", "Anstiegsrate", "tasa de incremento", "taux de montée"],
        Some("°C/min"),
        Some("degCmin"),
        "TY",
        (3.0, 16.0),
        1,
        None,
    ),
    // Particle size of ground coffee leaving a roll grinder, by an inline
    // laser-diffraction analyser (median, x50).
    measure(
        ["grind size", "GrindSize", "Mahlgr", "Mahlgrad", "grado de molienda", "finesse de mouture"],
        Some("µm"),
        Some("um"),
        "AT",
        (300.0, 800.0),
        0,
        None,
    ),
    // Average voltage per element of a bipolar membrane electrolyser; a
    // rising voltage is a fouled membrane or a bad gasket.
    measure(
        ["cell voltage", "CellVoltage", "UZ", "Zellspannung", "tensión de celda", "tension de cellule"],
        Some("V"),
        Some("V"),
        "ET",
        (2.85, 3.2),
        2,
        Some(3.15),
    ),
    // Caustic soda leaving the cathode side, from the density analyser on
    // the catholyte outlet.
    measure(
        [
            "caustic strength",
            "CausticConc",
            "NaOH",
            "Laugenkonzentration",
            "concentración de sosa",
            "concentration en soude",
        ],
        Some("%"),
        Some("pct"),
        "AT",
        (30.5, 33.0),
        1,
        Some(32.7),
    ),
    // The direct current a rectifier drives through its electrolyser, by a
    // DC current transducer on the busbar: the cell room's "load".
    measure(
        ["dc current", "DcCurrent", "IDC", "Elektrolysestrom", "corriente continua", "courant continu"],
        Some("kA"),
        Some("kA"),
        "IT",
        (10.0, 16.0),
        2,
        Some(15.5),
    ),
    // Salt in the saturated brine leaving the saturator; weak brine ruins
    // membranes, so the alarm is a low one and the DCS configures no high.
    measure(
        [
            "brine concentration",
            "BrineConc",
            "NaCl",
            "Solekonzentration",
            "concentración de salmuera",
            "concentration de saumure",
        ],
        Some("g/l"),
        Some("gpl"),
        "AT",
        (295.0, 310.0),
        1,
        None,
    ),
    // Oil film pressure in a ball mill's hydrostatic trunnion bearings; the
    // grinding operator's measure of how full the mill is ("presión de
    // descansos" on Chilean concentrators).
    measure(
        ["bearing pressure", "BearingPress", "PLg", "Lagerdruck", "presión de descansos", "pression palier"],
        Some("bar"),
        Some("bar"),
        "PT",
        (40.0, 70.0),
        1,
        Some(65.0),
    ),
    // Slurry pressure at a hydrocyclone cluster's feed manifold.
    measure(
        ["feed pressure", "FeedPress", "PAuf", "Aufgabedruck", "presión de alimentación", "pression d'alimentation"],
        Some("kPa"),
        Some("kPa"),
        "PT",
        (70.0, 140.0),
        0,
        Some(130.0),
    ),
    // Slurry density by a nuclear gauge on a pipe: cyclone feed, or a
    // thickener's underflow.
    measure(
        ["slurry density", "SlurryDensity", "Dens", "Truebedichte", "densidad de pulpa", "densité de pulpe"],
        Some("t/m³"),
        Some("tm3"),
        "DT",
        (1.3, 1.75),
        2,
        Some(1.7),
    ),
    // Grind of the cyclone overflow from the particle-size analyser: the
    // size 80 % of the ore passes, which everyone calls "the P80".
    measure(
        ["particle size", "P80", "P80", "Korngroesse", "tamaño de partícula", "granulométrie"],
        Some("µm"),
        Some("um"),
        "AT",
        (90.0, 180.0),
        0,
        Some(160.0),
    ),
    // Depth of the froth on a flotation cell, from a float and target
    // ultrasonic level; deeper froth cleans more and recovers less.
    measure(
        ["froth depth", "FrothDepth", "Froth", "Schaumhoehe", "altura de espuma", "épaisseur de mousse"],
        Some("mm"),
        Some("mm"),
        "LT",
        (80.0, 350.0),
        0,
        None,
    ),
    // Low-pressure air blown into a flotation cell, by its thermal flowmeter.
    measure(
        ["air rate", "AirRate", "AirQ", "Luftmenge", "caudal de aire", "débit d'air"],
        Some("m³/h"),
        Some("m3h"),
        "FT",
        (300.0, 1500.0),
        0,
        None,
    ),
    // DC input of a central inverter, at its maximum power point; a 1500 V
    // system must never reach 1500 V.
    measure(
        ["dc voltage", "DcVoltage", "UDC", "Gleichspannung", "tensión CC", "tension DC"],
        Some("V"),
        Some("V"),
        "ET",
        (850.0, 1350.0),
        0,
        Some(1450.0),
    ),
    // A single-axis tracker's table angle from its inclinometer: negative
    // facing east in the morning, positive facing west.
    measure(
        ["tilt angle", "TiltAngle", "Ang", "Neigungswinkel", "ángulo de inclinación", "angle d'inclinaison"],
        Some("°"),
        Some("deg"),
        "ZT",
        (-55.0, 55.0),
        1,
        None,
    ),
    // Global horizontal irradiance from the weather station's pyranometer.
    measure(
        ["irradiance", "Irradiance", "GHI", "Einstrahlung", "irradiancia", "éclairement"],
        Some("W/m²"),
        Some("Wm2"),
        "RT",
        (80.0, 1050.0),
        0,
        None,
    ),
    // A reference module's back-sheet temperature, by a stuck-on PT1000.
    measure(
        ["module temperature", "ModuleTemp", "TMod", "Modultemperatur", "temperatura de módulo", "température module"],
        Some("°C"),
        Some("degC"),
        "TT",
        (10.0, 65.0),
        1,
        Some(60.0),
    ),
    // Wind at the weather station's mast; above the limit the trackers go
    // flat to stow.
    measure(
        ["wind speed", "WindSpeed", "WndSpd", "Windgeschwindigkeit", "velocidad del viento", "vitesse du vent"],
        Some("m/s"),
        Some("mps"),
        "ST",
        (0.5, 16.0),
        1,
        Some(14.0),
    ),
    // Top oil of a step-up transformer, by the thermometer pocket in its lid.
    measure(
        ["oil temperature", "OilTemp", "TOel", "Oeltemperatur", "temperatura del aceite", "température d'huile"],
        Some("°C"),
        Some("degC"),
        "TT",
        (30.0, 90.0),
        1,
        Some(85.0),
    ),
    // Parcels a sorter discharged in the last hour, as its controller's
    // rolling rate ("pph").
    measure(
        ["sort rate", "SortRate", "PPH", "Sortierleistung", "rendimiento de clasificación", "cadence de tri"],
        Some("1/h"),
        Some("pph"),
        "QT",
        (6000.0, 14000.0),
        0,
        None,
    ),
    // Share of parcels that went round the loop again (no read, chute full).
    measure(
        ["recirculation", "RecircRate", "Recirc", "Rezirkulation", "recirculación", "taux de recirculation"],
        Some("%"),
        Some("pct"),
        "QY",
        (0.5, 8.0),
        1,
        Some(5.0),
    ),
    // Share of parcels whose barcode a scan tunnel read, over the last hour;
    // a falling read rate is a dirty window or a bad label batch.
    measure(
        ["read rate", "ReadRate", "RdRt", "Lesequote", "tasa de lectura", "taux de lecture"],
        Some("%"),
        Some("pct"),
        "AY",
        (96.5, 99.9),
        1,
        None,
    ),
    // Pressure in an etch tool's process module, by its capacitance
    // manometer, in the milliTorr the recipes are written in.
    measure(
        ["chamber pressure", "ChamberPress", "ChP", "Kammerdruck", "presión de cámara", "pression chambre"],
        Some("mTorr"),
        Some("mTorr"),
        "PT",
        (5.0, 80.0),
        1,
        Some(75.0),
    ),
    // RF forward power the generator delivers to the chamber's match.
    measure(
        ["rf power", "RfPower", "RFFwd", "HFLeistung", "potencia RF", "puissance RF"],
        Some("W"),
        Some("W"),
        "JT",
        (300.0, 1500.0),
        0,
        None,
    ),
    // RF power coming back from a badly matched plasma.
    measure(
        ["reflected power", "ReflPower", "RFRfl", "Ruecklaufleistung", "potencia reflejada", "puissance réfléchie"],
        Some("W"),
        Some("W"),
        "JT",
        (0.0, 40.0),
        1,
        Some(25.0),
    ),
    // Ultrapure water's resistivity at the point of use, near the 18.2 of
    // water with nothing in it; alarmed low, so no high limit.
    measure(
        ["resistivity", "Resistivity", "Res", "Widerstand", "resistividad", "résistivité"],
        Some("MΩ·cm"),
        Some("MOhmcm"),
        "AT",
        (17.9, 18.2),
        2,
        None,
    ),
    // Total organic carbon in the ultrapure water, by the loop's TOC analyser.
    measure(
        ["toc", "TOC", "TOC", "TOC", "carbono orgánico total", "COT"],
        Some("ppb"),
        Some("ppb"),
        "AT",
        (0.3, 2.5),
        2,
        Some(2.0),
    ),
    // Particles of 0.5 µm and up per cubic metre, from a cleanroom bay's
    // remote counter; ISO class 5 allows 3520.
    measure(
        ["particle count", "ParticleCount", "PC05", "Partikelzahl", "recuento de partículas", "comptage particulaire"],
        Some("1/m³"),
        Some("pm3"),
        "AT",
        (50.0, 3400.0),
        0,
        Some(3520.0),
    ),
    // The step a roaster's batch is in, from its sequence.
    Measure {
        key: "roast phase",
        camel: "RoastPhase",
        plc: "RPh",
        german: "Roestphase",
        spanish: "fase de tueste",
        french: "phase de torréfaction",
        unit: None,
        suffix: None,
        isa: "YS",
        range: (0.0, 0.0),
        decimals: 0,
        high_limit: None,
        states: &["PREHEAT", "CHARGE", "DRYING", "MAILLARD", "FIRST_CRACK", "DEVELOPMENT", "DROP"],
    },
    // What a tracker row's controller is doing.
    Measure {
        key: "tracker mode",
        camel: "TrackerMode",
        plc: "TrkMd",
        german: "Nachfuehrmodus",
        spanish: "modo de seguimiento",
        french: "mode de suivi",
        unit: None,
        suffix: None,
        isa: "YS",
        range: (0.0, 0.0),
        decimals: 0,
        high_limit: None,
        states: &["TRACKING", "BACKTRACKING", "WIND_STOW", "SNOW_STOW", "NIGHT", "MANUAL"],
    },
];

/// Equipment of the second held-out split, none of it in an earlier table.
pub const SECOND_HELD_OUT_EQUIPMENT: &[Equipment] = &[
    // A batch drum roaster with its own burner.
    equipment("roaster", "Roaster", "RST", "Roester", "tostador", "torréfacteur"),
    // The stirred sieve the roast drops into to be cooled by air.
    equipment("tray", "CoolingTray", "KS", "Kuehlsieb", "bandeja de enfriamiento", "bac de refroidissement"),
    // A roll grinder for ground coffee.
    equipment("grinder", "Grinder", "GR", "Muehle", "molino", "moulin"),
    // The thermal oxidiser that burns the roasters' smoke.
    equipment("afterburner", "Afterburner", "NV", "Nachverbrennung", "postquemador", "postcombusteur"),
    // A bipolar membrane electrolyser of some hundred elements.
    equipment("electrolyser", "Electrolyser", "EL", "Elektrolyseur", "electrolizador", "électrolyseur"),
    // The transformer-rectifier that feeds one electrolyser.
    equipment("rectifier", "Rectifier", "GLR", "Gleichrichter", "rectificador", "redresseur"),
    // The vessel where depleted brine picks up salt again.
    equipment("saturator", "BrineSaturator", "SAT", "Salzloeser", "saturador", "saturateur"),
    // A sulphuric-acid tower drying the wet chlorine gas.
    equipment("tower", "DryingTower", "DT", "Trockenturm", "torre de secado", "tour de séchage"),
    // A ball mill in closed circuit with its cyclones.
    equipment("ballmill", "BallMill", "KM", "Kugelmuehle", "molino de bolas", "broyeur à boulets"),
    // A cluster of hydrocyclones classifying the mill discharge.
    equipment("cyclone", "CycloneCluster", "CYC", "Hydrozyklon", "batería de ciclones", "hydrocyclone"),
    // A tank flotation cell of a rougher bank.
    equipment("cell", "FlotationCell", "FC", "Flotationszelle", "celda de flotación", "cellule de flottation"),
    // A concentrate or tailings thickener with its rake.
    equipment("thickener", "Thickener", "THK", "Eindicker", "espesador", "épaississeur"),
    // A central inverter in a solar park's power station.
    equipment("inverter", "Inverter", "WR", "Wechselrichter", "inversor", "onduleur"),
    // One row of single-axis trackers driven by one motor.
    equipment("tracker", "Tracker", "TRK", "Nachfuehrung", "seguidor", "suiveur"),
    // The park's weather station.
    equipment("metstation", "MetStation", "MET", "Wetterstation", "estación meteorológica", "station météo"),
    // A loop sorter (tilt-tray or cross-belt) of a parcel hub.
    equipment("sorter", "Sorter", "SRT", "Sortieranlage", "clasificador", "trieur"),
    // A barcode scan tunnel over the sorter's infeed.
    equipment("scanner", "ScanTunnel", "SCN", "Scantunnel", "túnel de lectura", "tunnel de lecture"),
    // An induction station that puts parcels onto the sorter.
    equipment("induct", "Induct", "IND", "Einschleusung", "estación de inducción", "injecteur"),
    // A destination chute off the sorter.
    equipment("chute", "Chute", "RS", "Rutsche", "rampa", "goulotte"),
    // One process module of a plasma etch tool ("PM" in the tool's software).
    equipment("chamber", "EtchChamber", "PM", "Aetzkammer", "cámara de grabado", "chambre de gravure"),
    // The ultrapure-water loop feeding the tools.
    equipment("upw", "UPW", "UPW", "Reinstwasser", "agua ultrapura", "eau ultrapure"),
    // A bay of the cleanroom under its fan filter units.
    equipment("bay", "Bay", "BAY", "Reinraum", "sala blanca", "salle blanche"),
];

/// Six held-out kinds of plant, built from every set of tables.
pub const SECOND_HELD_OUT_KINDS: &[PlantKind] = &[
    PlantKind {
        name: "coffee_roastery",
        area: "Roast1",
        units: &[
            ("roaster", 2, &["bean temperature", "rate of rise", "roast phase"]),
            ("tray", 2, &["temperature", "state"]),
            ("grinder", 2, &["grind size", "current"]),
            ("afterburner", 1, &["temperature", "gas flow"]),
        ],
    },
    PlantKind {
        name: "chlor_alkali",
        area: "CellRm",
        units: &[
            ("electrolyser", 4, &["cell voltage", "caustic strength", "temperature"]),
            ("rectifier", 2, &["dc current", "state"]),
            ("saturator", 1, &["brine concentration", "level"]),
            ("tower", 2, &["acid concentration", "temperature"]),
        ],
    },
    PlantKind {
        name: "flotation_plant",
        area: "Conc1",
        units: &[
            ("ballmill", 2, &["bearing pressure", "power", "state"]),
            ("cyclone", 2, &["feed pressure", "slurry density", "particle size"]),
            ("cell", 4, &["froth depth", "air rate"]),
            ("thickener", 1, &["torque", "slurry density"]),
        ],
    },
    PlantKind {
        name: "solar_park",
        area: "PV01",
        units: &[
            ("inverter", 4, &["power", "dc voltage", "state"]),
            ("tracker", 4, &["tilt angle", "tracker mode"]),
            ("metstation", 1, &["irradiance", "module temperature", "wind speed"]),
            ("transformer", 1, &["oil temperature", "power"]),
        ],
    },
    PlantKind {
        name: "parcel_hub",
        area: "Hub1",
        units: &[
            ("sorter", 2, &["sort rate", "recirculation", "state"]),
            ("scanner", 2, &["read rate", "state"]),
            ("induct", 4, &["count", "state"]),
            ("chute", 4, &["level", "state"]),
        ],
    },
    PlantKind {
        name: "wafer_fab",
        area: "Fab1",
        units: &[
            ("chamber", 3, &["chamber pressure", "rf power", "reflected power"]),
            ("upw", 1, &["resistivity", "toc"]),
            ("bay", 3, &["particle count", "humidity", "differential pressure"]),
            ("scrubber", 2, &["temperature", "ph"]),
        ],
    },
];
