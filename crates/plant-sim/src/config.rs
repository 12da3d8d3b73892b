//! `plant-sim`: the simulated CNC cell's OPC UA server.

use std::collections::BTreeMap;
use std::path::PathBuf;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars, Secret};
use shopfloor_opcua::EndpointSecurity;

/// What the simulated plant goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SimScenario {
    /// Machining cycles and a packaging line running smoothly.
    #[default]
    Normal,
    /// The spindle temperature ramps up past its limit and stays there.
    Overheat,
    /// Short vibration spikes at regular intervals.
    VibrationSpike,
    /// The cell stops and the packaging line jams, with its alarm raised.
    Stoppage,
}

impl SimScenario {
    /// What `SIM_SCENARIO` may say.
    pub const CHOICES: &'static str = "normal, overheat, vibration_spike or stoppage";

    /// Parses a scenario name.
    pub fn parse(text: &str) -> Option<SimScenario> {
        match text.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "normal" => Some(SimScenario::Normal),
            "overheat" => Some(SimScenario::Overheat),
            "vibration_spike" => Some(SimScenario::VibrationSpike),
            "stoppage" => Some(SimScenario::Stoppage),
            _ => None,
        }
    }
}

/// Settings of the plant simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantSimConfig {
    /// The endpoints offered, each a security policy with a mode
    /// (`SIM_SECURITY`, comma- or space-separated, e.g.
    /// `None, Basic256Sha256/SignAndEncrypt`; default `None`).
    pub security: Vec<EndpointSecurity>,
    /// Accounts from `SIM_USERS_FILE` (`user:password` lines); when set (or
    /// `SIM_USER_CERTS`), only these users may log in, never anonymous.
    pub users: Option<BTreeMap<String, Secret>>,
    /// Users who log in with an X.509 certificate (`SIM_USER_CERTS`,
    /// `user=/path/cert.der` entries, comma- or space-separated).
    pub user_certs: BTreeMap<String, PathBuf>,
    /// The server's PKI folder (`SIM_PKI_DIR`; default: a folder under the
    /// temp dir). Holds its key pair, made on first start.
    pub pki_dir: Option<PathBuf>,
    /// Accept any client certificate (`SIM_TRUST_CLIENTS`, default true: a
    /// simulator for tests); false: only those in the PKI folder's `trusted/`.
    pub trust_clients: bool,
    /// What happens in the plant (`SIM_SCENARIO`, default `normal`).
    pub scenario: SimScenario,
    /// Seed of the measurement noise (`SIM_SEED`); the same seed gives the
    /// same values at every tick. Default: no noise.
    pub seed: Option<u64>,
    /// Host name or address the server binds and advertises (`SIM_HOST`, default `127.0.0.1`).
    pub host: String,
    /// TCP port (`SIM_PORT`, default 4840).
    pub port: u16,
    /// How often simulated values change, in ms (`SIM_TICK_MS`, default 500, 10..=60000).
    pub tick_ms: u64,
}

impl Default for PlantSimConfig {
    /// What an empty `env:` gives: loopback port 4840, a 500 ms tick, one
    /// endpoint without security, anonymous users.
    fn default() -> Self {
        Self {
            security: vec![EndpointSecurity::NONE],
            users: None,
            user_certs: BTreeMap::new(),
            pki_dir: None,
            trust_clients: true,
            scenario: SimScenario::Normal,
            seed: None,
            host: "127.0.0.1".to_owned(),
            port: 4840,
            tick_ms: 500,
        }
    }
}

impl PlantSimConfig {
    /// Parses and validates the simulator's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("plant-sim", vars);
        let host = env.string_or("SIM_HOST", "127.0.0.1");
        let port = env.parsed_or("SIM_PORT", 4840u16, "a TCP port 1..=65535", |p| *p > 0);
        let tick_ms = env.parsed_or("SIM_TICK_MS", 500u64, "milliseconds in 10..=60000", |t| (10..=60_000).contains(t));
        let security = security_list(&mut env);
        let users = env.users_file("SIM_USERS_FILE");
        let user_certs = user_certs(&mut env);
        let pki_dir = env.optional_string("SIM_PKI_DIR").map(PathBuf::from);
        let trust_clients = env.parsed_or("SIM_TRUST_CLIENTS", true, "true or false", |_| true);
        let scenario = env.optional_string("SIM_SCENARIO").map_or(SimScenario::Normal, |text| {
            SimScenario::parse(&text).unwrap_or_else(|| {
                env.invalid("SIM_SCENARIO", &text, SimScenario::CHOICES);
                SimScenario::Normal
            })
        });
        let seed = env.optional_string("SIM_SEED").and_then(|text| {
            let parsed = text.parse::<u64>().ok();
            if parsed.is_none() {
                env.invalid("SIM_SEED", &text, "a whole number 0..=18446744073709551615");
            }
            parsed
        });
        env.finish(&["SIM_"])?;
        Ok(Self { security, users, user_certs, pki_dir, trust_clients, scenario, seed, host, port, tick_ms })
    }

    /// The endpoint URL clients use.
    pub fn endpoint_url(&self) -> String {
        format!("opc.tcp://{}:{}/", self.host, self.port)
    }
}

