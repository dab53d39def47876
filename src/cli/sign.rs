//! `sign` and `verify`: the signature debugging tools. The usual cause of a failing ZOLOZ
//! integration is a signature mismatch; these print exactly what is signed and say why a
//! response signature does not verify.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{EXIT_NO_INPUT, EXIT_USAGE, fail, read_input, read_secret};
use crate::zoloz::api::ClientId;
use crate::zoloz::keys::{KeyError, PrivateKey, PublicKey};
use crate::zoloz::{aksk, signing};

/// Arguments of `sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Merchant private key (PEM PKCS#8 / PKCS#1, or the portal's bare Base64 DER).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "secret_key",
        conflicts_with = "secret_key"
    )]
    pub private_key: Option<PathBuf>,
    /// AK/SK mode instead of RSA: a file holding the base64url secret key.
    #[arg(long, value_name = "FILE")]
    pub secret_key: Option<PathBuf>,
    /// The Client-Id header value (the portal's Client ID: ASCII letters and digits).
    #[arg(long)]
    pub client_id: ClientId,
    /// The Request-Time header value, yyyy-MM-ddTHH:mm:ss±HHMM, e.g. 2020-01-01T08:00:00+0800
    /// (default: now, UTC).
    #[arg(long, value_parser = parse_request_time)]
    pub request_time: Option<String>,
    /// The URI path, /api/…, e.g. /api/v1/zoloz/authentication/test (no host, no query).
    #[arg(long, value_parser = parse_path)]
    pub path: String,
    /// The exact body bytes to send (`-` for standard input; default: empty body).
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
}

/// A `--request-time` ZOLOZ accepts: exactly `yyyy-MM-ddTHH:mm:ss±HHMM` (docs/protocol.md),
/// since the signature covers the header byte for byte and ZOLOZ refuses any other form.
fn parse_request_time(text: &str) -> Result<String, String> {
    let canonical = signing::parse_wire_time(text).map(signing::format_wire_time);
    if canonical.as_deref() == Some(text) {
        return Ok(text.to_string());
    }
    let hint = canonical.map_or_else(String::new, |c| format!("; did you mean {c}?"));
    Err(format!(
        "ZOLOZ accepts only yyyy-MM-ddTHH:mm:ss±HHMM, e.g. 2020-01-01T08:00:00+0800 \
         (no colon in the offset; UTC is +0000, not Z){hint}"
    ))
}

/// A `--path` ZOLOZ signs: the URI path only, `/api/…`, with no host, query or `//`
/// (docs/protocol.md, Transport).
fn parse_path(text: &str) -> Result<String, String> {
    let problem = if text.contains("://") {
        "the path is the URI path only, without the scheme and host, \
         e.g. /api/v1/zoloz/authentication/test"
    } else if text.contains("//") {
        "the path must not contain '//' (strip the trailing '/' from the host)"
    } else if !text.starts_with("/api/") {
        "ZOLOZ paths start with /api/, e.g. /api/v1/zoloz/authentication/test"
    } else if text.contains(['?', '#']) {
        "the path must not have a query or fragment: the signature covers the path only"
    } else if !text.bytes().all(|b| b.is_ascii_graphic()) {
        "the path must be printable ASCII without spaces"
    } else {
        return Ok(text.to_string());
    };
    Err(problem.into())
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// ZOLOZ platform public key (PEM SPKI / PKCS#1, or bare Base64 DER `MIIBIjANBgkq…`).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "secret_key",
        conflicts_with = "secret_key"
    )]
    pub public_key: Option<PathBuf>,
    /// AK/SK mode instead of RSA: a file holding the base64url secret key.
    #[arg(long, value_name = "FILE")]
    pub secret_key: Option<PathBuf>,
    /// Your Client-Id (the one the request was sent with).
    #[arg(long)]
    pub client_id: String,
    /// The Response-Time header value, verbatim.
    #[arg(long)]
    pub response_time: String,
    /// The request's URI path.
    #[arg(long)]
    pub path: String,
    /// The Signature header value (`algorithm=RSA256, signature=…`, or the bare value).
    #[arg(long)]
    pub signature: String,
    /// The raw response body, byte for byte (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub body_file: PathBuf,
}

