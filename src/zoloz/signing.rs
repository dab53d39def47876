//! The ZOLOZ gateway signature, as pure functions (docs/protocol.md): the content
//! to sign, the `Signature` header, its parsing, response verification and the
//! `Request-Time` / `Response-Time` format. Time and keys are arguments; nothing here reads a
//! clock or does I/O, so every stage has known-answer tests.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::percent_decode_str;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use super::keys::{PrivateKey, PublicKey};

/// The signature algorithm name ZOLOZ uses in RSA mode.
pub const RSA256: &str = "RSA256";

/// `yyyy-MM-dd'T'HH:mm:ssZ` with a `±HHMM` offset (no colon; UTC is `+0000`).
const WIRE_TIME: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory][offset_minute]"
);
const WIRE_TIME_COLON: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
);

/// Formats a time the way ZOLOZ expects in `Request-Time`.
pub fn format_wire_time(time: OffsetDateTime) -> String {
    // The format has only numeric components, so formatting a valid date cannot fail.
    time.format(WIRE_TIME).unwrap_or_default()
}

/// Parses a `Request-Time` / `Response-Time` value: the documented `±HHMM` form, and, for
/// robustness, `±HH:MM` and a trailing `Z`.
pub fn parse_wire_time(value: &str) -> Option<OffsetDateTime> {
    let value = value.trim();
    if let Some(utc) = value.strip_suffix('Z') {
        return OffsetDateTime::parse(&format!("{utc}+0000"), WIRE_TIME).ok();
    }
    OffsetDateTime::parse(value, WIRE_TIME)
        .or_else(|_| OffsetDateTime::parse(value, WIRE_TIME_COLON))
        .ok()
}

