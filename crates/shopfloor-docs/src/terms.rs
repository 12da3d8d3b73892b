//! A question into the English words a document would use: the words that
//! only ask (how, do, I, what now) are dropped, and the operators' words of
//! the four languages are mapped to their English concept (the any-plant
//! lexicon for what plants measure and have, and the words of procedures
//! below), so a question in German finds an English document.

use shopfloor_vocabulary::lexicon::{EQUIPMENT, PARTS, QUANTITIES, STOP_WORDS};
use shopfloor_vocabulary::text::{fold, stems, words};

/// Words of asking for a procedure, in the four languages: they say that a
/// procedure is wanted, not which one.
const ASKING_WORDS: &[&str] = &[
    "i",
    "we",
    "you",
    "my",
    "our",
    "should",
    "shall",
    "can",
    "could",
    "would",
    "must",
    "need",
    "needs",
    "have",
    "has",
    "had",
    "be",
    "been",
    "being",
    "get",
    "gets",
    "got",
    "getting",
    "go",
    "goes",
    "going",
    "happen",
    "happens",
    "what",
    "whats",
    "do",
    "does",
    "did",
    "doing",
    "done",
    "then",
    "now",
    "steps",
    "step",
    "procedure",
    "procedures",
    "way",
    "correct",
    "correctly",
    "proper",
    "properly",
    "right",
    "too",
    "very",
    "with",
    "this",
    "that",
    "these",
    "those",
    "and",
    "or",
    "if",
    "so",
    "up",
    "out",
    "off",
    "from",
    "by",
    "about",
    "someone",
    "anyone",
    "one",
    "ok",
    "okay",
    "something",
    "im",
    "ive",
    "ich",
    "wir",
    "man",
    "muss",
    "soll",
    "sollte",
    "kann",
    "mache",
    "machen",
    "tun",
    "tue",
    "wenn",
    "wann",
    "nach",
    "vor",
    "dem",
    "einem",
    "einer",
    "eine",
    "ein",
    "und",
    "oder",
    "mit",
    "bei",
    "auf",
    "fur",
    "mich",
    "mir",
    "zu",
    "zu",
    "hat",
    "habe",
    "haben",
    "wird",
    "werden",
    "ist",
    "sind",
    "schritte",
    "vorgehen",
    "sich",
    "yo",
    "hago",
    "hacer",
    "debo",
    "puedo",
    "cuando",
    "como",
    "con",
    "para",
    "por",
    "je",
    "fais",
    "faire",
    "dois",
    "peux",
    "quand",
    "comment",
    "avec",
    "pour",
    "une",
    "des",
    // English function words (after Snowball's list) and verbs of any request.
    "me",
    "myself",
    "your",
    "yours",
    "he",
    "him",
    "his",
    "she",
    "her",
    "they",
    "them",
    "their",
    "which",
    "whom",
    "am",
    "was",
    "were",
    "having",
    "but",
    "because",
    "as",
    "until",
    "while",
    "against",
    "between",
    "into",
    "through",
    "during",
    "above",
    "below",
    "down",
    "under",
    "further",
    "once",
    "here",
    "there",
    "why",
    "all",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "than",
    "will",
    "just",
    "don",
    "dont",
    "cant",
    "isnt",
    "let",
    "lets",
    "went",
    "take",
    "keep",
    "keeps",
    "make",
    "making",
    "tell",
    "know",
    "look",
    "see",
    "want",
    "like",
    "also",
    "still",
    "really",
    "lot",
    "around",
    "anything",
    "everything",
    "thing",
    "things",
    "us",
    "who",
    "long",
    "often",
    "much",
    "many",
    "fine",
    "good",
    "bad",
    "new",
    "old",
    "supposed",
    "able",
    "gone",
    "come",
    // German function words and verbs of asking.
    "liegt",
    "lassen",
    "lange",
    "uber",
    "ueber",
    "unter",
    "mein",
    "meine",
    "unser",
    "bitte",
    "noch",
    "schon",
    "immer",
    "wieder",
    "dann",
    "jetzt",
    "wer",
    "wo",
    "warum",
    "welche",
    "einen",
    "einem",
    "beim",
    "nicht",
    "kein",
    "keine",
    "sehr",
];

