//! The four products' checkresult responses, read into domain [`Facts`] (and, when asked for,
//! decoded images). One parse per body: the JSON is read once into a `serde_json::Value`, the
//! facts borrow nothing from it, and images are Base64-decoded straight from it.
//!
//! Lenient where ZOLOZ is inconsistent (scores as numbers or numeric strings, Face Capture v1
//! and v1a, Connect with and without `connectResult`, `PROCESSING` with status S or F, unknown
//! fields tolerated and ignored) and strict where it matters: a body that is not JSON, not an
//! object, repeats a key in an object, or lacks the `result` envelope is a
//! [`MalformedResponse`]; a decision field of the wrong type reaches the engine as
//! unrecognized, never as a passing value.

use std::fmt;

use serde_json::Value;

use crate::domain::facts::field;
use crate::domain::{Envelope, ExtractedImage, Facts, Product, ProductFacts, ShapeMismatch};
use crate::error::{ErrorReason, ServiceError};

mod connect;
mod face_capture;
mod face_compare;
mod id_recognition;
pub mod read;
mod strict;

pub(crate) use id_recognition::spoof_entries;

/// The longest `transactionId` taken from a body (ZOLOZ ids are at most 64 characters).
const MAX_TRANSACTION_ID_LEN: usize = 128;

/// A parsed checkresult response.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedResponse {
    /// What the engine decides on (no image, no OCR value: safe to cache).
    pub facts: Facts,
    /// The decoded images, only when asked for.
    pub images: Vec<ExtractedImage>,
    /// Images dropped because their content was not Base64 (they never change the decision).
    pub undecodable_images: usize,
}

/// A body that cannot be read as a checkresult response (`UPSTREAM_MALFORMED_RESPONSE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed checkresult response: {message}")]
pub struct MalformedResponse {
    /// What is wrong (never the body's content).
    pub message: String,
}

impl MalformedResponse {
    fn new(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
        }
    }
}

impl From<MalformedResponse> for ServiceError {
    fn from(err: MalformedResponse) -> Self {
        ServiceError::new(ErrorReason::UpstreamMalformedResponse, err.to_string())
    }
}

/// Reads one product's checkresult response body. Images are decoded only when `want_images`.
pub fn parse(
    product: Product,
    body: &[u8],
    want_images: bool,
) -> Result<ParsedResponse, MalformedResponse> {
    parse_value(product, &json_root(body)?, want_images)
}

/// Parses a response body as JSON: the one parse of every checkresult body, fetched or handed
/// to Evaluate. A UTF-8 byte order mark is not JSON, but some proxies add one: it is skipped.
/// An object that repeats a key is refused ([`strict`]).
pub fn json_root(body: &[u8]) -> Result<Value, MalformedResponse> {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    strict::from_slice(body)
        .map_err(|e| MalformedResponse::new(format_args!("body is not json ({e})")))
}

/// The `result` envelope of a parsed body: the one reading of it, for fetched answers (whose
/// failure codes are told apart before the product fields are read) and for Evaluate and
/// `explain` alike. The body must be an object with a `result` object; what that object holds
/// is for the engine to judge (a missing or non-string `resultCode` is a reason, not an error).
pub fn envelope(root: &Value) -> Result<Envelope, MalformedResponse> {
    let Some(object) = root.as_object() else {
        return Err(MalformedResponse::new("body is not a json object"));
    };
    match object.get("result") {
        Some(Value::Object(_)) => {}
        None | Some(Value::Null) => {
            return Err(MalformedResponse::new("body has no result envelope"));
        }
        Some(_) => return Err(MalformedResponse::new("result is not a json object")),
    }
    Ok(Envelope {
        result_code: read::string(read::at(root, field::RESULT_CODE)),
        result_status: read::string(read::at(root, field::RESULT_STATUS)),
        result_message: read::string(read::at(root, field::RESULT_MESSAGE)),
    })
}

