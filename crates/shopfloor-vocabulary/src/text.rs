//! Text into comparable words: case and accents folded, identifiers split
//! at every convention plants use (snake, kebab, CamelCase, dotted paths,
//! letters against digits).

/// Lower case without accents (`Füllstand` -> `fullstand`, `ß` -> `ss`), so
/// that a word matches however the keyboard or the PLC spelled it.
pub fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => folded.push('a'),
            'è' | 'é' | 'ê' | 'ë' => folded.push('e'),
            'ì' | 'í' | 'î' | 'ï' => folded.push('i'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => folded.push('o'),
            'ù' | 'ú' | 'û' | 'ü' => folded.push('u'),
            'ñ' => folded.push('n'),
            'ç' => folded.push('c'),
            'ß' => folded.push_str("ss"),
            'œ' => folded.push_str("oe"),
            'æ' => folded.push_str("ae"),
            c => folded.push(c),
        }
    }
    folded
}

/// The folded words of a sentence; `mm/s`, `m³/h` and `°C` stay whole, and
/// so do tag-like tokens' parts joined by `_` (split later if needed).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '/' | '°' | '³' | '%' | '_')))
        .map(|w| w.trim_matches(|c| matches!(c, '/' | '_')))
        .filter(|w| !w.is_empty())
        .map(fold)
        .collect()
}

/// A tag name split into its path segments (`Area1.Press4.HydPress_bar` ->
/// `Area1`, `Press4`, `HydPress_bar`) and each segment into folded tokens
/// at `_`, `-`, spaces, lower-to-upper case changes and letter/digit
/// boundaries (`HydPress_bar` -> hyd, press, bar; `TT4711` -> tt, 4711).
pub fn identifier_segments(name: &str) -> Vec<Vec<String>> {
    name.split(['.', '/', ':', '|', '\\'])
        .filter(|segment| !segment.is_empty())
        .map(segment_tokens)
        .filter(|tokens| !tokens.is_empty())
        .collect()
}

/// One segment's tokens (see [`identifier_segments`]).
pub fn segment_tokens(segment: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for piece in segment.split(|c: char| !c.is_alphanumeric()).filter(|p| !p.is_empty()) {
        let chars: Vec<char> = piece.chars().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (before, here) = (chars[i - 1], chars[i]);
            let next_is_lower = chars.get(i + 1).is_some_and(|c| c.is_lowercase());
            let boundary = (before.is_lowercase() && here.is_uppercase())
                || (before.is_alphabetic() && here.is_ascii_digit())
                || (before.is_ascii_digit() && here.is_alphabetic())
                // `HMIStatus`: the last capital starts the next word.
                || (before.is_uppercase() && here.is_uppercase() && next_is_lower);
            if boundary {
                tokens.push(fold(&chars[start..i].iter().collect::<String>()));
                start = i;
            }
        }
        tokens.push(fold(&chars[start..].iter().collect::<String>()));
    }
    tokens
}

/// The word without a plural or inflection ending, when enough is left
/// (`pumps` -> `pump`, `temperaturen` -> `temperatur`, `presiones` -> `presion`).
pub fn stems(word: &str) -> impl Iterator<Item = &str> {
    ["es", "s", "en", "n", "e", "er"]
        .into_iter()
        .filter_map(move |ending| word.strip_suffix(ending))
        .filter(|stem| stem.chars().count() >= 3)
}

/// Whether the word is all digits.
pub fn is_number(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_and_case_fold_away() {
        assert_eq!(fold("Füllstand Température Presión Straße"), "fullstand temperature presion strasse");
    }

    #[test]
    fn every_naming_convention_splits_into_words() {
        let seg = |s: &str| segment_tokens(s);
        assert_eq!(seg("motor_temp_c"), ["motor", "temp", "c"]);
        assert_eq!(seg("MotorTempC"), ["motor", "temp", "c"]);
        assert_eq!(seg("HMIStatus"), ["hmi", "status"]);
        assert_eq!(seg("TT_4711"), ["tt", "4711"]);
        assert_eq!(seg("TT4711"), ["tt", "4711"]);
        assert_eq!(seg("Press4"), ["press", "4"]);
        assert_eq!(seg("fill-level"), ["fill", "level"]);
        assert_eq!(
            identifier_segments("Area1.Press4/HydPress_bar"),
            [vec!["area", "1"], vec!["press", "4"], vec!["hyd", "press", "bar"]]
        );
    }

    #[test]
    fn sentences_keep_units_whole() {
        assert_eq!(
            words("Wie hoch ist die Vibration in mm/s?"),
            ["wie", "hoch", "ist", "die", "vibration", "in", "mm/s"]
        );
        assert_eq!(words("value of oven_temp?"), ["value", "of", "oven_temp"]);
    }

    #[test]
    fn plural_endings_come_off() {
        assert!(stems("pumps").any(|s| s == "pump"));
        assert!(stems("temperaturen").any(|s| s == "temperatur"));
        assert!(stems("presiones").any(|s| s == "presion"));
        assert_eq!(stems("bar").count(), 0);
    }
}
