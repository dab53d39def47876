//! RSA key material for the ZOLOZ protocol: parsing every format integrators are handed
//! (PEM PKCS#8 / PKCS#1 / SPKI, the portal's bare Base64 DER, raw DER), generation for the
//! simulator and the demo, and the four primitives the protocol needs (PKCS#1 v1.5 SHA-256
//! sign and verify, PKCS#1 v1.5 key wrapping). Everything goes through aws-lc-rs; key bytes
//! never reach `Debug` output.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeyPair, KeySize, Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey,
};
use aws_lc_rs::signature::{
    KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// Why a key could not be used. Messages name the problem, never the key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read key file {path}: {reason}")]
    Io {
        /// The path that failed.
        path: String,
        /// The I/O error text.
        reason: String,
    },
    /// The text is neither PEM, Base64 DER nor DER.
    #[error("not a key: expected PEM, bare Base64 DER or DER ({0})")]
    Encoding(String),
    /// A PEM block of a kind this service cannot use.
    #[error("unsupported PEM block {0:?}")]
    UnsupportedPem(String),
    /// A private key where a public key was expected or the other way round.
    #[error("expected a {expected} key, found a {found} key")]
    WrongKind {
        /// What the caller needed.
        expected: &'static str,
        /// What the input holds.
        found: &'static str,
    },
    /// DER that is not an acceptable RSA key (wrong algorithm, under 2048 bits, malformed).
    #[error("not an acceptable RSA key ({0})")]
    Rejected(String),
}

/// What a decoded input claims to be.
enum Der {
    /// A PKCS#8 `PrivateKeyInfo` (PEM `PRIVATE KEY`).
    Pkcs8(Vec<u8>),
    /// A PKCS#1 `RSAPrivateKey` (PEM `RSA PRIVATE KEY`).
    Pkcs1Private(Vec<u8>),
    /// An X.509 `SubjectPublicKeyInfo` (PEM `PUBLIC KEY`).
    Spki(Vec<u8>),
    /// A PKCS#1 `RSAPublicKey` (PEM `RSA PUBLIC KEY`).
    Pkcs1Public(Vec<u8>),
    /// DER without a label (bare Base64 or a binary file): the caller tries the formats.
    Unlabelled(Vec<u8>),
}

fn decode(input: &[u8]) -> Result<Der, KeyError> {
    if input.first() == Some(&0x30) {
        return Ok(Der::Unlabelled(input.to_vec()));
    }
    let text = std::str::from_utf8(input)
        .map_err(|_| KeyError::Encoding("neither UTF-8 text nor DER".into()))?;
    if let Some(start) = text.find("-----BEGIN ") {
        let rest = &text[start + "-----BEGIN ".len()..];
        let label_end = rest
            .find("-----")
            .ok_or_else(|| KeyError::Encoding("unterminated PEM header".into()))?;
        let label = &rest[..label_end];
        let body_start = label_end + "-----".len();
        let end_marker = format!("-----END {label}-----");
        let body_end = rest[body_start..]
            .find(&end_marker)
            .ok_or_else(|| KeyError::Encoding(format!("missing {end_marker:?}")))?;
        let body = &rest[body_start..body_start + body_end];
        if body.contains(':') {
            return Err(KeyError::UnsupportedPem(format!(
                "{label} with headers (an encrypted key?)"
            )));
        }
        let der = base64_der(body)?;
        return match label {
            "PRIVATE KEY" => Ok(Der::Pkcs8(der)),
            "RSA PRIVATE KEY" => Ok(Der::Pkcs1Private(der)),
            "PUBLIC KEY" => Ok(Der::Spki(der)),
            "RSA PUBLIC KEY" => Ok(Der::Pkcs1Public(der)),
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::UnsupportedPem(
                "ENCRYPTED PRIVATE KEY (decrypt it first: openssl pkcs8 -in KEY -nocrypt)".into(),
            )),
            other => Err(KeyError::UnsupportedPem(other.to_string())),
        };
    }
    Ok(Der::Unlabelled(base64_der(text)?))
}

fn base64_der(text: &str) -> Result<Vec<u8>, KeyError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(KeyError::Encoding("empty".into()));
    }
    let der = STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| KeyError::Encoding(format!("bad Base64: {e}")))?;
    if der.first() != Some(&0x30) {
        return Err(KeyError::Encoding(
            "Base64 that does not decode to DER".into(),
        ));
    }
    Ok(der)
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| KeyError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

fn rejected(e: impl fmt::Display) -> KeyError {
    KeyError::Rejected(e.to_string())
}

