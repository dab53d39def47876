//! The audit copy of a checkresult response: an allowlist, not a denylist. Only the fields the
//! engine decides on are kept (so that `explain` replays the record to the same decision), and
//! only as scalars: strings are cut at the length the engine reads, and an array or object where
//! a scalar belongs keeps its type but not its content. Everything else — images, OCR values,
//! descriptions, fields ZOLOZ may add tomorrow — is removed and its JSON pointer listed. A new
//! upstream field can therefore never leak into an audit record by accident, and a record's size
//! is bounded whatever the body.

use serde_json::{Map, Value};

use crate::domain::Product;
use crate::domain::facts::{
    MAX_SPOOF_CHECK_NAME_CHARS, MAX_SPOOF_CHECKS, escape_pointer_token, field,
};
use crate::zoloz::products::spoof_entries;

/// Strings are cut here (the engine reads no more: a longer value is unrecognized either way).
const MAX_STRING_CHARS: usize = 1024;

/// A redacted body and what was removed from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Redacted {
    /// The body with only decision fields left.
    pub body: Value,
    /// JSON pointers of the removed fields, in document order.
    pub removed: Vec<String>,
}

/// What the allowlist says about a pointer.
enum Keep {
    /// A decision field: keep it as a scalar.
    Scalar,
    /// An object to descend into (its own members are checked one by one).
    Container,
    /// A map of scalars whose keys are data (`spoofResult`): keep a bounded number of entries.
    ScalarMap,
    /// Remove.
    No,
}

fn allowlist(product: Product) -> (&'static [&'static str], &'static [&'static str]) {
    use field::{connect, face_capture, face_compare, id_recognition};
    // (kept whole, containers descended into)
    match product {
        Product::FaceCapture => (
            &[
                face_capture::STATE,
                face_capture::FACE_ATTACK,
                face_capture::QUALITY,
                face_capture::QUALITY_PASSED,
                face_capture::RISK_LEVEL,
            ],
            &[face_capture::EXT_INFO, face_capture::DEVICE_RISK],
        ),
        Product::FaceCompare => (
            &[
                face_compare::FACE1_QUALITY,
                face_compare::FACE2_QUALITY,
                face_compare::SAME_PERSON,
                face_compare::SCORE,
            ],
            &[],
        ),
        Product::Connect => (
            &[
                connect::STATE,
                connect::FACE_ATTACK,
                connect::FACE_SCORE,
                connect::DEEPER_RESULT,
            ],
            &[connect::EXT_FACE_INFO],
        ),
        Product::IdRecognition => (
            &[
                id_recognition::RECOGNITION_RESULT,
                id_recognition::RECOGNITION_ERROR_CODE,
                id_recognition::DOC_CATEGORY,
                id_recognition::CERT_TYPE,
                id_recognition::DEEPER_RESULT,
                id_recognition::UPLOAD_ENABLED,
            ],
            &[id_recognition::EXT_INFO],
        ),
    }
}

fn keep(product: Product, pointer: &str) -> Keep {
    match pointer {
        field::RESULT => return Keep::Container,
        field::RESULT_CODE | field::RESULT_STATUS | field::RESULT_MESSAGE => return Keep::Scalar,
        field::TRANSACTION_ID => return Keep::Scalar,
        field::id_recognition::SPOOF_RESULT if product == Product::IdRecognition => {
            return Keep::ScalarMap;
        }
        _ => {}
    }
    let (scalars, containers) = allowlist(product);
    if scalars.contains(&pointer) {
        Keep::Scalar
    } else if containers.contains(&pointer) {
        Keep::Container
    } else {
        Keep::No
    }
}

/// Redacts a parsed checkresult body for the audit log.
pub fn redact(product: Product, body: &Value) -> Redacted {
    let mut removed = Vec::new();
    let body = match body {
        Value::Object(map) => Value::Object(redact_object(product, "", map, &mut removed)),
        // Not an object: nothing in it is a decision field (the engine refuses it as malformed).
        other => {
            removed.push(String::new());
            placeholder(other)
        }
    };
    Redacted { body, removed }
}

