//! OPC UA settings that the client node (`opcua-source`) and the server node
//! (`plant-sim`) must spell alike: security policies, message security
//! modes and user identities.
//!
//! # Layout
//! - [`security`]: `None` or `<policy>/<mode>` endpoint security, and who a
//!   client logs in as.

pub mod security;

pub use security::{EndpointSecurity, SecurityMode, SecurityPolicyName, UserIdentity};
