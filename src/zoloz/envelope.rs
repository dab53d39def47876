//! The optional `RSA_AES` envelope (docs/protocol.md): AES-ECB/PKCS#7 over the JSON, the
//! AES key wrapped with RSA PKCS#1 v1.5 under the recipient's public key, the body sent as
//! standard Base64 text. Used in both directions: the service seals requests for ZOLOZ and
//! opens its responses; the simulator does the reverse.

use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::keys::{PrivateKey, PublicKey};
use super::signing::{self, EncryptHeader};

/// Why an envelope could not be opened (or, never in practice, sealed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The `Encrypt` header is malformed.
    #[error(transparent)]
    Header(#[from] signing::HeaderError),
    /// The wrapped key does not unwrap under our private key.
    #[error("the symmetric key does not unwrap with this private key")]
    Unwrap,
    /// The unwrapped key is not 16, 24 or 32 bytes.
    #[error("unwrapped symmetric key has {0} bytes; expected 16, 24 or 32")]
    KeyLength(usize),
    /// The body is not Base64.
    #[error("the encrypted body is not Base64")]
    Base64,
    /// AES decryption failed (wrong key, bad padding, length not a block multiple).
    #[error("the body does not decrypt (bad padding or wrong key)")]
    Decrypt,
    /// The random number generator failed.
    #[error("random number generator failure")]
    Random,
}

/// A sealed message: the Base64 ciphertext body (what is signed and sent) and the `Encrypt`
/// header value.
#[derive(Clone)]
pub struct Sealed {
    /// Standard Base64 of the AES-ECB ciphertext: the exact bytes to sign and send.
    pub body: String,
    /// The `Encrypt` header value (`algorithm=RSA_AES, symmetricKey=…`).
    pub encrypt_header: String,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish_non_exhaustive()
    }
}

/// AES-ECB with PKCS#7 padding under `key` (16, 24 or 32 bytes), Base64-encoded.
pub fn aes_ecb_encrypt(key: &[u8], plaintext: &[u8]) -> Result<String, EnvelopeError> {
    let cipher = UnboundCipherKey::new(aes_for(key.len())?, key)
        .and_then(PaddedBlockEncryptingKey::ecb_pkcs7)
        .map_err(|_| EnvelopeError::KeyLength(key.len()))?;
    let mut buffer = plaintext.to_vec();
    cipher
        .encrypt(&mut buffer)
        .map_err(|_| EnvelopeError::Decrypt)?;
    Ok(STANDARD.encode(buffer))
}

/// Base64-decodes and AES-ECB/PKCS#7-decrypts `body` under `key`.
pub fn aes_ecb_decrypt(key: &[u8], body: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let mut buffer = STANDARD
        .decode(compact)
        .map_err(|_| EnvelopeError::Base64)?;
    let cipher = UnboundCipherKey::new(aes_for(key.len())?, key)
        .and_then(PaddedBlockDecryptingKey::ecb_pkcs7)
        .map_err(|_| EnvelopeError::KeyLength(key.len()))?;
    let len = cipher
        .decrypt(&mut buffer, aws_lc_rs::cipher::DecryptionContext::None)
        .map_err(|_| EnvelopeError::Decrypt)?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

fn aes_for(len: usize) -> Result<&'static aws_lc_rs::cipher::Algorithm, EnvelopeError> {
    match len {
        16 => Ok(&AES_128),
        24 => Ok(&AES_192),
        32 => Ok(&AES_256),
        other => Err(EnvelopeError::KeyLength(other)),
    }
}

/// Seals `plaintext` for `recipient` with a fresh AES-256 key from the system CSPRNG.
pub fn seal(recipient: &PublicKey, plaintext: &[u8]) -> Result<Sealed, EnvelopeError> {
    let mut key = Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(key.as_mut())
        .map_err(|_| EnvelopeError::Random)?;
    seal_with_key(recipient, key.as_ref(), plaintext)
}

/// Seals with a given AES key (known-answer tests; `seal` is the production path).
pub fn seal_with_key(
    recipient: &PublicKey,
    key: &[u8],
    plaintext: &[u8],
) -> Result<Sealed, EnvelopeError> {
    let body = aes_ecb_encrypt(key, plaintext)?;
    let encrypt_header = signing::encrypt_header(&recipient.wrap_pkcs1(key));
    Ok(Sealed {
        body,
        encrypt_header,
    })
}

/// Opens a sealed body with our private key, taking the AES key (and so its size) from the
/// message's own `Encrypt` header. The signature over `body` must have been verified first.
pub fn open(
    private_key: &PrivateKey,
    encrypt_header: &str,
    body: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let EncryptHeader { wrapped_key } = signing::parse_encrypt_header(encrypt_header)?;
    let key = private_key
        .unwrap_pkcs1(&wrapped_key)
        .ok_or(EnvelopeError::Unwrap)?;
    aes_ecb_decrypt(&key, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aes_size_round_trips_and_wrong_sizes_are_refused() {
        for len in [16, 24, 32] {
            let key = vec![9u8; len];
            let body = aes_ecb_encrypt(&key, "日本語 json".as_bytes()).unwrap();
            assert_eq!(
                aes_ecb_decrypt(&key, body.as_bytes()).unwrap(),
                "日本語 json".as_bytes()
            );
        }
        assert_eq!(
            aes_ecb_encrypt(&[0; 20], b"x").unwrap_err(),
            EnvelopeError::KeyLength(20)
        );
    }

    #[test]
    fn corrupt_bodies_are_refused() {
        let key = [1u8; 32];
        assert_eq!(
            aes_ecb_decrypt(&key, b"not base64!").unwrap_err(),
            EnvelopeError::Base64
        );
        // 15 bytes: not a block multiple.
        assert_eq!(
            aes_ecb_decrypt(&key, STANDARD.encode([0u8; 15]).as_bytes()).unwrap_err(),
            EnvelopeError::Decrypt
        );
        let body = aes_ecb_encrypt(&key, b"hello").unwrap();
        assert_eq!(
            aes_ecb_decrypt(&[2u8; 32], body.as_bytes()).unwrap_err(),
            EnvelopeError::Decrypt
        );
    }
}