/// The content to sign or verify:
/// `"POST " + path + "\n" + client_id + "." + time + "." + body`, byte for byte.
pub fn content_to_sign(path: &str, client_id: &str, time: &str, body: &[u8]) -> Vec<u8> {
    let mut content =
        Vec::with_capacity(6 + path.len() + client_id.len() + time.len() + 2 + body.len());
    content.extend_from_slice(b"POST ");
    content.extend_from_slice(path.as_bytes());
    content.push(b'\n');
    content.extend_from_slice(client_id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(time.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

/// Standard Base64 of the signature, then percent-encoding of `+ / =`: only the Base64
/// characters that are not URL-safe are escaped, as every working ZOLOZ client does; the rest
/// of the value is left alone.
pub fn encode_signature_value(signature: &[u8]) -> String {
    let mut out = String::with_capacity(encoded_capacity(signature));
    push_signature_value(&mut out, signature);
    out
}

/// Room for a signature value: its Base64, plus the escapes of a typical value (two or three
/// dozen characters are `+`, `/` or `=`, each written as three).
fn encoded_capacity(signature: &[u8]) -> usize {
    signature.len().div_ceil(3) * 4 + 48
}

/// Appends [`encode_signature_value`] of `signature` to `out`. Written out by hand:
/// `utf8_percent_encode(..).to_string()` goes through the formatting machinery chunk by chunk,
/// and a per-character loop with a `String` per step cost more than the Base64 itself; this is
/// on every call's path (BENCHMARKS.md).
fn push_signature_value(out: &mut String, signature: &[u8]) {
    let base64 = STANDARD.encode(signature);
    let mut rest = base64.as_str();
    while let Some(i) = rest
        .bytes()
        .position(|b| b == b'+' || b == b'/' || b == b'=')
    {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'+' => "%2B",
            b'/' => "%2F",
            _ => "%3D",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// Percent-decodes and Base64-decodes a signature value. A raw `+` (a sender that forgot to
/// escape) is kept as `+`, never turned into a space; the URL-safe alphabet is accepted too,
/// since ZOLOZ's documentation calls the encoding "base64urlsafe".
pub fn decode_signature_value(value: &str) -> Option<Vec<u8>> {
    let decoded = percent_decode(value.trim())?;
    let text = decoded.trim();
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()
        .filter(|bytes| !bytes.is_empty())
}

/// Percent-decodes `value` as `percent_encoding::percent_decode_str(value).decode_utf8()`
/// does (a `%` not followed by two hex digits stays as it is; `None` if the result is not
/// UTF-8), but copying runs between escapes rather than a byte at a time: a signature value
/// is decoded on every call's path, and the iterator cost three times the Base64 decoding.
fn percent_decode(value: &str) -> Option<Cow<'_, str>> {
    let bytes = value.as_bytes();
    let Some(first) = bytes.iter().position(|&b| b == b'%') else {
        return Some(Cow::Borrowed(value));
    };
    // The byte a `%` and two hex digits stand for.
    let escaped = |h: u8, l: u8| {
        let digit = |b: u8| char::from(b).to_digit(16);
        Some((digit(h)? * 16 + digit(l)?) as u8)
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut rest = &bytes[first..];
    while let Some((&b'%', after)) = rest.split_first() {
        match after {
            &[h, l, ref tail @ ..] if let Some(byte) = escaped(h, l) => {
                out.push(byte);
                rest = tail;
            }
            _ => {
                out.push(b'%');
                rest = after;
            }
        }
        let run = rest.iter().position(|&b| b == b'%').unwrap_or(rest.len());
        out.extend_from_slice(&rest[..run]);
        rest = &rest[run..];
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// The `Signature` header value for an RSA signature:
/// `algorithm=RSA256, signature=<value>`.
pub fn signature_header(signature: &[u8]) -> String {
    let mut header = String::with_capacity(32 + encoded_capacity(signature));
    header.push_str("algorithm=");
    header.push_str(RSA256);
    header.push_str(", signature=");
    push_signature_value(&mut header, signature);
    header
}

/// Signs a request (or, in the simulator, a response): the `Signature` header value.
pub fn sign(key: &PrivateKey, path: &str, client_id: &str, time: &str, body: &[u8]) -> String {
    signature_header(&key.sign_sha256(&content_to_sign(path, client_id, time, body)))
}

/// A parsed `Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// The `algorithm` pair, e.g. `RSA256`.
    pub algorithm: String,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
    /// The `keyVersion` pair, when present: selects among configured ZOLOZ public keys.
    pub key_version: Option<String>,
}

/// Why a `Signature` or `Encrypt` header could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The header is absent.
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// A required pair is absent.
    #[error("the {header} header has no {pair} pair")]
    MissingPair {
        /// The header name.
        header: &'static str,
        /// The missing pair's name.
        pair: &'static str,
    },
    /// A pair the header is read for appears more than once: which one is meant is ambiguous,
    /// so neither is taken (a signed answer has one of each).
    #[error("the {header} header has more than one {pair} pair")]
    RepeatedPair {
        /// The header name.
        header: &'static str,
        /// The repeated pair's name.
        pair: &'static str,
    },
    /// A value is not valid percent-encoded Base64.
    #[error("the {header} header's {pair} is not valid Base64")]
    BadValue {
        /// The header name.
        header: &'static str,
        /// The pair whose value is bad.
        pair: &'static str,
    },
    /// An algorithm this service does not implement.
    #[error("unsupported {header} algorithm {algorithm:?}")]
    UnsupportedAlgorithm {
        /// The header name.
        header: &'static str,
        /// The algorithm named.
        algorithm: String,
    },
}

/// Splits `k1=v1, k2=v2` into pairs: split on `,`, trim, split each on its first `=`. Names
/// compare case-insensitively; values are returned raw (still percent-encoded).
fn pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(',').filter_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        Some((name.trim(), value.trim()))
    })
}

/// The raw values of `names` in one pass over the header's pairs (the signature value is most
/// of a `Signature` header, and it is parsed on every call). A name that appears twice is
/// refused, whatever the case of its spelling; other pairs are ignored.
fn unique_values<'a, const N: usize>(
    header_name: &'static str,
    header: &'a str,
    names: [&'static str; N],
) -> Result<[Option<&'a str>; N], HeaderError> {
    let mut found = [None; N];
    for (name, value) in pairs(header) {
        if let Some(i) = names.iter().position(|n| name.eq_ignore_ascii_case(n))
            && found[i].replace(value).is_some()
        {
            return Err(HeaderError::RepeatedPair {
                header: header_name,
                pair: names[i],
            });
        }
    }
    Ok(found)
}

/// Parses a `Signature` header (`algorithm=RSA256, signature=…[, keyVersion=…]`).
pub fn parse_signature_header(value: &str) -> Result<SignatureHeader, HeaderError> {
    const H: &str = "Signature";
    let [algorithm, raw, key_version] =
        unique_values(H, value, ["algorithm", "signature", "keyVersion"])?;
    let algorithm = algorithm.ok_or(HeaderError::MissingPair {
        header: H,
        pair: "algorithm",
    })?;
    let raw = raw.ok_or(HeaderError::MissingPair {
        header: H,
        pair: "signature",
    })?;
    let signature = decode_signature_value(raw).ok_or(HeaderError::BadValue {
        header: H,
        pair: "signature",
    })?;
    let key_version = key_version
        .map(|v| percent_decode_str(v).decode_utf8_lossy().into_owned())
        .filter(|v| !v.is_empty());
    Ok(SignatureHeader {
        algorithm: algorithm.to_string(),
        signature,
        key_version,
    })
}

/// Why a response signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header is missing or unparseable.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The signature does not match the content under the key.
    #[error("the signature does not match the content (wrong key, client id, path, time or body)")]
    Mismatch,
}

/// Verifies an RSA `Signature` header over
/// `"POST " + path + "\n" + client_id + "." + time + "." + raw_body` with `key`.
pub fn verify(
    key: &PublicKey,
    path: &str,
    client_id: &str,
    time: &str,
    body: &[u8],
    header: &SignatureHeader,
) -> Result<(), VerifyError> {
    if !header.algorithm.eq_ignore_ascii_case(RSA256) {
        return Err(HeaderError::UnsupportedAlgorithm {
            header: "Signature",
            algorithm: header.algorithm.clone(),
        }
        .into());
    }
    let content = content_to_sign(path, client_id, time, body);
    if key.verify_sha256(&content, &header.signature) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// A parsed `Encrypt` header (`algorithm=RSA_AES, symmetricKey=…`).
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptHeader {
    /// The wrapped (RSA-encrypted) AES key.
    pub wrapped_key: Vec<u8>,
}

impl std::fmt::Debug for EncryptHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptHeader")
            .field(
                "wrapped_key",
                &format_args!("<{} bytes>", self.wrapped_key.len()),
            )
            .finish()
    }
}