/// An RSA private key: the merchant key in the service (signs requests, unwraps response AES
/// keys) or the ZOLOZ key in the simulator (signs responses, unwraps request AES keys).
pub struct PrivateKey {
    pair: KeyPair,
    decrypting: Pkcs1PrivateDecryptingKey,
    public: PublicKey,
}

impl PrivateKey {
    /// Parses PEM (`PRIVATE KEY` or `RSA PRIVATE KEY`), bare Base64 DER or DER.
    pub fn parse(input: &[u8]) -> Result<Self, KeyError> {
        let pair = match decode(input)? {
            Der::Pkcs8(der) => KeyPair::from_pkcs8(&der).map_err(rejected)?,
            Der::Pkcs1Private(der) => KeyPair::from_der(&der).map_err(rejected)?,
            Der::Unlabelled(der) => KeyPair::from_pkcs8(&der)
                .or_else(|_| KeyPair::from_der(&der))
                .map_err(|e| {
                    if PublicKey::from_der(&der).is_ok() {
                        wrong_kind_public()
                    } else {
                        rejected(e)
                    }
                })?,
            Der::Spki(_) | Der::Pkcs1Public(_) => return Err(wrong_kind_public()),
        };
        Self::from_pair(pair)
    }

    /// Reads and parses a key file.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        Self::parse(&read(path)?)
    }

    /// Generates a fresh RSA-2048 key (for the simulator and the demo).
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_pair(KeyPair::generate(KeySize::Rsa2048).map_err(rejected)?)
    }

    fn from_pair(pair: KeyPair) -> Result<Self, KeyError> {
        let pkcs8: Pkcs8V1Der<'static> = pair.as_der().map_err(rejected)?;
        let decrypting = PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref())
            .map_err(rejected)
            .and_then(|k| Pkcs1PrivateDecryptingKey::new(k).map_err(rejected))?;
        let public = PublicKey::from_der(pair.public_key().as_ref())?;
        Ok(Self {
            pair,
            decrypting,
            public,
        })
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
    pub fn sign_sha256(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        // Signing with a valid key into a buffer of the modulus length cannot fail; the RNG is
        // not used by PKCS#1 v1.5 (deterministic).
        #[allow(clippy::expect_used)]
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .expect("RSA PKCS#1 v1.5 signing with a validated key");
        signature
    }

    /// Unwraps a key encrypted with RSA PKCS#1 v1.5 (the `Encrypt` header's symmetric key).
    pub fn unwrap_pkcs1(&self, ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(vec![0; self.decrypting.min_output_size()]);
        let len = self.decrypting.decrypt(ciphertext, &mut out).ok()?.len();
        out.truncate(len);
        Some(out)
    }

    /// PKCS#8 PEM (`BEGIN PRIVATE KEY`), for writing generated keys.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        // Serializing a key that was parsed or generated by aws-lc cannot fail.
        #[allow(clippy::expect_used)]
        let der: Pkcs8V1Der<'static> = self.pair.as_der().expect("PKCS#8 encoding");
        Zeroizing::new(pem("PRIVATE KEY", der.as_ref()))
    }
}

fn wrong_kind_public() -> KeyError {
    KeyError::WrongKind {
        expected: "private",
        found: "public",
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public_fingerprint", &self.public.fingerprint())
            .finish_non_exhaustive()
    }
}

/// An RSA public key: the ZOLOZ platform key in the service (verifies responses, wraps request
/// AES keys) or the merchant key in the simulator.
#[derive(Clone)]
pub struct PublicKey {
    verifying: ParsedPublicKey,
    encrypting: Arc<Pkcs1PublicEncryptingKey>,
    spki: Vec<u8>,
}

impl PublicKey {
    /// Parses PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`), bare Base64 DER (the portal's
    /// `MIIBIjANBgkq…`) or DER.
    pub fn parse(input: &[u8]) -> Result<Self, KeyError> {
        match decode(input)? {
            Der::Spki(der) | Der::Pkcs1Public(der) => Self::from_der(&der),
            Der::Unlabelled(der) => Self::from_der(&der).map_err(|e| {
                if KeyPair::from_pkcs8(&der).is_ok() || KeyPair::from_der(&der).is_ok() {
                    KeyError::WrongKind {
                        expected: "public",
                        found: "private",
                    }
                } else {
                    e
                }
            }),
            Der::Pkcs8(_) | Der::Pkcs1Private(_) => Err(KeyError::WrongKind {
                expected: "public",
                found: "private",
            }),
        }
    }

