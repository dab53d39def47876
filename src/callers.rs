//! Who may ask for what. Callers are named in the configuration (`[[callers]]`); each is
//! identified by its mTLS client certificate (a URI SAN such as a SPIFFE ID, a DNS SAN, or the
//! subject CN), by a bearer token (`authorization: Bearer …`, known only by its SHA-256), or by
//! both, and is granted a list of tenants, images or not, and its own limits.
//!
//! A call is identified once, before anything else is done for it; a call that no rule
//! matches is refused with `CALLER_UNAUTHENTICATED`, unless the configuration sets
//! `allow_unauthenticated = true`: such a call is then served as the caller
//! [`UNAUTHENTICATED`], granted every tenant and images, under the server's limits only.

use std::sync::Arc;

use subtle::ConstantTimeEq as _;

use crate::error::{ErrorReason, ServiceError};

/// The name under which calls without an identity are served and counted when
/// `allow_unauthenticated = true`. No configured caller may take it.
pub const UNAUTHENTICATED: &str = "unauthenticated";

/// The metric label of calls refused before any caller was known.
pub const UNIDENTIFIED: &str = "unidentified";

/// The tenants a caller may ask about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantGrant {
    /// Every configured tenant (`tenants = ["*"]`).
    All,
    /// These tenants only.
    Only(Vec<String>),
}

impl TenantGrant {
    fn allows(&self, tenant: &str) -> bool {
        match self {
            TenantGrant::All => true,
            TenantGrant::Only(names) => names.iter().any(|n| n == tenant),
        }
    }
}

/// How a caller proves who it is. Every selector that is set must match: a caller with
/// certificate names and a token hash needs both the certificate and the token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IdentityRule {
    /// Client certificate URI SANs, any of which identifies the caller (SPIFFE IDs).
    pub uri_sans: Vec<String>,
    /// Client certificate DNS SANs, any of which identifies the caller.
    pub dns_sans: Vec<String>,
    /// Client certificate subject common names, any of which identifies the caller.
    pub common_names: Vec<String>,
    /// The SHA-256 of the caller's bearer token.
    pub token_sha256: Option<[u8; 32]>,
}

impl std::fmt::Debug for IdentityRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityRule")
            .field("uri_sans", &self.uri_sans)
            .field("dns_sans", &self.dns_sans)
            .field("common_names", &self.common_names)
            .field("token", &self.token_sha256.map(|_| "sha256:<redacted>"))
            .finish()
    }
}

impl IdentityRule {
    /// Whether the rule names any certificate identity.
    pub fn uses_certificate(&self) -> bool {
        !(self.uri_sans.is_empty() && self.dns_sans.is_empty() && self.common_names.is_empty())
    }

    fn certificate_matches(&self, names: &CertificateNames) -> bool {
        names.uris.iter().any(|n| self.uri_sans.contains(n))
            || names.dns.iter().any(|n| self.dns_sans.contains(n))
            || names
                .common_names
                .iter()
                .any(|n| self.common_names.contains(n))
    }
}

/// One configured caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Its name: what metrics, spans and audit records call it.
    pub name: &'static str,
    /// How it is recognised.
    pub identity: IdentityRule,
    /// The tenants it may ask about.
    pub tenants: TenantGrant,
    /// The tenant a request of this caller that names none asks about (none: the service's
    /// `default_tenant`).
    pub default_tenant: Option<String>,
    /// Whether it may ask for images.
    pub images: bool,
    /// Its Get and Evaluate calls in progress at most (none: only the server's limit).
    pub max_in_flight: Option<usize>,
    /// Its Watch streams open at most (none: only the server's limit).
    pub max_watches: Option<usize>,
}

impl Caller {
    /// The caller of calls without an identity when `allow_unauthenticated = true`.
    fn unauthenticated() -> Self {
        Self {
            name: UNAUTHENTICATED,
            identity: IdentityRule::default(),
            tenants: TenantGrant::All,
            default_tenant: None,
            images: true,
            max_in_flight: None,
            max_watches: None,
        }
    }

    /// The tenant a request asks about: the one it names, else the caller's default, else
    /// `service_default`.
    pub fn tenant_for<'a>(&'a self, named: Option<&'a str>, service_default: &'a str) -> &'a str {
        named
            .or(self.default_tenant.as_deref())
            .unwrap_or(service_default)
    }

    /// Refuses with `CALLER_NOT_PERMITTED` what the caller was not granted. The check comes
    /// before the tenant is looked up, so a caller learns nothing about tenants it may not use.
    pub fn authorize(&self, tenant: &str, images: bool) -> Result<(), ServiceError> {
        if !self.tenants.allows(tenant) {
            return Err(ServiceError::new(
                ErrorReason::CallerNotPermitted,
                format!("caller {} may not ask about tenant {tenant:?}", self.name),
            ));
        }
        if images && !self.images {
            return Err(ServiceError::new(
                ErrorReason::CallerNotPermitted,
                format!("caller {} may not ask for images", self.name),
            ));
        }
        Ok(())
    }
}

/// The configured callers.
#[derive(Debug, Clone)]
pub struct Callers {
    rules: Vec<Arc<Caller>>,
    unauthenticated: Option<Arc<Caller>>,
}

/// The names a client certificate carries.
#[derive(Debug, Default)]
struct CertificateNames {
    uris: Vec<String>,
    dns: Vec<String>,
    common_names: Vec<String>,
}

