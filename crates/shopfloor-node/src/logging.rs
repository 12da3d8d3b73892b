//! Log set-up shared by every node binary: human-readable lines on stderr
//! (dora collects them per node), level from `RUST_LOG`, `info` by default.

/// Installs the global subscriber; call once at the top of `main`.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call (e.g. from a test) keeps the first subscriber.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// `error` and its sources joined by `: `, so one log field or answer text
/// carries the whole story (`cannot write x: No space left on device`).
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_error_is_told_with_its_causes() {
        let error = WithSource("cannot write x", std::io::Error::other("No space left on device"));
        assert_eq!(super::with_causes(&error), "cannot write x: No space left on device");
    }

    #[derive(Debug)]
    struct WithSource(&'static str, std::io::Error);

    impl std::fmt::Display for WithSource {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for WithSource {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }
}
