//! `plant-sim`: an OPC UA server that simulates a small CNC cell and a
//! packaging line, so a dataflow has a realistic data source without any
//! plant hardware.
//!
//! The `plant-sim` dora node (`nodes/plant-sim`) serves it until dora says
//! stop; `shopfloor sim --run-for-secs N` serves it without dora, for N
//! seconds or until Ctrl-C; tests serve it in-process on a loopback port
//! ([`server::serve`]).
//!
//! # What it serves
//!
//! Endpoint `opc.tcp://{SIM_HOST}:{SIM_PORT}/`, with one endpoint per entry of
//! `SIM_SECURITY` (default: policy None only) and anonymous login (or the
//! accounts of `SIM_USERS_FILE`). Namespace `urn:shopfloor-slm:plant-sim` is index 2. Under
//! `Objects/Cell1`:
//!
//! | Node id                                    | Type   | Unit | Meaning                                   |
//! |--------------------------------------------|--------|------|-------------------------------------------|
//! | `ns=2;s=Cell1.SpindleTemperature`          | Double | °C   | 60..85, above the limit part of each cycle |
//! | `ns=2;s=Cell1.SpindleSpeed`                | Double | rpm  | ~12000 roughing, ~8000 finishing, 0 stopped |
//! | `ns=2;s=Cell1.Vibration`                   | Double | mm/s | ~1.0..2.6 cutting, ~0.1 stopped            |
//! | `ns=2;s=Cell1.PartCount`                   | UInt32 |      | parts finished since start                 |
//! | `ns=2;s=Cell1.MachineState`                | String |      | `RUNNING`, `TOOL_CHANGE` or `IDLE`         |
//! | `ns=2;s=Cell1.SpindleTemperatureHighLimit` | Double | °C   | constant 80.0                              |
//!
//! Under `Objects/Line1`, the packaging line ([`line`]):
//!
//! | Node id                        | Type    | Unit  | Meaning                                |
//! |--------------------------------|---------|-------|----------------------------------------|
//! | `ns=2;s=Line1.ConveyorSpeed`   | Double  | m/min | ~24 running, 0 jammed                  |
//! | `ns=2;s=Line1.FillWeight`      | Double  | g     | ~500 ± 1.5                             |
//! | `ns=2;s=Line1.PackageCount`    | UInt32  |       | packages since start                   |
//! | `ns=2;s=Line1.JamAlarm`        | Boolean |       | true while jammed                      |
//! | `ns=2;s=Line1.LineState`       | String  |       | `RUNNING` or `JAMMED`                  |
//!
//! Analog variables have `EngineeringUnits` and `EURange` properties
//! (temperature 0..150 °C, speed 0..15000 rpm, vibration 0..20 mm/s, conveyor
//! 0..60 m/min, fill weight 0..1000 g). All but the limit change every
//! `SIM_TICK_MS` (values from [`scenario::Simulation`]: the scenario of
//! `SIM_SCENARIO` — `normal`, `overheat`, `vibration_spike`, `stoppage` —
//! with seeded noise when `SIM_SEED` is set; deterministic, with source
//! timestamps) and reach subscribed clients as data changes. [`nodes`] has the same table as code, including ready-made
//! `OPCUA_TAGS` lines ([`nodes::simulated_tag_lines`]).
//!
//! # Dataflow configuration
//!
//! ```yaml
//! - id: plant-sim
//!   path: ../target/release/plant-sim
//!   env:
//!     SIM_HOST: 127.0.0.1   # default
//!     SIM_PORT: "4840"      # default
//!     SIM_TICK_MS: "500"    # default, 10..=60000
//!     SIM_SCENARIO: overheat # default normal; vibration_spike, stoppage
//!     SIM_SEED: "42"        # default: no noise
//!     SIM_SECURITY: "None, Basic256Sha256/SignAndEncrypt"   # default: None
//!     SIM_USERS_FILE: /etc/shopfloor/sim-users   # `user:password` lines; default: anonymous
//!     SIM_USER_CERTS: "operator=/etc/shopfloor/operator.der"   # X.509 user logins
//!     SIM_PKI_DIR: /var/lib/shopfloor/sim-pki    # default: under the temp dir
//!     SIM_TRUST_CLIENTS: "true"                  # default: any client certificate is accepted
//! ```
//!
//! Security settings are `None` or `<policy>/<mode>` with the policies
//! Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss and the modes
//! Sign, SignAndEncrypt. The server makes a self-signed key pair (for
//! `localhost`, the loopback addresses and the host name) in its PKI folder on
//! first start, by default `$TMPDIR/shopfloor-slm/plant-sim-pki`
//! ([`server::ServerOptions`]).

pub mod address_space;
pub mod cell;
pub mod config;
pub mod line;
pub mod nodes;
pub mod scenario;
pub mod server;