impl CertificateNames {
    /// The names of a DER certificate (the TLS handshake verified it against the client CA).
    /// A certificate that does not parse carries no names.
    fn of(der: &[u8]) -> Self {
        use x509_parser::extensions::GeneralName;
        let mut names = Self::default();
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return names;
        };
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::URI(uri) => names.uris.push((*uri).to_string()),
                    GeneralName::DNSName(dns) => names.dns.push((*dns).to_string()),
                    _ => {}
                }
            }
        }
        for cn in cert.subject().iter_common_name() {
            if let Ok(text) = cn.as_str() {
                names.common_names.push(text.to_string());
            }
        }
        names
    }
}

fn unauthenticated(message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorReason::CallerUnauthenticated, message)
}

/// The SHA-256 of a token, as configured (`token_sha256`).
pub fn token_sha256(token: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

impl Callers {
    /// Callers from their rules; `allow_unauthenticated` serves calls that match none.
    pub fn new(rules: Vec<Caller>, allow_unauthenticated: bool) -> Self {
        Self {
            rules: rules.into_iter().map(Arc::new).collect(),
            unauthenticated: allow_unauthenticated.then(|| Arc::new(Caller::unauthenticated())),
        }
    }

    /// The configured callers, in configuration order.
    pub fn rules(&self) -> &[Arc<Caller>] {
        &self.rules
    }

    /// Whether calls without an identity are served.
    pub fn allows_unauthenticated(&self) -> bool {
        self.unauthenticated.is_some()
    }

    /// Who is calling, from the client certificate (the leaf, verified by the TLS handshake)
    /// and the `authorization` metadata value. The first rule, in configuration order, whose
    /// every selector matches is the caller: with a token, a rule holding that token (and, if
    /// it names certificate names, matching the certificate); without one, a rule known by
    /// certificate alone. A bearer token that matches no caller is refused even when
    /// unauthenticated calls are allowed: it is a mistake an operator must see.
    pub fn identify(
        &self,
        certificate: Option<&[u8]>,
        authorization: Option<&[u8]>,
    ) -> Result<Arc<Caller>, ServiceError> {
        let token = match authorization {
            None => None,
            Some(value) => Some(bearer(value).ok_or_else(|| {
                unauthenticated("the authorization metadata is not \"Bearer <token>\"")
            })?),
        };
        let token_hash = token.map(token_sha256);
        let names = match certificate {
            Some(der) if self.rules.iter().any(|r| r.identity.uses_certificate()) => {
                Some(CertificateNames::of(der))
            }
            _ => None,
        };
        // A token presented decides among the callers that hold it; without one, only the
        // callers known by certificate alone can match.
        let found = self.rules.iter().find(|rule| {
            let identity = &rule.identity;
            let token_ok = match (&identity.token_sha256, &token_hash) {
                (Some(want), Some(got)) => bool::from(want.ct_eq(got)),
                (None, None) => true,
                _ => false,
            };
            let cert_ok = !identity.uses_certificate()
                || names
                    .as_ref()
                    .is_some_and(|n| identity.certificate_matches(n));
            token_ok && cert_ok
        });
        if let Some(rule) = found {
            return Ok(Arc::clone(rule));
        }
        if token_hash.is_some() {
            return Err(unauthenticated(
                "the bearer token belongs to no caller, or not to the caller of this client \
                 certificate",
            ));
        }
        self.unauthenticated.clone().ok_or_else(|| {
            unauthenticated(if certificate.is_some() || token_hash.is_some() {
                "no configured caller matches the client certificate and token presented"
            } else {
                "the call carries no identity (a client certificate or a bearer token)"
            })
        })
    }
}

/// The token of an `authorization: Bearer <token>` value (scheme case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(name: &'static str, identity: IdentityRule) -> Caller {
        Caller {
            name,
            identity,
            tenants: TenantGrant::Only(vec!["alpha".into()]),
            default_tenant: None,
            images: false,
            max_in_flight: None,
            max_watches: None,
        }
    }

    fn token_rule(token: &str) -> IdentityRule {
        IdentityRule {
            token_sha256: Some(token_sha256(token.as_bytes())),
            ..IdentityRule::default()
        }
    }

    #[test]
    fn tokens_are_matched_by_hash_and_unknown_ones_refused() {
        let callers = Callers::new(
            vec![caller("a", token_rule("ta")), caller("b", token_rule("tb"))],
            false,
        );
        assert_eq!(
            callers.identify(None, Some(b"Bearer tb")).unwrap().name,
            "b"
        );
        assert_eq!(
            callers.identify(None, Some(b"bearer  ta ")).unwrap().name,
            "a"
        );
        for bad in [&b"Bearer tc"[..], b"Basic dGE=", b"Bearer ", b"ta"] {
            let e = callers.identify(None, Some(bad)).unwrap_err();
            assert_eq!(e.reason, ErrorReason::CallerUnauthenticated, "{bad:?}");
        }
        let e = callers.identify(None, None).unwrap_err();
        assert_eq!(e.reason, ErrorReason::CallerUnauthenticated);
        // Allowed unauthenticated calls are served as the unauthenticated caller; a wrong
        // token still is not.
        let open = Callers::new(vec![caller("a", token_rule("ta"))], true);
        assert_eq!(open.identify(None, None).unwrap().name, UNAUTHENTICATED);
        assert!(open.identify(None, Some(b"Bearer tc")).is_err());
    }

    #[test]
    fn grants_are_checked() {
        let c = caller("a", token_rule("t"));
        assert!(c.authorize("alpha", false).is_ok());
        let e = c.authorize("beta", false).unwrap_err();
        assert_eq!(e.reason, ErrorReason::CallerNotPermitted);
        let e = c.authorize("alpha", true).unwrap_err();
        assert_eq!(e.reason, ErrorReason::CallerNotPermitted);
        assert_eq!(c.tenant_for(None, "default"), "default");
        assert_eq!(c.tenant_for(Some("x"), "default"), "x");
    }
}
