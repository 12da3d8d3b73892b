//! Security: picking the server endpoint that matches the configured policy,
//! mode and identity, checking the server's certificate against the PKI
//! folder, and turning async-opcua's status codes into advice an operator can
//! act on.
//!
//! The PKI folder (`OPCUA_PKI_DIR`) has async-opcua's layout: `own/cert.der`
//! and `private/private.pem` (the client's key pair, made on first start),
//! `trusted/` (server certificates this client trusts) and `rejected/` (server
//! certificates it refused; move one to `trusted/` to trust that server).

use std::path::{Path, PathBuf};

use opcua::client::{Client, IdentityToken};
use opcua::crypto::{CertificateStore, SecurityPolicy, X509};
use opcua::types::{EndpointDescription, MessageSecurityMode, StatusCode, UserTokenType};
use shopfloor_opcua::{EndpointSecurity, SecurityMode, SecurityPolicyName, UserIdentity};

/// Why the configured endpoint cannot be used (yet).
#[derive(Debug, thiserror::Error)]
pub enum EndpointProblem {
    /// GetEndpoints got no answer in time (server absent, network down).
    #[error("cannot read the server's endpoints: no answer within {seconds} s")]
    NoAnswer { seconds: u64 },
    /// GetEndpoints failed (server absent, network down).
    #[error("cannot read the server's endpoints")]
    Unreachable(#[source] opcua::types::Error),
    /// The server has no endpoint with the configured policy and mode.
    #[error(
        "the server offers no endpoint with security {wanted}; it offers {offered} \
         (set OPCUA_SECURITY_POLICY and OPCUA_SECURITY_MODE to one of these)"
    )]
    NoMatchingEndpoint {
        wanted: String,
        /// What the server offers, e.g. `None, Basic256Sha256/SignAndEncrypt`.
        offered: String,
    },
    /// The endpoint exists but does not take this kind of login.
    #[error("the server's {security} endpoint does not accept a {identity} login; it accepts: {accepted}")]
    LoginNotAccepted { security: String, identity: &'static str, accepted: String },
    /// The server's certificate is not in `trusted/`.
    #[error(
        "the server's certificate is not trusted; it is saved as {} — to trust this server, move that file into {}/ \
         (or set OPCUA_TRUST_UNKNOWN_SERVER=true to trust any server on first contact)",
        rejected.display(), trusted_dir.display()
    )]
    Untrusted { rejected: PathBuf, trusted_dir: PathBuf },
    #[error("the server's certificate is not acceptable: the server sent no readable certificate")]
    UnreadableCertificate(#[source] opcua::types::Error),
    /// async-opcua's reason (a type that is not an error type) says only
    /// "cannot parse" or "no host", which the URL shows as well.
    #[error("the server's certificate is not acceptable: cannot read a host name from its endpoint URL {url}")]
    NoHostName { url: String },
    /// The certificate is trusted but unusable (expired, wrong host name,
    /// wrong application URI, key too short for the policy).
    #[error("the server's certificate is not acceptable")]
    BadCertificate(#[source] opcua::types::Error),
}

impl EndpointProblem {
    /// Whether retrying later may help without anyone changing anything
    /// (the server is just not there yet).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, EndpointProblem::NoAnswer { .. } | EndpointProblem::Unreachable(_))
    }
}

/// A user certificate or its key cannot be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read the user certificate {} or its key {} (OPCUA_USER_CERT, OPCUA_USER_KEY)",
    cert_file.display(),
    key_file.display()
)]
pub struct IdentityError {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    #[source]
    pub source: opcua::types::Error,
}

/// `error` and its sources, joined by `: `, for status reasons and log
/// fields that carry the whole story in one line.
pub use shopfloor_node::logging::with_causes as full_message;

/// async-opcua's policy, found by URI (its short names differ from the specification's).
pub fn policy(name: SecurityPolicyName) -> SecurityPolicy {
    SecurityPolicy::from_uri(&name.uri())
}

/// async-opcua's message security mode.
pub fn mode(mode: SecurityMode) -> MessageSecurityMode {
    match mode {
        SecurityMode::None => MessageSecurityMode::None,
        SecurityMode::Sign => MessageSecurityMode::Sign,
        SecurityMode::SignAndEncrypt => MessageSecurityMode::SignAndEncrypt,
    }
}

/// The identity as async-opcua's token; a certificate file that cannot be
/// read is an error naming the file.
pub fn identity_token(identity: &UserIdentity) -> Result<IdentityToken, IdentityError> {
    Ok(match identity {
        UserIdentity::Anonymous => IdentityToken::Anonymous,
        UserIdentity::UserName { user, password } => IdentityToken::new_user_name(user.as_str(), password.expose()),
        UserIdentity::Certificate { cert_file, key_file } => IdentityToken::new_x509_path(cert_file, key_file)
            .map_err(|source| IdentityError { cert_file: cert_file.clone(), key_file: key_file.clone(), source })?,
    })
}

