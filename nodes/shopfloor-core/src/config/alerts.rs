//! `mqtt-sink`: how alerts are published.

use super::env::{ConfigError, EnvReader, EnvVars};

/// Alert delivery settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertDeliveryConfig {
    /// Also publish each alert, retained, to `<root>/alerts/<station>/last`
    /// (`ALERTS_RETAIN_LAST`, `true`/`false`, default `false`), so that a
    /// panel that connects later sees every station's last alert at once.
    pub retain_last: bool,
}

impl AlertDeliveryConfig {
    /// Parses the alert settings of the node named `node`.
    pub fn from_env(node: &str, vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new(node, vars);
        let retain_last = env.parsed_or("ALERTS_RETAIN_LAST", false, "true or false", |_| true);
        env.finish(&["ALERTS_"])?;
        Ok(Self { retain_last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retaining_the_last_alert_is_off_unless_asked() {
        assert!(!AlertDeliveryConfig::from_env("s", &EnvVars::new()).unwrap().retain_last);
        let on = EnvVars::from([("ALERTS_RETAIN_LAST".into(), "true".into())]);
        assert!(AlertDeliveryConfig::from_env("s", &on).unwrap().retain_last);
        let bad = EnvVars::from([("ALERTS_RETAIN_LAST".into(), "yes".into())]);
        assert!(AlertDeliveryConfig::from_env("s", &bad).unwrap_err().names_field("ALERTS_RETAIN_LAST"));
    }
}
