//! Run-time LoRA commands on the node's `lora` input: switch one of the
//! profile's adapters on (at its own scale or a given one) or all off.
//! Only adapters the profile lists can be switched on, so a message can
//! never make the node read a file of its choosing.

/// Input id of LoRA commands (Utf8 strings).
pub const LORA_INPUT: &str = "lora";

/// One command.
#[derive(Debug, Clone, PartialEq)]
pub enum LoraCommand {
    /// Switch adapter `name` on; `None` keeps the profile's scale.
    On {
        /// Adapter name from the profile's `[[lora]]`.
        name: String,
        /// Scale, 0..=4 (0 switches every adapter off).
        scale: Option<f32>,
    },
    /// Every adapter off: the base model.
    Off,
}

/// Parses `off`, `NAME` or `NAME=SCALE`.
pub fn parse(text: &str) -> Result<LoraCommand, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(LoraCommand::Off);
    }
    let (name, scale) = match text.split_once('=') {
        Some((name, scale)) => {
            let scale: f32 =
                scale.trim().parse().map_err(|_| format!("{text:?}: the scale after = must be a number"))?;
            if !(0.0..=4.0).contains(&scale) {
                return Err(format!("{text:?}: the scale must be in 0..=4"));
            }
            (name.trim(), Some(scale))
        }
        None => (text, None),
    };
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(format!("{text:?}: expected `off`, `NAME` or `NAME=SCALE`"));
    }
    Ok(LoraCommand::On { name: name.to_owned(), scale })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_bad_ones_say_why() {
        assert_eq!(parse(" OFF "), Ok(LoraCommand::Off));
        assert_eq!(parse("terms"), Ok(LoraCommand::On { name: "terms".into(), scale: None }));
        assert_eq!(parse("terms=0.5"), Ok(LoraCommand::On { name: "terms".into(), scale: Some(0.5) }));
        assert!(parse("terms=9").unwrap_err().contains("0..=4"));
        assert!(parse("terms=x").unwrap_err().contains("number"));
        assert!(parse("load /etc/passwd").unwrap_err().contains("expected"));
        assert!(parse("").is_err());
    }
}
