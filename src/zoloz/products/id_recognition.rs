//! ID Recognition checkresult (`/api/v1/zoloz/idrecognition/checkresult`). OCR fields
//! (`ocrResult`, `ocrResultFormat`, `ocrResultDetail`, `countryCode`) are never read: they are
//! personal data and decide nothing.

use serde_json::{Map, Value};

use super::read::{ImageSink, at, container, string};
use crate::domain::facts::field::id_recognition as fld;
use crate::domain::facts::{KNOWN_SPOOF_CHECKS, MAX_SPOOF_CHECK_NAME_CHARS, MAX_SPOOF_CHECKS};
use crate::domain::{IdRecognitionFacts, ImageKind, ShapeMismatch, SpoofCheckFact};

pub(super) fn facts(root: &Value, mismatches: &mut Vec<ShapeMismatch>) -> IdRecognitionFacts {
    container(root, fld::EXT_INFO, mismatches);
    container(root, fld::SPOOF_RESULT, mismatches);
    let (spoof_checks, spoof_checks_dropped) = match at(root, fld::SPOOF_RESULT) {
        Some(Value::Object(checks)) => (
            spoof_entries(checks)
                .take(MAX_SPOOF_CHECKS)
                .map(|(name, value)| SpoofCheckFact {
                    name: name.chars().take(MAX_SPOOF_CHECK_NAME_CHARS).collect(),
                    value: string(Some(value)),
                })
                .collect(),
            checks.len().saturating_sub(MAX_SPOOF_CHECKS),
        ),
        _ => (Vec::new(), 0),
    };
    IdRecognitionFacts {
        spoof_result_present: matches!(at(root, fld::SPOOF_RESULT), Some(Value::Object(_))),
        recognition_result: string(at(root, fld::RECOGNITION_RESULT)),
        recognition_error_code: string(at(root, fld::RECOGNITION_ERROR_CODE)),
        doc_category: string(at(root, fld::DOC_CATEGORY)),
        cert_type: string(at(root, fld::CERT_TYPE)),
        spoof_checks,
        spoof_checks_dropped,
        deeper_result: string(at(root, fld::DEEPER_RESULT)),
        deeper_description: string(at(root, fld::DEEPER_DESCRIPTION)),
        upload_enabled: string(at(root, fld::UPLOAD_ENABLED)),
    }
}

/// `spoofResult`'s entries in the order they are read: the five known checks first (those
/// present), then the others in body order. The engine reads the first [`MAX_SPOOF_CHECKS`],
/// and the audit redaction keeps entries in the same order, so that a replay reads the same.
pub(crate) fn spoof_entries(
    checks: &Map<String, Value>,
) -> impl Iterator<Item = (&String, &Value)> {
    let known = KNOWN_SPOOF_CHECKS
        .iter()
        .filter_map(|name| checks.get_key_value(*name));
    let others = checks
        .iter()
        .filter(|(name, _)| !KNOWN_SPOOF_CHECKS.contains(&name.as_str()));
    known.chain(others)
}

pub(super) fn images(root: &Value, sink: &mut ImageSink) {
    match at(root, fld::IMAGE_CONTENT) {
        Some(Value::Array(pages)) => {
            for (index, page) in pages.iter().enumerate() {
                sink.add(ImageKind::Document, &index.to_string(), Some(page));
            }
        }
        // Lenient: a single page sent as a string.
        page @ Some(Value::String(_)) => sink.add(ImageKind::Document, "0", page),
        None => {}
        Some(_) => sink.undecodable += 1,
    }
    sink.add_map(ImageKind::Extra, at(root, fld::EXTRA_IMAGES));
}
