//! The `part-images` command line, parsed by hand (the workspace has no
//! argument-parser crate): `part-images generate --out DIR [options]`.

use std::path::PathBuf;

use crate::output::ImageFormat;

/// Usage text.
pub const USAGE: &str = "part-images generate --out DIR [--good N] [--defective N] [--seed S] [--width W] [--height H] [--format png|jpeg]";

/// What `part-images generate` was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// The output folder.
    pub out: PathBuf,
    /// Number of good parts.
    pub good: usize,
    /// Number of defective parts (cycling through the kinds).
    pub defective: usize,
    /// The set's seed.
    pub seed: u64,
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Image file format.
    pub format: ImageFormat,
}

/// A command line that cannot be followed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArgError {
    /// No command, or one other than `generate`.
    #[error("unknown command {0:?}; usage: {USAGE}")]
    Command(String),
    /// An option this command does not have.
    #[error("unknown argument {0:?}; usage: {USAGE}")]
    Unknown(String),
    /// An option given without its value.
    #[error("{0} needs a value; usage: {USAGE}")]
    MissingValue(&'static str),
    /// A value that cannot be used.
    #[error("{arg} {value:?} is invalid (must be {requirement})")]
    Invalid {
        /// The option.
        arg: &'static str,
        /// What was given.
        value: String,
        /// What is accepted.
        requirement: &'static str,
    },
    /// `--out` was not given.
    #[error("--out DIR is required; usage: {USAGE}")]
    MissingOut,
}

impl GenerateOptions {
    /// Parses the arguments after the program name.
    pub fn parse(args: &[String]) -> Result<Self, ArgError> {
        let mut iter = args.iter();
        match iter.next().map(String::as_str) {
            Some("generate") => {}
            other => return Err(ArgError::Command(other.unwrap_or("").to_string())),
        }
        let mut out = None;
        let mut options = Self {
            out: PathBuf::new(),
            good: 20,
            defective: 20,
            seed: 1,
            width: 640,
            height: 480,
            format: ImageFormat::Png,
        };
        while let Some(arg) = iter.next() {
            let arg = match arg.as_str() {
                "--out" => "--out",
                "--good" => "--good",
                "--defective" => "--defective",
                "--seed" => "--seed",
                "--width" => "--width",
                "--height" => "--height",
                "--format" => "--format",
                other => return Err(ArgError::Unknown(other.to_string())),
            };
            let value = iter.next().ok_or(ArgError::MissingValue(arg))?;
            match arg {
                "--out" => out = Some(PathBuf::from(value)),
                "--good" => options.good = number(arg, value, 0, 1_000_000, "a whole number from 0 to 1000000")?,
                "--defective" => options.defective = number(arg, value, 0, 1_000_000, "a whole number from 0 to 1000000")?,
                "--seed" => options.seed = number(arg, value, 0, u64::MAX, "a whole number from 0 to 2^64-1")?,
                "--width" => options.width = number(arg, value, 160, 8192, "a width from 160 to 8192")?,
                "--height" => options.height = number(arg, value, 120, 8192, "a height from 120 to 8192")?,
                _ => {
                    options.format = match value.as_str() {
                        "png" => ImageFormat::Png,
                        "jpeg" | "jpg" => ImageFormat::Jpeg,
                        _ => return Err(invalid(arg, value, "png or jpeg")),
                    }
                }
            }
        }
        options.out = out.ok_or(ArgError::MissingOut)?;
        Ok(options)
    }
}

fn number<T: std::str::FromStr + PartialOrd>(arg: &'static str, value: &str, min: T, max: T, requirement: &'static str) -> Result<T, ArgError> {
    value.parse().ok().filter(|n| *n >= min && *n <= max).ok_or_else(|| invalid(arg, value, requirement))
}

fn invalid(arg: &'static str, value: &str, requirement: &'static str) -> ArgError {
    ArgError::Invalid { arg, value: value.to_string(), requirement }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<GenerateOptions, ArgError> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        GenerateOptions::parse(&args)
    }

    #[test]
    fn all_options_are_read() {
        let options = parse("generate --out /tmp/x --good 3 --defective 4 --seed 9 --width 320 --height 240 --format jpeg").unwrap();
        assert_eq!(
            options,
            GenerateOptions { out: "/tmp/x".into(), good: 3, defective: 4, seed: 9, width: 320, height: 240, format: ImageFormat::Jpeg }
        );
    }

    #[test]
    fn a_bad_value_names_its_argument() {
        let err = parse("generate --out x --width 12").unwrap_err();
        assert!(err.to_string().starts_with("--width \"12\" is invalid"), "{err}");
        let err = parse("generate --out x --good many").unwrap_err();
        assert!(err.to_string().contains("--good"), "{err}");
        let err = parse("generate --out x --format gif").unwrap_err();
        assert!(err.to_string().contains("--format"), "{err}");
    }

    #[test]
    fn missing_out_value_and_unknown_arguments_are_errors() {
        assert_eq!(parse("generate --good 3"), Err(ArgError::MissingOut));
        assert_eq!(parse("generate --out"), Err(ArgError::MissingValue("--out")));
        assert_eq!(parse("generate --out x --colour red"), Err(ArgError::Unknown("--colour".into())));
        assert_eq!(parse("render"), Err(ArgError::Command("render".into())));
    }
}
