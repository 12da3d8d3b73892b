//! Node configuration from the dataflow's `env:`.
//!
//! dora passes a node's `env:` block as environment variables. Each node has a
//! config struct here, parsed in two steps: raw strings from the environment,
//! then validated values. Every problem is reported at once, and each names the
//! variable, the value and what was expected. Variables that carry a node's
//! prefix but are not known to it (a typo like `SLM_MAX_TOKEN`) are errors too,
//! never silently ignored.

mod alerts;
mod broker;
mod camera;
mod env;
mod filter;
mod gateway;
mod limit_alarms;
mod mqtt;
mod opcua_source;
mod outbox;
mod opcua_security;
mod plant_sim;
mod recording;
mod router;
mod secrets;
mod slm;
mod telemetry;
mod vlm;

pub use alerts::AlertDeliveryConfig;
pub use broker::{BrokerTls, EmbeddedBrokerConfig};
pub use camera::{CameraSourceConfig, FrameOutput};
pub use filter::DefectFilterConfig;
pub use vlm::VlmInspectorConfig;
pub use gateway::GatewayConfig;
pub use limit_alarms::LimitAlarmsConfig;
pub use env::{process_env, ConfigError, ConfigProblem, EnvReader, EnvVars};
pub use mqtt::{BrokerTarget, Credentials, MqttConfig, TlsSettings};
pub use opcua_security::{EndpointSecurity, SecurityMode, SecurityPolicyName, UserIdentity};
pub use secrets::Secret;
pub use opcua_source::{Deadband, Monitoring, OpcuaClientSecurity, OpcuaSourceConfig, TagSpec};
pub use outbox::OutboxConfig;
pub use plant_sim::{PlantSimConfig, SimScenario};
pub use recording::{is_dora_id, OutputRef, RecorderConfig, ReplayerConfig};
pub use router::{ClassTarget, HttpTierConfig, RedactRule, RouterConfig, TierKind, TierSpec, DEFAULT_REFUSAL, QUESTION_CLASSES};
pub use slm::{SlmConfig, ToolMode};
pub use telemetry::{
    parse_path, render_tag, valid_filter, FieldMapping, PathStep, PayloadFormat, TelemetryConfig, TelemetrySubscription,
};