fn redact_object(
    product: Product,
    prefix: &str,
    map: &Map<String, Value>,
    removed: &mut Vec<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in map {
        let pointer = format!("{prefix}/{}", escape_pointer_token(key));
        match keep(product, &pointer) {
            Keep::Scalar => {
                out.insert(key.clone(), scalar(&pointer, value, removed));
            }
            Keep::ScalarMap => match value {
                Value::Object(entries) => {
                    // One more than the engine reads, so that "too many checks" replays.
                    let kept = MAX_SPOOF_CHECKS + 1;
                    let mut map = Map::new();
                    for (name, entry) in spoof_entries(entries).take(kept) {
                        let name: String = name.chars().take(MAX_SPOOF_CHECK_NAME_CHARS).collect();
                        let entry_pointer = format!("{pointer}/{}", escape_pointer_token(&name));
                        map.insert(name, scalar(&entry_pointer, entry, removed));
                    }
                    if entries.len() > kept {
                        removed.push(format!("{pointer} ({} more entries)", entries.len() - kept));
                    }
                    out.insert(key.clone(), Value::Object(map));
                }
                other => {
                    if matches!(other, Value::String(_) | Value::Array(_)) {
                        removed.push(pointer);
                    }
                    out.insert(key.clone(), placeholder(other));
                }
            },
            Keep::Container => match value {
                Value::Object(inner) => {
                    out.insert(
                        key.clone(),
                        Value::Object(redact_object(product, &pointer, inner, removed)),
                    );
                }
                // A container of the wrong type: the engine only looks at its type, so a value
                // of the same type with no content replays to the same decision.
                other => {
                    if matches!(other, Value::String(_) | Value::Array(_)) {
                        removed.push(pointer);
                    }
                    out.insert(key.clone(), placeholder(other));
                }
            },
            Keep::No => removed.push(pointer),
        }
    }
    out
}

/// A decision field as a scalar: strings cut, arrays and objects emptied (their type is all the
/// engine looks at: it is unrecognized either way).
fn scalar(pointer: &str, value: &Value, removed: &mut Vec<String>) -> Value {
    match value {
        Value::String(s) if s.chars().count() > MAX_STRING_CHARS => {
            removed.push(format!("{pointer} (cut)"));
            Value::String(s.chars().take(MAX_STRING_CHARS).collect())
        }
        Value::Array(_) | Value::Object(_) => {
            removed.push(pointer.to_string());
            placeholder(value)
        }
        other => other.clone(),
    }
}