/// Words of procedures in German, Spanish and French, each with the English
/// word a document would use.
const PROCEDURE_WORDS: &[(&str, &str)] = &[
    // English words of a procedure's phase, as headings name them.
    ("again", "restart"),
    ("resume", "restart"),
    ("reset", "restart"),
    ("switch", "power"),
    ("switching", "power"),
    ("stau", "jam"),
    ("verstopft", "jam"),
    ("blockiert", "jam"),
    ("atasco", "jam"),
    ("bourrage", "jam"),
    ("beheben", "clear"),
    ("beseitigen", "clear"),
    ("entfernen", "remove"),
    ("despejar", "clear"),
    ("eliminar", "remove"),
    ("degager", "clear"),
    ("uberhitzt", "overheat"),
    ("ueberhitzt", "overheat"),
    ("uberhitzung", "overheat"),
    ("ueberhitzung", "overheat"),
    ("sobrecalentamiento", "overheat"),
    ("surchauffe", "overheat"),
    ("spindel", "spindle"),
    ("husillo", "spindle"),
    ("broche", "spindle"),
    ("spane", "chip"),
    ("spaene", "chip"),
    ("spanen", "chip"),
    ("spanforderer", "chip conveyor"),
    ("spanfoerderer", "chip conveyor"),
    ("viruta", "chip"),
    ("virutas", "chip"),
    ("copeaux", "chip"),
    ("forderer", "conveyor"),
    ("foerderer", "conveyor"),
    ("schicht", "shift"),
    ("schichtbeginn", "shift start"),
    ("turno", "shift"),
    ("equipe", "shift"),
    ("beginn", "start"),
    ("anfang", "start"),
    ("starten", "start"),
    ("einschalten", "power on"),
    ("anfahren", "start"),
    ("neustart", "restart"),
    ("wiederanlauf", "restart"),
    ("reiniciar", "restart"),
    ("redemarrer", "restart"),
    ("aufwarmen", "warm"),
    ("warmlaufen", "warm"),
    ("warmfahren", "warm"),
    ("aufwaermen", "warm"),
    ("warmlauf", "warm"),
    ("prufen", "check"),
    ("pruefen", "check"),
    ("kontrollieren", "check"),
    ("uberprufen", "check"),
    ("ueberpruefen", "check"),
    ("revisar", "check"),
    ("comprobar", "check"),
    ("verifier", "check"),
    ("sperren", "lockout"),
    ("absperren", "lockout"),
    ("verriegeln", "lock"),
    ("abschliessen", "lock"),
    ("freischalten", "lockout"),
    ("bloquear", "lockout"),
    ("consignation", "lockout"),
    ("schwingung", "vibration"),
    ("schwingungen", "vibration"),
    ("vibriert", "vibration"),
    ("wackelt", "vibration"),
    ("vibracion", "vibration"),
    ("vibre", "vibration"),
    ("wechseln", "replace"),
    ("tauschen", "replace"),
    ("austauschen", "replace"),
    ("ersetzen", "replace"),
    ("cambiar", "replace"),
    ("remplacer", "replace"),
    ("nachfullen", "top"),
    ("nachfuellen", "top"),
    ("auffullen", "fill"),
    ("rellenar", "fill"),
    ("durchfluss", "flow"),
    ("fluss", "flow"),
    ("caudal", "flow"),
    ("debit", "flow"),
    ("niedrig", "low"),
    ("wenig", "low"),
    ("alarm", "alarm"),
    ("alarma", "alarm"),
    ("alarme", "alarm"),
    ("werkzeug", "tool"),
    ("herramienta", "tool"),
    ("outil", "tool"),
    ("not-aus", "emergency stop"),
    ("notaus", "emergency stop"),
    ("tur", "door"),
    ("tuer", "door"),
    ("erstes", "first"),
    ("teil", "part"),
    ("strom", "power"),
    ("energie", "energy"),
    // Packaging lines and utilities: the machines, materials and faults of
    // their procedures (words that are English too, like `film`, stay as
    // they are).
    ("kontrollwaage", "checkweigher"),
    ("waage", "weigh"),
    ("pesadora", "checkweigher"),
    ("controladora", "checkweigher"),
    ("trieuse", "checkweigher"),
    ("peseuse", "checkweigher"),
    ("wickler", "wrapper"),
    ("stretchwickler", "wrapper"),
    ("envolvedora", "wrapper"),
    ("enfardadora", "wrapper"),
    ("banderoleuse", "wrapper"),
    ("filmeuse", "wrapper"),
    ("folie", "film"),
    ("pelicula", "film"),
    ("rolle", "roll"),
    ("bobina", "roll"),
    ("bobine", "roll"),
    ("lage", "layer"),
    ("capa", "layer"),
    ("couche", "layer"),
    ("karton", "case"),
    ("kartons", "case"),
    ("caja", "case"),
    ("cajas", "case"),
    ("encajonadora", "case packer"),
    ("encaisseuse", "case packer"),
    ("kartonpacker", "case packer"),
    ("packer", "packer"),
    ("einlauf", "infeed"),
    ("auslauf", "outfeed"),
    ("umfallen", "fall"),
    ("umgefallen", "fall"),
    ("fallen", "fall"),
    ("caido", "fall"),
    ("caida", "fall"),
    ("tombe", "fall"),
    ("tombee", "fall"),
    ("verschliesser", "capper"),
    ("taponadora", "capper"),
    ("boucheuse", "capper"),
    ("visseuse", "capper"),
    ("deckel", "cap"),
    ("verschluss", "cap"),
    ("tapa", "cap"),
    ("tapon", "cap"),
    ("bouchon", "cap"),
    ("etikett", "label"),
    ("etiqueta", "label"),
    ("etiquette", "label"),
    ("kleber", "glue"),
    ("leim", "glue"),
    ("heissleim", "hot melt glue"),
    ("cola", "glue"),
    ("pegamento", "glue"),
    ("colle", "glue"),
    ("lichtschranke", "sensor"),
    ("fuhler", "sensor"),
    ("fuehler", "sensor"),
    ("capteur", "sensor"),
    ("schutztur", "guard door"),
    ("schutztuer", "guard door"),
    ("puerta", "door"),
    ("porte", "door"),
    ("leck", "leak"),
    ("undicht", "leak"),
    ("fuga", "leak"),
    ("fuite", "leak"),
    ("metalldetektor", "metal detector"),
    ("metales", "metal"),
    ("metaux", "metal"),
    ("detecteur", "detector"),
    ("reinigen", "clean"),
    ("limpiar", "clean"),
    ("nettoyer", "clean"),
    ("schmieren", "lubricate"),
    ("lubricar", "lubricate"),
    ("graisser", "lubricate"),
    ("fett", "grease"),
    ("grasa", "grease"),
    ("graisse", "grease"),
    ("gerausch", "noise"),
    ("geraeusch", "noise"),
    ("ruido", "noise"),
    ("bruit", "noise"),
    ("ausschuss", "reject"),
    ("ausgeschleust", "reject"),
    ("rechazo", "reject"),
    ("rechazado", "reject"),
    ("rechazada", "reject"),
    ("rejet", "reject"),
    ("rejete", "reject"),
    ("leer", "empty"),
    ("vacio", "empty"),
    ("vide", "empty"),
    ("druckluft", "compressed air"),
    ("kessel", "boiler"),
    ("parada", "stop"),
    ("arret", "stop"),
    ("stillstand", "stop"),
];