/// The endpoint of `endpoints` that has `security` and accepts `identity`,
/// with its URL's host replaced by the one in `url` (servers often advertise
/// a host name the client cannot resolve).
pub fn choose_endpoint(
    endpoints: &[EndpointDescription],
    url: &str,
    security: EndpointSecurity,
    identity: &UserIdentity,
) -> Result<EndpointDescription, EndpointProblem> {
    let Some(endpoint) = Client::find_matching_endpoint(endpoints, url, policy(security.policy), mode(security.mode))
    else {
        return Err(EndpointProblem::NoMatchingEndpoint { wanted: security.to_string(), offered: offered(endpoints) });
    };
    let wanted = token_type(identity);
    let accepted: Vec<UserTokenType> =
        endpoint.user_identity_tokens.iter().flatten().map(|policy| policy.token_type).collect();
    // No list at all: the server says nothing, and anonymous is assumed.
    let accepts = accepted.contains(&wanted) || (accepted.is_empty() && wanted == UserTokenType::Anonymous);
    if !accepts {
        return Err(EndpointProblem::LoginNotAccepted {
            security: security.to_string(),
            identity: token_name(wanted),
            accepted: accepted.iter().map(|t| token_name(*t)).collect::<Vec<_>>().join(", "),
        });
    }
    Ok(endpoint)
}

/// Checks the endpoint's server certificate against the PKI folder, as the
/// session will when it connects, so that a trust problem is reported before
/// the first attempt, with the way out. An unknown certificate lands in
/// `rejected/` (or in `trusted/` when unknown servers are trusted).
pub fn check_server_certificate(
    store: &CertificateStore,
    endpoint: &EndpointDescription,
) -> Result<(), EndpointProblem> {
    let certificate =
        X509::from_byte_string(&endpoint.server_certificate).map_err(EndpointProblem::UnreadableCertificate)?;
    let host = opcua::core::comms::url::hostname_from_url(endpoint.endpoint_url.as_ref())
        .map_err(|_| EndpointProblem::NoHostName { url: endpoint.endpoint_url.to_string() })?;
    let policy = SecurityPolicy::from_uri(endpoint.security_policy_uri.as_ref());
    let application_uri = endpoint.server.application_uri.as_ref();
    match store.validate_or_reject_application_instance_cert(&certificate, policy, Some(&host), Some(application_uri)) {
        Ok(()) => Ok(()),
        Err(err) => {
            let rejected = store.rejected_certs_dir().join(CertificateStore::cert_file_name(&certificate));
            if rejected.exists() {
                Err(EndpointProblem::Untrusted { rejected, trusted_dir: store.trusted_certs_dir() })
            } else {
                Err(EndpointProblem::BadCertificate(err))
            }
        }
    }
}

/// What an operator should do about a failed connection attempt, for the
/// status codes that have a clear cause; `None` for the others (network
/// errors, server busy), which retrying fixes.
pub fn advice(code: StatusCode, pki_dir: &Path) -> Option<String> {
    let own_cert = pki_dir.join("own").join("cert.der");
    let rejected = pki_dir.join("rejected");
    Some(match code {
        StatusCode::BadUserAccessDenied
        | StatusCode::BadIdentityTokenRejected
        | StatusCode::BadIdentityTokenInvalid => {
            "the server refused the login: check OPCUA_USER and OPCUA_PASSWORD (or OPCUA_PASSWORD_FILE), \
             or OPCUA_USER_CERT and OPCUA_USER_KEY"
                .to_owned()
        }
        StatusCode::BadSecurityChecksFailed | StatusCode::BadCertificateUntrusted => format!(
            "a certificate was refused: the server may not trust this client's certificate {} (trust it on the \
             server), or the server's certificate is in {} (move it to trusted/)",
            own_cert.display(),
            rejected.display()
        ),
        StatusCode::BadCertificateHostNameInvalid => {
            "the server's certificate does not name the host in OPCUA_ENDPOINT: use a host name its certificate lists"
                .to_owned()
        }
        StatusCode::BadCertificateUriInvalid => {
            "the server's certificate does not match its application URI".to_owned()
        }
        StatusCode::BadCertificateTimeInvalid | StatusCode::BadCertificateIssuerTimeInvalid => {
            "a certificate has expired or is not valid yet (check both clocks)".to_owned()
        }
        StatusCode::BadCertificateInvalid => {
            "a certificate is invalid; if the server's certificate changed, restart this node to read it again"
                .to_owned()
        }
        StatusCode::BadSecurityPolicyRejected | StatusCode::BadSecurityModeRejected => {
            "the server refused the security policy or mode: check OPCUA_SECURITY_POLICY and OPCUA_SECURITY_MODE"
                .to_owned()
        }
        _ => return None,
    })
}

/// The kind of user token an identity needs.
fn token_type(identity: &UserIdentity) -> UserTokenType {
    match identity {
        UserIdentity::Anonymous => UserTokenType::Anonymous,
        UserIdentity::UserName { .. } => UserTokenType::UserName,
        UserIdentity::Certificate { .. } => UserTokenType::Certificate,
    }
}