    /// Reads and parses a key file.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        Self::parse(&read(path)?)
    }

    /// From SPKI or PKCS#1 `RSAPublicKey` DER.
    fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = aws_lc_rs::rsa::PublicKey::from_der(der).map_err(rejected)?;
        let spki: PublicKeyX509Der<'static> = key.as_der().map_err(rejected)?;
        let spki = spki.as_ref().to_vec();
        let verifying =
            ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &spki).map_err(rejected)?;
        let encrypting = PublicEncryptingKey::from_der(&spki)
            .map_err(rejected)
            .and_then(|k| Pkcs1PublicEncryptingKey::new(k).map_err(rejected))?;
        Ok(Self {
            verifying,
            encrypting: Arc::new(encrypting),
            spki,
        })
    }

    /// Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature.
    pub fn verify_sha256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verifying.verify_sig(message, signature).is_ok()
    }

    /// Wraps a symmetric key with RSA PKCS#1 v1.5 encryption (randomized).
    pub fn wrap_pkcs1(&self, key: &[u8]) -> Vec<u8> {
        let mut out = vec![0; self.encrypting.ciphertext_size()];
        // A 16..32-byte key always fits under a ≥2048-bit modulus.
        #[allow(clippy::expect_used)]
        let len = self
            .encrypting
            .encrypt(key, &mut out)
            .expect("PKCS#1 v1.5 wrapping of a short key")
            .len();
        out.truncate(len);
        out
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// SPKI PEM (`BEGIN PUBLIC KEY`).
    pub fn to_pem(&self) -> String {
        pem("PUBLIC KEY", &self.spki)
    }

    /// Bare Base64 of the SPKI DER, the form the ZOLOZ portal shows.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.spki)
    }

    /// A short, non-secret identifier (first 8 bytes of SHA-256 of the SPKI, hex), for logs.
    pub fn fingerprint(&self) -> String {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.spki);
        hex::encode(&digest.as_ref()[..8])
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MERCHANT_PRIVATE: &str = include_str!("../../tests/vectors/merchant_private.pk8.b64");
    const MERCHANT_PUBLIC: &str = include_str!("../../tests/vectors/merchant_public.spki.b64");

    #[test]
    fn bare_base64_private_and_public_keys_match() {
        let private = PrivateKey::parse(MERCHANT_PRIVATE.as_bytes()).unwrap();
        let public = PublicKey::parse(MERCHANT_PUBLIC.as_bytes()).unwrap();
        assert_eq!(private.public_key().spki_der(), public.spki_der());
        let sig = private.sign_sha256(b"hello");
        assert!(public.verify_sha256(b"hello", &sig));
        assert!(!public.verify_sha256(b"hellO", &sig));
    }

    #[test]
    fn pem_round_trip_and_wrong_kind_is_named() {
        let private = PrivateKey::parse(MERCHANT_PRIVATE.as_bytes()).unwrap();
        let pem = private.to_pkcs8_pem();
        let again = PrivateKey::parse(pem.as_bytes()).unwrap();
        assert_eq!(
            again.public_key().spki_der(),
            private.public_key().spki_der()
        );
        let public_pem = private.public_key().to_pem();
        assert_eq!(
            PrivateKey::parse(public_pem.as_bytes()).unwrap_err(),
            KeyError::WrongKind {
                expected: "private",
                found: "public"
            }
        );
        assert_eq!(
            PublicKey::parse(MERCHANT_PRIVATE.as_bytes()).unwrap_err(),
            KeyError::WrongKind {
                expected: "public",
                found: "private"
            }
        );
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(matches!(
            PrivateKey::parse(b"not a key"),
            Err(KeyError::Encoding(_))
        ));
        assert!(matches!(
            PublicKey::parse(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
            Err(KeyError::UnsupportedPem(_))
        ));
        assert!(matches!(PublicKey::parse(b""), Err(KeyError::Encoding(_))));
    }

    #[test]
    fn wrap_and_unwrap() {
        let private = PrivateKey::parse(MERCHANT_PRIVATE.as_bytes()).unwrap();
        let wrapped = private.public_key().wrap_pkcs1(&[7u8; 32]);
        assert_eq!(
            private.unwrap_pkcs1(&wrapped).unwrap().as_slice(),
            &[7u8; 32]
        );
        assert!(private.unwrap_pkcs1(&wrapped[1..]).is_none());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let private = PrivateKey::parse(MERCHANT_PRIVATE.as_bytes()).unwrap();
        let shown = format!("{private:?} {:?}", private.public_key());
        assert!(!shown.contains("MII"), "{shown}");
        assert!(shown.contains("fingerprint"));
    }
}
