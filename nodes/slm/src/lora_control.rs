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

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoraCommandError {
    #[error("{text:?}: the scale after = must be a number")]
    NotANumber {
        text: String,
        #[source]
        source: std::num::ParseFloatError,
    },
    #[error("{text:?}: the scale must be in 0..=4")]
    OutOfRange { text: String },
    #[error("{text:?}: expected `off`, `NAME` or `NAME=SCALE`")]
    Syntax { text: String },
}

/// Parses `off`, `NAME` or `NAME=SCALE`.
pub fn parse(text: &str) -> Result<LoraCommand, LoraCommandError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(LoraCommand::Off);
    }
    let (name, scale) = match text.split_once('=') {
        Some((name, scale)) => {
            let scale: f32 = scale
                .trim()
                .parse()
                .map_err(|source| LoraCommandError::NotANumber { text: text.to_owned(), source })?;
            if !(0.0..=4.0).contains(&scale) {
                return Err(LoraCommandError::OutOfRange { text: text.to_owned() });
            }
            (name.trim(), Some(scale))
        }
        None => (text, None),
    };
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(LoraCommandError::Syntax { text: text.to_owned() });
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
        assert!(matches!(parse("terms=9"), Err(LoraCommandError::OutOfRange { .. })));
        assert!(parse("terms=x").unwrap_err().to_string().contains("number"));
        assert!(parse("load /etc/passwd").unwrap_err().to_string().contains("expected"));
        assert!(parse("").is_err());
    }
}
