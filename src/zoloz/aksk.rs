//! AK/SK mode, ZOLOZ's newer alternative to RSA signatures (docs/protocol.md, AK/SK mode):
//! `Auth-Type: AKSK`, `Access-Key: <ak>`, and a bare `Signature` header holding
//! base64url-without-padding of HMAC-SHA256 over the same content as the RSA mode. No
//! encryption. Responses are checked in constant time.

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

use super::signing::content_to_sign;

/// The `Auth-Type` header value that selects this mode.
pub const AUTH_TYPE: &str = "AKSK";

/// An AK/SK secret key. Never printed.
#[derive(Clone)]
pub struct SecretKey(hmac::Key);

impl SecretKey {
    /// From raw key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// From the base64url text the ZOLOZ portal hands out (padding optional; surrounding
    /// whitespace ignored). `None` when the text is not base64url or is empty.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .or_else(|_| URL_SAFE.decode(text))
            .ok()
            .filter(|b| !b.is_empty())?;
        Some(Self::from_bytes(&bytes))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The bare `Signature` header value: base64url (no padding) of HMAC-SHA256 over the content.
pub fn sign(key: &SecretKey, path: &str, client_id: &str, time: &str, body: &[u8]) -> String {
    let tag = hmac::sign(&key.0, &content_to_sign(path, client_id, time, body));
    URL_SAFE_NO_PAD.encode(tag.as_ref())
}

/// Checks a bare `Signature` value in constant time. Padding on the received value is
/// tolerated; anything that is not base64url fails.
pub fn verify(
    key: &SecretKey,
    path: &str,
    client_id: &str,
    time: &str,
    body: &[u8],
    signature: &str,
) -> bool {
    let signature = signature.trim().trim_end_matches('=');
    let Ok(tag) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    hmac::verify(&key.0, &content_to_sign(path, client_id, time, body), &tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_parsing_refuses_garbage_and_debug_hides_it() {
        assert!(SecretKey::parse("").is_none());
        assert!(SecretKey::parse("not base64url!").is_none());
        let key = SecretKey::parse("AAECAw").unwrap();
        assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
    }

    #[test]
    fn verify_rejects_tampering() {
        let key = SecretKey::from_bytes(b"secret");
        let sig = sign(&key, "/p", "1", "t", b"{}");
        assert!(verify(&key, "/p", "1", "t", b"{}", &sig));
        assert!(!verify(&key, "/p", "1", "t", b"{ }", &sig));
        assert!(!verify(&key, "/q", "1", "t", b"{}", &sig));
        assert!(!verify(&key, "/p", "1", "t", b"{}", "AAAA"));
        assert!(!verify(&key, "/p", "1", "t", b"{}", "%%%"));
    }
}