/// `sign`: prints the content to sign, then the `Signature` header value as the last line.
pub fn sign(args: &SignArgs) -> ExitCode {
    let body = match &args.body_file {
        Some(path) => match read_input(path) {
            Ok(body) => body,
            Err(e) => return fail(EXIT_NO_INPUT, e),
        },
        None => Vec::new(),
    };
    let time = args
        .request_time
        .clone()
        .unwrap_or_else(|| signing::format_wire_time(time::OffsetDateTime::now_utc()));
    let header = if let Some(path) = &args.secret_key {
        match read_secret(path) {
            Ok(key) => aksk::sign(&key, &args.path, args.client_id.as_str(), &time, &body),
            Err(e) => return fail(EXIT_NO_INPUT, e),
        }
    } else {
        let Some(path) = &args.private_key else {
            return fail(2, "--private-key or --secret-key is required");
        };
        match PrivateKey::from_file(path) {
            Ok(key) => signing::sign(&key, &args.path, args.client_id.as_str(), &time, &body),
            Err(e) => return fail(EXIT_NO_INPUT, e),
        }
    };
    let content = signing::content_to_sign(&args.path, args.client_id.as_str(), &time, &body);
    eprintln!(
        "content to sign: {} bytes, sha256 {}",
        content.len(),
        sha256_hex(&content)
    );
    let mut out = String::from_utf8_lossy(&content).into_owned();
    out.push('\n');
    out.push_str(&header);
    outln!("{out}");
    ExitCode::SUCCESS
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

/// The key `verify` checks with (the secret key is boxed: it holds a prepared HMAC key).
enum VerifyKey {
    Secret(Box<aksk::SecretKey>),
    Public(PublicKey),
}

/// `verify`: exit 0 when the signature is valid, 1 with the reason when it is not, 66 when
/// the key or the body cannot be read or used (not a verdict on the signature).
pub fn verify(args: &VerifyArgs) -> ExitCode {
    let key = if let Some(path) = &args.secret_key {
        read_secret(path).map(|key| VerifyKey::Secret(Box::new(key)))
    } else if let Some(path) = &args.public_key {
        PublicKey::from_file(path)
            .map(VerifyKey::Public)
            .map_err(|e| match e {
                KeyError::Io { .. } => e.to_string(),
                _ => format!("--public-key {}: {e}", path.display()),
            })
    } else {
        return fail(EXIT_USAGE, "--public-key or --secret-key is required");
    };
    let key = match key {
        Ok(key) => key,
        Err(e) => return fail(EXIT_NO_INPUT, e),
    };
    let body = match read_input(&args.body_file) {
        Ok(body) => body,
        Err(e) => return fail(EXIT_NO_INPUT, e),
    };
    let content = signing::content_to_sign(&args.path, &args.client_id, &args.response_time, &body);
    eprintln!(
        "content verified: {} bytes, sha256 {}",
        content.len(),
        sha256_hex(&content)
    );
    let check = |body: &[u8]| -> Result<(), String> {
        let key = match &key {
            VerifyKey::Secret(key) => {
                let value = args
                    .signature
                    .rsplit_once("signature=")
                    .map_or(args.signature.as_str(), |(_, v)| v);
                return if aksk::verify(
                    key,
                    &args.path,
                    &args.client_id,
                    &args.response_time,
                    body,
                    value,
                ) {
                    Ok(())
                } else {
                    Err("the HMAC does not match the content".into())
                };
            }
            VerifyKey::Public(key) => key,
        };
        let header = if args.signature.contains('=') && args.signature.contains("signature") {
            signing::parse_signature_header(&args.signature).map_err(|e| e.to_string())?
        } else {
            signing::SignatureHeader {
                algorithm: signing::RSA256.into(),
                signature: signing::decode_signature_value(&args.signature)
                    .ok_or("the signature value is not percent-encoded Base64")?,
                key_version: None,
            }
        };
        signing::verify(
            key,
            &args.path,
            &args.client_id,
            &args.response_time,
            body,
            &header,
        )
        .map_err(|e| e.to_string())
    };
    match check(&body) {
        Ok(()) => {
            outln!("valid");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("invalid: {reason}");
            for hint in hints(args, &body, &check) {
                eprintln!("hint: {hint}");
            }
            outln!("invalid");
            ExitCode::FAILURE
        }
    }
}

/// Tries the usual causes of a mismatch and reports the ones that would make it verify.
fn hints(
    args: &VerifyArgs,
    body: &[u8],
    check: &dyn Fn(&[u8]) -> Result<(), String>,
) -> Vec<String> {
    let mut hints = Vec::new();
    let trimmed = body
        .strip_suffix(b"\n")
        .map(|b| b.strip_suffix(b"\r").unwrap_or(b));
    if let Some(trimmed) = trimmed
        && check(trimmed).is_ok()
    {
        hints.push(
            "the signature matches without the trailing newline of the body file: \
             the body must be byte-identical to what was sent (try printf, not echo)"
                .to_string(),
        );
    }
    if !args.path.starts_with("/api/") {
        hints.push(format!(
            "the path {:?} does not start with /api/: sign the full URI path, e.g. /api/v1/zoloz/authentication/test",
            args.path
        ));
    }
    if args.path.contains("//") {
        hints
            .push("the path contains '//': strip the trailing '/' from the configured host".into());
    }
    if signing::parse_wire_time(&args.response_time).is_none() {
        hints.push(format!(
            "the time {:?} is not yyyy-MM-ddTHH:mm:ss±HHMM; pass the header value verbatim",
            args.response_time
        ));
    }
    hints
}
