//! `plant-sim`: the simulated CNC cell's OPC UA server.

use super::env::{ConfigError, EnvReader, EnvVars};

/// Settings of the plant simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantSimConfig {
    /// Host name or address the server binds and advertises (`SIM_HOST`, default `127.0.0.1`).
    pub host: String,
    /// TCP port (`SIM_PORT`, default 4840).
    pub port: u16,
    /// How often simulated values change, in ms (`SIM_TICK_MS`, default 500, 10..=60000).
    pub tick_ms: u64,
}

impl PlantSimConfig {
    /// Parses and validates the simulator's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("plant-sim", vars);
        let host = env.string_or("SIM_HOST", "127.0.0.1");
        let port = env.parsed_or("SIM_PORT", 4840u16, "a TCP port 1..=65535", |p| *p > 0);
        let tick_ms = env.parsed_or("SIM_TICK_MS", 500u64, "milliseconds in 10..=60000", |t| {
            (10..=60_000).contains(t)
        });
        env.finish(&["SIM_"])?;
        Ok(Self { host, port, tick_ms })
    }

    /// The endpoint URL clients use.
    pub fn endpoint_url(&self) -> String {
        format!("opc.tcp://{}:{}/", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_on_loopback_4840() {
        let cfg = PlantSimConfig::from_env(&EnvVars::new()).unwrap();
        assert_eq!(cfg.endpoint_url(), "opc.tcp://127.0.0.1:4840/");
        assert_eq!(cfg.tick_ms, 500);
    }

    #[test]
    fn a_zero_port_names_sim_port() {
        let env = EnvVars::from([("SIM_PORT".into(), "0".into())]);
        let err = PlantSimConfig::from_env(&env).unwrap_err();
        assert!(err.names_field("SIM_PORT"), "{err}");
    }
}
