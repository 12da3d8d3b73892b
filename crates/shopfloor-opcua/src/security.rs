//! OPC UA security settings shared by `opcua-source` (what it asks for) and
//! `plant-sim` (what it offers), so both spell policies and modes alike.

use std::path::PathBuf;

use shopfloor_core::env::Secret;

/// The security policies this project supports: None and the three current
/// RSA policies of OPC UA 1.04/1.05 (the deprecated Basic128Rsa15 and
/// Basic256 are left out on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityPolicyName {
    /// No signing or encryption.
    None,
    /// `Basic256Sha256`.
    Basic256Sha256,
    /// `Aes128_Sha256_RsaOaep`.
    Aes128Sha256RsaOaep,
    /// `Aes256_Sha256_RsaPss`.
    Aes256Sha256RsaPss,
}

impl SecurityPolicyName {
    /// Every supported policy, in the order of the OPC UA specification.
    pub const ALL: [SecurityPolicyName; 4] = [
        SecurityPolicyName::None,
        SecurityPolicyName::Basic256Sha256,
        SecurityPolicyName::Aes128Sha256RsaOaep,
        SecurityPolicyName::Aes256Sha256RsaPss,
    ];

    /// What a setting may say, for error messages.
    pub const CHOICES: &'static str = "None, Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss";

    /// The policy's name as the OPC UA specification writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityPolicyName::None => "None",
            SecurityPolicyName::Basic256Sha256 => "Basic256Sha256",
            SecurityPolicyName::Aes128Sha256RsaOaep => "Aes128_Sha256_RsaOaep",
            SecurityPolicyName::Aes256Sha256RsaPss => "Aes256_Sha256_RsaPss",
        }
    }

    /// The policy's URI, the one name every OPC UA stack agrees on.
    pub fn uri(self) -> String {
        format!("http://opcfoundation.org/UA/SecurityPolicy#{}", self.as_str())
    }

    /// Parses a policy name, ignoring case and underscores.
    pub fn parse(text: &str) -> Option<SecurityPolicyName> {
        let wanted = simplify(text);
        Self::ALL.into_iter().find(|policy| simplify(policy.as_str()) == wanted)
    }
}

/// How messages are protected under a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityMode {
    /// Neither signed nor encrypted (only with policy None).
    None,
    /// Signed.
    Sign,
    /// Signed and encrypted.
    SignAndEncrypt,
}

impl SecurityMode {
    /// What a setting may say, for error messages.
    pub const CHOICES: &'static str = "None, Sign or SignAndEncrypt";

    /// The mode's name as the OPC UA specification writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityMode::None => "None",
            SecurityMode::Sign => "Sign",
            SecurityMode::SignAndEncrypt => "SignAndEncrypt",
        }
    }

    /// Parses a mode name, ignoring case and underscores.
    pub fn parse(text: &str) -> Option<SecurityMode> {
        [SecurityMode::None, SecurityMode::Sign, SecurityMode::SignAndEncrypt]
            .into_iter()
            .find(|mode| simplify(mode.as_str()) == simplify(text))
    }
}

/// A policy with a mode that fits it: None with None, any other policy with
/// Sign or SignAndEncrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndpointSecurity {
    pub policy: SecurityPolicyName,
    /// The message security mode.
    pub mode: SecurityMode,
}

impl Default for EndpointSecurity {
    fn default() -> Self {
        Self::NONE
    }
}

impl EndpointSecurity {
    /// No security at all.
    pub const NONE: EndpointSecurity = EndpointSecurity { policy: SecurityPolicyName::None, mode: SecurityMode::None };

    /// `policy` with `mode`, or `None` when they do not fit together.
    pub fn new(policy: SecurityPolicyName, mode: SecurityMode) -> Option<EndpointSecurity> {
        let fits = (policy == SecurityPolicyName::None) == (mode == SecurityMode::None);
        fits.then_some(EndpointSecurity { policy, mode })
    }

    /// `None`, or `<policy>/<mode>` such as `Basic256Sha256/SignAndEncrypt`.
    pub fn parse(text: &str) -> Option<EndpointSecurity> {
        match text.split_once('/') {
            None => Self::new(SecurityPolicyName::parse(text)?, SecurityMode::None),
            Some((policy, mode)) => Self::new(SecurityPolicyName::parse(policy)?, SecurityMode::parse(mode)?),
        }
    }

    /// True when messages are signed (and maybe encrypted).
    pub fn is_secured(self) -> bool {
        self.policy != SecurityPolicyName::None
    }
}

impl std::fmt::Display for EndpointSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.policy {
            SecurityPolicyName::None => f.write_str("None"),
            policy => write!(f, "{}/{}", policy.as_str(), self.mode.as_str()),
        }
    }
}

/// Who the client logs in as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UserIdentity {
    /// No user.
    #[default]
    Anonymous,
    /// A user name and password (the password never reaches a log).
    UserName { user: String, password: Secret },
    /// An X.509 user certificate and its private key (PEM or DER files).
    Certificate { cert_file: PathBuf, key_file: PathBuf },
}

impl UserIdentity {
    /// A short, secret-free description for logs: `anonymous`,
    /// `user <name>` or `certificate <file>`.
    pub fn describe(&self) -> String {
        match self {
            UserIdentity::Anonymous => "anonymous".to_owned(),
            UserIdentity::UserName { user, .. } => format!("user {user}"),
            UserIdentity::Certificate { cert_file, .. } => format!("certificate {}", cert_file.display()),
        }
    }
}

fn simplify(text: &str) -> String {
    text.trim().chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_as_the_specification_spells_them_or_loosely() {
        for policy in SecurityPolicyName::ALL {
            assert_eq!(SecurityPolicyName::parse(policy.as_str()), Some(policy));
        }
        assert_eq!(SecurityPolicyName::parse("aes128-sha256-rsaoaep"), Some(SecurityPolicyName::Aes128Sha256RsaOaep));
        assert_eq!(SecurityPolicyName::parse("Basic128Rsa15"), None);
    }

    #[test]
    fn a_policy_needs_a_mode_that_fits_it() {
        assert_eq!(EndpointSecurity::parse("None"), Some(EndpointSecurity::NONE));
        let secured = EndpointSecurity::parse("Basic256Sha256/SignAndEncrypt").unwrap();
        assert_eq!((secured.policy, secured.mode), (SecurityPolicyName::Basic256Sha256, SecurityMode::SignAndEncrypt));
        assert_eq!(secured.to_string(), "Basic256Sha256/SignAndEncrypt");
        assert!(secured.is_secured());
        assert_eq!(EndpointSecurity::parse("Basic256Sha256"), None, "a policy without a mode");
        assert_eq!(EndpointSecurity::parse("None/Sign"), None);
        assert_eq!(EndpointSecurity::parse("Basic256Sha256/Encrypt"), None);
    }

    #[test]
    fn identities_describe_themselves_without_secrets() {
        let user = UserIdentity::UserName { user: "op".into(), password: Secret::new("hunter2".into()) };
        assert_eq!(user.describe(), "user op");
        assert!(!format!("{user:?}").contains("hunter2"));
    }
}