/// Reads an already parsed response body (see [`parse`]).
pub fn parse_value(
    product: Product,
    root: &Value,
    want_images: bool,
) -> Result<ParsedResponse, MalformedResponse> {
    let envelope = envelope(root)?;
    let mut shape_mismatches = Vec::new();
    // A `transactionId` the service cannot compare with the requested one (a number, an object,
    // a string longer than any id) binds the answer to no transaction: unrecognized, not
    // skipped.
    let transaction_id = match read::at(root, field::TRANSACTION_ID) {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if id.len() <= MAX_TRANSACTION_ID_LEN => Some(id.clone()),
        Some(other) => {
            shape_mismatches.push(ShapeMismatch {
                field: field::TRANSACTION_ID.to_string(),
                raw: read::raw_text(other),
                expected: "a string of at most 128 characters",
            });
            None
        }
    };
    let mut sink = read::ImageSink::default();
    let detail = match product {
        Product::FaceCapture => {
            if want_images {
                face_capture::images(root, &mut sink);
            }
            ProductFacts::FaceCapture(face_capture::facts(root, &mut shape_mismatches))
        }
        Product::FaceCompare => ProductFacts::FaceCompare(face_compare::facts(root)),
        Product::Connect => {
            if want_images {
                connect::images(root, &mut sink);
            }
            ProductFacts::Connect(connect::facts(root, &mut shape_mismatches))
        }
        Product::IdRecognition => {
            if want_images {
                id_recognition::images(root, &mut sink);
            }
            ProductFacts::IdRecognition(id_recognition::facts(root, &mut shape_mismatches))
        }
    };
    Ok(ParsedResponse {
        facts: Facts {
            envelope,
            transaction_id,
            detail,
            shape_mismatches,
            inconsistency: None,
        },
        images: sink.images,
        undecodable_images: sink.undecodable,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{ImageKind, Observed};

    fn body(value: Value) -> Vec<u8> {
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn malformed_bodies() {
        for (bytes, expected) in [
            (b"not json".to_vec(), "not json"),
            (b"[]".to_vec(), "not a json object"),
            (b"{}".to_vec(), "no result envelope"),
            (br#"{"result":null}"#.to_vec(), "no result envelope"),
            (
                br#"{"result":"SUCCESS"}"#.to_vec(),
                "result is not a json object",
            ),
        ] {
            let err = parse(Product::Connect, &bytes, false).unwrap_err();
            assert!(err.message.contains(expected), "{err}");
        }
        let err = parse(Product::Connect, b"{", false).unwrap_err();
        assert_eq!(
            ServiceError::from(err).reason,
            ErrorReason::UpstreamMalformedResponse
        );
    }

    #[test]
    fn bom_and_unknown_fields_are_tolerated() {
        let mut bytes = b"\xef\xbb\xbf".to_vec();
        bytes.extend(body(json!({
            "result": {"resultCode": "SUCCESS", "resultStatus": "S", "extra": 1},
            "connectResult": "Success",
            "brandNew": {"nested": [1, 2]}
        })));
        let parsed = parse(Product::Connect, &bytes, false).unwrap();
        assert!(parsed.facts.envelope.result_code.is("SUCCESS"));
        assert!(parsed.facts.shape_mismatches.is_empty());
    }

    #[test]
    fn images_only_when_asked() {
        let response = body(json!({
            "result": {"resultCode": "SUCCESS", "resultStatus": "S"},
            "extInfo": {
                "recognitionResult": "Y",
                "imageContent": ["/9j/4AAQ", "base64string....."],
                "extraImages": {"DOC_FRONT_ANGLE": "/9j/4AA..[omitted]..PxA=", "CROPPED_FACE_FROM_DOC": "iVBORw0KGgo="}
            }
        }));
        let parsed = parse(Product::IdRecognition, &response, false).unwrap();
        assert!(parsed.images.is_empty());
        assert_eq!(parsed.undecodable_images, 0);
        let parsed = parse(Product::IdRecognition, &response, true).unwrap();
        let summary: Vec<_> = parsed
            .images
            .iter()
            .map(|i| (i.kind, i.name.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (ImageKind::Document, "0"),
                (ImageKind::Extra, "CROPPED_FACE_FROM_DOC")
            ]
        );
        assert_eq!(parsed.undecodable_images, 2);
    }

    #[test]
    fn connect_images_and_transaction_id() {
        let response = body(json!({
            "result": {"resultCode": "SUCCESS", "resultStatus": "S"},
            "transactionId": "G000000005FID2020030400000000000157",
            "extFaceInfo": {"aliveImage": "/9j/4AAQ", "refImage": "/9j/4AAQ"}
        }));
        let parsed = parse(Product::Connect, &response, true).unwrap();
        assert_eq!(
            parsed.facts.transaction_id.as_deref(),
            Some("G000000005FID2020030400000000000157")
        );
        let kinds: Vec<_> = parsed.images.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, [ImageKind::Face, ImageKind::ReferenceFace]);
    }

    #[test]
    fn containers_of_the_wrong_type_are_recorded() {
        let response = body(json!({
            "result": {"resultCode": "SUCCESS", "resultStatus": "S"},
            "extInfo": {"deviceRisk": 2, "faceAttack": false},
        }));
        let parsed = parse(Product::FaceCapture, &response, false).unwrap();
        assert_eq!(parsed.facts.shape_mismatches.len(), 1);
        assert_eq!(
            parsed.facts.shape_mismatches[0].field,
            "/extInfo/deviceRisk"
        );
        let ProductFacts::FaceCapture(f) = &parsed.facts.detail else {
            panic!("face capture facts expected")
        };
        assert_eq!(f.risk_level, Observed::Missing);
        assert_eq!(f.face_attack, Observed::known(false, "false"));
    }
}