fn token_name(token: UserTokenType) -> &'static str {
    match token {
        UserTokenType::Anonymous => "anonymous",
        UserTokenType::UserName => "user name",
        UserTokenType::Certificate => "certificate",
        _ => "issued token",
    }
}

/// `None, Basic256Sha256/SignAndEncrypt, ...` as the server lists them.
fn offered(endpoints: &[EndpointDescription]) -> String {
    let mut names: Vec<String> = Vec::new();
    for endpoint in endpoints {
        let policy = SecurityPolicy::from_uri(endpoint.security_policy_uri.as_ref());
        let name = match (policy, endpoint.security_mode) {
            (SecurityPolicy::None, _) => "None".to_owned(),
            (SecurityPolicy::Unknown, mode) => format!("{}/{mode}", endpoint.security_policy_uri),
            (policy, mode) => format!("{}/{mode}", policy.to_str()),
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        "no endpoints".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opcua::types::{ApplicationDescription, UserTokenPolicy};
    use shopfloor_core::env::Secret;

    fn endpoint(
        policy: SecurityPolicy,
        mode: MessageSecurityMode,
        tokens: Vec<UserTokenPolicy>,
    ) -> EndpointDescription {
        EndpointDescription {
            endpoint_url: "opc.tcp://plc-advertised-name:4840/".into(),
            security_policy_uri: policy.to_uri().into(),
            security_mode: mode,
            user_identity_tokens: Some(tokens),
            server: ApplicationDescription::default(),
            ..Default::default()
        }
    }

    fn server() -> Vec<EndpointDescription> {
        vec![
            endpoint(SecurityPolicy::None, MessageSecurityMode::None, vec![UserTokenPolicy::anonymous()]),
            endpoint(
                SecurityPolicy::Basic256Sha256,
                MessageSecurityMode::SignAndEncrypt,
                vec![UserTokenPolicy { token_type: UserTokenType::UserName, ..UserTokenPolicy::anonymous() }],
            ),
        ]
    }

    fn secured(text: &str) -> EndpointSecurity {
        EndpointSecurity::parse(text).unwrap()
    }

    #[test]
    fn every_supported_policy_is_known_to_async_opcua() {
        for name in SecurityPolicyName::ALL {
            assert_ne!(policy(name), SecurityPolicy::Unknown, "{}", name.as_str());
            assert_eq!(policy(name).to_uri(), name.uri());
        }
    }

    #[test]
    fn the_matching_endpoint_is_chosen_with_the_configured_host() {
        let user = UserIdentity::UserName { user: "op".into(), password: Secret::new("pw".into()) };
        let chosen =
            choose_endpoint(&server(), "opc.tcp://10.0.0.5:4840/", secured("Basic256Sha256/SignAndEncrypt"), &user)
                .unwrap();
        assert_eq!(chosen.security_mode, MessageSecurityMode::SignAndEncrypt);
        assert_eq!(chosen.endpoint_url.as_ref(), "opc.tcp://10.0.0.5:4840/");
    }

    #[test]
    fn a_missing_security_setting_lists_what_the_server_offers() {
        let err = choose_endpoint(
            &server(),
            "opc.tcp://h:4840/",
            secured("Aes256_Sha256_RsaPss/Sign"),
            &UserIdentity::Anonymous,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the server offers no endpoint with security Aes256_Sha256_RsaPss/Sign; it offers None, \
             Basic256Sha256/SignAndEncrypt (set OPCUA_SECURITY_POLICY and OPCUA_SECURITY_MODE to one of these)"
        );
    }

    #[test]
    fn a_login_the_endpoint_does_not_take_is_named() {
        let err = choose_endpoint(
            &server(),
            "opc.tcp://h:4840/",
            secured("Basic256Sha256/SignAndEncrypt"),
            &UserIdentity::Anonymous,
        )
        .unwrap_err();
        assert!(matches!(err, EndpointProblem::LoginNotAccepted { identity: "anonymous", .. }), "{err}");
        assert!(err.to_string().ends_with("it accepts: user name"), "{err}");
    }

    #[test]
    fn login_and_trust_failures_get_advice_and_network_failures_none() {
        let pki = Path::new("/var/lib/shopfloor/pki");
        let login = advice(StatusCode::BadUserAccessDenied, pki).unwrap();
        assert!(login.contains("OPCUA_USER"), "{login}");
        let trust = advice(StatusCode::BadSecurityChecksFailed, pki).unwrap();
        assert!(
            trust.contains("/var/lib/shopfloor/pki/own/cert.der") && trust.contains("/var/lib/shopfloor/pki/rejected"),
            "{trust}"
        );
        assert_eq!(advice(StatusCode::BadCommunicationError, pki), None);
        assert_eq!(advice(StatusCode::BadTimeout, pki), None);
    }

    #[test]
    fn an_unreadable_user_certificate_names_the_files() {
        let identity = UserIdentity::Certificate {
            cert_file: "/nonexistent/user.der".into(),
            key_file: "/nonexistent/user.pem".into(),
        };
        let err = identity_token(&identity).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/user.der") && err.contains("OPCUA_USER_CERT"), "{err}");
    }
}