/// The English search words of `text` (a question or a document's words),
/// folded, each once, in the order they appear.
pub fn search_words(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for word in search_groups(text).into_iter().flatten() {
        if !found.contains(&word) {
            found.push(word);
        }
    }
    found
}

/// The words of `text` as [`search_words`] gives them, grouped: each group
/// is one word asked for, with its alternatives (`hot`, `temperature`); a
/// document that has any of them has the word.
pub fn search_groups(text: &str) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut push = |group: Vec<String>| {
        if !group.is_empty() && !groups.contains(&group) {
            groups.push(group);
        }
    };
    for word in words(text) {
        // `spindle_temperature` is two words to a document.
        for piece in word.split(['_', '/']).filter(|p| !p.is_empty()) {
            let piece = fold(piece);
            if is_asking_word(&piece) {
                continue;
            }
            if let Some(english) = procedure_word(&piece).or_else(|| compound(&piece)) {
                // A compound's parts are words of their own.
                english.iter().for_each(|w| push(vec![(*w).to_owned()]));
                continue;
            }
            let mut group = vec![piece.clone()];
            group.extend(concept_of(&piece).map(str::to_owned));
            push(group);
        }
    }
    groups
}

/// The English words of a procedure word of another language, matched
/// with or without its inflection (`behebe` is `beheben`).
fn procedure_word(word: &str) -> Option<Vec<&'static str>> {
    let same = |said: &str| said == word || stems(said).any(|stem| stem == word || stems(word).any(|w| w == stem));
    PROCEDURE_WORDS.iter().find(|(said, _)| same(said)).map(|(_, english)| english.split(' ').collect())
}

