//! Log set-up shared by every node binary: human-readable lines on stderr
//! (dora collects them per node), level from `RUST_LOG`, `info` by default.

/// Installs the global subscriber; call once at the top of `main`.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call (e.g. from a test) keeps the first subscriber.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