/// A value of the same JSON type without content.
fn placeholder(value: &Value) -> Value {
    match value {
        Value::String(_) => Value::String("<removed>".into()),
        Value::Array(_) => Value::Array(Vec::new()),
        Value::Object(_) => Value::Object(Map::new()),
        scalar => scalar.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_ocr_and_unknown_fields_are_removed() {
        let body = json!({
            "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
            "extInfo": {
                "certType": "00600000001",
                "docCategory": "PASSPORT",
                "imageContent": ["AAAA", "BBBB"],
                "ocrResult": {"ID_NUMBER": "X1234567", "NAME": "JANE DOE"},
                "ocrResultDetail": {"MRZ_ID_NUMBER": {"value": "X1234567"}},
                "spoofResult": {"TAMPER_CHECK": "Y", "MATERIAL_CHECK": "N"},
                "recognitionResult": "Y",
                "recognitionErrorDescription": "passport country code check failed.",
                "extraImages": {"DOC_FRONT_ANGLE": "/9j/4AA"},
                "somethingNew": {"birthDate": "1990-01-01"}
            }
        });
        let redacted = redact(Product::IdRecognition, &body);
        let text = redacted.body.to_string();
        for secret in [
            "X1234567",
            "JANE",
            "AAAA",
            "/9j/",
            "1990-01-01",
            "country code",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(
            redacted.body["extInfo"]["spoofResult"]["MATERIAL_CHECK"],
            "N"
        );
        assert_eq!(redacted.body["extInfo"]["recognitionResult"], "Y");
        assert_eq!(redacted.body["result"]["resultCode"], "SUCCESS");
        assert_eq!(
            redacted.removed,
            [
                "/extInfo/imageContent",
                "/extInfo/ocrResult",
                "/extInfo/ocrResultDetail",
                "/extInfo/recognitionErrorDescription",
                "/extInfo/extraImages",
                "/extInfo/somethingNew"
            ]
        );
    }

    #[test]
    fn connect_and_face_capture_keep_their_decision_fields() {
        let connect = json!({
            "result": {"resultCode": "NOT_SAME_PERSON", "resultStatus": "F"},
            "connectResult": "Failure",
            "extFaceInfo": {"aliveImage": "AAAA", "refImage": "BBBB", "faceScore": 12.5,
                            "faceAttack": false, "deeperResult": "Success",
                            "deeperResultDescription": "free text"}
        });
        let redacted = redact(Product::Connect, &connect);
        assert_eq!(
            redacted.body,
            json!({
                "result": {"resultCode": "NOT_SAME_PERSON", "resultStatus": "F"},
                "connectResult": "Failure",
                "extFaceInfo": {"faceScore": 12.5, "faceAttack": false, "deeperResult": "Success"}
            })
        );
        let capture = json!({
            "result": {"resultCode": "SUCCESS", "resultStatus": "S"},
            "faceCaptureResult": "Success",
            "extInfo": {"imageContent": "AAAA", "rect": {"top": 1}, "quality": "97.5",
                        "faceAttack": false, "qualityPassed": true,
                        "deviceRisk": {"riskLevel": 2, "detail": "x"}}
        });
        let redacted = redact(Product::FaceCapture, &capture);
        assert_eq!(
            redacted.body["extInfo"]["deviceRisk"],
            json!({"riskLevel": 2})
        );
        assert_eq!(redacted.body["extInfo"]["quality"], "97.5");
        assert!(redacted.body["extInfo"].get("imageContent").is_none());
    }

    #[test]
    fn records_stay_small_whatever_the_body() {
        let big = "x".repeat(20_000);
        let checks: Map<String, Value> = (0..200)
            .map(|i| (format!("CHECK_{i}_{big}"), Value::String(big.clone())))
            .collect();
        let body = json!({
            "result": {"resultCode": big, "resultStatus": "S", "debug": {"trace": big}},
            "transactionId": ["not", "a", "string"],
            "extInfo": {"recognitionResult": {"nested": big}, "spoofResult": checks}
        });
        let redacted = redact(Product::IdRecognition, &body);
        let size = redacted.body.to_string().len();
        assert!(size < 64 * 1024, "{size} bytes");
        assert!(redacted.body["result"].get("debug").is_none());
        assert_eq!(redacted.body["transactionId"], json!([]));
        assert_eq!(redacted.body["extInfo"]["recognitionResult"], json!({}));
        assert_eq!(
            redacted.body["extInfo"]["spoofResult"]
                .as_object()
                .unwrap()
                .len(),
            MAX_SPOOF_CHECKS + 1
        );
        assert!(
            redacted
                .removed
                .iter()
                .any(|r| r.contains("183 more entries"))
        );
    }

    #[test]
    fn a_known_spoof_check_after_many_others_is_kept_for_replay() {
        let mut checks: Map<String, Value> = (0..40)
            .map(|i| (format!("CHECK_{i}"), json!("Y")))
            .collect();
        checks.insert("TAMPER_CHECK".into(), json!("N"));
        let body = json!({"result": {"resultCode": "SUCCESS"}, "extInfo": {"spoofResult": checks}});
        let redacted = redact(Product::IdRecognition, &body);
        let kept = redacted.body["extInfo"]["spoofResult"].as_object().unwrap();
        assert_eq!(kept.len(), MAX_SPOOF_CHECKS + 1);
        assert_eq!(kept.keys().next().unwrap(), "TAMPER_CHECK");
        assert_eq!(kept["TAMPER_CHECK"], "N");
    }

    #[test]
    fn a_container_of_the_wrong_type_keeps_its_type_only() {
        let body = json!({"result": {"resultCode": "SUCCESS"}, "extInfo": "secret text"});
        let redacted = redact(Product::FaceCapture, &body);
        assert_eq!(redacted.body["extInfo"], "<removed>");
        assert_eq!(redacted.removed, ["/extInfo"]);
    }
}