/// A German compound of two known words (`Späneförderer`: chip, conveyor).
fn compound(word: &str) -> Option<Vec<&'static str>> {
    let known = |part: &str| procedure_word(part).or_else(|| concept_of(part).map(|c| vec![c]));
    word.char_indices().skip(3).filter(|(at, _)| word.len() - at >= 3).find_map(|(at, _)| {
        let (head, tail) = word.split_at(at);
        let mut english = known(head)?;
        english.extend(known(tail)?);
        Some(english)
    })
}

fn is_asking_word(word: &str) -> bool {
    STOP_WORDS.contains(&word) || ASKING_WORDS.contains(&word) || word.chars().count() < 2
}

/// The English concept of a word the any-plant lexicon knows (`hot` ->
/// `temperature`, `Pumpe` -> `pump`).
fn concept_of(word: &str) -> Option<&'static str> {
    QUANTITIES
        .iter()
        .chain(EQUIPMENT)
        .chain(PARTS)
        .find(|(concept, said)| *concept != word && said.contains(&word))
        .map(|(concept, _)| *concept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_words_go_and_plant_words_stay() {
        assert_eq!(search_words("How do I clear a jam on the chip conveyor?"), ["clear", "jam", "chip", "conveyor"]);
    }

    #[test]
    fn everyday_words_bring_their_concept() {
        let words = search_words("The spindle is too hot, what now?");
        assert!(words.contains(&"spindle".to_owned()) && words.contains(&"temperature".to_owned()), "{words:?}");
    }

    #[test]
    fn german_questions_become_english_words() {
        let words = search_words("Was mache ich, wenn die Spindel überhitzt?");
        assert_eq!(words, ["spindle", "overheat"]);
        let words = search_words("Wie behebe ich einen Stau am Späneförderer?");
        assert!(words.contains(&"jam".to_owned()), "{words:?}");
    }

    #[test]
    fn packaging_words_of_other_languages_become_english() {
        let words = search_words("Am Einlauf vom Packer fallen ständig Flaschen um");
        for english in ["infeed", "packer", "fall", "bottle"] {
            assert!(words.contains(&english.to_owned()), "{english}: {words:?}");
        }
        let words = search_words("La envolvedora marca FILM END, ¿cómo pongo una bobina nueva?");
        assert!(words.contains(&"wrapper".to_owned()) && words.contains(&"roll".to_owned()), "{words:?}");
        let words = search_words("Une couche de cartons est tombée dans le palettiseur");
        assert!(words.contains(&"layer".to_owned()) && words.contains(&"fall".to_owned()), "{words:?}");
    }

    #[test]
    fn tag_names_split_into_words() {
        assert_eq!(search_words("spindle_temperature"), ["spindle", "temperature"]);
    }
}
