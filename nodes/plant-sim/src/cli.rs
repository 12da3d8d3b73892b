//! Command-line arguments: run under dora (the default) or standalone.

use std::time::Duration;

/// How the binary runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMode {
    /// As a dora node, until dora sends `Stop` or the event stream ends.
    Dora,
    /// Without dora, for `run_for` or until Ctrl-C, whichever comes first.
    Standalone {
        /// Upper bound on the run time, so test processes never linger.
        run_for: Duration,
    },
}

/// A command line that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// An argument this binary does not know.
    #[error("unknown argument `{0}` (expected --standalone --run-for-secs N, or nothing under dora)")]
    Unknown(String),
    /// `--run-for-secs` without a positive whole number after it.
    #[error("`--run-for-secs` needs a whole number of seconds > 0, got {0:?}")]
    BadDuration(Option<String>),
    /// `--standalone` without `--run-for-secs`.
    #[error("`--standalone` needs `--run-for-secs N` so the process always ends")]
    MissingDuration,
    /// `--run-for-secs` without `--standalone`.
    #[error("`--run-for-secs` only applies with `--standalone`")]
    DurationWithoutStandalone,
}

/// Parses the arguments after the program name.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<RunMode, ArgsError> {
    let mut standalone = false;
    let mut run_for = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--standalone" => standalone = true,
            "--run-for-secs" => {
                let text = args.next();
                let secs = text.as_deref().and_then(|t| t.parse::<u64>().ok()).filter(|s| *s > 0);
                run_for = Some(secs.ok_or(ArgsError::BadDuration(text))?);
            }
            _ => return Err(ArgsError::Unknown(arg)),
        }
    }
    match (standalone, run_for) {
        (false, None) => Ok(RunMode::Dora),
        (false, Some(_)) => Err(ArgsError::DurationWithoutStandalone),
        (true, None) => Err(ArgsError::MissingDuration),
        (true, Some(secs)) => Ok(RunMode::Standalone {
            run_for: Duration::from_secs(secs),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<RunMode, ArgsError> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn no_arguments_means_running_under_dora() {
        assert_eq!(parse(&[]), Ok(RunMode::Dora));
    }

    #[test]
    fn standalone_runs_for_the_given_seconds() {
        let expected = RunMode::Standalone { run_for: Duration::from_secs(30) };
        assert_eq!(parse(&["--standalone", "--run-for-secs", "30"]), Ok(expected.clone()));
        assert_eq!(parse(&["--run-for-secs", "30", "--standalone"]), Ok(expected));
    }

    #[test]
    fn standalone_without_a_time_limit_is_refused() {
        assert_eq!(parse(&["--standalone"]), Err(ArgsError::MissingDuration));
    }

    #[test]
    fn a_zero_or_missing_duration_is_refused() {
        assert_eq!(
            parse(&["--standalone", "--run-for-secs", "0"]),
            Err(ArgsError::BadDuration(Some("0".into())))
        );
        assert_eq!(parse(&["--standalone", "--run-for-secs"]), Err(ArgsError::BadDuration(None)));
    }

    #[test]
    fn an_unknown_argument_is_named() {
        let err = parse(&["--port", "1"]).unwrap_err();
        assert!(err.to_string().contains("--port"), "{err}");
    }
}