/// `SIM_USER_CERTS`: `user=/path/cert.der` entries; each file must exist and
/// end in `.der` or `.pem` (what async-opcua reads).
fn user_certs(env: &mut EnvReader<'_>) -> BTreeMap<String, PathBuf> {
    let mut certs = BTreeMap::new();
    let Some(text) = env.optional_string("SIM_USER_CERTS") else { return certs };
    for entry in text.split(|c: char| c == ',' || c.is_whitespace()).filter(|e| !e.is_empty()) {
        match entry.split_once('=') {
            Some((user, path))
                if !user.is_empty()
                    && (path.ends_with(".der") || path.ends_with(".pem"))
                    && std::path::Path::new(path).is_file() =>
            {
                certs.insert(user.to_owned(), PathBuf::from(path));
            }
            _ => env.invalid("SIM_USER_CERTS", entry, "entries `user=/path/cert.der` (or .pem) naming existing files"),
        }
    }
    certs
}

/// `SIM_SECURITY`: one endpoint per entry, no repeats.
fn security_list(env: &mut EnvReader<'_>) -> Vec<EndpointSecurity> {
    const REQUIREMENT: &str = "a list of None or <policy>/<mode> such as Basic256Sha256/SignAndEncrypt";
    let Some(text) = env.optional_string("SIM_SECURITY") else {
        return vec![EndpointSecurity::NONE];
    };
    let mut list = Vec::new();
    for entry in text.split(|c: char| c == ',' || c.is_whitespace()).filter(|e| !e.is_empty()) {
        match EndpointSecurity::parse(entry) {
            Some(security) if !list.contains(&security) => list.push(security),
            Some(_) => env.invalid("SIM_SECURITY", entry, "each endpoint once"),
            None => env.invalid("SIM_SECURITY", entry, REQUIREMENT),
        }
    }
    if list.is_empty() {
        env.invalid("SIM_SECURITY", &text, REQUIREMENT);
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_on_loopback_4840() {
        let cfg = PlantSimConfig::from_env(&EnvVars::new()).unwrap();
        assert_eq!(cfg, PlantSimConfig::default());
        assert_eq!(cfg.endpoint_url(), "opc.tcp://127.0.0.1:4840/");
        assert_eq!(cfg.tick_ms, 500);
    }

    #[test]
    fn security_is_a_list_of_endpoints() {
        let cfg = PlantSimConfig::from_env(&EnvVars::new()).unwrap();
        assert_eq!((cfg.security, cfg.trust_clients), (vec![EndpointSecurity::NONE], true));
        let env = EnvVars::from([("SIM_SECURITY", "None, Basic256Sha256/SignAndEncrypt Aes256_Sha256_RsaPss/Sign")]);
        let listed: Vec<String> =
            PlantSimConfig::from_env(&env).unwrap().security.iter().map(ToString::to_string).collect();
        assert_eq!(listed, ["None", "Basic256Sha256/SignAndEncrypt", "Aes256_Sha256_RsaPss/Sign"]);
        for bad in ["Basic256Sha256", "None,None", " , "] {
            let env = EnvVars::from([("SIM_SECURITY", bad)]);
            assert!(PlantSimConfig::from_env(&env).unwrap_err().names_field("SIM_SECURITY"), "{bad}");
        }
    }

    #[test]
    fn scenario_and_seed_are_read_and_checked() {
        let env = EnvVars::from([("SIM_SCENARIO", "Vibration-Spike"), ("SIM_SEED", "42")]);
        let cfg = PlantSimConfig::from_env(&env).unwrap();
        assert_eq!((cfg.scenario, cfg.seed), (SimScenario::VibrationSpike, Some(42)));
        let env = EnvVars::from([("SIM_SCENARIO", "meltdown"), ("SIM_SEED", "-1")]);
        let err = PlantSimConfig::from_env(&env).unwrap_err();
        assert!(err.names_field("SIM_SCENARIO") && err.names_field("SIM_SEED"), "{err}");
    }

    #[test]
    fn user_certificates_must_name_existing_der_or_pem_files() {
        let env = EnvVars::from([("SIM_USER_CERTS", "operator=/nonexistent/operator.der")]);
        assert!(PlantSimConfig::from_env(&env).unwrap_err().names_field("SIM_USER_CERTS"));
        let env = EnvVars::from([("SIM_USER_CERTS", "operator")]);
        assert!(PlantSimConfig::from_env(&env).unwrap_err().names_field("SIM_USER_CERTS"));
    }

    #[test]
    fn a_zero_port_names_sim_port() {
        let env = EnvVars::from([("SIM_PORT", "0")]);
        let err = PlantSimConfig::from_env(&env).unwrap_err();
        assert!(err.names_field("SIM_PORT"), "{err}");
    }
}
