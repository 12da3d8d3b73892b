//! Debian's headless Chromium over the DevTools protocol (crate
//! `headless_chrome`), for the operator console's test and benchmark.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use headless_chrome::{Browser, LaunchOptions, Tab};

/// Chromium as `scripts/test.sh` installs it, headless, 1280×1000.
pub fn chromium() -> anyhow::Result<Browser> {
    let options = LaunchOptions::default_builder()
        .path(Some(PathBuf::from("/usr/bin/chromium")))
        .headless(true)
        // Tests run as root in a container: Chromium's sandbox needs user namespaces.
        .sandbox(false)
        .window_size(Some((1280, 1000)))
        .idle_browser_timeout(Duration::from_secs(900))
        .build()
        .map_err(|error| anyhow::anyhow!("Chromium launch options: {error}"))?;
    Browser::new(options)
}

/// The value of a JavaScript expression, through JSON (DevTools hands
/// arrays and objects back as references, not values).
pub fn js_value(tab: &Tab, expression: &str) -> anyhow::Result<serde_json::Value> {
    let text = tab.evaluate(&format!("JSON.stringify({expression})"), false)?.value;
    Ok(text.and_then(|t| t.as_str().and_then(|t| serde_json::from_str(t).ok())).unwrap_or(serde_json::Value::Null))
}

/// Evaluates `expression` until `done` holds for its value, within `limit`;
/// the error names `what` and the last value.
pub fn wait_js(
    tab: &Tab,
    what: &str,
    expression: &str,
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> anyhow::Result<serde_json::Value> {
    let deadline = Instant::now() + limit;
    loop {
        let value = js_value(tab, expression)?;
        if done(&value) {
            return Ok(value);
        }
        anyhow::ensure!(Instant::now() < deadline, "{what}: not within {limit:?}; last value {value}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