/// The encryption algorithm name ZOLOZ uses.
pub const RSA_AES: &str = "RSA_AES";

/// Formats an `Encrypt` header value.
pub fn encrypt_header(wrapped_key: &[u8]) -> String {
    format!(
        "algorithm={RSA_AES}, symmetricKey={}",
        encode_signature_value(wrapped_key)
    )
}

/// Parses an `Encrypt` header value.
pub fn parse_encrypt_header(value: &str) -> Result<EncryptHeader, HeaderError> {
    const H: &str = "Encrypt";
    let [algorithm, raw] = unique_values(H, value, ["algorithm", "symmetricKey"])?;
    let algorithm = algorithm.ok_or(HeaderError::MissingPair {
        header: H,
        pair: "algorithm",
    })?;
    if !algorithm.eq_ignore_ascii_case(RSA_AES) {
        return Err(HeaderError::UnsupportedAlgorithm {
            header: H,
            algorithm: algorithm.to_string(),
        });
    }
    let raw = raw.ok_or(HeaderError::MissingPair {
        header: H,
        pair: "symmetricKey",
    })?;
    let wrapped_key = decode_signature_value(raw).ok_or(HeaderError::BadValue {
        header: H,
        pair: "symmetricKey",
    })?;
    Ok(EncryptHeader { wrapped_key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn signature_values_escape_exactly_plus_slash_and_equals() {
        use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
        const SIGNATURE_ESCAPES: &AsciiSet = &CONTROLS.add(b'+').add(b'/').add(b'=').add(b'%');
        for len in [0usize, 1, 2, 3, 64, 255, 256] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 251) as u8).collect();
            let encoded = encode_signature_value(&bytes);
            assert_eq!(
                encoded,
                utf8_percent_encode(&STANDARD.encode(&bytes), SIGNATURE_ESCAPES).to_string()
            );
            if len > 0 {
                assert_eq!(decode_signature_value(&encoded), Some(bytes));
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn signature_values_match_the_percent_encoding_crate(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        ) {
            use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
            const SIGNATURE_ESCAPES: &AsciiSet =
                &CONTROLS.add(b'+').add(b'/').add(b'=').add(b'%');
            let encoded = encode_signature_value(&bytes);
            proptest::prop_assert_eq!(
                &encoded,
                &utf8_percent_encode(&STANDARD.encode(&bytes), SIGNATURE_ESCAPES).to_string()
            );
            proptest::prop_assert_eq!(
                signature_header(&bytes),
                format!("algorithm=RSA256, signature={encoded}")
            );
            let decoded = decode_signature_value(&encoded);
            proptest::prop_assert_eq!(decoded, Some(bytes).filter(|b| !b.is_empty()));
        }

        #[test]
        fn percent_decoding_matches_the_percent_encoding_crate(
            value in "[%%0-9a-fA-FgzZ+/= é]{0,48}",
        ) {
            proptest::prop_assert_eq!(
                percent_decode(&value),
                percent_decode_str(&value).decode_utf8().ok()
            );
        }
    }

    #[test]
    fn percent_decoding_edge_cases_match_the_percent_encoding_crate() {
        for value in [
            "",
            "%",
            "%%",
            "%2",
            "%2B",
            "%2b%2F",
            "a%2",
            "%zz",
            "%%2B",
            "%2B%",
            "%C3%A9",
            "%FF",
            "%C3",
            "é%41",
            "%E9",
            "ab%2Bcd%3D%3D",
        ] {
            assert_eq!(
                percent_decode(value),
                percent_decode_str(value).decode_utf8().ok(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn pairs_are_read_in_any_order_and_case_and_never_twice() {
        let h = parse_signature_header(
            "keyVersion=7, x=1, x=2, algorithm=RSA256, Signature=AAEC%2Bw%3D%3D",
        )
        .unwrap();
        assert_eq!(h.algorithm, "RSA256");
        assert_eq!(h.signature, vec![0, 1, 2, 251]);
        assert_eq!(h.key_version.as_deref(), Some("7"));
        // Two values for one name: which one ZOLOZ signed is ambiguous, so neither is taken.
        for (header, pair) in [
            (
                "algorithm=RSA256, signature=AAEC, signature=AAAA",
                "signature",
            ),
            (
                "algorithm=RSA256, Signature=AAEC, signature=AAEC",
                "signature",
            ),
            (
                "algorithm=RSA256, signature=AAEC, algorithm=SHA1",
                "algorithm",
            ),
            (
                "keyVersion=7, algorithm=RSA256, signature=AAEC, keyversion=8",
                "keyVersion",
            ),
        ] {
            assert_eq!(
                parse_signature_header(header).unwrap_err(),
                HeaderError::RepeatedPair {
                    header: "Signature",
                    pair
                },
                "{header}"
            );
        }

        let e = parse_encrypt_header("SymmetricKey=%2B%2F8A, algorithm=RSA_AES").unwrap();
        assert_eq!(e.wrapped_key, vec![0xfb, 0xff, 0]);
        assert_eq!(
            parse_encrypt_header("symmetricKey=%2B%2F8A, algorithm=RSA_AES, symmetricKey=AAAA")
                .unwrap_err(),
            HeaderError::RepeatedPair {
                header: "Encrypt",
                pair: "symmetricKey"
            }
        );
        assert_eq!(
            parse_encrypt_header("algorithm=RSA_AES, key=AAAA").unwrap_err(),
            HeaderError::MissingPair {
                header: "Encrypt",
                pair: "symmetricKey"
            }
        );
        assert_eq!(
            parse_encrypt_header("symmetricKey=AAAA").unwrap_err(),
            HeaderError::MissingPair {
                header: "Encrypt",
                pair: "algorithm"
            }
        );
    }

    #[test]
    fn wire_time_has_no_colon_and_utc_is_plus_zero() {
        assert_eq!(
            format_wire_time(datetime!(2020-01-01 08:00:00 +08:00)),
            "2020-01-01T08:00:00+0800"
        );
        assert_eq!(
            format_wire_time(datetime!(2020-01-01 00:00:00 UTC)),
            "2020-01-01T00:00:00+0000"
        );
        assert_eq!(
            format_wire_time(datetime!(2024-01-19 21:56:15 -08:00)),
            "2024-01-19T21:56:15-0800"
        );
    }

    #[test]
    fn wire_time_parses_the_documented_and_tolerated_forms() {
        let expected = datetime!(2020-01-01 00:00:00 UTC);
        for form in [
            "2020-01-01T08:00:00+0800",
            "2020-01-01T08:00:00+08:00",
            "2020-01-01T00:00:00Z",
            " 2019-12-31T16:00:00-0800 ",
        ] {
            assert_eq!(parse_wire_time(form), Some(expected), "{form}");
        }
        for bad in [
            "",
            "2020-01-01",
            "2020-01-01T08:00:00",
            "yesterday",
            "2020-13-01T00:00:00+0000",
        ] {
            assert_eq!(parse_wire_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_pairs_are_trimmed_and_case_insensitive() {
        let h =
            parse_signature_header(" Algorithm=RSA256 ,signature=AAEC%2B%2F%3D%3D , keyVersion=2")
                .unwrap_err();
        // "AAEC+/==" is not valid padding for 4 bytes: refused rather than guessed.
        assert_eq!(
            h,
            HeaderError::BadValue {
                header: "Signature",
                pair: "signature"
            }
        );
        let h = parse_signature_header("Algorithm=RSA256 ,signature=AAEC%2Bw%3D%3D , keyVersion=2")
            .unwrap();
        assert_eq!(h.algorithm, "RSA256");
        assert_eq!(h.signature, vec![0, 1, 2, 251]);
        assert_eq!(h.key_version.as_deref(), Some("2"));
    }

    #[test]
    fn missing_pairs_are_named() {
        assert_eq!(
            parse_signature_header("algorithm=RSA256").unwrap_err(),
            HeaderError::MissingPair {
                header: "Signature",
                pair: "signature"
            }
        );
        assert_eq!(
            parse_signature_header("signature=AAAA").unwrap_err(),
            HeaderError::MissingPair {
                header: "Signature",
                pair: "algorithm"
            }
        );
        assert!(parse_signature_header("").is_err());
        assert!(parse_signature_header("algorithm=RSA256, signature=").is_err());
        assert!(parse_signature_header("algorithm=RSA256, signature=%ZZ").is_err());
    }

    #[test]
    fn encrypt_header_round_trips() {
        let v = encrypt_header(&[0xfb, 0xff, 0x00]);
        assert_eq!(v, "algorithm=RSA_AES, symmetricKey=%2B%2F8A");
        assert_eq!(
            parse_encrypt_header(&v).unwrap().wrapped_key,
            vec![0xfb, 0xff, 0]
        );
        assert!(matches!(
            parse_encrypt_header("algorithm=AES_GCM, symmetricKey=AAAA"),
            Err(HeaderError::UnsupportedAlgorithm { .. })
        ));
    }
}
