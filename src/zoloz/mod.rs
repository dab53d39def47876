//! The ZOLOZ adapter: key material, the pure signer, the `RSA_AES` envelope, AK/SK mode, the
//! HTTP transport (sign, send, verify, decrypt, retry), and the per-product wire formats.
//!
//! Signing is a pure function of (key, time, path, client id, body); the transport adds the
//! clock, HTTP, retries and verification. Verification is mandatory and fail-closed: a response
//! that is not signed by ZOLOZ is never parsed, decrypted, cached or turned into a verdict.

pub mod aksk;
pub mod api;
pub mod client;
pub mod envelope;
pub mod error;
pub mod keys;
pub mod products;
pub mod redact;
pub mod signing;
pub mod transport;
